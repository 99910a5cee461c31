"""`enhance`: the wav pipeline around the golden model, and one-line errors for bad audio."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from npu_model.apps.cli import main
from npu_model.arch.meta import ProgramMeta
from npu_model.arch.program import Program
from npu_model.host import istft, read_wav, stft


def _wav(path, samples, rate=16000, channels=1, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())
    return path


def _tone(n, rate=16000):
    t = np.arange(n) / rate
    rng = np.random.default_rng(1)
    return (8000 * np.sin(2 * np.pi * 440 * t) + 1000 * rng.standard_normal(n)).astype("<i2")


def test_stft_istft_round_trip():
    x = np.random.default_rng(0).standard_normal(1000) * 0.1
    for n in (1, 100, 1000):
        spec, pad = stft(x[:n], 64, 16, 33)
        assert np.allclose(istft(spec, 64, 16, n, pad), x[:n])


def test_enhance_runs_and_matches_the_integer_reference(tiny_model, tiny_program, tmp_path, capsys):
    src = _wav(tmp_path / "in.wav", _tone(1600))                 # 0.1 s: 103 frames of hop 16
    out = tmp_path / "out.wav"
    assert main(["enhance", str(src), "-o", str(out), "--program", str(tiny_program), "--model", str(tiny_model),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "frames through the golden model" in text and "match the integer reference" in text
    y, rate = read_wav(out)
    assert rate == 16000 and len(y) == 1600 and np.isfinite(y).all() and np.abs(y).max() > 0


def test_the_program_meta_is_enough(tiny_program, tmp_path, capsys):
    src = _wav(tmp_path / "in.wav", _tone(320))
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.wav"), "--program", str(tiny_program),
                 "--no-progress"]) == 0
    assert "frames through the golden model" in capsys.readouterr().out


def test_program_without_host_description_needs_the_model(tiny_program, tmp_path, capsys):
    program = Program.load(tiny_program)
    program.meta = program.meta.replace(input=None, scales=None, host_layer=None)
    bare = tmp_path / "bare.bin"
    program.save(bare)
    src = _wav(tmp_path / "in.wav", _tone(320))
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.wav"), "--program", str(bare)]) == 2
    assert "give the model it was compiled from with --model" in capsys.readouterr().err


def _stereo(path):
    return _wav(path, np.zeros(200, "<i2"), channels=2)


def _raw(data):
    def make(path):
        path.write_bytes(data)
        return path
    return make


@pytest.mark.parametrize("make,words", [
    (lambda p: _wav(p, _tone(800, 8000), rate=8000), "sample rate 8000 Hz; the model needs 16000 Hz"),
    (_stereo, "2 channels; enhance needs mono audio"),
    (lambda p: _wav(p, np.zeros(0, "<i2")), "empty (no samples)"),
    (_raw(b"RIFF\x00\x00\x00\x00WAVEjunk"), "no 'fmt' chunk"),
    (_raw(b""), "not a RIFF/WAVE file"),
    (_raw(b"RIFF\x24\x00\x00\x00WAVEfmt \xf0\xff\xff\xff"), "truncated ('fmt ' chunk declares 4,294,967,280"),
    (lambda p: p.with_name("absent.wav"), "absent.wav: no such file"),
])
def test_bad_audio_is_one_line(tiny_model, tiny_program, tmp_path, capsys, make, words):
    src = make(tmp_path / "in.wav")
    out = tmp_path / "out.wav"
    assert main(["enhance", str(src), "-o", str(out), "--program", str(tiny_program), "--model", str(tiny_model),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not out.exists()


def test_a_program_from_another_model_is_reported(tiny_model, tiny_program, tmp_path, capsys):
    other = tmp_path / "other.yaml"
    other.write_text(tiny_model.read_text().replace("seed: 3", "seed: 4"))
    src = _wav(tmp_path / "in.wav", _tone(800))
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.wav"), "--program", str(tiny_program),
                 "--model", str(other), "--no-progress"]) == 2
    assert "differs from the model's integer reference" in capsys.readouterr().err


def test_read_wav_widths(tmp_path):
    for width, scale in ((1, 128), (2, 32768), (4, 2 ** 31)):
        path = tmp_path / f"w{width}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(width)
            w.setframerate(16000)
            if width == 1:
                w.writeframes(bytes([128 + 64, 128 - 64]))
            else:
                w.writeframes(np.array([scale // 2, -scale // 2], f"<i{width}").tobytes())
        x, _ = read_wav(path)
        assert np.allclose(x, [0.5, -0.5])


def test_host_side_from_meta_gives_the_same_audio(tiny_model, tiny_program, tmp_path):
    """A program whose META describes the host side (keys of docs/reports.md) needs no --model."""
    from compiler import load_model, quantise
    from npu_model.arch.program import Program

    model = load_model(tiny_model)
    qnet = quantise(model)
    program = Program.load(tiny_program)
    inp = model.spec.input
    program.meta = ProgramMeta.from_dict({
        "input": {"name": inp.name, "sample_rate": inp.sample_rate, "fft_size": inp.fft_size, "hop": inp.hop,
                  "bins": inp.bins, "channels": inp.channels, "features": list(inp.features),
                  "compression": inp.compression},
        "scales": {"input": qnet.input.scale, **{n: qnet.tensors[n].scale for n in qnet.outputs}},
        "host_layer": {"op": "mask_reconstruct", "inputs": ["mea.mag", "mea.phase"]}})
    with_meta = tmp_path / "meta.bin"
    program.save(with_meta)
    src = _wav(tmp_path / "in.wav", _tone(480))
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert main(["enhance", str(src), "-o", str(a), "--program", str(with_meta), "--no-progress"]) == 0
    assert main(["enhance", str(src), "-o", str(b), "--program", str(tiny_program), "--model", str(tiny_model),
                 "--no-progress"]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_clips_in_lockstep_give_each_clips_own_audio(tiny_model, tiny_program):
    """enhance_many runs clips of different lengths as streams in lockstep (the shorter ones fed
    idle frames at the end): each clip's audio is bit for bit what it gets alone."""
    from npu_model.apps.enhance import HostSide, enhance, enhance_many
    from npu_model.arch.program import Program

    program = Program.load(tiny_program)
    host = HostSide.from_model(tiny_model, program)
    rng = np.random.default_rng(3)
    clips = [0.3 * rng.standard_normal(n) for n in (480, 1600, 960)]
    together = enhance_many(program, host, clips)
    for x, (y, info) in zip(clips, together):
        alone, info_alone = enhance(program, host, x)
        assert np.array_equal(y, alone)
        assert info["frames"] == info_alone["frames"] and info["checked_frames"] == 3


MASK_MODELS = {
    "mask_magnitude": "  - {name: m, op: conv1d, input: c1, out_channels: 1, kernel: 3, padding: 1, activation: sigmoid}\n"
                      "  - {name: s, op: mask_magnitude, input: m}\n",
    "mask_complex": "  - {name: m, op: conv1d, input: c1, out_channels: 2, kernel: 3, padding: 1}\n"
                    "  - {name: s, op: mask_complex, input: m}\n",
}


@pytest.mark.parametrize("op", sorted(MASK_MODELS))
def test_enhance_applies_the_models_mask(op, tmp_path, capsys):
    """A magnitude or complex ratio mask: the program's META names the op and its port, and the
    output is the mask applied to the STFT (checked against the host function on the same masks)."""
    from compiler import load_model, quantise
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.host import HOST_MASKS
    text = ("name: masks\ninput: {sample_rate: 16000, fft_size: 64, hop: 16, bins: 33, channels: 2, "
            "features: [compressed_complex]}\nweights: {init: random, seed: 3}\nlayers:\n"
            "  - {name: c1, op: conv1d, input: input, out_channels: 8, kernel: 3, padding: 1, activation: relu}\n"
            + MASK_MODELS[op] + "outputs: [m]\n")
    (tmp_path / "m.yaml").write_text(text)
    model = load_model(tmp_path / "m.yaml")
    program, _, _ = compile_network(quantise(model), NpuConfig(lanes=4), model=model)
    assert program.meta.host_layer.op == op and list(program.meta.host_layer.inputs) == ["m"]
    program.save(tmp_path / "m.bin")
    src = _wav(tmp_path / "in.wav", _tone(1600))
    out = tmp_path / "out.wav"
    assert main(["enhance", str(src), "-o", str(out), "--program", str(tmp_path / "m.bin"), "--model",
                 str(tmp_path / "m.yaml"), "--no-progress"]) == 0
    assert "match the integer reference" in capsys.readouterr().out
    y, _ = read_wav(out)
    assert len(y) == 1600 and np.isfinite(y).all() and np.abs(y).max() > 0
    # the same masks from the integer reference, applied by the host function: the same signal
    from compiler import IntModel, quantise_input
    from npu_model.apps.enhance import HostSide, enhance
    from npu_model.host import HostFeatures
    x = _tone(1600) / 32768.0
    host = HostSide.from_model(tmp_path / "m.yaml", program)
    got, _ = enhance(program, host, x)
    qnet = quantise(model)
    spec, pad = stft(x, 64, 16, 33)
    ints, _ = IntModel(qnet).run(quantise_input(HostFeatures(model.spec.input)(spec)[0], qnet))
    s = HOST_MASKS[op][0](spec, ints["m"] * qnet.tensors["m"].scale)
    np.testing.assert_allclose(got, istft(s[:, 0] + 1j * s[:, 1], 64, 16, len(x), pad), atol=1e-12)


def test_a_program_calibrated_on_audio_is_checked_against_the_same_quantisation(tiny_model, tmp_path, capsys):
    """A program compiled with --calibration: enhance --model re-quantises with the same audio and
    its frames match; without it the check says the quantisation differs; --calibration alone is
    refused in one line."""
    from compiler.cli import main as compile_main
    folder = tmp_path / "calib"
    folder.mkdir()
    rng = np.random.default_rng(5)
    _wav(folder / "a.wav", (12000 * rng.standard_normal(4000)).clip(-32768, 32767).astype("<i2"))
    prog = tmp_path / "cal.bin"
    assert compile_main([str(tiny_model), "-o", str(prog), "--lanes", "4", "--calibration", str(folder), "--quiet"]) == 0
    src = _wav(tmp_path / "in.wav", _tone(1600))
    common = ["enhance", str(src), "-o", str(tmp_path / "o.wav"), "--program", str(prog), "--model", str(tiny_model),
              "--no-progress"]
    assert main(common + ["--calibration", str(folder)]) == 0
    assert "match the integer reference" in capsys.readouterr().out
    assert main(common) == 2
    assert "differs from the model's integer reference" in capsys.readouterr().err
    assert main(common[:6] + ["--calibration", str(folder), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "apply with --model" in err and len(err.strip().splitlines()) == 1


def test_trained_trunet_enhances_the_demo_clip(tmp_path, capsys):
    """The demo's path: TRU-Net (models/trunet.yaml names its trained weights, docs/training.md)
    compiled, the bundled clip scored against its clean speech, spectrograms written. The trained
    network raises PESQ and SI-SDR over the noisy input, on the float model and on the NPU alike."""
    from pathlib import Path
    from npu_model.apps.metrics import missing
    if missing():
        pytest.skip(f"the metrics need {', '.join(missing())}")
    from compiler.cli import main as compile_main
    root = Path(__file__).resolve().parents[2]
    prog = tmp_path / "trunet.bin"
    assert compile_main([str(root / "models" / "trunet.yaml"), "-o", str(prog), "--quiet"]) == 0
    figure = tmp_path / "spec.png"
    assert main(["enhance", str(root / "examples" / "noisy_speech_16k.wav"), "-o", str(tmp_path / "out.wav"),
                 "--program", str(prog), "--model", str(root / "models" / "trunet.yaml"),
                 "--clean", str(root / "examples" / "clean_speech_16k.wav"), "--figure", str(figure),
                 "--no-progress"]) == 0
    rows = {line[:28].strip(): line[28:].split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("noisy input", "float model", "NPU"))}
    pesq, sdr = ({k: float(v[i]) for k, v in rows.items()} for i in (0, 2))
    assert pesq["float model"] > pesq["noisy input"] + 0.2 and sdr["float model"] > sdr["noisy input"] + 1.5
    assert abs(pesq["NPU (golden model)"] - pesq["float model"]) < 0.05
    assert abs(sdr["NPU (golden model)"] - sdr["float model"]) < 0.3
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weights_need_the_model(tiny_program, tmp_path, capsys):
    src = _wav(tmp_path / "in.wav", _tone(320))
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.wav"), "--program", str(tiny_program),
                 "--weights", str(tmp_path / "w.npz")]) == 2
    assert "--weights applies with --model" in capsys.readouterr().err


def test_a_clean_reference_of_another_length_is_refused(tiny_model, tiny_program, tmp_path, capsys):
    src = _wav(tmp_path / "in.wav", _tone(1600))
    clean = _wav(tmp_path / "clean.wav", _tone(800))
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.wav"), "--program", str(tiny_program),
                 "--clean", str(clean)]) == 2
    assert "800 samples, the input has 1600" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()
