"""The integer reference of every quantised layer, in the NPU's arithmetic (`intmath.finish`).

Each function follows the instruction sequence its layer's docstring in `qnet.py` describes:
an exact integer accumulation (float64 BLAS on integer values, exact, see reference.linear),
then `finish` with the layer's epilogue. Tensors are int64 arrays (T, C, L) holding int8/int16
values. Functions return (output, new state).
"""
from __future__ import annotations

import numpy as np

from ..reference.linear import conv1d, conv_transpose1d, exact_int, pixel_shuffle, reshape_frames, time_conv
from .intmath import finish, scale_product

__all__ = ["INT_LAYERS", "gru_cell_int", "lstm_cell_int"]


def _f(a):
    return np.asarray(a, np.float64)


def _conv(layer, ins, state, luts):
    acc, new_state = _over_time(layer, ins[0], state, lambda x, w: conv1d(
        x, w, stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups))
    return finish(exact_int(acc), layer.ep, luts), new_state


def _conv_t(layer, ins, state, luts):
    acc, new_state = _over_time(layer, ins[0], state, lambda x, w: conv_transpose1d(
        x, w, stride=layer.stride, padding=layer.padding, output_padding=layer.output_padding,
        dilation=layer.dilation, groups=layer.groups), transposed=True)
    return finish(exact_int(acc), layer.ep, luts), new_state


def _over_time(layer, x, state, one, transposed=False):
    """The exact accumulation of a 1-D convolution, or of a 2-D one over the current and past
    frames (int64 past frames in `state`, zeros at the start) -> (float64 integer sums, new state)."""
    w = _f(layer.weight)
    if w.ndim == 3:
        return one(_f(x), w), None
    dt = layer.time_dilation
    past = np.zeros(((w.shape[2] - 1) * dt,) + x.shape[1:], np.int64) if state is None else state
    acc, new_state = time_conv(one, _f(x), w, _f(past), transposed=transposed, dilation=dt)
    return acc, new_state.astype(np.int64)


def _complex_conv_time(layer, ins, state, luts):
    x = ins[0]
    w = _f(layer.weight)
    k = w.shape[2]
    past = np.zeros((k - 1,) + x.shape[1:], np.int64) if state is None else state
    xs = np.concatenate([past, x], axis=0)
    t = x.shape[0]
    acc = np.zeros((t, w.shape[0], x.shape[2]))
    for tap in range(k):
        acc += np.matmul(w[:, :, tap], _f(xs[tap: tap + t]))
    return finish(exact_int(acc), layer.ep, luts), xs[xs.shape[0] - (k - 1):]


def _magnitude(layer, ins, state, luts):
    x = ins[0]
    c = x.shape[1] // 2
    re, im = x[:, None, :c], x[:, None, c:]                              # (T, 1, C, L)
    d = layer.directions.astype(np.int64)
    acc = re * d[:, 0, None, None] + im * d[:, 1, None, None]           # (T, N, C, L)
    return finish(acc, layer.ep, luts).max(axis=1), None


def gru_cell_int(cell, gx, gh, h, luts, axis, top_k: int = 0):
    """One integer GRU step; gates stacked r, z, n along `axis` of gx and gh. With top_k (a
    D-GRU, time axis: neurons along axis 0) only the top_k neurons the NPU's `topk` selects are
    updated: the largest -z saturated to int16, ties to the lower neuron (docs/isa.md `topk`)."""
    xr, xz, xn = np.split(gx, 3, axis=axis)
    hr, hz, hn = np.split(gh, 3, axis=axis)
    r = finish(xr + hr, cell.ep_r, luts)
    z = finish(xz + hz, cell.ep_z, luts)
    rn = finish(r * hn, cell.ep_rn)
    n = finish(xn + rn, cell.ep_n, luts)
    d = finish(h - n, cell.ep_d)
    zd = finish(z * d, cell.ep_zd)
    new = finish(n + zd, cell.ep_hnew)
    if not top_k:
        return new
    v = np.clip(-z, -32768, 32767)
    order = np.argsort(-v, axis=0, kind="stable")[:top_k]
    keep = np.zeros(v.shape, bool)
    np.put_along_axis(keep, order, True, axis=0)
    return np.where(keep, new, h)


def _recurrent(layer, x, state, step, carried: int):
    """A GRU or LSTM layer: per direction, the input products of every frame and position at once,
    then the steps along frequency (state from zero every frame) or along time (state kept).
    `step(cell, gx, gh, s, axis)` maps the `carried` state tensors s (h first; c too for an LSTM)
    to the next. Returns (outputs stacked by direction, the state tuple after the last frame)."""
    t, _, length = x.shape
    hid = layer.hidden
    outs, new_state = [], None
    for cell in layer.cells:
        gx = finish(exact_int(np.matmul(_f(cell.w_ih), _f(x))), cell.ep_x)          # (T, gates*H, L)
        w_hh = _f(cell.w_hh)
        out = np.zeros((t, hid, length), np.int64)
        if layer.axis == "frequency":
            s = (np.zeros((t, hid), np.int64),) * carried
            for pos in (range(length - 1, -1, -1) if cell.reverse else range(length)):
                gh = finish(exact_int(_f(s[0]) @ w_hh.T), cell.ep_h, channel_axis=False)  # (T, gates*H)
                s = step(cell, gx[:, :, pos], gh, s, -1)
                out[:, :, pos] = s[0]
        else:
            s = (np.zeros((hid, length), np.int64),) * carried if state is None else tuple(state)
            for k in range(t):
                gh = finish(exact_int(w_hh @ _f(s[0])), cell.ep_h)                         # (gates*H, L)
                s = step(cell, gx[k], gh, s, 0)
                out[k] = s[0]
            new_state = s
        outs.append(out)
    return np.concatenate(outs, axis=1), new_state


def _gru(layer, ins, state, luts):
    out, s = _recurrent(layer, ins[0], None if state is None else (state,),
                        lambda cell, gx, gh, s, axis: (gru_cell_int(cell, gx, gh, s[0], luts, axis, layer.top_k),), 1)
    return out, None if s is None else s[0]


def lstm_cell_int(cell, gx, gh, h, c, luts, axis):
    """One integer LSTM step (`QLstmCell`); gates stacked i, f, g, o along `axis`. -> (h', c')."""
    xi, xf, xg, xo = np.split(gx, 4, axis=axis)
    hi, hf, hg, ho = np.split(gh, 4, axis=axis)
    i = finish(xi + hi, cell.ep_i, luts)
    f = finish(xf + hf, cell.ep_f, luts)
    g = finish(xg + hg, cell.ep_g, luts)
    o = finish(xo + ho, cell.ep_o, luts)
    c = finish(finish(f * c, cell.ep_fc) + finish(i * g, cell.ep_ig), cell.ep_c)
    return finish(o * finish(c, cell.ep_tc, luts), cell.ep_hnew), c


def _lstm(layer, ins, state, luts):
    """As `_gru`; the state along time is h and c stacked, (2, H, L)."""
    out, s = _recurrent(layer, ins[0], state,
                        lambda cell, gx, gh, s, axis: lstm_cell_int(cell, gx, gh, s[0], s[1], luts, axis), 2)
    return out, None if s is None else np.stack(s)


def _attention(layer, ins, state, luts):
    x = ins[0]
    t, _, length = x.shape
    heads = layer.heads
    q, k, v = (finish(exact_int(np.matmul(_f(p.weight), _f(x))), p.ep, luts) for p in (layer.q, layer.k, layer.v))
    dim = q.shape[1]
    dk = dim // heads
    q, k, v = (a.reshape(t, heads, dk, length) for a in (q, k, v))
    s = finish(exact_int(np.einsum("thdi,thdj->thij", _f(q), _f(k))), layer.ep_scores)   # (T, h, Lq, Lk)
    m = s.max(axis=-1, keepdims=True)
    e = finish(s - m, layer.ep_exp, luts)
    r = finish(e.sum(axis=-1, keepdims=True), layer.ep_sum, luts)
    p = finish(e * r, layer.ep_prob)
    o = finish(exact_int(np.einsum("thij,thdj->thdi", _f(p), _f(v))), layer.ep_av).reshape(t, dim, length)
    y = finish(exact_int(np.matmul(_f(layer.o.weight), _f(o))), layer.o.ep, luts)
    return y, None


def _concat(layer, ins, state, luts):
    parts = [x if ep is None else finish(x, ep, luts) for x, ep in zip(ins, layer.eps)]
    return np.concatenate(parts, axis=1), None


def _add(layer, ins, state, luts):
    a, b = ins
    if layer.align is not None:
        i, ep = layer.align
        a, b = (finish(a, ep), b) if i == 0 else (a, finish(b, ep))
    return finish(a + b, layer.ep, luts), None


def _reshape(layer, ins, state, luts):
    return reshape_frames(ins[0], layer.shape, layer.order), None


def _pixel_shuffle(layer, ins, state, luts):
    return pixel_shuffle(ins[0], layer.factor), None


def _channels(layer, ins, state, luts):
    return ins[0][:, list(layer.index)], None


def _mul(layer, ins, state, luts):
    return finish(ins[0] * ins[1], layer.ep, luts), None


def _prelu(layer, ins, state, luts):
    x = ins[0]
    return finish(x + finish(np.minimum(x, 0), layer.ep_neg), layer.ep), None


def _layer_norm(layer, ins, state, luts):
    x = ins[0]                                                     # (T, C, L)
    axes = 1 if layer.over == "channels" else (1, 2)
    m = finish(x.sum(axis=axes, keepdims=True), layer.ep_mean)
    d = finish(x - m, layer.ep_dev)
    r = finish((d * d).sum(axis=axes, keepdims=True), layer.ep_rsqrt, luts)
    prod, exp = scale_product(d, r)
    n = finish(prod, layer.ep_norm, extra_shift=exp)
    g = layer.gamma.astype(np.int64)
    y = finish(n * g.reshape(g.shape[0], -1), layer.ep_affine)
    if layer.beta is not None:
        y = finish(y + layer.beta.astype(np.int64), layer.ep_beta)
    return y, None


def _activation(layer, ins, state, luts):
    return finish(ins[0], layer.ep, luts), None


INT_LAYERS = {
    "conv1d": _conv, "conv_transpose1d": _conv_t, "conv2d": _conv, "conv_transpose2d": _conv_t,
    "complex_conv_time": _complex_conv_time,
    "magnitude": _magnitude, "gru": _gru, "attention": _attention, "concat": _concat, "add": _add,
    "activation": _activation, "mul": _mul, "prelu": _prelu, "dense": _conv, "reshape": _reshape,
    "lstm": _lstm, "layer_norm": _layer_norm, "pixel_shuffle": _pixel_shuffle,
    "channels": _channels,
}
