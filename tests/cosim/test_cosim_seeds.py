"""The seed papers' networks (models/cgcrn.yaml, ...) cosimulate bit- and cycle-exact at 4 and 8
lanes for two consecutive frames, state carried (past frames of the 2-D convolutions, GRU state),
each in the configuration its model file names (`models/<name>.npu.json`, if there is one)."""
from pathlib import Path

import pytest

from cocotb_tests.cosim import cosimulate
from cocotb_tests.workload import model_workload
from compiler import companion_config

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 2
SEED_MODELS = ("cgcrn", "dgru", "dgru_p25", "dgru_p50", "dgru_p75", "nunet_tls")


@pytest.mark.parametrize("lanes", [4, 8])
@pytest.mark.parametrize("model", SEED_MODELS)
def test_seed_model_exact(model, lanes):
    path = ROOT / "models" / f"{model}.yaml"
    work = model_workload(path, lanes=lanes, frames=FRAMES, config=companion_config(path, lanes=lanes))
    result = cosimulate(work.program, inputs=work.inputs, frames=FRAMES, name=f"{model}_l{lanes}", log=lambda *_: None)
    assert result.ok, result.message
    assert len(result.frames) == FRAMES
    for frame in result.frames:
        assert frame["outputs_match"] and frame["schedule_match"] and frame["counters_match"]
        assert frame["counters_rtl"] == frame["counters_model"]


LAYER_NORM = """
name: lnorm_cosim
input: {sample_rate: 16000, fft_size: 128, hop: 32, bins: 33, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 3}
quantisation: {calibration_frames: 4, activations: int16}
layers:
  - {name: c1, op: conv2d, input: input, out_channels: 10, kernel: [2, 3], stride: [1, 2], padding_freq: 1}
  - {name: ln, op: layer_norm, input: c1}
  - {name: p, op: prelu, input: ln, shared: true}
  - {name: c2, op: conv1d, input: p, out_channels: 1, kernel: 1, activation: sigmoid}
  - {name: gn, op: layer_norm, input: c1, over: frame, affine: element}
outputs: [c2, ln, gn]
"""


def test_layer_norm_model_exact(tmp_path):
    """act=rsqrt and b_exp as the compiler emits them (MACs over positions; over the frame, one
    lane's MACs chained through ACC with act=rsqrt on the last; in-place normalisation)."""
    path = tmp_path / "lnorm.yaml"
    path.write_text(LAYER_NORM)
    work = model_workload(path, lanes=4, frames=FRAMES)
    result = cosimulate(work.program, inputs=work.inputs, frames=FRAMES, name="lnorm_l4", log=lambda *_: None)
    assert result.ok, result.message
    assert all(f["outputs_match"] and f["schedule_match"] and f["counters_match"] for f in result.frames)


@pytest.mark.parametrize("network, lanes", [("nsnet2", 4), ("nsnet2", 8), ("gtcrn", 4), ("gtcrn", 8)])
def test_trained_network_exact(network, lanes):
    """The trained networks as their wheels ship them (imported from ONNX; GTCRN's streaming graph
    by compiler.onnx_gtcrn), in their companion configurations: NSNet2 a 4 MiB wbuf
    (models/nsnet2.npu.json), GTCRN a 128 KiB imem (models/gtcrn.npu.json)."""
    from compiler.errors import ModelError
    from compiler.trained import trained_onnx
    try:
        path = trained_onnx(network)
    except ModelError as exc:
        pytest.skip(str(exc))
    config = companion_config(ROOT / "models" / f"{network}.yaml", lanes=lanes)
    work = model_workload(path, lanes=lanes, frames=FRAMES, config=config)
    result = cosimulate(work.program, inputs=work.inputs, frames=FRAMES, name=f"{network}_l{lanes}",
                        log=lambda *_: None)
    assert result.ok, result.message
    assert all(f["outputs_match"] and f["schedule_match"] and f["counters_match"] for f in result.frames)
