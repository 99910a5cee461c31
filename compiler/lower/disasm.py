"""A fast disassembler for listings: the text of `npu_model.asm.disassemble`, line for line.

`npu_model.asm.disassemble` decodes and formats one instruction at a time through `Instruction`
objects (about 80 us per instruction); a listing of a 230 k-instruction program (TRU-Net at one
lane) would take most of the compile time. Here the words are decoded at once
(`npu_model.isa.decode_words`) and each line is formatted with the same rules as
`npu_model.asm.format_instruction`; any word those rules do not cover (unknown opcode, reserved
bits) is formatted by npu_model itself. tests/compiler_e2e checks that both give the same text.
"""
from __future__ import annotations

import json

import numpy as np

from npu_model.asm import format_instruction
from npu_model.isa import FIELDS, OPCODES, OPERANDS, Act, decode, decode_words

__all__ = ["disassemble"]

_BUF = {0: "wbuf", 1: "abuf", 2: "sbuf", 3: "imem"}
_DT = {0: "i8", 1: "i16"}
_NAMES = [f.name for f in FIELDS]


def _plan(info):
    """Per opcode: what format_instruction prints, in order."""
    uses = info.uses
    shown = {"opcode"}
    always = [a for a in ("n", "r", "port") if a in uses]
    shown |= set(always)
    operands = []
    for letter in OPERANDS:
        if f"{letter}_buf" in uses:
            strides = [(f"{letter}_{p}", s) for p, s in (("rstride", "r"), ("lstride", "l")) if f"{letter}_{p}" in uses]
            operands.append((letter, strides))
            shown |= {f"{letter}_{p}" for p in ("buf", "dtype", "base", "rstride", "lstride")
                      if f"{letter}_{p}" in uses}
    has_p = "p_base" in uses
    if has_p:
        shown |= {"p_base", "p_vec"}
    has_act = "act" in uses
    if has_act:
        shown.add("act")
    return info.mnemonic, always, operands, has_p, has_act, shown


_PLANS = {int(op): _plan(info) for op, info in OPCODES.items()}


def _format(v: dict, plan) -> str:
    mnemonic, always, operands, has_p, has_act, shown = plan
    words = [mnemonic]
    for a in always:
        words.append(f"{a}={v[a]}")
    for letter, strides in operands:
        text = f"{letter}={_BUF[v[letter + '_buf']]}.{_DT[v[letter + '_dtype']]}[{v[letter + '_base']:#x}"
        for name, suffix in strides:
            if v[name]:
                text += f"{v[name]:+d}{suffix}"
        words.append(text + "]")
    if has_p:
        words.append(f"p={v['p_base']:#x}" + ("+8l" if v["p_vec"] == 1 else ""))
    extra_shown = ()
    if has_act:
        act = v["act"]
        if act == Act.RELU:
            words.append("act=relu")
        elif act == Act.LUT:
            words.append(f"act=lut({v['lut_base']},{v['lut_log2']})")
            extra_shown = ("lut_base", "lut_log2")
    hidden_act = has_act and v["act"] not in (Act.NONE, Act.RELU, Act.LUT)
    for name in _NAMES:
        if v[name] and (name not in shown or (name == "act" and hidden_act)) and name not in extra_shown:
            words.append(f"{name}={v[name]}")
    return " ".join(words)


def format_code(code: np.ndarray) -> list[str]:
    """One assembly line per instruction word (without the pc comment)."""
    fields = decode_words(code)
    cols = [fields[n].tolist() for n in _NAMES]
    reserved = fields["reserved"].tolist()
    lines = []
    for i, row in enumerate(zip(*cols)):
        v = dict(zip(_NAMES, row))
        plan = _PLANS.get(v["opcode"])
        if plan is None or reserved[i]:
            ins, res = decode(code[i].tobytes())
            lines.append(format_instruction(ins, res))
        else:
            lines.append(_format(v, plan))
    return lines


def disassemble(program) -> str:
    """The same text as `npu_model.asm.disassemble(program)` (full=False)."""
    cfg = program.config
    lines = ["# NPU program: %d instructions, wbuf image %d bytes, sbuf image %d bytes, %d LUT entries"
             % (program.n_instructions, len(program.wbuf), len(program.sbuf), len(program.lut)),
             ".config " + " ".join(f"{k}={v}" for k, v in cfg.to_dict().items())]
    for kind, ports in ((".input", program.inputs), (".output", program.outputs)):
        for p in ports:
            lines.append(f"{kind} {p.name} {p.buf} {p.offset:#x} {p.dtype} {'x'.join(map(str, p.shape))}")
    for s in program.symbols:
        extra = f" {s.dtype or '-'} {'x'.join(map(str, s.shape)) or '-'} {s.layer or '-'}" if (
            s.dtype or s.shape or s.layer) else ""
        lines.append(f".symbol {s.name} {s.buf} {s.offset:#x} {s.nbytes}{extra}")
    if program.meta:
        lines.append(".meta " + json.dumps(program.meta, sort_keys=True))
    starts = {}
    for layer in program.layers:
        starts.setdefault(layer.pc_start, []).append(layer)
    later = sorted(l.pc_start for l in program.layers)
    for pc, text in enumerate(format_code(program.code)):
        for layer in starts.get(pc, ()):
            nxt = min((s for s in later if s > layer.pc_start), default=program.n_instructions)
            lines.append(f".layer {layer.name} {layer.op} {layer.macs}"
                         + (f" {layer.pc_end - layer.pc_start}" if layer.pc_end != nxt else ""))
        lines.append(f"    {text:<100s} # pc {pc}")
    return "\n".join(lines) + "\n"
