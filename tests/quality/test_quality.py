"""The evaluation set, the metrics and a reduced evaluation of NSNet2 through the NPU."""
import csv
import filecmp

import numpy as np
import pytest

pytest.importorskip("espeakng_loader")
pytest.importorskip("pesq")
pytest.importorskip("pystoi")


def test_si_sdr_is_scale_invariant_and_falls_with_noise():
    from npu_model.apps.metrics import si_sdr
    rng = np.random.default_rng(0)
    s = rng.standard_normal(16000)
    n = rng.standard_normal(16000)
    assert si_sdr(s, s) > 100
    assert si_sdr(s, 0.3 * s + 0.1 * n) == pytest.approx(si_sdr(s, s + n / 3), abs=1e-9)
    assert si_sdr(s, s + n) == pytest.approx(0.0, abs=0.2)          # equal powers: about 0 dB
    assert si_sdr(s, s + 0.1 * n) == pytest.approx(20.0, abs=0.2)


def test_pesq_and_stoi_from_their_packages_rank_clean_above_noisy():
    from npu_model.apps.metrics import score
    from npu_model.apps.noises import make_noise, mix_at_snr
    from npu_model.apps.speech import synthesize
    speech = synthesize("The birch canoe slid on the smooth planks.", "en+m1")
    rng = np.random.default_rng(1)
    clean, noisy = score(speech, speech, 16000), score(speech, mix_at_snr(speech, make_noise("pink", len(speech), 16000, rng), 0), 16000)
    assert clean["pesq"] > 4.0 and clean["stoi"] > 0.99
    assert 1.0 <= noisy["pesq"] < 2.0 and noisy["stoi"] < clean["stoi"]
    assert noisy["si_sdr"] == pytest.approx(0.0, abs=0.5)


def test_dnsmos_from_its_package_hears_the_noise():
    """DNSMOS (speechmos's ONNX models, onnxruntime) needs no reference: clean synthetic speech scores
    well above the same speech in white noise at 0 dB, and the score lies on its MOS scale."""
    pytest.importorskip("speechmos")
    from npu_model.apps.metrics import dnsmos
    from npu_model.apps.noises import make_noise, mix_at_snr
    from npu_model.apps.speech import synthesize
    speech = synthesize("The birch canoe slid on the smooth planks.", "en+f2")
    noisy = mix_at_snr(speech, make_noise("white", len(speech), 16000, np.random.default_rng(2)), 0)
    clean_mos, noisy_mos = dnsmos(speech, 16000), dnsmos(noisy, 16000)
    assert 1.0 <= noisy_mos < clean_mos <= 5.0 and clean_mos - noisy_mos > 0.5, (clean_mos, noisy_mos)
    assert np.isnan(dnsmos(speech, 8000))


def test_evaluation_set_is_reproducible_and_mixed_at_its_snr(tmp_path):
    from npu_model.apps.evalset import make_set, read_manifest
    from npu_model.apps.noises import NOISES
    from npu_model.host import read_wav
    a = make_set(tmp_path / "a", per_condition=1, seed=3, snrs=(-5, 10))
    make_set(tmp_path / "b", per_condition=1, seed=3, snrs=(-5, 10))
    assert len(a) == 2 * len(NOISES) and {r["noise"] for r in a} == set(NOISES)
    assert len({r["voice"] for r in a}) >= 4
    for row in read_manifest(tmp_path / "a"):
        for sub in ("clean", "noisy"):
            assert filecmp.cmp(tmp_path / "a" / sub / f"{row['id']}.wav", tmp_path / "b" / sub / f"{row['id']}.wav",
                               shallow=False)
        clean, _ = read_wav(tmp_path / "a" / "clean" / f"{row['id']}.wav")
        noisy, _ = read_wav(tmp_path / "a" / "noisy" / f"{row['id']}.wav")
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
        assert snr == pytest.approx(float(row["snr_db"]), abs=0.05), row["id"]
    make_set(tmp_path / "c", per_condition=1, seed=4, snrs=(-5,), noises=("white",))
    assert not filecmp.cmp(tmp_path / "a" / "noisy" / f"{a[0]['id']}.wav",
                           tmp_path / "c" / "noisy" / "0000_white_-5dB.wav", shallow=False)


@pytest.mark.parametrize("network, sdr_gain", [("nsnet2", 3), ("gtcrn", 1)])
def test_reduced_evaluation_through_the_npu(tmp_path, network, sdr_gain):
    from compiler.errors import ModelError
    from compiler.trained import trained_onnx
    from npu_model.apps.cli import main
    from npu_model.apps.evalset import make_set
    try:
        trained_onnx(network)
    except ModelError as exc:
        pytest.skip(str(exc))
    make_set(tmp_path / "set", per_condition=1, seed=0, noises=("white", "babble", "hum"), snrs=(0, 10))
    out = tmp_path / "ev"
    assert main(["evaluate", network, "--set", str(tmp_path / "set"), "-o", str(out), "--jobs", "1",
                 "--no-progress"]) == 0
    with open(f"{out}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    col = lambda name: np.array([float(r[name]) for r in rows])          # noqa: E731
    # The NPU follows the float model closely, and both improve on the noisy input.
    assert np.abs(col("pesq_npu") - col("pesq_float")).mean() < 0.05
    assert np.abs(col("stoi_npu") - col("stoi_float")).mean() < 0.005
    assert np.abs(col("si_sdr_npu") - col("si_sdr_float")).mean() < 0.3
    assert col("si_sdr_float").mean() > col("si_sdr_noisy").mean() + sdr_gain
    assert col("pesq_float").mean() > col("pesq_noisy").mean()
    for ext in (".md", ".json", ".png"):
        assert (tmp_path / f"ev{ext}").stat().st_size > 0


def test_precisions_are_compared_with_their_cost(tmp_path):
    from compiler.errors import ModelError
    from compiler.trained import trained_onnx
    from npu_model.apps.cli import main
    from npu_model.apps.evalset import make_set
    try:
        trained_onnx("nsnet2")
    except ModelError as exc:
        pytest.skip(str(exc))
    make_set(tmp_path / "set", per_condition=1, seed=1, noises=("pink",), snrs=(5,))
    out = tmp_path / "p"
    assert main(["evaluate", "nsnet2", "--set", str(tmp_path / "set"), "-o", str(out), "--jobs", "1",
                 "--activations", "int8,int16", "--no-progress"]) == 0
    table = (tmp_path / "p-precisions.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| int")]
    assert [r.split("|")[1].strip() for r in rows] == ["int8", "int16"]
    abuf = [int(r.split("|")[2].replace(",", "")) for r in rows]
    assert abuf[1] > abuf[0]                               # int16 activations need more activation memory
    for name in ("p-int8.csv", "p-int16.csv", "p-int16.png"):
        assert (tmp_path / name).stat().st_size > 0
