"""Element-wise operations and strided copies (transpose, concat, layout and type changes).

One instruction processes r vectors of n elements. Lanes run over channels (r over positions) or
over positions (r over channels), whichever takes fewer cycles; a per-channel parameter record
(p_vec) needs lanes over channels. Operands broadcast with stride 0: a tensor with one position
is used at every position, one with one channel at every channel.
"""
from __future__ import annotations

from dataclasses import replace

from npu_model.arch.isa import MAX_STEPS, Opcode

from .emit import KernelResult, Operand, Records, emit_compute
from .tensor import IDENTITY, Post, TensorRef

__all__ = ["elementwise", "copy", "ELEMENTWISE_OPS"]

ELEMENTWISE_OPS = (Opcode.ADD, Opcode.SUB, Opcode.MUL, Opcode.MAX, Opcode.MIN, Opcode.MOV)


def _broadcast(t: TensorRef, out: TensorRef, what: str) -> TensorRef:
    if t.positions != out.positions:
        if t.positions != 1:
            raise ValueError(f"{what}: {t.positions} positions for an output of {out.positions}")
        t = replace(t, positions=out.positions, row_stride=0)
    if t.channels != out.channels:
        if t.channels != 1:
            raise ValueError(f"{what}: {t.channels} channels for an output of {out.channels}")
        t = replace(t, channels=out.channels, col_stride=0)
    return t


def elementwise(builder, op: Opcode, a: TensorRef, b: TensorRef | None, out: TensorRef,
                post: Post = IDENTITY, *, lanes_over: str = "auto", b_exp: bool = False) -> KernelResult:
    """out[p, c] = post(op(a[p, c], b[p, c])) for op in add/sub/mul/max/min, or post(a[p, c]) for mov.

    a, b broadcast from one position or one channel. `post` is applied per output channel
    (bias + requantisation + activation). out may be a (e.g. transposed or strided) view; an
    in-place update needs out addressed exactly like a or b. lanes_over: 'auto', 'channels' or
    'positions'. b_exp: a `mul` reading b as block-float scales (act=rsqrt's output).
    """
    op = Opcode(op)
    if op not in ELEMENTWISE_OPS:
        raise ValueError(f"{op.name} is not an element-wise opcode")
    if (op is Opcode.MOV) != (b is None):
        raise ValueError("mov takes one operand, the other element-wise opcodes two")
    if out.row_stride == 0 or out.col_stride == 0:
        raise ValueError("the destination cannot broadcast")
    lanes = builder.config.lanes
    a = _broadcast(a, out, "operand A")
    b = _broadcast(b, out, "operand B") if b is not None else None
    P, C = out.positions, out.channels
    rec = Records(builder, post, C)
    act = rec.act_fields()
    cost_ch = -(-C // lanes) * P
    cost_pos = -(-P // lanes) * C
    if lanes_over == "auto":
        lanes_over = "positions" if (rec.uniform and cost_pos < cost_ch) else "channels"
    if lanes_over == "positions" and not rec.uniform:
        raise ValueError("lanes over positions need one parameter record for every channel")
    res = KernelResult(mode=lanes_over)
    # An update in place (or any output overlapping a source) makes every lane tile's footprint
    # overlap the next tile's source: the tiles would wait for each other. Splitting the steps
    # into two halves and alternating them keeps consecutive instructions on disjoint rows.
    halves = 2 if any(_overlaps(out, t) for t in (a, b) if t is not None) else 1
    if lanes_over == "channels":
        work = [(c0, min(lanes, C - c0), p0, r) for c0 in range(0, C, lanes)
                for p0, r in _chunks(P, halves)]
        for c0, n, p0, r in work:
            ops = [Operand(t.buf, t.dtype, t.addr(p0, c0), t.row_stride, t.col_stride) if t is not None
                   else None for t in (a, b, out)]
            emit_compute(builder, res, op, n=n, r=r, a=ops[0], b=ops[1], d=ops[2], p=rec.p(c0, True), act=act,
                         b_exp=b_exp)
    else:
        work = [(p0, min(lanes, P - p0), c0, r) for p0 in range(0, P, lanes) for c0, r in _chunks(C, halves)]
        for p0, n, c0, r in work:
            ops = [Operand(t.buf, t.dtype, t.addr(p0, c0), t.col_stride, t.row_stride) if t is not None
                   else None for t in (a, b, out)]
            emit_compute(builder, res, op, n=n, r=r, a=ops[0], b=ops[1], d=ops[2], p=rec.p(0, False), act=act,
                         b_exp=b_exp)
    return res


def _chunks(steps: int, parts: int):
    """(first step, steps) of `parts` near-equal chunks, each at most the ISA's r."""
    parts = max(min(parts, steps), -(-steps // MAX_STEPS))
    bounds = [steps * i // parts for i in range(parts + 1)]
    return [(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:])]


def _overlaps(x: TensorRef, y: TensorRef) -> bool:
    if x.buf != y.buf:
        return False
    xlo, xhi = x.footprint()
    ylo, yhi = y.footprint()
    return xlo <= yhi and ylo <= xhi


def copy(builder, src: TensorRef, dst: TensorRef, post: Post = IDENTITY, *,
         lanes_over: str = "auto") -> KernelResult:
    """dst = post(src): strided copy (transpose with `dst.transposed_store()`, a concat by copying
    into channel views of one tensor, int8 <-> int16 conversion, requantisation, activation)."""
    return elementwise(builder, Opcode.MOV, src, None, dst, post, lanes_over=lanes_over)
