"""`python -m compiler MODEL.yaml -o prog.bin [--lanes N] [--config npu.json]`: compile a model.

Without -o the model is only checked (and --summary / --fidelity / --save-weights report on it).
With -o the model is quantised and lowered for the NPU configuration, and four files are written
(each atomically: a failed run never leaves a half-written file behind):

  prog.bin           the program (docs/program-format.md) for the golden model and the RTL
  prog.lst           the listing: summary, per-layer table (pc range, instructions, MACs, cycles,
                     utilisation, bytes per buffer, lane mapping), memory map, disassembly
  prog.summary.txt   the summary (parameters, MACs, instructions and cycles per frame, bytes per
                     buffer, what runs on the host, the layer table), also printed
  prog.summary.json  the same figures as JSON

Any error (a missing or malformed model file, a bad configuration) is one line on stderr and
exit code 2; a model that does not fit the configuration's buffers is one line and exit code 4.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from npu_model.arch.config import LANE_CHOICES, NpuConfig
from npu_model.arch.errors import NpuError, cli_errors
from npu_model.arch.files import OUTPUT_NOTE, check_output, write_text
from npu_model.arch.meta import CODE_FORMS

import yaml

from . import load_model, measure_fidelity, quantise_cached, save_npz, summarise
from .errors import ModelError
from .onnx_import import import_onnx
from .quant.calibrate import audio_files, with_audio
from .quant.config import MAX_CALIBRATION_FRAMES, QuantConfig
from .lower.network import check_compilable, compile_network

__all__ = ["main", "output_paths", "add_calibration_arguments", "calibration_of"]


#: Most frames --fidelity runs through the float and integer models.
MAX_FIDELITY_FRAMES = 10_000


def _count(most: int):
    """An argparse type: an integer in [1, most]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
        if not 1 <= value <= most:
            raise argparse.ArgumentTypeError(f"must be in [1, {most}], not {text[:40]}")
        return value
    return parse


_frames = _count(MAX_FIDELITY_FRAMES)


def add_calibration_arguments(p: argparse.ArgumentParser, *, what: str = "") -> None:
    """`--calibration PATH` and `--calibration-frames N`, as the compiler, `evaluate` and `enhance`
    take them (`what`: a note on when they apply); read back with `calibration_of`."""
    p.add_argument("--calibration", metavar="PATH",
                   help=f"{what}measure the quantisation ranges on this wav file, or every .wav in this folder, "
                        "instead of generated tones plus noise (speech like the model will hear: docs/quality.md)")
    p.add_argument("--calibration-frames", type=_count(MAX_CALIBRATION_FRAMES), metavar="N",
                   help="with --calibration: how many of its STFT frames (default: the model's calibration_frames, "
                        "32 unless it sets it; every frame is kept in memory with the model's tensors)")


def calibration_of(args) -> tuple[tuple[str, ...], int | None]:
    """(wav files, frames) of the options `add_calibration_arguments` added; NpuError (one line)
    for frames without audio or a path with no wav files."""
    if args.calibration_frames and not args.calibration:
        raise NpuError("--calibration-frames applies with --calibration PATH")
    return (audio_files(args.calibration) if args.calibration else ()), args.calibration_frames


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compiler", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile a speech-enhancement network described in YAML (docs/model-format.md) into an "
                    "NPU program (docs/compiler.md), or check and report on the model.",
        epilog=__doc__.split("\n", 2)[2] + "\n" + OUTPUT_NOTE)
    p.add_argument("model", help="model YAML file (e.g. models/trunet.yaml), or an ONNX graph (.onnx) to import "
                                 "(docs/model-format.md, 'ONNX')")
    p.add_argument("--export", metavar="MODEL.YAML",
                   help="write the model as a model file and its weights beside it (MODEL.npz): an imported "
                        "ONNX graph, readable and editable")
    p.add_argument("--input", metavar="YAML", dest="input_section",
                   help="ONNX import: fields of the model's input section as a YAML mapping, e.g. "
                        "'{sample_rate: 16000, fft_size: 320, hop: 160, features: [log10_power]}'")
    p.add_argument("-o", "--output", metavar="PROG.BIN",
                   help="compile and write the program here, with PROG.lst, PROG.summary.txt and "
                        "PROG.summary.json next to it")
    p.add_argument("--lanes", type=int, choices=LANE_CHOICES,
                   help="MAC lanes to compile for (overrides the configuration's; default 8)")
    p.add_argument("--config", metavar="NPU.JSON",
                   help="NPU configuration (npu_model.arch.config.NpuConfig fields as JSON: lanes, buffer sizes, "
                        "imem_bytes, lut_entries, acc_bits, clock_mhz); fields left out keep their defaults")
    p.add_argument("--code", choices=CODE_FORMS, default="loops",
                   help="write the code with hardware loops (default) or every instruction unrolled "
                        "(more imem, one cycle less per loop instruction run)")
    p.add_argument("--no-timing", action="store_true",
                   help="do not compute cycles with the golden model's timing rules (faster; no cycles "
                        "or utilisation in the reports)")
    p.add_argument("--quiet", action="store_true", help="with -o: do not print the summary")
    p.add_argument("--summary", action="store_true", help="print the model's parameters and MACs per layer")
    p.add_argument("--fidelity", action="store_true",
                   help="quantise and print the integer-vs-float SNR of the outputs and of every NPU tensor "
                        "(docs/compiler.md, Fidelity)")
    p.add_argument("--frames", type=_frames, default=20, help=f"frames for --fidelity (default 20, at most "
                                                             f"{MAX_FIDELITY_FRAMES:,})")
    add_calibration_arguments(p)
    p.add_argument("--save-weights", metavar="NPZ", help="write the model's weights (e.g. the random ones)")
    p.add_argument("--weights", metavar="NPZ",
                   help="weights to use instead of the model file's `weights:` section (e.g. a checkpoint "
                        "written by `python -m training`, docs/training.md)")
    p.add_argument("--weights-anywhere", action="store_true",
                   help="let the model file read its weights .npz from outside its own folder (by default "
                        "`weights: {npz: ...}` must name a file in the model's folder or below)")
    return p


def output_paths(output) -> dict[str, Path]:
    """The files written next to prog.bin: listing, text and JSON summary."""
    out = Path(output)
    stem = out.with_suffix("") if out.suffix else out
    return {"program": out, "listing": stem.with_name(stem.name + ".lst"),
            "summary": stem.with_name(stem.name + ".summary.txt"),
            "json": stem.with_name(stem.name + ".summary.json")}


def _config(args):
    config = NpuConfig.load(args.config) if args.config else NpuConfig()
    if args.lanes is not None:
        config = config.replace(lanes=args.lanes)
    check_compilable(config)
    return config


def compile_to_files(model_path, output, config, *, timing: bool = True, model=None, code: str = "loops",
                     quant: QuantConfig | None = None):
    """Load, quantise (with `quant`, else the model's own settings) and compile `model_path`; write
    the program, listing and summaries. Returns the CompileSummary."""
    model = model or load_model(model_path)
    qnet = quantise_cached(model, quant)
    program, listing, summary = compile_network(qnet, config, model=model, schedule=timing, code=code)
    paths = output_paths(output)
    program.save(paths["program"])
    write_text(paths["listing"], listing)
    write_text(paths["summary"], summary.format() + "\n")
    write_text(paths["json"], summary.to_json())
    return summary


def _input_section(text):
    if text is None:
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict):
        raise ModelError("--input", "expected a YAML mapping of input fields, e.g. '{sample_rate: 16000}'")
    return value


def _export(source, model, path: Path, input_section):
    """The model file and its weights (`weights: {npz: <stem>.npz}`), both written atomically."""
    if Path(source).suffix.lower() == ".onnx":
        text, _ = import_onnx(source, input_section=input_section)
    else:
        text = Path(source).read_text()
    npz = path.with_suffix(".npz")
    doc = yaml.safe_load(text)
    doc["weights"] = {"npz": npz.name}
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    save_npz(model.weights, npz)
    write_text(path, header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120))
    print(f"wrote {path} and {npz}")


@cli_errors
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    for path in ([*output_paths(args.output).values()] if args.output else []) + \
            ([args.save_weights] if args.save_weights else []):
        check_output(path)
    if args.export:
        check_output(args.export)
        check_output(Path(args.export).with_suffix(".npz"))
    config = _config(args) if (args.output or args.config or args.lanes) else None
    model = load_model(args.model, weights_anywhere=args.weights_anywhere,
                       input_section=_input_section(args.input_section), weights=args.weights)
    if args.export:
        _export(args.model, model, Path(args.export), _input_section(args.input_section))
    if args.summary:
        print(summarise(model.spec).format())
    if args.save_weights:
        save_npz(model.weights, args.save_weights)
    quant = with_audio(QuantConfig.from_spec(model.spec), *calibration_of(args))
    if args.fidelity:
        qnet = quantise_cached(model, quant)
        print(measure_fidelity(model, qnet, frames=args.frames).format(with_tensors=True))
        print(f"LUT entries used: {qnet.lut_entries}")
    if args.output:
        summary = compile_to_files(args.model, args.output, config, timing=not args.no_timing, model=model,
                                   code=args.code, quant=quant)
        paths = output_paths(args.output)
        if not args.quiet:
            print(summary.format())
        print(f"wrote {paths['program']} ({summary.code_words:,} instruction words, {summary.instructions:,} executed "
              f"per frame), {paths['listing']}, {paths['summary']}, {paths['json']}")
    elif args.lanes or args.config:
        print("note: --lanes and --config apply when compiling (-o PROG.BIN)", file=sys.stderr)
    if not (args.summary or args.fidelity or args.save_weights or args.output or args.export):
        print(f"{args.model}: ok ({len(model.spec.layers)} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
