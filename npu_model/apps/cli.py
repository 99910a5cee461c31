"""`python -m npu_model`: run, disassemble and assemble NPU programs; report, explore, enhance.

Every command prints a one-line error and exits non-zero on bad input (2; 3 for an NPU fault),
and writes its output files atomically, so a failed run never leaves a half-written file.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

from compiler import read_spec

from ..arch.arrays import MAX_INPUT_BYTES, load_arrays
from ..arch.config import MAX_CLOCK_MHZ, NpuConfig
from ..arch.errors import NpuError, NpuFault, cli_errors
from ..arch.files import OUTPUT_NOTE, check_output, write_bytes
from ..arch.isa import OPCODES, decode_words
from ..arch.meta import MAX_FFT, MAX_SAMPLE_RATE
from ..arch.program import Program
from ..golden.analysis import analyse
from ..golden.asm import assemble_file, disassemble
from ..golden.machine import Npu, check_input_values
from .arguments import MAX_FRAMES, bounded
from .enhance import add_arguments as enhance_arguments
from .enhance import main_enhance
from .evalset import __doc__ as evalset_doc
from .evalset import add_arguments as evalset_arguments
from .evalset import main_evalset
from .evaluate import __doc__ as evaluate_doc
from .evaluate import add_arguments as evaluate_arguments
from .evaluate import main_evaluate
from .explore import add_arguments as explore_arguments
from .explore import main_explore
from .report import run_report, summary_lines, write_report

__all__ = ["main"]


def _config_from_args(args):
    """A config from --config and/or --lanes, or None to keep the one in the file."""
    config = NpuConfig.load(args.config) if getattr(args, "config", None) else None
    if getattr(args, "lanes", None) is not None:
        config = (config or NpuConfig()).replace(lanes=args.lanes)
    return config


def _load_program(path, args=None) -> Program:
    return Program.load(path, expected_config=_config_from_args(args) if args is not None else None)


# run -------------------------------------------------------------------------------------------
def load_frames(path, program: Program, frames: int | None) -> tuple[dict, int]:
    """Input frames per port from a .npy (one input port) or .npz (arrays named by port)."""
    ports = program.inputs
    if path is None:
        if ports:
            raise NpuError(f"the program has input port(s) {', '.join(p.name for p in ports)}: give --input")
        if frames is None:
            raise NpuError("the program has no input ports: give --frames")
        return {}, frames
    path = Path(path)
    loaded = load_arrays(path, max_bytes=MAX_INPUT_BYTES)
    if isinstance(loaded, np.ndarray):
        if len(ports) != 1:
            raise NpuError(f"{path}: a .npy holds one input but the program has {len(ports)} input ports "
                           f"({', '.join(p.name for p in ports)}): use a .npz with one array per port")
        arrays = {ports[0].name: loaded}
    else:
        arrays = loaded
        missing = [p.name for p in ports if p.name not in arrays]
        if missing:
            raise NpuError(f"{path}: no array for input port {missing[0]!r} (has: {', '.join(arrays) or 'none'})")
    for port in ports:
        a = arrays[port.name]
        if a.ndim < 1 or len(a) == 0 or a[0].size != port.elements:
            raise NpuError(f"{path}: input {port.name!r} must have shape (frames, {port.elements}) or "
                           f"(frames, {', '.join(map(str, port.shape))}), not {a.shape}")
        try:
            check_input_values(port, a)
        except NpuError as exc:
            raise NpuError(f"{path}: {exc}") from None
    available = min(len(arrays[p.name]) for p in ports)
    frames = available if frames is None else frames
    if frames < 1:
        raise NpuError(f"--frames must be at least 1, not {frames}")
    if frames > available:
        raise NpuError(f"{path}: --frames {frames} but the input holds only {available} frame(s)")
    return {p.name: arrays[p.name] for p in ports}, frames


def _stats_rows(results) -> list[dict]:
    return [{"frame": i, **r.stats.to_dict()} for i, r in enumerate(results)]


def _print_frames(rows, config: NpuConfig, out=sys.stdout):
    cols = [("frame", "frame", "{}"), ("cycles", "cycles", "{}"), ("mac_cycles", "mac cyc", "{}"),
            ("stall_cycles", "stalls", "{}"), ("utilisation", "util %", "{:.1%}"), ("instructions", "instr", "{}")]
    buffers = [b for b in ("wbuf", "abuf", "sbuf") if f"{b}_hwm" in rows[0]]
    header = [h for _, h, _ in cols] + [f"{b} hwm/rd/wr B" for b in buffers] + [f"us @ {config.clock_mhz:g} MHz"]
    table = [header]
    for row in rows:
        cells = [fmt.format(row[k]).replace("%", "") for k, _, fmt in cols]
        cells += [f"{row[b + '_hwm']}/{row[b + '_read_bytes']}/{row[b + '_write_bytes']}" for b in buffers]
        cells.append(f"{row['cycles'] / config.clock_mhz:.2f}")
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)), file=out)


def _write_trace(path, schedule, program, frames):
    """One JSON line per executed instruction and frame: seq (its place in the frame), pc, op."""
    ops = program_mnemonics(program)
    lines = [f'"seq":{k},"pc":{pc},"op":"{ops[pc]}","issue":{t},"retire":{r}}}\n'
             for k, (pc, t, r) in enumerate(zip(schedule.pc.tolist(), schedule.issue.tolist(), schedule.retire.tolist()))]
    buf = io.StringIO()
    for f in range(frames):
        head = f'{{"frame":{f},'
        buf.writelines(head + line for line in lines)
    write_bytes(path, buf.getvalue().encode())


def program_mnemonics(program: Program) -> list[str]:
    opcodes = decode_words(program.code)["opcode"]
    return [OPCODES[int(o)].mnemonic if int(o) in OPCODES else f"op{int(o)}" for o in opcodes]


def cmd_run(args):
    for path in (args.trace, args.output):
        path and check_output(path)
    args.report and check_output(args.report, directory=True)
    program = _load_program(args.program, args)
    inputs, frames = load_frames(args.input, program, args.frames)
    npu = Npu(program)
    results = npu.run(inputs, frames)
    rows = _stats_rows(results)
    _print_frames(rows, program.config)
    if args.trace:
        _write_trace(args.trace, npu.schedule, program, frames)
        print(f"trace: {args.trace} ({frames * npu.stats.instructions} records)")
    if args.output:
        out = io.BytesIO()
        np.savez(out, **{p.name: np.stack([r.outputs[p.name] for r in results]) for p in program.outputs})
        write_bytes(args.output, out.getvalue())
        print(f"outputs: {args.output}")
    if args.report:
        report = Path(args.report)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        write_bytes(report / "frames.csv", text.getvalue().encode())
        summary = {"program": str(args.program), "config": program.config.to_dict(), "frames": rows}
        write_bytes(report / "frames.json", (json.dumps(summary, indent=2) + "\n").encode())
        print(f"report: {report}/frames.csv, {report}/frames.json")
    return 0


# disasm / asm ----------------------------------------------------------------------------------
def cmd_disasm(args):
    args.output and check_output(args.output)
    text = disassemble(_load_program(args.program), full=args.full)
    if args.output:
        write_bytes(args.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0


def cmd_asm(args):
    check_output(args.output)
    program = assemble_file(args.source, config=_config_from_args(args))
    try:
        analyse(program, source=args.source)          # the loader's rules: a program no NPU would load is refused
    except NpuFault as fault:                         # a faulting program is legal (fault tests need them)
        print(f"note: {args.source}: the program will fault: {fault}", file=sys.stderr)
    program.save(args.output)
    print(f"{args.output}: {program.n_instructions} instructions, {len(program.wbuf)} wbuf bytes, "
          f"{len(program.sbuf)} sbuf bytes, {len(program.lut)} LUT entries")
    return 0


# report / explore / enhance -----------------------------------------------------------------------
def cmd_report(args):
    check_output(args.output, directory=True)
    for fig in args.figure:
        if not Path(fig).is_file():
            raise NpuError(f"{fig}: --figure: no such file")
    inputs = None
    if args.input:
        program = _load_program(args.program, args)
        inputs, _ = load_frames(args.input, program, args.frames)
    fallback = None
    if args.model:

        inp = read_spec(args.model).input
        fallback = (inp.hop, inp.sample_rate, Path(args.model).name)
    rep = run_report(args.program, frames=args.frames, hop=args.hop, sample_rate=args.sample_rate,
                     clock_mhz=args.clock_mhz, expected_config=_config_from_args(args), inputs=inputs,
                     fallback=fallback)
    written = write_report(rep, args.output, plots=not args.no_plots, figures=args.figure)
    for line in summary_lines(rep.summary):
        print(line)
    print(f"report: {args.output}/ ({', '.join(p.name for p in written)})")
    return 0


def cmd_explore(args):
    return main_explore(args)


def cmd_enhance(args):
    return main_enhance(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m npu_model",
                                     description="Cycle-accurate golden model of the speech-enhancement NPU.",
                                     epilog=OUTPUT_NOTE)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a program frame by frame and print per-frame cycles and memory",
                         description="Run prog.bin frame by frame with exact integer semantics; print per frame "
                                     "cycles, MAC-busy and stall cycles, utilisation, instructions and each "
                                     "buffer's high-water mark and read/write bytes.")
    run.add_argument("program", help="program file (prog.bin)")
    run.add_argument("--input", metavar="FILE", help=".npy (one input port: frames x elements) or .npz "
                                                     "(one array per input port name)")
    run.add_argument("--frames", type=bounded(int, 1, MAX_FRAMES), metavar="N", help="frames to run (default: all in --input)")
    run.add_argument("--trace", metavar="FILE", help="write one JSON record per instruction and frame "
                                                     "(frame, pc, op, issue, retire)")
    run.add_argument("--report", metavar="DIR", help="write frames.csv and frames.json into DIR")
    run.add_argument("--output", metavar="FILE", help="write the output ports of every frame to a .npz")
    run.add_argument("--config", metavar="JSON", help="expect this configuration (mismatch is an error)")
    run.add_argument("--lanes", type=int, help="expect this many lanes (mismatch is an error)")
    run.set_defaults(func=cmd_run)

    dis = sub.add_parser("disasm", help="print a program as assembly",
                         description="Print prog.bin as assembly text (the syntax `asm` reads).")
    dis.add_argument("program")
    dis.add_argument("--full", action="store_true", help="include wbuf/sbuf/LUT data so the text reassembles "
                                                         "to the same program")
    dis.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    dis.set_defaults(func=cmd_disasm)

    asm = sub.add_parser("asm", help="assemble a text program into prog.bin",
                         description="Assemble the text syntax of docs/isa.md into a program file.")
    asm.add_argument("source", help="assembly file")
    asm.add_argument("-o", "--output", required=True, metavar="FILE", help="program file to write")
    asm.add_argument("--config", metavar="JSON", help="configuration (overrides the .config directive)")
    asm.add_argument("--lanes", type=int, help="lanes (overrides the .config directive)")
    asm.set_defaults(func=cmd_asm)

    rep = sub.add_parser("report", help="per-layer and per-frame cycle and memory report (CSV, JSON, Markdown, plots)",
                         description="Write DIR/layers.csv (one row per layer), DIR/summary.json, DIR/report.md and "
                                     "PNG plots: cycles, stalls, MAC utilisation, bytes live/read/written per buffer "
                                     "per layer; cycles per frame against the MACs/lanes bound, the real-time factor "
                                     "and the lowest real-time clock. Columns and units: docs/reports.md.")
    rep.add_argument("program", help="program file (prog.bin)")
    rep.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write the report into")
    rep.add_argument("--frames", type=bounded(int, 0, MAX_FRAMES), default=1, metavar="N",
                     help="frames to run on the golden model (zero inputs unless --input; default 1; timing "
                          "does not depend on data, 0 skips the run)")
    rep.add_argument("--input", metavar="FILE", help="input frames (.npy/.npz as for `run`)")
    rep.add_argument("--hop", type=bounded(int, 1, MAX_FFT), metavar="SAMPLES",
                     help="frame hop in samples (default: the program's META, else --model)")
    rep.add_argument("--sample-rate", type=bounded(int, 1, MAX_SAMPLE_RATE), metavar="HZ",
                     help="sample rate in Hz (default: the program's META, else --model)")
    rep.add_argument("--model", metavar="YAML", help="model file to take the hop and sample rate from when the "
                                                     "program's META does not give them")
    rep.add_argument("--clock-mhz", type=bounded(float, 0, MAX_CLOCK_MHZ, low_open=True), metavar="MHZ",
                     help="clock for times and the real-time factor (default: the program's configuration)")
    rep.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    rep.add_argument("--figure", action="append", default=[], metavar="PNG",
                     help="a figure made elsewhere to show in report.md beside the plots (e.g. enhance --figure's "
                          "spectrograms), linked by its path from DIR; repeatable")
    rep.add_argument("--config", metavar="JSON", help="expect this configuration (mismatch is an error)")
    rep.add_argument("--lanes", type=int, help="expect this many lanes (mismatch is an error)")
    rep.set_defaults(func=cmd_report)

    exp = sub.add_parser("explore", help="compile and simulate a model over lanes, buffer sizes and clocks",
                         description="Compile MODEL.yaml for every lane count and activation-buffer size, simulate "
                                     "each program, and write DIR/sweep.csv, plots and DIR/exploration.md: cycles "
                                     "per frame against the MACs/lanes bound, real-time factor against clock, "
                                     "memory per buffer, power against 45 nm area (real-time Pareto front), and the "
                                     "smallest-area and lowest-power real-time designs. A point whose model does not "
                                     "fit its buffers is a row marked 'does not fit'.")
    explore_arguments(exp)
    exp.set_defaults(func=cmd_explore)

    enh = sub.add_parser("enhance", help="enhance a 16-bit mono wav file with a compiled model on the golden model",
                         description="Read a mono 16-bit PCM wav at the model's sample rate, STFT, host features, "
                                     "int8 quantisation, the golden model frame by frame, dequantised masks, mask "
                                     "reconstruction on the host, inverse STFT; write the enhanced wav.")
    enhance_arguments(enh)
    enh.set_defaults(func=cmd_enhance)

    es = sub.add_parser("evalset", help="write a synthetic, reproducible speech-enhancement test set",
                        description=evalset_doc.split("\n\n")[0])
    evalset_arguments(es)
    es.set_defaults(func=main_evalset)

    ev = sub.add_parser("evaluate", help="PESQ, STOI and SI-SDR of the noisy input, the float model and the NPU",
                        description=evaluate_doc.split("\n\n")[0])
    evaluate_arguments(ev)
    ev.set_defaults(func=main_evaluate)
    for command in sub.choices.values():
        command.epilog = OUTPUT_NOTE
    return parser


@cli_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
