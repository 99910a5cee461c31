"""Generate the bundled demo clip `examples/noisy_speech_16k.wav` (run once; the result is committed).

Speech comes from espeak-ng (Debian package `espeak-ng`), resampled to 16 kHz, mixed with
seeded babble-like coloured noise and a hum at a fixed SNR, so the clip is reproducible and needs
no download. Usage: python scripts/make_demo_audio.py [-o examples/noisy_speech_16k.wav]
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

TEXT = "Speech enhancement on a tiny neural processor."
RATE = 16000
SNR_DB = 5.0
SEED = 20261121


def speak(text: str) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng not found: apt-get install espeak-ng")
    raw = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(raw)) as w:
        rate, data = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    x = data.astype(np.float64) / 32768.0
    # Linear-interpolation resampling is enough for a demo clip.
    t = np.arange(int(len(x) * RATE / rate)) * rate / RATE
    return np.interp(t, np.arange(len(x)), x)


def noise(n: int, rng) -> np.ndarray:
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1 / RATE)
    spectrum /= np.sqrt(np.maximum(f, 50.0))          # pink-ish
    coloured = np.fft.irfft(spectrum, n)
    t = np.arange(n) / RATE
    hum = 0.3 * np.sin(2 * np.pi * 120 * t) + 0.15 * np.sin(2 * np.pi * 240 * t)
    out = coloured / np.std(coloured) + hum
    return out / np.std(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="examples/noisy_speech_16k.wav")
    args = parser.parse_args()
    speech = speak(TEXT)
    rng = np.random.default_rng(SEED)
    n = noise(len(speech), rng)
    gain = np.std(speech) / (10 ** (SNR_DB / 20))
    mix = speech + gain * n
    mix *= 0.7 / np.max(np.abs(mix))
    pcm = np.round(mix * 32767).astype("<i2")
    with wave.open(args.output, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    print(f"{args.output}: {len(pcm) / RATE:.2f} s at {RATE} Hz, SNR {SNR_DB} dB")


if __name__ == "__main__":
    main()
