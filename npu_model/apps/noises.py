"""Generated noises for the evaluation set and the mixing at a given SNR; all from a seeded
numpy Generator, so a set is the same on every machine.

    white       flat spectrum
    pink        1/f power (Voss-free: white noise shaped in the frequency domain)
    brown       1/f**2 power (integrated white noise, DC removed)
    babble      four other synthetic talkers summed (`babble_from` the set's own speech)
    hum         mains hum: 50 Hz and its harmonics up to 1 kHz with 1/k amplitudes, a slow wobble
    modulated   pink noise amplitude-modulated at 4 Hz (a syllable rate), depth 0.8
"""
from __future__ import annotations

import numpy as np

__all__ = ["NOISES", "make_noise", "mix_at_snr"]

NOISES = ("white", "pink", "brown", "babble", "hum", "modulated")


def _shaped(rng, n, exponent):
    """Gaussian noise with power proportional to f**-exponent."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (-exponent / 2)
    spec[0] = 0.0
    return np.fft.irfft(spec, n)


def make_noise(kind: str, n: int, rate: int, rng: np.random.Generator, talkers: list | None = None) -> np.ndarray:
    """`n` samples of noise `kind` (unit RMS); babble needs `talkers` (speech signals)."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = _shaped(rng, n, 1.0)
    elif kind == "brown":
        x = _shaped(rng, n, 2.0)
    elif kind == "babble":
        if not talkers:
            raise ValueError("babble needs talkers")
        x = np.zeros(n)
        for k in range(4):
            s = talkers[int(rng.integers(len(talkers)))]
            start = int(rng.integers(max(1, len(s))))
            x += np.resize(np.roll(s, -start), n) / (np.sqrt(np.mean(s ** 2)) + 1e-12)
    elif kind == "hum":
        t = np.arange(n) / rate
        f0 = 50.0 * (1 + 0.002 * np.sin(2 * np.pi * 0.3 * t))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 21))
        x = x + 0.05 * rng.standard_normal(n)
    elif kind == "modulated":
        t = np.arange(n) / rate
        x = _shaped(rng, n, 1.0) * (1 + 0.8 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)))
    else:
        raise ValueError(f"unknown noise {kind!r} (one of {', '.join(NOISES)})")
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that 10 log10(P_speech / P_noise) = snr_db (powers over the clip)."""
    ps = np.mean(speech ** 2)
    pn = np.mean(noise ** 2) + 1e-20
    return speech + noise * np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
