"""WAV files for `enhance`: chunk sizes that lie, formats the model cannot take, no samples."""
from __future__ import annotations

import struct

import numpy as np

from ..case import Case, Expect


def wav(samples: bytes, *, rate=16000, channels=1, width=2, tag=1, fmt_len=16, data_len=None, riff=b"RIFF",
        extra_fmt=b"") -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, 8 * width)
    fmt += extra_fmt
    data_len = len(samples) if data_len is None else data_len
    body = b"WAVE" + b"fmt " + struct.pack("<I", fmt_len) + fmt + b"data" + struct.pack("<I", data_len) + samples
    return riff + struct.pack("<I", len(body)) + body


def _case(seeds, rng):
    pcm = seeds.wav[44:]
    choice = int(rng.integers(14))
    table = [
        (lambda: wav(pcm, fmt_len=0xFFFFFFF0), "fmt chunk length 0xFFFFFFF0", Expect.BAD),
        (lambda: wav(pcm, channels=2), "two channels", Expect.BAD),
        (lambda: wav(pcm, rate=48000), "48 kHz", Expect.BAD),
        (lambda: wav(b""), "no samples", Expect.BAD),
        (lambda: seeds.wav[:int(rng.integers(1, 44))], "truncated header", Expect.BAD),
        (lambda: wav(pcm, data_len=len(pcm) * 4), "data chunk longer than the file", Expect.BAD),
        (lambda: wav(pcm, tag=3, width=4), "32-bit float samples", Expect.BAD),
        (lambda: wav(pcm[:len(pcm) // 2], width=1), "8-bit samples", Expect.ANY),
        (lambda: wav(pcm[:2]), "one sample", Expect.ANY),
        (lambda: b"RIFX" + seeds.wav[4:], "big-endian RIFX", Expect.BAD),
        (lambda: wav(pcm, rate=0), "sample rate 0", Expect.BAD),
        (lambda: wav(pcm[:-1]), "an odd number of data bytes for 16-bit samples", Expect.BAD),
        (lambda: wav(pcm, width=5), "40-bit samples", Expect.BAD),
        (lambda: bytes(rng.integers(0, 256, 300, dtype=np.uint8)), "random bytes", Expect.BAD),
    ]
    make, what, expect = table[choice]
    return make(), what, expect


def cases(seeds, rng, n):
    out = []
    for _ in range(n):
        data, what, expect = _case(seeds, rng)
        out.append(Case("wav", what, "npu_model", ["enhance", "in.wav", "-o", "out.wav", "--program", "p.bin",
                                                   "--no-progress"],
                        {"in.wav": data, "p.bin": seeds.program}, expect))
    return out
