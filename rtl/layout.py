"""Layouts, widths and small helpers shared by the RTL blocks: the instruction word, the
parameter record, the host port's targets.

The instruction word's `StructLayout` is built from `npu_model.arch.isa.field_layout()` so that the
hardware decoder can never disagree with the assembler, the golden model or docs/isa.md about
where a field lives. Nothing in this package spells out a field position or an opcode number.
"""
from __future__ import annotations

import enum

from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.lib import enum as aenum
from amaranth.lib import wiring
from amaranth.utils import ceil_log2

from npu_model.arch.config import BUFFER_NAMES, NpuConfig
from npu_model.arch.faults import FAULT_BITS, Fault
from npu_model.arch.isa import (DATA_BUFFERS, FIELD_BY_NAME, INSTRUCTION_BITS, OPCODES, RESERVED_BITS, Act, Buffer,
                                DType, Format, OpClass, Opcode, field_layout)
from npu_model.arch.memory import LUT_WORD_BITS
from npu_model.arch.record import RECORD_BYTES, RECORD_FIELDS

__all__ = [
    "ADDR_BITS", "ELEM_BITS", "COUNTER_BITS", "CYCLE_BITS", "SEQ_BITS", "HOST_DATA_BITS", "HOST_WORD_BYTES",
    "LUT_WORD_BITS", "host_row_bytes", "target_bytes", "record_layout", "HostTarget", "instruction_layout", "OpcodeShape", "ActShape", "BufferShape",
    "DTypeShape", "FaultShape", "field_shape", "check_positive", "check_config", "ParamSignature",
    "opcodes_of", "data_buffers", "host_rows", "host_addr_bits", "TRACE_ENTRY_BITS", "TRACE_ENTRIES_PER_ROW",
    "buffer_bytes", "opcode_is",
    "bundle_values", "register_bundle",
]

#: Byte-address width of every data buffer (the width of an operand's base field).
ADDR_BITS = FIELD_BY_NAME["a_base"].bits
#: Widest element: int16.
ELEM_BITS = 16
#: Width of every per-frame counter and of the frame cycle counter (wraps at 2**32).
COUNTER_BITS = 32
CYCLE_BITS = COUNTER_BITS
#: Width of an instance's sequence number (its place in the frame's executed stream).
SEQ_BITS = COUNTER_BITS
#: The host port's data is one instruction word (256 bits, 32 bytes) wide; a target's rows are
#: `host_row_bytes` of it (one word of every bank of a banked memory, at most 32 bytes).
HOST_DATA_BITS = INSTRUCTION_BITS
HOST_WORD_BYTES = HOST_DATA_BITS // 8
#: A trace entry is an issue and a retire cycle; a host row holds four.
TRACE_ENTRY_BITS = 2 * CYCLE_BITS
TRACE_ENTRIES_PER_ROW = HOST_DATA_BITS // TRACE_ENTRY_BITS


class HostTarget(enum.IntEnum):
    """What the host port's `addr` points into (`host.sel`); a row of each is `host_row_bytes`."""
    IMEM = 0
    WBUF = 1
    ABUF = 2
    SBUF = 3
    LUT = 4
    TRACE = 5
    PBUF = 6


def record_layout() -> data.StructLayout:
    """A parameter record as read from wbuf (docs/isa.md "Parameter records"), little-endian,
    from `npu_model.arch.record.RECORD_FIELDS`."""
    return data.StructLayout({f.name: (signed if f.signed else unsigned)(f.bits) for f in RECORD_FIELDS})


def _shape_enum(source: type[enum.IntEnum], bits: int):
    """An `amaranth.lib.enum.IntEnum` shape with the members of an ISA enum: signals of this
    shape carry the ISA's names into the netlist and the waveforms, and compare with the ISA
    enum's members as they are."""
    namespace = aenum.EnumType.__prepare__(source.__name__, (aenum.IntEnum,), shape=bits)
    for member in source:
        namespace[member.name] = member.value
    return aenum.EnumType(source.__name__, (aenum.IntEnum,), namespace, shape=bits)


OpcodeShape = _shape_enum(Opcode, FIELD_BY_NAME["opcode"].bits)
ActShape = _shape_enum(Act, FIELD_BY_NAME["act"].bits)
BufferShape = _shape_enum(Buffer, FIELD_BY_NAME["a_buf"].bits)
DTypeShape = _shape_enum(DType, FIELD_BY_NAME["a_dtype"].bits)
FaultShape = _shape_enum(Fault, FAULT_BITS)
#: the enum shape of an instruction field, by field name (the others are plain integers).
FIELD_SHAPES = {"opcode": OpcodeShape, "act": ActShape,
                **{f"{op}_{part}": shape for op in "abd"
                   for part, shape in (("buf", BufferShape), ("dtype", DTypeShape))}}


def field_shape(name: str):
    """The shape of an instruction field: its enum shape, or signed/unsigned of its width."""
    f = FIELD_BY_NAME[name]
    return FIELD_SHAPES.get(name) or (signed(f.bits) if f.signed else unsigned(f.bits))


class ParamSignature(wiring.Signature):
    """A signature made from keyword parameters, compared, hashed and printed by them (two
    signatures built from the same parameters are equal); the parameters read as attributes."""

    def __init__(self, members, **params):
        self._params = params
        super().__init__(members)

    def __getattr__(self, name):
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __eq__(self, other):
        return type(other) is type(self) and other._params == self._params

    def __hash__(self):
        return hash((type(self), tuple(self._params.items())))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._params.items())})"


def check_positive(name: str, value) -> None:
    """TypeError unless `value` is a positive integer (the width and depth parameters)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"{name} must be a positive integer, not {value!r}")


def check_config(config) -> None:
    if not isinstance(config, NpuConfig):
        raise TypeError(f"config must be an NpuConfig, not {config!r}")


def instruction_layout(fmt: Format = Format.OPERATE) -> data.StructLayout:
    """The 256-bit instruction word in one format as a `StructLayout`, fields at the lsb
    `field_layout(fmt)` gives (enum fields as their ISA enum's shape, signed fields as
    `signed(bits)`) and the format's reserved bits at the top as `reserved`."""
    members = {}
    for name, _lsb, _bits, _is_signed in field_layout(fmt):
        members[name] = field_shape(name)
    members["reserved"] = unsigned(RESERVED_BITS[fmt])
    layout = data.StructLayout(members)
    # A StructLayout packs fields back to back in order; the ISA table must agree.
    for name, lsb, bits, _signed in field_layout(fmt):
        assert layout[name].offset == lsb and layout[name].width == bits, name
    assert layout["reserved"].offset == INSTRUCTION_BITS - RESERVED_BITS[fmt]
    assert layout.size == INSTRUCTION_BITS
    return layout


def opcodes_of(op_class=None):
    """Opcodes of one class (every non-control opcode if None), from the ISA table."""
    if op_class is None:
        return [op for op, info in OPCODES.items() if info.op_class is not OpClass.CONTROL]
    return [op for op, info in OPCODES.items() if info.op_class is op_class]


def data_buffers():
    """(Buffer code, config name) of the three data buffers, in ISA order."""
    return [(b, b.label) for b in DATA_BUFFERS]


def buffer_bytes(config: NpuConfig, buf: Buffer) -> int:
    return config.buffer_bytes(buf.label)


def host_row_bytes(config: NpuConfig, target: HostTarget) -> int:
    """Bytes of one host row of `target`: what one cycle of its memories writes or reads (an
    instruction word; one word of every bank of a data buffer, at most 32 bytes; one record of
    each of up to four pbuf banks; one word of the LUT's macros, written into every copy; four
    trace entries)."""
    target = HostTarget(target)
    if target in (HostTarget.IMEM, HostTarget.TRACE):
        return HOST_WORD_BYTES
    if target is HostTarget.LUT:
        return LUT_WORD_BITS // 8
    if target is HostTarget.PBUF:
        return RECORD_BYTES * min(config.lanes, 4)
    return min(config.bank_org(target.name.lower()).stripe_bytes, HOST_WORD_BYTES)


def target_bytes(config: NpuConfig, target: HostTarget, trace_depth: int) -> int:
    """Bytes the host can reach in `target`."""
    target = HostTarget(target)
    if target is HostTarget.IMEM:
        return config.imem_bytes
    if target is HostTarget.TRACE:
        return trace_depth * TRACE_ENTRY_BITS // 8
    if target is HostTarget.LUT:
        return 2 * config.lut_entries
    return config.buffer_bytes(target.name.lower())


def host_rows(config: NpuConfig, trace_depth: int) -> int:
    """Rows of the largest host-port target: the testbench's staging array holds one whole target."""
    return max(-(-target_bytes(config, t, trace_depth) // host_row_bytes(config, t)) for t in HostTarget)


def host_addr_bits(config: NpuConfig, trace_depth: int) -> int:
    """Row address width of the host port: enough for the largest target."""
    return max(1, ceil_log2(host_rows(config, trace_depth)))


def bundle_values(signature, obj):
    """The signals of an interface object, in the signature's (stable) flattening order."""
    return [value for _path, _member, value in signature.flatten(obj)]


def register_bundle(m, signature, src, *, name, enable=None):
    """A registered copy of every signal of `src` (an interface object of `signature`).

    Pipeline stages and the current-instruction register are bundles of separate signals rather
    than one wide struct: Verilator handles signals above 64 bits as arrays of words, and every
    unaligned field of such a signal costs shifts and masks on each evaluation."""
    reg = signature.create(path=(name,))
    stmts = [d.eq(s) for d, s in zip(bundle_values(signature, reg), bundle_values(signature, src))]
    if enable is None:
        m.d.sync += stmts
    else:
        with m.If(enable):
            m.d.sync += stmts
    return reg


def opcode_is(value, ops):
    """1-bit value: the opcode signal equals one of `ops`."""
    ops = list(ops)
    if not ops:
        return 0
    return value.matches(*[int(op) for op in ops])


