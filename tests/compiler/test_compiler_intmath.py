"""The integer reference's arithmetic is docs/isa.md's, case by case."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.quant import Epilogue, finish, lut_lookup, requantise, saturate, wrap
from compiler.quant.fixedpoint import multiplier, quantise_weights
from compiler.quant.luts import make_lut, reciprocal_lut, standard_luts
from npu_model.arch.isa import Act


def test_wrap_32_bits():
    assert wrap(2 ** 31) == -2 ** 31
    assert wrap(-2 ** 31 - 1) == 2 ** 31 - 1
    assert wrap(123) == 123
    assert wrap(2 ** 32 + 5) == 5


@pytest.mark.parametrize("acc,mult,shift,want", [
    (5, 1, 1, 3), (-5, 1, 1, -2), (-6, 1, 1, -3), (7, 3, 0, 21), (1000, 16384, 15, 500),
    (-1, 1, 1, 0), (-3, 1, 2, -1), (2 ** 31 - 1, 32767, 63, 0), (-(2 ** 31), 32767, 16, (-(2 ** 31) * 32767 + 2 ** 15) >> 16),
    (5, 1, 64 + 1, 3),  # only bits 0..5 of shift count
])
def test_requantise_round_half_up(acc, mult, shift, want):
    assert requantise(acc, mult, shift) == want


def test_lut_clamps_to_k_bit_range():
    table = np.arange(8, dtype=np.int16) * 10  # k = 3: indices -4..3
    assert list(lut_lookup(np.array([-100, -4, -1, 0, 3, 100]), table)) == [0, 0, 30, 40, 70, 70]


def test_finish_order_bias_wrap_requant_act_saturate():
    ep = Epilogue(bias=np.array([10, -10], np.int32), mult=np.array([1, 1], np.int16),
                  shift=np.array([1, 0], np.uint8), act=Act.RELU, out_dtype="int8")
    acc = np.array([[300, -5], [7, 2000]])                    # (channels, positions)
    assert finish(acc, ep).tolist() == [[127, 3], [0, 127]]   # (310+1)>>1=155 -> 127; relu(-3)=0
    wrap_ep = Epilogue.scalar(bias=1, mult=1, shift=0, out_dtype="int16")
    assert finish(np.array([2 ** 31 - 1]), wrap_ep)[0] == -32768  # wraps to -2**31, saturates


def test_saturate():
    assert saturate(np.array([-300, 300]), "int8").tolist() == [-128, 127]
    assert saturate(np.array([-40000, 40000]), "int16").tolist() == [-32768, 32767]


def test_multiplier_precision():
    m = np.array([1e-6, 0.001234, 0.5, 0.99, 3.7, 1000.0])
    mult, shift = multiplier(m)
    assert np.all(np.abs(mult) <= 32767) and np.all(shift <= 63)
    np.testing.assert_allclose(mult / 2.0 ** shift, m, rtol=1e-4)


def test_weights_symmetric_per_channel():
    w = np.array([[0.5, -1.0], [0.01, 0.02]])
    q, s = quantise_weights(w)
    assert q.dtype == np.int8 and q.tolist() == [[64, -127], [64, 127]]
    np.testing.assert_allclose(s, [1.0 / 127, 0.02 / 127])


def test_standard_luts():
    luts = standard_luts({"sigmoid": 10, "tanh": 10, "exp": 10})
    sig, tanh, exp = luts["sigmoid"], luts["tanh"], luts["exp"]
    assert sig.table[512] == 16384 and 0 <= sig.table[0] < 20 and sig.table[-1] > 32700
    assert tanh.table[512] == 0 and tanh.table[-1] > 16300 and tanh.table[0] == -tanh.table[-1]
    assert exp.table[-1] == 32767 and exp.table[0] == 0  # exp(0) saturated, exp(-16) -> 0
    assert np.all(np.diff(exp.table.astype(int)) >= 0)
    r = reciprocal_lut(16, 10)
    assert r.inputs()[0] == 1.0 and r.inputs()[-1] >= 16 and r.table[0] == 32767


def test_make_lut_entry_definition():
    lut = make_lut("t", "tanh", 4, 0.5, 0.0, 2.0 ** -14)
    np.testing.assert_array_equal(lut.table, np.round(np.tanh((np.arange(16) - 8) * 0.5) * 16384))
