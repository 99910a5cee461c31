"""Hand-written programs cosimulate bit- and cycle-exact at every lane count, faults match,
the checker fails when the golden trace is corrupted, and then writes an FST window."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from npu_model.arch.isa import Opcode
from npu_model.golden.machine import Npu

from cocotb_tests.cosim import TRACES, WAVE_WINDOW, cosimulate
from cocotb_tests.hdl import half_period_ps
from cocotb_tests.sim import build_note

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cosim_programs import FAULTS, fault_program, loop_fault_program, opcode_inputs, opcode_program  # noqa: E402

FRAMES = 2


def test_opcode_program_covers_the_isa():
    program = opcode_program(4)
    assert set((program.code[:, 0] & 0x1F).tolist()) == {int(op) for op in Opcode}
    stats = Npu(program).stats
    assert stats.stall_cycles > 0 and stats.conflict_cycles > 0


@pytest.mark.parametrize("lanes, org", [(1, "lane"), (2, "lane"), (4, "lane"), (8, "lane"), (16, "lane"), (8, "row")])
def test_every_opcode_exact(lanes, org):
    program = opcode_program(lanes, org=org)
    result = cosimulate(program, inputs=opcode_inputs(FRAMES), frames=FRAMES,
                        name=f"opcodes_l{lanes}_{org}", log=lambda *_: None)
    assert result.ok, result.message
    assert len(result.frames) == FRAMES
    npu = Npu(program)
    assert result.frames[0]["counters_rtl"]["cycles"] == npu.stats.cycles
    if lanes > 1:                             # lanes in groups: reads and writes, a MAC's destination
        assert npu.analysis.groups.max() > 1 and npu.analysis.write_groups.max() > 1


@pytest.mark.parametrize("code", sorted(FAULTS))
def test_fault_pc_and_code(code):
    program = fault_program(code, lanes=4)
    result = cosimulate(program, inputs={"x": np.zeros((1, 16), np.int8)}, frames=1,
                        name=f"fault{code}", log=lambda *_: None)
    assert result.report["model_fault"] == [3, code]
    frame = result.frames[0]
    assert frame["fault_rtl"] == frame["fault_model"] == [3, code]
    assert result.ok, result.message            # and pcs 0..2 issued and retired on time


def test_fault_in_a_loop_iteration():
    program = loop_fault_program()
    result = cosimulate(program, inputs={"x": np.zeros((1, 16), np.int8)}, frames=1, name="loop_fault",
                        log=lambda *_: None)
    assert result.report["model_fault"] == [4, 3]
    frame = result.frames[0]
    assert frame["fault_rtl"] == frame["fault_model"] == [4, 3]
    assert result.report["instances"] == 2 + 1 + 2 * 3 + 1      # the 7 instances before it issued on time
    assert result.ok, result.message


def test_checker_reports_a_corrupted_retire_cycle():
    program = opcode_program(8)
    pc = 7
    result = cosimulate(program, inputs=opcode_inputs(1), frames=1, name="corrupt_retire",
                        corrupt={"retire": pc}, log=lambda *_: None)
    assert not result.ok
    first = result.first
    assert (first["what"], first["pc"]) == ("retire", pc)
    assert first["expected"] == first["actual"] + 1
    assert first["text"].startswith("sub ")
    assert f"pc {pc} (sub " in first["message"]


def test_checker_reports_a_corrupted_output_value():
    program = opcode_program(8)
    result = cosimulate(program, inputs=opcode_inputs(1), frames=1, name="corrupt_output",
                        corrupt={"output": 3}, log=lambda *_: None)
    assert not result.ok
    first = result.first
    assert (first["what"], first["name"]) == ("output", "res[3]")
    assert first["expected"] ^ first["actual"] == 1
    assert first["pc"] == 3 and first["text"].startswith("mac ")      # the GEMV wrote res[3]
    assert not result.frames[0]["outputs_match"] and result.frames[0]["schedule_match"]


def _fst_times(path: Path) -> tuple[int, int]:
    """The first and last time stamp of an FST file (ps)."""
    head = path.read_bytes()[:25]
    # FST header block: type 0, length 329, then start and end time, big-endian.
    assert head[0] == 0 and int.from_bytes(head[1:9], "big") == 329
    return int.from_bytes(head[9:17], "big"), int.from_bytes(head[17:25], "big")


@pytest.mark.parametrize("corrupt, window, name", [
    ({}, None, "wave_start-f0-start.fst"),
    ({"retire": 7}, None, "wave_window-f0-pc7.fst"),
    ({}, (30, 50), "wave_chosen-f0-c30.fst"),
])
def test_waves_write_an_fst_window(corrupt, window, name):
    """A mismatch gets a window around it; a passing run, the first cycles of frame 0; or the
    window asked for. Time stamps are frame time at the configured clock (250 MHz: 4 ns)."""
    program = opcode_program(1)
    program = dataclasses.replace(program, config=program.config.replace(clock_mhz=250.0))
    period = 2 * half_period_ps(program.config)
    assert period == 4000
    result = cosimulate(program, inputs=opcode_inputs(1), frames=1, name=name.split("-")[0], corrupt=corrupt,
                        waves=True, wave_from=window and window[0], wave_cycles=window[1] if window else 400,
                        log=lambda *_: None)
    try:
        assert result.ok == (not corrupt) and result.wave_file == TRACES / name
        assert result.wave_build is not None and result.wave_build.waves
        # `make sim` says "reused" only when neither simulator was built by this run.
        note = build_note(result)
        assert note == "build reused" if not (result.build.built or result.wave_build.built) else \
            note.startswith("build ") and note.endswith(" s")
        rebuilt = dataclasses.replace(result, wave_build=dataclasses.replace(result.wave_build, built=True, seconds=61.0))
        assert build_note(rebuilt).startswith("build ") and build_note(rebuilt) != "build reused"
        start, end = _fst_times(result.wave_file)
        if window:
            lo, hi = window[0], window[0] + window[1]
        elif corrupt:
            cycle = result.first["cycle"]
            lo, hi = max(0, cycle - WAVE_WINDOW), cycle + WAVE_WINDOW
        else:
            lo, hi = 0, 2 * WAVE_WINDOW
        hi = min(hi, result.frames[0]["cycles_model"])            # the frame may end first
        assert start == lo * period                               # frame cycle c at c x period
        assert hi * period <= end <= (hi + 2) * period, (start, end, lo, hi)
    finally:
        if result.wave_file:
            result.wave_file.unlink(missing_ok=True)
