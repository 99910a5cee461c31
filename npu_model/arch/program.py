"""The program container `prog.bin` (format documented in docs/program-format.md).

A program carries everything an NPU needs besides its input frames: the configuration it was
compiled for, the instruction words, the initial images of wbuf, sbuf, pbuf and the LUT, the host I/O
port table, a memory map and a layer table (for reports). Reading checks magic, version,
checksum, structure and sizes and says in one line what is wrong.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import BUFFER_NAMES, MAX_DATA_BUFFER_BYTES, ConfigError, NpuConfig
from .errors import ProgramFormatError, shown
from .files import write_bytes
from .isa import DTYPES, INSTRUCTION_BYTES
from .meta import ProgramMeta
from .schema import NAME_PATTERN, Field, Schema, bad_name

__all__ = ["NAME_PATTERN", "bad_name", "Program", "Port", "Symbol", "Layer", "MAGIC", "VERSION", "SectionKind",
           "IO_BUFFERS", "SECTION_SCHEMAS", "pack_sections", "unpack_sections"]

MAGIC = b"NPUPROG\x00"
VERSION = 1
_HEADER = struct.Struct("<8sHHI")        # magic, version, reserved, section count
_SECTION = struct.Struct("<III")         # kind, offset, length
_CHECKSUM = struct.Struct("<I")          # CRC-32 of every byte before it

#: dtype names used in the I/O table and memory map, and their ISA element types.
#: Buffers a host port may live in.
IO_BUFFERS = ("abuf", "sbuf")


class SectionKind(enum.IntEnum):
    CONFIG = 1    # JSON: the NpuConfig the program was compiled for
    CODE = 2      # instruction words, 32 bytes each, pc order
    WBUF = 3      # initial wbuf image from address 0
    SBUF = 4      # initial sbuf image from address 0
    LUT = 5       # int16 little-endian LUT entries from entry 0
    IO = 6        # JSON: {"inputs": [port...], "outputs": [port...]}
    SYMBOLS = 7   # JSON: [symbol...], the memory map
    LAYERS = 8    # JSON: [layer...], pc ranges of the network's layers
    META = 9      # JSON: free-form (compiler version, model name, summary figures)
    PBUF = 10     # initial pbuf image (parameter records) from address 0


_REQUIRED = (SectionKind.CONFIG, SectionKind.CODE, SectionKind.IO)

#: Largest pc a program can have (the largest instruction memory `NpuConfig` allows).
MAX_PC = (1 << 26) // INSTRUCTION_BYTES
#: Most dimensions a port or symbol shape has.
MAX_RANK = 8
_SIZE = dict(low=0, high=MAX_DATA_BUFFER_BYTES)
_DTYPE_LABELS = tuple(DTYPES)

PORT_SCHEMA = Schema("port", (
    Field("name", "name", "port name (NAME_PATTERN)"),
    Field("buf", "str", "the buffer the region is in", choices=IO_BUFFERS),
    Field("offset", "int", "first byte of the region", **_SIZE),
    Field("dtype", "str", "element type", choices=_DTYPE_LABELS),
    Field("shape", "list", "elements per dimension, C order", low=1, high=MAX_RANK,
          items=Field("dim", "int", "", low=1, high=MAX_DATA_BUFFER_BYTES)),
))
SYMBOL_SCHEMA = Schema("symbol", (
    Field("name", "name", "tensor, weight block or table name"),
    Field("buf", "str", "the buffer it is in", choices=BUFFER_NAMES),
    Field("offset", "int", "first byte", **_SIZE),
    Field("nbytes", "int", "size in bytes", **_SIZE),
    Field("dtype", "str", "element type, or empty", required=False, choices=("",) + _DTYPE_LABELS),
    Field("shape", "list", "elements per dimension, or empty", required=False, low=0, high=MAX_RANK,
          items=Field("dim", "int", "", low=0, high=MAX_DATA_BUFFER_BYTES)),
    Field("layer", "str", "the layer it belongs to, or empty", required=False),
))
LAYER_SCHEMA = Schema("layer", (
    Field("name", "name", "layer name"),
    Field("op", "name", "the layer's op (`conv1d`, `gru`, ...)"),
    Field("pc_start", "int", "first instruction", low=0, high=MAX_PC),
    Field("pc_end", "int", "one past its last instruction", low=0, high=MAX_PC),
    Field("macs", "int", "the layer's MACs per frame", required=False, low=0, high=1 << 62),
))
IO_SCHEMA = Schema("IO", (
    Field("inputs", "list", "input ports; a port's number is its position", items=PORT_SCHEMA),
    Field("outputs", "list", "output ports", items=PORT_SCHEMA),
))
_SYMBOLS_FIELD = Field("SYMBOLS", "list", "the memory map", items=SYMBOL_SCHEMA)
_LAYERS_FIELD = Field("LAYERS", "list", "the layer table", items=LAYER_SCHEMA)
#: The record schemas of the JSON sections besides CONFIG and META, for docs/program-format.md.
SECTION_SCHEMAS = (IO_SCHEMA, PORT_SCHEMA, SYMBOL_SCHEMA, LAYER_SCHEMA)


@dataclass(frozen=True)
class Port:
    """A host I/O region: the host writes an input port before a frame, reads an output port after."""
    name: str
    buf: str
    offset: int
    dtype: str
    shape: tuple

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.elements * DTYPES[self.dtype].size

    @property
    def numpy_dtype(self):
        return DTYPES[self.dtype].numpy

    def to_dict(self):
        return {"name": self.name, "buf": self.buf, "offset": self.offset, "dtype": self.dtype,
                "shape": list(self.shape)}


@dataclass(frozen=True)
class Symbol:
    """A memory-map entry: a named region of a buffer (a tensor, a weight block, a table)."""
    name: str
    buf: str
    offset: int
    nbytes: int
    dtype: str = ""
    shape: tuple = ()
    layer: str = ""

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Layer:
    """The instructions [pc_start, pc_end) that implement one layer of the network."""
    name: str
    op: str
    pc_start: int
    pc_end: int
    macs: int = 0

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclass
class Program:
    config: NpuConfig
    code: np.ndarray                       # (M, 32) uint8
    wbuf: bytes = b""
    sbuf: bytes = b""
    pbuf: bytes = b""
    lut: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    symbols: list = field(default_factory=list)
    layers: list = field(default_factory=list)
    meta: ProgramMeta = field(default_factory=ProgramMeta)

    def __post_init__(self):
        self.code = np.ascontiguousarray(self.code, dtype=np.uint8).reshape(-1, INSTRUCTION_BYTES)
        self.lut = np.ascontiguousarray(self.lut, dtype=np.int16).reshape(-1)
        self.wbuf, self.sbuf, self.pbuf = bytes(self.wbuf), bytes(self.sbuf), bytes(self.pbuf)

    @property
    def n_instructions(self) -> int:
        return len(self.code)

    # Validation -------------------------------------------------------------------------------
    def validate(self, source: str = "program") -> None:
        """Check sizes against the configuration, the I/O table and every name; raise
        ProgramFormatError."""
        cfg = self.config
        IO_SCHEMA.check(self._io_dict(), f"{source}: IO")
        _SYMBOLS_FIELD.check([s.to_dict() for s in self.symbols], f"{source}: SYMBOLS")
        _LAYERS_FIELD.check([l.to_dict() for l in self.layers], f"{source}: LAYERS")
        need = [("code", self.code.nbytes, cfg.imem_bytes, "imem_bytes"),
                ("wbuf image", len(self.wbuf), cfg.wbuf_bytes, "wbuf_bytes"),
                ("sbuf image", len(self.sbuf), cfg.sbuf_bytes, "sbuf_bytes"),
                ("pbuf image", len(self.pbuf), cfg.pbuf_bytes, "pbuf_bytes"),
                ("LUT image", len(self.lut), cfg.lut_entries, "lut_entries")]
        for what, size, limit, key in need:
            if size > limit:
                raise ProgramFormatError(f"{source}: {what} needs {size} but the configuration has "
                                         f"{key} = {limit}")
        if self.n_instructions == 0:
            raise ProgramFormatError(f"{source}: the program has no instructions")
        names = set()
        for direction, ports in (("input", self.inputs), ("output", self.outputs)):
            for port in ports:
                where = f"{source}: {direction} port {port.name!r}"
                if port.name in names:
                    raise ProgramFormatError(f"{where}: name used twice")
                names.add(port.name)
                if port.offset < 0 or port.offset + port.nbytes > cfg.buffer_bytes(port.buf):
                    raise ProgramFormatError(f"{where}: region {port.offset}..{port.offset + port.nbytes} "
                                             f"outside {port.buf} ({cfg.buffer_bytes(port.buf)} bytes)")
                if port.dtype == "i16" and port.offset % 2:
                    raise ProgramFormatError(f"{where}: int16 region at odd offset {port.offset}")
        for i, sym in enumerate(self.symbols):
            if sym.offset + sym.nbytes > cfg.buffer_bytes(sym.buf):
                raise ProgramFormatError(f"{source}: SYMBOLS [{i}] {sym.name!r}: region {sym.offset}.."
                                         f"{sym.offset + sym.nbytes} outside {sym.buf} "
                                         f"({cfg.buffer_bytes(sym.buf)} bytes)")
        for layer in self.layers:
            if not 0 <= layer.pc_start <= layer.pc_end <= self.n_instructions:
                raise ProgramFormatError(f"{source}: layer {layer.name!r}: pc range "
                                         f"{layer.pc_start}..{layer.pc_end} outside the code")

    def _io_dict(self) -> dict:
        return {"inputs": [p.to_dict() for p in self.inputs], "outputs": [p.to_dict() for p in self.outputs]}

    # Serialisation ----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        self.validate()
        sections = [
            (SectionKind.CONFIG, self.config.to_json().encode()),
            (SectionKind.CODE, self.code.tobytes()),
            (SectionKind.WBUF, self.wbuf),
            (SectionKind.SBUF, self.sbuf),
            (SectionKind.PBUF, self.pbuf),
            (SectionKind.LUT, self.lut.astype("<i2").tobytes()),
            (SectionKind.IO, _json(self._io_dict())),
            (SectionKind.SYMBOLS, _json([s.to_dict() for s in self.symbols])),
            (SectionKind.LAYERS, _json([l.to_dict() for l in self.layers])),
            (SectionKind.META, _json(self.meta.to_dict())),
        ]
        return pack_sections(sections)

    def save(self, path) -> None:
        """Write atomically: a failed write never leaves a half-written program behind."""
        write_bytes(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "program",
                   expected_config: NpuConfig | None = None) -> "Program":
        sections = unpack_sections(data, source=source)
        for kind in _REQUIRED:
            if kind not in sections:
                raise ProgramFormatError(f"{source}: missing section {kind.name}")
        try:
            config = NpuConfig.from_json(sections[SectionKind.CONFIG].decode(), source=f"{source}: CONFIG")
        except (ConfigError, UnicodeDecodeError) as exc:
            raise ProgramFormatError(f"{source}: bad CONFIG section ({exc})") from None
        if expected_config is not None:
            diff = expected_config.mismatches(config)
            if diff:
                raise ProgramFormatError(f"{source}: compiled for another configuration "
                                         f"(expected != program: {'; '.join(diff)})")
        code = sections[SectionKind.CODE]
        if len(code) % INSTRUCTION_BYTES:
            raise ProgramFormatError(f"{source}: CODE section is {len(code)} bytes, not a multiple of "
                                     f"{INSTRUCTION_BYTES}")
        lut = sections.get(SectionKind.LUT, b"")
        if len(lut) % 2:
            raise ProgramFormatError(f"{source}: LUT section has an odd length ({len(lut)} bytes)")
        io = IO_SCHEMA.check(_load_json(sections[SectionKind.IO], source, "IO"), f"{source}: IO")
        inputs = [_port(p) for p in io["inputs"]]
        outputs = [_port(p) for p in io["outputs"]]
        symbols = _SYMBOLS_FIELD.check(_load_json(sections.get(SectionKind.SYMBOLS, b"[]"), source, "SYMBOLS"),
                                       f"{source}: SYMBOLS")
        symbols = [Symbol(**{**d, "shape": tuple(d.get("shape", ()))}) for d in symbols]
        layers = _LAYERS_FIELD.check(_load_json(sections.get(SectionKind.LAYERS, b"[]"), source, "LAYERS"),
                                     f"{source}: LAYERS")
        layers = [Layer(**d) for d in layers]
        meta = ProgramMeta.from_dict(_load_json(sections.get(SectionKind.META, b"{}"), source, "META"), source=source)
        program = cls(config=config, code=np.frombuffer(code, np.uint8), wbuf=sections.get(SectionKind.WBUF, b""),
                      sbuf=sections.get(SectionKind.SBUF, b""), pbuf=sections.get(SectionKind.PBUF, b""),
                      lut=np.frombuffer(lut, "<i2").astype(np.int16),
                      inputs=inputs, outputs=outputs, symbols=symbols, layers=layers, meta=meta)
        program.validate(source)
        return program

    @classmethod
    def load(cls, path, *, expected_config: NpuConfig | None = None) -> "Program":
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProgramFormatError(f"{path}: cannot read ({exc.strerror})") from None
        return cls.from_bytes(data, source=str(path), expected_config=expected_config)


def pack_sections(sections) -> bytes:
    """The container around `(kind, payload)` pairs, in that order, with its checksum."""
    offset = _HEADER.size + _SECTION.size * len(sections)
    table, payload = [], []
    for kind, data in sections:
        table.append(_SECTION.pack(int(kind), offset, len(data)))
        payload.append(bytes(data))
        offset += len(data)
    body = _HEADER.pack(MAGIC, VERSION, 0, len(sections)) + b"".join(table) + b"".join(payload)
    return body + _CHECKSUM.pack(zlib.crc32(body))


def unpack_sections(data: bytes, *, source: str = "program") -> dict:
    """`SectionKind -> payload` of a container whose magic, version, table, checksum and section
    kinds are checked (the contents are not: `Program.from_bytes` does that)."""
    data = bytes(data)
    if len(data) < 8 or data[:8] != MAGIC:
        raise ProgramFormatError(f"{source}: not an NPU program (bad magic)")
    if len(data) < _HEADER.size + _CHECKSUM.size:
        raise ProgramFormatError(f"{source}: truncated ({len(data)} bytes, header incomplete)")
    _, version, _, count = _HEADER.unpack_from(data)
    if version != VERSION:
        raise ProgramFormatError(f"{source}: unknown format version {version} (this tool reads {VERSION})")
    table_end = _HEADER.size + _SECTION.size * count
    if table_end + _CHECKSUM.size > len(data):
        raise ProgramFormatError(f"{source}: truncated ({len(data)} bytes, section table needs {table_end})")
    body_end = len(data) - _CHECKSUM.size
    entries = [_SECTION.unpack_from(data, _HEADER.size + _SECTION.size * i) for i in range(count)]
    for i, (kind, offset, length) in enumerate(entries):
        if offset < table_end or offset + length > body_end:
            raise ProgramFormatError(f"{source}: truncated (section {i} ends at byte {offset + length}, "
                                     f"the file has {body_end} before its checksum)")
    (stored,) = _CHECKSUM.unpack_from(data, body_end)
    actual = zlib.crc32(data[:body_end])
    if stored != actual:
        raise ProgramFormatError(f"{source}: bad checksum (stored 0x{stored:08x}, computed 0x{actual:08x}): "
                                 "the file is corrupt")
    sections = {}
    for kind, offset, length in entries:
        try:
            kind = SectionKind(kind)
        except ValueError:
            raise ProgramFormatError(f"{source}: unknown section kind {kind}") from None
        if kind in sections:
            raise ProgramFormatError(f"{source}: section {kind.name} appears twice")
        sections[kind] = data[offset:offset + length]
    return sections


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _load_json(raw: bytes, source: str, what: str):
    """JSON of a section; one line for bad UTF-8 or JSON, nesting too deep or numbers too long."""
    try:
        return json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError) as exc:         # JSONDecodeError, an over-long integer
        raise ProgramFormatError(f"{source}: bad {what} section ({shown(str(exc), 120)})") from None
    except RecursionError:
        raise ProgramFormatError(f"{source}: bad {what} section (nested too deeply)") from None


def _port(d) -> Port:
    return Port(**{**d, "shape": tuple(d["shape"])})
