"""Calibration: run the float reference on generated frames and measure every value's range.

Ranges are taken for every tensor and for the internals the integer formats depend on (GRU gate
pre-activations per gate, attention projections and scores). For int8 tensors the 'mse' method
chooses the clipping range that minimises the mean squared quantisation error on the frames:
with heavy-tailed activations (a few large values over many small ones) the largest value alone
wastes most of the 8 bits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npu_model.host import generated_frames

from ..reference import FloatModel
from .config import QuantConfig

__all__ = ["Calibration", "calibrate", "mse_range"]

_SAMPLES = 100_000


@dataclass
class Calibration:
    absmax: dict[str, float]   # largest |value| seen, by tensor or probe name
    ranges: dict[str, float]   # chosen int8 clipping range, by tensor or probe name
    tensors: dict | None = None  # the float reference's tensors on the calibration frames (T, C, L)
    probes: dict | None = None   # its internal values (conv pre-activations, gate sums, ...) by probe name


def mse_range(x: np.ndarray, qmax: int = 127) -> float:
    """Clipping range r minimising E[(q(x) - x)^2] with q rounding to multiples of r/qmax."""
    x = np.abs(np.asarray(x, np.float64).ravel())
    amax = float(x.max()) if x.size else 0.0
    if amax == 0.0:
        return 1.0
    best, best_err = amax, np.inf
    for r in amax * np.linspace(0.15, 1.0, 52):
        s = r / qmax
        err = np.mean((np.minimum(np.round(x / s), qmax) * s - x) ** 2)
        if err < best_err:
            best, best_err = r, err
    return float(best)


def _subsample(a: np.ndarray, rng) -> np.ndarray:
    flat = np.asarray(a).ravel()
    if flat.size <= _SAMPLES:
        return flat
    return flat[rng.choice(flat.size, _SAMPLES, replace=False)]


def calibrate(model, config: QuantConfig) -> Calibration:
    stft = generated_frames(model.spec.input, config.calibration_frames, config.calibration_seed)
    seen: dict[str, list] = {}

    def probe(name, value):
        seen.setdefault(name, []).append(np.array(value))

    tensors, _ = FloatModel(model).run(stft, probe=probe)
    rng = np.random.default_rng(0)
    values = {k: [v] for k, v in tensors.items()}
    values.update(seen)
    absmax, ranges = {}, {}
    for name, parts in values.items():
        flat = np.concatenate([np.asarray(p, np.float64).ravel() for p in parts])
        absmax[name] = float(np.abs(flat).max()) if flat.size else 0.0
        if np.iscomplexobj(flat):
            continue
        ranges[name] = (mse_range(_subsample(flat, rng)) if config.range_method == "mse"
                        else absmax[name]) or 1.0
    probes = {k: v[0] for k, v in seen.items() if len(v) == 1}
    return Calibration(absmax=absmax, ranges=ranges, tensors=tensors, probes=probes)
