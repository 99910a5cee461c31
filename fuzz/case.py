"""One fuzz case and the outcome classes a run falls into."""
from __future__ import annotations

import enum
import shlex
from dataclasses import dataclass, field

__all__ = ["Case", "Outcome", "BAD_OUTCOMES", "Expect"]


class Expect(enum.Enum):
    BAD = "bad"      # clearly wrong: must be refused
    ANY = "any"      # may be valid (e.g. a flipped instruction bit): must not crash or hang


class Outcome(enum.Enum):
    REFUSED = "refused"           # exit 2, 3 or 4, one line on stderr, no traceback
    ACCEPTED = "accepted"         # exit 0 on an input that may be valid
    CRASH = "crash"               # a traceback, another exit code, a signal or stderr of many lines
    HANG = "hang"                 # over the time limit
    SILENT = "accepted silently"  # exit 0 on a clearly bad input
    PARTIAL = "partial output"    # a failed run left a file behind

    @property
    def bad(self) -> bool:
        return self in BAD_OUTCOMES


BAD_OUTCOMES = frozenset({Outcome.CRASH, Outcome.HANG, Outcome.SILENT, Outcome.PARTIAL})


@dataclass
class Case:
    """`files` (name -> bytes) are written into an empty folder, the command runs there.

    loader:  which loader the case aims at ("container", "model", ...), for the counts.
    what:    the mutation, in words (for the failure list).
    command: "compiler" (python -m compiler) or "npu_model" (python -m npu_model).
    argv:    its arguments, paths relative to the case folder.
    """
    loader: str
    what: str
    command: str
    argv: list
    files: dict = field(default_factory=dict)
    expect: Expect = Expect.BAD

    def shell(self) -> str:
        """The command line to reproduce the case in its folder."""
        return " ".join(["python -m", self.command, *map(shlex.quote, map(str, self.argv))])
