"""conv2d and conv_transpose2d over (time, frequency), causal along time.

A frame is one time step, so a kernel (kt, kf) reaches kt frames: the current one and past ones,
kept in sbuf from frame to frame as `complex_conv_time` keeps its past frames. Along frequency
these are the convolutions of `conv.py` (stride, dilation, groups, padding at both ends or
asymmetric). Along time the stride is 1 (one output frame per input frame) and the padding is
causal: no future frame is read.

    conv2d:           y_t = sum_k W[:, :, k, :] (*) x_{t - (kt-1-k)*dt}   (last tap = current frame)
    conv_transpose2d: y_t = sum_k W[:, :, k, :] (*)^T x_{t - k*dt}         (first tap = current frame)

The first is PyTorch's Conv2d with (kt-1)*dt zero frames padded before the first frame; the
second PyTorch's ConvTranspose2d with its last (kt-1)*dt output frames dropped: the usual causal
forms of CRN-style encoders and decoders. Weights are in PyTorch's layouts, (Cout, Cin/groups, kt,
kf) and (Cin, Cout/groups, kt, kf). With kt = 1 both are their 1-D versions (no state).
"""
from __future__ import annotations

import numpy as np

from .base import ACTIVATIONS, LayerSpec, OpDef
from .conv import _check_groups, conv_init, conv_weight_shapes
from .fields import Field

__all__ = ["Conv2d", "ConvTranspose2d"]

_COMMON = {
    "out_channels": Field("int", minimum=1, doc="output channels"),
    "kernel": Field("pair", minimum=1, doc="[time, frequency] taps (an integer: both)"),
    "stride": Field("pair", (1, 1), minimum=1, doc="[time, frequency]; along time it must be 1"),
    "dilation": Field("pair", (1, 1), minimum=1, doc="[time, frequency]"),
    "padding_freq": Field("pair", (0, 0), minimum=0,
                          doc="zeros added along frequency: n at both ends, or [left, right]"),
    "groups": Field("int", 1, minimum=1, doc="1: dense; = channels: depthwise"),
    "bias": Field("bool", True),
    "batchnorm": Field("bool", False, doc="batch norm after the convolution (folded)"),
    "bn_eps": Field("float", 1e-5, minimum=0.0),
    "activation": Field("str", "none", choices=ACTIVATIONS),
}


def _check_time(layer: LayerSpec):
    if layer["stride"][0] != 1:
        layer.fail("stride", f"the stride along time must be 1, not {layer['stride'][0]} "
                             "(a streaming layer makes one frame per input frame)")


class _Conv2dBase(OpDef):
    def keeps_state(self, layer) -> bool:
        return layer["kernel"][0] > 1           # past frames only when the kernel spans time


class Conv2d(_Conv2dBase):
    op = "conv2d"
    doc = "2-D convolution over (time, frequency), causal along time (past frames kept across frames)"
    fields = dict(_COMMON)

    def output_shape(self, layer, ins):
        cin, length = ins[0]
        _check_groups(layer, cin)
        _check_time(layer)
        (_, kf), (_, sf), (_, df) = layer["kernel"], layer["stride"], layer["dilation"]
        pl, pr = layer["padding_freq"]
        span = df * (kf - 1) + 1
        if length + pl + pr < span:
            layer.fail("kernel", f"shape mismatch: the kernel spans {span} positions along frequency but the "
                                 f"padded input has {length + pl + pr}")
        return layer["out_channels"], (length + pl + pr - span) // sf + 1

    def weight_shapes(self, layer, ins):
        return conv_weight_shapes(layer, (layer["out_channels"], ins[0][0] // layer["groups"], *layer["kernel"]))

    def macs(self, layer, ins, out):
        kt, kf = layer["kernel"]
        return out[1] * out[0] * (ins[0][0] // layer["groups"]) * kt * kf

    def init(self, layer, ins, rng):
        weight = self.weight_shapes(layer, ins)["weight"]
        return conv_init(layer, weight, int(np.prod(weight[1:])), rng)


class ConvTranspose2d(_Conv2dBase):
    op = "conv_transpose2d"
    doc = "2-D transposed convolution, upsampling along frequency by its stride, causal along time"
    fields = {**_COMMON, "output_padding": Field("int", 0, minimum=0, doc="positions added at the end")}
    fields["padding_freq"] = Field("pair", (0, 0), minimum=0,
                                   doc="positions cropped along frequency: n at both ends, or [left, right]")

    def output_shape(self, layer, ins):
        cin, length = ins[0]
        _check_groups(layer, cin)
        _check_time(layer)
        (_, kf), (_, sf), (_, df) = layer["kernel"], layer["stride"], layer["dilation"]
        pl, pr = layer["padding_freq"]
        op = layer["output_padding"]
        if op >= max(sf, df):
            layer.fail("output_padding", f"must be smaller than the stride or the dilation along frequency, not {op}")
        out_len = (length - 1) * sf - pl - pr + df * (kf - 1) + op + 1
        if out_len < 1:
            layer.fail("padding_freq", f"shape mismatch: output would have {out_len} positions")
        return layer["out_channels"], out_len

    def weight_shapes(self, layer, ins):
        return conv_weight_shapes(layer, (ins[0][0], layer["out_channels"] // layer["groups"], *layer["kernel"]))

    def macs(self, layer, ins, out):
        kt, kf = layer["kernel"]
        return ins[0][1] * ins[0][0] * (layer["out_channels"] // layer["groups"]) * kt * kf

    def init(self, layer, ins, rng):
        weight = self.weight_shapes(layer, ins)["weight"]
        kt, kf = layer["kernel"]
        fan_in = (weight[0] // layer["groups"]) * kt * max(kf // layer["stride"][1], 1)
        return conv_init(layer, weight, fan_in, rng)
