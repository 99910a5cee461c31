"""`make sim`: cosimulate a compiled model on the RTL (Verilator) against the golden model.

    python -m cocotb_tests.sim --lanes 8 --model models/trunet.yaml --frames 3 [--config npu.json] \
        [--waves 1 [--waves-from CYCLE] [--waves-cycles N]]

Builds the NPU for the lanes (reused when up to date), compiles the model with the compiler
(`python -m compiler MODEL -o build/sim/<model>_l<N>.bin --lanes N [--config npu.json]`: a model
that needs other buffer sizes, such as models/cgcrn.yaml, names its configuration), makes the compiler's
quantised input frames, runs them under Verilator and prints per frame whether outputs, the
schedule and the counters match, the cycles and the memory footprint per buffer (RTL and
model). Exit status 0 when everything matched, 1 on a mismatch (the first diverging
instruction is printed), 2 on bad arguments. With --waves 1 an FST window is always written to
traces/: around the first mismatch, or the first cycles of frame 0 when everything matched, or
from frame cycle --waves-from on (of the mismatching frame, else frame 0) for --waves-cycles
cycles; its time stamps are frame time at the configured clock (cycle c at c x period).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from npu_model.arch.config import COUNTED_BUFFERS, LANE_CHOICES
from npu_model.arch.errors import NpuError, cli_errors
from npu_model.arch.program import Program

from .build import ROOT
from .cosim import WAVE_WINDOW, cosimulate
from .workload import quantised_frames

__all__ = ["main", "build_note", "frame_table"]


def _parser():
    p = argparse.ArgumentParser(prog="python -m cocotb_tests.sim",
                                description="Cosimulate a model's program on the RTL under Verilator "
                                            "against the golden model, frame by frame.")
    p.add_argument("--lanes", type=int, default=8, choices=LANE_CHOICES, help="MAC lanes (default 8)")
    p.add_argument("--model", default="models/trunet.yaml", help="model YAML (default models/trunet.yaml)")
    p.add_argument("--frames", type=int, default=3, help="consecutive frames, state carried (default 3)")
    p.add_argument("--waves", type=int, default=0, choices=(0, 1),
                   help="1: write an FST window into traces/ (around the first mismatch; frame 0's first "
                        f"{2 * WAVE_WINDOW} cycles when all match)")
    p.add_argument("--waves-from", type=int, metavar="CYCLE",
                   help="with --waves 1: the window starts at this frame cycle instead")
    p.add_argument("--waves-cycles", type=int, default=2 * WAVE_WINDOW, metavar="N",
                   help=f"with --waves 1: the window's length in cycles (default {2 * WAVE_WINDOW})")
    p.add_argument("--config", metavar="NPU.JSON",
                   help="NPU configuration to compile for (buffer sizes, ...; --lanes overrides its lanes)")
    p.add_argument("--program", help="use this compiled program instead of compiling the model")
    return p


@cli_errors
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.frames < 1:
        raise NpuError(f"--frames: must be at least 1, not {args.frames}")
    if args.waves_from is not None and not 0 <= args.waves_from < 1 << 32:
        raise NpuError(f"--waves-from: must be a frame cycle (0 .. 2**32-1), not {args.waves_from}")
    if not 1 <= args.waves_cycles < 1 << 32:
        raise NpuError(f"--waves-cycles: must be at least 1 (and below 2**32), not {args.waves_cycles}")
    model = Path(args.model)
    if not model.exists():
        raise NpuError(f"{model}: no such model file")

    if args.program:
        prog_path = Path(args.program)
    else:
        prog_path = ROOT / "build" / "sim" / f"{model.stem}_l{args.lanes}.bin"
        print(f"== compiling {model} for {args.lanes} lanes -> {prog_path.relative_to(ROOT)}")
        extra = ["--config", str(Path(args.config).resolve())] if args.config else []
        done = subprocess.run([sys.executable, "-m", "compiler", str(model), "-o", str(prog_path),
                               "--lanes", str(args.lanes), "--quiet", *extra], cwd=ROOT)
        if done.returncode:
            raise NpuError(f"{model}: the compiler failed (exit code {done.returncode})")

    program = Program.load(prog_path)
    print(f"== {args.frames} quantised input frame(s) from the compiler's host pipeline")
    inputs = quantised_frames(model, args.frames)
    print(f"== cosimulating {program.n_instructions} instructions, {args.frames} frame(s), "
          f"{program.config.lanes} lanes")
    t0 = time.perf_counter()
    result = cosimulate(program, inputs=inputs, frames=args.frames, name=f"{model.stem}_l{program.config.lanes}",
                        waves=bool(args.waves), wave_from=args.waves_from, wave_cycles=args.waves_cycles)
    wall = time.perf_counter() - t0
    for line in frame_table(result):
        print(line)
    print(f"wall {wall:.1f} s ({build_note(result)}, "
          f"run folder {result.workdir.relative_to(ROOT) if result.workdir.is_relative_to(ROOT) else result.workdir})")
    print(("PASS " if result.ok else "FAIL ") + result.message)
    return 0 if result.ok else 1


def build_note(result) -> str:
    """"build N s" when this run built a simulator (the tracing one included), else "build reused"."""
    built = [b.seconds for b in (result.build, result.wave_build) if b is not None and b.built]
    return f"build {sum(built):.0f} s" if built else "build reused"


def frame_table(result) -> list[str]:
    """Per frame: match flags, cycles and per-buffer footprint, RTL and model."""
    lines = [f"{'frame':>5}  {'outputs':8} {'schedule':8} {'counters':8} {'cycles RTL':>11} {'cycles model':>12}  "
             f"{'RTL cyc/s':>9}  footprint (hwm bytes) RTL / model"]
    for f in result.frames:
        cr, cm = f["counters_rtl"], f["counters_model"]
        fp = "  ".join(f"{b} {cr.get(b + '_hwm', 0):,}/{cm.get(b + '_hwm', 0):,}" for b in COUNTED_BUFFERS)
        rate = f["clock_cycles"] / f["seconds_rtl"] if f["seconds_rtl"] else 0
        flag = {True: "match", False: "MISMATCH"}
        if f["fault_model"] or f["fault_rtl"]:
            fp = f"fault RTL {f['fault_rtl']} / model {f['fault_model']}"
        lines.append(f"{f['frame']:>5}  {flag[f['outputs_match']]:8} {flag[f['schedule_match']]:8} "
                     f"{flag[f['counters_match']]:8} {f['cycles_rtl']:>11,} {f['cycles_model']:>12,}  "
                     f"{rate / 1e6:>7.2f} M  {fp}")
        for m in f["mismatches"][:5]:
            lines.append(f"       ! {m['message']}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
