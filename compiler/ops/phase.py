"""The phase encoder of TRU-Net-in-C: complex convolution along time, then the magnitude.

Complex tensors are stored as 2C real channels: the C real parts, then the C imaginary parts.
complex_conv_time keeps the last kernel-1 input frames as state; tap k of the kernel multiplies
frame t - (kernel - 1) + k, so the last tap is the current frame (a causal PyTorch Conv along time):
    Y_r = W_r * X_r - W_i * X_i + b_r,    Y_i = W_i * X_r + W_r * X_i + b_i
magnitude turns 2C channels into C channels |Y| = sqrt(Y_r^2 + Y_i^2).
"""
from __future__ import annotations

import numpy as np

from .base import OpDef
from .fields import Field

__all__ = ["ComplexConvTime", "Magnitude"]


def _complex_in(layer, ins) -> int:
    c = ins[0][0]
    if c % 2:
        layer.fail("input", f"shape mismatch: a complex tensor needs an even channel count "
                            f"(real parts then imaginary parts), '{layer.inputs[0]}' has {c}")
    return c // 2


class ComplexConvTime(OpDef):
    op = "complex_conv_time"
    doc = "complex convolution along time over the current and kernel-1 past frames (per bin)"
    stateful = True
    fields = {
        "out_channels": Field("int", minimum=1, doc="complex output channels"),
        "kernel": Field("int", minimum=1, doc="frames: the current one and kernel-1 past ones"),
        "bias": Field("bool", True),
    }

    def output_shape(self, layer, ins):
        _complex_in(layer, ins)
        return 2 * layer["out_channels"], ins[0][1]

    def weight_shapes(self, layer, ins):
        cin, cout, k = _complex_in(layer, ins), layer["out_channels"], layer["kernel"]
        shapes = {"weight_real": (cout, cin, k), "weight_imag": (cout, cin, k)}
        if layer["bias"]:
            shapes.update({"bias_real": (cout,), "bias_imag": (cout,)})
        return shapes

    def macs(self, layer, ins, out):
        # four real products per complex product
        return 4 * layer["out_channels"] * _complex_in(layer, ins) * layer["kernel"] * ins[0][1]

    def init(self, layer, ins, rng):
        shapes = self.weight_shapes(layer, ins)
        fan_in = 2 * _complex_in(layer, ins) * layer["kernel"]
        return {k: rng.normal(0.0, 1.0 / np.sqrt(fan_in), s) * (1.0 if k.startswith("weight") else 0.1)
                for k, s in shapes.items()}


class Magnitude(OpDef):
    op = "magnitude"
    doc = "|z| of complex channels; on the NPU as the largest of `directions` projections"
    fields = {
        "directions": Field("int", 32, minimum=4,
                            doc="integer version: |z| = max_k Re(z e^{-j 2 pi k / directions})"),
    }

    def output_shape(self, layer, ins):
        return _complex_in(layer, ins), ins[0][1]

    def macs(self, layer, ins, out):
        return 2 * layer["directions"] * out[0] * out[1]
