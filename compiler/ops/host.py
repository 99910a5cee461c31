"""Host-side ops: the NPU's masks applied to the input STFT (npu_model.host.reconstruct).

    mask_reconstruct  MEA: |S| = |X| * mag_mask, angle(S) = atan2(X_i, X_r) + phase_mask
    mask_magnitude    S = mask * X (a real mask on |X|, the noisy phase kept)
    mask_complex      S = (m_r + j m_i) * X (a complex ratio mask: 2 channels, real then imaginary)
    magnitude_direct  S = m * X / |X| (direct mapping: the output is the enhanced magnitude)
X is the frame's unprocessed STFT, which the host has; the output is S as 2 channels (re, im).
"""
from __future__ import annotations

from npu_model.host import HOST_MASKS

from .base import OpDef

__all__ = ["HostMask", "HOST_OPS"]

_DOCS = {
    "mask_reconstruct": "host: enhanced spectrum from the magnitude and phase masks and the input STFT",
    "mask_magnitude": "host: enhanced spectrum from a real magnitude mask and the noisy phase",
    "mask_complex": "host: enhanced spectrum from a complex ratio mask (real, imaginary channels)",
    "magnitude_direct": "host: enhanced spectrum from the estimated magnitude itself and the noisy phase",
}


class HostMask(OpDef):
    host = True

    def __init__(self, op: str):
        self.op = op
        self.doc = _DOCS[op]
        self.channels = HOST_MASKS[op][1]
        self.arity = len(self.channels)

    def output_shape(self, layer, ins):
        self.same_length(layer, ins)
        for name, shape, want in zip(layer.inputs, ins, self.channels):
            if shape[0] != want:
                layer.fail("inputs" if self.arity > 1 else "input",
                           f"shape mismatch: mask '{name}' must have {want} channel{'s' if want > 1 else ''}, "
                           f"not {shape[0]}")
        return 2, ins[0][1]

    def check_against_input(self, layer, ins, inp):
        if ins[0][1] != inp.bins:
            layer.fail("inputs" if self.arity > 1 else "input",
                       f"shape mismatch: the masks have {ins[0][1]} positions but the input STFT has {inp.bins} bins")


HOST_OPS = tuple(HOST_MASKS)
