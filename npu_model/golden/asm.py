"""Assembler and disassembler: the text form of programs (syntax in docs/isa.md).

Every instruction line is generated from, and parsed into, the fields of `npu_model.arch.isa.FIELDS`:
the compact operand forms are only a spelling of those fields, and any field can also be written
raw as `name=value` (as `loop` spells all of its own), so every 256-bit word — illegal ones
included — has a text form that assembles back to the same bits.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from ..arch.config import MAX_DATA_BUFFER_BYTES, MAX_LUT_ENTRIES, ConfigError, NpuConfig
from ..arch.errors import NpuError, shown
from ..arch.isa import (DTYPES, FIELD_BY_NAME, FIELDS, INSTRUCTION_BITS, OPCODES, OPERANDS, RESERVED_BITS, Act, Buffer,
                        DType, Instruction, decode, decode_words, encode, format_of)
from ..arch.meta import ProgramMeta
from ..arch.program import Layer, Port, Program, Symbol
from ..arch.record import PARAM_RECORD, out_of_range

__all__ = ["AsmError", "assemble", "assemble_file", "format_fields", "format_instruction", "format_code",
           "parse_instruction", "disassemble"]

_OPERAND_RE = re.compile(r"^(?P<buf>[a-z]+)\.(?P<dtype>i8|i16)\[(?P<base>[+-]?(?:0x[0-9a-fA-F]+|\d+))"
                         r"(?P<terms>(?:[+-](?:0x[0-9a-fA-F]+|\d+)[rl])*)\]$")
_TERM_RE = re.compile(r"([+-])(0x[0-9a-fA-F]+|\d+)([rl])")
_P_RE = re.compile(r"^(?P<base>0x[0-9a-fA-F]+|\d+)(?P<vec>\+8l)?$")
_LUT_RE = re.compile(r"^(?P<kind>lut|rsqrt)\((?P<base>0x[0-9a-fA-F]+|\d+),(?P<log2>\d+)\)$")
_MNEMONICS = {info.mnemonic: op for op, info in OPCODES.items()}


class AsmError(NpuError):
    """A line of assembly is malformed: the message names the file and line."""


# Disassembly -----------------------------------------------------------------------------------
_FIELD_NAMES = [f.name for f in FIELDS]


def _plan(info):
    """What `format_fields` prints for an opcode: the always-shown fields, the compact operands
    (letter, shown strides) and the fields those forms cover; everything else prints raw."""
    uses = info.uses
    always = [a for a in ("n", "r", "port") if a in uses]
    shown = {"opcode", *always}
    operands = []
    for letter in OPERANDS:
        if f"{letter}_buf" in uses:
            parts = [f"{letter}_{p}" for p in ("buf", "dtype", "base", "rstride", "lstride")]
            shown |= {p for p in parts if p in uses}
            operands.append((letter, [(f"{letter}_{p}", suffix) for p, suffix in (("rstride", "r"), ("lstride", "l"))
                                      if f"{letter}_{p}" in uses]))
    return info.mnemonic, always, operands, "p_base" in uses, "act" in uses, frozenset(shown)


_PLANS = {int(op): _plan(info) for op, info in OPCODES.items()}


def format_fields(v: dict, reserved: int = 0) -> str:
    """One line of assembly from field values (name -> int, as `isa.decode_words` gives them);
    unknown opcodes and fields the compact forms do not cover print raw, so every word round-trips."""
    plan = _PLANS.get(v["opcode"])
    if plan is None:
        raw = [f"{n}={v[n]}" for n in _FIELD_NAMES if v[n]]
        return " ".join([".insn"] + raw + ([f"reserved={reserved:#x}"] if reserved else []))
    mnemonic, always, operands, has_p, has_act, shown = plan
    words = [mnemonic] + [f"{a}={v[a]}" for a in always]
    for letter, strides in operands:
        text = f"{letter}={Buffer(v[letter + '_buf']).label}.{DType(v[letter + '_dtype']).label}" \
               f"[{v[letter + '_base']:#x}"
        for name, suffix in strides:
            if v[name]:
                text += f"{v[name]:+d}{suffix}"
        words.append(text + "]")
    covered = set(shown)
    if has_p and v["p_vec"] in (0, 1):
        words.append(f"p={v['p_base']:#x}" + ("+8l" if v["p_vec"] else ""))
        covered |= {"p_base", "p_vec"}
    if has_act:
        covered.add("act")
        if v["act"] == Act.RELU:
            words.append("act=relu")
        elif v["act"] in (Act.LUT, Act.RSQRT):
            words.append(f"act={Act(v['act']).name.lower()}({v['lut_base']},{v['lut_log2']})")
            covered |= {"lut_base", "lut_log2"}
        elif v["act"] != Act.NONE:
            covered.discard("act")
    words += [f"{n}={v[n]}" for n in _FIELD_NAMES if n not in covered and v[n]]
    if reserved:
        words.append(f"reserved={reserved:#x}")
    return " ".join(words)


def format_instruction(ins, reserved: int = 0) -> str:
    """One line of assembly for a decoded `Instruction`."""
    return format_fields(ins.fields(), reserved)


def format_code(code: np.ndarray) -> list[str]:
    """One line of assembly per instruction word, decoded all at once (fast on 100 k+ words)."""
    fields = decode_words(code)
    columns = [fields[n].tolist() for n in _FIELD_NAMES]
    flagged = np.flatnonzero(fields["reserved"]).tolist()
    lines = [format_fields(dict(zip(_FIELD_NAMES, row))) for row in zip(*columns)]
    for i in flagged:                       # the reserved bits' value, not just the flag
        ins, reserved = decode(np.asarray(code[i], np.uint8).tobytes())
        lines[i] = format_instruction(ins, reserved)
    return lines


def disassemble(program: Program, *, full: bool = False) -> str:
    """The program as assembly. With full=True the data images are included too, so that
    assembling the text gives back the same program."""
    cfg = program.config
    lines = ["# NPU program: %d instructions, wbuf image %d bytes, sbuf image %d bytes, %d parameter records, "
             "%d LUT entries" % (program.n_instructions, len(program.wbuf), len(program.sbuf),
                                 len(program.pbuf) // PARAM_RECORD.itemsize, len(program.lut)),
             ".config " + " ".join(f"{k}={v}" for k, v in cfg.to_dict().items())]
    for kind, ports in ((".input", program.inputs), (".output", program.outputs)):
        for p in ports:
            lines.append(f"{kind} {p.name} {p.buf} {p.offset:#x} {p.dtype} {'x'.join(map(str, p.shape))}")
    for s in program.symbols:
        extra = f" {s.dtype or '-'} {'x'.join(map(str, s.shape)) or '-'} {s.layer or '-'}" if (
            s.dtype or s.shape or s.layer) else ""
        lines.append(f".symbol {s.name} {s.buf} {s.offset:#x} {s.nbytes}{extra}")
    if program.meta.to_dict():
        lines.append(".meta " + json.dumps(program.meta.to_dict(), sort_keys=True))
    if full:
        for buf, image in (("wbuf", program.wbuf), ("sbuf", program.sbuf)):
            data = np.frombuffer(image, np.int8)
            for at in range(0, len(data), 32):
                lines.append(f".data {buf} {at:#x} i8 " + " ".join(map(str, data[at:at + 32])))
        whole = len(program.pbuf) // PARAM_RECORD.itemsize * PARAM_RECORD.itemsize
        records = np.frombuffer(program.pbuf[:whole], PARAM_RECORD)
        for i, rec in enumerate(records):
            lines.append(f".param {i * PARAM_RECORD.itemsize:#x} {rec['bias']} {rec['mult']} {rec['shift']}")
        for at in range(0, len(program.lut), 16):
            lines.append(f".lut {at} " + " ".join(map(str, program.lut[at:at + 16])))
    starts = {}
    for layer in program.layers:
        starts.setdefault(layer.pc_start, []).append(layer)
    later = sorted(l.pc_start for l in program.layers)
    for pc, text in enumerate(format_code(program.code)):
        for layer in starts.get(pc, ()):
            following = min((s for s in later if s > layer.pc_start), default=program.n_instructions)
            lines.append(f".layer {layer.name} {layer.op} {layer.macs}"
                         + (f" {layer.pc_end - layer.pc_start}" if layer.pc_end != following else ""))
        lines.append(f"    {text:<100s} # pc {pc}")
    return "\n".join(lines) + "\n"


# Assembly --------------------------------------------------------------------------------------
def parse_instruction(text: str, *, where: str = "<line>"):
    """Parse one instruction line into (Instruction, reserved bits)."""
    tokens = text.split()
    if not tokens:
        raise AsmError(f"{where}: empty instruction")
    head, args = tokens[0].lower(), tokens[1:]
    fields, reserved = {}, 0
    if head == ".insn":
        pass
    elif head in _MNEMONICS:
        fields["opcode"] = int(_MNEMONICS[head])
    else:
        raise AsmError(f"{where}: unknown mnemonic {tokens[0]!r} (known: {', '.join(_MNEMONICS)}, .insn)")
    for token in args:
        key, sep, value = token.partition("=")
        if not sep or not value:
            raise AsmError(f"{where}: expected name=value, got {token!r}")
        key = key.lower()
        if key in OPERANDS:
            fields.update(_parse_operand(key, value, where))
        elif key == "p":
            m = _P_RE.match(value)
            if not m:
                raise AsmError(f"{where}: bad parameter operand {value!r} (expected BASE or BASE+8l)")
            fields["p_base"], fields["p_vec"] = _int(m["base"], where), int(bool(m["vec"]))
        elif key == "act":
            m = _LUT_RE.match(value)
            if value == "relu":
                fields["act"] = int(Act.RELU)
            elif value == "none":
                fields["act"] = int(Act.NONE)
            elif m:
                fields.update(act=int(Act[m["kind"].upper()]), lut_base=_int(m["base"], where),
                              lut_log2=int(m["log2"]))
            else:
                fields["act"] = _int(value, where)
        elif key == "reserved":
            reserved = _int(value, where)
        elif key in FIELD_BY_NAME:
            fields[key] = _int(value, where)
        else:
            raise AsmError(f"{where}: unknown field {key!r}")
    width = RESERVED_BITS[format_of(fields.get("opcode", 0))]
    if not 0 <= reserved < 1 << width:
        raise AsmError(f"{where}: reserved={reserved:#x} does not fit the format's {width} reserved bits")
    try:
        ins = Instruction(**fields)
        encode(ins)
    except (TypeError, ValueError) as exc:
        raise AsmError(f"{where}: {exc}") from None
    return ins, reserved


def _parse_operand(letter, text, where):
    m = _OPERAND_RE.match(text)
    if not m:
        raise AsmError(f"{where}: bad operand {letter}={text!r} (expected BUF.TYPE[BASE+Rr+Ll], e.g. abuf.i8[0x100+1r])")
    try:
        buf = Buffer[m["buf"].upper()]
    except KeyError:
        raise AsmError(f"{where}: unknown buffer {m['buf']!r} in operand {letter}") from None
    out = {f"{letter}_buf": int(buf), f"{letter}_dtype": int(DTYPES[m["dtype"]]),
           f"{letter}_base": _int(m["base"], where), f"{letter}_rstride": 0, f"{letter}_lstride": 0}
    for sign, number, kind in _TERM_RE.findall(m["terms"]):
        value = _int(number, where) * (-1 if sign == "-" else 1)
        out[f"{letter}_{'rstride' if kind == 'r' else 'lstride'}"] += value
    return out


def _int(text, where):
    try:
        value = int(text, 0)
    except ValueError:
        raise AsmError(f"{where}: {shown(text)} is not a number") from None
    if not -(1 << 62) <= value < 1 << 62:
        raise AsmError(f"{where}: {shown(text, 40)} is out of range (no field of the format is that wide)")
    return value


def assemble(text: str, *, source: str = "<asm>", config: NpuConfig | None = None) -> Program:
    """Assemble program text. `config` overrides the `.config` directive (for `--lanes` etc.)."""
    state = _AsmState(source)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{lineno}"
        if line.startswith(".") and not line.lower().startswith(".insn"):
            state.directive(line, where)
        else:
            ins, reserved = parse_instruction(line, where=where)
            word = encode(ins)
            if reserved:
                shift = INSTRUCTION_BITS - RESERVED_BITS[format_of(ins.opcode)]
                word = (int.from_bytes(word, "little") | reserved << shift).to_bytes(len(word), "little")
            state.code.append(word)
    return state.finish(config)


def assemble_file(path, *, config: NpuConfig | None = None) -> Program:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AsmError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    return assemble(text, source=str(path), config=config)


class _AsmState:
    def __init__(self, source):
        self.source = source
        self.code: list[bytes] = []
        self.config_fields: dict = {}
        self.images = {"wbuf": bytearray(), "sbuf": bytearray(), "pbuf": bytearray()}
        self.lut: dict[int, int] = {}
        self.inputs, self.outputs, self.symbols = [], [], []
        self.layer_marks: list = []           # (pc, name, op, macs, length or None)
        self.meta: dict = {}

    def directive(self, line, where):
        name, *args = line.split()
        handler = getattr(self, "_d_" + name[1:].lower(), None)
        if handler is None:
            raise AsmError(f"{where}: unknown directive {name!r}")
        try:
            handler(args, where, line)
        except (ValueError, IndexError, KeyError) as exc:
            raise AsmError(f"{where}: bad {name} directive ({exc})") from None

    def _d_config(self, args, where, line):
        kinds = {f.name: f.type for f in dataclasses.fields(NpuConfig)}
        for token in args:
            key, _, value = token.partition("=")
            kind = kinds.get(key, "int")
            self.config_fields[key] = value if kind in ("str", str) else float(value) if kind in ("float", float) \
                else _int(value, where)

    def _port(self, args, where):
        name, buf, offset, dtype, shape = args
        if dtype not in DTYPES:
            raise AsmError(f"{where}: port type must be i8 or i16, not {dtype!r}")
        return Port(name=name, buf=buf, offset=_int(offset, where), dtype=dtype,
                    shape=tuple(_int(x, where) for x in shape.split("x")))

    def _d_input(self, args, where, line):
        self.inputs.append(self._port(args, where))

    def _d_output(self, args, where, line):
        self.outputs.append(self._port(args, where))

    def _write(self, buf, offset, data, where):
        image = self.images[buf]
        if offset < 0:
            raise AsmError(f"{where}: negative offset {offset}")
        if offset + len(data) > MAX_DATA_BUFFER_BYTES:
            raise AsmError(f"{where}: data at {offset:#x} ends past the largest buffer the ISA addresses "
                           f"({MAX_DATA_BUFFER_BYTES:#x} bytes)")
        if len(image) < offset + len(data):
            image.extend(bytes(offset + len(data) - len(image)))
        image[offset:offset + len(data)] = data

    def _d_data(self, args, where, line):
        buf, offset, dtype, *values = args
        if buf not in ("wbuf", "sbuf"):
            raise AsmError(f"{where}: initial data goes into wbuf or sbuf, not {buf!r} (records: .param)")
        if dtype not in DTYPES:
            raise AsmError(f"{where}: .data type must be i8 or i16, not {dtype!r}")
        np_type = np.dtype("<i1" if dtype == "i8" else "<i2")
        numbers = [_int(v, where) for v in values]
        info = np.iinfo(np_type)
        bad = [v for v in numbers if not info.min <= v <= info.max]
        if bad:
            raise AsmError(f"{where}: value {bad[0]} does not fit {dtype}")
        self._write(buf, _int(offset, where), np.array(numbers, np_type).tobytes(), where)

    def _d_param(self, args, where, line):
        offset, bias, mult, shift = (_int(a, where) for a in args)
        values = {"bias": bias, "mult": mult, "shift": shift}
        bad = out_of_range(**values)
        if bad:
            name, lo, hi = bad
            raise AsmError(f"{where}: .param {name} {values[name]} outside {lo}..{hi}")
        if offset % PARAM_RECORD.itemsize:
            raise AsmError(f"{where}: .param offset {offset:#x} is not a multiple of {PARAM_RECORD.itemsize}")
        record = np.array([(bias, mult, shift, 0)], PARAM_RECORD).tobytes()
        self._write("pbuf", offset, record, where)

    def _d_lut(self, args, where, line):
        index, *values = (_int(a, where) for a in args)
        if index < 0 or index + len(values) > MAX_LUT_ENTRIES:
            raise AsmError(f"{where}: LUT entries {index}..{index + len(values) - 1} outside 0..{MAX_LUT_ENTRIES - 1}")
        for i, v in enumerate(values):
            if not DType.I16.min <= v <= DType.I16.max:
                raise AsmError(f"{where}: LUT value {v} does not fit int16")
            self.lut[index + i] = v

    def _d_symbol(self, args, where, line):
        name, buf, offset, nbytes, *rest = args
        dtype, shape, layer = (rest + ["-", "-", "-"])[:3]
        self.symbols.append(Symbol(name=name, buf=buf, offset=_int(offset, where), nbytes=_int(nbytes, where),
                                   dtype="" if dtype == "-" else dtype,
                                   shape=() if shape == "-" else tuple(int(x) for x in shape.split("x")),
                                   layer="" if layer == "-" else layer))

    def _d_layer(self, args, where, line):
        name, op, *rest = args
        macs = _int(rest[0], where) if rest else 0
        length = _int(rest[1], where) if len(rest) > 1 else None
        self.layer_marks.append((len(self.code), name, op, macs, length))

    def _d_meta(self, args, where, line):
        try:
            value = json.loads(line.split(None, 1)[1])
        except (ValueError, RecursionError) as exc:
            raise AsmError(f"{where}: .meta needs one line of JSON ({getattr(exc, 'msg', 'too deep or too long')})") \
                from None
        if not isinstance(value, dict):
            raise AsmError(f"{where}: .meta needs a JSON object, not {type(value).__name__}")
        self.meta.update(value)

    def finish(self, config):
        if config is None:
            try:
                config = NpuConfig.from_dict(self.config_fields, source=f"{self.source}: .config")
            except ConfigError as exc:
                raise AsmError(str(exc)) from None
        lut = np.zeros(max(self.lut, default=-1) + 1, np.int16)
        for i, v in self.lut.items():
            lut[i] = v
        layers = []
        for i, (pc, name, op, macs, length) in enumerate(self.layer_marks):
            end = pc + length if length is not None else (
                self.layer_marks[i + 1][0] if i + 1 < len(self.layer_marks) else len(self.code))
            layers.append(Layer(name=name, op=op, pc_start=pc, pc_end=end, macs=macs))
        code = np.frombuffer(b"".join(self.code), np.uint8)
        program = Program(config=config, code=code, wbuf=bytes(self.images["wbuf"]),
                          sbuf=bytes(self.images["sbuf"]), pbuf=bytes(self.images["pbuf"]), lut=lut,
                          inputs=self.inputs, outputs=self.outputs,
                          symbols=self.symbols, layers=layers,
                          meta=ProgramMeta.from_dict(self.meta, source=self.source))
        program.validate(self.source)
        return program
