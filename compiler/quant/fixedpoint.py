"""Real scale factors to the NPU's integer parameters: weights, biases, multiplier and shift.

Requantisation multiplies by an int16 and shifts right by 0..63, so a real factor M becomes
mult / 2**shift with mult as large as int16 allows (14 to 15 significant bits).
"""
from __future__ import annotations

import numpy as np

from ..errors import QuantisationError

__all__ = ["multiplier", "quantise_weights", "quantise_bias", "MULT_MAX", "MAX_SHIFT"]

MULT_MAX = 32767
MAX_SHIFT = 63
_INT32 = 2 ** 31 - 1


def multiplier(m, *, where=("", "")):
    """Real factor(s) m >= 0 -> (mult int16, shift uint8) arrays with mult / 2**shift ~ m."""
    m = np.atleast_1d(np.asarray(m, np.float64))
    mult = np.zeros(m.shape, np.int64)
    shift = np.zeros(m.shape, np.int64)
    for i, v in np.ndenumerate(m):  # one per channel: cheap, and frexp per element is clearest
        if v <= 0:
            continue
        s = MAX_SHIFT if v < 2.0 ** -40 else int(np.floor(np.log2(MULT_MAX / v)))
        s = min(max(s, 0), MAX_SHIFT)
        q = int(np.round(v * 2.0 ** s))
        while q > MULT_MAX and s > 0:
            s -= 1
            q = int(np.round(v * 2.0 ** s))
        if q > MULT_MAX:
            raise QuantisationError(where[0], f"requantisation factor {v:g} exceeds the int16 multiplier",
                                    layer=where[1] or None)
        mult[i], shift[i] = q, s
    return mult.astype(np.int16), shift.astype(np.uint8)


def quantise_weights(w, *, axis: int = 0, bits: int = 8):
    """Symmetric per-output-channel quantisation along `axis` -> (int array, scales)."""
    qmax = 2 ** (bits - 1) - 1
    w = np.asarray(w, np.float64)
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=other) if other else np.abs(w)
    scale = np.where(amax > 0, amax / qmax, 1.0)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -qmax, qmax)
    return q.astype(np.int8 if bits == 8 else np.int16), scale


def quantise_bias(b, scale, *, where=("", "")):
    """Bias at the accumulator's scale (input scale x weight scale) as int32."""
    q = np.round(np.asarray(b, np.float64) / scale)
    if np.any(np.abs(q) > _INT32):
        raise QuantisationError(where[0], "bias does not fit in int32 at the accumulator scale",
                                layer=where[1] or None)
    return q.astype(np.int32)
