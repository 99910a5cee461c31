"""Lowering of a dynamic GRU (D-GRU, `QGru.top_k`): the select gate on the NPU's top-k unit.

Per frame, for all positions at once (lanes over neurons, as the plain GRU):

    gz = W_iz x,  hz = W_hz h   (the update gate's rows only)
    z  = gz + hz -> sigmoid      written over gz

then per position, K = top_k of the H neurons (docs/isa.md `topk`, "Indexed loops", `dot`):

    topk  -z                     IDX = the K neurons of smallest z (largest 1 - z)
    loop K, indexed b and p:     four `dot`s over the selected rows j = IDX[i], lanes over each
                                 row's inputs: cxr[i] = W_ir[j] x, chr[i] = W_hr[j] h,
                                 cxn[i] = W_in[j] x, chn[i] = W_hn[j] h (row j's records)
    r, rn, n on the K compacted values (vector instructions)
    loop K, indexed a:           gather cz[i] = z[j], ch[i] = h[j]
    d, zd, h' on the K compacted values
    loop K, indexed d:           scatter h[j] = h'[i]

The integer operations per selected neuron are those of `QGruCell`, so the result is the plain
GRU's for the K neurons and the old state for the others (`compiler.quant.int_layers.gru_cell_int`).
The weight rows are stored row-major, each padded with zeros to the same pitch (a multiple of
the lanes) so one loop increment serves all four; an input whose rows are not a whole number
of lane-wide runs is copied into a padded temporary first (the padding meets zero weights).
"""
from __future__ import annotations

import numpy as np

from npu_model.arch.isa import LOOP_SLOTS, Act, Buffer, DType, Opcode
from npu_model.arch.record import RECORD_BYTES

from .conv import dense, slice_post
from .eltwise import copy, elementwise
from .emit import Records
from .errors import LoweringError
from .layers import post_of, vector_op
from .tensor import IDENTITY

__all__ = ["lower_dynamic_gru"]

_IDX = {slot[0]: 1 << j for j, slot in enumerate(LOOP_SLOTS)}     # the loop's idx bit of a, b, d, p


def lower_dynamic_gru(ctx, layer, x):
    cell = layer.cells[0]
    hid, k, length = layer.hidden, layer.top_k, x.positions
    b = ctx.b
    cfg = b.config
    if cfg.topk_entries < k:
        raise LoweringError(layer.name, f"top_k {k} needs a top-k unit of at least {k} index registers; the "
                                        f"configuration has topk_entries {cfg.topk_entries} (set it to {k} or more)")
    lanes = cfg.lanes
    P = lambda ep: post_of(ep, ctx.luts)  # noqa: E731
    h = ctx.state_tensor(layer.state, length, hid, DType.I16)          # sbuf, (positions, H)
    name = layer.name

    # the update gate of every neuron
    gz = ctx.temp_tensor(f"{name}.gz", length, hid, DType.I16)
    hz = ctx.temp_tensor(f"{name}.hz", length, hid, DType.I16)
    dense(b, x, cell.w_ih[hid:2 * hid], slice_post(P(cell.ep_x), hid, hid), gz, name=f"{name}.xz")
    dense(b, h, cell.w_hh[hid:2 * hid], slice_post(P(cell.ep_h), hid, hid), hz, name=f"{name}.hz")
    elementwise(b, Opcode.ADD, gz, hz, gz, P(cell.ep_z))

    # the selected rows: weights row-major at one pitch, one record per row
    steps = {"x": -(-x.channels // lanes), "h": -(-hid // lanes)}
    pitch = lanes * max(steps.values())
    src = {"x": _padded(ctx, x, steps["x"] * lanes, f"{name}.xp"), "h": _padded(ctx, h, steps["h"] * lanes, f"{name}.hp")}
    dots = []
    for gate, row0 in (("r", 0), ("n", 2 * hid)):
        for part, w, ep in (("x", cell.w_ih, cell.ep_x), ("h", cell.w_hh, cell.ep_h)):
            rows = np.zeros((hid, pitch), np.int8)
            rows[:, :w.shape[1]] = w[row0:row0 + hid]
            post = slice_post(P(ep), hid, row0)
            if post.act != Act.NONE:
                raise LoweringError(layer.name, "internal: a GRU's gate products are requantised, not activated")
            out = ctx.temp_tensor(f"{name}.c{part}{gate}", length, k, DType.I16)
            dots.append((part, b.weights(f"{name}.w{part}{gate}", rows), b.params(*post.per_channel(hid)), out))
    cxr, chr_, cxn, chn = (d[3] for d in dots)
    cz = ctx.temp_tensor(f"{name}.cz", length, k, DType.I16)
    ch = ctx.temp_tensor(f"{name}.ch", length, k, DType.I16)
    negate = b.params(np.array([0]), np.array([-1]), np.array([0]))   # topk keeps the largest: -z
    ident = Records(b, IDENTITY, 1)

    def one(t, p):
        return t.view(pos=p, positions=1)

    for p in range(length):
        b.emit(Opcode.TOPK, n=1, r=hid, a_buf=Buffer.ABUF, a_dtype=DType.I16, a_base=gz.addr(p), a_rstride=2,
               p_base=negate, d_dtype=DType.I16)
        with b.loop(k, idx=_IDX["b"] | _IDX["p"], b_inc=pitch, d_inc=2, p_inc=RECORD_BYTES):
            for part, w_base, p_base, out in dots:
                a = src[part]
                b.emit(Opcode.DOT, n=lanes, r=steps[part], a_buf=a.buf, a_dtype=a.dtype, a_base=a.addr(p),
                       a_rstride=lanes * a.size, a_lstride=a.size, b_buf=Buffer.WBUF, b_dtype=DType.I8, b_base=w_base,
                       b_rstride=lanes, b_lstride=1, d_buf=Buffer.ABUF, d_dtype=DType.I16, d_base=out.addr(p),
                       p_base=p_base)
        vector_op(b, Opcode.ADD, one(cxr, p), one(chr_, p), one(cxr, p), P(cell.ep_r))      # r
        vector_op(b, Opcode.MUL, one(cxr, p), one(chn, p), one(chn, p), P(cell.ep_rn))      # rn = r * gh_n
        vector_op(b, Opcode.ADD, one(cxn, p), one(chn, p), one(cxn, p), P(cell.ep_n))       # n
        with b.loop(k, idx=_IDX["a"], a_inc=2, d_inc=2):                                     # gather z, h
            for t, c in ((gz, cz), (h, ch)):
                b.emit(Opcode.MOV, n=1, r=1, a_buf=t.buf, a_dtype=DType.I16, a_base=t.addr(p), d_buf=Buffer.ABUF,
                       d_dtype=DType.I16, d_base=c.addr(p), **ident.p(0, False))
        vector_op(b, Opcode.SUB, one(ch, p), one(cxn, p), one(chr_, p), P(cell.ep_d))       # d = h - n
        vector_op(b, Opcode.MUL, one(cz, p), one(chr_, p), one(chr_, p), P(cell.ep_zd))     # zd = z * d
        vector_op(b, Opcode.ADD, one(cxn, p), one(chr_, p), one(chr_, p), P(cell.ep_hnew))  # h' = n + zd
        with b.loop(k, idx=_IDX["d"], a_inc=2, d_inc=2):                                     # scatter h'
            b.emit(Opcode.MOV, n=1, r=1, a_buf=Buffer.ABUF, a_dtype=DType.I16, a_base=chr_.addr(p), d_buf=h.buf,
                   d_dtype=DType.I16, d_base=h.addr(p), **ident.p(0, False))
    ctx.note(f"D-GRU: z of {hid} neurons, then r and n of the top {k} per position (topk, indexed loops of dot)")
    return h


def _padded(ctx, t, width, name):
    """t itself when each row is `width` readable elements from its start (contiguous rows whose
    length is a multiple of the lanes), else a copy into rows of `width` elements."""
    if t.rows_contiguous and t.channels == width:
        return t
    out = ctx.temp_tensor(name, t.positions, width, t.dtype)
    copy(ctx.b, t, out.view(channels=t.channels))
    return out
