"""A small synthetic model that takes the lowering's other paths: sizes that do not divide the
lanes, a time convolution on an intermediate tensor (its frame copied into sbuf), an odd number
of magnitude directions and an odd attention length (odd max trees), a standalone activation, a
concatenation read by a grouped convolution (copied), one requantised from a state, and network
outputs that are a frequency GRU's output and a time GRU's state (copied to position-last ports);
with int8 and with int16 activations."""
import numpy as np
import pytest

ODD = """
name: odd
input: {sample_rate: 16000, fft_size: 256, hop: 64, bins: 40, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 5}
quantisation: {calibration_frames: 8, activations: ACT}
layers:
  - {name: c0, op: conv1d, input: input, out_channels: 6, kernel: 3, padding: 1}
  - {name: pe, op: complex_conv_time, input: c0, out_channels: 3, kernel: 2}
  - {name: mag, op: magnitude, input: pe, directions: 7}
  - {name: e1, op: conv1d, input: mag, out_channels: 20, kernel: 5, stride: 2, padding: 2}
  - {name: e2, op: conv1d, input: e1, out_channels: 20, kernel: 3, stride: 2, padding: 1, groups: 20, activation: relu}
  - {name: att, op: attention, input: e2, heads: 2, dim: 12}
  - {name: res, op: add, inputs: [e2, att]}
  - {name: act, op: tanh, input: res}
  - {name: fg, op: gru, input: act, hidden: 6, axis: frequency, bidirectional: true}
  - {name: tg, op: gru, input: fg, hidden: 9, axis: time}
  - {name: cat, op: concat, inputs: [e2, res]}
  - {name: gc, op: conv1d, input: cat, out_channels: 8, kernel: 3, padding: 1, groups: 4, activation: relu}
  - {name: cat2, op: concat, inputs: [gc, tg]}
  - {name: up, op: conv_transpose1d, input: cat2, out_channels: 5, kernel: 4, stride: 2, padding: 1}
outputs: [tg, up, fg]
"""


@pytest.mark.parametrize("act", ["int8", "int16"])
def test_synthetic_model_bit_exact(tmp_path, act):
    from compiler import load_model, quantise
    from npu_model.host import HostFeatures, generated_frames
    from compiler.lower.network import compile_network
    from compiler.quant import IntModel, quantise_input
    from npu_model.arch.config import NpuConfig
    from npu_model.golden.machine import Npu
    path = tmp_path / "odd.yaml"
    path.write_text(ODD.replace("ACT", act))
    model = load_model(path)
    qnet = quantise(model)
    assert {l.op for l in qnet.layers} >= {"activation", "concat", "gru", "attention", "magnitude"}
    frames = 6
    feats, _ = HostFeatures(model.spec.input)(generated_frames(model.spec.input, frames, 11))
    x = quantise_input(feats, qnet)
    ref, _ = IntModel(qnet).run(x)
    for lanes in (1, 4, 16):
        program, _, summary = compile_network(qnet, NpuConfig(lanes=lanes), with_listing=False)
        assert sorted(p.name for p in program.outputs) == ["fg", "tg", "up"]
        npu = Npu(program)
        for f in range(frames):
            out = npu.run_frame({"input": x[f]}).outputs
            for name in ("tg", "up", "fg"):
                np.testing.assert_array_equal(out[name], ref[name][f], err_msg=f"{lanes} lanes, frame {f}, {name}")
        assert "copied" in summary.layer("cat").mapping
