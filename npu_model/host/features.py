"""Host-side input features of one frame, with the state some of them keep across frames.

These are the per-bin non-linear maths (log, power, square root, atan2, cos, sin) that the issue
allows on the host: the NPU receives the resulting (channels, bins) tensor, quantised to int8.
"""
from __future__ import annotations

import numpy as np

from ..arch.meta import FEATURE_CHANNELS, InputSpec

__all__ = ["HostFeatures", "HOST_MATHS", "FEATURE_CHANNELS"]

#: what each feature computes on the host, for the summary.
HOST_MATHS = {
    "compressed_complex": "|X|^c (log, exp), X/|X| (sqrt, divide)",
    "log_power": "log(|X|^2 + eps)",
    "log10_power": "log10(max(|X|^2, 1e-12))",
    "magnitude": "|X| (sqrt)",
    "pcen": "PCEN: smoother state, power, divide",
    "demod_phase_cos": "cos(angle(X_t conj X_t-1) - bin advance) (atan2, cos)",
    "demod_phase_sin": "sin(angle(X_t conj X_t-1) - bin advance) (atan2, sin)",
}

_EPS = 1e-6
_PCEN = dict(s=0.025, alpha=0.98, delta=2.0, r=0.5)


class HostFeatures:
    """Compute the model's input tensor from STFT frames; frames are processed in order."""

    def __init__(self, inp: InputSpec):
        self.inp = inp
        self.advance = 2 * np.pi * np.arange(inp.bins) * inp.hop / inp.fft_size

    def initial_state(self) -> dict:
        return {"pcen": None, "previous": np.zeros(self.inp.bins, complex)}

    def __call__(self, stft: np.ndarray, state: dict | None = None):
        """stft (T, bins) complex -> (features (T, channels, bins), new state)."""
        state = dict(self.initial_state() if state is None else state)
        chans = []
        power = np.abs(stft) ** 2
        for kind in self.inp.features:
            if kind == "compressed_complex":
                mag = np.abs(stft)
                safe = np.maximum(mag, 1e-12)
                gain = safe ** (self.inp.compression - 1.0) * (mag > 0)
                chans += [(stft.real * gain), (stft.imag * gain)]
            elif kind == "log_power":
                chans.append(np.log(power + _EPS))
            elif kind == "log10_power":
                chans.append(np.log10(np.maximum(power, 1e-12)))
            elif kind == "magnitude":
                chans.append(np.abs(stft))
            elif kind == "pcen":
                chans.append(self._pcen(power, state))
            elif kind in ("demod_phase_cos", "demod_phase_sin"):
                prev = np.concatenate([state["previous"][None], stft[:-1]], axis=0)
                dphi = np.angle(stft * np.conj(prev)) - self.advance
                chans.append(np.cos(dphi) if kind.endswith("cos") else np.sin(dphi))
        if len(stft):
            state["previous"] = stft[-1].copy()
        return np.stack(chans, axis=1), state

    def _pcen(self, power, state):
        p = _PCEN
        m = state["pcen"]
        out = np.empty_like(power)
        for i, e in enumerate(power):  # a first-order smoother: sequential over frames only
            m = e.copy() if m is None else (1 - p["s"]) * m + p["s"] * e
            out[i] = (e / (_EPS + m) ** p["alpha"] + p["delta"]) ** p["r"] - p["delta"] ** p["r"]
        state["pcen"] = m
        return out
