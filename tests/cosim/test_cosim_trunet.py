"""The full TRU-Net frame (both reference models) cosimulates bit- and cycle-exact at 4 and 8
lanes for two consecutive frames, state carried, with the compiler's quantised input frames: with
hardware loops (the compiler's default), and TRU-Net also unrolled (in an imem large enough)."""
from pathlib import Path

import pytest

from cocotb_tests.cosim import cosimulate
from cocotb_tests.workload import model_workload
from npu_model.arch.config import NpuConfig
from npu_model.arch.isa import Opcode

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 2


@pytest.mark.parametrize("model, lanes, code", [("trunet", 4, "loops"), ("trunet", 8, "loops"), ("trunet", 8, "unrolled"),
                                                ("trunet_paper", 4, "loops"), ("trunet_paper", 8, "loops")])
def test_trunet_exact(model, lanes, code):
    config = NpuConfig(lanes=lanes, imem_bytes=2 << 20) if code == "unrolled" else None
    work = model_workload(ROOT / "models" / f"{model}.yaml", lanes=lanes, frames=FRAMES, code=code, config=config)
    loops = (work.program.code[:, 0] & 0x1F) == Opcode.LOOP
    assert loops.any() == (code == "loops")
    result = cosimulate(work.program, inputs=work.inputs, frames=FRAMES, name=f"{model}_l{lanes}_{code}",
                        log=lambda *_: None)
    assert result.ok, result.message
    assert len(result.frames) == FRAMES
    for frame in result.frames:
        assert frame["outputs_match"] and frame["schedule_match"] and frame["counters_match"]
        assert frame["counters_rtl"] == frame["counters_model"]
