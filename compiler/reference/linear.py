"""Linear kernels shared by the float and the integer references.

Tensors are (frames, channels, positions). The integer reference calls the same functions on
integer-valued float64 arrays: every product of int8/int16 operands and every partial sum of a
TRU-Net layer stays far below 2**53, so float64 BLAS computes the exact integer sums (in any
order) and is much faster than numpy's integer matmul. `exact_int` converts back.
"""
from __future__ import annotations

import numpy as np

__all__ = ["conv1d", "conv_transpose1d", "complex_as_real", "exact_int", "conv1d_length",
           "conv_transpose1d_length", "pads", "time_conv", "reshape_frames", "pixel_shuffle"]


def pads(padding) -> tuple[int, int]:
    """An int (both ends) or a (left, right) pair."""
    if isinstance(padding, (tuple, list)):
        return int(padding[0]), int(padding[1])
    return int(padding), int(padding)


def conv1d_length(length, kernel, stride=1, padding=0, dilation=1) -> int:
    pl, pr = pads(padding)
    return (length + pl + pr - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose1d_length(length, kernel, stride=1, padding=0, dilation=1, output_padding=0) -> int:
    pl, pr = pads(padding)
    return (length - 1) * stride - pl - pr + dilation * (kernel - 1) + output_padding + 1


def time_conv(one, x, w, past, *, transposed: bool, dilation: int = 1):
    """A convolution causal along time over frames (T, C, L): tap k of w's time axis (axis 2)
    reads frame t - (kt-1-k)*dilation (transposed: t - k*dilation); `past` holds the
    (kt-1)*dilation frames before the first (zeros at the start). `one(frames, w_k)` is the
    frequency convolution of one tap. Returns (sum over taps, the new past frames)."""
    kt = w.shape[2]
    t = x.shape[0]
    keep = (kt - 1) * dilation
    xs = np.concatenate([past, x], axis=0) if keep else x
    out = 0.0
    for k in range(kt):
        start = (kt - 1 - k) * dilation if transposed else k * dilation
        out = out + one(xs[start: start + t], w[:, :, k])
    return out, xs[xs.shape[0] - keep:]


def reshape_frames(x, shape, order: str):
    """(T, C, L) -> (T, *shape) through the flat index c*L + l ('channel_major') or l*C + c
    ('position_major') of both shapes."""
    t = x.shape[0]
    if order == "channel_major":
        return x.reshape(t, *shape)
    return x.transpose(0, 2, 1).reshape(t, shape[1], shape[0]).transpose(0, 2, 1)


def pixel_shuffle(x, r: int):
    """(T, C, L) -> (T, C/r, L*r): channel c*r + s at position l becomes channel c at l*r + s."""
    t, c, length = x.shape
    return x.reshape(t, c // r, r, length).transpose(0, 1, 3, 2).reshape(t, c // r, length * r)


def conv1d(x, w, *, stride=1, padding=0, dilation=1, groups=1):
    """x (T, Cin, L), w (Cout, Cin/groups, K) -> (T, Cout, Lout), zero padding (an int for both
    ends or (left, right)), no bias."""
    t, cin, length = x.shape
    cout, cin_g, k = w.shape
    lout = conv1d_length(length, k, stride, padding, dilation)
    pl, pr = pads(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (pl, pr))) if pl or pr else x
    if cin_g == 1 and cout == groups:  # depthwise: K multiply-adds of whole tensors (batched tiny
        out = np.zeros((t, cout, lout))  # matmuls are slow in numpy)
        end = (lout - 1) * stride + 1
        for tap in range(k):
            out += xp[:, :, tap * dilation: tap * dilation + end: stride] * w[None, :, 0, tap, None]
        return out
    idx = np.arange(lout)[:, None] * stride + np.arange(k)[None, :] * dilation       # (Lout, K)
    cols = xp[:, :, idx].reshape(t, groups, cin_g, lout, k)                           # (T,g,c,Lo,K)
    cols = cols.transpose(0, 1, 3, 2, 4).reshape(t, groups, lout, cin_g * k)
    wg = w.reshape(groups, cout // groups, cin_g * k).transpose(0, 2, 1)             # (g, cK, co)
    out = np.matmul(cols, wg)                                                         # (T,g,Lo,co)
    return out.transpose(0, 1, 3, 2).reshape(t, cout, lout)


def conv_transpose1d(x, w, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """x (T, Cin, L), w (Cin, Cout/groups, K) (PyTorch layout) -> (T, Cout, Lout), no bias;
    padding (an int or (left, right)) crops the full output.

    Computed as each input position scattering K products: no multiplications by zeros.
    """
    t, cin, length = x.shape
    _, cout_g, k = w.shape
    cin_g = cin // groups
    lout = conv_transpose1d_length(length, k, stride, padding, dilation, output_padding)
    xg = x.reshape(t, groups, cin_g, length).transpose(0, 1, 3, 2)                   # (T,g,L,ci)
    wg = w.reshape(groups, cin_g, cout_g * k)
    contrib = np.matmul(xg, wg).reshape(t, groups, length, cout_g, k)
    pl, _ = pads(padding)
    full_len = max((length - 1) * stride + dilation * (k - 1) + 1 + output_padding, pl + lout)
    full = np.zeros((t, groups, cout_g, full_len))
    span = (length - 1) * stride + 1
    for tap in range(k):  # K is small; the work inside is vectorised
        full[..., tap * dilation: tap * dilation + span: stride] += contrib[..., tap].transpose(0, 1, 3, 2)
    return full[..., pl: pl + lout].reshape(t, groups * cout_g, lout)


def complex_as_real(w_real, w_imag):
    """(Cout, Cin, K) real and imaginary kernels -> the real (2Cout, 2Cin, K) kernel acting on
    [real parts; imaginary parts]: [[Wr, -Wi], [Wi, Wr]]."""
    top = np.concatenate([w_real, -w_imag], axis=1)
    bottom = np.concatenate([w_imag, w_real], axis=1)
    return np.concatenate([top, bottom], axis=0)


def exact_int(a) -> np.ndarray:
    """Integer-valued float64 array -> int64 (asserts that nothing was rounded)."""
    out = np.rint(a).astype(np.int64)
    assert np.all(np.abs(a) < 2.0 ** 52), "integer sum beyond float64's exact range"
    return out
