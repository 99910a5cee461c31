"""Float numpy implementation of every NPU op, on folded layers, frames batched.

Each function takes the folded layer, its input arrays (T, C, L) and the layer's state (None for
stateless ops) and returns (output, new state). `probe(name, array)` receives internal values
(gate pre-activations, attention scores, ...) so that calibration can size the integer formats.
"""
from __future__ import annotations

import numpy as np

from ..ops.elementwise import TABLE_FUNCTIONS
from ..ops.gru import top_k_of
from .linear import conv1d, conv_transpose1d, pixel_shuffle, reshape_frames, time_conv

__all__ = ["FLOAT_LAYERS", "activate", "sigmoid", "gru_cell"]


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def activate(x, name: str):
    if name == "none":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    raise ValueError(name)


def _no_probe(name, value):
    pass


def _conv(fl, ins, state, probe):
    a = fl.attrs
    pre, new_state = _over_time(fl, ins[0], state, lambda x, w: conv1d(
        x, w, stride=a["stride"], padding=a["padding"], dilation=a["dilation"], groups=a["groups"]))
    pre = pre + fl.params["bias"][:, None]
    probe("pre", pre)
    return activate(pre, a["activation"]), new_state


def _conv_t(fl, ins, state, probe):
    a = fl.attrs
    pre, new_state = _over_time(fl, ins[0], state, lambda x, w: conv_transpose1d(
        x, w, stride=a["stride"], padding=a["padding"], output_padding=a["output_padding"],
        dilation=a["dilation"], groups=a["groups"]), transposed=True)
    pre = pre + fl.params["bias"][:, None]
    probe("pre", pre)
    return activate(pre, a["activation"]), new_state


def _over_time(fl, x, state, one, transposed=False):
    """A convolution along frequency (3-D weight), or over (time, frequency) with its past frames
    (4-D weight: conv2d, conv_transpose2d) -> (pre-activation without bias, new state)."""
    w = fl.params["weight"]
    if w.ndim == 3:
        return one(x, w), None
    dt = fl.attrs["time_dilation"]
    past = np.zeros(((w.shape[2] - 1) * dt,) + x.shape[1:]) if state is None else state
    return time_conv(one, x, w, past, transposed=transposed, dilation=dt)


def gru_cell(gx, gh, h, axis):
    """PyTorch GRU update; gx, gh hold the r, z, n blocks along `axis`. Returns (h', r, z, n)."""
    xr, xz, xn = np.split(gx, 3, axis=axis)
    hr, hz, hn = np.split(gh, 3, axis=axis)
    r = sigmoid(xr + hr)
    z = sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1.0 - z) * n + z * h, r, z, n


def top_k_update(z, k):
    """D-GRU's select gate along axis 0 (neurons): True for the k neurons of each column with the
    smallest z (the largest update weight 1 - z), ties to the lower neuron."""
    keep = np.zeros(z.shape, bool)
    np.put_along_axis(keep, np.argsort(z, axis=0, kind="stable")[:k], True, axis=0)
    return keep


def _probe_gates(probe, name, g, axis, names="rzn"):
    for gate, block in zip(names, np.split(g, len(names), axis=axis)):
        probe(f"{name}.{gate}", block)


def _gru(fl, ins, state, probe):
    x = ins[0]
    t, _, length = x.shape
    hid = fl.attrs["hidden"]
    outs = []
    new_state = None
    for d in fl.attrs["directions"]:
        w_ih, w_hh = fl.params[f"weight_ih{d}"], fl.params[f"weight_hh{d}"]
        b_ih, b_hh = fl.params[f"bias_ih{d}"], fl.params[f"bias_hh{d}"]
        gx = np.matmul(w_ih, x) + b_ih[:, None]                         # (T, 3H, L)
        _probe_gates(probe, f"gx{d}", gx, axis=1)
        out = np.zeros((t, hid, length))
        if fl.attrs["axis"] == "frequency":
            h = np.zeros((t, hid))
            order = range(length - 1, -1, -1) if d else range(length)
            for pos in order:
                gh = h @ w_hh.T + b_hh                                  # (T, 3H)
                _probe_gates(probe, f"gh{d}", gh, axis=-1)
                h = gru_cell(gx[:, :, pos], gh, h, axis=-1)[0]
                out[:, :, pos] = h
        else:
            h = np.zeros((hid, length)) if state is None else state
            k = top_k_of(fl.attrs)
            for step in range(t):
                gh = w_hh @ h + b_hh[:, None]                           # (3H, L)
                _probe_gates(probe, f"gh{d}", gh, axis=0)
                new, _, z, _ = gru_cell(gx[step], gh, h, axis=0)
                h = np.where(top_k_update(z, k), new, h) if k else new
                out[step] = h
            new_state = h
        outs.append(out)
    return np.concatenate(outs, axis=1), new_state


def lstm_cell(gx, gh, h, c, axis):
    """PyTorch LSTM update; gx, gh hold the i, f, g, o blocks along `axis`. Returns (h', c')."""
    xi, xf, xg, xo = np.split(gx, 4, axis=axis)
    hi, hf, hg, ho = np.split(gh, 4, axis=axis)
    c = sigmoid(xf + hf) * c + sigmoid(xi + hi) * np.tanh(xg + hg)
    return sigmoid(xo + ho) * np.tanh(c), c


def _lstm(fl, ins, state, probe):
    """As `_gru`; the state along time is (h, c), each (H, L)."""
    x = ins[0]
    t, _, length = x.shape
    hid = fl.attrs["hidden"]
    outs, new_state = [], None
    for d in fl.attrs["directions"]:
        w_ih, w_hh = fl.params[f"weight_ih{d}"], fl.params[f"weight_hh{d}"]
        b_ih, b_hh = fl.params[f"bias_ih{d}"], fl.params[f"bias_hh{d}"]
        gx = np.matmul(w_ih, x) + b_ih[:, None]                         # (T, 4H, L)
        _probe_gates(probe, f"gx{d}", gx, axis=1, names="ifgo")
        out = np.zeros((t, hid, length))
        if fl.attrs["axis"] == "frequency":
            h, c = np.zeros((t, hid)), np.zeros((t, hid))
            for pos in (range(length - 1, -1, -1) if d else range(length)):
                gh = h @ w_hh.T + b_hh
                _probe_gates(probe, f"gh{d}", gh, axis=-1, names="ifgo")
                h, c = lstm_cell(gx[:, :, pos], gh, h, c, axis=-1)
                probe(f"c{d}", c)
                out[:, :, pos] = h
        else:
            h, c = (np.zeros((hid, length)), np.zeros((hid, length))) if state is None else state
            for step in range(t):
                gh = w_hh @ h + b_hh[:, None]
                _probe_gates(probe, f"gh{d}", gh, axis=0, names="ifgo")
                h, c = lstm_cell(gx[step], gh, h, c, axis=0)
                probe(f"c{d}", c)
                out[step] = h
            new_state = (h, c)
        outs.append(out)
    return np.concatenate(outs, axis=1), new_state


def _attention(fl, ins, state, probe):
    x = ins[0]
    t, _, length = x.shape
    p, heads = fl.params, fl.attrs["heads"]
    proj = {}
    for name in ("q", "k", "v"):
        proj[name] = np.matmul(p[f"{name}.weight"], x) + p[f"{name}.bias"][:, None]
        probe(name, proj[name])
    dk = proj["q"].shape[1] // heads
    q, k, v = (proj[n].reshape(t, heads, dk, length) for n in ("q", "k", "v"))
    scores = np.einsum("thdi,thdj->thij", q, k) / np.sqrt(dk)
    probe("scores", scores)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attn = e / e.sum(axis=-1, keepdims=True)
    o = np.einsum("thij,thdj->thdi", attn, v).reshape(t, heads * dk, length)
    probe("o", o)
    return np.matmul(p["o.weight"], o) + p["o.bias"][:, None], None


def _complex_conv_time(fl, ins, state, probe):
    x = ins[0]
    w, b = fl.params["weight"], fl.params["bias"]                        # (2Co, 2Ci, K)
    k = w.shape[2]
    t = x.shape[0]
    past = np.zeros((k - 1,) + x.shape[1:]) if state is None else state
    xs = np.concatenate([past, x], axis=0)
    out = np.zeros((t, w.shape[0], x.shape[2])) + b[:, None]
    for tap in range(k):
        out += np.matmul(w[:, :, tap], xs[tap: tap + t])
    return out, xs[xs.shape[0] - (k - 1):]


def _magnitude(fl, ins, state, probe):
    x = ins[0]
    c = x.shape[1] // 2
    return np.sqrt(x[:, :c] ** 2 + x[:, c:] ** 2), None


def _concat(fl, ins, state, probe):
    return np.concatenate(ins, axis=1), None


def _add(fl, ins, state, probe):
    return activate(ins[0] + ins[1], fl.attrs["activation"]), None


def _activation(fl, ins, state, probe):
    return activate(ins[0], fl.attrs["activation"]), None


def _prelu(fl, ins, state, probe):
    x = ins[0]
    return x + (fl.params["slope"][:, None] - 1.0) * np.minimum(x, 0.0), None


def _layer_norm(fl, ins, state, probe):
    x = ins[0]
    axes = 1 if fl.attrs["over"] == "channels" else (1, 2)
    d = x - x.mean(axis=axes, keepdims=True)
    n = d / np.sqrt((d * d).mean(axis=axes, keepdims=True) + fl.attrs["eps"])
    w, b = fl.params["weight"], fl.params["bias"]
    return n * w.reshape(w.shape[0], -1) + b.reshape(b.shape[0], -1), None


def _table(fl, ins, state, probe):
    return TABLE_FUNCTIONS[fl.attrs["function"]](ins[0], fl.attrs), None


def _reshape(fl, ins, state, probe):
    return reshape_frames(ins[0], fl.attrs["shape"], fl.attrs["order"]), None


def _pixel_shuffle(fl, ins, state, probe):
    return pixel_shuffle(ins[0], fl.attrs["factor"]), None


def _channels(fl, ins, state, probe):
    return ins[0][:, list(fl.attrs["index"])], None


def _mul(fl, ins, state, probe):
    return ins[0] * ins[1], None


FLOAT_LAYERS = {
    "conv1d": _conv, "conv_transpose1d": _conv_t, "conv2d": _conv, "conv_transpose2d": _conv_t, "gru": _gru, "attention": _attention,
    "complex_conv_time": _complex_conv_time, "magnitude": _magnitude, "concat": _concat,
    "add": _add, "activation": _activation, "prelu": _prelu, "table": _table, "mul": _mul,
    "dense": _conv, "reshape": _reshape, "lstm": _lstm, "layer_norm": _layer_norm,
    "pixel_shuffle": _pixel_shuffle, "channels": _channels,
}
