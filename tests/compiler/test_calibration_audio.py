"""Calibration on audio (`--calibration PATH`, QuantConfig.calibration_audio): the ranges are
measured on the given wav files' frames instead of the generated tones plus noise, the budget of
frames is honoured, the quantisation cache follows the audio's bytes, and bad uses are one-line
errors."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from compiler import QuantConfig, load_model, quantise
from compiler import cache
from compiler.quant.calibrate import AUDIO_RUN, audio_files, calibration_stft
from npu_model.arch.errors import NpuError
from npu_model.host import read_wav, stft, write_wav

from .conftest import MODELS, ROOT


@pytest.fixture
def model():
    return load_model(MODELS / "dgru.yaml")


def _clips(folder, rate, seconds=(1.0, 0.6), seed=0):
    """Loud noise bursts with silent gaps: nothing like the generated tones plus noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for i, s in enumerate(seconds):
        x = 0.9 * rng.standard_normal(int(s * rate)).clip(-1, 1)
        x[: len(x) // 3] = 0.0
        write_wav(folder / f"clip{i}.wav", x, rate)
    return folder


def test_audio_files_are_a_file_or_a_folders_wavs(tmp_path):
    folder = _clips(tmp_path / "a", 16000)
    (folder / "notes.txt").write_text("not audio")
    files = audio_files(folder)
    assert [f.rsplit("/", 1)[1] for f in files] == ["clip0.wav", "clip1.wav"]
    assert audio_files(folder / "clip1.wav") == files[1:]
    with pytest.raises(NpuError, match=r"no \.wav files to calibrate on"):
        audio_files(tmp_path)
    with pytest.raises(NpuError, match="no such file or folder to calibrate on"):
        audio_files(tmp_path / "missing")


def test_the_frames_come_from_the_audio_within_the_budget(model, tmp_path):
    inp = model.spec.input
    files = audio_files(_clips(tmp_path / "a", inp.sample_rate))
    every = np.concatenate([stft(read_wav(f)[0], inp.fft_size, inp.hop, inp.bins, win=inp.window)[0] for f in files])
    config = replace(QuantConfig.from_spec(model.spec), calibration_audio=files, calibration_frames=10_000)
    assert np.array_equal(calibration_stft(inp, config), every)
    assert len(every) > 4 * AUDIO_RUN
    frames = calibration_stft(inp, replace(config, calibration_frames=3 * AUDIO_RUN))
    # three runs of consecutive frames: the first, one in the middle, the last
    middle = (len(every) - AUDIO_RUN) // 2
    for i, start in enumerate((0, middle, len(every) - AUDIO_RUN)):
        run = frames[i * AUDIO_RUN:(i + 1) * AUDIO_RUN]
        assert np.array_equal(run, every[start:start + AUDIO_RUN]) or \
            np.array_equal(run, every[start + 1:start + 1 + AUDIO_RUN]), i          # linspace rounds
    assert len(calibration_stft(inp, replace(config, calibration_frames=AUDIO_RUN + 7))) == AUDIO_RUN + 7


def test_ranges_follow_the_audio_and_so_does_the_cache_key(model, tmp_path):
    folder = _clips(tmp_path / "a", model.spec.input.sample_rate)
    plain = QuantConfig.from_spec(model.spec)
    audio = replace(plain, calibration_audio=audio_files(folder), calibration_frames=200)
    assert quantise(model, audio).input.scale != quantise(model, plain).input.scale
    key = cache.quantisation_key(model, audio)
    _clips(folder, model.spec.input.sample_rate, seed=1)                 # same names, other samples
    assert cache.quantisation_key(model, audio) != key


def test_command_line(tmp_path):
    folder = _clips(tmp_path / "a", 16000)
    run = [sys.executable, "-m", "compiler", str(MODELS / "dgru.yaml"), "-o", str(tmp_path / "p.bin"),
           "--config", str(MODELS / "dgru.npu.json"), "--quiet"]
    ok = subprocess.run(run + ["--calibration", str(folder), "--calibration-frames", "60"], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    for extra, message in ((["--calibration-frames", "60"], "applies with --calibration PATH"),
                           (["--calibration", str(tmp_path / "none")], "no such file or folder to calibrate on")):
        bad = subprocess.run(run + extra, cwd=ROOT, capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
