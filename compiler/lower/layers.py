"""Lowering of the feed-forward quantised layers onto the kernels (convolutions, phase encoder,
magnitude, element-wise layers, concatenations), plus helpers shared by the composite layers.

Each `lower_*` function takes the network pass's context (`network.LayerContext`: the builder,
tensor placement, temporaries) and one layer of `compiler.quant.qnet`, emits the layer's
instructions and returns its output: a `TensorRef`, or for a concatenation that needs no copy a
list of `TensorRef`s (its parts, reduced by chained MACs in the convolutions that read it).
Every step follows the integer reference (`compiler.quant.int_layers`) with the same epilogue,
so that the instructions reproduce it bit for bit.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from npu_model.arch.isa import MAX_STEPS, Act, Buffer, DType, Opcode

from .conv import conv1d, conv_transpose1d, dense
from .eltwise import copy, elementwise
from .matmul import matmul
from .emit import KernelResult, Operand, Records, emit_compute
from .errors import LoweringError
from .tensor import Post, TensorRef, row_pitch

__all__ = ["post_of", "dtype_of", "vector_op", "copy_block", "lower_conv1d", "lower_conv_transpose1d",
           "lower_complex_conv_time", "lower_magnitude", "lower_add", "lower_activation", "lower_concat",
           "LOWER_SIMPLE"]



def post_of(ep, luts) -> Post:
    """An `Epilogue` (compiler.quant.qnet) as the kernels' `Post`: the same record(s) and act."""
    lut = luts[ep.lut].table if ep.act in (Act.LUT, Act.RSQRT) else None
    return Post(bias=np.asarray(ep.bias, np.int64), mult=np.asarray(ep.mult, np.int64),
                shift=np.asarray(ep.shift, np.int64), act=ep.act, lut=lut)


def dtype_of(name: str) -> DType:
    return DType.parse(name)


# Vectors -------------------------------------------------------------------------------------
def _as_rows(ref: TensorRef, lanes: int, start: int, count: int, steps: int) -> TensorRef:
    """Elements start .. start + steps*count - 1 of a (1, C) vector (or a broadcast scalar) as a
    (steps, count) tensor: lanes over consecutive elements, steps over runs of `count`."""
    stride = ref.col_stride
    return TensorRef(ref.buf, ref.offset + start * stride, steps, count, ref.dtype,
                     row_stride=count * stride, col_stride=stride)


def vector_op(builder, op: Opcode, a: TensorRef, b: TensorRef | None, out: TensorRef, post: Post) -> KernelResult:
    """out = post(op(a, b)) on vectors of C elements, (1, C) views with contiguous channels (or a
    broadcast scalar: col_stride 0). One instruction of `lanes` lanes and C // lanes steps, plus
    one for the remainder, instead of one instruction per lane tile. `post` must be shared by all
    elements (one record)."""
    if not post.is_uniform():
        raise ValueError("vector_op needs one parameter record for every element")
    lanes = builder.config.lanes
    c = out.channels
    res = KernelResult(mode="vector")
    full, rest = divmod(c, lanes)
    parts = ([(0, lanes, full)] if full else []) + ([(full * lanes, rest, 1)] if rest else [])
    for start, count, steps in parts:
        views = [None if t is None else _as_rows(t, lanes, start, count, steps) for t in (a, b, out)]
        res.add(elementwise(builder, op, views[0], views[1], views[2], post, lanes_over="channels"))
    return res


def copy_block(builder, src: tuple, dst: tuple, nbytes: int) -> KernelResult:
    """Copy `nbytes` bytes (int8 elements) from (Buffer, offset) to (Buffer, offset): one `mov` of
    `lanes` lanes and nbytes // lanes steps, plus the remainder. The regions must not overlap."""
    lanes = builder.config.lanes
    res = KernelResult(mode="copy")
    full, rest = divmod(nbytes, lanes)
    rec = Records(builder, Post(), 1)
    for start, n, steps in ([(0, lanes, full)] if full else []) + ([(full * lanes, rest, 1)] if rest else []):
        done = 0
        while done < steps:
            r = min(steps - done, MAX_STEPS)
            off = start + done * n
            emit_compute(builder, res, Opcode.MOV, n=n, r=r,
                         a=Operand(src[0], DType.I8, src[1] + off, n, 1),
                         d=Operand(dst[0], DType.I8, dst[1] + off, n, 1), p=rec.p(0, False), act=rec.act_fields())
            done += r
    return res


# Convolutions --------------------------------------------------------------------------------
def _single(ctx, name, layer):
    x = ctx.value(name)
    if isinstance(x, list):
        raise LoweringError(layer.name, f"input {name!r} is a concatenation kept as parts; "
                                        "only dense convolutions read those")
    return x


def _conv_input(ctx, layer):
    """What a convolution reads: a dense one a concatenation kept as parts, a grouped one the
    tensor in one piece; a 2-D one with past frames the frame stack (the frame copied in)."""
    x = ctx.value(layer.inputs[0])
    if getattr(layer, "state", None):
        stack, frames = ctx.frame_stack(layer, x)
        past = max(frames.taps)
        ctx.note(f"{past} past frame{'s' if past > 1 else ''} in sbuf")
        return stack, frames
    return (ctx.materialise(layer.inputs[0]) if isinstance(x, list) and layer.groups != 1 else x), None


def lower_conv1d(ctx, layer):
    """conv1d, and conv2d (a 2-D kernel over the frame stack)."""
    x, frames = _conv_input(ctx, layer)
    out = ctx.output(layer.output)
    res = conv1d(ctx.b, x, layer.weight, post_of(layer.ep, ctx.luts), out, stride=layer.stride,
                 padding=layer.padding, dilation=layer.dilation, groups=layer.groups, name=layer.name,
                 frames=frames)
    ctx.note(res.mode)
    return out


def lower_conv_transpose1d(ctx, layer):
    """conv_transpose1d, and conv_transpose2d (a 2-D kernel over the frame stack)."""
    x, frames = _conv_input(ctx, layer)
    out = ctx.output(layer.output)
    res = conv_transpose1d(ctx.b, x, layer.weight, post_of(layer.ep, ctx.luts), out, stride=layer.stride,
                           padding=layer.padding, output_padding=layer.output_padding,
                           dilation=layer.dilation, groups=layer.groups, name=layer.name, frames=frames)
    ctx.note(f"polyphase x{layer.stride}, {res.mode}" if layer.stride > 1 else res.mode)
    return out


# Phase encoder ---------------------------------------------------------------------------------
def lower_complex_conv_time(ctx, layer):
    """acc[o, l] = sum over taps k and channels c of W[o, c, k] * frame_{t-(K-1)+k}[c, l].

    The K-1 past frames and the current one sit back to back in sbuf, position-last (channel c of
    frame f at (f*C + c) * L), so the K*C inputs of one bin are ONE strided run: a 1x1 convolution
    over K*C channels. The shift of the past frames is queued for the end of the frame."""
    x = _single(ctx, layer.inputs[0], layer)
    k = layer.weight.shape[2]
    cin = x.channels
    block = ctx.frame_block(layer, x)                     # TensorRef (L, K*C) in sbuf
    w2 = np.ascontiguousarray(np.transpose(layer.weight, (0, 2, 1)).reshape(layer.weight.shape[0], k * cin))
    out = ctx.output(layer.output)
    res = dense(ctx.b, block, w2, post_of(layer.ep, ctx.luts), out, name=layer.name)
    ctx.note(f"1x1 over {k} frames x {cin} ch, {res.mode}")
    return out


# Magnitude -------------------------------------------------------------------------------------
def lower_magnitude(ctx, layer):
    """out = max over N directions of finish(re * d[k,0] + im * d[k,1]): N MACs of 2 terms per
    element (lanes over channels or positions, whichever keeps more lanes busy), then a tree of
    element-wise maxima over the N results, halving the count each level, in place (the halves of
    a level are disjoint blocks). The right half of the first level lives in sbuf so that the
    widest level reads its operands through two ports."""
    b, lanes = ctx.b, ctx.b.config.lanes
    x = _single(ctx, layer.inputs[0], layer)
    c = x.channels // 2
    length = x.positions
    odt = dtype_of(layer.ep.out_dtype)
    size = odt.size
    dirs = np.asarray(layer.directions, np.int16)
    ndir = len(dirs)
    post = post_of(layer.ep, ctx.luts)
    if not post.is_uniform():
        raise LoweringError(layer.name, "the magnitude's epilogue must be shared by every channel")
    rec = Records(b, post, 1)
    act = rec.act_fields()
    dbase = b.weights(f"{layer.name}.directions", np.ascontiguousarray(dirs))
    row = row_pitch(b.config, Buffer.ABUF, c * size, size) if length > 1 else c * size
    blk = length * row                                         # one direction's result, channel-last
    left = (ndir + 1) // 2
    abuf = ctx.temp(f"{layer.name}.proj", left * blk) if ndir > 1 else None
    sbuf_off = ctx.sbuf_scratch(f"{layer.name}.proj_hi", (ndir - left) * blk) if ndir > 1 else None
    out = ctx.output(layer.output)
    res = KernelResult(mode="")

    def slot(k):
        if ndir == 1:
            return out
        if k < left:
            return TensorRef(Buffer.ABUF, abuf + k * blk, length, c, odt, row_stride=row)
        return TensorRef(Buffer.SBUF, sbuf_off + (k - left) * blk, length, c, odt, row_stride=row)

    over_pos = -(-length // lanes) * c < length * -(-c // lanes)
    ctx.note("lanes over positions" if over_pos else "lanes over channels")
    for k in range(ndir):
        d = slot(k)
        bop = Operand(Buffer.WBUF, DType.I16, dbase + 4 * k, 2, 0)
        if over_pos:
            for ch in range(c):
                for p0 in range(0, length, lanes):
                    n = min(lanes, length - p0)
                    emit_compute(b, res, Opcode.MAC, n=n, r=2,
                                 a=Operand(x.buf, x.dtype, x.addr(p0, ch), c * x.col_stride, x.row_stride), b=bop,
                                 d=Operand(d.buf, d.dtype, d.addr(p0, ch), 0, d.row_stride), p=rec.p(0, False), act=act)
        else:
            for p in range(length):
                for c0 in range(0, c, lanes):
                    n = min(lanes, c - c0)
                    emit_compute(b, res, Opcode.MAC, n=n, r=2,
                                 a=Operand(x.buf, x.dtype, x.addr(p, c0), c * x.col_stride, x.col_stride), b=bop,
                                 d=Operand(d.buf, d.dtype, d.addr(p, c0), 0, d.col_stride), p=rec.p(0, False), act=act)
    if ndir == 1:
        return out
    ident = Post()
    nelem = blk // size                        # a block's elements, row padding included

    def vec(buf, off, count):
        return TensorRef(buf, off, 1, count, odt)

    # level 1: abuf blocks [0, m) against sbuf blocks [0, m), m = ndir - left
    width = ndir
    m = ndir - left
    if width == 2:
        _tree_step(b, vec(Buffer.ABUF, abuf, nelem), vec(Buffer.SBUF, sbuf_off, nelem), out, nelem, row)
        return out
    vector_op(b, Opcode.MAX, vec(Buffer.ABUF, abuf, m * nelem), vec(Buffer.SBUF, sbuf_off, m * nelem),
              vec(Buffer.ABUF, abuf, m * nelem), ident)
    width = left
    while width > 2:
        h = width // 2                                 # blocks [0, h) against [width - h, width)
        vector_op(b, Opcode.MAX, vec(Buffer.ABUF, abuf, h * nelem),
                  vec(Buffer.ABUF, abuf + (width - h) * blk, h * nelem), vec(Buffer.ABUF, abuf, h * nelem), ident)
        width -= h
    _tree_step(b, vec(Buffer.ABUF, abuf, nelem), vec(Buffer.ABUF, abuf + blk, nelem), out, nelem, row)
    return out


def _tree_step(b, a, bb, out, nelem, row):
    """The last level: max of two blocks (rows `row` bytes apart) into the output tensor: one
    flat vector when it is laid out like them, a tensor operation otherwise."""
    if out.rows_contiguous and out.row_stride == row and out.positions * row == nelem * out.size:
        vector_op(b, Opcode.MAX, a, bb, TensorRef(out.buf, out.offset, 1, nelem, out.dtype), Post())
    else:
        shape = dict(positions=out.positions, channels=out.channels, dtype=out.dtype, row_stride=row)
        elementwise(b, Opcode.MAX, TensorRef(a.buf, a.offset, **shape), TensorRef(bb.buf, bb.offset, **shape), out)


# Element-wise layers ------------------------------------------------------------------------------
def lower_add(ctx, layer):
    """a + b; with `align`, one input is first requantised into an int16 temporary (a `mov`)."""
    ins = [_single(ctx, n, layer) for n in layer.inputs]
    if layer.align is not None:
        i, ep = layer.align
        x = ins[i]
        ins[i] = ctx.temp_tensor(f"{layer.name}.align", x.positions, x.channels, DType.I16)
        copy(ctx.b, x, ins[i], post_of(ep, ctx.luts))
        ctx.note(f"'{layer.inputs[i]}' requantised to the other's scale")
    out = ctx.output(layer.output)
    res = elementwise(ctx.b, Opcode.ADD, ins[0], ins[1], out, post_of(layer.ep, ctx.luts))
    ctx.note(f"lanes over {res.mode}")
    return out


def _flat(t: TensorRef, positions: int, channels: int, order: str) -> TensorRef:
    """A contiguous vector `t` (one position) seen as a (positions, channels) tensor whose element
    (p, c) sits at flat index c*positions + p ('channel_major') or p*channels + c."""
    size = t.size
    if order == "channel_major":
        return TensorRef(t.buf, t.offset, positions, channels, t.dtype, row_stride=size, col_stride=positions * size)
    return TensorRef(t.buf, t.offset, positions, channels, t.dtype, row_stride=channels * size, col_stride=size)


def _view(x: TensorRef, shape, order: str) -> TensorRef | None:
    """`x` reshaped without a copy, where its bytes already lie in the flat order and the result
    is a layout the readers handle as well as a fresh tensor: a flatten of a position-last tensor
    (channel-major) or of unpadded channel-last rows (position-major) is the contiguous vector;
    a position-major reshape of a contiguous vector is unpadded channel-last rows. None otherwise."""
    channels, positions = shape
    size = x.size
    if positions == 1:
        flat = (x.row_stride == size and x.col_stride == x.positions * size if order == "channel_major"
                else x.col_stride == size and x.row_stride == x.channels * size)
        return TensorRef(x.buf, x.offset, 1, channels, x.dtype) if flat or x.positions == 1 else None
    if x.positions == 1 and x.col_stride == size and order == "position_major":
        return TensorRef(x.buf, x.offset, positions, channels, x.dtype, row_stride=channels * size)
    return None


def lower_reshape(ctx, layer):
    """flatten / reshape: free (a view of the input's bytes) where the layout allows it, else one
    strided copy into or out of a flat vector (two through a flat temporary when neither side
    has one position)."""
    x = ctx.materialise(layer.inputs[0])
    view = _view(x, layer.shape, layer.order) if layer.output not in ctx.outputs else None
    if view is not None:
        ctx.note("free: a view of the input")
        return view
    out = ctx.output(layer.output)
    if out.positions == 1 and out.rows_contiguous:
        copy(ctx.b, x, _flat(out, x.positions, x.channels, layer.order))
        ctx.note("flattened by a strided copy")
    elif x.positions == 1 and x.rows_contiguous:
        copy(ctx.b, _flat(x, out.positions, out.channels, layer.order), out)
        ctx.note("unflattened by a strided copy")
    else:
        flat = ctx.temp_tensor(f"{layer.name}.flat", 1, x.positions * x.channels, x.dtype)
        copy(ctx.b, x, _flat(flat, x.positions, x.channels, layer.order))
        copy(ctx.b, _flat(flat, out.positions, out.channels, layer.order), out)
        ctx.note("two strided copies through a flat vector")
    return out


def lower_pixel_shuffle(ctx, layer):
    """r strided copies: input channels s, s+r, ... into output positions s, s+r, ..."""
    x = _single(ctx, layer.inputs[0], layer)
    out = ctx.output(layer.output)
    r = layer.factor
    for s in range(r):
        src = replace(x, offset=x.addr(0, s), channels=out.channels, col_stride=x.col_stride * r)
        dst = replace(out, offset=out.addr(s, 0), positions=x.positions, row_stride=out.row_stride * r)
        copy(ctx.b, src, dst)
    ctx.note(f"{r} strided copies")
    return out


def lower_channels(ctx, layer):
    """out = x[index]: one strided copy per run of consecutive input channels whose outputs are
    evenly spaced (a slice: one copy; a shuffle of g groups: g copies, as `lower_pixel_shuffle`)."""
    x = _single(ctx, layer.inputs[0], layer)
    out = ctx.output(layer.output)
    runs = channel_runs(layer.index)
    for src, dst, step, n in runs:
        copy(ctx.b, replace(x, offset=x.addr(0, src), channels=n),
             replace(out, offset=out.addr(0, dst), channels=n, col_stride=out.col_stride * step))
    ctx.note(f"{len(runs)} strided cop{'y' if len(runs) == 1 else 'ies'}")
    return out


def channel_runs(index) -> list[tuple[int, int, int, int]]:
    """`index` (the input channel of each output channel) as runs (first input channel, its output
    channel, output step, length): consecutive input channels at evenly spaced outputs."""
    by_input = sorted((i, o) for o, i in enumerate(index))
    runs, k = [], 0
    while k < len(by_input):
        i0, o0 = by_input[k]
        n, step = 1, 1
        if k + 1 < len(by_input) and by_input[k + 1][0] == i0 + 1 and by_input[k + 1][1] > o0:
            step = by_input[k + 1][1] - o0
            while k + n < len(by_input) and by_input[k + n] == (i0 + n, o0 + n * step):
                n += 1
        runs.append((i0, o0, step, n))
        k += n
    return runs


def lower_mul(ctx, layer):
    a, bb = (_single(ctx, n, layer) for n in layer.inputs)
    out = ctx.output(layer.output)
    res = elementwise(ctx.b, Opcode.MUL, a, bb, out, post_of(layer.ep, ctx.luts))
    ctx.note(f"lanes over {res.mode}")
    return out


def lower_prelu(ctx, layer):
    """n = (slope - 1) * min(x, 0) (a `min` against a zero constant, per-channel multiplier) into an
    int16 temporary, then out = x + n (an `add`)."""
    x = _single(ctx, layer.inputs[0], layer)
    zero = TensorRef(Buffer.WBUF, ctx.b.constant(np.zeros(8, np.int8)), 1, 1, DType.I8)
    n = ctx.temp_tensor(f"{layer.name}.neg", x.positions, x.channels, DType.I16)
    elementwise(ctx.b, Opcode.MIN, x, zero, n, post_of(layer.ep_neg, ctx.luts))
    out = ctx.output(layer.output)
    res = elementwise(ctx.b, Opcode.ADD, x, n, out, post_of(layer.ep, ctx.luts))
    ctx.note(f"min, add; lanes over {res.mode}")
    return out


def lower_layer_norm(ctx, layer):
    """The integer reference's steps (`QLayerNorm`), each one kernel: the mean as a product with a
    ones vector and the sums of squares as MACs whose act=rsqrt writes a block-float 1/sqrt (lanes
    over positions; over the frame, one lane's MACs chained over the positions), the deviation and
    the normalisation element-wise with the mean and 1/sqrt broadcast, then the scale and shift
    (per channel in one `mul`; per element a `mul` and an `add` of the bias tensor)."""
    x = _single(ctx, layer.inputs[0], layer)
    b, luts, name = ctx.b, ctx.luts, layer.name
    P, C = x.positions, x.channels
    # The mean and 1/sqrt (one per position, or one per frame) live in sbuf, shared by every layer
    # norm, so that the element-wise steps read them through another port than the tensor.
    most = max(ctx.qnet.tensors[l.inputs[0]].shape[1] if l.over == "channels" else 1
               for l in ctx.qnet.layers if l.op == "layer_norm")
    stats = P if layer.over == "channels" else 1
    scratch = ctx.shared_scratch("layer_norm", 2 * DType.I16.size * most)
    m = TensorRef(Buffer.SBUF, scratch, stats, 1, DType.I16)
    r = TensorRef(Buffer.SBUF, scratch + DType.I16.size * most, stats, 1, DType.I16)
    ones = TensorRef(Buffer.WBUF, b.constant(np.ones(max(C, 8), np.int8), np.int8), C, 1, DType.I8)
    if layer.over == "channels":
        matmul(b, x, ones, post_of(layer.ep_mean, luts), m, name=f"{name}.mean")
    else:
        _frame_sum(b, x, TensorRef(Buffer.WBUF, ones.offset, P, C, DType.I8, row_stride=0), post_of(layer.ep_mean, luts), m)
    d = ctx.temp_tensor(f"{name}.dev", P, C, DType.I16)
    elementwise(b, Opcode.SUB, x, m, d, post_of(layer.ep_dev, luts))
    if layer.over == "channels":
        rec = Records(b, post_of(layer.ep_rsqrt, luts), 1)
        res = KernelResult(mode="positions")
        lanes = b.config.lanes
        for p0 in range(0, P, lanes):
            dev = Operand(d.buf, d.dtype, d.addr(p0, 0), d.col_stride, d.row_stride)
            emit_compute(b, res, Opcode.MAC, n=min(lanes, P - p0), r=C, a=dev, b=dev,
                         d=Operand(r.buf, r.dtype, r.addr(p0, 0), 0, r.row_stride), p=rec.p(0, False),
                         act=rec.act_fields())
    else:
        _frame_sum(b, d, d, post_of(layer.ep_rsqrt, luts), r)
    elementwise(b, Opcode.MUL, d, r, d, post_of(layer.ep_norm, luts), b_exp=True)       # n, in place
    out = ctx.output(layer.output)
    if layer.beta is None:
        gamma = TensorRef(Buffer.WBUF, b.constant(layer.gamma.astype(np.int16), np.int16), 1, C, DType.I16)
        elementwise(b, Opcode.MUL, d, gamma, out, post_of(layer.ep_affine, luts))
    else:                                       # per element: (C, L) arrays stored position-major
        def table(values):
            return TensorRef(Buffer.WBUF, b.constant(np.ascontiguousarray(values.T).astype(np.int16), np.int16),
                             P, C, DType.I16)
        elementwise(b, Opcode.MUL, d, table(layer.gamma), d, post_of(layer.ep_affine, luts))
        elementwise(b, Opcode.ADD, d, table(layer.beta), out, post_of(layer.ep_beta, luts))
    ctx.note(f"over {layer.over}: mean, deviation, rsqrt (act=rsqrt), normalise (b_exp), scale and shift")
    return out


def _frame_sum(b, x: TensorRef, y: TensorRef, post: Post, out: TensorRef):
    """out = post(sum over the frame of x * y): one lane, a MAC per position chained through ACC."""
    rec = Records(b, post, 1)
    res = KernelResult(mode="one lane")
    P = x.positions
    for p in range(P):
        last = p == P - 1
        emit_compute(b, res, Opcode.MAC, n=1, r=x.channels,
                     a=Operand(x.buf, x.dtype, x.addr(p, 0), x.col_stride, 0),
                     b=Operand(y.buf, y.dtype, y.addr(p, 0), y.col_stride, 0),
                     d=Operand(out.buf, out.dtype, out.addr(0, 0), 0, 0), p=rec.p(0, False),
                     act=rec.act_fields() if last else {"act": 0}, acc_in=int(p > 0), acc_out=int(not last))


def lower_activation(ctx, layer):
    x = _single(ctx, layer.inputs[0], layer)
    out = ctx.output(layer.output)
    res = copy(ctx.b, x, out, post_of(layer.ep, ctx.luts))
    ctx.note(f"lanes over {res.mode}")
    return out


def lower_concat(ctx, layer):
    """Parts in their own format are used as they are; a part with an epilogue is requantised by a
    `mov`, in place when the concatenation is its last reader. When every reader is a dense
    convolution the result stays a list of parts (no copy: the readers chain MACs over them);
    otherwise the parts are copied into one tensor."""
    parts = []
    for name, ep in zip(layer.inputs, layer.eps):
        x = _single(ctx, name, layer)
        if ep is not None:
            if x.dtype != dtype_of(ep.out_dtype) or not ctx.dead_after(name) or x.buf != Buffer.ABUF:
                y = ctx.temp_tensor(f"{layer.output}.{name}", x.positions, x.channels, dtype_of(ep.out_dtype),
                                    keep_with=layer.output)
            else:
                y = x                                        # requantise in place
            copy(ctx.b, x, y, post_of(ep, ctx.luts))
            x = y
        parts.append(x)
    if ctx.keep_as_parts(layer.output):
        ctx.note("no copy: " + " + ".join(f"{p.channels} ch" for p in parts))
        return parts
    out = ctx.output(layer.output)
    c0 = 0
    for p in parts:
        copy(ctx.b, p, out.view(ch=c0, channels=p.channels))
        c0 += p.channels
    ctx.note("copied")
    return out


LOWER_SIMPLE = {
    "conv1d": lower_conv1d, "conv_transpose1d": lower_conv_transpose1d, "conv2d": lower_conv1d,
    "conv_transpose2d": lower_conv_transpose1d,
    "complex_conv_time": lower_complex_conv_time, "magnitude": lower_magnitude, "add": lower_add,
    "activation": lower_activation, "concat": lower_concat, "mul": lower_mul, "prelu": lower_prelu,
    "dense": lower_conv1d, "reshape": lower_reshape, "layer_norm": lower_layer_norm,
    "pixel_shuffle": lower_pixel_shuffle, "channels": lower_channels,
}
