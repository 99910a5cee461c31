"""Deterministic test signals for calibration and fidelity checks: tones plus noise, and the STFT.

Nothing is downloaded: a few amplitude-modulated tones with drifting frequencies (speech-like
harmonics and syllable-rate envelopes) over white noise, generated from a seed.
"""
from __future__ import annotations

import numpy as np

from ..arch.meta import InputSpec
from .stft import stft_frames

__all__ = ["tones_plus_noise", "generated_frames"]


def tones_plus_noise(n_samples: int, sample_rate: int, seed: int, *, tones: int = 6,
                     noise: float = 0.03) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    x = np.zeros(n_samples)
    f0 = rng.uniform(90.0, 250.0)
    for i in range(tones):
        harmonic = rng.integers(1, 16)
        freq = min(f0 * harmonic * (1 + 0.02 * rng.standard_normal()), 0.45 * sample_rate)
        drift = 1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t + rng.uniform(0, 2 * np.pi))
        phase = 2 * np.pi * np.cumsum(freq * drift) / sample_rate + rng.uniform(0, 2 * np.pi)
        env = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2.0, 6.0) * t + rng.uniform(0, 2 * np.pi)))
        x += rng.uniform(0.05, 0.3) / (1 + 0.3 * i) * env * np.sin(phase)
    x += noise * rng.standard_normal(n_samples)
    return x


def generated_frames(inp: InputSpec, frames: int, seed: int) -> np.ndarray:
    """`frames` consecutive STFT frames of a seeded tones-plus-noise signal."""
    n_samples = (frames - 1) * inp.hop + inp.fft_size
    return stft_frames(tones_plus_noise(n_samples, inp.sample_rate, seed), inp.fft_size, inp.hop, inp.bins,
                       win=inp.window)
