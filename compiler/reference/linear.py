"""Linear kernels shared by the float and the integer references.

Tensors are (frames, channels, positions). The integer reference calls the same functions on
integer-valued float64 arrays: every product of int8/int16 operands and every partial sum of a
TRU-Net layer stays far below 2**53, so float64 BLAS computes the exact integer sums (in any
order) and is much faster than numpy's integer matmul. `exact_int` converts back.
"""
from __future__ import annotations

import numpy as np

__all__ = ["conv1d", "conv_transpose1d", "complex_as_real", "exact_int", "conv1d_length",
           "conv_transpose1d_length"]


def conv1d_length(length, kernel, stride=1, padding=0, dilation=1) -> int:
    return (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose1d_length(length, kernel, stride=1, padding=0, dilation=1, output_padding=0) -> int:
    return (length - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv1d(x, w, *, stride=1, padding=0, dilation=1, groups=1):
    """x (T, Cin, L), w (Cout, Cin/groups, K) -> (T, Cout, Lout), zero padding, no bias."""
    t, cin, length = x.shape
    cout, cin_g, k = w.shape
    lout = conv1d_length(length, k, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding))) if padding else x
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
    """x (T, Cin, L), w (Cin, Cout/groups, K) (PyTorch layout) -> (T, Cout, Lout), no bias.

    Computed as each input position scattering K products: no multiplications by zeros.
    """
    t, cin, length = x.shape
    _, cout_g, k = w.shape
    cin_g = cin // groups
    lout = conv_transpose1d_length(length, k, stride, padding, dilation, output_padding)
    xg = x.reshape(t, groups, cin_g, length).transpose(0, 1, 3, 2)                   # (T,g,L,ci)
    wg = w.reshape(groups, cin_g, cout_g * k)
    contrib = np.matmul(xg, wg).reshape(t, groups, length, cout_g, k)
    full_len = max((length - 1) * stride + dilation * (k - 1) + 1 + output_padding, padding + lout)
    full = np.zeros((t, groups, cout_g, full_len))
    span = (length - 1) * stride + 1
    for tap in range(k):  # K is small; the work inside is vectorised
        full[..., tap * dilation: tap * dilation + span: stride] += contrib[..., tap].transpose(0, 1, 3, 2)
    return full[..., padding: padding + lout].reshape(t, groups * cout_g, lout)


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
