"""`make soak`: long runs that a test suite is too short for (not part of `make test`).

1. RTL against the golden model: `--programs` random legal programs (the RTL tests' generator,
   `tests/rtl/rtl_progen.py`: small address ranges, so hazards, in-place updates and port
   conflicts are frequent), over every lane count in turn, each cosimulated under Verilator for
   two frames; a mismatch of any output byte, issue or retire cycle or counter is counted.
2. The golden model over `--frames` frames of TRU-Net: memory (resident set) and cycles per
   frame are sampled every 100 frames; both must stay flat.

Prints the counts, the lane counts and the time taken; exits 1 on any mismatch, on memory that
grows or on cycles per frame that change.
"""
# isort: skip_file  (the test helpers are imported after sys.path names their folder)
from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "rtl")]

from cocotb_tests.cosim import cosimulate  # noqa: E402
from npu_model.arch.config import LANE_CHOICES, NpuConfig  # noqa: E402
from rtl_golden import program_of  # noqa: E402
from rtl_harness import small_config  # noqa: E402
from rtl_progen import initial_images, random_program  # noqa: E402

#: Memory growth over the golden-model soak that counts as a leak (after the first 100 frames).
GROWTH_LIMIT = 0.05


def _one(seed: int, lanes: int) -> tuple[int, int, bool, str]:
    rng = random.Random(seed)
    small = small_config(lanes=lanes, wbuf_bytes=1024, abuf_bytes=256, sbuf_bytes=128)
    wbuf, abuf, sbuf, lut = initial_images(small, rng)
    code = random_program(rng, small, rng.randint(10, 60))
    program = program_of(NpuConfig(lanes=lanes), code, wbuf=wbuf, sbuf=sbuf, lut=lut)
    start = np.frombuffer(abuf.ljust(NpuConfig().abuf_bytes, b"\0"), np.int8)
    result = cosimulate(program, inputs={"abuf": np.stack([start, start[::-1]])}, frames=2,
                        name=f"soak/{lanes}-{seed}", log=lambda *_: None)
    return seed, lanes, result.ok, "" if result.ok else result.message


def _batch(items):
    return [_one(seed, lanes) for seed, lanes in items]


def soak_rtl(programs: int, jobs: int, seed: int) -> int:
    lanes = [LANE_CHOICES[i % len(LANE_CHOICES)] for i in range(programs)]
    print(f"rtl: {programs} random programs, lanes {', '.join(map(str, LANE_CHOICES))} in turn, 2 frames each")
    t0 = time.perf_counter()
    for n in sorted(set(lanes)):                  # build every lane count once, before the parallel runs
        _one(seed - 1, n)
    items = [(seed + i, l) for i, l in enumerate(lanes)]
    chunks = [items[i::jobs * 8] for i in range(jobs * 8)]
    results = []
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in pool.map(_batch, chunks):
            results += done
            print(f"\r  {len(results)}/{programs}", end="", flush=True)
    print()
    bad = [r for r in results if not r[2]]
    for s, l, _, message in bad[:10]:
        print(f"  mismatch: seed {s}, {l} lanes: {message}")
    per_lane = {l: sum(1 for r in results if r[1] == l) for l in LANE_CHOICES}
    print(f"rtl: {len(results)} programs ({', '.join(f'{n} at {l} lanes' for l, n in per_lane.items())}), "
          f"{len(bad)} mismatches, {time.perf_counter() - t0:.0f} s")
    return len(bad)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def soak_golden(frames: int) -> bool:
    from compiler import load_model, quantise_cached
    from compiler.lower.network import compile_network
    from npu_model.golden.machine import Npu
    model = load_model(ROOT / "models" / "trunet.yaml")
    program, _, _ = compile_network(quantise_cached(model), NpuConfig(lanes=8), with_listing=False, schedule=False)
    npu = Npu(program)
    port = program.inputs[0]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    samples = []
    for f in range(frames):
        x = rng.integers(-1000, 1000, port.shape).astype(port.numpy_dtype)
        cycles = npu.run_frame({port.name: x}).stats.cycles
        if f % 100 == 99 or f == frames - 1:
            samples.append((f + 1, _rss(), cycles))
    seconds = time.perf_counter() - t0
    print("golden: frame  resident MiB  cycles/frame")
    for f, rss, cycles in samples:
        print(f"  {f:>12}  {rss / 2**20:>12.1f}  {cycles:>12,}")
    base = samples[0][1]
    growth = (max(s[1] for s in samples) - base) / base
    constant = len({s[2] for s in samples}) == 1
    print(f"golden: {frames} TRU-Net frames in {seconds:.0f} s ({1e3 * seconds / frames:.1f} ms/frame); memory "
          f"growth after frame 100 {growth:+.1%} (limit {GROWTH_LIMIT:.0%}); cycles per frame "
          f"{'constant' if constant else 'CHANGED'}")
    return growth <= GROWTH_LIMIT and constant


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/soak.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--programs", type=int, default=1000, help="random programs on the RTL (default 1000; 0: skip)")
    p.add_argument("--frames", type=int, default=1000, help="TRU-Net frames on the golden model (default 1000; 0: skip)")
    p.add_argument("--jobs", type=int, default=2, help="simulations at a time")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    ok = True
    if args.frames:
        ok &= soak_golden(args.frames)
    if args.programs:
        ok &= soak_rtl(args.programs, args.jobs, args.seed) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
