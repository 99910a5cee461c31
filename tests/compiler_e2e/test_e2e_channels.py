"""Channel selections on a small model shaped like GTCRN's grouped temporal convolution block:
the channels split in two slices, one half through a convolution, the halves concatenated and
shuffled (ShuffleNet's channel shuffle). Golden model == integer reference bit for bit at 1, 4
and 16 lanes, the float reference against direct indexing, and the lowering's copy runs."""
import numpy as np
import pytest

from .conftest import integer_reference, model_from_text

MODEL = """
name: shuffle
input: {sample_rate: 16000, fft_size: 128, hop: 32, bins: 32, channels: 1, features: [magnitude]}
weights: {init: random, seed: 5}
quantisation: {calibration_frames: 8, activations: ACT}
layers:
  - {name: c1, op: conv2d, input: input, out_channels: 8, kernel: [1, 3], padding_freq: 1, activation: relu}
  - {name: x1, op: slice, input: c1, stop: 4}
  - {name: x2, op: slice, input: c1, start: 4, stop: 8}
  - {name: h, op: conv2d, input: x1, out_channels: 4, kernel: [2, 3], padding_freq: 1, activation: relu}
  - {name: cat, op: concat, inputs: [h, x2]}
  - {name: shuf, op: channel_shuffle, input: cat, groups: 2}
  - {name: out, op: conv1d, input: shuf, out_channels: 1, kernel: 1, activation: sigmoid}
  - {name: enhanced, op: mask_magnitude, input: out}
outputs: [out, shuf]
"""


def _model(tmp_path, act="int8", text=MODEL):
    return model_from_text(tmp_path, text.replace("ACT", act), "shuffle")


@pytest.mark.parametrize("act", ["int8", "int16"])
def test_channel_ops_bit_exact(tmp_path, act, golden_equals_reference):
    from compiler import quantise
    model = _model(tmp_path, act)
    qnet = quantise(model)
    x, ref = integer_reference(model, qnet, 12, 11)
    for summary in golden_equals_reference(qnet, x, ref, (1, 4, 16)).values():
        assert "2 strided copies" in summary.layer("shuf").mapping
        assert "1 strided copy" in summary.layer("x2").mapping


def test_float_reference_indexes_channels(tmp_path):
    from compiler import FloatModel
    from npu_model.host import generated_frames
    model = _model(tmp_path)
    whole, _ = FloatModel(model).run(generated_frames(model.spec.input, 5, 3))
    c1, h, shuf = whole["c1"], whole["h"], whole["shuf"]
    np.testing.assert_array_equal(shuf[:, 0::2], h)                   # channel 2i: the first group's i
    np.testing.assert_array_equal(shuf[:, 1::2], c1[:, 4:8])          # channel 2i + 1: the second's


def test_channel_runs():
    from compiler.lower.layers import channel_runs
    assert channel_runs(tuple(range(3, 7))) == [(3, 0, 1, 4)]
    assert channel_runs((0, 4, 1, 5, 2, 6, 3, 7)) == [(0, 0, 2, 4), (4, 1, 2, 4)]
    assert channel_runs((2, 0, 1)) == [(0, 1, 1, 2), (2, 0, 1, 1)]


@pytest.mark.parametrize("layer, message", [
    ("{name: s, op: slice, input: c1, stop: 9}", r"layer 's'.*field 'stop'.*8 channels, so stop is at most 8"),
    ("{name: s, op: slice, input: c1, start: 5, stop: 5}", r"field 'start'.*below stop"),
    ("{name: s, op: channel_shuffle, input: c1, groups: 3}", r"field 'groups'.*8 channels, not a multiple of 3"),
])
def test_bad_channel_ops(tmp_path, layer, message):
    from compiler.errors import ModelError
    text = MODEL.replace("  - {name: x1, op: slice, input: c1, stop: 4}", f"  - {layer}\n  - {{name: x1, op: slice, input: c1, stop: 4}}")
    with pytest.raises(ModelError, match=message):
        _model(tmp_path, text=text)
