"""Layer norm over channels (act=rsqrt, b_exp) on small models: golden model == integer reference
bit for bit at 1, 4 and 16 lanes with int8 and int16 activations, the integer model close to the
float one, and the float reference against a direct formula."""
import numpy as np
import pytest

from .conftest import model_from_text

MODEL = """
name: lnorm
input: {sample_rate: 16000, fft_size: 128, hop: 32, bins: 33, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 9}
quantisation: {calibration_frames: 8, activations: ACT}
layers:
  - {name: c1, op: conv2d, input: input, out_channels: CH, kernel: [1, 3], stride: [1, 2], padding_freq: 1}
  - {name: ln1, op: layer_norm, input: c1, eps: 1.0e-8}
  - {name: p1, op: prelu, input: ln1, shared: true}
  - {name: c2, op: conv2d, input: p1, out_channels: 5, kernel: [1, 3], padding_freq: 1}
  - {name: ln2, op: layer_norm, input: c2}
  - {name: mask, op: sigmoid, input: ln2}
  - {name: gn, op: layer_norm, input: c2, over: frame}
  - {name: lnf, op: layer_norm, input: p1, over: frame, affine: element}
outputs: [mask, ln1, gn, lnf]
"""


def _model(tmp_path, act, channels=12):
    return model_from_text(tmp_path, MODEL.replace("ACT", act).replace("CH", str(channels)), "lnorm")


@pytest.mark.parametrize("act, channels", [("int8", 12), ("int16", 12), ("int16", 300)])
def test_layer_norm_bit_exact(tmp_path, act, channels, golden_equals_reference):
    from compiler import FloatModel, IntModel, quantise, quantise_input
    from npu_model.host import HostFeatures, generated_frames
    model = _model(tmp_path, act, channels)
    qnet = quantise(model)
    frames = 5
    stft = generated_frames(model.spec.input, frames, 11)
    feats, _ = HostFeatures(model.spec.input)(stft)
    x = quantise_input(feats, qnet)
    ref, _ = IntModel(qnet).run(x)
    # The integer layer norm adds little to its input's error (int8: about an LSB of its output).
    flt, _ = FloatModel(model).run(stft)

    def rel(name):
        got = ref[name] * qnet.tensors[name].scale
        return np.sqrt(np.mean((got - flt[name]) ** 2) / np.mean(flt[name] ** 2))
    assert rel("ln1") < 1.3 * rel("c1") + (0.006 if act == "int8" else 0.0005), (rel("ln1"), rel("c1"))
    assert rel("gn") < 1.3 * rel("c2") + (0.006 if act == "int8" else 0.0005), (rel("gn"), rel("c2"))
    for summary in golden_equals_reference(qnet, x, ref, (1, 4, 16)).values():
        assert "rsqrt" in summary.layer("ln1").mapping


def test_float_layer_norm_is_the_textbook_formula(tmp_path):
    from compiler import FloatModel
    from npu_model.host import generated_frames
    model = _model(tmp_path, "int8")
    whole, _ = FloatModel(model).run(generated_frames(model.spec.input, 3, 3))
    fl = next(l for l in model.layers if l.name == "ln1")
    x = whole["c1"]                                                 # (T, C, L)
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    want = (x - mu) / np.sqrt(var + 1e-8) * fl.params["weight"][:, None] + fl.params["bias"][:, None]
    np.testing.assert_allclose(whole["ln1"], want, atol=1e-9)
    assert np.allclose(((x - mu) / np.sqrt(var + 1e-8)).std(axis=1), 1.0, atol=1e-6)
    # over the frame (GroupNorm with one group / LayerNorm((F, C))), weight and bias per element
    fl = next(l for l in model.layers if l.name == "lnf")
    x = whole["p1"]
    mu, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    want = (x - mu) / np.sqrt(var + 1e-5) * fl.params["weight"] + fl.params["bias"]
    assert fl.params["weight"].shape == x.shape[1:]
    np.testing.assert_allclose(whole["lnf"], want, atol=1e-9)


def test_layer_norm_streams_in_lockstep_match_single_runs(tmp_path):
    """The block-float groups run once per stream inside a lockstep frame (`Executor.run_frames`):
    three clips together give each clip's outputs of its own `Npu`."""
    from compiler import quantise, quantise_input
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.golden.executor import _BlockFloat
    from npu_model.golden.machine import Npu, Streams
    from npu_model.host import HostFeatures, generated_frames
    model = _model(tmp_path, "int8")
    qnet = quantise(model)
    program, _, _ = compile_network(qnet, NpuConfig(lanes=4), model=model, with_listing=False)
    clips = [quantise_input(HostFeatures(model.spec.input)(generated_frames(model.spec.input, 3, seed))[0], qnet)
             for seed in (1, 2, 3)]
    port = program.inputs[0]
    streams = Streams(Npu(program), len(clips))
    assert any(isinstance(b, _BlockFloat) for b in streams.npu.executor.batches)
    singles = [Npu(program) for _ in clips]
    for f in range(3):
        got = streams.run_frame({port.name: np.stack([c[f].reshape(port.shape) for c in clips])})
        for k, npu in enumerate(singles):
            for name, value in npu.run_frame({port.name: clips[k][f].reshape(port.shape)}).outputs.items():
                assert np.array_equal(got[name][k], value), (f, k, name)
