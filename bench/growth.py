"""`make bench`: how simulation cost grows with the work, for the golden model and the RTL.

    python bench/growth.py [--lanes 1,2,4,8,16] [--models models/*.yaml] [--frames 1] [--no-rtl]

Two tables. Against lanes: TRU-Net compiled for every lane count (fewer lanes, more cycles for
the same MACs). Against model size: every bundled model at 8 lanes, each in the configuration it
names beside itself (`<model>.npu.json`). Each row gives the MACs and cycles of a frame, the golden
model's wall time per frame and its simulated cycles per second, the RTL's (Verilator under
cocotb, one build per configuration: the first run of a lane count builds it) wall time per frame
and cycles per second, and each one's wall time per million MACs, the cost of the work. Frames
are generated inputs; the golden model's time is the median of `--frames` frames (at least 10,
the inputs repeated) after one warm-up frame. Figures only: nothing is asserted, the exit status is 0 unless something fails to run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TRUNET = ROOT / "models" / "trunet.yaml"
#: Frames at least that the golden model's time is the median of: a frame takes milliseconds, and
#: one frame's time varies by tens of per cent on a shared machine.
GOLDEN_FRAMES = 10


def measure(model: Path, lanes: int, frames: int, rtl: bool) -> dict:
    """One row: the program's frame figures and both simulators' speed on it."""
    from compiler import companion_config
    from npu_model.golden.machine import Npu

    from cocotb_tests.cosim import cosimulate
    from cocotb_tests.workload import model_workload

    work = model_workload(model, lanes=lanes, frames=frames + 1, config=companion_config(model, lanes=lanes))
    program = work.program
    npu = Npu(program)
    port = program.inputs[0].name
    npu.run_frame({port: work.inputs[port][0]})         # the first frame binds the memory views
    times = []
    for f in range(max(frames, GOLDEN_FRAMES)):
        t = time.perf_counter()
        npu.run_frame({port: work.inputs[port][f % (frames + 1)]})
        times.append(time.perf_counter() - t)
    golden = statistics.median(times)
    cycles = npu.stats.cycles
    row = {"model": model.stem, "lanes": lanes, "macs": npu.stats.macs, "cycles": cycles, "golden_s": golden,
           "rtl_s": None}
    if rtl:
        result = cosimulate(program, inputs={port: work.inputs[port][:frames]}, frames=frames,
                            name=f"growth_{model.stem}_l{lanes}", log=lambda *_: None)
        if not result.ok:
            print(f"warning: {model.stem} at {lanes} lanes: the cosimulation did not match: {result.message}")
        row["rtl_s"] = statistics.median(f["seconds_rtl"] for f in result.frames)
    return row


def table(rows: list[dict]) -> str:
    head = (f"{'model':<14} {'lanes':>5} {'MACs/frame':>11} {'cycles/frame':>13} {'golden ms':>10} "
            f"{'M cyc/s':>8} {'ms/M MAC':>9} {'RTL s':>8} {'M cyc/s':>8} {'s/M MAC':>8} {'RTL/golden':>10}")
    out = [head, "-" * len(head)]
    for r in rows:
        mmac = r["macs"] / 1e6
        line = (f"{r['model']:<14} {r['lanes']:>5} {r['macs']:>11,} {r['cycles']:>13,} {r['golden_s'] * 1e3:>10.1f} "
                f"{r['cycles'] / r['golden_s'] / 1e6:>8.1f} {r['golden_s'] * 1e3 / mmac:>9.2f}")
        if r["rtl_s"] is not None:
            line += (f" {r['rtl_s']:>8.2f} {r['cycles'] / r['rtl_s'] / 1e6:>8.2f} {r['rtl_s'] / mmac:>8.3f}"
                     f" {r['rtl_s'] / r['golden_s']:>10.0f}")
        out.append(line)
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench/growth.py", description=__doc__.split("\n\n")[1].strip())
    p.add_argument("--lanes", default="1,2,4,8,16", help="lane counts of the TRU-Net table (default 1,2,4,8,16)")
    p.add_argument("--models", nargs="+", default=sorted(str(m) for m in (ROOT / "models").glob("*.yaml")),
                   help="models of the model-size table, at 8 lanes (default: every bundled model)")
    p.add_argument("--frames", type=int, default=1, help="frames per measurement (default 1)")
    p.add_argument("--no-rtl", action="store_true", help="the golden model only (no Verilator builds)")
    args = p.parse_args(argv)
    rtl = not args.no_rtl

    lanes_rows = [measure(TRUNET, int(n), args.frames, rtl) for n in args.lanes.split(",")]
    print("Against lanes (TRU-Net: the same MACs in more or fewer cycles):")
    print(table(lanes_rows))
    size_rows = sorted((measure(Path(m), 8, args.frames, rtl) for m in args.models), key=lambda r: r["macs"])
    print("\nAgainst model size (8 lanes, each model's own configuration):")
    print(table(size_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
