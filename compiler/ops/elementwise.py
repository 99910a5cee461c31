"""Ops without (or with per-channel only) parameters: concat, add, activations, batch norm.

A standalone batch norm or activation right after a convolution is fused into it at compile
time; elsewhere a batch norm becomes a per-channel scale and shift, an activation a table lookup.
"""
from __future__ import annotations

import numpy as np

from .base import ACTIVATIONS, OpDef
from .fields import Field

__all__ = ["Concat", "Add", "Activation", "BatchNorm", "ACTIVATION_OPS"]


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


class Activation(OpDef):
    doc = "element-wise activation"

    def __init__(self, op: str):
        self.op = op

    def output_shape(self, layer, ins):
        return ins[0]


ACTIVATION_OPS = tuple(a for a in ACTIVATIONS if a != "none")


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
