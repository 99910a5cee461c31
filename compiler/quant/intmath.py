"""The NPU's integer arithmetic (docs/isa.md, "Arithmetic"), vectorised in numpy.

Every integer-reference kernel ends a computation through `finish`, exactly as an instruction
does: add the bias (MAC start value, or element-wise bias), wrap to the accumulator width,
requantise `(acc * mult + 2**(shift-1)) >> shift`, apply ReLU or a table, saturate to int8/int16.
All values are int64 arrays; parameters broadcast along the channel axis (-2) or are scalars.
"""
from __future__ import annotations

import numpy as np

from npu_model.arch.isa import RSQRT_MANT_BITS, Act, DType

__all__ = ["ACC_BITS", "DTYPE_RANGE", "wrap", "requantise", "lut_lookup", "saturate", "finish",
           "channel_param", "rsqrt_word", "scale_product"]

ACC_BITS = 32
#: (min, max) of every element type, by its quantisation spelling ("int8").
DTYPE_RANGE = {d.long_name: (d.min, d.max) for d in DType}


def wrap(acc, bits: int = ACC_BITS):
    """Two's complement wrap of an exact sum to `bits` bits."""
    half = np.int64(1) << np.int64(bits - 1)
    return ((np.asarray(acc, np.int64) + half) & ((half << 1) - 1)) - half


def requantise(acc, mult, shift):
    """y = (acc * mult + 2**(shift-1)) >> shift (arithmetic shift) for shift > 0, acc * mult for 0."""
    acc = np.asarray(acc, np.int64)
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64) & 63
    prod = acc * mult  # |acc| < 2**31, |mult| <= 2**15: exact in int64
    rounding = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    return np.right_shift(prod + rounding, shift)


def lut_lookup(y, table: np.ndarray):
    """LUT[clamp(y, -2**(k-1), 2**(k-1)-1) + 2**(k-1)] for a table of 2**k int16 entries."""
    half = len(table) // 2
    return np.asarray(table, np.int64)[np.clip(y, -half, half - 1) + half]


def saturate(y, dtype: str):
    lo, hi = DTYPE_RANGE[dtype]
    return np.clip(y, lo, hi)


def channel_param(values, ndim: int):
    """Per-channel parameter vector shaped to broadcast on axis -2 of an `ndim`-dim tensor."""
    v = np.asarray(values, np.int64)
    if v.ndim == 0 or ndim < 2:
        return v
    return v.reshape((-1,) + (1,))


def rsqrt_word(y, table: np.ndarray):
    """act=rsqrt: the int16 block-float word e << 12 | mantissa of 1/sqrt(clamp(y, 1, 2**31-1)),
    the mantissa the table's entry at the argument's top log2(len(table)) bits after an even
    normalising shift 2e."""
    k = int(len(table)).bit_length() - 1
    v = np.clip(np.asarray(y, np.int64), 1, (1 << 31) - 1)
    e = np.zeros(v.shape, np.int64)
    for bit in (16, 8, 4, 2, 1):                       # e = floor(log2 v) // 2 by bisection
        big = (v >> (2 * (e + bit))) > 0
        e = np.where(big, e + bit, e)
    m = np.asarray(table, np.int64)[(v << (k - 2)) >> (2 * e)] & ((1 << RSQRT_MANT_BITS) - 1)
    word = (e << RSQRT_MANT_BITS) | m
    return np.where(word >= 1 << 15, word - (1 << 16), word)


def scale_product(a, word):
    """A `mul` with b_exp: (a * mantissa, exponent) of a block-float word B (int16)."""
    u = np.asarray(word, np.int64) & 0xFFFF
    return np.asarray(a, np.int64) * (u & ((1 << RSQRT_MANT_BITS) - 1)), u >> RSQRT_MANT_BITS


def finish(acc, ep, luts: dict | None = None, *, channel_axis: bool = True, extra_shift=0):
    """Bias, wrap, requantise, activate, saturate: the end of every NPU instruction.

    `ep` is an `Epilogue`; `acc` is the exact sum without the bias. With `channel_axis`, the
    epilogue's vectors apply along axis -2 (channels x positions); otherwise along axis -1.
    `extra_shift` (per element) lengthens the shift: a b_exp product's exponent.
    """
    acc = np.asarray(acc, np.int64)

    def per(v):
        v = np.asarray(v, np.int64)
        if v.ndim == 0:
            return v
        return v.reshape(-1, 1) if channel_axis else v

    y = requantise(wrap(acc + per(ep.bias)), per(ep.mult), np.minimum(per(ep.shift) + extra_shift, 63))
    if ep.act is Act.RSQRT:
        return rsqrt_word(y, luts[ep.lut].table)
    if ep.act is Act.RELU:
        y = np.maximum(y, 0)
    elif ep.act is Act.LUT:
        y = lut_lookup(y, luts[ep.lut].table)
    return saturate(y, ep.out_dtype)
