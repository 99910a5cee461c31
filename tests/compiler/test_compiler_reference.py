"""Float reference: kernels against their definitions, folding, state across frames."""
from __future__ import annotations

import numpy as np
import pytest

from compiler import FloatModel, load_model
from npu_model.host import generated_frames
from compiler.reference import complex_as_real, conv1d, conv_transpose1d
from compiler.reference.float_layers import FLOAT_LAYERS, sigmoid

RNG = np.random.default_rng(0)


def naive_conv1d(x, w, stride, padding, dilation, groups):
    t, cin, length = x.shape
    cout, cin_g, k = w.shape
    lout = (length + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((t, cout, lout))
    for o in range(cout):
        g = o // (cout // groups)
        for l in range(lout):
            for c in range(cin_g):
                for j in range(k):
                    pos = l * stride + j * dilation - padding
                    if 0 <= pos < length:
                        out[:, o, l] += w[o, c, j] * x[:, g * cin_g + c, pos]
    return out


def naive_conv_transpose1d(x, w, stride, padding, output_padding, dilation, groups):
    t, cin, length = x.shape
    _, cout_g, k = w.shape
    cin_g = cin // groups
    lout = (length - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    out = np.zeros((t, cout_g * groups, lout))
    for c in range(cin):
        g = c // cin_g
        for j in range(length):
            for o in range(cout_g):
                for tap in range(k):
                    pos = j * stride + tap * dilation - padding
                    if 0 <= pos < lout:
                        out[:, g * cout_g + o, pos] += w[c, o, tap] * x[:, c, j]
    return out


@pytest.mark.parametrize("cin,cout,k,s,p,d,g", [(4, 6, 5, 2, 2, 1, 1), (6, 6, 3, 1, 1, 1, 6), (4, 8, 3, 2, 2, 2, 2),
                                                (3, 5, 1, 1, 0, 1, 1)])
def test_conv1d_matches_definition(cin, cout, k, s, p, d, g):
    x = RNG.standard_normal((2, cin, 17))
    w = RNG.standard_normal((cout, cin // g, k))
    got = conv1d(x, w, stride=s, padding=p, dilation=d, groups=g)
    np.testing.assert_allclose(got, naive_conv1d(x, w, s, p, d, g), atol=1e-12)


@pytest.mark.parametrize("cin,cout,k,s,p,op,d,g", [(4, 6, 3, 2, 1, 1, 1, 1), (6, 4, 5, 2, 2, 1, 1, 2),
                                                   (4, 4, 3, 1, 1, 0, 1, 1), (2, 2, 3, 3, 0, 2, 1, 2)])
def test_conv_transpose1d_matches_definition(cin, cout, k, s, p, op, d, g):
    x = RNG.standard_normal((2, cin, 9))
    w = RNG.standard_normal((cin, cout // g, k))
    got = conv_transpose1d(x, w, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
    np.testing.assert_allclose(got, naive_conv_transpose1d(x, w, s, p, op, d, g), atol=1e-12)


def test_complex_as_real_is_complex_product():
    wr, wi = RNG.standard_normal((3, 2, 1)), RNG.standard_normal((3, 2, 1))
    xr, xi = RNG.standard_normal(2), RNG.standard_normal(2)
    y = complex_as_real(wr, wi)[:, :, 0] @ np.concatenate([xr, xi])
    want = (wr[:, :, 0] + 1j * wi[:, :, 0]) @ (xr + 1j * xi)
    np.testing.assert_allclose(y, np.concatenate([want.real, want.imag]))


TINY = """name: tiny
input: {sample_rate: 16000, fft_size: 64, hop: 16, bins: 32, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 5}
layers:
  - {name: pe, op: complex_conv_time, input: input, out_channels: 2, kernel: 3}
  - {name: mag, op: magnitude, input: pe}
  - {name: c1, op: conv1d, input: mag, out_channels: 8, kernel: 3, padding: 1}
  - {name: bn, op: batchnorm, input: c1}
  - {name: act, op: relu, input: bn}
  - {name: g, op: gru, input: act, hidden: 6, axis: frequency, bidirectional: true}
  - {name: att, op: attention, input: g, heads: 2, dim: 8}
  - {name: res, op: add, inputs: [g, att]}
  - {name: t, op: gru, input: res, hidden: 5, axis: time}
  - {name: up, op: conv_transpose1d, input: t, out_channels: 4, kernel: 3, stride: 1, padding: 1, batchnorm: true, activation: relu}
  - {name: cat, op: concat, inputs: [up, act]}
  - {name: m, op: conv1d, input: cat, out_channels: 1, kernel: 3, padding: 1, activation: sigmoid}
  - {name: p, op: conv1d, input: cat, out_channels: 1, kernel: 3, padding: 1, activation: tanh}
  - {name: out, op: mask_reconstruct, inputs: [m, p]}
outputs: [out]
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(TINY)
    return load_model(path)


def test_standalone_batchnorm_and_relu_are_fused(tiny):
    conv = tiny.layer("c1")
    assert conv.output == "act" and conv.fused == ("c1", "bn", "act") and conv.attrs["activation"] == "relu"
    w = tiny.weights
    x = RNG.standard_normal((3, 2, 32))
    raw = conv1d(x, w["c1.weight"], padding=1) + w["c1.bias"][:, None]
    bn = (raw - w["bn.running_mean"][:, None]) / np.sqrt(w["bn.running_var"][:, None] + 1e-5) \
        * w["bn.weight"][:, None] + w["bn.bias"][:, None]
    got, _ = FLOAT_LAYERS["conv1d"](conv, [x], None, lambda *a: None)
    np.testing.assert_allclose(got, np.maximum(bn, 0), atol=1e-12)


def test_frame_by_frame_equals_sequence(tiny, paper_model, trunet_model):
    for model in (tiny, paper_model, trunet_model):
        stft = generated_frames(model.spec.input, 6, 11)
        fm = FloatModel(model)
        seq, s1 = fm.run(stft)
        fbf, s2 = fm.run_frame_by_frame(stft)
        for name in seq:
            np.testing.assert_allclose(fbf[name], seq[name], atol=1e-10, err_msg=name)


def test_state_is_carried(trunet_model):
    """The TGRU state and the phase encoder's past frames change frame 2's output."""
    stft = generated_frames(trunet_model.spec.input, 3, 4)
    fm = FloatModel(trunet_model)
    carried, _ = fm.run(stft)
    fresh, _ = fm.run(stft[2:])
    assert not np.allclose(carried["mea"][2], fresh["mea"][0])


def test_gru_matches_pytorch_formula(tiny):
    fl = tiny.layer("t")
    p = fl.params
    x = RNG.standard_normal((4, 12, 32))
    got, state = FLOAT_LAYERS["gru"](fl, [x], None, lambda *a: None)
    h = np.zeros((5, 32))
    for step in range(4):
        for pos in range(32):
            xi, hp = x[step, :, pos], h[:, pos]
            gi = p["weight_ih"] @ xi + p["bias_ih"]
            gh = p["weight_hh"] @ hp + p["bias_hh"]
            r = sigmoid(gi[:5] + gh[:5])
            z = sigmoid(gi[5:10] + gh[5:10])
            n = np.tanh(gi[10:] + r * gh[10:])
            h[:, pos] = (1 - z) * n + z * hp
        np.testing.assert_allclose(got[step], h, atol=1e-12)
    np.testing.assert_allclose(state, h, atol=1e-12)


def test_attention_matches_definition(tiny):
    fl = tiny.layer("att")
    p = fl.params
    x = RNG.standard_normal((1, 12, 32))[0]
    got, _ = FLOAT_LAYERS["attention"](fl, [x[None]], None, lambda *a: None)
    q, k, v = (p[f"{n}.weight"] @ x + p[f"{n}.bias"][:, None] for n in "qkv")
    heads = []
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        s = q[sl].T @ k[sl] / 2.0
        a = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
        heads.append(v[sl] @ a.T)
    want = p["o.weight"] @ np.concatenate(heads) + p["o.bias"][:, None]
    np.testing.assert_allclose(got[0], want, atol=1e-10)


def test_random_init_is_deterministic(write_model):
    a = load_model(write_model(TINY, "a.yaml"))
    b = load_model(write_model(TINY, "b.yaml"))
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name])


def test_batchnorm_statistics_normalise(paper_random_model):
    """Data-dependent batch-norm init: folded convs give roughly unit-variance pre-activations,
    and the random shifts are drawn around the model file's bn_shift."""
    stft = generated_frames(paper_random_model.spec.input, 8, 21)
    seen = {}
    FloatModel(paper_random_model).run(stft, probe=lambda n, v: seen.setdefault(n, v))
    std = np.std(seen["enc3.pw.pre"], axis=(0, 2))
    beta = paper_random_model.weights["enc3.pw.bn.bias"]
    assert paper_random_model.spec.weights["bn_shift"] == 1.0
    assert 0.5 < np.median(std) < 2.0 and np.all(np.abs(beta - 1.0) < 0.5)


def _perturbation_growth_db(path):
    """Float only: white noise 60 dB below enc2.pw's output, then the SNR lost per layer over the
    nine normalised encoder layers after it (dB per layer)."""
    from compiler.quant import snr_db
    model = load_model(path)
    stft = generated_frames(model.spec.input, 8, 7)
    ref, _ = FloatModel(model).run(stft)
    rng = np.random.default_rng(0)
    noisy = {"enc2.pw": ref["enc2.pw"] + rng.standard_normal(ref["enc2.pw"].shape)
             * np.sqrt(np.mean(ref["enc2.pw"] ** 2)) * 1e-3}
    names = [fl.name for fl in model.layers]
    for fl in model.layers[names.index("enc2.dw"):names.index("enc6.dw") + 1]:
        noisy[fl.output] = FLOAT_LAYERS[fl.op](fl, [noisy[i] for i in fl.inputs], None, lambda *a: None)[0]
    return (snr_db(ref["enc2.pw"], noisy["enc2.pw"]) - snr_db(ref["enc6.dw"], noisy["enc6.dw"])) / 9


@pytest.mark.parametrize("name", ["trunet_paper", "trunet"])
def test_bn_shift_keeps_the_random_network_out_of_chaos(name, random_weights_file):
    """With shifts around 0 a random batch-norm + ReLU network amplifies a perturbation by
    pi/(pi-1) (1.66 dB) per layer (mean-field theory of batch norm); around 1 by much less. The
    fidelity target depends on it (docs/compiler.md, "Fidelity")."""
    chaotic = _perturbation_growth_db(random_weights_file(name, bn_shift=0.0))
    shifted = _perturbation_growth_db(random_weights_file(name, bn_shift=1.0))
    assert 1.3 < chaotic < 2.1, chaotic
    assert shifted < 1.0, shifted
