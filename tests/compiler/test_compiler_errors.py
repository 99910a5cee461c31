"""Every kind of error in a model file is one line naming the file, the layer and the field."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import ModelError, load_model, parse_model
from npu_model.arch.errors import NpuError

ROOT = Path(__file__).resolve().parents[2]

HEAD = """name: tiny
input: {sample_rate: 16000, fft_size: 64, hop: 16, bins: 32, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 3}
"""
GOOD_LAYERS = """layers:
  - {name: c1, op: conv1d, input: input, out_channels: 8, kernel: 3, padding: 1, batchnorm: true, activation: relu}
  - {name: c2, op: conv1d, input: c1, out_channels: 8, kernel: 3, stride: 2, padding: 1, groups: 8}
  - {name: cat, op: concat, inputs: [c2, c2]}
"""


def _error(write_model, text, name="m.yaml") -> ModelError:
    path = write_model(text, name)
    with pytest.raises(ModelError) as info:
        parse_model(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))
    assert isinstance(info.value, NpuError) and info.value.exit_code == 2
    return info.value


def test_good_model_parses(write_model):
    spec = parse_model(write_model(HEAD + GOOD_LAYERS))
    assert spec.shapes["cat"] == (16, 16)


LAYER_ERRORS = [
    ("  - {name: a, op: conv3d, input: input, out_channels: 4, kernel: 3}", "a", "op", "unknown op"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: '3'}", "a", "kernel", "expected an integer"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: 3, batchnorm: 1}", "a", "batchnorm",
     "expected true or false"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: 3, activation: gelu}", "a", "activation",
     "must be one of"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: 3, strides: 2}", "a", "strides",
     "unknown field"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4}", "a", "kernel", "missing"),
    ("  - {name: a, op: conv1d, input: b, out_channels: 4, kernel: 3}\n"
     "  - {name: b, op: relu, input: input}", "a", "input", "used before it is defined"),
    ("  - {name: a, op: conv1d, input: nowhere, out_channels: 4, kernel: 3}", "a", "input", "not defined"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: 3, groups: 3}", "a", "groups",
     "shape mismatch"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: 3, stride: 2}\n"
     "  - {name: b, op: concat, inputs: [a, input]}", "b", "inputs", "shape mismatch"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: 3, stride: 2}\n"
     "  - {name: b, op: add, inputs: [a, input]}", "b", "inputs", "shape mismatch"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 4, kernel: 40}", "a", "kernel", "shape mismatch"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 3, kernel: 1}\n"
     "  - {name: b, op: magnitude, input: a}", "b", "input", "even channel count"),
    ("  - {name: a, op: attention, input: input, heads: 3, dim: 8}", "a", "heads", "not divisible"),
    ("  - {name: a, op: conv2d, input: input, out_channels: 4, kernel: [2, 40]}", "a", "kernel", "shape mismatch"),
    ("  - {name: a, op: conv2d, input: input, out_channels: 4, kernel: [2, 3, 1]}", "a", "kernel",
     "an integer or a list of two integers"),
    ("  - {name: a, op: conv2d, input: input, out_channels: 4, kernel: [0, 3]}", "a", "kernel", "at least 1"),
    ("  - {name: a, op: conv2d, input: input, out_channels: 4, kernel: [2, 3], stride: [2, 1]}", "a", "stride",
     "along time must be 1"),
    ("  - {name: a, op: conv2d, input: input, out_channels: 4, kernel: [2, 3], padding: 1}", "a", "padding",
     "unknown field"),
    ("  - {name: a, op: conv2d, input: input, out_channels: 3, kernel: [2, 3], groups: 2}", "a", "groups",
     "not divisible by 2 groups"),
    ("  - {name: a, op: conv_transpose2d, input: input, out_channels: 4, kernel: [2, 3], stride: [1, 2], "
     "output_padding: 2}", "a", "output_padding", "smaller than the stride"),
    ("  - {name: a, op: reshape, input: input, channels: 5}", "a", "channels", "not a multiple"),
    ("  - {name: a, op: flatten, input: input, order: rows}", "a", "order", "must be one of"),
    ("  - {name: a, op: gru, input: input, hidden: 5, axis: time, groups: 2}", "a", "groups", "not divisible"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: time, dynamic: {top_k: 5}}", "a", "dynamic.top_k",
     "top_k at most hidden"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: time, dynamic: {top_k: 0}}", "a", "dynamic.top_k",
     "at least 1"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: time, dynamic: {topk: 2}}", "a", "dynamic.topk",
     "unknown field"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: time, dynamic: {}}", "a", "dynamic.top_k", "missing"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: time, dynamic: 2}", "a", "dynamic", "a mapping"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: frequency, dynamic: {top_k: 2}}", "a", "dynamic",
     "not along frequency"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: time, groups: 2, dynamic: {top_k: 2}}", "a", "dynamic",
     "groups must be 1"),
    ("  - {name: a, op: lstm, input: input, hidden: 4, axis: time, dynamic: {top_k: 2}}", "a", "dynamic",
     "unknown field"),
    ("  - {name: a, op: lstm, input: input, hidden: 4, axis: time, bidirectional: true}", "a", "bidirectional",
     "lstm along time"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 3, kernel: 1}\n"
     "  - {name: b, op: gru, input: a, hidden: 4, axis: time, groups: 2}", "b", "groups", "shape mismatch"),
    ("  - {name: a, op: mul, inputs: [input, b]}\n  - {name: b, op: relu, input: input}", "a", "inputs", "used before"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 3, kernel: 3}\n"
     "  - {name: b, op: mul, inputs: [a, input]}", "b", "inputs", "shape mismatch"),
    ("  - {name: a, op: leaky_relu, input: input, negative_slope: fast}", "a", "negative_slope", "expected a number"),
    ("  - {name: a, op: softplus, input: input, beta: 0}", "a", "beta", "at least"),
    ("  - {name: a, op: mask_complex, input: b}\n  - {name: b, op: relu, input: input}", "a", "input", "used before"),
    ("  - {name: a, op: conv1d, input: input, out_channels: 1, kernel: 1}\n"
     "  - {name: b, op: mask_complex, input: a}", "b", "input", "must have 2 channels"),
    ("  - {name: a, op: dense, input: input, out_features: 0}", "a", "out_features", "at least 1"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: time, bidirectional: true}", "a", "bidirectional",
     "cannot look ahead"),
    ("  - {name: a, op: gru, input: input, hidden: 4, axis: diagonal}", "a", "axis", "must be one of"),
    ("  - {name: a, op: concat, inputs: [input]}", "a", "inputs", "at least 2"),
    ("  - {name: a, op: conv1d, inputs: [input], out_channels: 4, kernel: 3}", "a", "input", "missing"),
    ("  - {name: a, op: relu, input: input}\n  - {name: a, op: relu, input: input}", "a", "name", "already defined"),
    ("  - {name: m, op: conv1d, input: input, out_channels: 1, kernel: 1}\n"
     "  - {name: r, op: mask_reconstruct, inputs: [m, m]}\n"
     "  - {name: x, op: relu, input: r}", "x", "input", "computed on the host"),
]


@pytest.mark.parametrize("layers,layer,field,words", LAYER_ERRORS)
def test_layer_errors(write_model, layers, layer, field, words):
    err = _error(write_model, HEAD + "layers:\n" + layers + "\n")
    assert (err.layer, err.field) == (layer, field)
    assert f"layer '{layer}'" in str(err) and f"field '{field}'" in str(err)
    assert words in str(err)


@pytest.mark.parametrize("text,field,words", [
    ("name: x\ninput: [1, 2]\nlayers: []\n", "input", "expected a mapping"),
    (HEAD.replace("bins: 32", "bins: 99") + GOOD_LAYERS, "input.bins", "33"),
    (HEAD.replace("channels: 2", "channels: 4") + GOOD_LAYERS, "input.channels", "give 2 channels"),
    (HEAD.replace("compressed_complex", "mfcc") + GOOD_LAYERS, "input.features", "unknown feature"),
    (HEAD + GOOD_LAYERS + "outputs: [nothing]\n", "outputs", "not a layer"),
    (HEAD + GOOD_LAYERS + "extra: 1\n", "extra", "unknown top-level key"),
    ("name: x\ninput: {bins: 1\n", None, "not valid YAML"),
    (HEAD.replace("seed: 3}", "seed: 3, bn_shift: high}") + GOOD_LAYERS, "weights.bn_shift", "expected a number"),
])
def test_file_errors(write_model, text, field, words):
    err = _error(write_model, text)
    assert err.field == field and err.layer is None
    assert words in str(err)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        parse_model(tmp_path / "absent.yaml")


def _npz_model(write_model, tmp_path, arrays):
    np.savez(tmp_path / "w.npz", **arrays)
    return write_model(HEAD.replace("{init: random, seed: 3}", "{npz: w.npz}") + GOOD_LAYERS)


def _good_arrays(write_model):
    return load_model(write_model(HEAD + GOOD_LAYERS, "ref.yaml")).weights


def test_npz_weights_load(write_model, tmp_path):
    arrays = _good_arrays(write_model)
    model = load_model(_npz_model(write_model, tmp_path, arrays))
    assert set(model.weights) == set(arrays)


def test_npz_missing_array(write_model, tmp_path):
    arrays = _good_arrays(write_model)
    del arrays["c2.weight"]
    with pytest.raises(ModelError) as info:
        load_model(_npz_model(write_model, tmp_path, arrays))
    assert "w.npz: layer 'c2': field 'weight': missing array 'c2.weight'" in str(info.value)


def test_npz_misshapen_array(write_model, tmp_path):
    arrays = _good_arrays(write_model)
    arrays["c1.bn.running_var"] = np.ones(7)
    with pytest.raises(ModelError) as info:
        load_model(_npz_model(write_model, tmp_path, arrays))
    assert "layer 'c1': field 'bn.running_var'" in str(info.value) and "expected (8,)" in str(info.value)


def test_npz_unused_array(write_model, tmp_path):
    arrays = _good_arrays(write_model)
    arrays["c3.weight"] = np.ones(3)
    with pytest.raises(ModelError, match="'c3.weight' is not used"):
        load_model(_npz_model(write_model, tmp_path, arrays))


def test_cli_one_line_exit_2(write_model):
    path = write_model(HEAD + "layers:\n  - {name: a, op: conv3d, input: input}\n")
    proc = subprocess.run([sys.executable, "-m", "compiler", str(path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and f"{path}: layer 'a': field 'op': unknown op" in proc.stderr


#: Errors of a field's kind, choices, bounds or presence: what the JSON Schema can say too.
SCHEMA_LEVEL = ("unknown op", "expected an integer", "expected true or false", "must be one of", "unknown field",
                "missing", "at least", "expected a number", "an integer or a list of two integers")


@pytest.fixture(scope="module")
def schema_validator():
    import jsonschema

    from compiler.schema import model_json_schema
    schema = model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_models_follow_the_json_schema(schema_validator, path):
    import yaml
    assert [e.message for e in schema_validator.iter_errors(yaml.safe_load(path.read_text()))] == []


def test_good_models_follow_the_json_schema(schema_validator):
    import yaml
    assert list(schema_validator.iter_errors(yaml.safe_load(HEAD + GOOD_LAYERS))) == []


@pytest.mark.parametrize("layers,layer,field,words", [c for c in LAYER_ERRORS if c[3].startswith(SCHEMA_LEVEL)
                                                      or any(w in c[3] for w in SCHEMA_LEVEL)])
def test_the_json_schema_refuses_what_the_parser_refuses_by_field(schema_validator, layers, layer, field, words):
    """Every error of a field's kind, choices, bounds or presence that the parser reports, the schema
    reports too (shapes and names stay the parser's)."""
    import yaml
    doc = yaml.safe_load(HEAD + "layers:\n" + layers + "\n")
    assert list(schema_validator.iter_errors(doc)), f"the schema accepts what the parser refuses ({words})"
