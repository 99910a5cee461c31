"""The integer reference of a whole quantised network, frame by frame with state.

`IntModel.run` takes the NPU's int8 input (T, C, bins) and returns every tensor the NPU layers
produce, as integers: the golden model running the compiled program must reproduce these bit for
bit. `QuantisedPipeline` adds the host side (features, input quantisation, dequantisation of the
outputs, host layers) to compare with the float reference end to end.
"""
from __future__ import annotations

import numpy as np

from npu_model.host import HostFeatures

from ..reference.float_model import run_host_layer
from .int_layers import INT_LAYERS
from .intmath import saturate
from .qnet import QuantizedNetwork

__all__ = ["IntModel", "QuantisedPipeline", "quantise_input"]


def quantise_input(features: np.ndarray, qnet: QuantizedNetwork) -> np.ndarray:
    """Host side: float features -> the NPU's int8 input (round to nearest, saturate)."""
    return saturate(np.round(features / qnet.input.scale).astype(np.int64), qnet.input.dtype)


class IntModel:
    def __init__(self, qnet: QuantizedNetwork):
        self.qnet = qnet

    def initial_state(self) -> dict[str, np.ndarray]:
        return {name: np.zeros(s.shape, np.int64) for name, s in self.qnet.states.items()}

    def run(self, x: np.ndarray, state: dict | None = None):
        """x int (T, C, bins) -> (every NPU tensor by name, int64 arrays (T, C, L); new state)."""
        state = dict(self.initial_state() if state is None else state)
        tensors = {self.qnet.input.name: np.asarray(x, np.int64)}
        for layer in self.qnet.layers:
            key = getattr(layer, "state", None)
            out, new = INT_LAYERS[layer.op](layer, [tensors[i] for i in layer.inputs],
                                            state.get(key) if key else None, self.qnet.luts)
            if key:
                state[key] = new
            tensors[layer.output] = out
        return tensors, state


class QuantisedPipeline:
    """Host features -> int8 -> integer network -> dequantised outputs -> host layers."""

    def __init__(self, model, qnet: QuantizedNetwork):
        self.model, self.qnet = model, qnet
        self.features = HostFeatures(model.spec.input)
        self.int_model = IntModel(qnet)

    def initial_state(self) -> dict:
        return {"host": self.features.initial_state(), "npu": self.int_model.initial_state()}

    def run(self, stft: np.ndarray, state: dict | None = None):
        """-> (integer tensors, dequantised float outputs incl. host layers, new state)."""
        state = self.initial_state() if state is None else state
        feats, host_state = self.features(stft, state["host"])
        ints, npu_state = self.int_model.run(quantise_input(feats, self.qnet), state["npu"])
        floats = {name: ints[name] * self.qnet.tensors[name].scale for name in self.qnet.outputs}
        for fl in self.qnet.host_layers:
            floats[fl.output] = run_host_layer(fl, [floats[i] for i in fl.inputs], stft)
        return ints, floats, {"host": host_state, "npu": npu_state}
