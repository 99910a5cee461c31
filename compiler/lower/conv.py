"""Convolutions along positions, transposed convolutions (polyphase), dense layers (GEMV).

Every kernel here is planned the same way. For each output position o the plan lists the
contributing (input position, weight row) pairs, sorted by input position; a weight *block* holds
the rows of one class of outputs in that order (a convolution has one block of K taps, a strided
transposed convolution one block per phase, its taps in descending order so that their input
positions ascend). Padding costs nothing: at the edges the pairs that would read padding are left
out, so the MAC has fewer terms and shifted bases. Transposed convolutions never multiply by
inserted zeros.

With channel-last tensors the pairs of one output form ONE contiguous run of input bytes
(consecutive input positions, all in-channels each), so one MAC instruction covers the whole
reduction of a lane tile: A is that run broadcast to every lane (lstride 0), B the tile's weights
laid out [row][in-channel][lane]. Inputs concatenated along channels are reduced without a copy by
chaining MACs (`acc_out=1` then `acc_in=1`). A view whose rows are not contiguous (a channel slice
of a larger tensor) or a dilated kernel gets one chained MAC per weight row instead.

Lanes run over output channels, or over output positions of the same class when that keeps more
lanes busy (few output channels, e.g. a mask convolution with one output channel): then A steps by
the input positions between lanes and the weights of one output channel are broadcast.

A 2-D convolution causal along time (conv2d, conv_transpose2d) is the same plan over a *frame
stack* (`FrameStack`): the current frame and the past ones, oldest first, as the row blocks of one
tensor. Each weight block repeats its taps for every time tap, and an output's pairs gather the
rows of every frame it reads: one plan, one reduction per lane tile, whatever the kernel's time
extent (the seed paper's per-frame memory of past inputs, read in place).

Instructions are emitted output position by output position (lane tiles inner), so consecutive
instructions never read what the previous ones wrote, and a layer starts by reading the head of
its input, which the previous layer wrote first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npu_model.arch.isa import MAX_STEPS, Buffer, DType, Opcode

from ..reference.linear import pads as _pads
from .emit import KernelResult, Operand, Records, emit_compute
from .tensor import Post, TensorRef

__all__ = ["conv1d", "conv_transpose1d", "depthwise_conv1d", "dense", "conv_output_length",
           "conv_transpose_output_length", "FrameStack", "slice_post"]

_I16 = (1 << 15) - 1


def conv_output_length(length: int, kernel: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    pl, pr = _pads(padding)
    return (length + pl + pr - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_length(length: int, kernel: int, stride: int = 1, padding=0,
                                 dilation: int = 1, output_padding: int = 0) -> int:
    pl, pr = _pads(padding)
    return (length - 1) * stride - pl - pr + dilation * (kernel - 1) + output_padding + 1


@dataclass(frozen=True)
class FrameStack:
    """Where a 2-D convolution finds its frames: the input tensor holds frame slots of `positions`
    rows each (slot 0 the oldest), and time tap k of the weights reads slot `taps[k]`."""

    taps: tuple[int, ...]
    positions: int

    @staticmethod
    def single(positions: int) -> "FrameStack":
        """A kernel of one frame (kt = 1): the current frame only."""
        return FrameStack((0,), positions)


def _stack_plan(blocks, plan, frames: FrameStack, kf: int):
    """A plan over one frame's positions -> the plan over the frame stack: every block repeats its
    taps for each time tap (weight row k*kf + t, slots in ascending order), and every output reads
    the same positions in each tap's slot (sorted, so that runs over contiguous rows merge)."""
    order = sorted(range(len(frames.taps)), key=lambda k: frames.taps[k])
    stacked = [[k * kf + t for k in order for t in blk] for blk in blocks]
    out = []
    for e in plan:
        n = len(blocks[e.blk])
        rows = sorted((frames.taps[k] * frames.positions + i, rank * n + r)
                      for rank, k in enumerate(order) for i, r in e.rows)
        out.append(_Entry(e.o, e.blk, tuple(rows)))
    return stacked, out


# Plans ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    o: int                              # output position
    blk: int                            # weight block
    rows: tuple                         # ((input position, block row), ...) by input position


def _conv_plan(pin, pout, k, stride, padding, dilation):
    pl, _ = _pads(padding)
    plan = []
    for o in range(pout):
        rows = tuple((o * stride - pl + t * dilation, t) for t in range(k)
                     if 0 <= o * stride - pl + t * dilation < pin)
        plan.append(_Entry(o, 0, rows))
    return [list(range(k))], plan


def _conv_transpose_plan(pin, pout, k, stride, padding, dilation):
    """Polyphase: output o gets x[i] * w[t] for o + padding = i*stride + t*dilation (padding: the
    positions cropped at the start)."""
    padding, _ = _pads(padding)
    blocks = []
    for c in range(stride):
        blocks.append(sorted((t for t in range(k) if (t * dilation) % stride == c), reverse=True))
    plan = []
    for o in range(pout):
        c = (o + padding) % stride
        rows = []
        for row, t in enumerate(blocks[c]):
            i, rem = divmod(o + padding - t * dilation, stride)
            if rem == 0 and 0 <= i < pin:
                rows.append((i, row))
        plan.append(_Entry(o, c, tuple(sorted(rows))))
    return blocks, plan


def _groups(plan, lanes):
    """Chunks of up to `lanes` entries with the same block and the same pairs relative to their
    first input position whose output and first input positions both advance by constant steps:
    candidates for lanes over positions. Entries left alone then group the same way with pairs
    relative to their first weight row too, the row advancing by a constant step: every lane
    reads its own weight row (a transposed convolution from one position, where each output
    takes a different tap)."""
    first = _chunks(plan, lanes, lambda e: (e.blk, tuple((i - e.rows[0][0], r) for i, r in e.rows)))
    alone = [g[0] for g in first if len(g) == 1]
    second = _chunks(alone, lanes, lambda e: (e.blk, tuple((i - e.rows[0][0], r - e.rows[0][1]) for i, r in e.rows)))
    return [g for g in first if len(g) > 1] + second


def _chunks(entries, lanes, signature):
    """Runs of up to `lanes` entries of one signature whose steps (`_steps`) are constant."""
    by_sig = {}
    for e in entries:
        if e.rows:
            by_sig.setdefault(signature(e), []).append(e)
    out = []
    for es in by_sig.values():
        es.sort(key=lambda e: e.o)
        i = 0
        while i < len(es):
            g = [es[i]]
            if i + 1 < len(es):
                step = _steps(es[i], es[i + 1])
                j = i + 1
                while j < len(es) and len(g) < lanes and _steps(es[j - 1], es[j]) == step:
                    g.append(es[j])
                    j += 1
            out.append(g)
            i += len(g)
    return out


def _steps(a: _Entry, b: _Entry) -> tuple[int, int, int]:
    """(output, first input position, first weight row) steps from entry a to entry b."""
    return b.o - a.o, b.rows[0][0] - a.rows[0][0], b.rows[0][1] - a.rows[0][1]


def _runs(rows, merge: bool, same_step_only: bool = False):
    """Split (input position, row) pairs into runs (start pos, start row, count, pos step, row step).

    merge: consecutive pairs with input position +1 and row +1 may share one run (a contiguous
    input); same_step_only: any constant steps may share a run (a depthwise reduction, one element
    per pair, is a strided vector whatever the steps)."""
    runs = []
    for ip, row in rows:
        if runs:
            p0, r0, cnt, dp, dr = runs[-1]
            if same_step_only:
                if cnt == 1:
                    runs[-1] = (p0, r0, 2, ip - p0, row - r0)
                    continue
                if ip == p0 + cnt * dp and row == r0 + cnt * dr:
                    runs[-1] = (p0, r0, cnt + 1, dp, dr)
                    continue
            elif merge and ip == p0 + cnt and row == r0 + cnt:
                runs[-1] = (p0, r0, cnt + 1, 1, 1)
                continue
        runs.append((ip, row, 1, 1, 1))
    return runs


def _split_long(macs):
    """MACs of more than the ISA's 65535 steps become a chain of shorter ones."""
    if all(r <= MAX_STEPS for r, _, _ in macs):
        return macs
    out = []
    for r, a, b in macs:
        s = 0
        while s < r:
            step = min(MAX_STEPS, r - s)
            out.append((step, a._replace(base=a.base + s * a.rstride), b._replace(base=b.base + s * b.rstride)))
            s += step
    return out


def _check_out(out: TensorRef, inputs, pout, cout):
    if out.shape != (pout, cout):
        raise ValueError(f"output tensor is {out.positions}x{out.channels}, the layer makes {pout}x{cout}")
    lo, hi = out.footprint()
    for x in inputs:
        if x.buf == out.buf:
            xlo, xhi = x.footprint()
            if xlo <= hi and lo <= xhi:
                raise ValueError("the output of a convolution may not overlap its input")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


# The dense (groups = 1) core -------------------------------------------------------------------
def _dense_core(builder, inputs, wk, blocks, plan, out, post, name, lanes=None, cache=None) -> KernelResult:
    """inputs: TensorRefs of equal positions; wk[i]: (K, Cin_i, Cout) weights of input i.
    cache: weight blocks already placed in wbuf by an earlier call with the same weights."""
    lanes = lanes or builder.config.lanes
    cout = out.channels
    res = KernelResult(mode="channels")
    rec = Records(builder, post, cout)
    act = rec.act_fields()
    cache = {} if cache is None else cache

    def block_tile(i, b, c0, n):
        key = ("t", i, b, c0, n)
        if key not in cache:
            w = wk[i][blocks[b]][:, :, c0:c0 + n]                        # [row][cin][lane]
            cache[key] = builder.weights(f"{name}.w{i}.b{b}.c{c0}", np.ascontiguousarray(w))
        return cache[key]

    def block_chan(i, b, co):
        key = ("c", i, b, co)
        if key not in cache:
            w = wk[i][blocks[b]][:, :, co]                                # [row][cin]
            cache[key] = builder.weights(f"{name}.w{i}.b{b}.o{co}", np.ascontiguousarray(w))
        return cache[key]

    wdt = [DType.I8 if w.dtype == np.int8 else DType.I16 for w in wk]

    def chain(ops, n, d, p):
        _emit_chain(builder, res, ops, n=n, d=d, p=p, act=act)

    def channel_tiles(e):
        # The activation operands are every tile's: only the weight block changes with the tile.
        terms = [(i, row, cnt * x.channels, Operand(x.buf, x.dtype, x.addr(ip), x.col_stride, 0))
                 for i, x in enumerate(inputs) for ip, row, cnt, _, _ in _runs(e.rows, x.contiguous)]
        for c0 in range(0, cout, lanes):
            n = min(lanes, cout - c0)
            macs = []
            for i, row, r, a in terms:
                ws = wdt[i].size
                b = Operand(Buffer.WBUF, wdt[i], block_tile(i, e.blk, c0, n) + row * inputs[i].channels * n * ws,
                            n * ws, ws)
                macs.append((r, a, b))
            d = Operand(out.buf, out.dtype, out.addr(e.o, c0), 0, out.col_stride)
            chain(macs, n, d, rec.p(c0, True))

    def block_lanes(i, b, co, runs, dr, n):
        """The weight rows of a group whose lane l reads block row r + l*dr for every row r of
        `runs` (lane 0's), interleaved [row][cin][lane] run after run, so that the lanes read
        consecutive words (no bank conflict). Returns the wbuf address of each run's first row."""
        key = ("l", i, b, co, tuple((r, c) for _, r, c, _, _ in runs), dr, n)
        if key not in cache:
            rows = np.concatenate([np.arange(r, r + c) for _, r, c, _, _ in runs])
            idx = np.asarray(blocks[b])[rows[:, None] + dr * np.arange(n)[None, :]]
            w = wk[i][idx][..., co].transpose(0, 2, 1)                      # [row][cin][lane]
            base = builder.weights(f"{name}.w{i}.b{b}.o{co}.r{runs[0][1]}d{dr}", np.ascontiguousarray(w))
            row_bytes = wk[i].shape[1] * n * wdt[i].size
            starts = np.cumsum([0] + [c for _, _, c, _, _ in runs[:-1]])
            cache[key] = [base + int(k) * row_bytes for k in starts]
        return cache[key]

    def position_group(g):
        e0, n = g[0], len(g)
        do, di, dr = _steps(e0, g[1])
        runs_of = [_runs(e0.rows, x.contiguous) for x in inputs]
        for co in range(cout):
            macs = []
            for i, x in enumerate(inputs):
                cin, ws = x.channels, wdt[i].size
                runs = runs_of[i]
                lane_rows = block_lanes(i, e0.blk, co, runs, dr, n) if dr else None
                for j, (ip, row, cnt, _, _) in enumerate(runs):
                    a = Operand(x.buf, x.dtype, x.addr(ip), x.col_stride, di * x.row_stride)
                    if dr:
                        b = Operand(Buffer.WBUF, wdt[i], lane_rows[j], n * ws, ws)
                    else:
                        b = Operand(Buffer.WBUF, wdt[i], block_chan(i, e0.blk, co) + row * cin * ws, ws, 0)
                    macs.append((cnt * cin, a, b))
            d = Operand(out.buf, out.dtype, out.addr(e0.o, co), 0, do * out.row_stride)
            chain(macs, n, d, rec.p(co, False))

    # Lanes over output positions only where it needs fewer cycles than lanes over channels
    # (ties go to channels, whose weight blocks are shared by every output position).
    _emit_plan(plan, lanes, cout, max(x.row_stride for x in inputs), out.row_stride, res,
               position_group, channel_tiles, max(x.channels * w.size for x, w in zip(inputs, wdt)))
    return res


def _weights_kcc(w: np.ndarray, transposed: bool = False) -> np.ndarray:
    """(Cout, Cin, [kt,] K), or (Cin, Cout, [kt,] K) if transposed -> (kt*K, Cin, Cout), keeping
    int8/int16: weight row k*K + t is time tap k, frequency tap t."""
    if w.dtype not in (np.int8, np.int16):
        raise TypeError(f"weights must be int8 or int16, not {w.dtype}")
    w4 = w if w.ndim == 4 else w[:, :, None, :]
    perm = (2, 3, 0, 1) if transposed else (2, 3, 1, 0)
    kcc = np.transpose(w4, perm)
    return np.ascontiguousarray(kcc.reshape(-1, *kcc.shape[2:]))


def _depthwise_weights(w: np.ndarray) -> np.ndarray:
    """(C, 1, [kt,] K) -> (kt*K, C): row k*K + t as in `_weights_kcc`."""
    return np.ascontiguousarray(w[:, 0].reshape(w.shape[0], -1).T)


def _frames_for(weight: np.ndarray, inputs, frames):
    """The frame stack of a 2-D kernel (one slot of the input's rows for kt = 1), checked."""
    if weight.ndim == 3:
        if frames is not None:
            raise ValueError("a frame stack needs a 2-D (time, frequency) kernel")
        return None, inputs[0].positions
    frames = frames or FrameStack.single(inputs[0].positions)
    if len(frames.taps) != weight.shape[2]:
        raise ValueError(f"{weight.shape[2]} time taps, a frame stack for {len(frames.taps)}")
    if (max(frames.taps) + 1) * frames.positions > inputs[0].positions:
        raise ValueError(f"the frame stack has {inputs[0].positions} rows, its slots need "
                         f"{(max(frames.taps) + 1) * frames.positions}")
    return frames, frames.positions


def _split_inputs(inputs, wk, axis_len):
    """Split (K, Cin_total, Cout) weights along in-channels by the inputs' channel counts."""
    total = sum(x.channels for x in inputs)
    if total != axis_len:
        raise ValueError(f"inputs have {total} channels, the weights {axis_len}")
    out, c = [], 0
    for x in inputs:
        out.append(np.ascontiguousarray(wk[:, c:c + x.channels, :]))
        c += x.channels
    return out


# Public kernels -----------------------------------------------------------------------------
def conv1d(builder, x, weight: np.ndarray, post: Post, out: TensorRef, *, stride: int = 1, padding=0,
           dilation: int = 1, groups: int = 1, name: str = "conv", cache: dict | None = None,
           frames: FrameStack | None = None) -> KernelResult:
    """out = post(conv1d(x, weight)) along positions.

    x: a TensorRef, or a list of TensorRefs concatenated along channels (no copy).
    weight: (Cout, Cin/groups, K) int8 or int16 (PyTorch layout). padding: int or (left, right).
    groups = 1 (dense), = Cin = Cout (depthwise, lanes over channels), or any divisor (one dense
    convolution per group on channel views).
    A 2-D weight (Cout, Cin/groups, kt, K) convolves over the frames of `frames` (x is the frame
    stack; without `frames`, kt = 1 and x is the current frame).
    cache (groups = 1): a dict shared by calls with the same weights and input split (e.g. a GRU's
    recurrent weights at every step), so that their blocks are placed in wbuf only once.
    """
    inputs = _as_list(x)
    weight = np.asarray(weight)
    cout, cin_g, k = weight.shape[0], weight.shape[1], weight.shape[-1]
    if any(t.positions != inputs[0].positions for t in inputs):
        raise ValueError("concatenated inputs must have the same positions")
    frames, pin = _frames_for(weight, inputs, frames)
    cin = sum(t.channels for t in inputs)
    pout = conv_output_length(pin, k, stride, padding, dilation)
    if pout < 1:
        raise ValueError("the convolution has no output position")
    _check_out(out, inputs, pout, cout)

    def planned():
        blocks, plan = _conv_plan(pin, pout, k, stride, padding, dilation)
        return _stack_plan(blocks, plan, frames, k) if frames else (blocks, plan)

    if groups == 1:
        wk = _split_inputs(inputs, _weights_kcc(weight), cin_g)
        return _dense_core(builder, inputs, wk, *planned(), out, post, name, cache=cache)
    if cin % groups or cout % groups or cin // groups != cin_g:
        raise ValueError(f"groups={groups} does not fit {cin} -> {cout} channels with weights {weight.shape}")
    if groups == cin == cout:
        if len(inputs) != 1:
            raise ValueError("a depthwise convolution over concatenated inputs is not supported")
        return _depthwise_core(builder, inputs[0], _depthwise_weights(weight), *planned(), out, post, name)
    cout_g = cout // groups
    return _per_group(inputs, out, groups, lambda xv, g, ov: conv1d(
        builder, xv, weight[g * cout_g:(g + 1) * cout_g], slice_post(post, cout_g, g * cout_g), ov,
        stride=stride, padding=padding, dilation=dilation, name=f"{name}.g{g}", frames=frames))


def conv_transpose1d(builder, x, weight: np.ndarray, post: Post, out: TensorRef, *, stride: int = 1,
                     padding=0, output_padding: int = 0, dilation: int = 1, groups: int = 1,
                     name: str = "convT", frames: FrameStack | None = None) -> KernelResult:
    """out = post(conv_transpose1d(x, weight)), lowered polyphase (no products with inserted zeros).

    x: a TensorRef or a list (concatenated along channels). weight: (Cin, Cout/groups, K) int8 or
    int16 (PyTorch layout), or (Cin, Cout/groups, kt, K) over the frames of `frames` as in
    `conv1d`. padding: positions cropped, int or (left, right). groups = 1, = Cin = Cout
    (depthwise) or any divisor.
    """
    inputs = _as_list(x)
    weight = np.asarray(weight)
    cin_w, cout_g, k = weight.shape[0], weight.shape[1], weight.shape[-1]
    if any(t.positions != inputs[0].positions for t in inputs):
        raise ValueError("concatenated inputs must have the same positions")
    frames, pin = _frames_for(weight, inputs, frames)
    cin = sum(t.channels for t in inputs)
    cout = cout_g * groups
    pout = conv_transpose_output_length(pin, k, stride, padding, dilation, output_padding)
    if pout < 1:
        raise ValueError("the transposed convolution has no output position")
    if cin_w != cin:
        raise ValueError(f"inputs have {cin} channels, the weights {cin_w}")
    _check_out(out, inputs, pout, cout)
    blocks, plan = _conv_transpose_plan(pin, pout, k, stride, padding, dilation)
    if frames:
        blocks, plan = _stack_plan(blocks, plan, frames, k)
    if groups == 1:
        wk = _split_inputs(inputs, _weights_kcc(weight, transposed=True), cin)
        return _dense_core(builder, inputs, wk, blocks, plan, out, post, name)
    if cin % groups:
        raise ValueError(f"groups={groups} does not divide {cin} input channels")
    if groups == cin == cout and len(inputs) == 1:
        return _depthwise_core(builder, inputs[0], _depthwise_weights(weight), blocks, plan, out, post, name)
    cin_g = cin // groups
    return _per_group(inputs, out, groups, lambda xv, g, ov: conv_transpose1d(
        builder, xv, weight[g * cin_g:(g + 1) * cin_g], slice_post(post, cout_g, g * cout_g), ov,
        stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
        name=f"{name}.g{g}", frames=frames))


def dense(builder, x, weight: np.ndarray, post: Post, out: TensorRef, *, name: str = "dense",
          cache: dict | None = None) -> KernelResult:
    """out[p] = post(W x[p]) at every position p (a GEMV when positions = 1; a pointwise conv).

    x: a TensorRef or a list of TensorRefs whose channels are concatenated (e.g. [x in abuf int8,
    h in sbuf int16] for a GRU's gates W x + U h, reduced by chained MACs). weight: (Cout, Cin).
    """
    weight = np.asarray(weight)
    return conv1d(builder, x, weight[:, :, None], post, out, name=name, cache=cache)


def depthwise_conv1d(builder, x: TensorRef, weight: np.ndarray, post: Post, out: TensorRef, *,
                     stride: int = 1, padding=0, dilation: int = 1, name: str = "dw") -> KernelResult:
    """Depthwise conv1d; weight (C, 1, K) or (C, K)."""
    weight = np.asarray(weight)
    if weight.ndim == 2:
        weight = weight[:, None, :]
    return conv1d(builder, x, weight, post, out, stride=stride, padding=padding, dilation=dilation,
                  groups=weight.shape[0], name=name)


def slice_post(post: Post, channels: int, start: int) -> Post:
    """The records of output channels start .. start + channels - 1 (a shared record stays)."""
    def part(v):
        v = np.asarray(v)
        return v if v.ndim == 0 or v.size == 1 else v.reshape(-1)[start:start + channels]
    return Post(part(post.bias), part(post.mult), part(post.shift), post.act, post.lut)


def _per_group(inputs, out, groups, one):
    """Grouped convolution: one groups=1 convolution per group on channel views."""
    if len(inputs) != 1:
        raise ValueError("a grouped convolution over concatenated inputs is not supported")
    x = inputs[0]
    cin_g, cout_g = x.channels // groups, out.channels // groups
    res = KernelResult(mode="groups")
    for g in range(groups):
        res.add(one(x.view(ch=g * cin_g, channels=cin_g), g, out.view(ch=g * cout_g, channels=cout_g)))
    return res


def _emit_plan(plan, lanes, channels, in_row_stride, out_row_stride, res, position_group, channel_tiles,
               weight_row_bytes):
    """Emit a plan in output order, each output either in a group spread over the lanes (when
    that takes fewer instructions than tiling `channels` over the lanes and the lane strides fit
    16 bits) or as channel tiles; sets `res.mode` to say which was used."""
    tiles = -(-channels // lanes)
    items, grouped = [], set()                         # (first output, kind, payload)
    for g in _groups(plan, lanes):
        if len(g) < 2 or channels >= len(g) * tiles:
            continue
        do, di, dr = _steps(g[0], g[1])
        if max(abs(di * in_row_stride), abs(do * out_row_stride), abs(dr * weight_row_bytes)) > _I16:
            continue
        items.append((g[0].o, 1, g))
        grouped.update(e.o for e in g)
    items += [(e.o, 0, e) for e in plan if e.o not in grouped]
    items.sort(key=lambda it: (it[0], it[1]))
    if grouped:
        res.mode = "positions" if len(grouped) == len(plan) else "mixed"
    for _, kind, payload in items:
        if kind:
            position_group(payload)
        else:
            channel_tiles(payload)


def _emit_chain(builder, res, ops, *, n, d, p, act):
    """One output tile: MACs over `ops` [(r, A, B)] holding the accumulators between them, so the
    reduction may span several inputs or runs; with no term at all (every tap in the padding)
    the output is post(0 + bias), a `mov` of a zero constant (shared: `constant` deduplicates)."""
    if not ops:
        zero = builder.constant(np.zeros(8, np.int8))
        emit_compute(builder, res, Opcode.MOV, n=n, r=1, a=Operand(Buffer.WBUF, DType.I8, zero), d=d, p=p, act=act)
        return
    ops = _split_long(ops)
    for j, (r, a, b) in enumerate(ops):
        emit_compute(builder, res, Opcode.MAC, n=n, r=r, a=a, b=b, d=d, p=p, act=act,
                     acc_in=int(j > 0), acc_out=int(j < len(ops) - 1))


# The depthwise core -------------------------------------------------------------------------
def _depthwise_core(builder, x, wkc, blocks, plan, out, post, name, lanes=None) -> KernelResult:
    """x and out have C channels; wkc: (K, C) weights. Lanes over channels (A and B vectors), or
    over positions for C smaller than the lanes."""
    lanes = lanes or builder.config.lanes
    c = out.channels
    if x.channels != c:
        raise ValueError(f"depthwise: {x.channels} input channels, {c} output channels")
    if wkc.dtype not in (np.int8, np.int16):
        raise TypeError(f"weights must be int8 or int16, not {wkc.dtype}")
    wdt = DType.I8 if wkc.dtype == np.int8 else DType.I16
    ws = wdt.size
    res = KernelResult(mode="channels")
    rec = Records(builder, post, c)
    act = rec.act_fields()
    wbase = [builder.weights(f"{name}.w.b{b}", np.ascontiguousarray(wkc[taps]))   # [row][channel]
             for b, taps in enumerate(blocks)]

    def chain(ops, n, d, p):
        _emit_chain(builder, res, ops, n=n, d=d, p=p, act=act)

    def channel_tiles(e):
        for c0 in range(0, c, lanes):
            n = min(lanes, c - c0)
            ops = []
            for ip, row, cnt, dp, dr in _runs(e.rows, True, same_step_only=True):
                a = Operand(x.buf, x.dtype, x.addr(ip, c0), dp * x.row_stride if cnt > 1 else 0, x.col_stride)
                b = Operand(Buffer.WBUF, wdt, wbase[e.blk] + (row * c + c0) * ws,
                            dr * c * ws if cnt > 1 else 0, ws)
                ops.append((cnt, a, b))
            chain(ops, n, Operand(out.buf, out.dtype, out.addr(e.o, c0), 0, out.col_stride), rec.p(c0, True))

    def position_group(g):
        e0, n = g[0], len(g)
        do, di, drow = _steps(e0, g[1])
        for ch in range(c):
            ops = []
            for ip, row, cnt, dp, dr in _runs(e0.rows, True, same_step_only=True):
                a = Operand(x.buf, x.dtype, x.addr(ip, ch), dp * x.row_stride if cnt > 1 else 0, di * x.row_stride)
                b = Operand(Buffer.WBUF, wdt, wbase[e0.blk] + (row * c + ch) * ws, dr * c * ws if cnt > 1 else 0,
                            drow * c * ws)
                ops.append((cnt, a, b))
            chain(ops, n, Operand(out.buf, out.dtype, out.addr(e0.o, ch), 0, do * out.row_stride), rec.p(ch, False))

    _emit_plan(plan, lanes, c, x.row_stride, out.row_stride, res, position_group, channel_tiles, c * ws)
    return res
