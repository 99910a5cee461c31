"""The float reference of a whole network, frame by frame with state carried across frames.

`run` takes STFT frames (T, bins) and processes them in order: host features, every folded layer,
host reconstruction. Calling it once with T frames or T times with one frame (passing the state
back) gives the same result; the state holds the host feature smoothers, the past frames of the
phase encoder and the hidden state of every GRU along time.
"""
from __future__ import annotations

import numpy as np

from npu_model.host import HOST_MASKS, HostFeatures

from .float_layers import FLOAT_LAYERS

__all__ = ["FloatModel"]


class FloatModel:
    def __init__(self, model):
        self.model = model
        self.features = HostFeatures(model.spec.input)

    def initial_state(self) -> dict:
        return {"host": self.features.initial_state(),
                "layers": {fl.name: None for fl in self.model.layers if fl.stateful}}

    def run(self, stft: np.ndarray, state: dict | None = None, probe=None):
        """-> (every tensor by name as (T, C, L) arrays, new state)."""
        state = self.initial_state() if state is None else state
        feats, host_state = self.features(stft, state["host"])
        tensors = {self.model.spec.input.name: feats}
        layer_state = dict(state["layers"])
        for fl in self.model.layers:
            ins = [tensors[i] for i in fl.inputs]
            if fl.host:
                tensors[fl.output] = run_host_layer(fl, ins, stft)
                continue
            layer_probe = (lambda what, v, _n=fl.name: probe(f"{_n}.{what}", v)) if probe else _ignore
            out, new = FLOAT_LAYERS[fl.op](fl, ins, layer_state.get(fl.name), layer_probe)
            if fl.stateful:
                layer_state[fl.name] = new
            tensors[fl.output] = out
        return tensors, {"host": host_state, "layers": layer_state}

    def run_frame_by_frame(self, stft: np.ndarray, state: dict | None = None):
        """Same as `run`, one frame per call: the way the NPU sees the stream."""
        per = []
        for i in range(len(stft)):
            tensors, state = self.run(stft[i: i + 1], state)
            per.append(tensors)
        return {k: np.concatenate([p[k] for p in per]) for k in per[0]}, state


def run_host_layer(fl, ins, stft):
    return HOST_MASKS[fl.op][0](stft, *ins)


def _ignore(what, value):
    pass
