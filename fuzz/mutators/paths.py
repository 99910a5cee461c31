"""Output paths: a directory where a file goes, a file where a directory goes, a path under a
regular file, and a companion output (`prog.lst`) that cannot be written. Every command with an
output must refuse before it starts, and leave nothing behind."""
from __future__ import annotations

from ..case import Case, Expect
from .model import MODEL


def _commands(seeds):
    """(command, argv with {out} for the output, inputs, is the output a directory)."""
    model = {MODEL: seeds.model.encode()}
    program = {"p.bin": seeds.program, "f.npy": seeds.frames}
    return [
        ("compiler", [MODEL, "-o", "{out}", "--no-timing"], model, False),
        ("compiler", [MODEL, "--save-weights", "{out}"], model, False),
        ("npu_model", ["asm", "s.s", "-o", "{out}"], {"s.s": seeds.asm.encode()}, False),
        ("npu_model", ["disasm", "p.bin", "-o", "{out}"], program, False),
        ("npu_model", ["run", "p.bin", "--input", "f.npy", "--output", "{out}"], program, False),
        ("npu_model", ["run", "p.bin", "--input", "f.npy", "--trace", "{out}"], program, False),
        ("npu_model", ["run", "p.bin", "--input", "f.npy", "--report", "{out}"], program, True),
        ("npu_model", ["report", "p.bin", "-o", "{out}", "--no-plots"], program, True),
        ("npu_model", ["enhance", "in.wav", "-o", "{out}", "--program", "p.bin", "--no-progress"],
         {"p.bin": seeds.program, "in.wav": seeds.wav}, False),
        ("npu_model", ["explore", MODEL, "-o", "{out}", "--lanes", "4", "--jobs", "1", "--no-progress"],
         model, True),
    ]


def cases(seeds, rng, n):
    commands = _commands(seeds)
    out = []
    for _ in range(n):
        command, argv, files, is_dir = commands[int(rng.integers(len(commands)))]
        files = dict(files)
        choice = int(rng.integers(4 if command == "compiler" and "-o" in argv else 3))
        if choice == 0 and not is_dir:
            files["taken/"] = None
            target, what = "taken", "the output is an existing directory"
        elif choice == 0:
            files["taken"] = b"a regular file"
            target, what = "taken", "the output directory is an existing file"
        elif choice == 1:
            files["plain"] = b"a regular file"
            target, what = "plain/out", "the output is under a regular file"
        elif choice == 2:
            files["plain"] = b"a regular file"
            target, what = "plain/deeper/out", "the output is two levels under a regular file"
        else:
            files["q.lst/"] = None
            target, what = "q.bin", "the listing next to the program is an existing directory"
        out.append(Case("paths", f"{argv[0] if command == 'npu_model' else 'compiler'}: {what}", command,
                        [a.replace("{out}", target) for a in argv], files, Expect.BAD))
    return out
