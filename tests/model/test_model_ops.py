"""Every opcode against a numpy computation written here, on data the test makes.

Expected values use np.dot / plain loops on the test's own arrays and the formulas of docs/isa.md
"Arithmetic"; nothing here goes through the model's gathers."""
import numpy as np
import pytest

from model_helpers import EOF, Image, config, ew, mac, mov, program, records, sync_in, sync_out
from npu_model.arch.isa import Act, Opcode
from npu_model.golden.machine import Npu
from npu_model.arch.program import Port

RNG = np.random.default_rng(2024)
I8 = (-128, 127)
I16 = (-32768, 32767)


def rq(acc, mult, shift):
    """Requantise Python ints: (acc*mult + 2**(shift-1)) >> shift, round half up."""
    y = int(acc) * int(mult)
    return (y + (1 << (shift - 1))) >> shift if shift else y


def sat(y, dt):
    lo, hi = I8 if dt == "i8" else I16
    return min(max(int(y), lo), hi)


def run(instrs, *, wbuf=b"", sbuf=b"", lut=(), inputs=(), outputs=(), data=None, cfg=None, frames=1):
    prog = program([sync_in(0)] * bool(inputs) + list(instrs) + [EOF], cfg or config(), wbuf, sbuf, lut,
                   inputs, outputs)
    npu = Npu(prog)
    results = [npu.run_frame(data or {}) for _ in range(frames)]
    return results[-1].outputs if frames == 1 else [r.outputs for r in results]


# MAC ----------------------------------------------------------------------------------------------
def test_mac_pointwise_pattern_activation_broadcast_weights_across_lanes():
    n, r = 8, 37
    x = RNG.integers(-128, 128, r)
    w = RNG.integers(-128, 128, (r, n))
    bias = RNG.integers(-5000, 5000, n)
    mult = RNG.integers(1, 200, n)
    shift = RNG.integers(4, 12, n)
    wimg = Image().put_bytes(0, records(*zip(bias, mult, shift))).put(256, w.reshape(-1))
    out = run([mac(n, r, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 256, n, 1), ("abuf", "i8", 512, 0, 1),
                   p=0, p_vec=1, act=Act.RELU)],
              wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (r,))],
              outputs=[Port("y", "abuf", 512, "i8", (n,))], data={"x": x})
    acc = bias + x @ w
    want = [sat(max(rq(acc[l], mult[l], shift[l]), 0), "i8") for l in range(n)]
    assert out["y"].tolist() == want
    assert any(v == 0 for v in want) and any(v > 0 for v in want)


def test_mac_depthwise_pattern_vector_times_per_lane_weights_int16():
    n, r, c = 4, 3, 4                      # channels on lanes, 3 taps, channel-last layout
    x = RNG.integers(-30000, 30000, (r, c))
    w = RNG.integers(-300, 300, (r, c))
    wimg = Image().put_bytes(0, records((7, 1, 9))).put(64, w.reshape(-1), "i16")
    out = run([mac(n, r, ("abuf", "i16", 0, 2 * c, 2), ("wbuf", "i16", 64, 2 * c, 2), ("abuf", "i16", 100, 0, 2))],
              wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i16", (r, c))],
              outputs=[Port("y", "abuf", 100, "i16", (n,))], data={"x": x})
    want = [sat(rq(7 + sum(int(x[s, l]) * int(w[s, l]) for s in range(r)), 1, 9), "i16") for l in range(n)]
    assert out["y"].tolist() == want


def test_mac_vector_times_broadcast_weight():
    n, r = 8, 5
    x = RNG.integers(-128, 128, (r, n))
    w = RNG.integers(-128, 128, r)
    wimg = Image().put_bytes(0, records((0, 3, 2))).put(64, w)
    out = run([mac(n, r, ("abuf", "i8", 0, n, 1), ("wbuf", "i8", 64, 1, 0), ("abuf", "i16", 64, 0, 2))],
              wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (r, n))],
              outputs=[Port("y", "abuf", 64, "i16", (n,))], data={"x": x})
    want = [sat(rq(int(np.dot(x[:, l], w)), 3, 2), "i16") for l in range(n)]
    assert out["y"].tolist() == want


def test_mac_activation_times_activation_attention_scores():
    d_k, keys = 16, 8
    q = RNG.integers(-128, 128, d_k)
    k = RNG.integers(-128, 128, (keys, d_k))        # row per key
    sbuf = Image().put(0, k.reshape(-1))
    wimg = Image().put_bytes(0, records((0, 1, 6)))
    out = run([mac(keys, d_k, ("abuf", "i8", 0, 1, 0), ("sbuf", "i8", 0, 1, d_k), ("abuf", "i8", 32, 0, 1))],
              wbuf=bytes(wimg), sbuf=bytes(sbuf), inputs=[Port("q", "abuf", 0, "i8", (d_k,))],
              outputs=[Port("s", "abuf", 32, "i8", (keys,))], data={"q": q})
    want = [sat(rq(int(np.dot(k[j], q)), 1, 6), "i8") for j in range(keys)]
    assert out["s"].tolist() == want


@pytest.mark.parametrize("lanes", [1, 2, 4, 16])
def test_mac_all_lane_counts_and_fewer_active_lanes(lanes):
    n, r = max(1, lanes - 1), 9
    x = RNG.integers(-128, 128, r)
    w = RNG.integers(-128, 128, (r, lanes))
    wimg = Image().put_bytes(0, records((-3, 5, 3))).put(64, w.reshape(-1))
    out = run([mac(n, r, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 64, lanes, 1), ("abuf", "i8", 64, 0, 1))],
              cfg=config(lanes=lanes), wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (r,))],
              outputs=[Port("y", "abuf", 64, "i8", (lanes,))], data={"x": x})
    want = [sat(rq(-3 + int(np.dot(x, w[:, l])), 5, 3), "i8") for l in range(n)] + [0] * (lanes - n)
    assert out["y"].tolist() == want


def test_mac_negative_strides():
    n, r = 4, 6
    a = RNG.integers(-128, 128, 64)
    w = RNG.integers(-128, 128, 64)
    wimg = Image().put_bytes(0, records((11, 1, 0))).put(64, w)
    # A walks backwards over steps, B backwards over lanes and steps, D backwards over lanes
    out = run([mac(n, r, ("abuf", "i8", 40, -3, 1), ("wbuf", "i8", 64 + 60, -2, -5), ("abuf", "i16", 200, 0, -2))],
              wbuf=bytes(wimg), inputs=[Port("a", "abuf", 0, "i8", (64,))],
              outputs=[Port("y", "abuf", 192, "i16", (5,))], data={"a": a})
    got = out["y"].tolist()
    for l in range(n):
        acc = 11 + sum(int(a[40 - 3 * s + l]) * int(w[60 - 2 * s - 5 * l]) for s in range(r))
        assert got[4 - l] == sat(acc, "i16")


def test_mac_chaining_hold_and_continue():
    """acc_out=1 holds (writes nothing), acc_in=1 continues: one dot product over two tensors
    (concat without copy), a third MAC continuing on fewer lanes, and ACC reset at frame start."""
    n = 4
    x1 = RNG.integers(-128, 128, 10)
    x2 = RNG.integers(-128, 128, 6)
    w1 = RNG.integers(-128, 128, (10, n))
    w2 = RNG.integers(-128, 128, (6, n))
    w3 = RNG.integers(-128, 128, (3, n))
    wimg = (Image().put_bytes(0, records((1000, 1, 0), (-77, 1, 0), (5, 1, 2)))
            .put(64, w1.reshape(-1)).put(128, w2.reshape(-1)).put(160, w3.reshape(-1)))
    prog = [
        mac(n, 10, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 64, n, 1), ("abuf", "i8", 300, 0, 1), p=0, acc_out=1),
        mac(n, 6, ("abuf", "i8", 16, 1, 0), ("wbuf", "i8", 128, n, 1), ("abuf", "i16", 64, 0, 2), p=8, acc_in=1),
        mac(2, 3, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 160, n, 1), ("abuf", "i16", 80, 0, 2), p=16, acc_in=1),
        # lanes 0, 1 hold the third MAC's sums, lanes 2, 3 still the second's: continue all four
        mac(n, 1, ("abuf", "i8", 0, 0, 0), ("wbuf", "i8", 64, 0, 0), ("abuf", "i16", 96, 0, 2), p=8, acc_in=1),
    ]
    outs = run(prog, wbuf=bytes(wimg),
               inputs=[Port("x1", "abuf", 0, "i8", (10,)), Port("x2", "abuf", 16, "i8", (6,))],
               outputs=[Port("y", "abuf", 64, "i16", (4,)), Port("z", "abuf", 80, "i16", (2,)),
                        Port("u", "abuf", 96, "i16", (4,)), Port("hold", "abuf", 300, "i8", (4,))],
               data={"x1": x1, "x2": x2}, frames=2)
    for out in outs:                       # the same every frame: ACC restarts at zero
        s2 = 1000 + x1 @ w1 + x2 @ w2
        assert out["y"].tolist() == [sat(v, "i16") for v in s2]
        s3 = s2[:2] + x1[:3] @ w3[:, :2]
        assert out["z"].tolist() == [sat(rq(v, 1, 2), "i16") for v in s3]
        s4 = np.concatenate([s3, s2[2:]]) + int(x1[0]) * int(w1[0, 0])
        assert out["u"].tolist() == [sat(v, "i16") for v in s4]
        assert out["hold"].tolist() == [0, 0, 0, 0]     # the holding MAC wrote nothing


def test_mac_acc_in_at_frame_start_reads_zero():
    wimg = Image().put_bytes(0, records((999, 1, 0))).put(64, [3])
    outs = run([mac(2, 1, ("abuf", "i8", 0, 0, 0), ("wbuf", "i8", 64, 0, 0), ("abuf", "i8", 16, 0, 1), acc_in=1)],
               wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (1,))],
               outputs=[Port("y", "abuf", 16, "i8", (2,))], data={"x": [5]}, frames=2)
    assert [o["y"].tolist() for o in outs] == [[15, 15], [15, 15]]        # not 999 + 15, not 30


@pytest.mark.parametrize("acc_bits", [16, 24, 32])
def test_mac_wraps_at_acc_bits(acc_bits):
    r = 2
    x = np.full(r, -128)
    w = np.full(r, -128)
    bias = (1 << (acc_bits - 1)) - 100             # the sum passes the top of the range
    wimg = Image().put_bytes(0, records((bias if acc_bits < 32 else 2**31 - 1, 1, 0))).put(64, w)
    out = run([mac(1, r, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 64, 1, 0), ("abuf", "i16", 128, 0, 2), p=0)],
              cfg=config(acc_bits=acc_bits), wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (r,))],
              outputs=[Port("y", "abuf", 128, "i16", (1,))], data={"x": x})
    b = bias if acc_bits < 32 else 2**31 - 1
    exact = b + r * 128 * 128
    wrapped = (exact + (1 << (acc_bits - 1))) % (1 << acc_bits) - (1 << (acc_bits - 1))
    assert wrapped < 0
    assert out["y"].tolist() == [sat(wrapped, "i16")]


# Element-wise -------------------------------------------------------------------------------------
EW = {Opcode.ADD: lambda a, b: a + b, Opcode.SUB: lambda a, b: a - b, Opcode.MUL: lambda a, b: a * b,
      Opcode.MAX: max, Opcode.MIN: min}


@pytest.mark.parametrize("op", list(EW))
@pytest.mark.parametrize("types", [("i8", "i8", "i8"), ("i16", "i8", "i16"), ("i16", "i16", "i8")])
@pytest.mark.parametrize("p_vec", [0, 1])
def test_elementwise(op, types, p_vec):
    ta, tb, td = types
    n, r = 4, 5
    lim = {"i8": 128, "i16": 32768}
    a = RNG.integers(-lim[ta], lim[ta], (r, n))
    b = RNG.integers(-lim[tb], lim[tb], (r, n))
    recs = [(int(RNG.integers(-100, 100)), int(RNG.integers(1, 4)), int(RNG.integers(0, 3))) for _ in range(n)]
    sa, sb, sd = (2 if t == "i16" else 1 for t in types)
    wimg = Image().put_bytes(0, records(*recs))
    sbuf = Image().put(0, b.reshape(-1), tb)
    out = run([ew(op, n, r, ("abuf", ta, 0, n * sa, sa), ("sbuf", tb, 0, n * sb, sb), ("abuf", td, 256, sd, r * sd),
                  p=0, p_vec=p_vec)],
              wbuf=bytes(wimg), sbuf=bytes(sbuf), inputs=[Port("a", "abuf", 0, ta, (r, n))],
              outputs=[Port("d", "abuf", 256, td, (n, r))], data={"a": a})       # D transposed
    want = np.zeros((n, r), np.int64)
    for s in range(r):
        for l in range(n):
            bias, mult, shift = recs[l if p_vec else 0]
            want[l, s] = sat(rq(EW[op](int(a[s, l]), int(b[s, l])) + bias, mult, shift), td)
    assert out["d"].tolist() == want.tolist()


def test_elementwise_operands_from_wbuf_and_broadcast():
    n, r = 8, 3
    a = RNG.integers(-128, 128, (r, n))
    c = RNG.integers(-128, 128, r)                    # a per-step constant in wbuf, broadcast over lanes
    wimg = Image().put_bytes(0, records((0, 1, 0))).put(64, c)
    out = run([ew(Opcode.ADD, n, r, ("abuf", "i8", 0, n, 1), ("wbuf", "i8", 64, 1, 0), ("abuf", "i16", 64, 2 * n, 2))],
              wbuf=bytes(wimg), inputs=[Port("a", "abuf", 0, "i8", (r, n))],
              outputs=[Port("d", "abuf", 64, "i16", (r, n))], data={"a": a})
    assert out["d"].tolist() == (a + c[:, None]).tolist()


def test_elementwise_in_place_update_and_sbuf_state_across_frames():
    """add d=a (identically addressed): an accumulator in sbuf that persists across frames."""
    n, r = 4, 2
    init = RNG.integers(-50, 50, (r, n))
    sbuf = Image().put(0, init.reshape(-1), "i16")
    wimg = Image().put_bytes(0, records((0, 1, 0)))
    xs = [RNG.integers(-128, 128, (r, n)) for _ in range(3)]
    prog = program([sync_in(0), ew(Opcode.ADD, n, r, ("sbuf", "i16", 0, 2 * n, 2), ("abuf", "i8", 0, n, 1),
                                   ("sbuf", "i16", 0, 2 * n, 2)), sync_out(0), EOF],
                   config(), bytes(wimg), bytes(sbuf), (), [Port("x", "abuf", 0, "i8", (r, n))],
                   [Port("acc", "sbuf", 0, "i16", (r, n))])
    npu = Npu(prog)
    total = init.copy()
    for x in xs:
        total = total + x
        assert npu.run_frame({"x": x}).outputs["acc"].tolist() == total.tolist()
    npu.reset()
    assert npu.run_frame({"x": xs[0]}).outputs["acc"].tolist() == (init + xs[0]).tolist()


# mov: copies, requantisation, activations ---------------------------------------------------------
def test_mov_transpose_with_negative_strides():
    rows, cols = 3, 5
    x = RNG.integers(-128, 128, (rows, cols))
    wimg = Image().put_bytes(0, records((0, 1, 0)))
    # for each column (lane) and row (step): D[cols-1-l][rows-1-s] = X[s][l]
    out = run([mov(cols, rows, ("abuf", "i8", 0, cols, 1), ("abuf", "i8", 64 + rows * cols - 1, -1, -rows))],
              wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (rows, cols))],
              outputs=[Port("t", "abuf", 64, "i8", (cols, rows))], data={"x": x})
    assert out["t"].tolist() == x[::-1, ::-1].T.tolist()


def test_requantisation_rounds_half_up_and_shift_uses_six_bits():
    x = np.arange(-6, 7)
    # shift byte 0x41: bits 0..5 give 1; 0xC0 | 2 gives 2
    wimg = Image().put_bytes(0, records((0, 1, 0x41), (0, 3, 0xC2), (0, 4, 0)))
    n = len(x)
    cfg = config(lanes=16)
    instrs = [mov(n, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i16", 64, 0, 2), p=0),
              mov(n, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i16", 128, 0, 2), p=8),
              mov(n, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i16", 192, 0, 2), p=16)]
    out = run(instrs, cfg=cfg, wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (n,))],
              outputs=[Port("h", "abuf", 64, "i16", (n,)), Port("q", "abuf", 128, "i16", (n,)),
                       Port("l", "abuf", 192, "i16", (n,))], data={"x": x})
    # round half up: -3/2 = -1.5 -> -1, -1/2 -> 0, 1/2 -> 1, 5/2 -> 3
    assert out["h"].tolist() == [int(np.floor(v / 2 + 0.5)) for v in x]
    assert out["q"].tolist() == [int(np.floor(3 * v / 4 + 0.5)) for v in x]
    assert out["l"].tolist() == (4 * x).tolist()              # mult 2**s, shift 0: shift left


def test_requantisation_extreme_values_acc_bits_48():
    """acc = -2**47 (built with chained MACs and the wrap), mult = -2**15: the product is 2**62 and
    the rounding term of shift 63 is 2**62 as well; nothing may overflow."""
    cfg = config(acc_bits=48)
    recs = records((2**31 - 1, 1, 0), (0, -32768, 63), (0, -32768, 48), (0, -32767, 48), (0, 32767, 40),
                   (0, -32768, 0))
    wimg = Image().put_bytes(0, recs).put(64, [-32768, 1], "i16")
    big = 65535
    instrs = [mac(1, big, ("abuf", "i16", 0, 0, 0), ("wbuf", "i16", 64, 0, 0), ("abuf", "i16", 32, 0, 2), p=0,
                  acc_out=1),
              mac(1, big, ("abuf", "i16", 0, 0, 0), ("wbuf", "i16", 64, 0, 0), ("abuf", "i16", 32, 0, 2), p=0,
                  acc_in=1, acc_out=1),
              # + 1 * 1: the sum reaches 2**47 and wraps to -2**47
              mac(1, 1, ("abuf", "i16", 4, 0, 0), ("wbuf", "i16", 66, 0, 0), ("abuf", "i16", 32, 0, 2), p=8,
                  acc_in=1)]
    for i in range(4):                                # + 0 * 1: ACC kept, written with other records
        instrs.append(mac(1, 1, ("abuf", "i16", 2, 0, 0), ("wbuf", "i16", 66, 0, 0),
                          ("abuf", "i16", 34 + 2 * i, 0, 2), p=16 + 8 * i, acc_in=1))
    out = run(instrs, cfg=cfg, wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i16", (3,))],
              outputs=[Port("y", "abuf", 32, "i16", (5,))], data={"x": [-32768, 0, 1]})
    exact = 2**31 - 1 + 2 * big * 2**30 + 1
    assert exact == 2**47
    acc = -(2**47)
    want = [sat(rq(acc, m, s), "i16") for m, s in ((-32768, 63), (-32768, 48), (-32767, 48), (32767, 40),
                                                    (-32768, 0))]
    assert want[:3] == [1, 16384, 16384]
    assert out["y"].tolist() == want


def test_relu_and_saturation():
    x = np.array([-32768, -200, -1, 0, 1, 127, 128, 32767])
    wimg = Image().put_bytes(0, records((0, 1, 0), (-5, 2, 0)))
    out = run([mov(8, 1, ("abuf", "i16", 0, 0, 2), ("abuf", "i8", 64, 0, 1), act=Act.RELU),
               mov(8, 1, ("abuf", "i16", 0, 0, 2), ("abuf", "i8", 80, 0, 1)),
               mov(8, 1, ("abuf", "i16", 0, 0, 2), ("abuf", "i16", 96, 0, 2), p=8)],
              wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i16", (8,))],
              outputs=[Port("r", "abuf", 64, "i8", (8,)), Port("s", "abuf", 80, "i8", (8,)),
                       Port("t", "abuf", 96, "i16", (8,))], data={"x": x})
    assert out["r"].tolist() == [min(max(v, 0), 127) for v in x]
    assert out["s"].tolist() == [min(max(v, -128), 127) for v in x]
    assert out["t"].tolist() == [min(max(2 * v - 10, -32768), 32767) for v in x]


@pytest.mark.parametrize("dest", ["i8", "i16"])
def test_lut_activation_clamps_its_index(dest):
    k, base = 3, 100                               # 8 entries covering -4..3
    lut = np.zeros(256, np.int64)
    table = np.array([-30000, -300, -3, 0, 3, 300, 30000, 5])
    lut[base:base + 8] = table
    x = np.arange(-7, 7)
    wimg = Image().put_bytes(0, records((1, 1, 0)))     # bias 1: index y = x + 1
    n = len(x)
    size = 2 if dest == "i16" else 1
    out = run([mov(n, 1, ("abuf", "i8", 0, 0, 1), ("abuf", dest, 64, 0, size), lut=(base, k))],
              cfg=config(lanes=16), wbuf=bytes(wimg), lut=lut, inputs=[Port("x", "abuf", 0, "i8", (n,))],
              outputs=[Port("y", "abuf", 64, dest, (n,))], data={"x": x})
    want = [sat(table[min(max(v + 1, -4), 3) + 4], dest) for v in x]
    assert out["y"].tolist() == want


def test_lut_fused_on_a_mac():
    n, r = 8, 4
    x = RNG.integers(-128, 128, r)
    w = RNG.integers(-128, 128, (r, n))
    lut = RNG.integers(-32768, 32768, 1024)
    wimg = Image().put_bytes(0, records((0, 1, 6))).put(64, w.reshape(-1))
    out = run([mac(n, r, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 64, n, 1), ("abuf", "i16", 64, 0, 2), lut=(512, 8))],
              wbuf=bytes(wimg), lut=lut, inputs=[Port("x", "abuf", 0, "i8", (r,))],
              outputs=[Port("y", "abuf", 64, "i16", (n,))], data={"x": x})
    want = [int(lut[512 + min(max(rq(int(x @ w[:, l]), 1, 6), -128), 127) + 128]) for l in range(n)]
    assert out["y"].tolist() == want


def test_dependent_instructions_see_each_others_results():
    """A chain of dependent element-wise steps and a MAC reading what a mov wrote."""
    wimg = Image().put_bytes(0, records((0, 1, 0), (1, 1, 0))).put(64, [1, 2, 3, 4])
    x = np.array([10, -20, 30, -40])
    instrs = [ew(Opcode.ADD, 4, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i8", 0, 0, 1), ("abuf", "i8", 8, 0, 1)),
              mov(4, 1, ("abuf", "i8", 8, 0, 1), ("abuf", "i8", 16, 0, 1), p=8, act=Act.RELU),
              ew(Opcode.MUL, 4, 1, ("abuf", "i8", 16, 0, 1), ("abuf", "i8", 0, 0, 1), ("abuf", "i16", 32, 0, 2)),
              mac(1, 4, ("abuf", "i16", 32, 2, 0), ("wbuf", "i8", 64, 1, 0), ("abuf", "i16", 48, 0, 2))]
    out = run(instrs, wbuf=bytes(wimg), inputs=[Port("x", "abuf", 0, "i8", (4,))],
              outputs=[Port("m", "abuf", 32, "i16", (4,)), Port("y", "abuf", 48, "i16", (1,))], data={"x": x})
    m = [sat(max(sat(2 * v, "i8") + 1, 0) * v, "i16") for v in x]
    assert out["m"].tolist() == m
    assert out["y"].tolist() == [sat(sum(mi * wi for mi, wi in zip(m, [1, 2, 3, 4])), "i16")]


# Block-float scales (act=rsqrt, b_exp) --------------------------------------------------------------
def rsqrt_word(y, table, k):
    """docs/isa.md "Arithmetic" step 4 for act=rsqrt, on a Python int."""
    v = min(max(int(y), 1), (1 << 31) - 1)
    e = (v.bit_length() - 1) // 2
    m = int(table[(v << (k - 2)) >> (2 * e)]) & 0xFFF
    word = (e << 12) | m
    return word - (1 << 16) if word >= 1 << 15 else word


@pytest.mark.parametrize("k", [2, 8, 14])
def test_rsqrt_encodes_every_octave_of_the_accumulator(k):
    n, r = 16, 2
    # Products spanning 1 .. 2**31 - 1 (and zero and negatives, which clamp to 1).
    mags = [0, -5, 1, 2, 3, 4, 7, 8, 255, 256, 4095, 65535, 1 << 20, (1 << 29) + 12345, (1 << 30) - 1, 1 << 30]
    x = np.array([[min(v, 32767), 1] if v < 32768 else [32767, -(-v // 32767)] for v in mags])
    x = np.clip(x, -32768, 32767)
    w = np.array([[1, 0] if v < 32768 else [v // (-(-v // 32767)), 1] for v in mags])
    w = np.clip(w, -32768, 32767)
    acc = (x[:, 0] * w[:, 0] + x[:, 1] * w[:, 1]).tolist()
    table = RNG.integers(-32768, 32768, 1 << k)
    wimg = Image().put_bytes(0, records((0, 1, 0))).put(64, w.T.reshape(-1), "i16")
    out = run([mac(n, r, ("abuf", "i16", 0, 2 * n, 2), ("wbuf", "i16", 64, 2 * n, 2), ("abuf", "i16", 256, 0, 2),
                   act=Act.RSQRT, lut_base=0, lut_log2=k)],
              cfg=config(lanes=16, lut_entries=1 << 14), wbuf=bytes(wimg), lut=table.tolist(),
              inputs=[Port("x", "abuf", 0, "i16", (r, n))], outputs=[Port("y", "abuf", 256, "i16", (n,))],
              data={"x": x.T.astype(np.int16)})
    assert out["y"].tolist() == [rsqrt_word(a, table, k) for a in acc]


def test_b_exp_multiplies_by_the_mantissa_and_lengthens_the_shift():
    n = 16
    a = RNG.integers(-32768, 32768, n)
    b = RNG.integers(-32768, 32768, n)              # every exponent 0..15, every mantissa bit
    bias, mult, shift = -123, 77, 5
    wimg = Image().put_bytes(0, records((bias, mult, shift)))
    out = run([ew(Opcode.MUL, n, 1, ("abuf", "i16", 0, 0, 2), ("abuf", "i16", 64, 0, 2), ("abuf", "i16", 128, 0, 2),
                  b_exp=1)],
              cfg=config(lanes=16), wbuf=bytes(wimg),
              inputs=[Port("a", "abuf", 0, "i16", (n,)), Port("b", "abuf", 64, "i16", (n,))],
              outputs=[Port("y", "abuf", 128, "i16", (n,))], data={"a": a.astype(np.int16), "b": b.astype(np.int16)})
    want = []
    for x, s in zip(a.tolist(), b.tolist()):
        u = s & 0xFFFF
        want.append(sat(rq(x * (u & 0xFFF) + bias, mult, shift + (u >> 12)), "i16"))
    assert out["y"].tolist() == want
