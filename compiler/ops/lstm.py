"""LSTM: along the frequency positions of one frame, or along time with state across frames.

Gates are PyTorch's (i, f, g, o rows in that order; separate input and hidden biases):
    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     f = sigmoid(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)        o = sigmoid(W_io x + b_io + W_ho h + b_ho)
    c' = f * c + i * g                             h' = o * tanh(c')
axis 'frequency': one sequence per frame over the positions (optionally both directions, outputs
stacked forward then backward), h and c reset every frame. axis 'time': every position is an
independent sequence over frames sharing one set of weights, h and c kept (the nested U-Net's
bottleneck). groups P: P independent LSTMs on equal input slices, as `gru`.
"""
from __future__ import annotations

from .gru import Gru

__all__ = ["Lstm"]


class Lstm(Gru):
    op = "lstm"
    doc = "long short-term memory along frequency (per frame) or along time (state across frames)"
    gates = 4
    fields = {name: f for name, f in Gru.fields.items() if name != "dynamic"}    # D-GRU's select gate is a GRU's
