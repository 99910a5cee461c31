"""Ops without (or with per-channel only) parameters: concat, add, mul, activations, batch and layer norm.

A standalone batch norm or activation right after a convolution is fused into it at compile
time; elsewhere a batch norm becomes a per-channel scale and shift, an activation a table lookup.
leaky_relu and prelu are x + (a - 1) * min(x, 0) on the NPU (two element-wise instructions, any
slope a); softplus and elu are table lookups over the input's calibrated range.
"""
from __future__ import annotations

import numpy as np

from .base import ACTIVATIONS, OpDef
from .fields import Field

__all__ = ["Concat", "Add", "Mul", "Activation", "BatchNorm", "ACTIVATION_OPS", "LeakyRelu", "Prelu", "Softplus",
           "Elu", "LayerNorm", "TABLE_FUNCTIONS"]


class Concat(OpDef):
    op = "concat"
    doc = "stack inputs along channels (skip connections)"
    arity = None

    def output_shape(self, layer, ins):
        self.same_length(layer, ins)
        return sum(s[0] for s in ins), ins[0][1]


class Add(OpDef):
    op = "add"
    doc = "element-wise sum of two tensors of the same shape (residual connections)"
    arity = 2
    fields = {"activation": Field("str", "none", choices=ACTIVATIONS)}

    def output_shape(self, layer, ins):
        if ins[0] != ins[1]:
            layer.fail("inputs", f"shape mismatch: '{layer.inputs[0]}' is {ins[0][0]}x{ins[0][1]}, "
                                 f"'{layer.inputs[1]}' is {ins[1][0]}x{ins[1][1]}")
        return ins[0]


def _broadcastable(layer, ins):
    """Two tensors of one shape, or one with 1 channel / 1 position used at every one."""
    (ca, la), (cb, lb) = ins
    if (ca != cb and 1 not in (ca, cb)) or (la != lb and 1 not in (la, lb)):
        layer.fail("inputs", f"shape mismatch: '{layer.inputs[0]}' is {ca}x{la}, '{layer.inputs[1]}' is {cb}x{lb} "
                             "(equal, or 1 channel / 1 position to broadcast)")
    return max(ca, cb), max(la, lb)


class Mul(OpDef):
    op = "mul"
    doc = "element-wise product (e.g. a mask applied on the NPU); a 1-channel or 1-position input broadcasts"
    arity = 2

    def output_shape(self, layer, ins):
        return _broadcastable(layer, ins)


class LeakyRelu(OpDef):
    op = "leaky_relu"
    doc = "x for x >= 0, negative_slope * x below"
    fields = {"negative_slope": Field("float", 0.01)}

    def output_shape(self, layer, ins):
        return ins[0]


class Prelu(OpDef):
    op = "prelu"
    doc = "leaky ReLU with a learned slope per channel (or one shared: `shared: true`)"
    fields = {"shared": Field("bool", False, doc="one slope for every channel (PyTorch num_parameters=1)")}

    def output_shape(self, layer, ins):
        return ins[0]

    def weight_shapes(self, layer, ins):
        return {"weight": (1 if layer["shared"] else ins[0][0],)}

    def init(self, layer, ins, rng):
        return {"weight": np.full(self.weight_shapes(layer, ins)["weight"], 0.25)}


#: Activations computed by a table over the input's calibrated range: name -> f(x, attrs).
TABLE_FUNCTIONS = {
    "softplus": lambda x, a: np.logaddexp(0.0, a["beta"] * x) / a["beta"],
    "elu": lambda x, a: np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0.0))),
}


class Softplus(OpDef):
    op = "softplus"
    doc = "log(1 + exp(beta x)) / beta, by a table"
    fields = {"beta": Field("float", 1.0, minimum=1e-3)}

    def output_shape(self, layer, ins):
        return ins[0]


class Elu(OpDef):
    op = "elu"
    doc = "x for x > 0, alpha (exp(x) - 1) below, by a table"
    fields = {"alpha": Field("float", 1.0, minimum=0.0)}

    def output_shape(self, layer, ins):
        return ins[0]


class Activation(OpDef):
    doc = "element-wise activation"

    def __init__(self, op: str):
        self.op = op

    def output_shape(self, layer, ins):
        return ins[0]


ACTIVATION_OPS = tuple(a for a in ACTIVATIONS if a != "none")


class LayerNorm(OpDef):
    op = "layer_norm"
    doc = ("normalise to zero mean and unit variance, at each position over its channels (Keras "
           "LayerNormalization, PyTorch LayerNorm(C)) or over the whole frame (GroupNorm with one group, "
           "LayerNorm((F, C))), then a learned scale and shift per channel or per element")
    fields = {"eps": Field("float", 1e-5, minimum=0.0, doc="added to the variance"),
              "over": Field("str", "channels", choices=("channels", "frame"),
                            doc="the values one mean and variance are taken over"),
              "affine": Field("str", "channel", choices=("channel", "element"),
                              doc="weight and bias per channel (C), or per element (C, L)")}

    def output_shape(self, layer, ins):
        c, length = ins[0]
        if (c if layer["over"] == "channels" else c * length) < 2:
            layer.fail("input", f"'{layer.inputs[0]}' is {c}x{length}: a layer norm over {layer['over']} needs at "
                                "least 2 values")
        return ins[0]

    def weight_shapes(self, layer, ins):
        shape = (ins[0][0],) if layer["affine"] == "channel" else tuple(ins[0])
        return {"weight": shape, "bias": shape}

    def init(self, layer, ins, rng):
        shape = self.weight_shapes(layer, ins)["weight"]
        return {"weight": rng.uniform(0.8, 1.2, shape), "bias": rng.normal(0.0, 0.1, shape)}


class BatchNorm(OpDef):
    op = "batchnorm"
    doc = "batch norm with running statistics (inference): folded into the preceding conv"
    fields = {"eps": Field("float", 1e-5, minimum=0.0)}

    def output_shape(self, layer, ins):
        return ins[0]

    def weight_shapes(self, layer, ins):
        return {s: (ins[0][0],) for s in ("weight", "bias", "running_mean", "running_var")}

    def init(self, layer, ins, rng):
        c = ins[0][0]
        return {"weight": rng.uniform(0.8, 1.2, c), "bias": rng.normal(0.0, 0.1, c),
                "running_mean": np.zeros(c), "running_var": np.ones(c)}
