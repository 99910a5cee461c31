"""Averages with fixed weights: over a frame's positions, and causally over past frames.

Attention blocks such as the nested U-Net's causal time-frequency attention pool a (C, L) frame
to one value per channel and smooth it over the last N frames. Both are depthwise convolutions
whose weights are 1/L or 1/N, and that is what they compile to (`compiler.fold`): `mean` a
depthwise conv1d with kernel L, `moving_average` a depthwise conv2d with kernel [N, 1] (the past
N-1 frames kept in sbuf, zero before the first frame, as every causal 2-D convolution keeps them).
"""
from __future__ import annotations

from .base import OpDef
from .fields import Field

__all__ = ["Mean", "MovingAverage"]


class Mean(OpDef):
    op = "mean"
    doc = "average over the frame's positions (global average pooling along frequency): C x 1"

    def output_shape(self, layer, ins):
        return ins[0][0], 1

    def macs(self, layer, ins, out):
        return ins[0][0] * ins[0][1]


class MovingAverage(OpDef):
    op = "moving_average"
    doc = "causal average over the current and the past frames - 1 frames (zero before the first)"
    fields = {"frames": Field("int", minimum=1, doc="N: frames averaged")}

    def keeps_state(self, layer) -> bool:
        return layer["frames"] > 1

    def output_shape(self, layer, ins):
        return ins[0]

    def macs(self, layer, ins, out):
        return ins[0][0] * ins[0][1] * layer["frames"]
