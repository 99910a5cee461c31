"""The one STFT of the kit: analysis (a window of `arch.meta.WINDOWS`, the first `bins` bins) and
the matching weighted overlap-add synthesis, so that an unmodified spectrum comes back as the input
signal (up to the dropped bins above `bins`).

    hann       the periodic Hann window (the default of model files)
    sqrt_hann  NSNet2's window: the square root of the symmetric Hann window (`np.sqrt(np.hanning(N))`
               in its featurelib), for analysis and synthesis; the synthesis here also divides by the
               windows' summed overlap, which NSNet2's leaves out (it is within 1 % of one there)

`stft_frames` frames a signal as it is (calibration and fidelity signals); `stft` pads it so that
every sample is covered by fft_size / hop frames (enhancing a recording), and `istft` inverts it.
"""
from __future__ import annotations

import numpy as np

from ..arch.meta import WINDOWS

__all__ = ["hann", "window", "stft_frames", "stft", "istft"]


def hann(n: int) -> np.ndarray:
    """The periodic Hann window."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def window(name: str, n: int) -> np.ndarray:
    """The `n`-point window `name` (one of `WINDOWS`)."""
    if name == "hann":
        return hann(n)
    if name == "sqrt_hann":
        return np.sqrt(np.hanning(n))
    raise ValueError(f"unknown STFT window {name!r} (one of {', '.join(WINDOWS)})")


def stft_frames(signal: np.ndarray, fft_size: int, hop: int, bins: int, *, win: str = "hann") -> np.ndarray:
    """(frames, bins) complex STFT of the frames that lie wholly inside `signal` (no padding):
    window `win`, the first `bins` bins."""
    n = (len(signal) - fft_size) // hop + 1
    idx = np.arange(n)[:, None] * hop + np.arange(fft_size)[None, :]
    return np.fft.rfft(signal[idx] * window(win, fft_size), axis=1)[:, :bins]


def stft(x: np.ndarray, fft_size: int, hop: int, bins: int, *, win: str = "hann") -> tuple[np.ndarray, int]:
    """(frames (T, bins) complex, front padding): `fft_size - hop` zeros before the signal and
    up to as many after it, so that every sample is covered by fft_size / hop frames."""
    pad = fft_size - hop
    n = len(x)
    frames = -(-(n + 2 * pad) // hop) - (fft_size // hop - 1) + 1 if fft_size > hop else -(-n // hop)
    frames = max(frames, 1)
    total = (frames - 1) * hop + fft_size
    padded = np.zeros(total)
    padded[pad:pad + n] = x
    return stft_frames(padded, fft_size, hop, bins, win=win), pad


def istft(spec: np.ndarray, fft_size: int, hop: int, length: int, pad: int, *, win: str = "hann") -> np.ndarray:
    """Weighted overlap-add inverse of `stft` (bins above spec's are zero); `length` samples."""
    frames, bins = spec.shape
    full = np.zeros((frames, fft_size // 2 + 1), complex)
    full[:, :bins] = spec
    w = window(win, fft_size)
    chunks = np.fft.irfft(full, n=fft_size, axis=1) * w
    total = (frames - 1) * hop + fft_size
    out = np.zeros(total)
    norm = np.zeros(total)
    for t in range(frames):
        out[t * hop:t * hop + fft_size] += chunks[t]
        norm[t * hop:t * hop + fft_size] += w ** 2
    out /= np.maximum(norm, 1e-8)
    return out[pad:pad + length]
