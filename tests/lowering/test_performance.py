"""MAC-lane utilisation and lane scaling of TRU-Net-sized layers, from the golden model's counters."""
import numpy as np
import pytest

from compiler.lower import alloc_tensor, conv1d, conv_output_length, conv_transpose1d
from compiler.lower.reference import conv1d_ref, conv_transpose1d_ref
from npu_model.arch.isa import Act


def _pointwise(run, rng, post, lanes):
    x = rng.integers(-128, 128, (128, 128), dtype=np.int8)
    w = rng.integers(-128, 128, (128, 128, 1), dtype=np.int8)
    p = post(rng, 128)

    def kernel(b, refs):
        refs["y"] = alloc_tensor(b, "y", 128, 128)
        return conv1d(b, refs["x"], w, p, refs["y"])

    r = run(lanes, {"x": x}, kernel, ["y"])
    np.testing.assert_array_equal(r.out["y"], conv1d_ref(x, w, p))
    return r.stats


def test_pointwise_utilisation_and_scaling(run, rng, post):
    s8 = _pointwise(run, rng, post, 8)
    s1 = _pointwise(run, rng, post, 1)
    assert s8.utilisation >= 0.95
    assert s1.cycles >= 7 * s8.cycles
    assert s8.conflict_cycles == 0


@pytest.mark.parametrize("k, stride, pin", [(5, 2, 128), (3, 1, 64)])
def test_depthwise_utilisation(run, rng, post, k, stride, pin):
    x = rng.integers(-128, 128, (pin, 128), dtype=np.int8)
    w = rng.integers(-128, 128, (128, 1, k), dtype=np.int8)
    p = post(rng, 128)
    pout = conv_output_length(pin, k, stride, k // 2)

    def kernel(b, refs):
        refs["y"] = alloc_tensor(b, "y", pout, 128)
        return conv1d(b, refs["x"], w, p, refs["y"], stride=stride, padding=k // 2, groups=128)

    r = run(8, {"x": x}, kernel, ["y"])
    np.testing.assert_array_equal(r.out["y"], conv1d_ref(x, w, p, stride=stride, padding=k // 2, groups=128))
    assert r.stats.utilisation >= 0.9


def test_encoder_decoder_chain_has_no_hazard_stalls(run, rng, post):
    """Layers back to back in one program (enc1, pointwise, depthwise, transposed, mask conv): each
    starts by reading the head of its input, so only the fences wait, and the chain stays exact."""
    x = rng.integers(-128, 128, (64, 4), dtype=np.int8)
    w1 = rng.integers(-128, 128, (32, 4, 5), dtype=np.int8)
    w2 = rng.integers(-128, 128, (64, 32, 1), dtype=np.int8)
    w3 = rng.integers(-128, 128, (64, 1, 5), dtype=np.int8)
    w4 = rng.integers(-128, 128, (64, 16, 5), dtype=np.int8)
    w5 = rng.integers(-128, 128, (1, 16, 3), dtype=np.int8)
    p1, p2, p3, p4 = post(rng, 32), post(rng, 64), post(rng, 64), post(rng, 16)
    p5 = post(rng, 1, act=Act.NONE)

    def kernel(b, refs):
        t1 = alloc_tensor(b, "t1", 32, 32)
        res = conv1d(b, refs["x"], w1, p1, t1, stride=2, padding=2)
        t2 = alloc_tensor(b, "t2", 32, 64)
        res.add(conv1d(b, t1, w2, p2, t2))
        t3 = alloc_tensor(b, "t3", 16, 64)
        res.add(conv1d(b, t2, w3, p3, t3, stride=2, padding=2, groups=64))
        t4 = alloc_tensor(b, "t4", 32, 16)
        res.add(conv_transpose1d(b, t3, w4, p4, t4, stride=2, padding=2, output_padding=1))
        refs["y"] = alloc_tensor(b, "y", 32, 1)
        res.add(conv1d(b, t4, w5, p5, refs["y"], padding=1))
        return res

    r = run(8, {"x": x}, kernel, ["y"])
    t = conv1d_ref(x, w1, p1, stride=2, padding=2)
    t = conv1d_ref(t, w2, p2)
    t = conv1d_ref(t, w3, p3, stride=2, padding=2, groups=64)
    t = conv_transpose1d_ref(t, w4, p4, stride=2, padding=2, output_padding=1)
    np.testing.assert_array_equal(r.out["y"], conv1d_ref(t, w5, p5, padding=1))
    assert r.stats.stall_cycles <= 8


@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_transposed_conv_from_one_position_takes_the_lanes(run, rng, post, lanes):
    """A 1-output-channel transposed convolution from 1 to 257 positions: every output reads its
    own tap, so lanes take the output positions with a weight row each (once 12.5 % at 8 lanes)."""
    x = rng.integers(-128, 128, (1, 8), dtype=np.int8)
    w = rng.integers(-128, 128, (8, 1, 257), dtype=np.int8)
    p = post(rng, 1)

    def kernel(b, refs):
        refs["y"] = alloc_tensor(b, "y", 257, 1)
        return conv_transpose1d(b, refs["x"], w, p, refs["y"])

    r = run(lanes, {"x": x}, kernel, ["y"])
    np.testing.assert_array_equal(r.out["y"], conv_transpose1d_ref(x, w, p))
    assert r.stats.utilisation >= (0.9 if lanes <= 8 else 0.85)       # 257 = 8 x 32 + 1 = 16 x 16 + 1
    assert r.stats.conflict_cycles == 0
