"""Tensor descriptors and requantisation parameters shared by every lowering kernel.

A tensor of one frame is a (positions, channels) matrix stored channel-last: element (p, c) is at
byte `offset + p * row_stride + c * col_stride` of buffer `buf`, with `col_stride` the element
size for a plain tensor. With that layout the reduction of a convolution over (tap, in-channel)
at one output position is one contiguous run of input bytes (the seed paper's loop and memory
re-ordering, its Table I): lanes of a MAC read their operands without conflicts.

Views (`TensorRef.view`) select a channel range or a position range of a tensor without copying,
so that e.g. the two directions of a bidirectional GRU write the two channel halves of one tensor
and a concatenation is just two views of one allocation. A stride of 0 broadcasts (a per-channel
vector used at every position: `row_stride=0`; a per-position scalar: `col_stride=0`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from npu_model.arch.isa import Act, Buffer, DType
from npu_model.arch.memory import lane_group

__all__ = ["TensorRef", "Post", "alloc_tensor", "IDENTITY", "row_pitch"]


@dataclass(frozen=True)
class TensorRef:
    """A (positions, channels) tensor in one buffer, channel-last by default.

    buf, offset:  buffer (`npu_model.arch.isa.Buffer`) and byte address of element (0, 0).
    positions, channels: logical shape.
    dtype:        `DType.I8` or `DType.I16`.
    row_stride:   bytes from position p to p+1 (default channels * element size; 0 broadcasts).
    col_stride:   bytes from channel c to c+1 (default element size; 0 broadcasts).
    """

    buf: Buffer
    offset: int
    positions: int
    channels: int
    dtype: DType = DType.I8
    row_stride: int | None = None
    col_stride: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "buf", Buffer(self.buf))
        object.__setattr__(self, "dtype", DType(self.dtype))
        if self.col_stride is None:
            object.__setattr__(self, "col_stride", self.size)
        if self.row_stride is None:
            object.__setattr__(self, "row_stride", self.channels * self.col_stride)
        if self.positions < 1 or self.channels < 1:
            raise ValueError(f"tensor shape must be positive, not {self.positions}x{self.channels}")

    @property
    def size(self) -> int:
        return self.dtype.size

    @property
    def shape(self) -> tuple[int, int]:
        return self.positions, self.channels

    @property
    def np_dtype(self):
        return np.dtype(np.int8 if self.dtype is DType.I8 else np.int16)

    @property
    def rows_contiguous(self) -> bool:
        """Channels of one position are consecutive elements (lanes read one run per position)."""
        return self.col_stride == self.size

    @property
    def contiguous(self) -> bool:
        """The whole tensor is one run (a reduction may span several positions)."""
        return self.rows_contiguous and self.row_stride == self.channels * self.size

    def addr(self, pos: int, ch: int = 0) -> int:
        return self.offset + pos * self.row_stride + ch * self.col_stride

    @property
    def nbytes(self) -> int:
        """Bytes of a dense allocation of this shape."""
        return self.positions * self.channels * self.size

    def view(self, *, pos: int = 0, positions: int | None = None, ch: int = 0,
             channels: int | None = None, pos_step: int = 1) -> "TensorRef":
        """A sub-tensor: positions pos, pos+pos_step, ... and channels ch .. ch+channels-1."""
        positions = positions if positions is not None else -(-(self.positions - pos) // pos_step)
        channels = channels if channels is not None else self.channels - ch
        if not (0 <= pos and pos + (positions - 1) * pos_step < self.positions
                and 0 <= ch and ch + channels <= self.channels):
            raise ValueError(f"view pos={pos}+{positions}x{pos_step}, ch={ch}+{channels} outside "
                             f"a {self.positions}x{self.channels} tensor")
        return replace(self, offset=self.addr(pos, ch), positions=positions, channels=channels,
                       row_stride=self.row_stride * pos_step)

    def transposed_store(self) -> "TensorRef":
        """The same logical tensor stored position-last: (p, c) at offset + c*positions*size + p*size."""
        return replace(self, row_stride=self.size, col_stride=self.positions * self.size)

    def footprint(self) -> tuple[int, int]:
        """Byte range [lo, hi] covered (as the ISA's footprint rule sees it)."""
        ends = [self.addr(p, c) for p in (0, self.positions - 1) for c in (0, self.channels - 1)]
        return min(ends), max(ends) + self.size - 1


def row_pitch(config, buf: Buffer, row_bytes: int, align: int) -> int:
    """The row stride (bytes) to give a channel-last tensor of `row_bytes` per position in `buf`:
    the smallest multiple of `align` from `row_bytes` up whose lanes, one position apart, fall in
    the largest lane groups of the buffer's banking (`npu_model.arch.memory.lane_group`): the
    seed paper's memory re-ordering, so that lanes over positions (a convolution with few output
    channels, the magnitude, attention's keys) read and write without bank conflicts. It pads a
    row by at most one stripe of the banks."""
    org = config.bank_org(Buffer(buf).label)
    lanes = config.lanes
    best, best_p = row_bytes, lane_group(row_bytes, lanes, org)
    pitch = row_bytes + (-row_bytes % align)
    while pitch <= row_bytes + org.stripe_bytes and best_p < lanes:
        p = lane_group(pitch, lanes, org)
        if p > best_p:
            best, best_p = pitch, p
        pitch += align
    return best


def alloc_tensor(builder, name: str, positions: int, channels: int, dtype=DType.I8) -> TensorRef:
    """A fresh channel-last tensor in abuf (freed with `builder.free(name)`), rows `row_pitch`
    apart (its memory-map symbol covers the padding: (positions, row_stride / element size))."""
    dtype = DType(dtype)
    row = channels * dtype.size
    if positions > 1:
        row = row_pitch(builder.config, Buffer.ABUF, row, dtype.size)
    offset = builder.alloc(name, (positions, row // dtype.size), dtype.numpy)
    return TensorRef(Buffer.ABUF, offset, positions, channels, dtype, row_stride=row)


@dataclass(frozen=True)
class Post:
    """What happens after the accumulation: bias, requantisation, activation (docs/isa.md).

    bias (int32), mult (int16) and shift (0..63) are scalars or one value per output channel.
    act: `Act.NONE`, `Act.RELU`, `Act.LUT` or `Act.RSQRT`; for LUT, `lut` holds the table's 2**k int16
    values, indexed by the requantised value clamped to the k-bit signed range; for RSQRT the
    mantissa table (docs/isa.md "Arithmetic").
    """

    bias: object = 0
    mult: object = 1
    shift: object = 0
    act: Act = Act.NONE
    lut: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "act", Act(self.act))
        if (self.act in (Act.LUT, Act.RSQRT)) != (self.lut is not None):
            raise ValueError("a LUT or rsqrt activation needs its table, and a table needs act=Act.LUT or RSQRT")

    def per_channel(self, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bias, mult, shift) as int64 arrays of `channels` values."""
        out = []
        for name in ("bias", "mult", "shift"):
            v = np.asarray(getattr(self, name), np.int64)
            if v.ndim > 1 or (v.ndim == 1 and v.size not in (1, channels)):
                raise ValueError(f"{name}: {v.size} values for {channels} channels")
            out.append(np.broadcast_to(v.reshape(-1) if v.ndim else v, (channels,)).copy())
        return tuple(out)

    def is_uniform(self) -> bool:
        return all(np.unique(np.asarray(getattr(self, n))).size <= 1 for n in ("bias", "mult", "shift"))


#: bias 0, mult 1, shift 0, no activation: a plain copy (saturating to the destination type).
IDENTITY = Post()
