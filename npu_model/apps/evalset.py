"""`python -m npu_model evalset -o DIR`: a synthetic, reproducible speech-enhancement test set.

Every clip is one sentence spoken by an espeak-ng voice (npu_model.apps.speech), mixed with one
generated noise (npu_model.apps.noises) at one SNR; the set covers every noise at every SNR,
`--per-condition` clips each, sentences and voices in turn, everything from `--seed`. It writes

    DIR/clean/<id>.wav, DIR/noisy/<id>.wav   16-bit mono, both scaled by the same factor (peak 0.9)
    DIR/manifest.csv                         id, voice, noise, snr_db, seconds, sentence

Synthetic speech is intelligible but not human: PESQ and STOI of formant-synthesised speech are
not comparable with figures on recorded corpora (docs/evaluation.md); the set compares the NPU
with the float model and precisions with each other, on identical inputs.
"""
from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np

from ..arch.errors import NpuError
from ..arch.files import check_output, write_text
from ..host import write_wav
from .arguments import bounded
from .noises import NOISES, make_noise, mix_at_snr
from .speech import VOICES, synthesize_all

__all__ = ["SENTENCES", "SNRS_DB", "make_set", "read_manifest", "add_arguments", "main_evalset"]

#: Harvard sentences (IEEE 1969 recommended practice for speech quality measurements), public domain.
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
)
SNRS_DB = (-5, 0, 5, 10, 15)
RATE = 16000
_FIELDS = ("id", "voice", "noise", "snr_db", "seconds", "sentence")


def make_set(out: Path, *, per_condition: int = 2, seed: int = 0, noises=NOISES, snrs=SNRS_DB,
             progress: bool = False) -> list[dict]:
    """Write the set into `out` (see the module docstring); returns the manifest rows."""
    rng = np.random.default_rng(seed)
    conditions = [(n, s, i) for n in noises for s in snrs for i in range(per_condition)]
    talk = [(s, v, 160, 50) for s, v in zip(SENTENCES[::-1], VOICES * 2)]
    clips = [(SENTENCES[k % len(SENTENCES)], VOICES[k % len(VOICES)], int(rng.integers(140, 181)),
              int(rng.integers(35, 66))) for k in range(len(conditions))]
    speech_all = synthesize_all(talk + clips, sample_rate=RATE)
    talkers, speeches = speech_all[:len(talk)], speech_all[len(talk):]
    rows, k = [], 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(conditions), desc="evalset", unit="clip", leave=False, disable=None)
    for noise, snr, _ in conditions:
        sentence, voice = clips[k][:2]
        speech = speeches[k]
        noisy = mix_at_snr(speech, make_noise(noise, len(speech), RATE, rng, talkers), snr)
        scale = 0.9 / max(np.abs(noisy).max(), 1e-9)
        cid = f"{k:04d}_{noise}_{snr:+d}dB"
        for sub, x in (("clean", speech), ("noisy", noisy)):
            write_wav(out / sub / f"{cid}.wav", x * scale, RATE)
        rows.append({"id": cid, "voice": voice, "noise": noise, "snr_db": snr,
                     "seconds": round(len(speech) / RATE, 3), "sentence": sentence})
        k += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=_FIELDS)
    w.writeheader()
    w.writerows(rows)
    write_text(out / "manifest.csv", text.getvalue())
    return rows


def read_manifest(folder: Path) -> list[dict]:
    path = Path(folder) / "manifest.csv"
    if not path.is_file():
        raise NpuError(f"{folder}: no manifest.csv (make a set with `python -m npu_model evalset -o {folder}`)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows, start=2):
        if set(_FIELDS) - set(row) or any(row[k] in (None, "") for k in ("id", "noise", "snr_db")):
            raise NpuError(f"{path}:{i}: expected the columns {', '.join(_FIELDS)}")
        for sub in ("clean", "noisy"):
            if not (Path(folder) / sub / f"{row['id']}.wav").is_file():
                raise NpuError(f"{path}:{i}: {sub}/{row['id']}.wav is missing")
    return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the set into")
    p.add_argument("--per-condition", type=bounded(int, 1, 100), default=2, metavar="N",
                   help=f"clips per noise and SNR (default 2: {2 * len(NOISES) * len(SNRS_DB)} clips)")
    p.add_argument("--seed", type=bounded(int, 0, 2 ** 32 - 1), default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main_evalset(args) -> int:
    out = Path(args.output)
    check_output(out / "manifest.csv")
    rows = make_set(out, per_condition=args.per_condition, seed=args.seed, progress=not args.no_progress)
    seconds = sum(float(r["seconds"]) for r in rows)
    print(f"{out}: {len(rows)} clips ({seconds:.0f} s of speech): {len(NOISES)} noises x {len(SNRS_DB)} SNRs "
          f"({', '.join(f'{s:+d}' for s in SNRS_DB)} dB) x {args.per_condition}, {len(VOICES)} voices, seed {args.seed}")
    return 0
