"""The operators of the seed papers' networks on small models that take their other paths: 2-D
convolutions causal along time (time dilation, grouped, depthwise, asymmetric frequency padding,
transposed with cropping and output padding, kt = 1), leaky ReLU, PReLU, softplus, ELU, mul with
broadcasting, an add of a GRU state and a calibrated tensor (aligned), flatten / reshape in both
orders, dense, grouped GRUs and LSTMs along time and frequency (bidirectional), and the complex
and magnitude host masks.
Golden model == integer reference bit for bit at 1, 4 and 16 lanes, int8 and int16 activations;
the float reference streams (frame by frame == all frames at once) and matches a direct 2-D
convolution."""
import numpy as np
import pytest

from .conftest import model_from_text

OPS = """
name: seedops
input: {sample_rate: 16000, fft_size: 128, hop: 32, bins: 33, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 5, bn_shift: 1.0}
quantisation: {calibration_frames: 8, activations: ACT}
layers:
  - {name: e1, op: conv2d, input: input, out_channels: 8, kernel: [2, 3], stride: [1, 2], padding_freq: [1, 0], batchnorm: true}
  - {name: lr, op: leaky_relu, input: e1, negative_slope: 0.2}
  - {name: e2, op: conv2d, input: lr, out_channels: 8, kernel: [3, 3], dilation: [2, 1], padding_freq: 1, groups: 8}
  - {name: pr, op: prelu, input: e2}
  - {name: e3, op: conv2d, input: pr, out_channels: 2, kernel: [1, 3], padding_freq: 1, groups: 2, activation: relu}
  - {name: f, op: flatten, input: e3}
  - {name: d, op: dense, input: f, out_features: 32, activation: tanh}
  - {name: g, op: gru, input: d, hidden: 32, axis: time, groups: 4}
  - {name: r, op: reshape, input: g, channels: 2}
  - {name: fg, op: gru, input: e3, hidden: 4, axis: frequency, bidirectional: true, groups: 2}
  - {name: tl, op: lstm, input: fg, hidden: 6, axis: time}
  - {name: fl, op: lstm, input: tl, hidden: 4, axis: frequency, bidirectional: true, groups: 2}
  - {name: f3, op: flatten, input: fl}
  - {name: gl, op: lstm, input: f3, hidden: 8, axis: time, groups: 4}
  - {name: f2, op: flatten, input: fg, order: position_major}
  - {name: r2, op: reshape, input: f2, channels: 4, order: position_major}
  - {name: r2a, op: tanh, input: r2}
  - {name: cat, op: concat, inputs: [r, e3]}
  - {name: u1, op: conv_transpose2d, input: cat, out_channels: 8, kernel: [2, 3], stride: [1, 2], output_padding: 1}
  - {name: res, op: add, inputs: [r, e3]}
  - {name: sp, op: softplus, input: u1}
  - {name: el, op: elu, input: u1}
  - {name: m, op: mul, inputs: [sp, el]}
  - {name: u2, op: conv_transpose2d, input: m, out_channels: 2, kernel: [3, 3], dilation: [2, 1], padding_freq: [1, 2], groups: 2}
  - {name: gate, op: sigmoid, input: u2}
  - {name: crm, op: mul, inputs: [gate, input]}
  - {name: enhanced, op: mask_complex, input: crm}
outputs: [crm, res, r2a, gl]
"""


def _model(tmp_path, act):
    return model_from_text(tmp_path, OPS.replace("ACT", act), "seedops")


@pytest.mark.parametrize("act", ["int8", "int16"])
def test_seed_ops_bit_exact(tmp_path, act):
    from compiler import IntModel, quantise, quantise_input
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.golden.machine import Npu
    from npu_model.host import HostFeatures, generated_frames
    model = _model(tmp_path, act)
    qnet = quantise(model)
    assert {l.op for l in qnet.layers} >= {"conv2d", "conv_transpose2d", "prelu", "activation", "mul", "reshape",
                                          "dense", "gru", "lstm", "add"}
    assert any(getattr(l, "align", None) for l in qnet.layers if l.op == "add") or act == "int16"
    frames = 6
    feats, _ = HostFeatures(model.spec.input)(generated_frames(model.spec.input, frames, 11))
    x = quantise_input(feats, qnet)
    ref, _ = IntModel(qnet).run(x)
    for lanes in (1, 4, 16):
        program, _, summary = compile_network(qnet, NpuConfig(lanes=lanes), with_listing=False)
        assert summary.layer("r2").mapping.startswith("free")      # a vector reshaped position-major: a view
        assert "cop" in summary.layer("r").mapping                  # channel-major from a vector: a copy
        npu = Npu(program)
        for f in range(frames):
            out = npu.run_frame({"input": x[f]}).outputs
            for name in qnet.outputs:
                np.testing.assert_array_equal(out[name], ref[name][f], err_msg=f"{lanes} lanes, frame {f}, {name}")


def test_float_reference_streams_and_matches_a_direct_conv2d(tmp_path):
    from compiler import FloatModel
    from npu_model.host import generated_frames
    model = _model(tmp_path, "int8")
    stft = generated_frames(model.spec.input, 7, 3)
    fm = FloatModel(model)
    whole, _ = fm.run(stft)
    stream, _ = fm.run_frame_by_frame(stft)
    for name in whole:
        np.testing.assert_allclose(stream[name], whole[name], atol=1e-9, err_msg=name)
    # e1 directly: causal along time (one zero frame before the first), padding [1, 0] along frequency
    fl = next(l for l in model.layers if l.name == "e1")
    w, b, x = fl.params["weight"], fl.params["bias"], whole["input"]
    t, c, length = x.shape
    xp = np.pad(np.concatenate([np.zeros((1, c, length)), x]), ((0, 0), (0, 0), (1, 0)))
    lout = whole["e1"].shape[2]
    direct = np.stack([np.stack([np.einsum("ocij,cij->o", w, xp[f:f + 2, :, 2 * o:2 * o + 3].transpose(1, 0, 2)) + b
                                 for o in range(lout)], axis=1) for f in range(t)])
    np.testing.assert_allclose(whole["e1"], direct, atol=1e-9)
    # u1 (transposed): tap 0 on the current frame, tap 1 on the previous one
    fl = next(l for l in model.layers if l.name == "u1")
    from compiler.reference.linear import conv_transpose1d
    xin = whole["cat"]
    prev = np.concatenate([np.zeros_like(xin[:1]), xin[:-1]])
    w = fl.params["weight"]
    direct = (conv_transpose1d(xin, w[:, :, 0], stride=2, output_padding=1)
              + conv_transpose1d(prev, w[:, :, 1], stride=2, output_padding=1) + fl.params["bias"][:, None])
    np.testing.assert_allclose(whole["u1"], direct, atol=1e-9)


def test_host_masks():
    from npu_model.host import mask_complex, mask_magnitude
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5)) + 1j * rng.normal(size=(3, 5))
    m = rng.normal(size=(3, 2, 5))
    s = mask_complex(x, m)
    np.testing.assert_allclose(s[:, 0] + 1j * s[:, 1], x * (m[:, 0] + 1j * m[:, 1]))
    s = mask_magnitude(x, m[:, :1])
    np.testing.assert_allclose(s[:, 0] + 1j * s[:, 1], x * m[:, 0])
