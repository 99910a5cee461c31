"""Lookup tables for the NPU's `act=lut`: sigmoid, tanh, exp and the reciprocal of softmax.

A table of 2**k int16 entries is indexed by the requantised value y clamped to the k-bit signed
range (docs/isa.md): entry i stands for the real input x = offset + (i - 2**(k-1)) * step and
holds round(f(x) / out_scale). Sigmoid, tanh and exp have fixed steps and output scales, so one
table serves every layer; each layer's requantisation maps its accumulator onto the table's step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Lut", "make_lut", "standard_luts", "reciprocal_lut", "SIGMOID_OUT", "TANH_OUT", "EXP_OUT",
           "RECIP_OUT"]

SIGMOID_OUT = 2.0 ** -15   # sigmoid in (0, 1) -> 0..32767
TANH_OUT = 2.0 ** -14      # tanh in (-1, 1) -> -16384..16384 (h - n then fits int16)
EXP_OUT = 2.0 ** -15       # exp(x <= 0) in (0, 1]
RECIP_OUT = 2.0 ** -15     # 1/sum of exps, sum >= 1


@dataclass(frozen=True, eq=False)
class Lut:
    """One table: `table[i]` = round(function(offset + (i - 2**(log2-1)) * step) / out_scale)."""

    name: str
    function: str
    log2: int
    step: float
    offset: float
    out_scale: float
    table: np.ndarray  # int16, 2**log2 entries

    @property
    def entries(self) -> int:
        return 1 << self.log2

    def inputs(self) -> np.ndarray:
        return self.offset + (np.arange(self.entries) - self.entries // 2) * self.step


_FUNCTIONS = {
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
    "tanh": np.tanh,
    "exp": np.exp,
    "reciprocal": lambda x: 1.0 / np.maximum(x, 1e-9),
    "rsqrt": lambda x: 1.0 / np.sqrt(np.maximum(x, 1e-9)),
}


def make_lut(name, function, log2, step, offset, out_scale) -> Lut:
    """`function`: a name of the shared tables, or a callable (a layer's own table, e.g. softplus)."""
    x = offset + (np.arange(1 << log2) - (1 << (log2 - 1))) * step
    f = function if callable(function) else _FUNCTIONS[function]
    table = np.clip(np.round(f(x) / out_scale), -32768, 32767).astype(np.int16)
    function = name if callable(function) else function
    return Lut(name=name, function=function, log2=log2, step=step, offset=offset, out_scale=out_scale,
               table=table)


def standard_luts(log2: dict) -> dict[str, Lut]:
    """The shared sigmoid (inputs +-8), tanh (+-4) and exp (inputs <= 0, down to about -16)."""
    ks, kt, ke = log2["sigmoid"], log2["tanh"], log2["exp"]
    exp_step = 16.0 / (1 << ke)
    return {
        "sigmoid": make_lut("sigmoid", "sigmoid", ks, 16.0 / (1 << ks), 0.0, SIGMOID_OUT),
        "tanh": make_lut("tanh", "tanh", kt, 8.0 / (1 << kt), 0.0, TANH_OUT),
        # exp: the top entry is exp(0): index y = round((s - max) / step) + 2**(k-1) - 1
        "exp": make_lut("exp", "exp", ke, exp_step, -((1 << (ke - 1)) - 1) * exp_step, EXP_OUT),
    }


def rsqrt_lut(log2: int) -> Lut:
    """act=rsqrt's mantissas (docs/isa.md "Arithmetic"): entry i for i in [2**(k-2), 2**k) stands
    for the argument normalised to u = i / 2**(k-2) in [1, 4) and holds 1/sqrt(u) at 2**-12 for
    the middle of its interval, at most 4095 (12 bits); the entries below 2**(k-2) are never read."""
    quarter = 1 << (log2 - 2)
    i = np.arange(1 << log2)
    u = (np.maximum(i, quarter) + 0.5) / quarter
    table = np.where(i >= quarter, np.minimum(np.round(4096.0 / np.sqrt(u)), 4095), 0).astype(np.int16)
    return Lut(name=f"rsqrt{log2}", function="rsqrt", log2=log2, step=1.0 / quarter, offset=2.0, out_scale=2.0 ** -12,
               table=table)


def reciprocal_lut(keys: int, log2: int) -> Lut:
    """1/x for softmax sums x in [1, keys]: entry 0 is x = 1, the step a power of two."""
    half = 1 << (log2 - 1)
    step = 2.0 ** np.ceil(np.log2(max(keys - 1, 1) / (2 * half - 1)))
    return make_lut(f"reciprocal{keys}", "reciprocal", log2, float(step), 1.0 + half * step, RECIP_OUT)
