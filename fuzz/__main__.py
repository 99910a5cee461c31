"""`python -m fuzz`: structure-aware fuzzing of every loader and command line (`make fuzz`).

Prints, per loader, how the cases ended; lists every crash, hang, silent acceptance and partial
output with the command that reproduces it; exits 1 if there was any.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # forked children must not share a BLAS pool

import argparse
import sys
import time
from collections import Counter

import numpy as np

from .case import Outcome
from .mutators import LOADERS
from .runner import run_cases
from .seeds import build_seeds

#: Share of the cases each loader gets.
WEIGHTS = {"container": 0.30, "model": 0.20, "npz": 0.10, "npy": 0.08, "wav": 0.07, "config": 0.10,
           "assembler": 0.08, "paths": 0.05, "options": 0.02}


def make_cases(total: int, seed: int, only=None):
    """The same cases for the same (total, seed, only)."""
    seeds = build_seeds()
    loaders = [l for l in LOADERS if not only or l in only]
    weight = sum(WEIGHTS[l] for l in loaders)
    cases = []
    for i, name in enumerate(loaders):
        n = round(total * WEIGHTS[name] / weight) if i < len(loaders) - 1 else total - len(cases)
        cases += LOADERS[name].cases(seeds, np.random.default_rng([seed, i]), n)
    return cases


def summary(results) -> str:
    order = list(Outcome)
    counts = {name: Counter() for name in LOADERS}
    for r in results:
        counts[r.case.loader][r.outcome] += 1
    width = max(len(o.value) for o in order)
    lines = [f"{'loader':<10} {'cases':>6} " + " ".join(f"{o.value:>{min(width, 17)}}" for o in order)]
    total = Counter()
    for name, c in counts.items():
        if c:
            total.update(c)
            lines.append(f"{name:<10} {sum(c.values()):>6} " + " ".join(f"{c[o]:>{min(width, 17)}}" for o in order))
    lines.append(f"{'all':<10} {sum(total.values()):>6} " + " ".join(f"{total[o]:>{min(width, 17)}}" for o in order))
    return "\n".join(lines)


def failures(results, limit: int = 60) -> list[str]:
    out = []
    for r in results:
        if r.outcome.bad:
            last = (r.stderr.strip().splitlines() or [""])[-1][:200]
            extra = f" left {', '.join(r.left)}" if r.left else ""
            out.append(f"{r.outcome.value}: [{r.case.loader}] {r.case.what}\n    {r.case.shell()}\n"
                       f"    exit {r.code}{extra}: {last}")
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=5000, help="number of cases (default 5000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (the same seed gives the same cases)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cases run at a time")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a case counts as a hang")
    p.add_argument("--only", metavar="LOADER,..", help=f"only these loaders ({', '.join(LOADERS)})")
    p.add_argument("--spawn", action="store_true", help="a fresh interpreter per case instead of a fork")
    p.add_argument("--keep", metavar="DIR", help="keep every case's folder (inputs, stdout, stderr) in DIR")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")
    args = p.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(LOADERS):
        p.error(f"unknown loader {sorted(only - set(LOADERS))[0]!r} (known: {', '.join(LOADERS)})")
    t0 = time.perf_counter()
    cases = make_cases(args.cases, args.seed, only)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=len(cases), desc="fuzz", unit="case", file=sys.stderr, disable=None)  # off if not a terminal
    results = run_cases(cases, jobs=args.jobs, timeout=args.timeout, spawn=args.spawn, keep=args.keep,
                        progress=(lambda r: bar.update(1)) if bar else None)
    if bar:
        bar.close()
    elapsed = time.perf_counter() - t0
    print(summary(results))
    slow = max(results, key=lambda r: r.seconds)
    print(f"{len(results)} cases in {elapsed:.0f} s ({1 if args.spawn else args.jobs} at a time, "
          f"{'spawned' if args.spawn else 'forked'}); slowest {slow.seconds:.1f} s: {slow.case.shell()}")
    bad = failures(results)
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
