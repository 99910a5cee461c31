"""Fidelity of the integer network: SNR in dB of its outputs against the float reference."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npu_model.host import generated_frames

from ..reference import FloatModel
from ..reference.float_layers import FLOAT_LAYERS
from .int_layers import INT_LAYERS
from .int_model import QuantisedPipeline
from .intmath import saturate

__all__ = ["snr_db", "FidelityReport", "measure_fidelity", "layer_fidelity", "EVAL_SEED"]

EVAL_SEED = 7


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - test)^2)."""
    noise = float(np.sum((np.asarray(reference) - np.asarray(test)) ** 2))
    signal = float(np.sum(np.asarray(reference) ** 2))
    return float("inf") if noise == 0 else 10.0 * np.log10(signal / noise)


@dataclass(frozen=True)
class FidelityReport:
    model: str
    frames: int
    outputs: dict[str, float]      # SNR per output tensor (NPU outputs and host outputs)
    layers: dict[str, float]       # SNR per NPU tensor (integer vs float, dequantised), network order
    dtypes: dict[str, str]         # each NPU tensor's integer type

    @property
    def npu_snr(self) -> float:
        """Worst SNR over the NPU's outputs."""
        return min(v for k, v in self.outputs.items() if k in self.layers)

    def format(self, with_tensors: bool = False) -> str:
        lines = [f"{self.model}: integer vs float over {self.frames} frames"]
        lines += [f"  output {k:<12} {v:6.2f} dB" for k, v in self.outputs.items()]
        if with_tensors:
            lines.append("  every NPU tensor, in network order (the noise it has gathered so far):")
            lines += [f"    {k:<12} {self.dtypes[k]:<6} {v:6.2f} dB" for k, v in self.layers.items()]
        return "\n".join(lines)


def measure_fidelity(model, qnet, frames: int = 20, seed: int = EVAL_SEED) -> FidelityReport:
    """Run both references over `frames` consecutive frames (state carried, from zero)."""
    stft = generated_frames(model.spec.input, frames, seed)
    ref, _ = FloatModel(model).run(stft)
    ints, floats, _ = QuantisedPipeline(model, qnet).run(stft)
    outputs = {name: snr_db(ref[name], floats[name]) for name in floats}
    order = [ql.output for ql in qnet.layers]
    layers = {name: snr_db(ref[name], ints[name] * qnet.tensors[name].scale) for name in order}
    dtypes = {name: qnet.tensors[name].dtype for name in order}
    return FidelityReport(model=model.name, frames=frames, outputs=outputs, layers=layers, dtypes=dtypes)


def layer_fidelity(model, qnet, frames: int = 8, seed: int = EVAL_SEED) -> dict[str, float]:
    """SNR of each integer layer alone: float inputs quantised to the layer's input formats,
    integer layer vs float layer (state from zero). Isolates each layer's own quantisation error
    from the error it inherits, which the whole-network figures mix."""
    stft = generated_frames(model.spec.input, frames, seed)
    ref, _ = FloatModel(model).run(stft)
    out = {}
    for fl, ql in zip([f for f in model.layers if not f.host], qnet.layers):
        ins = []
        for name in ql.inputs:
            t = qnet.tensors.get(name, qnet.input if name == qnet.input.name else None)
            ins.append(saturate(np.round(ref[name] / t.scale).astype(np.int64), t.dtype))
        y, _ = INT_LAYERS[ql.op](ql, ins, None, qnet.luts)
        y_ref, _ = FLOAT_LAYERS[fl.op](fl, [ref[i] for i in fl.inputs], None, lambda *a: None)
        out[ql.name] = snr_db(y_ref, y * qnet.tensors[ql.output].scale)
    return out
