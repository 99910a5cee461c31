"""Low-level emission shared by the kernels: operands, parameter records, LUTs, statistics."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from npu_model.arch.isa import Act, Buffer, DType, Opcode
from npu_model.arch.record import RECORD_BYTES
from npu_model.arch.timing import PORT_CONFLICT_FACTOR

from .tensor import Post

__all__ = ["Operand", "KernelResult", "Records", "emit_compute"]


class Operand(NamedTuple):
    """One instruction operand: X(s, l) = base + s*rstride + l*lstride in `buf`. A named tuple:
    the lowering makes one per operand of tens of thousands of instructions."""
    buf: Buffer
    dtype: DType
    base: int
    rstride: int = 0
    lstride: int = 0


@dataclass
class KernelResult:
    """What a kernel emitted: instruction count, MACs (sum of n*r over MACs), mac cycles (sum of r),
    issue cycles (sum of occupancies, a lower bound of the kernel's cycles) and the lane mapping."""
    instructions: int = 0
    macs: int = 0
    mac_cycles: int = 0
    issue_cycles: int = 0
    mode: str = ""
    notes: list = field(default_factory=list)

    def add(self, other: "KernelResult") -> "KernelResult":
        self.instructions += other.instructions
        self.macs += other.macs
        self.mac_cycles += other.mac_cycles
        self.issue_cycles += other.issue_cycles
        return self


class Records:
    """The parameter records of one kernel's output channels, placed once in wbuf.

    `p(ch0, per_lane)` gives (p_base, p_vec) for a lane tile starting at channel ch0 when lanes run
    over channels (per_lane=True), or for a single channel shared by all lanes (per_lane=False).
    A uniform post (same record for every channel) takes one record and p_vec=0 everywhere.
    """

    def __init__(self, builder, post: Post, channels: int):
        bias, mult, shift = post.per_channel(channels)
        self.uniform = post.is_uniform()
        if self.uniform:
            self.base = builder.params(bias[:1], mult[:1], shift[:1])
        else:
            self.base = builder.params(bias, mult, shift)
        self.act = post.act
        self.lut_base, self.lut_log2 = 0, 0
        if post.act in (Act.LUT, Act.RSQRT):
            self.lut_base, self.lut_log2 = builder.table("lut", np.asarray(post.lut, np.int16))

    def p(self, ch0: int, per_lane: bool) -> dict:
        if self.uniform:
            return {"p_base": self.base, "p_vec": 0}
        return {"p_base": self.base + RECORD_BYTES * ch0, "p_vec": 1 if per_lane else 0}

    def act_fields(self) -> dict:
        out = {"act": int(self.act)}
        if self.act in (Act.LUT, Act.RSQRT):
            out.update(lut_base=self.lut_base, lut_log2=self.lut_log2)
        return out


def emit_compute(builder, result: KernelResult, opcode: Opcode, *, n: int, r: int, a: Operand,
                 d: Operand, b: Operand | None = None, p: dict, act: dict, acc_in: int = 0,
                 acc_out: int = 0, b_exp: int = 0) -> None:
    """Emit one MAC or element-wise instruction and account for it in `result`."""
    fields = {"n": n, "r": r, "a_buf": a.buf, "a_dtype": a.dtype, "a_base": a.base, "a_rstride": a.rstride,
              "a_lstride": a.lstride, **p, **act}
    if b_exp:
        fields["b_exp"] = 1
    if b is not None:
        fields.update(b_buf=b.buf, b_dtype=b.dtype, b_base=b.base, b_rstride=b.rstride, b_lstride=b.lstride)
    if opcode is Opcode.MAC:                   # a MAC writes one element per lane: no D row stride
        fields.update(acc_in=acc_in, acc_out=acc_out)
    else:
        fields["d_rstride"] = d.rstride
    fields.update(d_buf=d.buf, d_dtype=d.dtype, d_base=d.base, d_lstride=d.lstride)
    builder.emit(opcode, **fields)
    k = PORT_CONFLICT_FACTOR if (b is not None and b.buf == a.buf) else 1     # docs/timing.md rule 1
    result.instructions += 1
    result.issue_cycles += r * k
    if opcode is Opcode.MAC:
        result.macs += n * r
        result.mac_cycles += r
