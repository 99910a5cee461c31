"""Host-side op: the magnitude/phase reconstruction of MEA (per-bin cos, sin, atan2).

    |S| = |X| * mag_mask,   angle(S) = atan2(X_i, X_r) + phase_mask,   S = |S| e^{j angle(S)}
X is the frame's unprocessed STFT, which the host has; the output is S as 2 channels (re, im).
"""
from __future__ import annotations

from .base import OpDef

__all__ = ["MaskReconstruct"]


class MaskReconstruct(OpDef):
    op = "mask_reconstruct"
    doc = "host: enhanced spectrum from the magnitude and phase masks and the input STFT"
    arity = 2
    host = True

    def output_shape(self, layer, ins):
        self.same_length(layer, ins)
        for name, shape in zip(layer.inputs, ins):
            if shape[0] != 1:
                layer.fail("inputs", f"shape mismatch: mask '{name}' must have 1 channel, not {shape[0]}")
        return 2, ins[0][1]

    def check_against_input(self, layer, ins, inp):
        if ins[0][1] != inp.bins:
            layer.fail("inputs", f"shape mismatch: the masks have {ins[0][1]} positions but the input STFT has "
                                 f"{inp.bins} bins")
