"""Synthetic speech for the evaluation set: espeak-ng, as the `espeakng-loader` wheel ships it.

The wheel holds the espeak-ng library and its data, so speech is made offline and identically on
every machine: a formant synthesiser, intelligible but plainly not a human voice (docs/quality.md
says what that means for the figures). Voices are espeak-ng's English voice with its variants
(male m1..m7, female f1..f5), the speaking rate and pitch set per clip.

espeak-ng's output depends on what the same process synthesised before (its engine keeps state
from one utterance to the next), so `synthesize_all` makes a whole list of utterances in a fresh
process, in order: the same list gives the same samples every time.
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from ..arch.errors import NpuError

__all__ = ["VOICES", "synthesize", "synthesize_all", "speech_available"]

#: Voices of the evaluation set: espeak-ng's English voices and variants whose output is reproducible
#: (the variants with breath noise, f2, f3, f5 and whisper, draw it from an unseeded source).
VOICES = ("en+m1", "en+f1", "en+m3", "en+f4", "en-us+m2", "en+m6")

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE, _ESPEAK_PITCH = 1, 3
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()
_STATE: dict = {}


def speech_available() -> str | None:
    """None when speech can be synthesised, else why not."""
    try:
        import espeakng_loader  # noqa: F401
    except ImportError:
        return "speech synthesis needs the `espeakng-loader` package (pip install espeakng-loader)"
    return None


def _engine():
    if "lib" not in _STATE:
        reason = speech_available()
        if reason:
            raise NpuError(reason)
        import espeakng_loader
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                     ctypes.c_char_p(espeakng_loader.get_data_path().encode()), 0)
        if rate <= 0:
            raise NpuError("espeak-ng could not be initialised")
        chunks: list = []

        def collect(wav, n, events):
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0
        _STATE.update(lib=lib, rate=rate, chunks=chunks, callback=_CALLBACK(collect))
        lib.espeak_SetSynthCallback(_STATE["callback"])
    return _STATE


def synthesize(text: str, voice: str, *, sample_rate: int = 16000, words_per_minute: int = 160,
               pitch: int = 50) -> np.ndarray:
    """`text` spoken by `voice` at `sample_rate` Hz, float in [-1, 1], silence trimmed to 50 ms."""
    from scipy.signal import resample_poly
    with _LOCK:
        st = _engine()
        lib = st["lib"]
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise NpuError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(_ESPEAK_RATE, int(words_per_minute), 0)
        lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        st["chunks"].clear()
        data = text.encode()
        lib.espeak_Synth(ctypes.c_char_p(data), len(data) + 1, 0, 0, 0, 0, None, None)
        lib.espeak_Synchronize()
        x = np.concatenate(st["chunks"]).astype(np.float64) / 32768.0 if st["chunks"] else np.zeros(0)
        rate = st["rate"]
    g = np.gcd(int(sample_rate), int(rate))
    y = resample_poly(x, sample_rate // g, rate // g) if rate != sample_rate else x
    loud = np.flatnonzero(np.abs(y) > 1e-3)
    if not len(loud):
        raise NpuError(f"espeak-ng produced no sound for {text[:40]!r}")
    pad = int(0.05 * sample_rate)
    return y[max(0, loud[0] - pad): loud[-1] + pad]


def _synthesize_many(requests, sample_rate):
    return [synthesize(text, voice, sample_rate=sample_rate, words_per_minute=wpm, pitch=pitch)
            for text, voice, wpm, pitch in requests]


def synthesize_all(requests, *, sample_rate: int = 16000) -> list[np.ndarray]:
    """[(text, voice, words_per_minute, pitch), ...] spoken in a fresh process, in order."""
    import multiprocessing
    reason = speech_available()
    if reason:
        raise NpuError(reason)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_synthesize_many, (list(requests), sample_rate))
