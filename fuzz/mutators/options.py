"""Command-line options with values out of their range: counts below zero or absurdly large,
non-finite numbers, lane counts the NPU does not have. Each must be refused before any work."""
from __future__ import annotations

from ..case import Case, Expect
from .model import MODEL

_BAD_NUMBERS = ["-1", "nan", "inf", "-inf", "1e400", "x", "0x10", "99999999999999999999"]


def _commands(seeds):
    """(command, argv with {v} for the bad value, inputs)."""
    program = {"p.bin": seeds.program, "f.npy": seeds.frames}
    model = {MODEL: seeds.model.encode()}
    explore = ["explore", MODEL, "-o", "ex", "--jobs", "1", "--no-progress", "--frames", "1"]
    return [
        ("npu_model", ["run", "p.bin", "--input", "f.npy", "--frames", "{v}"], program),
        ("npu_model", ["run", "p.bin", "--input", "f.npy", "--lanes", "{v}"], program),
        ("npu_model", ["report", "p.bin", "-o", "rep", "--no-plots", "--frames", "{v}"], program),
        ("npu_model", ["report", "p.bin", "-o", "rep", "--no-plots", "--hop", "{v}"], program),
        ("npu_model", ["report", "p.bin", "-o", "rep", "--no-plots", "--clock-mhz", "{v}"], program),
        ("npu_model", ["report", "p.bin", "-o", "rep", "--no-plots", "--sample-rate", "{v}"], program),
        ("npu_model", ["enhance", "in.wav", "-o", "o.wav", "--program", "p.bin", "--check-frames", "{v}"],
         {"p.bin": seeds.program, "in.wav": seeds.wav}),
        ("npu_model", [*explore, "--lanes", "{v}"], model),
        ("npu_model", [*explore, "--act-kib", "{v}"], model),
        ("npu_model", [*explore, "--clock-mhz", "{v}"], model),
        ("npu_model", [*explore, "--jobs", "{v}"], model),
        ("npu_model", [*explore, "--lane-um2", "{v}"], model),
        ("compiler", [MODEL, "--frames", "{v}", "--fidelity"], model),
        ("compiler", [MODEL, "-o", "p.bin", "--lanes", "{v}"], model),
    ]


def cases(seeds, rng, n):
    commands = _commands(seeds)
    out = []
    for _ in range(n):
        command, argv, files = commands[int(rng.integers(len(commands)))]
        value = _BAD_NUMBERS[int(rng.integers(len(_BAD_NUMBERS)))]
        option = argv[argv.index("{v}") - 1]
        out.append(Case("options", f"{argv[0] if command == 'npu_model' else 'compiler'} {option} {value}",
                        command, [a.replace("{v}", value) for a in argv], dict(files), Expect.BAD))
    return out
