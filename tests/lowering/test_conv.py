"""Convolution kernels against their numpy references, bit for bit, on the golden model."""
import numpy as np
import pytest

from compiler.lower import (Post, TensorRef, alloc_tensor, conv1d, conv_output_length, conv_transpose1d,
                            conv_transpose_output_length, dense, depthwise_conv1d)
from compiler.lower.reference import (conv1d_macs, conv1d_ref, conv_transpose1d_macs, conv_transpose1d_ref,
                                      requantise)
from npu_model.arch.isa import Act, Buffer, DType

LANES = (1, 2, 4, 8, 16)


def i8(rng, *shape):
    return rng.integers(-128, 128, shape, dtype=np.int8)


def check_conv(run, rng, post_fn, lanes, *, pin, cin, cout, k, stride=1, padding=0, dilation=1, groups=1,
               split=None, act=Act.RELU):
    """A conv1d of TRU-Net's shapes; split: channel counts of concatenated inputs."""
    split = split or [cin]
    xs = {f"x{i}": i8(rng, pin, c) for i, c in enumerate(split)}
    w = i8(rng, cout, cin // groups, k)
    post = post_fn(rng, cout, act=act)
    pout = conv_output_length(pin, k, stride, padding, dilation)

    def kernel(b, refs):
        refs["y"] = alloc_tensor(b, "y", pout, cout)
        ins = [refs[n] for n in xs]
        return conv1d(b, ins if len(ins) > 1 else ins[0], w, post, refs["y"], stride=stride,
                      padding=padding, dilation=dilation, groups=groups)

    r = run(lanes, xs, kernel, ["y"])
    want = conv1d_ref(list(xs.values()), w, post, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_array_equal(r.out["y"], want)
    macs = conv1d_macs(pin, cin, cout, k, stride, padding, dilation, groups)
    assert r.stats.macs == r.result.macs == macs
    return r


@pytest.mark.parametrize("lanes", LANES)
def test_pointwise_128(run, rng, post, lanes):
    r = check_conv(run, rng, post, lanes, pin=128, cin=128, cout=128, k=1)
    assert r.result.instructions == 128 * -(-128 // lanes)
    assert r.stats.stall_cycles <= 8              # only the fences wait


@pytest.mark.parametrize("lanes", LANES)
def test_depthwise_k5_s2(run, rng, post, lanes):
    r = check_conv(run, rng, post, lanes, pin=128, cin=128, cout=128, k=5, stride=2, padding=2, groups=128)
    assert r.stats.stall_cycles <= 8


@pytest.mark.parametrize("lanes", LANES)
def test_depthwise_k3_s1_small_channels(run, rng, post, lanes):
    # 6 channels: with 8 or 16 lanes, lanes run over positions
    r = check_conv(run, rng, post, lanes, pin=32, cin=6, cout=6, k=3, stride=1, padding=1, groups=6)
    if lanes >= 8:
        assert r.result.mode in ("positions", "mixed")


@pytest.mark.parametrize("lanes", LANES)
def test_enc1_conv_4_to_64_k5_s2(run, rng, post, lanes):
    r = check_conv(run, rng, post, lanes, pin=256, cin=4, cout=64, k=5, stride=2, padding=2)
    assert r.stats.stall_cycles <= 8


@pytest.mark.parametrize("lanes", LANES)
def test_concat_skip_64_plus_128_to_64(run, rng, post, lanes):
    check_conv(run, rng, post, lanes, pin=32, cin=192, cout=64, k=1, split=[64, 128])


@pytest.mark.parametrize("lanes", (1, 4, 16))
def test_concat_three_inputs_k3(run, rng, post, lanes):
    check_conv(run, rng, post, lanes, pin=20, cin=19, cout=9, k=3, stride=1, padding=1, split=[5, 8, 6])


@pytest.mark.parametrize("lanes", LANES)
def test_mask_conv_cout1(run, rng, post, lanes):
    r = check_conv(run, rng, post, lanes, pin=256, cin=4, cout=1, k=3, padding=1, act=Act.NONE)
    if lanes > 1:
        assert r.result.mode == "positions"      # interior positions across lanes, the two edges together
        assert r.stats.cycles < 256 * 12 / lanes * 1.3


@pytest.mark.parametrize("lanes", (2, 8, 16))
def test_cout5_partial_tiles(run, rng, post, lanes):
    check_conv(run, rng, post, lanes, pin=40, cin=12, cout=5, k=5, stride=2, padding=2)


@pytest.mark.parametrize("lanes", (1, 4, 8))
def test_dilation_grouped_asymmetric(run, rng, post, lanes):
    check_conv(run, rng, post, lanes, pin=30, cin=8, cout=12, k=3, dilation=2, padding=2)
    check_conv(run, rng, post, lanes, pin=30, cin=8, cout=12, k=3, groups=4, padding=(2, 0))
    check_conv(run, rng, post, lanes, pin=30, cin=8, cout=8, k=5, groups=8, dilation=3, padding=(3, 1), stride=2)


def check_convT(run, rng, post_fn, lanes, *, pin, cin, cout, k, stride, padding, output_padding=0,
                dilation=1, groups=1, split=None, act=Act.RELU):
    split = split or [cin]
    xs = {f"x{i}": i8(rng, pin, c) for i, c in enumerate(split)}
    w = i8(rng, cin, cout // groups, k)
    post = post_fn(rng, cout, act=act)
    pout = conv_transpose_output_length(pin, k, stride, padding, dilation, output_padding)

    def kernel(b, refs):
        refs["y"] = alloc_tensor(b, "y", pout, cout)
        ins = [refs[n] for n in xs]
        return conv_transpose1d(b, ins if len(ins) > 1 else ins[0], w, post, refs["y"], stride=stride,
                                padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)

    r = run(lanes, xs, kernel, ["y"])
    want = conv_transpose1d_ref(list(xs.values()), w, post, stride=stride, padding=padding,
                                output_padding=output_padding, dilation=dilation, groups=groups)
    np.testing.assert_array_equal(r.out["y"], want)
    macs = conv_transpose1d_macs(pin, cin, cout, k, stride, padding, output_padding, dilation, groups)
    assert r.stats.macs == r.result.macs == macs
    return r


@pytest.mark.parametrize("lanes", LANES)
def test_transposed_k5_s2(run, rng, post, lanes):
    r = check_convT(run, rng, post, lanes, pin=16, cin=64, cout=64, k=5, stride=2, padding=2, output_padding=1)
    assert r.stats.stall_cycles <= 8
    # polyphase: no product with an inserted zero
    assert r.stats.macs == 16 * 64 * 64 * 5 - 64 * 64 * 3


@pytest.mark.parametrize("lanes", LANES)
def test_transposed_k3_s1(run, rng, post, lanes):
    check_convT(run, rng, post, lanes, pin=32, cin=64, cout=64, k=3, stride=1, padding=1)


@pytest.mark.parametrize("lanes", LANES)
def test_transposed_last_layer_cout5(run, rng, post, lanes):
    # decoder's last block (5, 2, 5) with no activation
    r = check_convT(run, rng, post, lanes, pin=128, cin=64, cout=5, k=5, stride=2, padding=2,
                    output_padding=1, act=Act.NONE)
    if lanes >= 8:
        assert r.stats.utilisation > 0.85


@pytest.mark.parametrize("lanes", (1, 8, 16))
def test_transposed_odd_cases(run, rng, post, lanes):
    check_convT(run, rng, post, lanes, pin=9, cin=6, cout=7, k=3, stride=2, padding=1)
    check_convT(run, rng, post, lanes, pin=9, cin=6, cout=7, k=2, stride=4, padding=0, output_padding=3)
    check_convT(run, rng, post, lanes, pin=9, cin=6, cout=6, k=3, stride=2, padding=1, dilation=2,
                output_padding=1)
    check_convT(run, rng, post, lanes, pin=9, cin=8, cout=6, k=3, stride=2, padding=1, groups=2)
    check_convT(run, rng, post, lanes, pin=9, cin=8, cout=8, k=3, stride=2, padding=1, groups=8)
    check_convT(run, rng, post, lanes, pin=9, cin=11, cout=7, k=3, stride=2, padding=1, split=[4, 7])


@pytest.mark.parametrize("lanes", LANES)
def test_gru_gates_dense_chained(run, rng, lanes):
    """W x + U h: x int8 in abuf, h int16 in sbuf, one chain per gate tile; sigmoid by LUT, int16 out."""
    P, I, H = 16, 64, 128
    x = i8(rng, P, I)
    h = rng.integers(-20000, 20000, (P, H), dtype=np.int16)
    wx, wh = i8(rng, 3 * H, I), i8(rng, 3 * H, H)
    lut = np.round(32767 / (1 + np.exp(-np.arange(-128, 128) / 24))).astype(np.int16)
    post = Post(bias=rng.integers(-10000, 10000, 3 * H), mult=rng.integers(100, 200, 3 * H), shift=22,
                act=Act.LUT, lut=lut)

    def kernel(b, refs):
        refs["g"] = alloc_tensor(b, "g", P, 3 * H, DType.I16)
        return dense(b, [refs["x"], refs["h"]], np.concatenate([wx, wh], axis=1), post, refs["g"])

    r = run(lanes, {"x": x}, kernel, ["g"], state={"h": h})
    acc = x.astype(np.int64) @ wx.T.astype(np.int64) + h.astype(np.int64) @ wh.T.astype(np.int64)
    np.testing.assert_array_equal(r.out["g"], requantise(acc, post, np.int16))
    assert len(np.unique(r.out["g"])) > 50                     # the table is really exercised
    assert r.stats.macs == P * 3 * H * (I + H)


@pytest.mark.parametrize("lanes", (1, 8, 16))
def test_two_directions_write_halves_of_one_tensor(run, rng, post, lanes):
    """Outputs into channel views (the two directions of a bidirectional GRU, a concat without copy),
    inputs from a channel view (rows not contiguous: one chained MAC per tap)."""
    P = 24
    x = i8(rng, P, 20)
    wa, wb = i8(rng, 6, 12, 3), i8(rng, 10, 8, 1)
    pa, pb = post(rng, 6), post(rng, 10)

    def kernel(b, refs):
        y = alloc_tensor(b, "y", P, 16)
        refs["y"] = y
        ra = conv1d(b, refs["x"].view(ch=3, channels=12), wa, pa, y.view(ch=0, channels=6), padding=1)
        rb = conv1d(b, refs["x"].view(ch=12, channels=8), wb, pb, y.view(ch=6, channels=10))
        return ra.add(rb)

    r = run(lanes, {"x": x}, kernel, ["y"])
    want = np.concatenate([conv1d_ref(x[:, 3:15], wa, pa, padding=1), conv1d_ref(x[:, 12:20], wb, pb)], axis=1)
    np.testing.assert_array_equal(r.out["y"], want)


def test_int16_weights_and_no_term_outputs(run, rng):
    """int16 weights; outputs whose taps all fall into the padding get post(bias)."""
    x = i8(rng, 3, 4)
    w = rng.integers(-3000, 3000, (5, 4, 2), dtype=np.int16)
    p = Post(bias=rng.integers(-3000, 3000, 5), mult=7, shift=10)

    def kernel(b, refs):
        refs["y"] = alloc_tensor(b, "y", conv_output_length(3, 2, 1, 3), 5, DType.I16)
        return conv1d(b, refs["x"], w, p, refs["y"], padding=3)

    r = run(4, {"x": x}, kernel, ["y"])
    np.testing.assert_array_equal(r.out["y"], conv1d_ref(x, w, p, np.int16, padding=3))


def test_bad_shapes_rejected(rng):
    from compiler.builder import ProgramBuilder
    from npu_model.arch.config import NpuConfig
    b = ProgramBuilder(NpuConfig(lanes=4))
    x = alloc_tensor(b, "x", 10, 4)
    with pytest.raises(ValueError, match="output tensor"):
        conv1d(b, x, i8(rng, 3, 4, 3), Post(), alloc_tensor(b, "y", 10, 3))
    with pytest.raises(ValueError, match="overlap"):
        conv1d(b, x, i8(rng, 4, 4, 1), Post(), x)
    with pytest.raises(ValueError, match="channels"):
        conv1d(b, x, i8(rng, 3, 5, 1), Post(), alloc_tensor(b, "z", 10, 3))
    with pytest.raises(TypeError):
        depthwise_conv1d(b, x, np.ones((4, 3)), Post(), alloc_tensor(b, "w", 8, 4))
    assert TensorRef(Buffer.ABUF, 0, 4, 3).contiguous


def test_reduction_longer_than_r_field(run, rng):
    """A reduction of more than 65535 terms is split into chained MACs."""
    cin = 70000
    x = i8(rng, 1, cin)
    w = i8(rng, 3, cin)
    p = Post(bias=[1, 2, 3], mult=1, shift=12)

    def kernel(b, refs):
        refs["y"] = alloc_tensor(b, "y", 1, 3, DType.I16)
        return dense(b, refs["x"], w, p, refs["y"])

    r = run(2, {"x": x}, kernel, ["y"])
    np.testing.assert_array_equal(r.out["y"], conv1d_ref(x, w[:, :, None], p, np.int16))
    assert r.result.instructions == 4
