"""Per-op quantisation: a folded float layer plus its tensors' formats -> an integer layer.

Conventions: weights int8 symmetric per output row; an accumulator's real scale is input scale x
weight scale of the row; biases are int32 at that scale; every requantisation factor M (acc
scale / output scale, or / a table's input step) becomes (mult, shift). A table activation maps
the accumulator onto the table's input step instead of an output scale.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from npu_model.arch.isa import Act, DType

from ..errors import QuantisationError
from .fixedpoint import multiplier, quantise_bias, quantise_weights
from ..ops.elementwise import TABLE_FUNCTIONS
from ..ops.gru import top_k_of
from ..reference.linear import conv_transpose1d
from .luts import EXP_OUT, RECIP_OUT, SIGMOID_OUT, TANH_OUT, Lut, make_lut, reciprocal_lut, rsqrt_lut
from .qnet import (Epilogue, QActivation, QAdd, QAttention, QComplexConvTime, QConcat, QConv1d, QConvTranspose1d, QGru,
                   QGruCell, QLayerNorm, QLstm, QLstmCell, QChannels, QMagnitude, QMul, QPixelShuffle, QPrelu, QProjection, QReshape, QState, QTensor)
from .scales import GRU_STATE_SCALE

__all__ = ["BuildContext", "BUILDERS"]

_INT32_MAX = 2 ** 31 - 1
_DTYPE_MAX = {d.long_name: -d.min for d in DType}      # the largest |value| of the type


@dataclass
class BuildContext:
    source: str
    tensors: dict[str, QTensor]
    calib: object
    luts: dict[str, Lut]
    states: dict[str, QState]
    config: object
    fitted: dict = field(default_factory=dict)  # layer name -> (int8 weight, row scales), see reconstruct.py

    def where(self, layer):
        return (self.source, layer)

    def int16_range(self, name: str) -> float:
        return self.calib.absmax[name] * self.config.int16_headroom or 1.0


def _epilogue(acc_scale, out: QTensor, act: str, luts, *, bias=None, where=("", "")) -> Epilogue:
    """Requantise an accumulator at `acc_scale` (per row) to `out` (or to a table's input step)."""
    acc_scale = np.asarray(acc_scale, np.float64)
    if act in ("sigmoid", "tanh"):
        m = acc_scale / luts[act].step
        lut, act_field = act, Act.LUT
    else:
        m = acc_scale / out.scale
        lut, act_field = None, Act[act.upper()]
    mult, shift = multiplier(m, where=where)
    if acc_scale.ndim == 0:
        mult, shift = mult[0], shift[0]
    b = np.zeros(acc_scale.shape, np.int32) if bias is None else quantise_bias(bias, acc_scale, where=where)
    return Epilogue(bias=b, mult=mult, shift=shift, act=act_field, lut=lut, out_dtype=out.dtype)


def _check_acc(ctx, name, wq, x: QTensor, bias):
    """The worst-case accumulator must not wrap: sum |w| * max|x| + |bias| < 2**31."""
    worst = np.abs(wq.astype(np.int64)).reshape(wq.shape[0], -1).sum(axis=1) * _DTYPE_MAX[x.dtype]
    worst = worst + np.abs(np.asarray(bias, np.int64))
    if np.any(worst > _INT32_MAX):
        raise QuantisationError(ctx.source, f"worst-case accumulator {int(worst.max())} exceeds int32", layer=name)


def _projection(ctx, name, w, b, x: QTensor, out: QTensor, act="none"):
    wq, sw = quantise_weights(w, axis=0)
    ep = _epilogue(x.scale * sw, out, act, ctx.luts, bias=b, where=ctx.where(name))
    _check_acc(ctx, name, wq, x, ep.bias)
    return wq, ep


def build_conv1d(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    if fl.name in ctx.fitted:
        wq, sw = ctx.fitted[fl.name]
        ep = _epilogue(x.scale * sw, y, fl.attrs["activation"], ctx.luts, bias=fl.params["bias"],
                       where=ctx.where(fl.name))
        _check_acc(ctx, fl.name, wq, x, ep.bias)
    else:
        wq, ep = _projection(ctx, fl.name, fl.params["weight"], fl.params["bias"], x, y, fl.attrs["activation"])
    a = fl.attrs
    return QConv1d(name=fl.name, op=fl.op, inputs=fl.inputs, output=fl.output, fused=fl.fused, weight=wq,
                   stride=a["stride"], padding=a["padding"], dilation=a["dilation"], groups=a["groups"], ep=ep,
                   **_past_frames(fl, ctx, x))


def _past_frames(fl, ctx, x: QTensor) -> dict:
    """A 2-D convolution's time dilation and the state of its past input frames (none for kt = 1)."""
    w = fl.params["weight"]
    if w.ndim == 3:
        return {}
    dt = fl.attrs["time_dilation"]
    past = (w.shape[2] - 1) * dt
    if not past:
        return {"time_dilation": dt}
    state = f"{fl.name}.past"
    ctx.states[state] = QState(name=state, layer=fl.name, shape=(past,) + x.shape, dtype=x.dtype, scale=x.scale)
    return {"time_dilation": dt, "state": state}


def build_conv_transpose1d(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    a = fl.attrs
    w = fl.params["weight"]                                  # (Cin, Cout/g, [kt,] K)
    cin, cout_g = w.shape[:2]
    g = a["groups"]
    if fl.name in ctx.fitted:
        wq, sw = ctx.fitted[fl.name]
    else:
        wg = w.reshape(g, cin // g, cout_g, -1)
        amax = np.abs(wg).max(axis=(1, 3)).reshape(-1)           # per output channel
        sw = np.where(amax > 0, amax / 127.0, 1.0)
        wq = np.clip(np.round(wg / sw.reshape(g, 1, cout_g, 1)), -127, 127).astype(np.int8).reshape(w.shape)
    ep = _epilogue(x.scale * sw, y, a["activation"], ctx.luts, bias=fl.params["bias"], where=ctx.where(fl.name))
    # worst case per output channel: the largest sum of |w| over the (input channel, tap) pairs
    # that reach one output position (a transposed conv of ones with |w|; time taps all add up)
    wabs = np.abs(wq.astype(np.float64))
    wabs = wabs.sum(axis=2) if wabs.ndim == 4 else wabs
    reach = conv_transpose1d(np.ones((1, cin, x.shape[1])), wabs, stride=a["stride"], padding=a["padding"],
                             output_padding=a["output_padding"], dilation=a["dilation"], groups=g)
    per_out = np.rint(reach[0].max(axis=1)).astype(np.int64)
    _check_acc(ctx, fl.name, per_out.reshape(-1, 1), x, ep.bias)
    return QConvTranspose1d(name=fl.name, op=fl.op, inputs=fl.inputs, output=fl.output,
                            fused=fl.fused, weight=wq, stride=a["stride"], padding=a["padding"],
                            output_padding=a["output_padding"], dilation=a["dilation"], groups=g, ep=ep,
                            **_past_frames(fl, ctx, x))


def build_complex_conv_time(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    w = fl.params["weight"]
    wq, ep = _projection(ctx, fl.name, w, fl.params["bias"], x, y)
    state = f"{fl.name}.past"
    ctx.states[state] = QState(name=state, layer=fl.name, shape=(w.shape[2] - 1,) + x.shape, dtype=x.dtype,
                               scale=x.scale)
    return QComplexConvTime(name=fl.name, op="complex_conv_time", inputs=fl.inputs, output=fl.output,
                            fused=fl.fused, weight=wq, ep=ep, state=state)


def build_magnitude(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    n = fl.attrs["directions"]
    theta = 2 * np.pi * np.arange(n) / n
    gain = 2.0 / (1.0 + np.cos(np.pi / n))  # centre the polygon's error: +-(1 - cos(pi/n)) / 2
    unit = 2.0 ** -14
    d = np.round(np.stack([np.cos(theta), np.sin(theta)], axis=1) * gain / unit).astype(np.int16)
    ep = _epilogue(np.float64(x.scale * unit), y, "none", ctx.luts, where=ctx.where(fl.name))
    return QMagnitude(name=fl.name, op="magnitude", inputs=fl.inputs, output=fl.output, fused=fl.fused,
                      directions=d, ep=ep)


def _gate_products(ctx, fl, d: str, x: QTensor, gates: str):
    """The two gate products of a recurrent cell: (gate scales, w_ih, ep_x, w_hh, ep_h). Each
    gate's rows share one int16 scale, the larger range of its input and hidden parts."""
    h = fl.attrs["hidden"]
    name, p = fl.name, fl.params
    gate_scale = {g: max(ctx.int16_range(f"{name}.gx{d}.{g}"), ctx.int16_range(f"{name}.gh{d}.{g}")) / 32767.0
                  for g in gates}
    row_scale = np.repeat([gate_scale[g] for g in gates], h)

    def half(w, b, in_scale, in_dtype):
        wq, sw = quantise_weights(w, axis=0)
        m = in_scale * sw / row_scale
        mult, shift = multiplier(m, where=ctx.where(name))
        ep = Epilogue(bias=quantise_bias(b, in_scale * sw, where=ctx.where(name)), mult=mult, shift=shift,
                      act=Act.NONE, lut=None, out_dtype="int16")
        _check_acc(ctx, name, wq, QTensor("", (0, 0), in_dtype, in_scale), ep.bias)
        return wq, ep

    w_ih, ep_x = half(p[f"weight_ih{d}"], p[f"bias_ih{d}"], x.scale, x.dtype)
    w_hh, ep_h = half(p[f"weight_hh{d}"], p[f"bias_hh{d}"], GRU_STATE_SCALE, "int16")
    return gate_scale, w_ih, ep_x, w_hh, ep_h


def _to_table(ctx, name, scale, table):
    mult, shift = multiplier(scale / ctx.luts[table].step, where=ctx.where(name))
    return Epilogue.scalar(mult=mult[0], shift=shift[0], act=Act.LUT, lut=table)


def _gru_cell(ctx, fl, d: str, x: QTensor) -> QGruCell:
    gate_scale, w_ih, ep_x, w_hh, ep_h = _gate_products(ctx, fl, d, x, "rzn")
    q15 = Epilogue.scalar(mult=1, shift=15)
    ident = Epilogue.scalar()
    return QGruCell(reverse=d == "_reverse", w_ih=w_ih, w_hh=w_hh, ep_x=ep_x, ep_h=ep_h,
                    ep_r=_to_table(ctx, fl.name, gate_scale["r"], "sigmoid"),
                    ep_z=_to_table(ctx, fl.name, gate_scale["z"], "sigmoid"),
                    ep_rn=q15, ep_n=_to_table(ctx, fl.name, gate_scale["n"], "tanh"), ep_d=ident, ep_zd=q15,
                    ep_hnew=ident)


#: The LSTM cell state's scale 2**-k: k from calibration, within these bounds (c beyond 2**(15-k)
#: saturates; k = 14 is the tanh table's own scale).
LSTM_C_LOG2 = (6, 14)


def _lstm_cell(ctx, fl, d: str, x: QTensor, c_log2: int) -> QLstmCell:
    gate_scale, w_ih, ep_x, w_hh, ep_h = _gate_products(ctx, fl, d, x, "ifgo")
    q15 = Epilogue.scalar(mult=1, shift=15)
    table = {g: _to_table(ctx, fl.name, gate_scale[g], "tanh" if g == "g" else "sigmoid") for g in "ifgo"}
    return QLstmCell(reverse=d == "_reverse", w_ih=w_ih, w_hh=w_hh, ep_x=ep_x, ep_h=ep_h, ep_i=table["i"],
                     ep_f=table["f"], ep_g=table["g"], ep_o=table["o"], ep_fc=q15,
                     ep_ig=Epilogue.scalar(mult=1, shift=29 - c_log2), ep_c=Epilogue.scalar(),
                     ep_tc=_to_table(ctx, fl.name, 2.0 ** -c_log2, "tanh"), ep_hnew=q15)


def build_lstm(fl, ctx):
    assert SIGMOID_OUT == 2.0 ** -15 and TANH_OUT == GRU_STATE_SCALE == 2.0 ** -14  # the shifts rely on these
    x = ctx.tensors[fl.inputs[0]]
    dirs = fl.attrs["directions"]
    cmax = max(ctx.int16_range(f"{fl.name}.c{d}") for d in dirs)
    c_log2 = int(np.clip(np.floor(np.log2(32767.0 / cmax)), *LSTM_C_LOG2))
    cells = tuple(_lstm_cell(ctx, fl, d, x, c_log2) for d in dirs)
    state = None
    if fl.attrs["axis"] == "time":
        state = f"{fl.name}.hc"
        ctx.states[state] = QState(name=state, layer=fl.name, shape=(2, fl.attrs["hidden"], x.shape[1]),
                                   dtype="int16", scale=GRU_STATE_SCALE)
    return QLstm(name=fl.name, op="lstm", inputs=fl.inputs, output=fl.output, fused=fl.fused, axis=fl.attrs["axis"],
                 hidden=fl.attrs["hidden"], cells=cells, state=state, c_log2=c_log2,
                 groups=fl.attrs.get("groups", 1))


def build_gru(fl, ctx):
    assert SIGMOID_OUT == 2.0 ** -15 and TANH_OUT == GRU_STATE_SCALE  # the cell's shifts rely on these
    x = ctx.tensors[fl.inputs[0]]
    cells = tuple(_gru_cell(ctx, fl, d, x) for d in fl.attrs["directions"])
    state = None
    if fl.attrs["axis"] == "time":
        state = f"{fl.name}.h"
        ctx.states[state] = QState(name=state, layer=fl.name, shape=(fl.attrs["hidden"], x.shape[1]),
                                   dtype="int16", scale=GRU_STATE_SCALE)
    return QGru(name=fl.name, op="gru", inputs=fl.inputs, output=fl.output, fused=fl.fused, axis=fl.attrs["axis"],
                hidden=fl.attrs["hidden"], cells=cells, state=state, groups=fl.attrs.get("groups", 1),
                top_k=top_k_of(fl.attrs))


def build_attention(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    name, p, heads = fl.name, fl.params, fl.attrs["heads"]
    dim = p["q.weight"].shape[0]
    dk = dim // heads
    length = x.shape[1]
    proj = {}
    fmt = {}
    # Q and O int16 (their products are int16 x int8: K and V stay int8), K and V int8
    for part in ("q", "k", "v"):
        fmt[part] = (QTensor(f"{name}.q", (dim, length), "int16", ctx.int16_range(f"{name}.q") / 32767.0)
                     if part == "q" else
                     QTensor(f"{name}.{part}", (dim, length), "int8", ctx.calib.ranges[f"{name}.{part}"] / 127.0))
        wq, ep = _projection(ctx, name, p[f"{part}.weight"], p[f"{part}.bias"], x, fmt[part])
        proj[part] = QProjection(wq, ep)
    o_fmt = QTensor(f"{name}.o", (dim, length), "int16", ctx.int16_range(f"{name}.o") / 32767.0)
    wq, ep = _projection(ctx, name, p["o.weight"], p["o.bias"], o_fmt, y)
    proj["o"] = QProjection(wq, ep)

    exp = ctx.luts["exp"]
    half = 1 << (exp.log2 - 1)
    # scores at exp.step / 2**j, j as large as int16 allows, so the exp index is an exact shift
    smax = ctx.int16_range(f"{name}.scores")
    j = int(np.clip(np.floor(np.log2(32767 * exp.step / smax)), 0, 20))  # bias stays int32
    s_scale = exp.step / 2 ** j
    mult, shift = multiplier(fmt["q"].scale * fmt["k"].scale / np.sqrt(dk) / s_scale, where=ctx.where(name))
    ep_scores = Epilogue.scalar(mult=mult[0], shift=shift[0], out_dtype="int16")
    ep_exp = Epilogue.scalar(bias=(half - 1) << j, mult=1, shift=j, act=Act.LUT, lut="exp")

    recip = reciprocal_lut(length, ctx.config.lut_log2["reciprocal"])
    ctx.luts.setdefault(recip.name, recip)
    # sum of exps at EXP_OUT; the table's index is (sum - offset) / step: bias -offset, then >> log2
    r_shift = int(round(np.log2(recip.step / EXP_OUT)))
    assert 2.0 ** r_shift * EXP_OUT == recip.step
    ep_sum = Epilogue.scalar(bias=-int(round(recip.offset / EXP_OUT)), mult=1, shift=r_shift, act=Act.LUT,
                             lut=recip.name)
    ep_prob = Epilogue.scalar(mult=1, shift=15)
    assert EXP_OUT * RECIP_OUT == 2.0 ** -30  # p = e * r >> 15 is at 2**-15
    mult, shift = multiplier(2.0 ** -15 * fmt["v"].scale / o_fmt.scale, where=ctx.where(name))
    ep_av = Epilogue.scalar(mult=mult[0], shift=shift[0], out_dtype="int16")
    return QAttention(name=name, op="attention", inputs=fl.inputs, output=fl.output, fused=fl.fused, heads=heads,
                      q=proj["q"], k=proj["k"], v=proj["v"], o=proj["o"], ep_scores=ep_scores, ep_exp=ep_exp,
                      ep_sum=ep_sum, ep_prob=ep_prob, ep_av=ep_av)


def build_concat(fl, ctx):
    y = ctx.tensors[fl.output]
    eps = []
    for name in fl.inputs:
        x = ctx.tensors[name]
        eps.append(None if (x.dtype, x.scale) == (y.dtype, y.scale)
                   else _elementwise_ep(fl, ctx, x, y, "none"))
    return QConcat(name=fl.name, op="concat", inputs=fl.inputs, output=fl.output, fused=fl.fused, eps=tuple(eps))


def _elementwise_ep(fl, ctx, x: QTensor, y: QTensor, act: str):
    ep = _epilogue(np.float64(x.scale), y, act, ctx.luts, where=ctx.where(fl.name))
    return Epilogue.scalar(bias=0, mult=ep.mult, shift=ep.shift, act=ep.act, lut=ep.lut, out_dtype=y.dtype)


def build_add(fl, ctx):
    """Inputs of one scale add as they are; otherwise the one of smaller range is requantised onto
    the other's scale in int16 (within its range, at up to 256 x the int8 resolution)."""
    a, b, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.inputs[1]], ctx.tensors[fl.output]
    align = None
    if (a.scale, a.dtype) != (b.scale, b.dtype):
        big, small = (0, 1) if a.scale * _DTYPE_MAX[a.dtype] >= b.scale * _DTYPE_MAX[b.dtype] else (1, 0)
        ref, other = (a, b)[big], (a, b)[small]
        wide = QTensor(other.name, other.shape, "int16", ref.scale)
        align = (small, _elementwise_ep(fl, ctx, other, wide, "none"))
        a = ref
    return QAdd(name=fl.name, op="add", inputs=fl.inputs, output=fl.output, fused=fl.fused,
                ep=_elementwise_ep(fl, ctx, a, y, fl.attrs["activation"]), align=align)


def build_reshape(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    assert (x.dtype, x.scale) == (y.dtype, y.scale)
    return QReshape(name=fl.name, op="reshape", inputs=fl.inputs, output=fl.output, fused=fl.fused,
                    shape=tuple(fl.attrs["shape"]), order=fl.attrs["order"])


def build_pixel_shuffle(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    assert (x.dtype, x.scale) == (y.dtype, y.scale)
    return QPixelShuffle(name=fl.name, op="pixel_shuffle", inputs=fl.inputs, output=fl.output, fused=fl.fused,
                         factor=fl.attrs["factor"])


def build_channels(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    assert (x.dtype, x.scale) == (y.dtype, y.scale)
    return QChannels(name=fl.name, op="channels", inputs=fl.inputs, output=fl.output, fused=fl.fused,
                     index=tuple(fl.attrs["index"]))


def build_mul(fl, ctx):
    a, b, y = (ctx.tensors[n] for n in (*fl.inputs, fl.output))
    ep = _epilogue(np.float64(a.scale * b.scale), y, "none", ctx.luts, where=ctx.where(fl.name))
    return QMul(name=fl.name, op="mul", inputs=fl.inputs, output=fl.output, fused=fl.fused, ep=ep)


def build_prelu(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    factor = np.asarray(fl.params["slope"], np.float64) - 1.0
    mult, shift = multiplier(np.abs(factor), where=ctx.where(fl.name))
    ep_neg = Epilogue(bias=np.zeros(factor.shape, np.int32), mult=(np.sign(factor) * mult).astype(np.int16),
                      shift=shift, out_dtype="int16")
    return QPrelu(name=fl.name, op="prelu", inputs=fl.inputs, output=fl.output, fused=fl.fused, ep_neg=ep_neg,
                  ep=_elementwise_ep(fl, ctx, x, y, "none"))


#: Fractional bits of a layer norm's normalised values n (int16): |n| < sqrt(C) needs 15 - bits.
def _norm_bits(channels: int) -> int:
    return 15 - int(np.ceil(np.log2(np.sqrt(channels) + 1)))


def build_layer_norm(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    c = x.shape[0] * (x.shape[1] if fl.attrs["over"] == "frame" else 1)     # the values averaged
    where = ctx.where(fl.name)
    mult, shift = multiplier(1.0 / c, where=where)
    ep_mean = Epilogue.scalar(mult=mult[0], shift=shift[0])
    # |x - m| <= the type's span; shift it right until C of its squares stay below 2**31.
    span = 2 * _DTYPE_MAX[x.dtype] - 1
    dev_shift = 0
    while c * (-(-span // (1 << dev_shift))) ** 2 > _INT32_MAX:
        dev_shift += 1
    ep_dev = Epilogue.scalar(mult=1, shift=dev_shift)
    d_scale = x.scale * 2.0 ** dev_shift
    lut = rsqrt_lut(ctx.config.lut_log2["rsqrt"])
    ctx.luts[lut.name] = lut
    eps = int(min(np.round(fl.attrs["eps"] * c / d_scale ** 2), _INT32_MAX - c * (-(-span // (1 << dev_shift))) ** 2))
    ep_rsqrt = Epilogue.scalar(bias=eps, act=Act.RSQRT, lut=lut.name)
    # n = d * sqrt(C) / sqrt(sum d**2 + eps) = d * M * 2**-(12 + e) * sqrt(C), onto 2**-bits.
    bits = _norm_bits(c)
    mult, shift = multiplier(np.sqrt(c) * 2.0 ** (bits - 12), where=where)
    ep_norm = Epilogue.scalar(mult=mult[0], shift=shift[0])
    weight, bias = (np.asarray(fl.params[k], np.float64) for k in ("weight", "bias"))
    gq, g_scale = quantise_weights(weight.reshape(1, -1), axis=0, bits=16)
    acc_scale = 2.0 ** -bits * float(g_scale[0])
    mult, shift = multiplier(acc_scale / y.scale, where=where)
    beta = ep_beta = None
    if weight.ndim == 1:
        ep_affine = Epilogue(bias=quantise_bias(bias, acc_scale, where=where), mult=mult[0], shift=shift[0],
                             out_dtype=y.dtype)
    else:                          # per element: the product at the output's scale in int16, then + beta
        ep_affine = Epilogue.scalar(mult=mult[0], shift=shift[0], out_dtype="int16")
        beta = np.clip(np.round(bias / y.scale), -32768, 32767).astype(np.int16)
        ep_beta = Epilogue.scalar(out_dtype=y.dtype)
    return QLayerNorm(name=fl.name, op="layer_norm", inputs=fl.inputs, output=fl.output, fused=fl.fused,
                      over=fl.attrs["over"], ep_mean=ep_mean, ep_dev=ep_dev, ep_rsqrt=ep_rsqrt, ep_norm=ep_norm,
                      gamma=gq.reshape(weight.shape), ep_affine=ep_affine, beta=beta, ep_beta=ep_beta)


def build_table(fl, ctx):
    """A per-layer table over every value the input can hold: entry i stands for (i - 2**(k-1)) *
    step with step = the input's largest value / 2**(k-1), and holds f at the output's scale."""
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    k = ctx.config.lut_log2["table"]
    half = 1 << (k - 1)
    step = x.scale * _DTYPE_MAX[x.dtype] / half
    fn = TABLE_FUNCTIONS[fl.attrs["function"]]
    lut = make_lut(f"{fl.name}.{fl.attrs['function']}", lambda v: fn(v, fl.attrs), k, step, 0.0, y.scale)
    ctx.luts[lut.name] = lut
    mult, shift = multiplier(x.scale / step, where=ctx.where(fl.name))
    ep = Epilogue.scalar(mult=mult[0], shift=shift[0], act=Act.LUT, lut=lut.name, out_dtype=y.dtype)
    return QActivation(name=fl.name, op="activation", inputs=fl.inputs, output=fl.output, fused=fl.fused, ep=ep)


def build_activation(fl, ctx):
    x, y = ctx.tensors[fl.inputs[0]], ctx.tensors[fl.output]
    return QActivation(name=fl.name, op="activation", inputs=fl.inputs, output=fl.output, fused=fl.fused,
                       ep=_elementwise_ep(fl, ctx, x, y, fl.attrs["activation"]))


BUILDERS = {
    "conv1d": build_conv1d, "conv_transpose1d": build_conv_transpose1d, "conv2d": build_conv1d,
    "conv_transpose2d": build_conv_transpose1d, "gru": build_gru,
    "attention": build_attention, "complex_conv_time": build_complex_conv_time, "magnitude": build_magnitude,
    "concat": build_concat, "add": build_add, "activation": build_activation, "mul": build_mul,
    "prelu": build_prelu, "table": build_table, "dense": build_conv1d, "reshape": build_reshape,
    "lstm": build_lstm, "layer_norm": build_layer_norm, "pixel_shuffle": build_pixel_shuffle, "channels": build_channels,
}
