"""`python -m rtl generate`: write the NPU's Verilog and a Verilator waiver file next to it.

The configuration comes from `--config npu.json` (an `NpuConfig` as JSON) and/or individual
options (`--lanes 8`, ...), which override the file. Errors are one line on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuError, cli_errors

from .trace import MAX_TRACE_DEPTH
from .verilog import generate_verilog, waiver_text

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit code 2, like every other error of the tools.
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _parser():
    p = _Parser(prog="python -m rtl", description="NPU RTL tools (Amaranth).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    g = sub.add_parser("generate", help="write Verilog for one configuration",
                       description="Write the NPU's Verilog (and a Verilator waiver file, "
                                   "same name with .vlt) for one NpuConfig.")
    g.add_argument("-o", "--output", required=True, metavar="FILE.v", help="Verilog file to write")
    g.add_argument("--config", metavar="NPU.json", help="NpuConfig as JSON")
    for f in dataclasses.fields(NpuConfig):
        kind = float if f.type in ("float", float) else int
        g.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, metavar="N",
                       help=f"override {f.name} (default {f.default})")
    g.add_argument("--trace-depth", type=int, metavar="N", default=0,
                   help=f"instruction instances recorded by the debug trace, a verification aid "
                        f"(default 0: no trace memory; at most {MAX_TRACE_DEPTH})")
    g.add_argument("--name", default="npu", help="top-level module name (default npu)")
    return p


@cli_errors
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    config = NpuConfig.load(args.config) if args.config else NpuConfig()
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(NpuConfig)
                 if getattr(args, f.name) is not None}
    config = config.replace(**overrides)      # validates: ConfigError is one line, exit 2
    if not 0 <= args.trace_depth <= MAX_TRACE_DEPTH:
        raise NpuError(f"--trace-depth: must be between 0 and {MAX_TRACE_DEPTH}, not {args.trace_depth}")
    if not args.name.isidentifier():
        raise NpuError(f"--name: not a Verilog identifier: {args.name!r}")
    out = Path(args.output)
    if out.suffix != ".v":
        raise NpuError(f"{out}: the output must be a .v file")


    text = generate_verilog(config, trace_depth=args.trace_depth, name=args.name)
    waiver = out.with_suffix(".vlt")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        waiver.write_text(waiver_text(out.name))
    except OSError as exc:
        raise NpuError(f"{out}: cannot write ({exc.strerror})") from None
    print(f"wrote {out} and {waiver} (lanes={config.lanes})")
    return 0
