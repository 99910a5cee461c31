"""The nested U-Net's other operators on a small model: pixel_shuffle (sub-pixel upsampling), mean
over positions and a causal moving average over frames (its time-frequency attention), the
magnitude_direct host op. Golden model == integer reference bit for bit at 1, 4 and 16 lanes over
40 frames (past the moving average's window), and the float reference against direct formulas."""
import numpy as np
import pytest

from .conftest import integer_reference, model_from_text

MODEL = """
name: pool
input: {sample_rate: 16000, fft_size: 128, hop: 32, bins: 32, channels: 1, features: [magnitude]}
weights: {init: random, seed: 4}
quantisation: {calibration_frames: 8, activations: ACT}
layers:
  - {name: c1, op: conv2d, input: input, out_channels: 8, kernel: [1, 3], stride: [1, 2], padding_freq: 1}
  - {name: ln, op: layer_norm, input: c1}
  - {name: sp, op: conv1d, input: ln, out_channels: 12, kernel: 3, padding: 1}
  - {name: up, op: pixel_shuffle, input: sp, factor: 2}
  - {name: ta.mean, op: mean, input: up}
  - {name: ta.c1, op: conv1d, input: ta.mean, out_channels: 4, kernel: 1, activation: relu}
  - {name: ta, op: conv1d, input: ta.c1, out_channels: 6, kernel: 1, activation: sigmoid}
  - {name: fa.avg, op: moving_average, input: ta, frames: 5}
  - {name: fa, op: conv1d, input: fa.avg, out_channels: 6, kernel: 1, activation: sigmoid}
  - {name: tfa, op: mul, inputs: [ta, fa]}
  - {name: att, op: mul, inputs: [up, tfa]}
  - {name: mag, op: conv1d, input: att, out_channels: 1, kernel: 1, activation: relu}
  - {name: enhanced, op: magnitude_direct, input: mag}
outputs: [mag, fa.avg, up]
"""


def _model(tmp_path, act):
    return model_from_text(tmp_path, MODEL.replace("ACT", act), "pool")


@pytest.mark.parametrize("act", ["int8", "int16"])
def test_attention_pool_ops_bit_exact(tmp_path, act, golden_equals_reference):
    from compiler import quantise
    model = _model(tmp_path, act)
    qnet = quantise(model)
    x, ref = integer_reference(model, qnet, 40, 11)
    for summary in golden_equals_reference(qnet, x, ref, (1, 4, 16)).values():
        assert "strided copies" in summary.layer("up").mapping


def test_float_references(tmp_path):
    from compiler import FloatModel
    from npu_model.host import HOST_MASKS, generated_frames
    model = _model(tmp_path, "int8")
    stft = generated_frames(model.spec.input, 9, 3)
    whole, _ = FloatModel(model).run(stft)
    sp, up = whole["sp"], whole["up"]                                # (T, 12, 16) -> (T, 6, 32)
    for c in range(6):
        for s in range(2):
            np.testing.assert_array_equal(up[:, c, s::2], sp[:, 2 * c + s, :])
    np.testing.assert_allclose(whole["ta.mean"][:, :, 0], up.mean(axis=2), atol=1e-12)
    ta = np.concatenate([np.zeros((4,) + whole["ta"].shape[1:]), whole["ta"]])
    want = np.mean([ta[k:k + 9] for k in range(5)], axis=0)          # frames t-4 .. t, zero before the first
    np.testing.assert_allclose(whole["fa.avg"], want, atol=1e-12)
    s = HOST_MASKS["magnitude_direct"][0](stft, whole["mag"])
    np.testing.assert_allclose(np.hypot(s[:, 0], s[:, 1]), whole["mag"][:, 0], atol=1e-12)
    live = whole["mag"][:, 0] > 0                                     # the noisy phase where there is a magnitude
    assert live.mean() > 0.2
    np.testing.assert_allclose(np.angle(s[:, 0] + 1j * s[:, 1])[live], np.angle(stft)[live], atol=1e-9)
