"""Digests of the compiler's output for the reference models, to prove a change byte-identical.

A restructuring (moving code, merging duplicates) must not change a single byte of what the
compiler writes. Run this before the change with `--write` and after it with `--check`:

    python scripts/program_digests.py --write build/digests.txt     # before
    python scripts/program_digests.py --check build/digests.txt     # after: exit 1 on any difference

Every reference model is compiled at every reference lane count with the golden model's timing
(the summaries carry cycles), and the SHA-256 of prog.bin, the listing and both summaries is
recorded.

The digests are of this machine's build: quantisation calibrates in floating point, so compare
digests made with the same numpy, not across machines.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from compiler.cli import compile_to_files, output_paths
from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuError

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("models/trunet.yaml", "models/trunet_paper.yaml")
LANES = (1, 4, 8, 16)


def _config(lanes: int) -> NpuConfig:
    return NpuConfig().replace(lanes=lanes)


def _digests(task: tuple[str, int]) -> list[str]:
    model, lanes = task
    with tempfile.TemporaryDirectory(prefix="digests-") as tmp:
        out = Path(tmp) / "prog.bin"
        compile_to_files(ROOT / model, out, _config(lanes))
        return [f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {Path(model).stem}-{lanes}.{kind}"
                for kind, path in output_paths(out).items()]


def digests(jobs: int) -> list[str]:
    tasks = [(m, l) for m in MODELS for l in LANES]
    with ProcessPoolExecutor(jobs) as pool:
        return [line for lines in pool.map(_digests, tasks) for line in lines]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="FILE", help="write the digests to FILE")
    mode.add_argument("--check", metavar="FILE", help="compare with the digests in FILE; exit 1 on a difference")
    p.add_argument("--jobs", type=int, default=2, help="compiler processes (default 2)")
    args = p.parse_args(argv)
    try:
        lines = digests(args.jobs)
    except NpuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text("\n".join(lines) + "\n")
        print(f"{args.write}: {len(lines)} digests")
        return 0
    want = Path(args.check).read_text().split("\n")
    differ = (set(want) ^ set(lines)) - {""}
    names = sorted({line.split()[-1] for line in differ})
    for name in names:
        print(f"differs: {name}")
    print(f"{len(lines) - len(names)} of {len(lines)} outputs byte-identical to {args.check}")
    return 1 if names else 0


if __name__ == "__main__":
    sys.exit(main())
