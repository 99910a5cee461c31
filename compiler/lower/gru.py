"""Lowering of the integer GRU (`QGru`): the nine-instruction step of `QGruCell`, in place.

Per step and direction (int16 throughout, the epilogues of the cell):

    gx = W_ih x   (MACs, lanes over the 3H gate rows, for every position at once, before the steps)
    gh = W_hh h   (MACs, lanes over the 3H gate rows; h = 0: a `mov` of the biases, no MAC)
    r  = gx_r + gh_r -> sigmoid   written over gx_r      (add, in place)
    z  = gx_z + gh_z -> sigmoid   written over gx_z      (add, in place)
    rn = r * gh_n  >> 15          written over gh_n      (mul, in place)
    n  = gx_n + rn -> tanh        written over gx_n      (add, in place)
    d  = h - n                    written over gh_r      (sub; gh_r is dead after r)
    zd = z * d     >> 15          written over d         (mul, in place)
    h' = n + zd                   the output / state     (add)

axis 'frequency': each direction runs over the positions of the frame; h of step p is the output
row of the previous step (no copy), zero at the first step. The two directions of a
bidirectional GRU are recorded separately and interleaved instruction by instruction, so each
fills the other's read-after-write waits. Vectors of one position are processed as
(H / lanes, lanes) blocks: one instruction per operation.

axis 'time': one step per frame for all positions at once; h lives in sbuf (channel-last
(positions, H)) and IS the layer's output tensor: h' overwrites it as the step's last
instruction, after the last read of the old h (gh and d), so no copy is needed at the end of the
frame.
"""
from __future__ import annotations

from npu_model.arch.isa import Buffer, DType, Opcode

from .conv import dense, slice_post
from .dgru import lower_dynamic_gru
from .eltwise import copy, elementwise
from .errors import LoweringError
from .layers import post_of, vector_op
from .schedule import Recorder, interleave
from .tensor import TensorRef

__all__ = ["lower_gru", "grouped_dense", "input_gates", "frequency_directions"]


def lower_gru(ctx, layer):
    x = ctx.value(layer.inputs[0])
    if isinstance(x, list):
        x = ctx.materialise(layer.inputs[0])
    if layer.axis == "time":
        return lower_dynamic_gru(ctx, layer, x) if layer.top_k else _time_gru(ctx, layer, x)
    if layer.axis == "frequency":
        return _frequency_gru(ctx, layer, x)
    raise LoweringError(layer.name, f"unknown GRU axis {layer.axis!r}")


def input_gates(ctx, cell, x, name, groups, gates: int = 3):
    """gx = finish(W_ih x, ep_x) for every position: (positions, gates*H) int16 in abuf (a GRU's
    or an LSTM's cell)."""
    gx = ctx.temp_tensor(name, x.positions, cell.w_ih.shape[0], DType.I16)
    grouped_dense(ctx.b, x, cell.w_ih, post_of(cell.ep_x, ctx.luts), gx, groups, name=name, gates=gates)
    return gx


def grouped_dense(b, x, w, post, out, groups: int, *, name, cache=None, gates: int = 3):
    """out = post(W x) for a recurrent layer's gate matrix W (rows gate-major): with groups, only
    its diagonal blocks (`compiler.fold.ungroup_gru`), one dense product per group and gate."""
    if groups == 1:
        return dense(b, x, w, post, out, name=name, cache=cache)
    cache = {} if cache is None else cache
    h = w.shape[0] // gates
    hg, ig = h // groups, w.shape[1] // groups
    for g in range(groups):
        for k in range(gates):
            r0 = k * h + g * hg
            dense(b, x.view(ch=g * ig, channels=ig), w[r0:r0 + hg, g * ig:(g + 1) * ig], slice_post(post, hg, r0),
                  out.view(ch=r0, channels=hg), name=f"{name}.g{g}.{k}", cache=cache.setdefault((g, k), {}))


def _time_gru(ctx, layer, x):
    if len(layer.cells) != 1:
        raise LoweringError(layer.name, "a time-axis GRU has one direction")
    cell = layer.cells[0]
    hid, length = layer.hidden, x.positions
    luts = ctx.luts
    b = ctx.b
    h = ctx.state_tensor(layer.state, length, hid, DType.I16)        # sbuf, (positions, H)
    gx = input_gates(ctx, cell, x, f"{layer.name}.gx", layer.groups)
    gh = ctx.temp_tensor(f"{layer.name}.gh", length, 3 * hid, DType.I16)
    grouped_dense(b, h, cell.w_hh, post_of(cell.ep_h, luts), gh, layer.groups, name=f"{layer.name}.hh")
    xr, xz, xn = (gx.view(ch=i * hid, channels=hid) for i in range(3))
    hr, hz, hn = (gh.view(ch=i * hid, channels=hid) for i in range(3))
    P = lambda ep: post_of(ep, luts)  # noqa: E731
    elementwise(b, Opcode.ADD, xr, hr, xr, P(cell.ep_r))            # r
    elementwise(b, Opcode.ADD, xz, hz, xz, P(cell.ep_z))            # z
    elementwise(b, Opcode.MUL, xr, hn, hn, P(cell.ep_rn))           # rn = r * gh_n
    elementwise(b, Opcode.ADD, xn, hn, xn, P(cell.ep_n))            # n
    elementwise(b, Opcode.SUB, h, xn, hr, P(cell.ep_d))             # d = h - n
    elementwise(b, Opcode.MUL, xz, hr, hr, P(cell.ep_zd))           # zd = z * d
    elementwise(b, Opcode.ADD, xn, hr, h, P(cell.ep_hnew))          # h' = n + zd -> state
    ctx.note("one step, all positions; h in sbuf updated in place")
    return h


def _frequency_gru(ctx, layer, x):
    return frequency_directions(ctx, layer, x, 3, lambda rec, cell, gx, gh, out, zero, name: _direction(
        rec, ctx, cell, gx, gh, out, zero, name, layer.groups))


def frequency_directions(ctx, layer, x, gates: int, direction):
    """The frequency axis of a GRU or an LSTM: per direction the input gates of every position and
    a one-position recurrent product, the steps recorded by `direction(rec, cell, gx, gh, out,
    zero, name)` (out: the direction's channels of the output; zero: an int16 zero to broadcast),
    and the directions interleaved. Returns the (positions, dirs * H) int16 output."""
    hid, length = layer.hidden, x.positions
    b = ctx.b
    out = ctx.output(layer.output, channel_last=True)
    zero = TensorRef(Buffer.WBUF, b.constant([0, 0, 0, 0], "<i2"), 1, 1, DType.I16, row_stride=0, col_stride=0)
    streams = []
    for di, cell in enumerate(layer.cells):
        gx = input_gates(ctx, cell, x, f"{layer.name}.gx{di}", layer.groups, gates)
        gh = ctx.temp_tensor(f"{layer.name}.gh{di}", 1, gates * hid, DType.I16)
        rec = Recorder(b)
        direction(rec, cell, gx, gh, out.view(ch=di * hid, channels=hid), zero, f"{layer.name}.d{di}")
        streams.append(rec)
    interleave(b, streams)
    ctx.note(f"{len(streams)} direction(s) interleaved, {length} steps")
    if not out.rows_contiguous:
        raise LoweringError(layer.name, "internal: the recurrent output must be channel-last")
    return out


def _direction(rec, ctx, cell, gx, gh, out, zero, name, groups):
    """Record one direction's steps into `rec` (a Recorder)."""
    hid, length = out.channels, out.positions
    luts = ctx.luts
    P = lambda ep: post_of(ep, luts)  # noqa: E731
    post_h = P(cell.ep_h)
    cache = {}
    order = range(length - 1, -1, -1) if cell.reverse else range(length)
    prev = None
    hr, hz, hn = (gh.view(ch=i * hid, channels=hid) for i in range(3))
    for p in order:
        if prev is None:
            copy(rec, zero, gh, post_h)                              # gh = finish(0, ep_h)
            h = zero
        else:
            h = out.view(pos=prev, positions=1)
            grouped_dense(rec, h, cell.w_hh, post_h, gh, groups, name=f"{name}.hh", cache=cache)
        xr, xz, xn = (gx.view(pos=p, positions=1, ch=i * hid, channels=hid) for i in range(3))
        hp = out.view(pos=p, positions=1)
        vector_op(rec, Opcode.ADD, xr, hr, xr, P(cell.ep_r))         # r
        vector_op(rec, Opcode.ADD, xz, hz, xz, P(cell.ep_z))         # z
        vector_op(rec, Opcode.MUL, xr, hn, hn, P(cell.ep_rn))        # rn
        vector_op(rec, Opcode.ADD, xn, hn, xn, P(cell.ep_n))         # n
        vector_op(rec, Opcode.SUB, h, xn, hr, P(cell.ep_d))          # d = h - n
        vector_op(rec, Opcode.MUL, xz, hr, hr, P(cell.ep_zd))        # zd
        vector_op(rec, Opcode.ADD, xn, hr, hp, P(cell.ep_hnew))      # h'
        prev = p
