"""The instruction set, defined once.

`FIELDS` is the single table of the 256-bit instruction word in its two formats (`Format`): the
*operate* format of every compute and control opcode, and the *loop* format of `loop`. Both
start with the opcode, so the opcode says how to read the rest. `OPCODES` says what every opcode
does, which format it has and which fields it uses. Encoding, decoding (scalar and vectorised),
the assembler's syntax, `docs/isa.md`'s tables and the RTL decoder's `StructLayout`s are all
generated from these two tables. Nothing else in the project may spell out a field position or
an opcode number.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Opcode", "Buffer", "DType", "Act", "OpClass", "Format", "Field", "FIELDS", "FIELD_BY_NAME", "FORMAT_FIELDS",
    "OPCODES", "OpcodeInfo", "INSTRUCTION_BITS", "INSTRUCTION_BYTES", "RESERVED_BITS", "OPERANDS", "Instruction",
    "encode", "decode", "decode_words", "encode_words", "field_layout", "markdown_field_table", "markdown_opcode_table",
    "MAX_STEPS", "LUT_LOG2_MAX", "DTYPES", "DATA_BUFFERS", "LOOP_DEPTH", "LOOP_SLOTS", "ADDRESS_BITS",
    "MAX_LOOP_COUNT", "MAX_LOOP_BODY", "format_of", "OPERATE_FIELDS", "LOOP_FIELDS", "RSQRT_MANT_BITS",
    "RSQRT_EXP_BITS", "RSQRT_LOG2_MIN",
]

INSTRUCTION_BITS = 256
INSTRUCTION_BYTES = INSTRUCTION_BITS // 8


class Opcode(enum.IntEnum):
    NOP = 0
    MAC = 1
    ADD = 2
    SUB = 3
    MUL = 4
    MAX = 5
    MIN = 6
    MOV = 7
    SYNC_IN = 8
    SYNC_OUT = 9
    EOF = 10
    LOOP = 11
    DOT = 12
    TOPK = 13


class Buffer(enum.IntEnum):
    """Buffer select codes of operand fields. IMEM is encodable so that a write into it can fault."""
    WBUF = 0
    ABUF = 1
    SBUF = 2
    IMEM = 3

    @property
    def label(self) -> str:
        """The name programs, configurations, counters and reports use: 'wbuf'."""
        return self.name.lower()


#: The data buffers, in code order (imem holds instructions and is not data).
DATA_BUFFERS = (Buffer.WBUF, Buffer.ABUF, Buffer.SBUF)


class DType(enum.IntEnum):
    """An element type (the `*_dtype` field's codes): it owns its size, range and numpy type, and
    both its spellings, "i8" in programs and assembly and "int8" in model files and quantisation."""
    I8 = 0
    I16 = 1

    @property
    def size(self) -> int:
        return 1 << self.value

    @property
    def bits(self) -> int:
        return 8 * self.size

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(f"<i{self.size}")

    @property
    def label(self) -> str:
        """The program and assembly spelling: 'i8', 'i16'."""
        return f"i{self.bits}"

    @property
    def long_name(self) -> str:
        """The model-file and quantisation spelling: 'int8', 'int16'."""
        return f"int{self.bits}"

    @classmethod
    def parse(cls, text: str) -> "DType":
        """The type spelt 'i8'/'int8' or 'i16'/'int16'; ValueError otherwise."""
        for d in cls:
            if text in (d.label, d.long_name):
                return d
        raise ValueError(f"unknown element type {text!r} (one of {', '.join(d.label for d in cls)})")

    @classmethod
    def of_numpy(cls, dtype) -> "DType":
        """The type of a signed integer numpy dtype of 1 or 2 bytes; ValueError otherwise."""
        dt = np.dtype(dtype)
        for d in cls:
            if dt.kind == "i" and dt.itemsize == d.size:
                return d
        raise ValueError(f"numpy type {dt} is not an element type (int8, int16)")


#: element type by its program spelling ('i8', 'i16').
DTYPES = {d.label: d for d in DType}


class Act(enum.IntEnum):
    NONE = 0
    RELU = 1
    LUT = 2
    RSQRT = 3   # a block-float reciprocal square root for normalisations (docs/isa.md, "Arithmetic")


#: act=rsqrt writes an int16 block-float scale: bits 0..11 a mantissa M (a LUT entry's low bits),
#: bits 12..15 an exponent E; it stands for M * 2**-(RSQRT_MANT_BITS + E). A `mul` with `b_exp`
#: reads such a B: A times M, with E added to the record's shift.
RSQRT_MANT_BITS = 12
RSQRT_EXP_BITS = 4
#: act=rsqrt indexes its table by lut_log2 bits of the argument normalised to [1, 4): at least 2.
RSQRT_LOG2_MIN = 2


class OpClass(enum.Enum):
    MAC = "mac"          # N dot products of R terms, one write per lane at the end
    ELEMENTWISE = "ew"   # R vectors of N elements, one write per lane per step
    CONTROL = "ctl"      # no data access


class Format(enum.Enum):
    """How the bits after the opcode are read."""
    OPERATE = "operate"  # operands, parameter records, activation, accumulator and port fields
    LOOP = "loop"        # a hardware loop: count, body length, per-iteration address increments


@dataclass(frozen=True)
class Field:
    name: str
    bits: int
    signed: bool
    doc: str
    format: Format | None = None     # None: in every format (the opcode)

    @property
    def lo(self) -> int:
        return _OFFSETS[self.name]

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


#: Width of a byte address in a data buffer (the base fields); loop increments wrap modulo 2**ADDRESS_BITS.
ADDRESS_BITS = 22
#: Deepest nesting of hardware loops (a loop inside a loop's body is one level deeper).
LOOP_DEPTH = 2
#: The address fields a loop advances, in the order of its increment fields.
LOOP_SLOTS = ("a_base", "b_base", "d_base", "p_base")

_OPCODE = Field("opcode", 5, False, "operation (see the opcode table)")
_OPERATE = Format.OPERATE
_LOOP = Format.LOOP


def _operand_fields(op: str, role: str) -> list[Field]:
    return [
        Field(f"{op}_buf", 2, False, f"{role}: buffer (0 wbuf, 1 abuf, 2 sbuf, 3 imem)", _OPERATE),
        Field(f"{op}_dtype", 1, False, f"{role}: element type (0 int8, 1 int16)", _OPERATE),
        Field(f"{op}_base", ADDRESS_BITS, False, f"{role}: byte address of step 0, lane 0", _OPERATE),
        Field(f"{op}_rstride", 16, True, f"{role}: bytes added per step r", _OPERATE),
        Field(f"{op}_lstride", 16, True, f"{role}: bytes added per lane (0 = broadcast one element)", _OPERATE),
    ]


def _increment(slot: str, what: str) -> Field:
    return Field(f"{slot[0]}_inc", ADDRESS_BITS, True,
                 f"bytes added to {what} of every body instruction per iteration (modulo 2**{ADDRESS_BITS})", _LOOP)


#: The operate format, least significant bit first. Bits above the last field are reserved (0).
OPERATE_FIELDS: tuple[Field, ...] = (
    _OPCODE,
    Field("n", 5, False, "active lanes, 1..lanes; lanes n and above neither read nor write", _OPERATE),
    Field("r", 16, False, "steps: terms of each dot product (MAC) or vectors processed (element-wise)",
          _OPERATE),
    *_operand_fields("a", "operand A"),
    *_operand_fields("b", "operand B"),
    *_operand_fields("d", "destination D"),
    Field("p_base", ADDRESS_BITS, False, "byte address in pbuf of the 8-byte parameter record (bias, mult, shift)",
          _OPERATE),
    Field("p_vec", 1, False, "1: lane l uses the record at p_base + 8*l; 0: all lanes share one record", _OPERATE),
    Field("act", 2, False, "activation after requantisation (0 none, 1 relu, 2 lut, 3 rsqrt)", _OPERATE),
    Field("lut_base", 14, False, "first LUT entry of the table used by act=lut or act=rsqrt", _OPERATE),
    Field("lut_log2", 4, False, "act=lut: the table has 2**lut_log2 entries, indexed by a signed value; "
          "act=rsqrt: the same table size, indexed by the normalised argument", _OPERATE),
    Field("acc_in", 1, False, "MAC: 0 start from the bias, 1 continue the accumulators of the previous MAC",
          _OPERATE),
    Field("acc_out", 1, False, "MAC: 0 requantise and write, 1 hold the accumulators (no write)", _OPERATE),
    Field("port", 4, False, "SYNC_IN / SYNC_OUT: host I/O port number", _OPERATE),
    Field("b_exp", 1, False, "MUL: B is a block-float scale (act=rsqrt's output): A times its mantissa, "
          "its exponent added to the record's shift", _OPERATE),
)
#: The loop format, least significant bit first. Bits above the last field are reserved (0).
LOOP_FIELDS: tuple[Field, ...] = (
    _OPCODE,
    Field("count", 16, False, "iterations of the body, 1..65535", _LOOP),
    Field("body", 12, False, "instructions in the body: the ones right after the loop instruction, 1..4095",
          _LOOP),
    _increment("a_base", "A's base (a_base)"),
    _increment("b_base", "B's base (b_base)"),
    _increment("d_base", "D's base (d_base)"),
    _increment("p_base", "the record address (p_base)"),
    Field("idx", len(LOOP_SLOTS), False, "indexed loop: bit j set, the address field of increment j (a, b, d, p) "
          "advances by IDX[i] * inc in iteration i instead of i * inc (IDX: the top-k index registers)", _LOOP),
)
#: Every field of every format, the opcode once: the attributes of an `Instruction`.
FIELDS: tuple[Field, ...] = OPERATE_FIELDS + LOOP_FIELDS[1:]
FORMAT_FIELDS: dict[Format, tuple[Field, ...]] = {Format.OPERATE: OPERATE_FIELDS, Format.LOOP: LOOP_FIELDS}
FIELD_BY_NAME = {f.name: f for f in FIELDS}
_OFFSETS = {}
#: Reserved bits (above the format's last field, must be 0) of each format.
RESERVED_BITS: dict[Format, int] = {}
for _fmt, _fields in FORMAT_FIELDS.items():
    _pos = 0
    for _f in _fields:
        _OFFSETS[_f.name] = _pos
        _pos += _f.bits
    RESERVED_BITS[_fmt] = INSTRUCTION_BITS - _pos
    assert RESERVED_BITS[_fmt] >= 0
del _pos, _f, _fmt, _fields

#: The most steps one instruction can take (the r field's largest value); longer loops are split.
MAX_STEPS = FIELD_BY_NAME["r"].max
#: The most iterations of one loop, and the longest loop body.
MAX_LOOP_COUNT = FIELD_BY_NAME["count"].max
MAX_LOOP_BODY = FIELD_BY_NAME["body"].max
#: Largest `lut_log2` accepted by act=lut: a table of 2**LUT_LOG2_MAX entries spans every
#: `lut_base` value.
LUT_LOG2_MAX = FIELD_BY_NAME["lut_base"].bits

#: operand letter -> its role; an operand's fields are named '<letter>_<part>'.
OPERANDS = {"a": "read", "b": "read", "d": "write"}
_OPERAND_PARTS = ("buf", "dtype", "base", "rstride", "lstride")
_COMPUTE_COMMON = ("n", "r", "p_base", "p_vec", "act", "lut_base", "lut_log2")


def _operand(letter):
    return tuple(f"{letter}_{part}" for part in _OPERAND_PARTS)


@dataclass(frozen=True)
class OpcodeInfo:
    opcode: Opcode
    op_class: OpClass
    uses: frozenset          # fields the opcode reads; every other field must be 0
    summary: str
    format: Format = Format.OPERATE

    @property
    def mnemonic(self) -> str:
        return self.opcode.name.lower()

    @property
    def reads_b(self) -> bool:
        return "b_buf" in self.uses

    @property
    def writes_d(self) -> bool:
        """It writes a destination D in a buffer (topk writes the index registers instead)."""
        return "d_base" in self.uses


def _info(opcode, op_class, fields, summary, fmt=Format.OPERATE):
    info = OpcodeInfo(opcode, op_class, frozenset(("opcode",) + tuple(fields)), summary, fmt)
    assert all(FIELD_BY_NAME[f].format in (None, fmt) for f in info.uses), opcode
    return info


_BINARY = _COMPUTE_COMMON + _operand("a") + _operand("b") + _operand("d")
OPCODES: dict[Opcode, OpcodeInfo] = {
    info.opcode: info for info in (
        _info(Opcode.NOP, OpClass.CONTROL, (), "do nothing for one cycle"),
        _info(Opcode.MAC, OpClass.MAC,
              tuple(f for f in _BINARY if f != "d_rstride") + ("acc_in", "acc_out"),
              "lane l: acc = bias + sum over r of A[r,l] * B[r,l]; then requantise, activate, write D[l]"),
        _info(Opcode.ADD, OpClass.ELEMENTWISE, _BINARY, "D[r,l] = post(A[r,l] + B[r,l])"),
        _info(Opcode.SUB, OpClass.ELEMENTWISE, _BINARY, "D[r,l] = post(A[r,l] - B[r,l])"),
        _info(Opcode.MUL, OpClass.ELEMENTWISE, _BINARY + ("b_exp",),
              "D[r,l] = post(A[r,l] * B[r,l]); with b_exp, B is a block-float scale"),
        _info(Opcode.MAX, OpClass.ELEMENTWISE, _BINARY, "D[r,l] = post(max(A[r,l], B[r,l]))"),
        _info(Opcode.MIN, OpClass.ELEMENTWISE, _BINARY, "D[r,l] = post(min(A[r,l], B[r,l]))"),
        _info(Opcode.MOV, OpClass.ELEMENTWISE, _COMPUTE_COMMON + _operand("a") + _operand("d"),
              "D[r,l] = post(A[r,l]): strided copy, requantise, saturate, ReLU or table lookup"),
        _info(Opcode.SYNC_IN, OpClass.CONTROL, ("port",),
              "wait until every earlier instruction retired and the host's input for port is in place (fence)"),
        _info(Opcode.SYNC_OUT, OpClass.CONTROL, ("port",),
              "wait until every earlier instruction retired, then signal output port ready (fence)"),
        _info(Opcode.EOF, OpClass.CONTROL, (),
              "end of frame: wait until every earlier instruction retired, then stop (fence)"),
        _info(Opcode.LOOP, OpClass.CONTROL, ("count", "body", "idx") + tuple(f"{s[0]}_inc" for s in LOOP_SLOTS),
              "run the next `body` instructions `count` times, advancing their addresses by the increments "
              "(by IDX[i] times an increment where `idx` says)", Format.LOOP),
        _info(Opcode.DOT, OpClass.MAC,
              ("n", "r", "p_base", "act", "lut_base", "lut_log2", "d_buf", "d_dtype", "d_base", "acc_in", "acc_out")
              + _operand("a") + _operand("b"),
              "lanes share one dot product: acc[l] = start[l] + sum over r of A[r,l] * B[r,l]; "
              "D = post(sum over the n lanes of acc[l])"),
        _info(Opcode.TOPK, OpClass.ELEMENTWISE, ("n", "r", "p_base", "d_dtype") + _operand("a"),
              "IDX = the steps s of the values v[s] = sat(post(A[s,0])) by value, largest first (ties: smaller s)"),
    )
}


def format_of(opcode: int) -> Format:
    """The format of an opcode's word (an unknown opcode reads as the operate format)."""
    info = OPCODES.get(opcode) if 0 <= opcode <= max(OPCODES) else None
    return info.format if info is not None else Format.OPERATE


# The instruction value object is generated from the field table.
Instruction = dataclasses.make_dataclass(
    "Instruction",
    [(f.name, int, dataclasses.field(default=0)) for f in FIELDS],
    frozen=True,
    namespace={
        "__doc__": "One decoded instruction: one attribute per entry of `FIELDS` (raw integers).",
        "info": property(lambda self: OPCODES.get(self.opcode)),
        "replace": lambda self, **kw: dataclasses.replace(self, **kw),
        "fields": lambda self: {f.name: getattr(self, f.name) for f in FIELDS},
    },
)
Instruction.__module__ = __name__


def encode(ins) -> bytes:
    """Pack an `Instruction` into its 32-byte little-endian word in its opcode's format; values out
    of a field's range, or a non-zero field of the other format, raise."""
    fmt = format_of(int(ins.opcode))
    word = 0
    for f in FIELDS:
        value = int(getattr(ins, f.name))
        if f.format not in (None, fmt):
            if value:
                raise ValueError(f"field {f.name} is not part of the {fmt.value} format of opcode {ins.opcode}")
            continue
        if not f.min <= value <= f.max:
            raise ValueError(f"field {f.name}: {value} does not fit {f.bits} "
                             f"{'signed' if f.signed else 'unsigned'} bits ({f.min}..{f.max})")
        word |= (value & ((1 << f.bits) - 1)) << f.lo
    return word.to_bytes(INSTRUCTION_BYTES, "little")


def decode(word: bytes):
    """Unpack one 32-byte word in its opcode's format. Returns (Instruction, reserved) where
    reserved is the value of the bits above the format's last field (must be 0 in a legal
    instruction); the other format's fields are 0."""
    value = int.from_bytes(word, "little")
    fmt = format_of(value & ((1 << _OPCODE.bits) - 1))
    kwargs = {}
    for f in FORMAT_FIELDS[fmt]:
        raw = (value >> f.lo) & ((1 << f.bits) - 1)
        if f.signed and raw >> (f.bits - 1):
            raw -= 1 << f.bits
        kwargs[f.name] = raw
    return Instruction(**kwargs), value >> (INSTRUCTION_BITS - RESERVED_BITS[fmt])


def decode_words(words: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised decode of an (M, 32) uint8 array: one int64 array per field of every format (0
    where the word has the other format), plus 'reserved' (1 where any reserved bit of the word's
    format is set). Fields are cut out of the four little-endian 64-bit limbs of each word, so a
    100 k-instruction program decodes in milliseconds."""
    words = np.ascontiguousarray(words, dtype=np.uint8).reshape(-1, INSTRUCTION_BYTES)
    limbs = words.view("<u8")

    def bits(lo, width):
        q, o = divmod(lo, 64)
        v = limbs[:, q] >> np.uint64(o)
        if o + width > 64:
            v = v | (limbs[:, q + 1] << np.uint64(64 - o))
        if width < 64:
            v = v & np.uint64((1 << width) - 1)
        return v

    opcode = bits(0, _OPCODE.bits).astype(np.int64)
    is_loop = opcode == Opcode.LOOP
    out = {}
    reserved = np.zeros(len(words), bool)
    for fmt, fields in FORMAT_FIELDS.items():
        mine = is_loop if fmt is Format.LOOP else ~is_loop
        for f in fields:
            if f.format is None:
                out[f.name] = opcode
                continue
            raw = bits(f.lo, f.bits).astype(np.int64)
            if f.signed:
                raw = np.where(raw >= 1 << (f.bits - 1), raw - (1 << f.bits), raw)
            out[f.name] = np.where(mine, raw, 0)
        lo = INSTRUCTION_BITS - RESERVED_BITS[fmt]
        while lo < INSTRUCTION_BITS:
            width = min(64 - lo % 64, INSTRUCTION_BITS - lo)
            reserved |= mine & (bits(lo, width) != 0)
            lo += width
    out["reserved"] = reserved.astype(np.int64)
    return out


def encode_words(fields: dict) -> np.ndarray:
    """Vectorised `encode`: (M, 32) uint8 words from one int array per field (missing fields 0),
    each row packed in its opcode's format. Values must fit their fields (not checked here: the
    arrays come from decoded or range-checked instructions)."""
    opcode = np.asarray(fields["opcode"], np.int64)
    limbs = np.zeros((len(opcode), INSTRUCTION_BYTES // 8), np.uint64)
    is_loop = opcode == Opcode.LOOP
    for f in FIELDS:
        values = fields.get(f.name)
        if values is None:
            continue
        raw = np.asarray(values, np.int64) & ((1 << f.bits) - 1)
        if f.format is Format.LOOP:
            raw = np.where(is_loop, raw, 0)
        elif f.format is Format.OPERATE:
            raw = np.where(is_loop, 0, raw)
        raw = raw.astype(np.uint64)
        q, o = divmod(f.lo, 64)
        limbs[:, q] |= raw << np.uint64(o)
        if o + f.bits > 64:
            limbs[:, q + 1] |= raw >> np.uint64(64 - o)
    return limbs.view(np.uint8).reshape(-1, INSTRUCTION_BYTES)


def field_layout(fmt: Format = Format.OPERATE) -> list[tuple[str, int, int, bool]]:
    """(name, lsb, bits, signed) for every field of a format, LSB first: what the RTL decoder is
    built from."""
    return [(f.name, f.lo, f.bits, f.signed) for f in FORMAT_FIELDS[fmt]]


def markdown_field_table(fmt: Format = Format.OPERATE) -> str:
    rows = ["| field | bits | lsb | signed | meaning |", "|---|---|---|---|---|"]
    for f in FORMAT_FIELDS[fmt]:
        rows.append(f"| `{f.name}` | {f.bits} | {f.lo} | {'yes' if f.signed else 'no'} | {f.doc} |")
    rows.append(f"| (reserved) | {RESERVED_BITS[fmt]} | {INSTRUCTION_BITS - RESERVED_BITS[fmt]} | no | must be 0 |")
    return "\n".join(rows)


def _used_fields_text(info: OpcodeInfo) -> str:
    """Fields an opcode uses, an operand's five fields shown as its letter (A, B, D)."""
    words, done = [], set()
    for f in FIELDS:
        name = f.name
        if name == "opcode" or name not in info.uses or name in done:
            continue
        letter = name.split("_")[0]
        group = _operand(letter) if letter in OPERANDS else ()
        if group and all(g in info.uses for g in group):
            words.append(letter.upper())
            done.update(group)
        else:
            words.append(f"`{name}`")
    return ", ".join(words) or "-"


def markdown_opcode_table() -> str:
    rows = ["| opcode | mnemonic | class | fields used | meaning |", "|---|---|---|---|---|"]
    for op, info in OPCODES.items():
        rows.append(f"| {int(op)} | `{info.mnemonic}` | {info.op_class.value} | "
                    f"{_used_fields_text(info)} | {info.summary} |")
    return "\n".join(rows)
