"""`python -m compiler MODEL.yaml ...`: check a model, print its summary and its fidelity.

Any error in the model file is one line on stderr and exit code 2 (`npu_model.errors.cli_errors`).
The lowering step adds `-o prog.bin` here.
"""
from __future__ import annotations

import argparse
import sys

from npu_model.errors import cli_errors

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compiler", description=__doc__.splitlines()[0])
    p.add_argument("model", help="model YAML file")
    p.add_argument("--summary", action="store_true", help="print parameters and MACs per layer")
    p.add_argument("--fidelity", action="store_true", help="quantise and print integer-vs-float SNR")
    p.add_argument("--frames", type=int, default=20, help="frames for --fidelity (default 20)")
    p.add_argument("--save-weights", metavar="NPZ", help="write the model's weights (e.g. the random ones)")
    return p


@cli_errors
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from . import load_model, measure_fidelity, quantise, save_npz, summarise
    model = load_model(args.model)
    if args.summary:
        print(summarise(model.spec).format())
    if args.save_weights:
        save_npz(model.weights, args.save_weights)
    if args.fidelity:
        qnet = quantise(model)
        print(measure_fidelity(model, qnet, frames=args.frames).format())
        print(f"LUT entries used: {qnet.lut_entries}")
    if not (args.summary or args.fidelity or args.save_weights):
        print(f"{args.model}: ok ({len(model.spec.layers)} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
