"""The host's last step: the NPU's masks applied to the input STFT, giving the enhanced spectrum.

Every mask op takes the frame's unprocessed STFT X (T, F) complex and the mask tensors (T, C, F)
and returns S as (T, 2, F): real and imaginary parts.

    mask_reconstruct  MEA (TRU-Net): |S| = |X| m, angle S = angle X + phi   (2 inputs, 1 channel each)
    mask_magnitude    a real mask on |X|, the noisy phase kept: S = m X        (1 input, 1 channel)
    mask_complex      a complex ratio mask: S = (m_r + j m_i) X               (1 input, 2 channels: re, im)
    magnitude_direct  the enhanced magnitude itself, the noisy phase: S = m X/|X| (1 input, 1 channel)
"""
from __future__ import annotations

import numpy as np

__all__ = ["mask_reconstruct", "mask_magnitude", "mask_complex", "magnitude_direct", "HOST_MASKS"]


def mask_reconstruct(stft: np.ndarray, mag_mask: np.ndarray, phase_mask: np.ndarray) -> np.ndarray:
    """stft (T, F) complex, masks (T, 1, F) -> (T, 2, F): real and imaginary enhanced spectrum.

    |S| = |X| mag_mask, angle S = atan2(X_i, X_r) + phase_mask, S = |S| (cos, sin)(angle S).
    """
    mag = np.abs(stft) * mag_mask[:, 0]
    phase = np.arctan2(stft.imag, stft.real) + phase_mask[:, 0]
    return np.stack([mag * np.cos(phase), mag * np.sin(phase)], axis=1)


def mask_magnitude(stft: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """stft (T, F), mask (T, 1, F) -> (T, 2, F): S = mask X."""
    s = stft * mask[:, 0]
    return np.stack([s.real, s.imag], axis=1)


def magnitude_direct(stft: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """stft (T, F), magnitude (T, 1, F) -> (T, 2, F): S = m X / |X|, the network's output taken as
    the enhanced magnitude (direct mapping) with the noisy phase (phase 0 where X = 0)."""
    mag = np.abs(stft)
    unit = np.where(mag > 0, stft / np.where(mag > 0, mag, 1.0), 1.0)
    s = unit * magnitude[:, 0]
    return np.stack([s.real, s.imag], axis=1)


def mask_complex(stft: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """stft (T, F), mask (T, 2, F) as (real, imaginary) -> (T, 2, F): S = (m_r + j m_i) X."""
    s = stft * (mask[:, 0] + 1j * mask[:, 1])
    return np.stack([s.real, s.imag], axis=1)


#: op name -> (function, channels of each input)
HOST_MASKS = {
    "mask_reconstruct": (mask_reconstruct, (1, 1)),
    "mask_magnitude": (mask_magnitude, (1,)),
    "mask_complex": (mask_complex, (2,)),
    "magnitude_direct": (magnitude_direct, (1,)),
}
