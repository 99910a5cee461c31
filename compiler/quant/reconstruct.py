"""Layer-wise reconstruction: integer weights fitted to the float layer on the calibration frames.

Round-to-nearest quantises each weight on its own and ignores what the layer receives. Here each
convolution is quantised in network order, seeing the input the integer network actually gives it
(its own, already quantised, predecessors) and aiming at the float reference's pre-activation:

1. a ridge least-squares fit of real weights W' to the float target Y from the integer input X
   (X, Y centred): W' = (Y^T X + lam W) (X^T X + lam I)^-1. Where the input's quantisation noise
   spans directions the signal does not (a 1x1 conv after a layer of lower rank, a depthwise
   kernel over a smooth input) the fit stops amplifying it; lam keeps W' near the float W;
2. GPTQ-style rounding (Frantar et al., 2022): the columns of W' are rounded one at a time and
   the rounding error of each is spread over the columns not yet rounded through the inverse of
   the input's second-moment matrix, so the error lands where the input has little energy;
3. the bias refitted last, so that the integer pre-activation is unbiased on the frames.

Nothing changes in the network's structure or in any integer step: only the values of the int8
weights (per-output-row scales as before) and of the int32 biases. Layers other than conv1d and
conv_transpose1d (groups 1) keep round-to-nearest.
"""
from __future__ import annotations

import numpy as np

from ..reference.linear import conv1d_length, conv_transpose1d_length

__all__ = ["fit_conv", "conv1d_columns", "conv_transpose1d_columns", "gptq_round", "FITTED_OPS"]

FITTED_OPS = ("conv1d", "conv_transpose1d", "dense")
_QMAX = 127
_MAX_ROWS = 6000   # positions used for the fit's statistics
_MAX_COLS = 1024   # wider layers keep round-to-nearest (an (n, n) inverse and n rounding steps)


def conv1d_columns(x, kernel, stride=1, padding=0, dilation=1, groups=1):
    """x (T, Cin, L) -> im2col (groups, T*Lout, Cin/groups*K), columns ordered (channel, tap)."""
    t, cin, length = x.shape
    cin_g = cin // groups
    lout = conv1d_length(length, kernel, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding))) if padding else x
    idx = np.arange(lout)[:, None] * stride + np.arange(kernel)[None, :] * dilation
    cols = xp[:, :, idx].reshape(t, groups, cin_g, lout, kernel).transpose(1, 0, 3, 2, 4)
    return cols.reshape(groups, t * lout, cin_g * kernel)


def conv_transpose1d_columns(x, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    """x (T, Cin, L) -> (T*Lout, Cin*K): output o gathers x[c, j] for o = j*stride + k*dil - pad."""
    t, cin, length = x.shape
    lout = conv_transpose1d_length(length, kernel, stride, padding, dilation, output_padding)
    cols = np.zeros((t, lout, cin, kernel))
    o = np.arange(lout)
    for tap in range(kernel):
        num = o + padding - tap * dilation
        j = num // stride
        ok = (num % stride == 0) & (j >= 0) & (j < length)
        view = cols[:, :, :, tap]                                # a view: basic indexing
        view[:, o[ok], :] = x[:, :, j[ok]].transpose(0, 2, 1)
    return cols.reshape(t * lout, cin * kernel)


def gptq_round(w, h, scale, damp=0.01):
    """Round w (..., m, n) to integers at scales (..., m), minimising (w - q s) H (w - q s)^T per
    row for the matching H (..., n, n), column by column (GPTQ): each column's rounding error is
    pushed onto the columns not yet rounded. Leading axes are independent groups."""
    w = np.array(w, np.float64)
    n = w.shape[-1]
    h = np.array(h, np.float64)
    idx = np.arange(n)
    diag = h[..., idx, idx]
    diag = np.where(diag > 0, diag, 1.0)                        # inputs that are always zero
    h[..., idx, idx] = diag + damp * diag.mean(axis=-1, keepdims=True)
    u = np.swapaxes(np.linalg.cholesky(np.linalg.inv(h)), -1, -2)  # H^-1 = U^T U, U upper triangular
    q = np.zeros(w.shape)
    for i in range(n):
        q[..., i] = np.clip(np.round(w[..., i] / scale), -_QMAX, _QMAX)
        err = (w[..., i] - q[..., i] * scale) / u[..., i, i][..., None]
        w[..., i + 1:] -= err[..., :, None] * u[..., None, i, i + 1:]
    return q


def _fit_rows(x, y, w0, ridge):
    """Per group: ridge fit + GPTQ rounding of rows w0 (g, m, n) for input columns x (g, N, n),
    targets y (g, N, m). -> (integer rows (g, m, n), scales (g, m), bias (g, m))."""
    xm, ym = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    if x.shape[1] > _MAX_ROWS:  # a seeded subset of the positions: enough for (n, n) statistics
        keep = np.sort(np.random.default_rng(0).choice(x.shape[1], _MAX_ROWS, replace=False))
        x, y = x[:, keep], y[:, keep]
    xc, yc = x - xm, y - ym
    h = np.matmul(np.swapaxes(xc, 1, 2), xc)                                   # (g, n, n)
    n = h.shape[-1]
    if ridge is None:
        w = np.asarray(w0, np.float64)
    else:
        lam = ridge * np.maximum(np.einsum("gii->g", h) / n, 1e-30)[:, None, None]
        rhs = np.matmul(np.swapaxes(yc, 1, 2), xc) + lam * w0                   # (g, m, n)
        w = np.swapaxes(np.linalg.solve(h + lam * np.eye(n), np.swapaxes(rhs, 1, 2)), 1, 2)
    amax = np.abs(w).max(axis=-1)
    scale = np.where(amax > 0, amax / _QMAX, 1.0)
    q = gptq_round(w, h, scale)
    bias = ym[:, 0, :] - np.einsum("gmn,gn->gm", q * scale[..., None], xm[:, 0, :])
    return q, scale, bias


def fit_conv(fl, x, y, ridge=0.3):
    """Fit a folded conv1d / conv_transpose1d to targets y (T, Cout, Lout) from inputs x (T, Cin, L).
    ridge None: keep the float weights (GPTQ rounding and the bias refit only).

    -> (int8 weight in the layer's layout, per-output-channel weight scales, float bias), or None
    when the layer is not fitted (grouped transposed convolutions, more than _MAX_COLS inputs)."""
    a = fl.attrs
    w = np.asarray(fl.params["weight"], np.float64)
    columns = w[0].size if fl.op in ("conv1d", "dense") else w.shape[0] * w.shape[2]
    if columns > _MAX_COLS:
        return None
    if fl.op in ("conv1d", "dense"):
        cout, cin_g, k = w.shape
        g = a["groups"]
        cols = conv1d_columns(x, k, a["stride"], a["padding"], a["dilation"], g)      # (g, N, cin_g*k)
        cout_g = cout // g
        yg = y.transpose(1, 0, 2).reshape(g, cout_g, -1).transpose(0, 2, 1)         # (g, N, cout_g)
        q, s, b = _fit_rows(cols, yg, w.reshape(g, cout_g, cin_g * k), ridge)
        return q.reshape(w.shape).astype(np.int8), s.reshape(-1), b.reshape(-1)
    if fl.op == "conv_transpose1d" and a["groups"] == 1:
        cin, cout, k = w.shape
        cols = conv_transpose1d_columns(x, k, a["stride"], a["padding"], a["output_padding"], a["dilation"])
        w0 = w.transpose(1, 0, 2).reshape(cout, cin * k)
        q, s, b = _fit_rows(cols[None], y.transpose(0, 2, 1).reshape(1, -1, cout), w0[None], ridge)
        return q[0].reshape(cout, cin, k).transpose(1, 0, 2).astype(np.int8), s[0], b[0]
    return None
