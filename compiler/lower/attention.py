"""Lowering of the integer multi-head self-attention (`QAttention`) along the positions.

    q, k, v = W x             dense (lanes over output features); K and V go to sbuf scratch so
                              that Q.K^T and P.V read their two operands through two ports
    s_h = q_h k_h^T           matmul per head into one (heads*L, L) int16 score matrix
    m   = max over keys       a tree of element-wise maxima over column halves
    e   = s - m -> exp        sub with m broadcast over the keys, in place over s
    sum = e . 1 -> 1/x        MACs against a ones vector in wbuf (lanes over query rows)
    p   = e * sum >> 15       mul with sum broadcast, in place over e
    o_h = p_h v_h             matmul per head into the head's columns of o (int16)
    y   = W_o o               dense

Every step uses the epilogue of the same step of the integer reference.
"""
from __future__ import annotations

import numpy as np

from npu_model.arch.isa import Buffer, DType, Opcode

from .conv import dense
from .eltwise import elementwise
from .layers import dtype_of, post_of
from .matmul import matmul
from .tensor import TensorRef

__all__ = ["lower_attention"]


def lower_attention(ctx, layer):
    b, luts = ctx.b, ctx.luts
    x = ctx.value(layer.inputs[0])
    if isinstance(x, list):
        x = ctx.materialise(layer.inputs[0])
    length = x.positions
    heads = layer.heads
    dim = layer.q.weight.shape[0]
    dk = dim // heads
    P = lambda ep: post_of(ep, luts)  # noqa: E731
    name = layer.name

    q = ctx.temp_tensor(f"{name}.q", length, dim, dtype_of(layer.q.ep.out_dtype))
    k = ctx.sbuf_tensor(f"{name}.k", length, dim, dtype_of(layer.k.ep.out_dtype))
    v = ctx.sbuf_tensor(f"{name}.v", length, dim, dtype_of(layer.v.ep.out_dtype))
    for proj, dst in ((layer.q, q), (layer.k, k), (layer.v, v)):
        dense(b, x, proj.weight, P(proj.ep), dst, name=f"{name}.{'qkv'[(q, k, v).index(dst)]}")

    s = ctx.temp_tensor(f"{name}.scores", heads * length, length, dtype_of(layer.ep_scores.out_dtype))
    for h in range(heads):
        matmul(b, q.view(ch=h * dk, channels=dk), k.view(ch=h * dk, channels=dk), P(layer.ep_scores),
               s.view(pos=h * length, positions=length), b_transposed=True, name=f"{name}.s{h}")

    # m = max over keys: column halves, ceil(w/2) wide each level (the middle column of an odd
    # width meets itself), into fresh temporaries (a column half of one tensor overlaps the other).
    src, width, level = s, length, 0
    while width > 1:
        c = -(-width // 2)
        dst = ctx.temp_tensor(f"{name}.max{level}", heads * length, c, s.dtype)
        elementwise(b, Opcode.MAX, src.view(ch=0, channels=c), src.view(ch=width - c, channels=c), dst)
        src, width, level = dst, c, level + 1
    m = src                                                            # (heads*L, 1)

    elementwise(b, Opcode.SUB, s, m, s, P(layer.ep_exp))                # e, in place
    ones = TensorRef(Buffer.WBUF, b.constant(np.ones(max(length, 8), np.int8), np.int8), length, 1, DType.I8)
    r = ctx.temp_tensor(f"{name}.recip", heads * length, 1, dtype_of(layer.ep_sum.out_dtype))
    matmul(b, s, ones, P(layer.ep_sum), r, name=f"{name}.sum")
    elementwise(b, Opcode.MUL, s, r, s, P(layer.ep_prob))               # p, in place

    o = ctx.temp_tensor(f"{name}.o", length, dim, dtype_of(layer.ep_av.out_dtype))
    for h in range(heads):
        matmul(b, s.view(pos=h * length, positions=length), v.view(ch=h * dk, channels=dk), P(layer.ep_av),
               o.view(ch=h * dk, channels=dk), name=f"{name}.av{h}")
    out = ctx.output(layer.output)
    dense(b, o, layer.o.weight, P(layer.o.ep), out, name=f"{name}.o")
    ctx.note(f"{heads} heads; K, V in sbuf")
    return out

