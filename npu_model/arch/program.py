"""The program container `prog.bin` (format documented in docs/program-format.md).

A program carries everything an NPU needs besides its input frames: the configuration it was
compiled for, the instruction words, the initial images of wbuf, sbuf and the LUT, the host I/O
port table, a memory map and a layer table (for reports). Reading checks magic, version,
checksum, structure and sizes and says in one line what is wrong.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ConfigError, NpuConfig
from .errors import ProgramFormatError, shown
from .files import write_bytes
from .isa import DTYPES, INSTRUCTION_BYTES
from .meta import ProgramMeta

#: What a port, symbol or layer name may be (they become file and archive member names, e.g. in
#: `run --output out.npz`): letters, digits, `_`, `.`, `-`, not starting with `.` or `-`, at most 64.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")

__all__ = ["NAME_PATTERN", "bad_name", "Program", "Port", "Symbol", "Layer", "MAGIC", "VERSION", "SectionKind",
           "IO_BUFFERS"]

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


_REQUIRED = (SectionKind.CONFIG, SectionKind.CODE, SectionKind.IO)


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
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.elements * DTYPES[self.dtype].size

    @property
    def numpy_dtype(self):
        return np.dtype("<i1" if self.dtype == "i8" else "<i2")

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
    lut: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    symbols: list = field(default_factory=list)
    layers: list = field(default_factory=list)
    meta: ProgramMeta = field(default_factory=ProgramMeta)

    def __post_init__(self):
        self.code = np.ascontiguousarray(self.code, dtype=np.uint8).reshape(-1, INSTRUCTION_BYTES)
        self.lut = np.ascontiguousarray(self.lut, dtype=np.int16).reshape(-1)
        self.wbuf, self.sbuf = bytes(self.wbuf), bytes(self.sbuf)

    @property
    def n_instructions(self) -> int:
        return len(self.code)

    # Validation -------------------------------------------------------------------------------
    def validate(self, source: str = "program") -> None:
        """Check sizes against the configuration, the I/O table and every name; raise
        ProgramFormatError."""
        cfg = self.config
        for kind, items in (("input port", self.inputs), ("output port", self.outputs), ("symbol", self.symbols),
                            ("layer", self.layers)):
            for item in items:
                problem = bad_name(item.name)
                if problem:
                    raise ProgramFormatError(f"{source}: {kind} {shown(item.name)}: {problem}")
        need = [("code", self.code.nbytes, cfg.imem_bytes, "imem_bytes"),
                ("wbuf image", len(self.wbuf), cfg.wbuf_bytes, "wbuf_bytes"),
                ("sbuf image", len(self.sbuf), cfg.sbuf_bytes, "sbuf_bytes"),
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
                if port.buf not in IO_BUFFERS:
                    raise ProgramFormatError(f"{where}: buffer must be one of {', '.join(IO_BUFFERS)}, "
                                             f"not {port.buf!r}")
                if port.dtype not in DTYPES:
                    raise ProgramFormatError(f"{where}: dtype must be i8 or i16, not {port.dtype!r}")
                if port.offset < 0 or port.offset + port.nbytes > cfg.buffer_bytes(port.buf):
                    raise ProgramFormatError(f"{where}: region {port.offset}..{port.offset + port.nbytes} "
                                             f"outside {port.buf} ({cfg.buffer_bytes(port.buf)} bytes)")
                if port.dtype == "i16" and port.offset % 2:
                    raise ProgramFormatError(f"{where}: int16 region at odd offset {port.offset}")
        for layer in self.layers:
            if not 0 <= layer.pc_start <= layer.pc_end <= self.n_instructions:
                raise ProgramFormatError(f"{source}: layer {layer.name!r}: pc range "
                                         f"{layer.pc_start}..{layer.pc_end} outside the code")

    # Serialisation ----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        self.validate()
        sections = [
            (SectionKind.CONFIG, self.config.to_json().encode()),
            (SectionKind.CODE, self.code.tobytes()),
            (SectionKind.WBUF, self.wbuf),
            (SectionKind.SBUF, self.sbuf),
            (SectionKind.LUT, self.lut.astype("<i2").tobytes()),
            (SectionKind.IO, _json({"inputs": [p.to_dict() for p in self.inputs],
                                    "outputs": [p.to_dict() for p in self.outputs]})),
            (SectionKind.SYMBOLS, _json([s.to_dict() for s in self.symbols])),
            (SectionKind.LAYERS, _json([l.to_dict() for l in self.layers])),
            (SectionKind.META, _json(self.meta.to_dict())),
        ]
        offset = _HEADER.size + _SECTION.size * len(sections)
        table, payload = [], []
        for kind, data in sections:
            table.append(_SECTION.pack(kind, offset, len(data)))
            payload.append(data)
            offset += len(data)
        body = _HEADER.pack(MAGIC, VERSION, 0, len(sections)) + b"".join(table) + b"".join(payload)
        return body + _CHECKSUM.pack(zlib.crc32(body))

    def save(self, path) -> None:
        """Write atomically: a failed write never leaves a half-written program behind."""
        write_bytes(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "program",
                   expected_config: NpuConfig | None = None) -> "Program":
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
        io = _load_json(sections[SectionKind.IO], source, "IO")
        try:
            inputs = [_port(p) for p in io["inputs"]]
            outputs = [_port(p) for p in io["outputs"]]
            symbols = [_symbol(s) for s in _load_json(sections.get(SectionKind.SYMBOLS, b"[]"), source, "SYMBOLS")]
            layers = [Layer(**l) for l in _load_json(sections.get(SectionKind.LAYERS, b"[]"), source, "LAYERS")]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProgramFormatError(f"{source}: malformed I/O, symbol or layer table ({exc})") from None
        meta = ProgramMeta.from_dict(_load_json(sections.get(SectionKind.META, b"{}"), source, "META"), source=source)
        program = cls(config=config, code=np.frombuffer(code, np.uint8), wbuf=sections.get(SectionKind.WBUF, b""),
                      sbuf=sections.get(SectionKind.SBUF, b""), lut=np.frombuffer(lut, "<i2").astype(np.int16),
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


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _load_json(raw: bytes, source: str, what: str):
    try:
        return json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProgramFormatError(f"{source}: bad {what} section ({exc})") from None


def _port(d) -> Port:
    return Port(name=str(d["name"]), buf=str(d["buf"]), offset=int(d["offset"]), dtype=str(d["dtype"]),
                shape=tuple(int(x) for x in d["shape"]))


def _symbol(d) -> Symbol:
    d = dict(d)
    d["shape"] = tuple(d.get("shape", ()))
    return Symbol(**d)


def bad_name(name) -> str | None:
    """Why `name` is not a valid port, symbol or layer name (NAME_PATTERN), or None."""
    if not isinstance(name, str):
        return f"a name must be a string, not {type(name).__name__}"
    if not NAME_PATTERN.fullmatch(name):
        return ("a name is 1 to 64 letters, digits, '_', '.' or '-', not starting with '.' or '-' "
                "(it becomes a file or archive member name)")
    return None
