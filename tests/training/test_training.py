"""The training network (training/net.py) is the network the compiler compiles: built from the
same model file, with the file's weights loaded it computes what compiler.FloatModel computes,
layer by layer, for both reference models; its arrays come back under their `.npz` names. Needs
PyTorch (the optional extra `train`); skipped without it."""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["trunet", "trunet_paper"])
def test_torch_network_computes_what_the_float_model_computes(name):
    from compiler import FloatModel, load_model
    from npu_model.host import HostFeatures, generated_frames
    from training.net import TorchNet
    model = load_model(ROOT / "models" / f"{name}.yaml")
    net = TorchNet(model, magnitude_eps=0.0).double()
    net.load_arrays(model.weights)
    net.eval()
    stft = generated_frames(model.spec.input, 10, 3)
    feats, _ = HostFeatures(model.spec.input)(stft)
    ref, _ = FloatModel(model).run(stft)                   # frames in order, state carried from zero
    with torch.no_grad():
        got = net(torch.as_tensor(feats, dtype=torch.float64)[None])
    for layer in net.order:
        r, g = ref[layer.name], got[layer.name][0].numpy()
        assert np.abs(r - g).max() <= 1e-9 * np.abs(r).max(), layer.name
    arrays = net.state_arrays()
    assert arrays.keys() == model.weights.keys()
    for k, w in model.weights.items():
        np.testing.assert_array_equal(arrays[k], w)


def test_an_unsupported_op_is_one_line(tmp_path):
    from compiler import load_model
    from compiler.errors import ModelError
    from training.net import TorchNet
    path = tmp_path / "m.yaml"
    path.write_text("""
name: m
input: {sample_rate: 16000, fft_size: 128, hop: 32, bins: 32, channels: 1, features: [magnitude]}
layers:
  - {name: c, op: conv1d, input: input, out_channels: 2, kernel: 3, padding: 1}
  - {name: p, op: pixel_shuffle, input: c, factor: 2}
""")
    with pytest.raises(ModelError, match=r"layer 'p'.*op 'pixel_shuffle' is not supported"):
        TorchNet(load_model(path))


def test_the_loss_falls_in_a_few_steps_on_a_small_network(tmp_path):
    from compiler import load_model
    from training.train import train
    path = tmp_path / "small.yaml"
    path.write_text("""
name: small
input: {sample_rate: 16000, fft_size: 128, hop: 64, bins: 64, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 1}
layers:
  - {name: c1, op: conv1d, input: input, out_channels: 8, kernel: 3, padding: 1, batchnorm: true, activation: relu}
  - {name: g, op: gru, input: c1, hidden: 8, axis: time}
  - {name: m, op: conv1d, input: g, out_channels: 1, kernel: 1, activation: sigmoid}
  - {name: out, op: mask_magnitude, input: m}
""")
    speech = [np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) * np.hanning(16000)]
    logs = []
    net, record = train(load_model(path), seed=0, steps=80, batch=4, seconds=0.5, minutes=None, log=logs.append,
                        speech=speech, stop_after=60)
    first, last = (float(line.split("loss ")[1].split()[0]) for line in (logs[0], logs[-2]))
    assert record["steps"] == 60 and last < first and logs[-1] == "stopped after 60 steps (--stop-after)"


def test_training_can_start_from_the_random_weights_a_file_named_before(random_weights_file):
    """models/trunet.yaml names its trained weights; --init-seed 2 --bn-shift 1.0 starts from the
    seeded random ones it was trained from (docs/training.md)."""
    from compiler import load_model
    from training.train import initial_model
    assert "weights: {npz: trunet.npz}" in (ROOT / "models" / "trunet.yaml").read_text()
    want, got = load_model(random_weights_file("trunet")).weights, initial_model(ROOT / "models" / "trunet.yaml", 2, 1.0).weights
    assert want.keys() == got.keys() and all(np.array_equal(want[k], got[k]) for k in want)
    trained = initial_model(ROOT / "models" / "trunet.yaml").weights
    assert not np.array_equal(trained["enc1.weight"], got["enc1.weight"])
