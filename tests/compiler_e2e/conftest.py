"""Shared fixtures: each model loaded and quantised once, each (model, lanes) compiled once, and
the integer reference's outputs over consecutive generated frames (tones plus noise)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"trunet": ROOT / "models" / "trunet.yaml", "trunet_paper": ROOT / "models" / "trunet_paper.yaml"}
LANES = (1, 2, 4, 8, 16)
FRAMES = 20
SEED = 2024


def model_from_text(tmp_path, text: str, name: str = "model"):
    """The model file `text`, written into `tmp_path` as NAME.yaml, loaded (compiler.load_model)."""
    from compiler import load_model
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return load_model(path)


def integer_reference(model, qnet, frames: int, seed: int):
    """(quantised inputs (T, C, L), integer reference outputs) over `frames` consecutive generated
    frames (tones plus noise, `seed`), state carried from zero."""
    from compiler import IntModel, quantise_input
    from npu_model.host import HostFeatures, generated_frames
    feats, _ = HostFeatures(model.spec.input)(generated_frames(model.spec.input, frames, seed))
    x = quantise_input(feats, qnet)
    return x, IntModel(qnet).run(x)[0]


def trained_or_skip(name: str):
    """The ONNX file of trained network `name` from its cached wheel (compiler.trained); the test
    is skipped, with the reason, when `make setup` could not fetch the wheel."""
    from compiler.errors import ModelError
    from compiler.trained import trained_onnx
    try:
        return trained_onnx(name)
    except ModelError as exc:
        pytest.skip(str(exc))


def config_for(lanes: int):
    from npu_model.arch.config import NpuConfig
    return NpuConfig(lanes=lanes)


class Networks:
    """Session cache: model name -> (Model, QuantizedNetwork); (name, lanes) -> compiled."""

    def __init__(self):
        self._nets, self._compiled, self._refs = {}, {}, {}

    def net(self, name):
        if name not in self._nets:
            from compiler import load_model, quantise
            model = load_model(MODELS[name])
            self._nets[name] = (model, quantise(model))
        return self._nets[name]

    def compiled(self, name, lanes):
        """(Program, CompileSummary) with timing, without listing."""
        key = (name, lanes)
        if key not in self._compiled:
            from compiler.lower.network import compile_network
            model, qnet = self.net(name)
            program, _, summary = compile_network(qnet, config_for(lanes), model=model, with_listing=False)
            self._compiled[key] = (program, summary)
        return self._compiled[key]

    def reference(self, name):
        """(int8 inputs (T, C, L), {output: int array (T, C, L)}) over FRAMES consecutive frames."""
        if name not in self._refs:
            model, qnet = self.net(name)
            x, ints = integer_reference(model, qnet, FRAMES, SEED)
            self._refs[name] = (x, {k: np.asarray(ints[k]) for k in qnet.outputs})
        return self._refs[name]


@pytest.fixture(scope="session")
def networks():
    return Networks()


@pytest.fixture
def golden_equals_reference():
    """`check(qnet, x, ref, lanes_list)`: see `assert_golden_equals_reference`."""
    return assert_golden_equals_reference


def assert_golden_equals_reference(qnet, x, ref, lanes_list, *, what="", config=None):
    """Compile `qnet` at every lane count of `lanes_list` and run the golden model over the frames
    of `x`: every output equals the integer reference `ref` bit for bit. Returns the summaries."""
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.golden.machine import Npu
    summaries = {}
    for lanes in lanes_list:
        cfg = (config or NpuConfig()).replace(lanes=lanes)
        program, _, summaries[lanes] = compile_network(qnet, cfg, with_listing=False)
        npu = Npu(program)
        for f in range(len(x)):
            out = npu.run_frame({qnet.input.name: x[f]}).outputs
            for name in qnet.outputs:
                np.testing.assert_array_equal(out[name], ref[name][f], err_msg=f"{what}{lanes} lanes, frame {f}, {name}")
    return summaries
