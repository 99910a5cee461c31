"""Element-wise kernels and strided copies against their numpy references, on the golden model."""
import numpy as np
import pytest

from compiler.lower import IDENTITY, Post, TensorRef, alloc_tensor, copy, elementwise
from compiler.lower.reference import elementwise_ref
from npu_model.arch.isa import Act, Buffer, DType, Opcode

LANES = (1, 2, 4, 8, 16)
SIGMOID = np.round(32767 / (1 + np.exp(-np.arange(-512, 512) / 64))).astype(np.int16)


def arr(rng, dtype, *shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape, dtype=dtype)


CASES = [
    # op, a (shape, dtype), b (shape, dtype, buffer), out dtype, post kind
    (Opcode.ADD, ((37, 20), np.int8), ((37, 20), np.int8, "abuf"), np.int8, "relu"),
    (Opcode.SUB, ((16, 128), np.int16), ((16, 128), np.int16, "sbuf"), np.int16, "lut"),
    (Opcode.MUL, ((16, 64), np.int16), ((1, 64), np.int16, "sbuf"), np.int16, "chan"),
    (Opcode.MUL, ((33, 12), np.int8), ((33, 1), np.int8, "abuf"), np.int8, "scale"),
    (Opcode.MAX, ((9, 40), np.int8), ((1, 1), np.int8, "wbuf"), np.int8, "none"),
    (Opcode.MIN, ((40, 9), np.int16), ((40, 9), np.int8, "abuf"), np.int8, "none"),
    (Opcode.MOV, ((21, 30), np.int8), None, np.int16, "chan"),
    (Opcode.MOV, ((128, 16), np.int16), None, np.int8, "scale"),
]


def make_post(rng, kind, c):
    if kind == "relu":
        return Post(bias=rng.integers(-50, 50, c), mult=rng.integers(1, 4, c), shift=1, act=Act.RELU)
    if kind == "lut":
        return Post(bias=0, mult=1, shift=6, act=Act.LUT, lut=SIGMOID)
    if kind == "chan":
        return Post(bias=rng.integers(-500, 500, c), mult=rng.integers(1, 300, c), shift=rng.integers(0, 12, c))
    if kind == "scale":
        return Post(bias=3, mult=77, shift=9)
    return IDENTITY


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_elementwise(run, rng, lanes, case):
    op, (ashape, adt), bspec, odt, kind = CASES[case]
    a = arr(rng, adt, *ashape)
    b = arr(rng, bspec[1], *bspec[0]) if bspec else None
    post = make_post(rng, kind, ashape[1])
    inputs, state = {"a": a}, {}
    if bspec and bspec[2] == "abuf":
        inputs["b"] = b
    elif bspec and bspec[2] == "sbuf":
        state["b"] = b

    def kernel(builder, refs):
        refs["y"] = alloc_tensor(builder, "y", *ashape, DType.I8 if odt == np.int8 else DType.I16)
        bref = None
        if bspec and bspec[2] == "wbuf":
            bref = TensorRef(Buffer.WBUF, builder.constant(b.reshape(-1), b.dtype), *b.shape,
                             DType.I8 if b.dtype == np.int8 else DType.I16)
        elif bspec:
            bref = refs["b"]
        return elementwise(builder, op, refs["a"], bref, refs["y"], post)

    r = run(lanes, inputs, kernel, ["y"], state=state)
    np.testing.assert_array_equal(r.out["y"], elementwise_ref(op, a, b, post, odt))
    assert r.stats.macs == 0


@pytest.mark.parametrize("lanes_over", ("channels", "positions"))
@pytest.mark.parametrize("lanes", (1, 8, 16))
def test_forced_lane_mapping(run, rng, lanes, lanes_over):
    a, b = arr(rng, np.int8, 19, 11), arr(rng, np.int8, 19, 11)
    post = Post(bias=-7, mult=3, shift=2)

    def kernel(builder, refs):
        refs["y"] = alloc_tensor(builder, "y", 19, 11)
        return elementwise(builder, Opcode.ADD, refs["a"], refs["b"], refs["y"], post, lanes_over=lanes_over)

    r = run(lanes, {"a": a, "b": b}, kernel, ["y"])
    np.testing.assert_array_equal(r.out["y"], elementwise_ref(Opcode.ADD, a, b, post))
    assert r.result.mode == lanes_over


@pytest.mark.parametrize("lanes", LANES)
def test_transpose_and_concat_copies(run, rng, lanes):
    """(P, C) -> (C, P) transpose; two tensors copied into the channel halves of one (a concat);
    an in-place ReLU (destination addressed like the source)."""
    x, s = arr(rng, np.int8, 16, 64), arr(rng, np.int16, 16, 40)

    def kernel(builder, refs):
        t = TensorRef(Buffer.ABUF, builder.alloc("t", (64, 16), np.int8), 64, 16)     # x transposed, dense
        refs["t"] = t
        res = copy(builder, refs["x"], TensorRef(Buffer.ABUF, t.offset, 16, 64, DType.I8).transposed_store())
        cat = alloc_tensor(builder, "cat", 16, 104, DType.I16)
        refs["cat"] = cat
        res.add(copy(builder, refs["x"], cat.view(ch=0, channels=64)))
        res.add(copy(builder, refs["s"], cat.view(ch=64, channels=40)))
        res.add(copy(builder, cat.view(ch=64, channels=40), cat.view(ch=64, channels=40), Post(act=Act.RELU)))
        return res

    r = run(lanes, {"x": x, "s": s}, kernel, ["t", "cat"])
    np.testing.assert_array_equal(r.out["t"], x.T)
    np.testing.assert_array_equal(r.out["cat"], np.concatenate([x, np.maximum(s, 0)], axis=1))


def test_rejects(rng):
    from compiler.builder import ProgramBuilder
    from npu_model.arch.config import NpuConfig
    b = ProgramBuilder(NpuConfig(lanes=4))
    x = alloc_tensor(b, "x", 4, 3)
    with pytest.raises(ValueError, match="one operand"):
        elementwise(b, Opcode.ADD, x, None, alloc_tensor(b, "y", 4, 3))
    with pytest.raises(ValueError, match="positions"):
        elementwise(b, Opcode.ADD, x, alloc_tensor(b, "z", 3, 3), alloc_tensor(b, "w", 4, 3))
    with pytest.raises(ValueError, match="record"):
        copy(b, x, alloc_tensor(b, "v", 4, 3), Post(bias=[1, 2, 3]), lanes_over="positions")
    with pytest.raises(ValueError, match="element-wise"):
        elementwise(b, Opcode.MAC, x, x, x)


@pytest.mark.parametrize("lanes", (1, 8))
def test_in_place_update_does_not_stall(run, rng, lanes):
    """In place, each lane tile's footprint overlaps the next tile's source; alternating two halves
    of the steps keeps consecutive instructions apart, so only the fences wait."""
    a = arr(rng, np.int8, 16, 128)
    b = arr(rng, np.int8, 1, 128)

    def kernel(builder, refs):
        refs["y"] = refs["a"]
        res = elementwise(builder, Opcode.ADD, refs["a"], refs["b"], refs["a"], Post(act=Act.RELU))
        return res.add(copy(builder, refs["a"], refs["a"], Post(mult=3, shift=1)))

    r = run(lanes, {"a": a, "b": b}, kernel, ["y"])
    want = elementwise_ref(Opcode.ADD, a, b, Post(act=Act.RELU))
    np.testing.assert_array_equal(r.out["y"], elementwise_ref(Opcode.MOV, want, None, Post(mult=3, shift=1)))
    assert r.stats.stall_cycles <= 8
