"""Mono PCM wav files: any 8/16/24/32-bit input, 16-bit output written atomically.

Reading parses the RIFF chunks here rather than with the stdlib `wave`, whose errors for a lying
header range from RuntimeError to silently short reads: every declared size is checked against
the file, so a truncated or inflated file is one line naming what is wrong."""
from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import numpy as np

from ..arch.errors import NpuError
from ..arch.files import write_bytes

__all__ = ["read_wav", "write_wav"]


#: The PCM format tags: plain PCM and WAVE_FORMAT_EXTENSIBLE (whose sub-format must be PCM).
_PCM, _EXTENSIBLE = 1, 0xFFFE
_PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def _chunks(data: bytes, path) -> dict:
    """Chunk id -> payload of a RIFF/WAVE file; every declared size is checked against the file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise NpuError(f"{path}: not a RIFF/WAVE file")
    chunks, at = {}, 12
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        if at + 8 + size > len(data):
            raise NpuError(f"{path}: truncated ({cid.decode('latin-1')!r} chunk declares {size:,} bytes, the file "
                           f"has {len(data) - at - 8:,} after its header)")
        chunks.setdefault(cid, data[at + 8:at + 8 + size])
        at += 8 + size + (size & 1)
    for cid in (b"fmt ", b"data"):
        if cid not in chunks:
            raise NpuError(f"{path}: no {cid.decode().strip()!r} chunk")
    return chunks


def read_wav(path, *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(samples as float64 in [-1, 1), rate) of a mono PCM wav; NpuError (one line) otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NpuError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NpuError(f"{path}: is a directory, not a wav file") from None
    except OSError as exc:
        raise NpuError(f"{path}: cannot read ({exc.strerror or exc})") from None
    chunks = _chunks(data, path)
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise NpuError(f"{path}: fmt chunk of {len(fmt)} bytes (at least 16)")
    tag, channels, rate, _, block, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 40 and fmt[26:40] == _PCM_GUID_TAIL:
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if tag != _PCM:
        raise NpuError(f"{path}: format tag {tag:#x} is not integer PCM (convert to 16-bit PCM first)")
    width = (bits + 7) // 8
    if width not in (1, 2, 3, 4):
        raise NpuError(f"{path}: {bits}-bit samples are not supported (8, 16, 24 or 32-bit PCM)")
    if channels != 1:
        raise NpuError(f"{path}: {channels} channels; enhance needs mono audio (mix it down first)")
    if rate == 0:
        raise NpuError(f"{path}: sample rate 0")
    if sample_rate is not None and rate != sample_rate:
        raise NpuError(f"{path}: sample rate {rate} Hz; the model needs {sample_rate} Hz (resample it first)")
    raw = chunks[b"data"]
    if not raw:
        raise NpuError(f"{path}: empty (no samples)")
    if len(raw) % width:
        raise NpuError(f"{path}: truncated mid-sample ({len(raw)} data bytes, {width} per sample)")
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    else:
        x = np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)
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
