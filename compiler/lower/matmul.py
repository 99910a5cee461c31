"""Products of two activation tensors (attention: scores Q K^T, weighting A V).

out[m, n] = post(sum_k a[m, k] * B[k, n]) with B = b (a (K, N) tensor) or b transposed (b is
(N, K), e.g. the keys, one row per key). Lanes run over n (A is row m broadcast, B a vector of
lane elements per step) or over m when N is smaller than the lanes. Both operands are read through
their buffers' read ports: in one buffer every step takes two cycles (timing rule 1), so keep one
of them (e.g. K or V) in sbuf when it matters.
"""
from __future__ import annotations

from npu_model.arch.isa import Opcode

from .emit import KernelResult, Operand, Records, emit_compute
from .tensor import Post, TensorRef

__all__ = ["matmul"]


def matmul(builder, a: TensorRef, b: TensorRef, post: Post, out: TensorRef, *, b_transposed: bool = False,
           name: str = "matmul") -> KernelResult:
    """a: (M, K); b: (K, N), or (N, K) with b_transposed; out: (M, N). post per output column n."""
    if b_transposed:
        b = TensorRef(b.buf, b.offset, b.channels, b.positions, b.dtype, row_stride=b.col_stride,
                      col_stride=b.row_stride)
    m, k = a.shape
    if b.positions != k:
        raise ValueError(f"{name}: a is {m}x{k}, B has {b.positions} rows")
    n_all = b.channels
    if out.shape != (m, n_all):
        raise ValueError(f"{name}: output is {out.positions}x{out.channels}, the product {m}x{n_all}")
    lanes = builder.config.lanes
    rec = Records(builder, post, n_all)
    act = rec.act_fields()
    over_rows = rec.uniform and -(-m // lanes) * n_all < m * -(-n_all // lanes)
    res = KernelResult(mode="positions" if over_rows else "channels")
    if not over_rows:
        for i in range(m):
            for n0 in range(0, n_all, lanes):
                n = min(lanes, n_all - n0)
                emit_compute(builder, res, Opcode.MAC, n=n, r=k,
                             a=Operand(a.buf, a.dtype, a.addr(i, 0), a.col_stride, 0),
                             b=Operand(b.buf, b.dtype, b.addr(0, n0), b.row_stride, b.col_stride),
                             d=Operand(out.buf, out.dtype, out.addr(i, n0), 0, out.col_stride),
                             p=rec.p(n0, True), act=act)
    else:
        for i0 in range(0, m, lanes):
            n = min(lanes, m - i0)
            for j in range(n_all):
                emit_compute(builder, res, Opcode.MAC, n=n, r=k,
                             a=Operand(a.buf, a.dtype, a.addr(i0, 0), a.col_stride, a.row_stride),
                             b=Operand(b.buf, b.dtype, b.addr(0, j), b.row_stride, 0),
                             d=Operand(out.buf, out.dtype, out.addr(i0, j), 0, out.row_stride),
                             p=rec.p(j, False), act=act)
    return res
