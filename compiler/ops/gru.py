"""GRU: along the frequency positions of one frame, or along time with state across frames.

Gates are PyTorch-style (r, z, n rows in that order; separate input and hidden biases):
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h
axis 'frequency': one sequence per frame over the positions (optionally both directions, outputs
stacked forward then backward), state reset every frame (the FGRU). axis 'time': every position
is an independent sequence over frames sharing one set of weights, state kept (the TGRU).
groups P (CGCRN's P-GRU, GTCRN's grouped RNN): P independent GRUs of hidden/P units, group g on
input features g*I/P .. (g+1)*I/P - 1; outputs concatenated by group. Their weights carry a
leading group axis, (P, 3H/P, I/P) and so on.
dynamic: {top_k: K} (D-GRU, seed 001_6ed5b05af126c285.txt): each step computes the update gate z of every
neuron, then updates only the K neurons with the largest update weight 1 - z (the paper's select
gate, top-A of its z, which weighs the candidate: PyTorch's z weighs the old state), ties to the
lower neuron; the others keep their state. The reset gate and the candidate are computed for the
K neurons only: (1 + 2 K/H) / 3 of the GRU's products. Along time, one group.
"""
from __future__ import annotations

import numpy as np

from .base import OpDef
from .fields import Field

__all__ = ["Gru", "top_k_of"]


def top_k_of(attrs: dict) -> int:
    """K of a D-GRU's `dynamic: {top_k: K}`; 0 for a plain GRU (or an LSTM)."""
    dynamic = attrs.get("dynamic")
    return dynamic["top_k"] if dynamic else 0


class Gru(OpDef):
    op = "gru"
    gates = 3
    doc = "gated recurrent unit along frequency (per frame) or along time (state across frames)"
    fields = {
        "hidden": Field("int", minimum=1, doc="hidden units per direction"),
        "axis": Field("str", choices=("frequency", "time"), doc="what the recurrence runs over"),
        "bidirectional": Field("bool", False, doc="frequency axis only: both directions"),
        "groups": Field("int", 1, minimum=1, doc="independent GRUs on equal slices of the input"),
        "dynamic": Field("map", None, doc="D-GRU: {top_k: K} updates only the K neurons with the largest "
                                          "1 - z each step (time axis)",
                         members={"top_k": Field("int", minimum=1, doc="neurons updated per step")}),
    }

    def keeps_state(self, layer) -> bool:
        return layer["axis"] == "time"

    def directions(self, layer) -> tuple[str, ...]:
        return ("", "_reverse") if layer["bidirectional"] else ("",)

    def output_shape(self, layer, ins):
        if layer["bidirectional"] and layer["axis"] == "time":
            layer.fail("bidirectional", f"a {self.op} along time runs frame by frame and cannot look ahead")
        g = layer["groups"]
        if layer["hidden"] % g:
            layer.fail("groups", f"{layer['hidden']} hidden units are not divisible by {g} groups")
        if ins[0][0] % g:
            layer.fail("groups", f"shape mismatch: {ins[0][0]} input channels are not divisible by {g} groups")
        k = top_k_of(layer.attrs)
        if k:
            if k > layer["hidden"]:
                layer.fail("dynamic.top_k", f"{k} neurons to update of {layer['hidden']} (top_k at most hidden)")
            if layer["axis"] != "time":
                layer.fail("dynamic", f"a dynamic {self.op} updates its neurons step by step along time, "
                                      f"not along {layer['axis']}")
            if g > 1:
                layer.fail("dynamic", f"a dynamic {self.op} selects among all its neurons: groups must be 1, not {g}")
        return layer["hidden"] * len(self.directions(layer)), ins[0][1]

    def weight_shapes(self, layer, ins):
        g = layer["groups"]
        i, h = ins[0][0] // g, layer["hidden"] // g
        lead = (g,) if g > 1 else ()
        shapes = {}
        for d in self.directions(layer):
            rows = self.gates * h
            shapes.update({f"weight_ih{d}": (*lead, rows, i), f"weight_hh{d}": (*lead, rows, h),
                           f"bias_ih{d}": (*lead, rows), f"bias_hh{d}": (*lead, rows)})
        return shapes

    def macs(self, layer, ins, out):
        i, h = ins[0][0], layer["hidden"]
        rows = self.gates * h
        if top_k_of(layer.attrs):                    # z for every neuron, r and n for the K selected
            rows = h + (self.gates - 1) * top_k_of(layer.attrs)
        return ins[0][1] * len(self.directions(layer)) * rows * (i + h) // layer["groups"]

    def init(self, layer, ins, rng):
        bound = 1.0 / np.sqrt(layer["hidden"] // layer["groups"])
        return {k: rng.uniform(-bound, bound, s) for k, s in self.weight_shapes(layer, ins).items()}


