"""Run a cosimulation from Python (pytest, `make sim`, the benchmark).

    result = cosimulate(program, inputs={"x": frames}, frames=3, name="relu_gemv")
    assert result.ok, result.message

builds (or reuses) the Verilator model for the program's configuration, writes a run folder
(`build/sim/runs/<name>/`: program.bin, inputs.npz, job.json), runs the cocotb test
`cocotb_tests.tb` in it through `cocotb_tools.runner`, and returns the report the test wrote
(`report.json`). The simulation is a separate process; a failing cocotb test makes the runner
call `sys.exit`, which is caught here, so a mismatch comes back as a result, never as an exit.

With `waves=True` the run is followed by a second one on the waveform build, which dumps an
FST of a window of `WAVE_WINDOW` cycles either side of the first mismatch's cycle into
`traces/<name>-f<frame>-pc<pc>.fst`, or, when everything matched, of the first 2 * WAVE_WINDOW
cycles of frame 0 into `traces/<name>-f0-start.fst`; `wave_from=C` (`make sim WAVES_FROM=C`)
chooses the window's first cycle instead (`traces/<name>-f<frame>-c<C>.fst`), `wave_cycles` its
length. Time stamps are frame time at the configured clock: frame cycle c is at c x period.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from npu_model.arch.errors import NpuError
from npu_model.arch.program import Program

from .build import BUILD_ROOT, ROOT, BuildInfo, build, trace_depth_for, verilator_env
from .hdl import TOP

__all__ = ["cosimulate", "CosimResult", "CosimError", "WAVE_WINDOW", "TRACES"]

WAVE_WINDOW = 200
TRACES = ROOT / "traces"


class CosimError(NpuError):
    """The simulation did not produce a report (build or simulator failure)."""


@dataclass
class CosimResult:
    name: str
    workdir: Path
    report: dict
    build: BuildInfo
    wave_file: Path | None = None
    wave_build: BuildInfo | None = None     # the tracing build, when a waveform was asked for
    log: str = field(default="", repr=False)

    @property
    def frames(self) -> list:
        return self.report.get("frames", [])

    @property
    def mismatches(self) -> list:
        return [m for f in self.frames for m in f["mismatches"]]

    @property
    def ok(self) -> bool:
        return bool(self.frames) and not self.mismatches

    @property
    def first(self) -> dict | None:
        """The first mismatch (of the first frame that has one)."""
        ms = self.mismatches
        return ms[0] if ms else None

    @property
    def message(self) -> str:
        if self.ok:
            return f"{self.name}: {len(self.frames)} frame(s) bit- and cycle-exact"
        first = self.first
        text = first["message"] if first else "no frame completed"
        extra = f" (waveform: {self.wave_file})" if self.wave_file else ""
        return f"{self.name}: {text}{extra}"


def cosimulate(program: Program | str | Path, *, inputs: dict | None = None, frames: int = 1,
               name: str = "cosim", waves: bool = False, wave_from: int | None = None,
               wave_cycles: int = 2 * WAVE_WINDOW, corrupt: dict | None = None,
               workdir: Path | None = None, log=print) -> CosimResult:
    """Cosimulate `frames` frames of `program` (inputs: port name -> array with a leading
    frame axis). With `waves`, `wave_from` chooses the waveform's first frame cycle (of the first
    mismatch's frame, else frame 0) and `wave_cycles` its length. See the module docstring."""
    if not isinstance(program, Program):
        program = Program.load(program)
    info = build(program.config, trace_depth=trace_depth_for(program), log=log)
    # One folder per run name (and per parallel test worker, which may run the same name).
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    workdir = Path(workdir) if workdir else BUILD_ROOT / "runs" / (f"{name}-{worker}" if worker else name)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    program.save(workdir / "program.bin")
    job = {"program": "program.bin", "frames": int(frames), "corrupt": corrupt or {}}
    if inputs:
        np.savez(workdir / "inputs.npz", **{k: np.asarray(v) for k, v in inputs.items()})
        job["inputs"] = "inputs.npz"
    result = _run(info, workdir, job, name)
    if waves:
        result.wave_file = _waveform(program, result, job, name, log, wave_from, wave_cycles)
    return result


def _run(info: BuildInfo, workdir: Path, job: dict, name: str) -> CosimResult:
    from cocotb_tools.runner import get_runner

    (workdir / "job.json").write_text(json.dumps(job))
    (workdir / "report.json").unlink(missing_ok=True)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))       # the simulator's Python imports cocotb_tests from here
    log_file = workdir / "sim.log"
    with verilator_env():
        runner = get_runner("verilator")
        try:
            runner.test(test_module="cocotb_tests.tb", hdl_toplevel=TOP, hdl_toplevel_lang="verilog",
                        build_dir=info.directory,
                        test_dir=workdir, plusargs=[f"+cosim_dir={workdir}"],
                        extra_env={"COSIM_DIR": str(workdir)},
                        results_xml=str(workdir / "results.xml"), log_file=log_file)
        except SystemExit:
            pass                             # a failing cocotb test: the report says why
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    report_file = workdir / "report.json"
    if not report_file.exists():
        tail = "\n".join(log.splitlines()[-30:])
        raise CosimError(f"{name}: the simulation wrote no report (log {log_file}):\n{tail}")
    return CosimResult(name, workdir, json.loads(report_file.read_text()), info, log=log)


def _waveform(program: Program, result: CosimResult, job: dict, name: str, log, wave_from: int | None,
              wave_cycles: int) -> Path | None:
    """Re-run on the waveform build, dumping a window: from frame cycle `wave_from` when given,
    else around the first mismatch, or the first 2 * WAVE_WINDOW cycles of frame 0 when
    everything matched (a look at a passing run)."""
    first = result.first
    frame = first["frame"] if first else 0
    if wave_from is not None:
        lo, hi, label = wave_from, wave_from + wave_cycles, f"-c{wave_from}"
    elif first is None:
        lo, hi, label = 0, 2 * WAVE_WINDOW, "-start"
    else:
        cycle = first.get("cycle")
        if cycle is None:                    # e.g. a fault: look at the end of the frame
            cycle = next(f for f in result.frames if f["frame"] == frame)["cycles_model"]
        label = f"-pc{first['pc']}" if first.get("pc") is not None else ""
        lo, hi = max(0, cycle - WAVE_WINDOW), cycle + WAVE_WINDOW
    info = build(program.config, waves=True, trace_depth=trace_depth_for(program), log=log)
    result.wave_build = info
    workdir = result.workdir.parent / f"{result.workdir.name}-waves"
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(result.workdir, workdir, ignore=shutil.ignore_patterns("report.json", "*.log", "*.xml", "rows.hex"))
    job = dict(job, wave={"frame": frame, "from": lo, "to": hi})
    _run(info, workdir, job, name)
    src = workdir / "wave.fst"
    if not src.exists():
        log(f"cosim: no waveform was written (see {workdir / 'sim.log'})")
        return None
    TRACES.mkdir(exist_ok=True)
    dest = TRACES / f"{name}-f{frame}{label}.fst"
    shutil.move(src, dest)
    log(f"cosim: waveform of frame cycles {job['wave']['from']}..{job['wave']['to']} in {dest}")
    return dest
