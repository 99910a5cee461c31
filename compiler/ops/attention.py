"""Multi-head self-attention along the frequency positions of a frame (TRU-Net-in-C's FSA).

    Q = Wq x + bq, K = Wk x + bk, V = Wv x + bv        (dim x positions each, split into heads)
    A_h = softmax_keys(Q_h^T K_h / sqrt(dim / heads))  (positions x positions per head)
    y = Wo [V_h A_h^T]_h + bo                          (out_channels x positions)
A residual connection, if wanted, is an explicit `add` layer in the model file.
"""
from __future__ import annotations

import numpy as np

from .base import OpDef
from .fields import Field

__all__ = ["Attention"]

PROJECTIONS = ("q", "k", "v")


class Attention(OpDef):
    op = "attention"
    doc = "multi-head self-attention across frequency positions"
    fields = {
        "heads": Field("int", minimum=1),
        "dim": Field("int", minimum=1, doc="model width of Q, K and V (all heads together)"),
        "out_channels": Field("int", 0, minimum=0, doc="0: as many as the input"),
    }

    def out_channels(self, layer, ins) -> int:
        return layer["out_channels"] or ins[0][0]

    def output_shape(self, layer, ins):
        if layer["dim"] % layer["heads"]:
            layer.fail("heads", f"dim {layer['dim']} is not divisible by {layer['heads']} heads")
        return self.out_channels(layer, ins), ins[0][1]

    def weight_shapes(self, layer, ins):
        cin, dim, cout = ins[0][0], layer["dim"], self.out_channels(layer, ins)
        shapes = {}
        for p in PROJECTIONS:
            shapes[f"{p}.weight"] = (dim, cin)
            shapes[f"{p}.bias"] = (dim,)
        shapes["o.weight"] = (cout, dim)
        shapes["o.bias"] = (cout,)
        return shapes

    def macs(self, layer, ins, out):
        cin, length = ins[0]
        dim = layer["dim"]
        return 3 * length * dim * cin + 2 * length * length * dim + length * out[0] * dim

    def init(self, layer, ins, rng):
        out = {}
        for name, shape in self.weight_shapes(layer, ins).items():
            if name.endswith("weight"):
                limit = np.sqrt(6.0 / (shape[0] + shape[1]))  # Xavier uniform
                out[name] = rng.uniform(-limit, limit, shape)
            else:
                out[name] = rng.normal(0.0, 0.02, shape)
        return out
