"""Calibration: run the float reference on generated frames (or on audio the user gives) and
measure every value's range.

Ranges are taken for every tensor and for the internals the integer formats depend on (GRU gate
pre-activations per gate, attention projections and scores). For int8 tensors the 'mse' method
chooses the clipping range that minimises the mean squared quantisation error on the frames:
with heavy-tailed activations (a few large values over many small ones) the largest value alone
wastes most of the 8 bits.

The generated frames (tones plus noise) need no data, but a trained network's values on them can
be far from those on speech: NSNet2's first layer reaches 12 x the range it has on them, which
int16 tensors then clip (docs/quality.md). `--calibration PATH` (`QuantConfig.calibration_audio`)
measures the ranges on recorded or synthesised audio instead, as post-training quantisation is
usually calibrated.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from npu_model.arch.errors import NpuError
from npu_model.host import generated_frames, read_wav, stft

from ..reference import FloatModel
from .config import QuantConfig

__all__ = ["Calibration", "calibrate", "mse_range", "audio_files", "with_audio", "calibration_stft",
           "AUDIO_RUN"]

_SAMPLES = 100_000


@dataclass
class Calibration:
    absmax: dict[str, float]   # largest |value| seen, by tensor or probe name
    ranges: dict[str, float]   # chosen int8 clipping range, by tensor or probe name
    tensors: dict | None = None  # the float reference's tensors on the calibration frames (T, C, L)
    probes: dict | None = None   # its internal values (conv pre-activations, gate sums, ...) by probe name


def mse_range(x: np.ndarray, qmax: int = 127) -> float:
    """Clipping range r minimising E[(q(x) - x)^2] with q rounding to multiples of r/qmax."""
    x = np.abs(np.asarray(x, np.float64).ravel())
    amax = float(x.max()) if x.size else 0.0
    if amax == 0.0:
        return 1.0
    best, best_err = amax, np.inf
    for r in amax * np.linspace(0.15, 1.0, 52):
        s = r / qmax
        err = np.mean((np.minimum(np.round(x / s), qmax) * s - x) ** 2)
        if err < best_err:
            best, best_err = r, err
    return float(best)


def _subsample(a: np.ndarray, rng) -> np.ndarray:
    flat = np.asarray(a).ravel()
    if flat.size <= _SAMPLES:
        return flat
    return flat[rng.choice(flat.size, _SAMPLES, replace=False)]


def audio_files(path) -> tuple[str, ...]:
    """The wav files `--calibration PATH` names: PATH itself, or every `*.wav` in the folder PATH
    (sorted); NpuError (one line) when there are none."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.wav") if p.is_file())
        if not files:
            raise NpuError(f"{path}: no .wav files to calibrate on")
        return tuple(str(p.resolve()) for p in files)
    if not path.is_file():
        raise NpuError(f"{path}: no such file or folder to calibrate on")
    return (str(path.resolve()),)


#: Consecutive frames taken together from calibration audio: a quarter of a second at a 10 ms hop,
#: so that recurrent layers see their state evolve as in a clip.
AUDIO_RUN = 25


def with_audio(config: QuantConfig, files: tuple = (), frames: int | None = None) -> QuantConfig:
    """`config` calibrating on the wav `files` (from `audio_files`), `frames` of their frames
    (default: its calibration_frames); `config` itself when there are no files."""
    if not files:
        return config
    return replace(config, calibration_audio=tuple(files), calibration_frames=frames or config.calibration_frames)


def calibration_stft(inp, config: QuantConfig) -> np.ndarray:
    """The STFT frames calibration runs the float model on: `calibration_frames` generated ones, or
    `calibration_frames` of those of `config.calibration_audio` (files in order, each file's frames
    in order), as evenly spaced runs of AUDIO_RUN consecutive frames when the audio has more."""
    budget = config.calibration_frames
    if not config.calibration_audio:
        return generated_frames(inp, budget, config.calibration_seed)
    parts = []
    for path in config.calibration_audio:
        x, _ = read_wav(path, sample_rate=inp.sample_rate)
        parts.append(stft(x, inp.fft_size, inp.hop, inp.bins, win=inp.window)[0])
    frames = np.concatenate(parts)
    if len(frames) <= budget:
        return frames
    run = min(AUDIO_RUN, budget)
    runs = -(-budget // run)
    starts = np.linspace(0, len(frames) - run, runs).round().astype(np.int64)
    return frames[(starts[:, None] + np.arange(run)).reshape(-1)[:budget]]


def calibrate(model, config: QuantConfig) -> Calibration:
    frames = calibration_stft(model.spec.input, config)
    seen: dict[str, list] = {}

    def probe(name, value):
        seen.setdefault(name, []).append(np.array(value))

    tensors, _ = FloatModel(model).run(frames, probe=probe)
    rng = np.random.default_rng(0)
    values = {k: [v] for k, v in tensors.items()}
    values.update(seen)
    absmax, ranges = {}, {}
    for name, parts in values.items():
        flat = np.concatenate([np.asarray(p, np.float64).ravel() for p in parts])
        absmax[name] = float(np.abs(flat).max()) if flat.size else 0.0
        if np.iscomplexobj(flat):
            continue
        ranges[name] = (mse_range(_subsample(flat, rng)) if config.range_method == "mse"
                        else absmax[name]) or 1.0
    probes = {k: v[0] for k, v in seen.items() if len(v) == 1}
    return Calibration(absmax=absmax, ranges=ranges, tensors=tensors, probes=probes)
