"""Mono PCM wav files (stdlib `wave`) and the STFT / inverse STFT pair `enhance` uses.

The analysis is the compiler's (`compiler.host.stft_frames`: periodic Hann window, the first
`bins` bins); the synthesis is the matching weighted overlap-add, so that an unmodified spectrum
comes back as the input signal (up to the dropped bins above `bins`).
"""
from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from .errors import NpuError

__all__ = ["read_wav", "write_wav", "stft", "istft", "hann"]


def read_wav(path, *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(samples as float64 in [-1, 1), rate) of a mono PCM wav; NpuError (one line) otherwise."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except FileNotFoundError:
        raise NpuError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NpuError(f"{path}: is a directory, not a wav file") from None
    except OSError as exc:
        raise NpuError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (wave.Error, EOFError) as exc:
        detail = str(exc) or "truncated header"
        raise NpuError(f"{path}: not a readable PCM wav file ({detail})") from None
    if channels != 1:
        raise NpuError(f"{path}: {channels} channels; enhance needs mono audio (mix it down first)")
    if sample_rate is not None and rate != sample_rate:
        raise NpuError(f"{path}: sample rate {rate} Hz; the model needs {sample_rate} Hz (resample it first)")
    if n == 0 or not raw:
        raise NpuError(f"{path}: empty (no samples)")
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)
    else:
        raise NpuError(f"{path}: {8 * width}-bit samples are not supported (8, 16, 24 or 32-bit PCM)")
    return x, rate


def write_wav(path, samples: np.ndarray, rate: int) -> None:
    """16-bit mono PCM, clipped to [-1, 1), written atomically."""
    pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32768.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    from .report import write_out

    write_out(path, buf.getvalue())


def hann(n: int) -> np.ndarray:
    """The periodic Hann window of compiler.host.stft_frames."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def stft(x: np.ndarray, fft_size: int, hop: int, bins: int) -> tuple[np.ndarray, int]:
    """(frames (T, bins) complex, front padding): `fft_size - hop` zeros before the signal and
    up to as many after it, so that every sample is covered by fft_size / hop frames."""
    pad = fft_size - hop
    n = len(x)
    frames = -(-(n + 2 * pad) // hop) - (fft_size // hop - 1) + 1 if fft_size > hop else -(-n // hop)
    frames = max(frames, 1)
    total = (frames - 1) * hop + fft_size
    padded = np.zeros(total)
    padded[pad:pad + n] = x
    window = hann(fft_size)
    idx = np.arange(frames)[:, None] * hop + np.arange(fft_size)[None, :]
    return np.fft.rfft(padded[idx] * window, axis=1)[:, :bins], pad


def istft(spec: np.ndarray, fft_size: int, hop: int, length: int, pad: int) -> np.ndarray:
    """Weighted overlap-add inverse of `stft` (bins above spec's are zero); `length` samples."""
    frames, bins = spec.shape
    full = np.zeros((frames, fft_size // 2 + 1), complex)
    full[:, :bins] = spec
    window = hann(fft_size)
    chunks = np.fft.irfft(full, n=fft_size, axis=1) * window
    total = (frames - 1) * hop + fft_size
    out = np.zeros(total)
    norm = np.zeros(total)
    for t in range(frames):
        out[t * hop:t * hop + fft_size] += chunks[t]
        norm[t * hop:t * hop + fft_size] += window ** 2
    out /= np.maximum(norm, 1e-8)
    return out[pad:pad + length]
