"""Numpy integer references of the lowering kernels' semantics, and their exact MAC counts.

Written from the definitions (zero padding, zero insertion for transposed convolutions, the
arithmetic of docs/isa.md), not from the instruction stream, so that comparing a program's
output with these checks the lowering. Tensors are (positions, channels) integer arrays.
"""
from __future__ import annotations

import numpy as np

from npu_model.arch.isa import Act, Opcode

from .tensor import Post

__all__ = ["requantise", "conv1d_ref", "conv_transpose1d_ref", "elementwise_ref", "conv1d_macs",
           "conv_transpose1d_macs"]


def _wrap(acc, bits):
    acc = np.asarray(acc, np.int64)
    half = np.int64(1) << np.int64(bits - 1)
    return ((acc + half) & ((half << np.int64(1)) - 1)) - half


def requantise(acc, post: Post, out_dtype, acc_bits: int = 32, *, add_bias: bool = True) -> np.ndarray:
    """post() of docs/isa.md on an (positions, channels) accumulator (bias added here)."""
    acc = np.asarray(acc, np.int64)
    channels = acc.shape[-1]
    bias, mult, shift = post.per_channel(channels)
    if add_bias:
        acc = acc + bias
    acc = _wrap(acc, acc_bits)
    shift = shift & 63
    y = acc * mult
    rnd = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    y = np.right_shift(y + rnd, shift)
    if post.act is Act.RELU:
        y = np.maximum(y, 0)
    elif post.act is Act.LUT:
        lut = np.asarray(post.lut, np.int64)
        k = int(lut.size).bit_length() - 1
        half = 1 << (k - 1)
        y = lut[np.clip(y, -half, half - 1) + half]
    info = np.iinfo(out_dtype)
    return np.clip(y, info.min, info.max).astype(out_dtype)


def _pads(padding):
    return (int(padding[0]), int(padding[1])) if isinstance(padding, (tuple, list)) else (int(padding),) * 2


def conv1d_ref(x, weight, post: Post, out_dtype=np.int8, *, stride=1, padding=0, dilation=1, groups=1,
               acc_bits=32) -> np.ndarray:
    """x: (P, Cin) (or a list concatenated along channels); weight (Cout, Cin/groups, K)."""
    if isinstance(x, (list, tuple)):
        x = np.concatenate([np.asarray(t, np.int64) for t in x], axis=1)
    x = np.asarray(x, np.int64)
    w = np.asarray(weight, np.int64)
    cout, cin_g, k = w.shape
    pl, pr = _pads(padding)
    xp = np.concatenate([np.zeros((pl, x.shape[1]), np.int64), x, np.zeros((pr, x.shape[1]), np.int64)])
    pout = (xp.shape[0] - dilation * (k - 1) - 1) // stride + 1
    cout_g = cout // groups
    acc = np.zeros((pout, cout), np.int64)
    for g in range(groups):
        xs = xp[:, g * cin_g:(g + 1) * cin_g]
        ws = w[g * cout_g:(g + 1) * cout_g]
        for t in range(k):
            rows = xs[t * dilation: t * dilation + (pout - 1) * stride + 1: stride]   # (pout, cin_g)
            acc[:, g * cout_g:(g + 1) * cout_g] += rows @ ws[:, :, t].T
    return requantise(acc, post, out_dtype, acc_bits)


def conv_transpose1d_ref(x, weight, post: Post, out_dtype=np.int8, *, stride=1, padding=0, output_padding=0,
                         dilation=1, groups=1, acc_bits=32) -> np.ndarray:
    """By zero insertion: x upsampled by `stride`, then a correlation with the flipped kernel.
    weight: (Cin, Cout/groups, K)."""
    if isinstance(x, (list, tuple)):
        x = np.concatenate([np.asarray(t, np.int64) for t in x], axis=1)
    x = np.asarray(x, np.int64)
    w = np.asarray(weight, np.int64)
    cin, cout_g, k = w.shape
    pin = x.shape[0]
    up = np.zeros(((pin - 1) * stride + 1, cin), np.int64)
    up[::stride] = x
    span = dilation * (k - 1)
    # full transposed conv = conv of up, padded by span both sides, with the flipped kernel
    full = np.concatenate([np.zeros((span, cin), np.int64), up, np.zeros((span + output_padding, cin), np.int64)])
    pout = (pin - 1) * stride - 2 * padding + span + output_padding + 1
    cin_g = cin // groups
    acc_full = np.zeros((full.shape[0] - span, cout_g * groups), np.int64)
    for g in range(groups):
        xs = full[:, g * cin_g:(g + 1) * cin_g]
        ws = w[g * cin_g:(g + 1) * cin_g]                                    # (cin_g, cout_g, k)
        for t in range(k):
            tf = k - 1 - t                                                   # flipped tap
            rows = xs[t * dilation: t * dilation + acc_full.shape[0]]
            acc_full[:, g * cout_g:(g + 1) * cout_g] += rows @ ws[:, :, tf]
    acc = acc_full[padding:padding + pout]
    return requantise(acc, post, out_dtype, acc_bits)


_EW = {Opcode.ADD: np.add, Opcode.SUB: np.subtract, Opcode.MUL: np.multiply, Opcode.MAX: np.maximum,
       Opcode.MIN: np.minimum}


def elementwise_ref(op, a, b, post: Post, out_dtype=np.int8, acc_bits=32) -> np.ndarray:
    """a, b: arrays broadcastable to the output's (positions, channels)."""
    a = np.asarray(a, np.int64)
    acc = a if Opcode(op) is Opcode.MOV else _EW[Opcode(op)](a, np.asarray(b, np.int64))
    return requantise(np.atleast_2d(acc), post, out_dtype, acc_bits)


def conv1d_macs(length, cin, cout, kernel, stride=1, padding=0, dilation=1, groups=1) -> int:
    """Multiplications with real (non-padding) inputs."""
    pl, pr = _pads(padding)
    pout = (length + pl + pr - dilation * (kernel - 1) - 1) // stride + 1
    taps = sum(1 for o in range(pout) for t in range(kernel) if 0 <= o * stride - pl + t * dilation < length)
    return taps * (cin // groups) * cout


def conv_transpose1d_macs(length, cin, cout, kernel, stride=1, padding=0, output_padding=0, dilation=1,
                          groups=1) -> int:
    """Products of a real input with a tap that land inside the output (no inserted zeros)."""
    pout = (length - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    pairs = sum(1 for i in range(length) for t in range(kernel) if 0 <= i * stride - padding + t * dilation < pout)
    return pairs * cin * (cout // groups)
