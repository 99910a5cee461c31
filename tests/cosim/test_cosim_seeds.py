"""The seed papers' networks (models/cgcrn.yaml, ...) cosimulate bit- and cycle-exact at 4 and 8
lanes for two consecutive frames, state carried (past frames of the 2-D convolutions, GRU state),
each in the configuration its model file names (`models/<name>.npu.json`, if there is one)."""
from pathlib import Path

import pytest

from cocotb_tests.cosim import cosimulate
from cocotb_tests.workload import model_workload
from compiler import companion_config

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 2
SEED_MODELS = ("cgcrn", "dgru")


@pytest.mark.parametrize("lanes", [4, 8])
@pytest.mark.parametrize("model", SEED_MODELS)
def test_seed_model_exact(model, lanes):
    path = ROOT / "models" / f"{model}.yaml"
    work = model_workload(path, lanes=lanes, frames=FRAMES, config=companion_config(path, lanes=lanes))
    result = cosimulate(work.program, inputs=work.inputs, frames=FRAMES, name=f"{model}_l{lanes}", log=lambda *_: None)
    assert result.ok, result.message
    assert len(result.frames) == FRAMES
    for frame in result.frames:
        assert frame["outputs_match"] and frame["schedule_match"] and frame["counters_match"]
        assert frame["counters_rtl"] == frame["counters_model"]
