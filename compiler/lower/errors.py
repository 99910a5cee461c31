"""Errors of the lowering step, reported as one line (exit code 2) like every compiler error."""
from __future__ import annotations

from npu_model.arch.errors import NpuError

__all__ = ["LoweringError"]


class LoweringError(NpuError):
    """A quantised layer the lowering cannot map onto the NPU (names the layer and the reason)."""

    def __init__(self, layer: str, message: str):
        self.layer = layer
        super().__init__(f"layer {layer!r}: {' '.join(str(message).split())}")
