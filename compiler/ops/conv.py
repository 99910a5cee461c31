"""conv1d and conv_transpose1d along the frequency positions of a frame.

Pointwise (kernel 1) and depthwise (groups = channels) convolutions are special cases of conv1d.
Both ops may carry a batch norm (folded at compile time) and an activation, as the encoder and
decoder blocks of TRU-Net do.
"""
from __future__ import annotations

import numpy as np

from .base import ACTIVATIONS, LayerSpec, OpDef
from .fields import Field

__all__ = ["Conv1d", "ConvTranspose1d", "conv_weight_shapes", "conv_init"]

_COMMON = {
    "out_channels": Field("int", minimum=1, doc="output channels"),
    "kernel": Field("int", minimum=1, doc="taps along frequency"),
    "stride": Field("int", 1, minimum=1),
    "padding": Field("int", 0, minimum=0, doc="zeros added at both ends"),
    "dilation": Field("int", 1, minimum=1),
    "groups": Field("int", 1, minimum=1, doc="1: dense; = channels: depthwise"),
    "bias": Field("bool", True),
    "batchnorm": Field("bool", False, doc="batch norm after the convolution (folded)"),
    "bn_eps": Field("float", 1e-5, minimum=0.0),
    "activation": Field("str", "none", choices=ACTIVATIONS),
}


def _check_groups(layer: LayerSpec, cin: int):
    g = layer["groups"]
    if cin % g:
        layer.fail("groups", f"shape mismatch: {cin} input channels are not divisible by {g} groups")
    if layer["out_channels"] % g:
        layer.fail("groups", f"{layer['out_channels']} output channels are not divisible by {g} groups")


def _he_normal(rng, shape, fan_in, gain):
    return rng.normal(0.0, gain / np.sqrt(fan_in), shape)


def conv_weight_shapes(layer: LayerSpec, weight: tuple) -> dict:
    """A convolution's arrays: its weight, the bias and the batch norm's if it has them."""
    cout = layer["out_channels"]
    shapes = {"weight": weight}
    if layer["bias"]:
        shapes["bias"] = (cout,)
    if layer["batchnorm"]:
        shapes.update(OpDef.bn_shapes(cout))
    return shapes


def conv_init(layer: LayerSpec, weight: tuple, fan_in: int, rng) -> dict:
    """He-normal weights (gain sqrt 2 before a ReLU or a batch norm), a PyTorch-style uniform
    bias, the batch norm's scale and shift."""
    cout = layer["out_channels"]
    gain = np.sqrt(2.0) if layer["activation"] == "relu" or layer["batchnorm"] else 1.0
    out = {"weight": _he_normal(rng, weight, fan_in, gain)}
    if layer["bias"]:
        out["bias"] = rng.uniform(-1, 1, cout) / np.sqrt(fan_in)
    if layer["batchnorm"]:
        out.update(OpDef.bn_init(cout, rng))
    return out


class Conv1d(OpDef):
    op = "conv1d"
    doc = "1-D convolution along frequency (pointwise, depthwise, grouped, strided, dilated)"
    fields = dict(_COMMON)

    def output_shape(self, layer, ins):
        cin, length = ins[0]
        _check_groups(layer, cin)
        k, s, p, d = layer["kernel"], layer["stride"], layer["padding"], layer["dilation"]
        span = d * (k - 1) + 1
        if length + 2 * p < span:
            layer.fail("kernel", f"shape mismatch: kernel spans {span} positions but the padded input has {length + 2 * p}")
        return layer["out_channels"], (length + 2 * p - span) // s + 1

    def weight_shapes(self, layer, ins):
        return conv_weight_shapes(layer, (layer["out_channels"], ins[0][0] // layer["groups"], layer["kernel"]))

    def macs(self, layer, ins, out):
        return out[1] * out[0] * (ins[0][0] // layer["groups"]) * layer["kernel"]

    def init(self, layer, ins, rng):
        weight = self.weight_shapes(layer, ins)["weight"]
        return conv_init(layer, weight, weight[1] * weight[2], rng)


class ConvTranspose1d(OpDef):
    op = "conv_transpose1d"
    doc = "1-D transposed convolution along frequency (upsampling by its stride)"
    fields = {**_COMMON, "output_padding": Field("int", 0, minimum=0, doc="positions added at the end")}

    def output_shape(self, layer, ins):
        cin, length = ins[0]
        _check_groups(layer, cin)
        k, s, p, d, op = (layer[f] for f in ("kernel", "stride", "padding", "dilation", "output_padding"))
        if op >= max(s, d):
            layer.fail("output_padding", f"must be smaller than the stride or the dilation, not {op}")
        out_len = (length - 1) * s - 2 * p + d * (k - 1) + op + 1
        if out_len < 1:
            layer.fail("padding", f"shape mismatch: output would have {out_len} positions")
        return layer["out_channels"], out_len

    def weight_shapes(self, layer, ins):
        return conv_weight_shapes(layer, (ins[0][0], layer["out_channels"] // layer["groups"], layer["kernel"]))

    def macs(self, layer, ins, out):
        # input positions x Cin x Cout/groups x K: no multiplications by inserted zeros.
        return ins[0][1] * ins[0][0] * (layer["out_channels"] // layer["groups"]) * layer["kernel"]

    def init(self, layer, ins, rng):
        weight = self.weight_shapes(layer, ins)["weight"]
        fan_in = (weight[0] // layer["groups"]) * max(weight[2] // layer["stride"], 1)
        return conv_init(layer, weight, fan_in, rng)
