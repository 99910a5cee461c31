"""Errors that reach a user as one line and a non-zero exit code, never as a traceback."""
from __future__ import annotations

import functools
import sys

from .faults import Fault

__all__ = ["NpuError", "NpuFault", "ProgramFormatError", "cli_errors", "shown"]


class NpuError(Exception):
    """Base of every error the tools report to the user as one line (exit code 2)."""

    exit_code = 2


class ProgramFormatError(NpuError):
    """A program file is malformed, truncated, corrupt or for another configuration."""


class NpuFault(NpuError):
    """The NPU stopped on an instruction: names the pc, the instruction and the reason; `seq` is
    the instance (its place in the frame's executed stream: loops run a pc many times).

    The RTL raises the same fault (error flag and faulting pc) on the same instruction.
    """

    exit_code = 3

    def __init__(self, pc: int, text: str, reason: str, *, fault: Fault, seq: int | None = None):
        self.pc, self.text, self.reason, self.fault = pc, text, reason, Fault(fault)
        self.seq = pc if seq is None else seq
        super().__init__(f"fault at pc {pc} ({text}): {reason}")

    @property
    def code(self) -> int:
        return int(self.fault)

    @property
    def kind(self) -> str:
        return self.fault.label


def cli_errors(main):
    """Wrap a command-line entry point: an `NpuError` becomes 'error: ...' and its exit code."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except NpuError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper


def shown(value, limit: int = 80) -> str:
    """`repr(value)` for a message, cut to `limit` characters (a value from a file can be huge)."""
    text = repr(value) if not isinstance(value, (list, dict, tuple)) or len(value) < 100 else \
        f"<{type(value).__name__} of {len(value)} items>"
    return text if len(text) <= limit else text[:limit - 3] + "..."
