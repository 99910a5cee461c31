"""The full TRU-Net frame (both reference models) cosimulates bit- and cycle-exact at 4 and 8
lanes for two consecutive frames, state carried, with the compiler's quantised input frames."""
from pathlib import Path

import pytest

from cocotb_tests.cosim import cosimulate
from cocotb_tests.workload import model_workload

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 2


@pytest.mark.parametrize("lanes", [4, 8])
@pytest.mark.parametrize("model", ["trunet", "trunet_paper"])
def test_trunet_exact(model, lanes):
    work = model_workload(ROOT / "models" / f"{model}.yaml", lanes=lanes, frames=FRAMES)
    result = cosimulate(work.program, inputs=work.inputs, frames=FRAMES, name=f"{model}_l{lanes}",
                        log=lambda *_: None)
    assert result.ok, result.message
    assert len(result.frames) == FRAMES
    for frame in result.frames:
        assert frame["outputs_match"] and frame["schedule_match"] and frame["counters_match"]
        assert frame["counters_rtl"] == frame["counters_model"]
