"""Interleaving two independent recurrences hides the read-after-write waits of each."""
import numpy as np
import pytest

from compiler.lower import Post, Recorder, TensorRef, alloc_tensor, dense, interleave
from compiler.lower.reference import requantise
from npu_model.arch.isa import Buffer, DType


def recurrence(b, x, h0, out, w, post):
    """out[t] = post(W [out[t-1], x[t]]) with out[-1] = h0: each step starts by reading the previous
    one (with x first, its MAC would cover the wait: order chains that way where possible)."""
    for t in range(x.positions):
        prev = h0 if t == 0 else out.view(pos=t - 1, positions=1)
        dense(b, [prev, x.view(pos=t, positions=1)], w, post, out.view(pos=t, positions=1), name=f"step{t}")


def reference(x, h0, w, post):
    h, rows = h0.astype(np.int64), []
    for t in range(len(x)):
        h = requantise(np.concatenate([h, x[t:t + 1]], axis=1).astype(np.int64) @ w.T.astype(np.int64),
                       post, np.int16).astype(np.int64)
        rows.append(h[0])
    return np.array(rows, np.int16)


@pytest.mark.parametrize("lanes", (1, 8))
def test_two_directions_interleaved(run, rng, lanes):
    T, X, H = 8, 8, 16
    xs = {d: rng.integers(-128, 128, (T, X), dtype=np.int8) for d in ("xf", "xb")}
    ws = {d: rng.integers(-128, 128, (H, H + X), dtype=np.int8) for d in ("xf", "xb")}
    post = Post(bias=rng.integers(-1000, 1000, H), mult=3, shift=10)
    h0 = np.zeros((1, H), np.int16)
    cycles = {}
    for mode in ("serial", "interleaved"):
        def kernel(b, refs):
            h = TensorRef(Buffer.SBUF, b.state("h0", h0), 1, H, DType.I16)
            recs = []
            for d, o in (("xf", "yf"), ("xb", "yb")):
                refs[o] = alloc_tensor(b, o, T, H, DType.I16)
                rec = Recorder(b) if mode == "interleaved" else b
                recurrence(rec, refs[d], h, refs[o], ws[d], post)
                recs.append(rec)
            if mode == "interleaved":
                interleave(b, recs)

        r = run(lanes, xs, kernel, ["yf", "yb"])
        for d, o in (("xf", "yf"), ("xb", "yb")):
            np.testing.assert_array_equal(r.out[o], reference(xs[d], h0, ws[d], post))
        cycles[mode] = r.stats
    assert cycles["interleaved"].stall_cycles < cycles["serial"].stall_cycles
    assert cycles["interleaved"].cycles < cycles["serial"].cycles
