"""The cocotb test that runs inside the simulator (started by `cocotb_tests.cosim`).

It reads `job.json` from the run directory (`COSIM_DIR`), loads the program into the NPU,
and for every frame: runs the golden model's frame (the expectation), writes the frame's
inputs, starts the NPU and waits for `done` (Python sleeps while the frame runs), reads back
what the NPU did and compares. Results go to `report.json` after every frame; the test fails
(after writing the report) when anything disagrees.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import First, RisingEdge

from npu_model.arch.program import Program

from .driver import HostDriver, Monitor
from .scoreboard import GoldenModel, compare


@cocotb.test()
async def cosim(dut):
    workdir = Path(os.environ["COSIM_DIR"])
    job = json.loads((workdir / "job.json").read_text())

    t0 = time.perf_counter()
    program = Program.load(workdir / job["program"])
    model = GoldenModel(program, corrupt=job.get("corrupt"))
    inputs = {}
    if job.get("inputs"):
        with np.load(workdir / job["inputs"]) as z:
            inputs = {k: z[k] for k in z.files}
    driver = HostDriver(dut, workdir, program.config)
    monitor = Monitor(driver, program)
    await driver.settle()
    await driver.load_program(program)
    report = {"program": job["program"], "lanes": program.config.lanes,
              "instructions": program.n_instructions, "instances": model.n_instances, "load_seconds": time.perf_counter() - t0,
              "model_fault": list(model.fault) if model.fault else None, "frames": []}
    wave = job.get("wave")
    first = None
    for f in range(job["frames"]):
        frame_inputs = {k: v[f] for k, v in inputs.items()}
        t1 = time.perf_counter()
        exp = model.run_frame(f, frame_inputs)
        t2 = time.perf_counter()
        await driver.write_inputs(program, frame_inputs)
        expected_cycles = model.expected_cycles()
        limit = 2 * expected_cycles + 1000
        if wave and f == wave["frame"]:
            dut.tb_wave_from.value = max(0, wave["from"])
            dut.tb_wave_to.value = wave["to"]
            # Start the frame and stop at the end of the window (or the end of the frame).
            driver.start(limit)
            await First(RisingEdge(dut.tb_done), RisingEdge(dut.tb_wave_done))
            report["wave"] = {"frame": f, "from": wave["from"], "to": wave["to"],
                              "file": str(next(workdir.glob("wave.*"), ""))}
            _write(workdir, report)
            return
        t3 = time.perf_counter()
        cycles, timeout = await driver.run_frame(limit)
        t4 = time.perf_counter()
        obs = await monitor.observe(f, cycles, timeout, model.n_instances)
        t5 = time.perf_counter()
        mismatches = compare(model, exp, obs)
        rec = {
            "frame": f,
            "fault_model": list(exp.fault) if exp.fault else None,
            "fault_rtl": list(obs.fault) if obs.fault else None,
            "outputs_match": all(np.array_equal(exp.outputs[k], obs.outputs[k]) for k in exp.outputs),
            "schedule_match": not any(m.what in ("issue", "retire") for m in mismatches),
            "counters_match": not any(m.what == "counter" for m in mismatches),
            "cycles_model": exp.counters.get("cycles", expected_cycles),
            "cycles_rtl": obs.counters["cycles"],
            "clock_cycles": cycles,
            "counters_model": exp.counters,
            "counters_rtl": obs.counters,
            "seconds_model": t2 - t1,
            "seconds_rtl": t4 - t3,
            "seconds_readback": t5 - t4,
            "mismatches": [m.to_dict() for m in mismatches],
        }
        report["frames"].append(rec)
        _write(workdir, report)
        if mismatches and first is None:
            first = mismatches[0]
        if timeout or exp.fault is not None:
            break
    assert first is None, first.describe()


def _write(workdir: Path, report: dict):
    tmp = workdir / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(workdir / "report.json")
