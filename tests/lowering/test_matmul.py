"""Activation x activation products (attention scores and weighting) on the golden model."""
import numpy as np
import pytest

from compiler.lower import Post, alloc_tensor, matmul
from compiler.lower.reference import requantise
from npu_model.arch.isa import Act, DType

LANES = (1, 2, 4, 8, 16)


@pytest.mark.parametrize("lanes", LANES)
def test_scores_and_weighting(run, rng, lanes):
    """S = Q K^T (K kept in sbuf: no read-port conflict), then O = P V with V in abuf (conflict)."""
    P, D = 16, 24
    q = rng.integers(-128, 128, (P, D), dtype=np.int8)
    kt = rng.integers(-128, 128, (P, D), dtype=np.int8)
    v = rng.integers(-128, 128, (P, D), dtype=np.int8)
    ps = Post(bias=0, mult=1, shift=4)
    pv = Post(bias=np.arange(D) * 10, mult=np.arange(1, D + 1), shift=12, act=Act.RELU)

    def kernel(b, refs):
        refs["s"] = alloc_tensor(b, "s", P, P, DType.I16)
        res = matmul(b, refs["q"], refs["k"], ps, refs["s"], b_transposed=True)
        refs["o"] = alloc_tensor(b, "o", P, D)
        return res.add(matmul(b, refs["s"], refs["v"], pv, refs["o"]))

    r = run(lanes, {"q": q, "v": v}, kernel, ["s", "o"], state={"k": kt})
    s = requantise(q.astype(np.int64) @ kt.T.astype(np.int64), ps, np.int16)
    np.testing.assert_array_equal(r.out["s"], s)
    np.testing.assert_array_equal(r.out["o"], requantise(s.astype(np.int64) @ v.astype(np.int64), pv, np.int8))
    assert r.stats.macs == 2 * P * P * D
    assert r.stats.conflict_cycles == P * -(-D // lanes) * P     # only the second product shares abuf


@pytest.mark.parametrize("lanes", (8, 16))
def test_narrow_product_runs_lanes_over_rows(run, rng, lanes):
    a = rng.integers(-128, 128, (20, 7), dtype=np.int8)
    bm = rng.integers(-128, 128, (7, 3), dtype=np.int8)
    p = Post(bias=5, mult=3, shift=6)

    def kernel(b, refs):
        refs["o"] = alloc_tensor(b, "o", 20, 3)
        return matmul(b, refs["a"], refs["b"], p, refs["o"])

    r = run(lanes, {"a": a}, kernel, ["o"], state={"b": bm})
    np.testing.assert_array_equal(r.out["o"], requantise(a.astype(np.int64) @ bm.astype(np.int64), p, np.int8))
    assert r.result.mode == "positions"
