"""Between (channels x positions) tensors and feature vectors: reshape, flatten, dense.

Networks that run a GRU or a linear layer on the whole frame (CRN, CGCRN, NSNet2) flatten the
encoder's (C, L) output into C*L features at one position, and reshape the result back. The
flat index of element (c, l) is c*L + l with `order: channel_major` (PyTorch's reshape of a
(C, F) frame) or l*C + c with `order: position_major` (a frame transposed to (F, C) first).
`dense` is PyTorch's Linear applied at every position (a pointwise convolution), usually on one.
`pixel_shuffle` is the sub-pixel convolution's upsampling (a nested U-Net's SPCONV): r channels of
a position become r neighbouring positions, as PyTorch's PixelShuffle does along one axis.
"""
from __future__ import annotations

import numpy as np

from .base import ACTIVATIONS, OpDef
from .fields import Field

__all__ = ["Reshape", "Flatten", "PixelShuffle", "Dense", "ORDERS"]

ORDERS = ("channel_major", "position_major")
_ORDER = Field("str", "channel_major", choices=ORDERS, doc="flat index c*L + l, or l*C + c")


class Reshape(OpDef):
    op = "reshape"
    doc = "the same elements as `channels` x (size / channels) positions, in flat-index order"
    fields = {"channels": Field("int", minimum=1, doc="output channels"), "order": _ORDER}

    def output_shape(self, layer, ins):
        c, length = ins[0]
        if (c * length) % layer["channels"]:
            layer.fail("channels", f"shape mismatch: {c}x{length} = {c * length} elements are not a multiple "
                                   f"of {layer['channels']} channels")
        return layer["channels"], c * length // layer["channels"]


class Flatten(OpDef):
    op = "flatten"
    doc = "every element of the frame as features at one position (reshape to C*L channels)"
    fields = {"order": _ORDER}

    def output_shape(self, layer, ins):
        c, length = ins[0]
        return c * length, 1


class PixelShuffle(OpDef):
    op = "pixel_shuffle"
    doc = "sub-pixel upsampling along frequency: channel c*r + s at position l becomes channel c at r*l + s"
    fields = {"factor": Field("int", 2, minimum=2, doc="r: positions per input position")}

    def output_shape(self, layer, ins):
        c, length = ins[0]
        r = layer["factor"]
        if c % r:
            layer.fail("factor", f"'{layer.inputs[0]}' has {c} channels, not a multiple of the factor {r}")
        return c // r, length * r


class Dense(OpDef):
    op = "dense"
    doc = "linear layer (PyTorch Linear) at every position: a pointwise convolution"
    fields = {
        "out_features": Field("int", minimum=1),
        "bias": Field("bool", True),
        "activation": Field("str", "none", choices=ACTIVATIONS),
    }

    def output_shape(self, layer, ins):
        return layer["out_features"], ins[0][1]

    def weight_shapes(self, layer, ins):
        shapes = {"weight": (layer["out_features"], ins[0][0])}
        if layer["bias"]:
            shapes["bias"] = (layer["out_features"],)
        return shapes

    def macs(self, layer, ins, out):
        return out[0] * out[1] * ins[0][0]

    def init(self, layer, ins, rng):
        fan_in = ins[0][0]
        gain = np.sqrt(2.0) if layer["activation"] == "relu" else 1.0
        out = {"weight": rng.normal(0.0, gain / np.sqrt(fan_in), self.weight_shapes(layer, ins)["weight"])}
        if layer["bias"]:
            out["bias"] = rng.uniform(-1, 1, layer["out_features"]) / np.sqrt(fan_in)
        return out
