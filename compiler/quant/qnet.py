"""The quantised network: what the lowering step reads, layer by layer.

Every number here is an integer the NPU uses as is: int8 weights (per-output-channel scales
already folded into the requantisation), int32 biases, int16 multipliers and shifts, int16 LUTs.
Each `Epilogue` is exactly one parameter record (docs/isa.md) per output channel (vectors) or
shared (scalars) plus the `act` field: the integer reference (`int_layers.py`) defines what every
layer computes from these fields, in the order of the NPU's instructions, so that a lowering that
follows the same steps matches it bit for bit. Real scales (`QTensor.scale`) are informative:
they say what an integer means, for dequantising outputs and for reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from npu_model.arch.isa import Act, DType

from .luts import Lut

__all__ = ["QTensor", "QState", "Epilogue", "QLayer", "QConv1d", "QConvTranspose1d", "QComplexConvTime",
           "QMagnitude", "QGruCell", "QGru", "QLstmCell", "QLstm", "QProjection", "QAttention", "QConcat", "QAdd", "QMul", "QPrelu", "QReshape", "QActivation", "QLayerNorm", "QPixelShuffle", "QChannels",
           "QuantizedNetwork"]


@dataclass(frozen=True)
class QTensor:
    """A per-frame tensor: (channels, positions), int8 or int16, real value = scale * integer."""

    name: str
    shape: tuple[int, int]
    dtype: str
    scale: float

    @property
    def bytes(self) -> int:
        return self.shape[0] * self.shape[1] * DType.parse(self.dtype).size


@dataclass(frozen=True)
class QState:
    """A tensor kept across frames in sbuf, zero at the start: GRU hidden state, past frames."""

    name: str
    layer: str
    shape: tuple[int, ...]
    dtype: str
    scale: float


@dataclass(frozen=True, eq=False)
class Epilogue:
    """One instruction's tail: acc + bias -> wrap -> (acc*mult + 2**(shift-1)) >> shift -> act -> saturate.

    bias int32, mult int16, shift uint8: each either a vector (one record per output channel,
    `p_vec = 1`) or a 0-d array (one shared record). act: the ISA's activation (`Act`, the
    vocabulary the lowering's `Post` speaks too; for `Act.LUT`, `lut` names the table). out_dtype:
    'int8' or 'int16', the destination type.
    """

    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    act: Act = Act.NONE
    lut: str | None = None
    out_dtype: str = "int8"

    @property
    def per_channel(self) -> bool:
        return np.ndim(self.bias) > 0 or np.ndim(self.mult) > 0 or np.ndim(self.shift) > 0

    def records(self, channels: int | None = None) -> list[tuple[int, int, int]]:
        """(bias, mult, shift) per channel, or one record if shared: the wbuf parameter records."""
        n = channels if channels is not None else max(np.size(self.bias), np.size(self.mult), np.size(self.shift))
        b, m, s = (np.broadcast_to(np.asarray(v), (n,)) for v in (self.bias, self.mult, self.shift))
        return [(int(b[i]), int(m[i]), int(s[i])) for i in range(n)]

    @staticmethod
    def scalar(bias=0, mult=1, shift=0, act=Act.NONE, lut=None, out_dtype="int16") -> "Epilogue":
        return Epilogue(np.asarray(bias, np.int32), np.asarray(mult, np.int16), np.asarray(shift, np.uint8),
                        act, lut, out_dtype)


@dataclass(frozen=True, eq=False)
class QLayer:
    """Base: `inputs` and `output` are tensor names in `QuantizedNetwork.tensors`."""

    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    fused: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class QConv1d(QLayer):
    """acc[o, l] = sum_{c, k} weight[o, c, k] * x[g(o)*Cin/groups + c, l*stride + k*dilation - pad_left]
    (zero outside), then `ep` per output channel. weight int8 (Cout, Cin/groups, K); padding an int
    (both ends) or (left, right).

    conv2d: weight (Cout, Cin/groups, kt, K), tap j of the time axis over the frame
    t - (kt-1-j)*time_dilation; `state` holds the (kt-1)*time_dilation past input frames (oldest
    first, zero at the start; None when kt = 1)."""

    weight: np.ndarray
    stride: int
    padding: int | tuple
    dilation: int
    groups: int
    ep: Epilogue
    time_dilation: int = 1
    state: str | None = None


@dataclass(frozen=True, eq=False)
class QConvTranspose1d(QLayer):
    """acc[o, j*stride + k*dilation - pad_left] += weight[c, o mod Cout/groups, k] * x[c, j] over the
    input channels c of o's group, then `ep` per output channel. weight int8 (Cin, Cout/groups, K).

    conv_transpose2d: weight (Cin, Cout/groups, kt, K), tap j of the time axis over the frame
    t - j*time_dilation; `state` as for QConv1d."""

    weight: np.ndarray
    stride: int
    padding: int | tuple
    output_padding: int
    dilation: int
    groups: int
    ep: Epilogue
    time_dilation: int = 1
    state: str | None = None


@dataclass(frozen=True, eq=False)
class QComplexConvTime(QLayer):
    """Per bin l: acc[o, l] = sum_{c, k} weight[o, c, k] * frame_{t-(K-1)+k}[c, l], then `ep`.
    weight int8 (2Cout, 2Cin, K) is the real form [[Wr, -Wi], [Wi, Wr]] of the complex kernel;
    `state` holds the K-1 previous input frames (oldest first), int8 at the input's scale."""

    weight: np.ndarray
    ep: Epilogue
    state: str


@dataclass(frozen=True, eq=False)
class QMagnitude(QLayer):
    """|z| as the largest projection: out[c, l] = max_k finish(re[c, l] * directions[k, 0] +
    im[c, l] * directions[k, 1], ep), re = channels 0..C-1, im = C..2C-1. directions int16 (N, 2).
    As requantisation is monotonic, out = finish(max_k acc_k, ep): MACs then a max reduction."""

    directions: np.ndarray
    ep: Epilogue


@dataclass(frozen=True, eq=False)
class QGruCell:
    """One direction's integer GRU step (all int16 values, h at 2**-14, gates at 2**-15).

        gx = finish(w_ih @ x, ep_x)         (3H) int16, rows r, z, n; bias = b_ih
        gh = finish(w_hh @ h, ep_h)         (3H) int16, same row scales;  bias = b_hh
        r  = finish(gx_r + gh_r, ep_r)      add  -> sigmoid LUT
        z  = finish(gx_z + gh_z, ep_z)      add  -> sigmoid LUT
        rn = finish(r * gh_n, ep_rn)        mul  (>> 15)
        n  = finish(gx_n + rn, ep_n)        add  -> tanh LUT
        d  = finish(h - n, ep_d)            sub
        zd = finish(z * d, ep_zd)           mul  (>> 15)
        h' = finish(n + zd, ep_hnew)        add  = (1 - z) n + z h
    """

    reverse: bool
    w_ih: np.ndarray  # int8 (3H, I)
    w_hh: np.ndarray  # int8 (3H, H)
    ep_x: Epilogue
    ep_h: Epilogue
    ep_r: Epilogue
    ep_z: Epilogue
    ep_rn: Epilogue
    ep_n: Epilogue
    ep_d: Epilogue
    ep_zd: Epilogue
    ep_hnew: Epilogue


@dataclass(frozen=True, eq=False)
class QGru(QLayer):
    """axis 'frequency': each cell runs over the positions of the frame (reverse cells from the
    last position), h = 0 at the start of each frame; outputs stacked [forward; reverse].
    axis 'time': one step per frame for every position at once, h kept in `state` (H, positions).
    Output int16 at 2**-14 (the hidden state itself)."""

    axis: str
    hidden: int
    cells: tuple[QGruCell, ...]
    state: str | None
    groups: int = 1      # block-diagonal weights (compiler.fold.ungroup_gru): P independent GRUs
    top_k: int = 0       # D-GRU (axis 'time'): update only the top_k neurons of largest 1 - z per step


@dataclass(frozen=True, eq=False)
class QLstmCell:
    """One direction's integer LSTM step (int16 values: h at 2**-14, gates i, f, o at 2**-15 and
    g at 2**-14 (the tables'), c at 2**-c_log2, a power of two from calibration).

        gx = finish(w_ih @ x, ep_x)          (4H) int16, rows i, f, g, o; bias = b_ih
        gh = finish(w_hh @ h, ep_h)          (4H) int16, same row scales;  bias = b_hh
        i  = finish(gx_i + gh_i, ep_i)       add -> sigmoid LUT      (f, o alike)
        g  = finish(gx_g + gh_g, ep_g)       add -> tanh LUT
        fc = finish(f * c, ep_fc)            mul (>> 15)
        ig = finish(i * g, ep_ig)            mul (>> 29 - c_log2)
        c' = finish(fc + ig, ep_c)           add (saturated to int16)
        tc = finish(c', ep_tc)               mov -> tanh LUT
        h' = finish(o * tc, ep_hnew)         mul (>> 15)
    """

    reverse: bool
    w_ih: np.ndarray  # int8 (4H, I)
    w_hh: np.ndarray  # int8 (4H, H)
    ep_x: Epilogue
    ep_h: Epilogue
    ep_i: Epilogue
    ep_f: Epilogue
    ep_g: Epilogue
    ep_o: Epilogue
    ep_fc: Epilogue
    ep_ig: Epilogue
    ep_c: Epilogue
    ep_tc: Epilogue
    ep_hnew: Epilogue


@dataclass(frozen=True, eq=False)
class QLstm(QLayer):
    """As `QGru`; along time `state` holds h and c stacked, (2, H, positions), zero at the start."""

    axis: str
    hidden: int
    cells: tuple[QLstmCell, ...]
    state: str | None
    c_log2: int
    groups: int = 1


@dataclass(frozen=True, eq=False)
class QProjection:
    """A 1x1 convolution inside a composite layer: weight int8 (out, in), `ep` per output row."""

    weight: np.ndarray
    ep: Epilogue


@dataclass(frozen=True, eq=False)
class QAttention(QLayer):
    """Integer multi-head self-attention (no division: max, sub, exp LUT, sum, reciprocal LUT, mul).

        q, k, v = finish(W x, ep) for W in q, k, v      q int16, k and v int8 (dim, L), split into heads
        s   = finish(q_h^T k_h, ep_scores)              int16 (L, L) per head, scale 1/sqrt(dk) folded
        m   = max over keys of s                        (max reduction)
        e   = finish(s - m, ep_exp)                     sub -> exp LUT, int16 (bias aligns 0 on exp(0))
        sum = finish(sum over keys of e * 1, ep_sum)    MAC against ones -> reciprocal LUT, int16
        p   = finish(e * sum, ep_prob)                  mul (>> 15), int16 probabilities
        o   = finish(sum over keys of p * v_h, ep_av)   int16 (dim, L)
        y   = finish(W_o o, o.ep)                       int8 (out, L)
    """

    heads: int
    q: QProjection
    k: QProjection
    v: QProjection
    o: QProjection
    ep_scores: Epilogue
    ep_exp: Epilogue
    ep_sum: Epilogue
    ep_prob: Epilogue
    ep_av: Epilogue


@dataclass(frozen=True, eq=False)
class QConcat(QLayer):
    """Channels of the inputs one after the other: part i = finish(input_i, eps[i]) (a `mov` with
    requantisation), or input_i unchanged where eps[i] is None (same format: a layout choice)."""

    eps: tuple


@dataclass(frozen=True, eq=False)
class QAdd(QLayer):
    """out = finish(a + b, ep), `ep` shared (scalar). The inputs share one scale, or `align`
    requantises one of them first onto the other's scale (int16): with align = (i, ep_i),
    input i becomes finish(input_i, ep_i)."""

    ep: Epilogue
    align: tuple | None = None


@dataclass(frozen=True, eq=False)
class QReshape(QLayer):
    """The same integers as a (channels, positions) = `shape` tensor, element (c, l) of both at
    flat index c*L + l ('channel_major') or l*C + c ('position_major'); same format."""

    shape: tuple[int, int]
    order: str


@dataclass(frozen=True, eq=False)
class QPixelShuffle(QLayer):
    """out = pixel_shuffle(x, factor): the same integers (and scale), positions interleaved."""

    factor: int


@dataclass(frozen=True, eq=False)
class QChannels(QLayer):
    """out = x[index]: output channel k is input channel index[k] (a slice, a channel shuffle); the
    same integers and scale."""

    index: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class QMul(QLayer):
    """out = finish(a * b, ep), `ep` shared: the product of the two scales onto the output's.
    A 1-channel or 1-position input broadcasts."""

    ep: Epilogue


@dataclass(frozen=True, eq=False)
class QPrelu(QLayer):
    """out = finish(x + n, ep) with n = finish(min(x, 0), ep_neg): ep_neg per channel multiplies by
    (slope - 1) (a signed multiplier) into int16 at x's scale, so out = x for x >= 0 and
    slope * x below (leaky_relu: one slope for every channel)."""

    ep_neg: Epilogue
    ep: Epilogue


@dataclass(frozen=True, eq=False)
class QLayerNorm(QLayer):
    """Per position p over the channels c (`over` = 'channels'), or over the whole frame ('frame': the
    sums below run over c and p, m and r are one value) (docs/model-format.md, layer_norm):

        m[p]    = finish(sum_c x[c, p], ep_mean)             mean at x's scale (int16)
        d[c, p] = finish(x[c, p] - m[p], ep_dev)             shifted right so the N squares sum below 2**31
        r[p]    = finish(sum_c d[c, p]**2, ep_rsqrt)          act=rsqrt: block-float 1/sqrt(.)
        n[c, p] = d * mantissa(r) >> exponent(r), ep_norm   unit variance, at 2**-norm_bits
        y[c, p] = finish(n * gamma[c], ep_affine)            per-channel bias beta (affine per channel)
        y[c, p] = finish(finish(n * gamma[c, p], ep_affine) + beta[c, p], ep_beta)   (per element)

    ep_rsqrt's bias is eps in the units of sum d**2 (eps * N / scale_d**2), N the values averaged."""

    over: str
    ep_mean: Epilogue
    ep_dev: Epilogue
    ep_rsqrt: Epilogue
    ep_norm: Epilogue
    gamma: np.ndarray          # int16 (C,) or (C, L)
    ep_affine: Epilogue
    beta: np.ndarray | None = None      # int16 (C, L) at the output's scale, affine per element
    ep_beta: Epilogue | None = None


@dataclass(frozen=True, eq=False)
class QActivation(QLayer):
    """out = finish(x, ep): a `mov` with relu or a table."""

    ep: Epilogue


@dataclass(eq=False)
class QuantizedNetwork:
    """Everything the lowering step needs.

    input:   the NPU's input tensor (the host quantises its features with `input.scale`).
    tensors: every tensor the NPU layers produce, by name (a layer's `output`).
    layers:  NPU layers in execution order.
    outputs: tensors the host reads after the frame (network outputs and host-layer inputs).
    states:  tensors kept across frames (zero at the first frame).
    luts:    tables by name; `lut_entries` is their total size.
    host_layers: folded host ops run on the dequantised outputs (e.g. MEA reconstruction).
    """

    name: str
    input: QTensor
    tensors: dict[str, QTensor]
    layers: list[QLayer]
    outputs: tuple[str, ...]
    states: dict[str, QState]
    luts: dict[str, Lut]
    host_layers: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @property
    def lut_entries(self) -> int:
        return sum(l.entries for l in self.luts.values())

    def layer(self, name: str) -> QLayer:
        return next(l for l in self.layers if l.name == name or l.output == name)
