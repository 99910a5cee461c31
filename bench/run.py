"""`make bench`: speed of the golden model and of the RTL simulation on TRU-Net.

    python bench/run.py [--lanes 8] [--model models/trunet.yaml] [--frames 3]

Compiles the model (compiler package), then prints the golden model's wall time per frame
(alone, and per clip-frame with 8 clips in lockstep as `evaluate` runs them), the RTL's (Verilator through cocotb: a frame runs with Python asleep) wall time per frame and
simulated clock cycles per second, and the ratios, against the targets of the performance work
(golden model at most 4 ms per frame, twice real time, and at most 5 x the frame's matrix products
done alone in float64 BLAS; RTL at least 3 M cycles/s; compile 1.5 s).
Figures only: nothing is asserted, the exit status is 0 unless something fails to run.
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

GOAL_CYCLES_PER_S = 3e6
#: Streams of the lockstep figure (evaluate's default group of clips).
STREAMS = 8
#: Frames the golden model's figures are the median of (after one that binds its memory views):
#: a frame takes milliseconds, and one frame's time varies by tens of per cent on a shared machine.
GOLDEN_FRAMES = 20
GOAL_GOLDEN_S = 4e-3
GOAL_COMPILE_S = 1.5


GOAL_BLAS_RATIO = 5.0


def blas_bound_seconds(model: str, lanes: int, repeats: int = 5) -> float:
    """The arithmetic of one frame without the NPU's schedule: per layer, one float64 matrix product
    with the layer's MACs, (positions x K) @ (K x channels) with K = MACs / (positions x channels),
    on one BLAS thread (the golden model's own setting); the fastest of `repeats` runs."""
    import numpy as np

    from compiler import load_model, quantise_cached
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.golden.executor import blas_single_thread

    qnet = quantise_cached(load_model(model))
    _, _, summary = compile_network(qnet, NpuConfig(lanes=lanes), with_listing=False, schedule=False)
    outputs = {layer.name: layer.output for layer in qnet.layers}
    rng = np.random.default_rng(0)
    pairs = []
    for rec in summary.layers:
        if rec.macs and rec.name in outputs:
            channels, positions = qnet.tensors[outputs[rec.name]].shape
            k = max(1, round(rec.macs / (channels * positions)))
            pairs.append((rng.standard_normal((positions, k)), rng.standard_normal((k, channels))))
    best = float("inf")
    with blas_single_thread():
        for _ in range(repeats):
            t = time.perf_counter()
            for a, b in pairs:
                a @ b
            best = min(best, time.perf_counter() - t)
    return best


def compile_seconds(model: str, lanes: int, warm_runs: int = 3) -> tuple[float, float]:
    """Wall time of `python -m compiler MODEL -o PROG` in a fresh process: with the compiler's
    cache (compiler.cache) turned off, and the median of `warm_runs` runs with it filled."""
    import os
    import subprocess
    import tempfile

    # Python normally caches the compiled bytecode of every module it imports; an environment with
    # PYTHONDONTWRITEBYTECODE (common in containers) recompiles the compiler's sources in every
    # process. The cache is written once here, as a first import would.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "compiler", "npu_model"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)

    def run(cache):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "compiler", model, "-o", os.path.join(tmp, "p.bin"), "--lanes",
                        str(lanes), "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "NPU_KIT_CACHE": cache})
        return time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        cold = run("off")
        run(os.path.join(tmp, "cache"))                     # fills the cache
        warm = statistics.median(run(os.path.join(tmp, "cache")) for _ in range(warm_runs))
    return cold, warm


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[1].strip())
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--model", default=str(ROOT / "models" / "trunet.yaml"))
    p.add_argument("--frames", type=int, default=3)
    args = p.parse_args(argv)

    import numpy as np

    from npu_model.golden.machine import Npu

    from cocotb_tests.build import build, trace_depth_for
    from cocotb_tests.cosim import cosimulate
    from cocotb_tests.workload import model_workload

    work = model_workload(args.model, lanes=args.lanes, frames=args.frames)
    program = work.program
    cold, warm = compile_seconds(args.model, args.lanes)
    print(f"model {Path(args.model).name}, {args.lanes} lanes: {program.n_instructions:,} instruction words; "
          f"python -m compiler takes {cold:.2f} s, {warm:.2f} s with its cache filled (median of 3) "
          f"(goal {GOAL_COMPILE_S} s: {'met' if warm <= GOAL_COMPILE_S else 'not met'})")

    npu = Npu(program)
    port = program.inputs[0].name
    npu.run_frame({port: work.inputs[port][0]})         # the first frame binds the memory views
    golden = []
    for f in range(GOLDEN_FRAMES):
        t = time.perf_counter()
        npu.run_frame({port: work.inputs[port][f % args.frames]})
        golden.append(time.perf_counter() - t)
    cycles = npu.stats.cycles
    g = statistics.median(golden)
    print(f"golden model: {g * 1e3:9.1f} ms per frame (median of {GOLDEN_FRAMES}), "
          f"{cycles / g / 1e6:8.1f} M model cycles/s, {cycles:,} cycles per frame (goal {GOAL_GOLDEN_S * 1e3:.0f} ms: "
          f"{'met' if g <= GOAL_GOLDEN_S else 'not met'})")
    from npu_model.golden.machine import Streams

    streams = Streams(npu, STREAMS)
    batch = np.stack([work.inputs[port][f % args.frames] for f in range(STREAMS)])
    streams.run_frame({port: batch})
    lockstep = []
    for f in range(GOLDEN_FRAMES // 2):
        t = time.perf_counter()
        streams.run_frame({port: batch})
        lockstep.append((time.perf_counter() - t) / STREAMS)
    ls = statistics.median(lockstep)
    print(f"  {STREAMS} clips in lockstep (machine.Streams, as enhance_many and evaluate run them): "
          f"{ls * 1e3:.1f} ms per clip-frame, {g / ls:.1f} x a single stream")
    bound = blas_bound_seconds(args.model, args.lanes)
    print(f"  the same frame's matrix products alone (float64 BLAS, one thread): {bound * 1e3:.2f} ms; the golden model "
          f"takes {g / bound:.1f} x that (goal {GOAL_BLAS_RATIO:.0f} x: {'met' if g <= GOAL_BLAS_RATIO * bound else 'not met'})")

    info = build(program.config, trace_depth=trace_depth_for(program))
    print(f"Verilator build: {'reused' if not info.built else f'{info.seconds:.0f} s'} ({info.directory.name})")
    t = time.perf_counter()
    result = cosimulate(program, inputs=work.inputs, frames=args.frames, name=f"bench_l{args.lanes}")
    wall = time.perf_counter() - t
    if not result.ok:
        print(f"warning: the cosimulation did not match: {result.message}")
    rtl = [f["seconds_rtl"] for f in result.frames]
    clocks = [f["clock_cycles"] for f in result.frames]
    r = statistics.median(rtl)
    rate = statistics.median(c / s for c, s in zip(clocks, rtl))
    readback = statistics.median(f["seconds_readback"] for f in result.frames)
    print(f"RTL (Verilator): {r * 1e3:9.1f} ms per frame (median of {len(rtl)}), "
          f"{rate / 1e6:8.2f} M simulated cycles/s (goal {GOAL_CYCLES_PER_S / 1e6:.0f} M: "
          f"{'met' if rate >= GOAL_CYCLES_PER_S else 'not met'})")
    print(f"  per frame also: read-back and compare {readback * 1e3:.0f} ms; program load "
          f"{result.report['load_seconds']:.2f} s once; whole cosimulation {wall:.1f} s incl. simulator start")
    print(f"ratio RTL / golden model wall time per frame: {r / g:8.1f} x")
    print(f"frame time at {program.config.clock_mhz:g} MHz: {cycles / program.config.clock_mhz / 1e3:.2f} ms; "
          f"RTL simulation is {r / (cycles / program.config.clock_mhz / 1e6):.0f} x slower than real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
