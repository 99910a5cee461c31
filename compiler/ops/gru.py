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
"""
from __future__ import annotations

import numpy as np

from .base import OpDef
from .fields import Field

__all__ = ["Gru"]


class Gru(OpDef):
    op = "gru"
    gates = 3
    doc = "gated recurrent unit along frequency (per frame) or along time (state across frames)"
    fields = {
        "hidden": Field("int", minimum=1, doc="hidden units per direction"),
        "axis": Field("str", choices=("frequency", "time"), doc="what the recurrence runs over"),
        "bidirectional": Field("bool", False, doc="frequency axis only: both directions"),
        "groups": Field("int", 1, minimum=1, doc="independent GRUs on equal slices of the input"),
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
        return ins[0][1] * len(self.directions(layer)) * self.gates * h * (i + h) // layer["groups"]

    def init(self, layer, ins, rng):
        bound = 1.0 / np.sqrt(layer["hidden"] // layer["groups"])
        return {k: rng.uniform(-bound, bound, s) for k, s in self.weight_shapes(layer, ins).items()}


