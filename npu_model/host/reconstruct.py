"""MEA's reconstruction on the host: masks applied to the input STFT's magnitude and phase."""
from __future__ import annotations

import numpy as np

__all__ = ["mask_reconstruct"]


def mask_reconstruct(stft: np.ndarray, mag_mask: np.ndarray, phase_mask: np.ndarray) -> np.ndarray:
    """stft (T, F) complex, masks (T, 1, F) -> (T, 2, F): real and imaginary enhanced spectrum.

    |S| = |X| mag_mask, angle S = atan2(X_i, X_r) + phase_mask, S = |S| (cos, sin)(angle S).
    """
    mag = np.abs(stft) * mag_mask[:, 0]
    phase = np.arctan2(stft.imag, stft.real) + phase_mask[:, 0]
    return np.stack([mag * np.cos(phase), mag * np.sin(phase)], axis=1)
