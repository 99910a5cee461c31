"""Assembler text: numbers out of every range, directives with parts missing or extra, names
that are not names, bytes that are not UTF-8."""
from __future__ import annotations

import re

from ..case import Case, Expect

_NUMBER = re.compile(r"(?<![\w.])-?(0x[0-9a-fA-F]+|\d+)(?![\w.])")
_HUGE = [("2**55", str(2 ** 55)), ("-2**40", str(-2 ** 40)), ("0x" + "f" * 40, "0x" + "f" * 40)]
_INJECT = [
    (".data wbuf 0x80000000000000 i8 1", "a .data offset of 2**55", Expect.BAD),
    (".data sbuf 0xffffff i8 1", "a .data offset past the buffer", Expect.BAD),
    (".input z abuf 0x200 i8 -4", "a negative .input shape", Expect.BAD),
    (".input z abuf 0x200 i8 100000000000", "a 10**11-element .input", Expect.BAD),
    (".input z abuf 0x200 i8 0", "a zero .input shape", Expect.BAD),
    (".output ../../x abuf 0x200 i8 4", "an output port named ../../x", Expect.BAD),
    (".symbol s/../t wbuf 0 4", "a symbol named s/../t", Expect.BAD),
    (".symbol s wbuf -4 4", "a symbol at a negative offset", Expect.BAD),
    (".symbol s wbuf 0 4 i8 2x-2", "a symbol with a negative shape", Expect.BAD),
    (".symbol s wbuf 0 4 i8 axb", "a symbol with a shape that is not numbers", Expect.BAD),
    (".lut 100000000 5", "a LUT entry at 10**8", Expect.BAD),
    (".lut -3 5", "a LUT entry at -3", Expect.BAD),
    (".layer big conv1d -5", "negative layer MACs", Expect.BAD),
    (".layer big conv1d 0 100000", "a layer longer than the code", Expect.BAD),
    (".meta [1, 2]", "a .meta that is not an object", Expect.BAD),
    (".meta {\"lanes\": \"eight\"}", "a .meta lanes that is a string", Expect.BAD),
    (".meta {\"input\": {\"fft_size\": 0}}", "a .meta input with fft_size 0", Expect.BAD),
    (".config lanes=8 lanes=3", "a .config lanes of 3", Expect.BAD),
    (".config sram=4", "an unknown .config field", Expect.BAD),
    (".param 0x000 1 2", "a .param with a part missing", Expect.BAD),
    (".param 0x000 1 2 70", "a .param shift of 70", Expect.BAD),
    (".bogus 1", "an unknown directive", Expect.BAD),
    ("mac n=8 r=16", "a mac with its operands left at their defaults", Expect.ANY),
    ("frobnicate n=1", "an unknown mnemonic", Expect.BAD),
    ("mac n=8 r=16 a=abuf.i8[0x0+1r] b=wbuf.i8[0x80+8r+1l] d=abuf.i8[0x100+1l] p=0x0+8l act=sparkle",
     "an unknown activation", Expect.BAD),
    (".insn " + " ".join(["1"] * 40), "a raw instruction with too many fields", Expect.BAD),
]


def _case(text: str, rng):
    lines = text.splitlines()
    r = rng.random()
    if r < 0.4:
        candidates = [i for i, l in enumerate(lines) if _NUMBER.search(l.split("#", 1)[0])]
        i = candidates[int(rng.integers(len(candidates)))]
        matches = list(_NUMBER.finditer(lines[i].split("#", 1)[0]))
        m = matches[int(rng.integers(len(matches)))]
        label, value = _HUGE[int(rng.integers(len(_HUGE)))]
        lines[i] = lines[i][:m.start()] + value + lines[i][m.end():]
        macs = lines[i].startswith(".layer") and label == "2**55"     # a MAC count may be that large
        return "\n".join(lines).encode(), f"line {i + 1}: a number replaced by {label}", \
            Expect.ANY if macs else Expect.BAD
    if r < 0.85:
        line, what, expect = _INJECT[int(rng.integers(len(_INJECT)))]
        at = next(i for i, l in enumerate(lines) if l.startswith(".config")) + 1
        if line.startswith(".config") or not line.startswith("."):
            at = len(lines) - 1 if not line.startswith(".") else at
        return "\n".join(lines[:at] + [line] + lines[at:]).encode(), what, expect
    if r < 0.9:
        return "\n".join(l for l in lines if l.strip() != "eof").encode(), "no eof", Expect.BAD
    if r < 0.95:
        return b"\xff\xfe" + text.encode(), "bytes that are not UTF-8", Expect.BAD
    return b"", "an empty file", Expect.BAD


def cases(seeds, rng, n):
    out = []
    for _ in range(n):
        data, what, expect = _case(seeds.asm, rng)
        out.append(Case("assembler", what, "npu_model", ["asm", "s.s", "-o", "out.bin"], {"s.s": data}, expect))
    return out
