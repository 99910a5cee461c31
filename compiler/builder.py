"""Builds a `Program`: static pools in wbuf/sbuf/LUT, liveness-based abuf allocation, code.

The lowering asks for storage and emits instructions through one `ProgramBuilder`; the builder
records which layer asked for what, so that when a model does not fit, the error names the
layer, the buffer, the bytes needed and the bytes the configuration has. With `code="loops"`
(the default) each layer's instructions are folded into hardware loops as the layer closes
(`compiler.reroll`); `code="unrolled"` keeps every instruction.
"""
from __future__ import annotations

import contextlib

import numpy as np

from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuError
from npu_model.arch.isa import FIELDS, INSTRUCTION_BYTES, DType, Opcode
from npu_model.arch.meta import CODE_FORMS, ProgramMeta
from npu_model.arch.program import Layer, Port, Program, Symbol
from npu_model.arch.record import PARAM_RECORD, RECORD_BYTES, out_of_range

from .reroll import reroll

__all__ = ["FitError", "Arena", "ProgramBuilder", "CODE_FORMS"]

#: name -> (lsb, mask, min, max) of every instruction field (npu_model.arch.isa.FIELDS), for `emit`.
_FIELD_SPEC = {f.name: (f.lo, (1 << f.bits) - 1, f.min, f.max) for f in FIELDS}
_OPCODE_MAX = _FIELD_SPEC["opcode"][3]
_FIELD_NAMES = frozenset(_FIELD_SPEC)
_MAC_CLASS = (int(Opcode.MAC), int(Opcode.DOT))


class FitError(NpuError):
    """The model does not fit the configuration's buffers. Its own exit code (4) lets a sweep
    (`npu_model explore`) tell "does not fit" from a failure without reading the message.

    `needs` holds what the program needs of every sized memory, by configuration field (bytes,
    `lut_entries` in entries), those that fit included: the smallest configuration that fits."""

    exit_code = 4

    def __init__(self, message: str, *, needs: dict | None = None):
        super().__init__(message)
        self.needs = dict(needs or {})


class Arena:
    """First-fit allocator over one buffer, tracking the high-water mark and who first overflowed.

    Allocation never fails here: the arena grows past its capacity so that the compiler can say
    how many bytes the model needs in all, then `check()` raises with that figure.
    """

    def __init__(self, name: str, capacity: int):
        self.name, self.capacity = name, capacity
        self.live: dict[str, tuple[int, int]] = {}   # name -> (offset, nbytes)
        self.peak = 0
        self.first_overflow: str | None = None      # layer whose allocation first passed capacity

    def alloc(self, name: str, nbytes: int, *, layer: str, align: int = 4) -> int:
        if name in self.live:
            raise ValueError(f"{self.name}: {name!r} allocated twice")
        offset = 0
        for start, size in sorted(self.live.values()):
            if start - offset >= nbytes:
                break
            offset = max(offset, _round_up(start + size, align))
        self.live[name] = (offset, nbytes)
        end = offset + nbytes
        if end > self.peak:
            self.peak = end
            if end > self.capacity and self.first_overflow is None:
                self.first_overflow = layer
        return offset

    def free(self, name: str) -> None:
        del self.live[name]

    @property
    def need(self) -> int:
        return self.peak

    def shortfall(self, config_key: str) -> str | None:
        if self.peak > self.capacity:
            return (f"the program needs {self.name} {self.peak:,} bytes at its peak, the configuration has "
                    f"{self.capacity:,} ({config_key}); layer {self.first_overflow!r} is the first past it")
        return None


class _Pool:
    """An append-only image (wbuf, sbuf) with content deduplication for small shared blocks."""

    def __init__(self, name: str, capacity: int):
        self.name, self.capacity = name, capacity
        self.image = bytearray()
        self.first_overflow: str | None = None
        self._dedupe: dict[bytes, int] = {}

    def add(self, data: bytes, *, layer: str, align: int, dedupe: bool = False) -> int:
        if dedupe and data in self._dedupe:
            return self._dedupe[data]
        offset = _round_up(len(self.image), align)
        self.image.extend(bytes(offset - len(self.image)))
        self.image.extend(data)
        if len(self.image) > self.capacity and self.first_overflow is None:
            self.first_overflow = layer
        if dedupe:
            self._dedupe[data] = offset
        return offset

    @property
    def need(self) -> int:
        return len(self.image)

    def shortfall(self, config_key: str) -> str | None:
        if len(self.image) > self.capacity:
            return (f"the program needs {self.name} {len(self.image):,} bytes in all, the configuration has "
                    f"{self.capacity:,} ({config_key}); layer {self.first_overflow!r} is the first past it")
        return None


class ProgramBuilder:
    def __init__(self, config: NpuConfig, *, code: str = "loops"):
        if code not in CODE_FORMS:
            raise ValueError(f"code form must be one of {', '.join(CODE_FORMS)}, not {code!r}")
        self.code_form = code
        self.config = config
        self.wbuf = _Pool("wbuf", config.wbuf_bytes)
        self.sbuf = _Pool("sbuf", config.sbuf_bytes)
        self.pbuf = _Pool("pbuf", config.pbuf_bytes)
        self.abuf = Arena("abuf", config.abuf_bytes)
        self.code: list[bytes] = []
        self.lut: list[int] = []
        self._tables: dict[bytes, tuple[int, int]] = {}
        self.symbols: list[Symbol] = []
        self.layers: list[Layer] = []
        self.inputs: list[Port] = []
        self.outputs: list[Port] = []
        self.current_layer = "(program)"
        self._imem_overflow: str | None = None
        self._lut_overflow: str | None = None
        self.macs = 0                                # sum of n * r over the MACs emitted so far

    @property
    def pc(self) -> int:
        return len(self.code)

    # Static data ------------------------------------------------------------------------------
    def weights(self, name: str, array: np.ndarray, *, align: int = 8) -> int:
        """Place a read-only block (int8 or int16, C order) in wbuf; returns its byte address."""
        array = np.ascontiguousarray(array)
        if array.dtype not in (np.int8, np.int16):
            raise TypeError(f"weights {name!r}: int8 or int16 expected, not {array.dtype}")
        offset = self.wbuf.add(array.astype(array.dtype.newbyteorder("<")).tobytes(),
                               layer=self.current_layer, align=align)
        self._symbol(name, "wbuf", offset, array)
        return offset

    def params(self, bias, mult, shift) -> int:
        """Parameter records in pbuf (one per lane or one shared), deduplicated; returns the address."""
        bias, mult, shift = np.broadcast_arrays(np.asarray(bias, np.int64), np.asarray(mult, np.int64),
                                                np.asarray(shift, np.int64))
        bad = out_of_range(bias=bias, mult=mult, shift=shift)
        if bad:
            raise ValueError(f"layer {self.current_layer}: {bad[0]} outside {bad[1]}..{bad[2]}")
        records = np.zeros(bias.size, PARAM_RECORD)
        for field, values in (("bias", bias), ("mult", mult), ("shift", shift)):
            records[field] = values.reshape(-1)
        return self.pbuf.add(records.tobytes(), layer=self.current_layer, align=RECORD_BYTES, dedupe=True)

    def constant(self, values, dtype=np.int8) -> int:
        """A small read-only constant vector (zeros, ones) shared by every layer that needs it."""
        data = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        return self.wbuf.add(data, layer=self.current_layer, align=8, dedupe=True)

    def table(self, name: str, values: np.ndarray) -> tuple[int, int]:
        """An int16 LUT of 2**k entries; returns (lut_base, k). Identical tables are shared."""
        values = np.asarray(values, np.int16)
        k = int(values.size).bit_length() - 1
        if values.size != 1 << k or not 1 <= k <= 14:
            raise ValueError(f"table {name!r}: size must be a power of two between 2 and 16384, not {values.size}")
        key = values.tobytes()
        if key not in self._tables:
            base = _round_up(len(self.lut), values.size)       # aligned: a table never straddles
            self.lut.extend([0] * (base - len(self.lut)))
            self.lut.extend(values.tolist())
            if len(self.lut) > self.config.lut_entries and self._lut_overflow is None:
                self._lut_overflow = self.current_layer
            self._tables[key] = (base, k)
        return self._tables[key]

    def state(self, name: str, init: np.ndarray) -> int:
        """Storage in sbuf that survives across frames, with its initial contents."""
        init = np.ascontiguousarray(init)
        offset = self.sbuf.add(init.astype(init.dtype.newbyteorder("<")).tobytes(),
                               layer=self.current_layer, align=8)
        self._symbol(name, "sbuf", offset, init)
        return offset

    # Activations ------------------------------------------------------------------------------
    def alloc(self, name: str, shape, dtype) -> int:
        """abuf storage for a per-frame tensor, live until `free(name)`."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        offset = self.abuf.alloc(name, nbytes, layer=self.current_layer)
        self.symbols.append(Symbol(name=name, buf="abuf", offset=offset, nbytes=nbytes,
                                   dtype=_dtype_name(dtype), shape=tuple(int(s) for s in shape),
                                   layer=self.current_layer))
        return offset

    def free(self, name: str) -> None:
        self.abuf.free(name)

    def input_port(self, name, buf, offset, shape, dtype) -> int:
        self.inputs.append(Port(name=name, buf=buf, offset=offset, dtype=_dtype_name(np.dtype(dtype)),
                                shape=tuple(shape)))
        return len(self.inputs) - 1

    def output_port(self, name, buf, offset, shape, dtype) -> int:
        self.outputs.append(Port(name=name, buf=buf, offset=offset, dtype=_dtype_name(np.dtype(dtype)),
                                 shape=tuple(shape)))
        return len(self.outputs) - 1

    # Code ---------------------------------------------------------------------------------------
    def emit(self, opcode: Opcode, **fields) -> int:
        """Append one instruction; every field value is range-checked as `npu_model.arch.isa.encode`
        does (this is the same packing, without building an `Instruction` object). The lowering
        emits tens of thousands of these per model, hence the plain loop."""
        code = self.code
        code.append(self._word(opcode, fields))
        if int(opcode) in _MAC_CLASS:
            self.macs += int(fields.get("n", 0)) * int(fields.get("r", 0))
        if len(code) * INSTRUCTION_BYTES > self.config.imem_bytes:
            self._note_imem()
        return len(code) - 1

    @contextlib.contextmanager
    def loop(self, count: int, *, idx: int = 0, **increments):
        """A hardware loop around what is emitted inside (docs/isa.md "Loops"): the `loop`
        instruction (a_inc=.., b_inc=.., d_inc=.., p_inc=.., idx) goes before the body once its
        length is known, and the MACs of the body count `count` times. The kernels' repetition is
        folded into loops by `compiler.reroll`; this is for loops it cannot find, the indexed ones."""
        at = len(self.code)
        self.code.append(b"")
        macs = self.macs
        yield
        self.code[at] = self._word(Opcode.LOOP, dict(count=count, body=len(self.code) - at - 1, idx=idx, **increments))
        self.macs = macs + (self.macs - macs) * count

    @staticmethod
    def _word(opcode, fields: dict) -> bytes:
        word = op = int(opcode)
        if not 0 <= op <= _OPCODE_MAX:
            raise ValueError(f"field opcode: {op} does not fit")
        if not _FIELD_NAMES.issuperset(fields):
            name = next(k for k in fields if k not in _FIELD_NAMES)
            raise TypeError(f"emit: unknown instruction field {name!r}")
        for name, value in fields.items():
            if value:                                    # zero fits every field and adds no bits
                lo, mask, vmin, vmax = _FIELD_SPEC[name]
                if value.__class__ is not int:
                    value = int(value)
                if not vmin <= value <= vmax:
                    raise ValueError(f"field {name}: {value} does not fit ({vmin}..{vmax})")
                word |= (value & mask) << lo
        return word.to_bytes(INSTRUCTION_BYTES, "little")

    def _note_imem(self):
        """Remember the layer whose code first passes imem (with loops: once the layer is folded)."""
        if len(self.code) * INSTRUCTION_BYTES > self.config.imem_bytes and self._imem_overflow is None \
                and (self.code_form == "unrolled" or self.current_layer == "(program)"):
            self._imem_overflow = self.current_layer

    @contextlib.contextmanager
    def layer(self, name: str, op: str, macs: int | None = None):
        """Everything emitted or allocated inside belongs to layer `name`. The layer table records
        `macs`, or by default the MACs (sum of n * r) of the MAC instructions emitted inside."""
        outer, start, start_macs = self.current_layer, self.pc, self.macs
        self.current_layer = name
        try:
            yield
            if self.code_form == "loops" and outer == "(program)":
                words = np.frombuffer(b"".join(self.code[start:]), np.uint8).reshape(-1, INSTRUCTION_BYTES)
                self.code[start:] = [w.tobytes() for w in reroll(words)]
                if len(self.code) * INSTRUCTION_BYTES > self.config.imem_bytes and self._imem_overflow is None:
                    self._imem_overflow = name
        finally:
            self.current_layer = outer
        counted = self.macs - start_macs if macs is None else macs
        self.layers.append(Layer(name=name, op=op, pc_start=start, pc_end=self.pc, macs=int(counted)))

    def needs(self) -> dict:
        """What the program needs of every sized memory, by configuration field, in the order
        `check_fit` reports them."""
        return {"wbuf_bytes": self.wbuf.need, "sbuf_bytes": self.sbuf.need, "pbuf_bytes": self.pbuf.need,
                "abuf_bytes": self.abuf.need, "imem_bytes": len(self.code) * INSTRUCTION_BYTES,
                "lut_entries": len(self.lut)}

    def check_fit(self) -> None:
        """FitError naming every memory that is too small (the first in full, the others by their
        need), with `needs` for all of them."""
        needs = self.needs()
        short = [self.wbuf.shortfall("wbuf_bytes"), self.sbuf.shortfall("sbuf_bytes"),
                 self.pbuf.shortfall("pbuf_bytes"), self.abuf.shortfall("abuf_bytes")]
        if needs["imem_bytes"] > self.config.imem_bytes:
            short.append(f"the program needs imem {needs['imem_bytes']:,} bytes ({len(self.code):,} instruction "
                         f"words), the configuration has {self.config.imem_bytes:,} (imem_bytes); "
                         f"layer {self._imem_overflow!r} is the first past it")
        if needs["lut_entries"] > self.config.lut_entries:
            short.append(f"the program needs {needs['lut_entries']:,} LUT entries, the configuration has "
                         f"{self.config.lut_entries:,} (lut_entries); layer {self._lut_overflow!r} is the first "
                         "past it")
        short = [x for x in short if x]
        if not short:
            return
        over = [k for k, v in needs.items() if v > getattr(self.config, k)]
        also = "" if len(over) == 1 else \
            " (also too small: " + ", ".join(f"{k} needs {needs[k]:,}" for k in over[1:]) + ")"
        raise FitError(f"model does not fit: {short[0]}{also}", needs=needs)

    def build(self, meta: ProgramMeta | None = None) -> Program:
        """The finished program; raises FitError naming the first buffer that does not fit."""
        self.check_fit()
        meta = (meta or ProgramMeta()).replace(abuf_peak_bytes=self.abuf.peak)
        return Program(config=self.config, code=np.frombuffer(b"".join(self.code), np.uint8),
                       wbuf=bytes(self.wbuf.image), sbuf=bytes(self.sbuf.image), pbuf=bytes(self.pbuf.image),
                       lut=np.array(self.lut, np.int16), inputs=self.inputs, outputs=self.outputs,
                       symbols=self.symbols, layers=self.layers, meta=meta)

    def _symbol(self, name, buf, offset, array):
        self.symbols.append(Symbol(name=name, buf=buf, offset=offset, nbytes=array.nbytes,
                                   dtype=_dtype_name(array.dtype), shape=tuple(array.shape),
                                   layer=self.current_layer))


def _dtype_name(dtype: np.dtype) -> str:
    """The program spelling of a numpy type ('i8'); another type keeps its numpy name, which the
    program container then refuses with a message naming the port or symbol."""
    try:
        return DType.of_numpy(dtype).label
    except ValueError:
        return np.dtype(dtype).name


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align
