"""Errors in a model description or in its quantisation, reported as one line.

Every message names the file, then the layer and the field when there is one, so that a user can
go straight to the line to fix; the CLI (`npu_model.arch.errors.cli_errors`) prints it and exits 2.
"""
from __future__ import annotations

from npu_model.arch.errors import NpuError

__all__ = ["ModelError", "QuantisationError", "fail"]


class ModelError(NpuError):
    """The model file, its weights or its topology are invalid."""

    def __init__(self, source, message: str, *, layer: str | None = None, field: str | None = None):
        self.source, self.layer, self.field = str(source), layer, field
        parts = [self.source]
        if layer is not None:
            parts.append(f"layer '{layer}'")
        if field is not None:
            parts.append(f"field '{field}'")
        parts.append(" ".join(str(message).split()))  # one line, whatever the cause said
        super().__init__(": ".join(parts))


class QuantisationError(ModelError):
    """A layer cannot be quantised within the NPU's integer semantics (range, scale, type)."""


def fail(source, message: str, *, layer: str | None = None, field: str | None = None):
    """Raise a `ModelError`; a helper so validation code reads as a list of checks."""
    raise ModelError(source, message, layer=layer, field=field)
