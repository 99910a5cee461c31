"""Mono PCM wav files (stdlib `wave`): any 8/16/24/32-bit input, 16-bit output written atomically."""
from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..arch.errors import NpuError
from ..arch.files import write_bytes

__all__ = ["read_wav", "write_wav"]


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
    write_bytes(path, buf.getvalue())
