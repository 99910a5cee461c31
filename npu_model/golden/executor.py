"""Exact integer execution of a program, vectorised with numpy over whole groups of instructions.

Semantics are docs/isa.md "Arithmetic": the NPU's timing rules (docs/timing.md) make the
hardware equivalent to running the instructions one after the other in program order, each
reading all its operands before it writes. The executor exploits that:

* Everything that does not depend on data is computed once, at load: element index arrays,
  parameter records (pbuf), requantisation constants, and every operand value read from `wbuf`
  (read-only while running: writing it is fault 2), already converted to float64.
* Consecutive compute instructions are grouped into *batches* in which no instruction reads or
  writes a byte that an earlier one of the batch writes (bytes, not footprints: `_form_batches`).
  A batch gathers all its operands from the memory as it was at the batch start, computes, and
  scatters every result at once; control instructions have no effect on data and are skipped.
* Within a batch, MACs of the same shape (n, r, operand types, broadcast pattern) form a group
  computed by one matrix product: a weight-stationary group (activation broadcast across lanes,
  weights in wbuf) is `unique activation rows @ concatenated weight blocks`, with the products a
  group needs picked from the result; other groups are stacked products. Dot products are float64:
  every partial sum is an integer below 2**47, so they are exact.
* Accumulator chaining (`acc_in`) inside a batch is a segmented cumulative sum per lane, started
  from the bias, or from the lane's ACC register when the chain came from an earlier batch.
  When only chain ends are read, each chain is summed in one pass (`np.add.reduceat`), and a
  weight-stationary group whose chains line up as a convolution's (output position x channel,
  one slot per tap) is one matrix product whose elements are the chains' sums: the layer's
  activations laid side by side per output position (a zero row for a padded tap) times its
  weights stacked per channel (`_chain_product`).
* Element-wise instructions of one opcode in a batch are one flat gather / ufunc / scatter.
* Wrap to acc_bits, requantisation, activation, LUT and saturation run once per batch over all
  its results, with per-result constants precomputed.
* The instructions of an indexed loop (their addresses come from the top-k unit's registers,
  data), `topk` and `dot` run apart, in program order between the batches (`dynamic.py`): one
  (count, r, n) gather per static pc of a loop whose iterations cannot see each other's results,
  one instance at a time otherwise.

* Reads and writes of the live memory whose elements form a grid (base + i*s0 + j*s1 ..., nearly
  every operand and destination: a tensor's rows and columns, a convolution's windows) go through
  strided views of the memory, made once per memory array (`_Source`, `_Target`): copies instead
  of gathers and scatters.
* Every array carries a leading *stream* axis: `run_frames` runs one frame of several independent
  streams (clips) of the same program at once on a streams x bytes memory (`machine.Streams`), so
  a batch's fixed cost is paid once for all of them and dense products are one GEMM over all
  streams' rows. `run_frame` is one stream.

Integer arithmetic after the dot products is int64 modulo 2**64, which is exact modulo
2**acc_bits (acc_bits <= 48), the only thing the wrap keeps.
"""
from __future__ import annotations

import bisect

import numpy as np
from threadpoolctl import ThreadpoolController

from ..arch.isa import RSQRT_MANT_BITS, Act, Buffer, DType, Opcode
from ..arch.record import RECORD_BYTES, SHIFT_BITS, field_offset
from .dynamic import ALU_UFUNCS, DynamicRun, IndexRegisters
from .dynamic import clip_ufunc as _clip

__all__ = ["Executor", "blas_single_thread"]


_BLAS = None


def blas_single_thread():
    """A context in which BLAS runs single-threaded (threadpoolctl), restored after.

    The matrix products of one frame are small; a multi-threaded BLAS spends more on waking and
    synchronising its threads than on the work, and on a busy machine a frame can take 10x longer.
    One controller is made per process (it inspects the loaded libraries once)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


F64 = np.float64
I64 = np.int64
#: Steps per MAC up to which a 'row' group's stacked matrix-vector products are an einsum rather
#: than a batched matmul (measured on TRU-Net: 2 steps x 4096 groups, 174 -> 85 us).
SHORT_ROW = 4


def _unique_rows(*cols):
    """Unique rows of integer columns: (index of each row's first occurrence, inverse).
    The columns are packed into one int64 key when their ranges fit 62 bits (they always do for
    the fields of an instruction), else rows are compared as rows."""
    cols = [np.asarray(c, np.int64) for c in cols]
    if len(cols[0]) <= 1:
        return np.zeros(len(cols[0]), np.intp), np.zeros(len(cols[0]), np.intp)
    key = np.zeros(len(cols[0]), np.int64)
    used = 0
    for c in cols:
        lo = int(c.min()) if len(c) else 0
        width = max(1, (int(c.max()) - lo).bit_length()) if len(c) else 1
        used += width
        if used > 62:
            _, first, inverse = np.unique(np.stack(cols, axis=1), axis=0, return_index=True,
                                          return_inverse=True)
            return first, inverse.reshape(-1)
        key = (key << width) | (c - lo)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _components(nodes: int, u, v) -> np.ndarray:
    """The connected components of a graph of `nodes` nodes and edges (u[i], v[i]): each node's
    label is the smallest node of its component (minimum propagation with pointer jumping)."""
    label = np.arange(nodes)
    while True:
        new = label.copy()
        low = np.minimum(label[u], label[v])
        np.minimum.at(new, u, low)
        np.minimum.at(new, v, low)
        new = new[new]                                        # pointer jumping
        if np.array_equal(new, label):
            return label
        label = new


def _block_diagonal(grp) -> bool:
    """Split a dense group's product (unique X rows) @ (unique Y blocks) into the products of its
    connected components when its entries pair rows and blocks block-diagonally (a grouped layer:
    each group's input rows meet only that group's weights), so that the pairs no entry asks for
    are not computed: 'blocks' mode. Declined (False) with one component or when the split does not
    at least halve the product. Works on the entries in any order (after `_fuse_chains`)."""
    n, ux = grp.n, grp.x.rows
    uy = grp.y.cols // n
    row, blk, lane = grp.sel // (uy * n), (grp.sel % (uy * n)) // n, grp.sel % n
    label = _components(ux + uy, row, ux + blk)
    comps, cid = np.unique(label[row], return_inverse=True)
    if len(comps) < 2:
        return False
    r = grp.y.const.shape[0]
    y = grp.y.const.reshape(r, uy, n)
    blocks, sel, size = [], np.empty(len(grp.sel), np.intp), 0
    for c in range(len(comps)):
        members = np.flatnonzero(cid.reshape(-1) == c)
        rows, rix = np.unique(row[members], return_inverse=True)
        cols, ciy = np.unique(blk[members], return_inverse=True)
        blocks.append((rows, np.ascontiguousarray(y[:, cols, :].reshape(r, len(cols) * n))))
        sel[members] = size + rix.reshape(-1) * (len(cols) * n) + ciy.reshape(-1) * n + lane[members]
        size += len(rows) * len(cols) * n
    if 2 * size > ux * uy * n:
        return False
    grp.mode, grp.blocks, grp.sel = "blocks", blocks, sel
    return True


def _chain_product(grp, first, ne, waste=2, limit=1 << 22) -> bool:
    """Turn a dense MAC group whose entries are chains (runs starting at `first`, in `grp.sel`
    order) into one matrix product whose every element is a whole chain's sum ('chains' mode).

    Entry e of a dense group is element (ix, col) of (unique X rows) @ (unique Y blocks). In a
    convolution a chain is one output (position, channel) and its entries are its taps. Columns
    that meet in a chain belong to one channel (connected components); a column's slot is its
    rank among its channel's columns, and a chain puts each entry's X row in its column's slot,
    the zero row where it has no entry (padded edges, the phases of a transposed convolution).
    The chains then form a grid of R row sequences x C channels and S = A @ B, with
    A[R, (j, s)] = X[row_j, s] (gathered per frame) and B[(j, s), C] = Y[s, column j of the
    channel] (constant, zero where a channel has fewer columns), holds every chain's sum: the
    layer's products in one BLAS call, with no per-entry gather and no segmented sum. Exact like
    the sums it replaces (every partial sum is bounded by the batch's |products| bound, below
    2**53: `_fuse_chains`). Declined (False) when a chain has two entries in one slot, when the
    grid would compute more than `waste` x the chains, or when B would exceed `limit` elements."""
    y = grp.y.const                                           # (r, width)
    r, width = y.shape
    nch = len(first)
    chain_e = np.repeat(np.arange(nch), np.diff(np.append(first, ne)))
    ix = grp.sel // width
    col = grp.sel % width
    # channels: connected components of the columns, linked by consecutive entries of a chain
    same = chain_e[1:] == chain_e[:-1]
    u, v = col[:-1][same], col[1:][same]
    label = _components(width, u, v)
    used = np.unique(col)
    order = np.lexsort((used, label[used]))
    used = used[order]
    chans, start, size = np.unique(label[used], return_index=True, return_counts=True)
    C, J = len(chans), int(size.max())
    if J * r * C > limit:
        return False
    chan_of = np.empty(width, np.intp)
    slot_of = np.empty(width, np.intp)
    chan_of[used] = np.repeat(np.arange(C), size)
    slot_of[used] = np.arange(len(used)) - np.repeat(start, size)
    eslot = slot_of[col]
    ux = grp.x.rows
    rows = np.full((nch, J), ux, np.intp)                     # ux: the zero row
    rows[chain_e, eslot] = ix
    taken = np.zeros((nch, J), bool)
    taken[chain_e, eslot] = True
    if np.count_nonzero(taken) != ne:
        return False                                          # two entries of a chain in one slot
    rfirst, row_id = _unique_rows(*rows.T)
    R = len(rfirst)
    if R * C > waste * nch:
        return False
    columns = np.full((C, J), width, np.intp)                 # width: a zero column of Y
    columns[chan_of[used], slot_of[used]] = used
    y = np.concatenate((y, np.zeros((r, 1))), axis=1)
    grp.mode = "chains"
    grp.a_idx = np.ascontiguousarray(rows[rfirst].reshape(-1))
    grp.a_shape = (R, J * r)
    grp.y.const = np.ascontiguousarray(y[:, columns.T].transpose(1, 0, 2).reshape(J * r, C))
    grp.sel = (row_id * C + chan_of[col[first]]).astype(np.intp)
    return True


def _chain_products(groups, chain_of, chains) -> bool:
    """`_chain_product` for a batch of several dense groups whose chains run through more than one
    of them (a convolution over concatenated inputs: each input's taps are a group): each group
    sums its entries of every chain it meets, and the batch adds the groups' sums per chain
    (`_Batch.mac_add`; exact: every partial sum stays below the batch's bound, under 2**53). Either
    every group takes this form (True, each group's `pos` then names its chains) or none changes."""
    if not all(grp.mode == "dense" and grp.y.const is not None for grp in groups):
        return False
    plans = []
    for grp in groups:
        pos = np.asarray(grp.pos)
        ch = chain_of[pos]
        order = np.lexsort((np.arange(len(pos)), ch))
        bounds = np.flatnonzero(np.diff(ch[order])) + 1
        saved = (grp.sel, grp.y.const, grp.pos)
        grp.sel = grp.sel[order]
        if not _chain_product(grp, np.concatenate(([0], bounds)), len(pos)):
            grp.sel = saved[0]
            for g, (sel, const, gpos) in plans:                 # undo the groups already planned
                g.mode, g.sel, g.y.const, g.pos = "dense", sel, const, gpos
            return False
        plans.append((grp, saved))
        grp.pos = ch[order][np.concatenate(([0], bounds))]     # the chains it meets, ascending
    return True


def _as_slice(index, size):
    """`index` as a slice when it is start, start + 1, ... (a copy instead of a gather or a
    scatter), or None for the whole of an array of `size` elements."""
    index = np.asarray(index)
    if not len(index) or not (np.diff(index) == 1).all():
        return index
    start = int(index[0])
    return None if (start == 0 and len(index) == size) else slice(start, start + len(index))


def _simplify_selection(grp):
    """A group whose product is used whole and in order skips its selection (`sel` None), and one
    whose entries are consecutive in the batch writes them as a slice."""
    if grp.mode in ("dense", "chains"):
        size = grp.a_shape[0] * grp.y.const.shape[1] if grp.mode == "chains" else grp.x.rows * grp.y.cols
        if _as_slice(grp.sel, size) is None:
            grp.sel = None
    pos = _as_slice(grp.pos, len(grp.pos))
    grp.pos = slice(0, len(grp.pos)) if pos is None else pos


def _scalar_or(values):
    """A scalar when all values are equal (cheaper in the hot loop), else the array."""
    if len(values) == 1 or (len(values) and values.min() == values.max()):
        return values[0].item()
    return values


def _affine(idx, *, distinct: bool, max_dims: int = 6):
    """(start, shape, strides) with idx == start + sum_k i_k * strides[k] in C order, when the index
    list is such a grid (a tensor's rows and columns, a strided lane tile, a convolution's
    overlapping windows, the same rows read again for every channel tile: any strides, zero and
    negative ones too), of distinct elements if `distinct`; else None."""
    idx = np.asarray(idx, np.int64).reshape(-1)
    n = len(idx)
    if n < 2:
        return (int(idx[0]), (1,), (1,)) if n else None
    shape, strides = [], []
    rows = idx
    for _ in range(max_dims):
        d = np.diff(rows)
        step = int(d[0])
        run = int(np.argmax(d != step)) + 1 if (d != step).any() else len(rows)
        if len(rows) % run:
            return None
        m = rows.reshape(-1, run)
        if run > 1 and not (m[:, 1:] - m[:, :-1] == step).all():
            return None
        shape.insert(0, run)
        strides.insert(0, step)
        rows = m[:, 0]
        if len(rows) == 1:
            break
    else:
        return None
    if distinct and len(np.unique(idx)) != n:
        return None
    return int(idx[0]), tuple(shape), tuple(strides)


def _strided(mem, grid):
    """The grid of elements of every stream's memory (`mem`: streams x elements) as one view."""
    start, shape, strides = grid
    return np.lib.stride_tricks.as_strided(mem[:, start:], shape=(len(mem),) + shape,
                                           strides=(mem.strides[0],) + tuple(x * mem.itemsize for x in strides))


class _Elements:
    """Elements `idx` (any shape) of the memory's view of type `dt`, which a batch reads or writes
    every frame. An index array that is a grid (`_affine`) goes through a strided view of the
    memory, a plain copy several times faster than a gather or a scatter; `bind` makes the view
    once per memory array (streams x elements)."""
    __slots__ = ("dt", "idx", "grid", "view", "mem")

    def __init__(self, dt, idx, *, distinct: bool):
        self.dt = int(dt)
        self.idx = np.ascontiguousarray(idx, dtype=np.intp)
        self.grid = _affine(self.idx, distinct=distinct)
        self.view = self.mem = None

    def bind(self, views):
        self.mem = views[self.dt]
        if self.grid is not None:
            self.view = _strided(self.mem, self.grid)


class _Source(_Elements):
    """Elements a group reads; a grid may meet itself (a convolution's overlapping windows)."""
    __slots__ = ()

    def __init__(self, dt, idx):
        super().__init__(dt, idx, distinct=False)

    def take(self):
        """(streams,) + idx.shape elements."""
        if self.view is not None:
            return self.view.reshape((len(self.mem),) + self.idx.shape)
        return self.mem.take(self.idx, axis=1)

    def f64(self):
        if self.view is not None:
            return self.view.astype(F64).reshape((len(self.mem),) + self.idx.shape)
        return self.mem.take(self.idx, axis=1).astype(F64)


class _Target(_Elements):
    """Where a batch writes its results of one element type (`sel` picks them, None: all); a
    grid must be of distinct elements (nearly every destination: a tensor's rows and columns)."""
    __slots__ = ("sel",)

    def __init__(self, dt, idx, sel):
        super().__init__(dt, idx, distinct=True)
        self.sel = None if sel is None else _as_slice(sel, -1)

    def write(self, v):
        """v: streams x results."""
        if self.sel is not None:
            v = v[:, self.sel]
        if self.view is not None:
            self.view[...] = v.reshape(self.view.shape)
        else:
            self.mem[:, self.idx] = v


class _Operand:
    """One operand of a MAC group: constant (`const`, pre-gathered at load in float64: wbuf is
    read-only while running) or a `_Source` of the live memory (`live`)."""
    __slots__ = ("const", "live", "rows", "cols")

    def __init__(self, dt, idx, initial_views, const):
        idx = np.ascontiguousarray(idx, dtype=np.intp)
        self.rows = len(idx)
        self.cols = idx.shape[1] if idx.ndim > 1 else 1
        self.const = initial_views[dt][idx].astype(F64) if const else None
        self.live = None if const else _Source(dt, idx)

    def get(self):
        return self.const if self.const is not None else self.live.f64()


class _MacGroup:
    """MACs of one batch with the same n, r, operand types and broadcast pattern.

    Operands are canonicalised so that X is the broadcast (lstride 0) one when there is one.
    Modes: 'dense'  X broadcast, X or Y constant: P = (unique X rows) @ (unique Y blocks side by side);
           'blocks' a dense group split into its block-diagonal components (`_block_diagonal`);
           'chains' a dense group whose chains are summed by the product itself (`_chain_product`):
                    S = (X rows of each chain's steps side by side) @ (the Y blocks stacked);
           'row'    X broadcast: P[g] = X[g] @ Y[g] (stacked matrix-vector products);
           'elem'   neither broadcast: P[g, l] = sum_s X[g, s, l] * Y[g, s, l]."""
    __slots__ = ("mode", "x", "y", "ix", "sel", "pos", "n", "ybc", "a_idx", "a_shape", "blocks")

    def run(self):
        """The group's products: (streams, entries), or (entries,) when both operands are constant."""
        x = self.x.get()
        lead = x.shape[:-2]                                # (streams,) unless x is constant
        if self.mode == "chains":                          # x with a zero row after its last
            x = np.concatenate((x, np.zeros(lead + (1, x.shape[-1]))), axis=-2)
            a = x.take(self.a_idx, axis=-2).reshape((-1, self.a_shape[1]))     # every stream's rows: one product
            return self._selected((a @ self.y.const).reshape(lead + (-1,)))
        if self.mode == "blocks":                          # each component's rows against its blocks
            p = [(x.take(rows, axis=-2).reshape(-1, x.shape[-1]) @ y).reshape(lead + (-1,)) for rows, y in self.blocks]
            return self._selected(np.concatenate(p, axis=-1))
        if self.mode == "dense":
            y = self.y.get()
            if y.ndim == 2:                                # constant Y: every stream's rows in one product
                p = x.reshape(-1, x.shape[-1]) @ y
            else:                                          # constant X against every stream's Y
                p = x @ y
                lead = y.shape[:-2]
            return self._selected(p.reshape(lead + (-1,)))
        if self.mode == "row":
            if self.ix is not None:
                x = x.take(self.ix, axis=-2)
            y = self.y.get()
            if self.ybc:
                return np.repeat(np.einsum("...gs,...gs->...g", x, y), self.n, axis=-1)
            if x.shape[-1] <= SHORT_ROW:                    # stacked tiny products: einsum's loop is faster
                p = np.einsum("...gs,...gsn->...gn", x, y)
            else:
                p = np.matmul(x[..., None, :], y)[..., 0, :]
            return p.reshape(p.shape[:-2] + (-1,))
        y = self.y.get()
        if self.ybc:                                            # Y broadcast: (G, r) against (G, r, n)
            p = np.einsum("...gsl,...gs->...gl", x, y)
        else:
            p = np.einsum("...gsl,...gsl->...gl", x, y)
        return p.reshape(p.shape[:-2] + (-1,))

    def _selected(self, p):
        return p if self.sel is None else p.take(self.sel, axis=-1)


class _EwGroup:
    """Element-wise instructions of one batch with the same opcode and operand types (flat)."""
    __slots__ = ("op", "a", "b", "bconst", "bias", "size", "bound")

    def run(self):
        a = self.a.take()
        if self.op is None:                                     # mov
            v = a.astype(I64)
        else:
            b = self.bconst if self.bconst is not None else self.b.take()
            v = self.op(a, b, dtype=I64)
        v += self.bias
        return v


_UFUNCS = {**ALU_UFUNCS, Opcode.MOV: None}


class _Batch:
    __slots__ = (
        # MAC part
        "mac_groups", "mac_entries", "mac_direct", "mac_add", "start", "chain", "zshape", "xi", "seg0", "fused", "perm",
        "seg_first", "seg_start", "seg_ext", "seg_ext_l", "upd_seg", "out_seg",
        "ext_e", "ext_l", "ext_xi", "upd_l", "upd_e", "out_sel", "wrap_acc", "wrap", "mac_bound",
        # element-wise part
        "ew_groups",
        # post-processing
        "half", "mask", "req", "mult", "shift", "rnd", "safe", "sm1", "rbit", "lo", "hi",
        "lut_mode", "lut_sel", "lut_off", "lo2", "hi2", "scatter", "pcs")

    def run(self, views, acc, lut):
        """One batch for every stream: acc is streams x lanes, every array below streams x results."""
        parts = []
        streams = len(acc)
        if self.mac_groups:
            if self.mac_direct:
                p = self.mac_groups[0].run()
                if p.ndim == 1:                       # both operands constant: the same in every stream
                    p = np.broadcast_to(p, (streams, len(p)))
            elif self.mac_add:                      # every group's share of each chain's sum
                p = np.zeros((streams, self.mac_entries), F64)
                for grp in self.mac_groups:
                    p[:, grp.pos] += grp.run()
            else:
                p = np.empty((streams, self.mac_entries), F64)
                for grp in self.mac_groups:
                    p[:, grp.pos] = grp.run()
            parts.append(self._summed(p, acc) if self.fused else self._accumulated(p, acc))
        for grp in self.ew_groups:
            parts.append(grp.run())
        if not parts:
            return
        v = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        if not v.shape[1]:
            return
        # 1. wrap to acc_bits (skipped when no result can leave the range)
        if self.wrap:
            v += self.half
            v &= self.mask
            v -= self.half
        # 3. requantise: (v*mult + 2**(shift-1)) >> shift, computed without overflow
        if self.req:
            v *= self.mult
            if self.safe:
                v = (v >> self.shift) + ((v >> self.sm1) & self.rbit)
            else:
                v += self.rnd
                v >>= self.shift
        # 4./5. activation and saturation
        _clip(v, self.lo, self.hi, out=v)                   # one pass: max then min (lo <= hi)
        if self.lut_mode == 1:                    # every result goes through the LUT
            v += self.lut_off
            v = lut.take(v)
        elif self.lut_mode == 2:
            sel = self.lut_sel
            v[:, sel] = lut.take(v[:, sel] + self.lut_off)
        if self.lo2 is not None:
            _clip(v, self.lo2, self.hi2, out=v)
        for target in self.scatter:
            target.write(v)

    def endpoints(self):
        """The batch's reads of the live memory and its writes (`_Source`, `_Target`)."""
        for grp in self.mac_groups:
            yield from (op.live for op in (grp.x, grp.y) if op.live is not None)
        for grp in self.ew_groups:
            yield from (src for src in (grp.a, grp.b) if src is not None)
        yield from self.scatter

    def _accumulated(self, p, acc):
        """The MAC results of the batch (its written entries), each entry's accumulator computed:
        bias or the lane's ACC plus a segmented cumulative sum along every chain."""
        acc_e = p.astype(I64)
        streams, lanes = acc.shape
        if self.chain:
            z = np.zeros((streams, self.zshape), I64)
            acc_e += self.start
            z[:, self.xi] = acc_e
            if self.ext_e is not None:
                z[:, self.ext_xi] += acc[:, self.ext_l]
            z = z.reshape(streams, -1, lanes).cumsum(axis=1).reshape(streams, -1)
            acc_e = z[:, self.xi] - z[:, self.seg0]
        else:
            acc_e += self.start
            if self.ext_e is not None:
                acc_e[:, self.ext_e] += acc[:, self.ext_l]
        w = acc_e[:, self.upd_e]
        if self.wrap_acc:
            w += self.half
            w &= self.mask
            w -= self.half
        acc[:, self.upd_l] = w
        return acc_e if self.out_sel is None else acc_e[:, self.out_sel]

    def _summed(self, p, acc):
        """The same when only chain ends are read (`_Context._fuse_chains`): each chain's products
        summed in one pass (float64, exact below 2**53), its start added once."""
        if self.seg_first is None:                    # summed by the product ('chains')
            s = p.astype(I64)
        else:
            if self.perm is not None:
                p = p[:, self.perm]
            s = np.add.reduceat(p, self.seg_first, axis=1).astype(I64)
        s += self.seg_start
        if self.seg_ext is not None:
            s[:, self.seg_ext] += acc[:, self.seg_ext_l]
        w = s[:, self.upd_seg]
        if self.wrap_acc:
            w += self.half
            w &= self.mask
            w -= self.half
        acc[:, self.upd_l] = w
        return s if self.out_seg is None else s[:, self.out_seg]


class Executor:
    """Runs frames of a fault-free program on a flat memory (wbuf, abuf, sbuf back to back)."""

    def __init__(self, analysis):
        program = analysis.program
        cfg = program.config
        self.config = cfg
        self.analysis = analysis
        self.offsets = cfg.flat_offsets
        total = cfg.wbuf_bytes + cfg.abuf_bytes + cfg.sbuf_bytes
        init = np.zeros(total, np.uint8)
        init[:len(program.wbuf)] = np.frombuffer(program.wbuf, np.uint8)
        s0 = self.offsets["sbuf"]
        init[s0:s0 + len(program.sbuf)] = np.frombuffer(program.sbuf, np.uint8)
        self.initial = init
        records = np.zeros(cfg.pbuf_bytes, np.uint8)        # read-only while running: never copied
        records[:len(program.pbuf)] = np.frombuffer(program.pbuf, np.uint8)
        self.records = records
        lut = np.zeros(cfg.lut_entries, I64)
        lut[:len(program.lut)] = program.lut
        self.lut = lut
        self.acc_bits = cfg.acc_bits
        self.index = IndexRegisters(cfg.topk_entries)
        self.batches = _compile(analysis, self)
        self.endpoints = [e for b in self.batches if isinstance(b, _Batch) for e in b.endpoints()]
        #: Runners with state of their own across runners (the top-k unit's index registers).
        self.dynamic = any(isinstance(b, DynamicRun) for b in self.batches)
        self._bound = None                  # the memory the endpoints are bound to, and its key
        self._bound_key = None

    def memory(self) -> np.ndarray:
        """A fresh memory image as at reset."""
        return self.initial.copy()

    @staticmethod
    def views(mem: np.ndarray):
        """The memory (bytes along its last axis) as int8 and as little-endian int16 elements."""
        return (mem.view(np.int8), mem.view("<i2"))

    def run_frame(self, mem: np.ndarray, acc: np.ndarray) -> None:
        """Execute every instruction once on `mem` (uint8, updated in place) and `acc` (int64 per lane)."""
        self.run_frames(mem[None], acc[None])

    def run_frames(self, mem: np.ndarray, acc: np.ndarray) -> None:
        """One frame of each of several independent streams (clips) at once: `mem` is streams x
        bytes, `acc` streams x lanes, both updated in place. Every batch runs for all streams in
        one go (the streams share the program and differ only in data), so the fixed cost of a
        batch is paid once per frame of all streams. A program with a top-k unit runs its streams
        one after the other: the index registers are state of one stream across runners."""
        if self.dynamic and len(mem) > 1:
            for k in range(len(mem)):
                self.run_frames(mem[k:k + 1], acc[k:k + 1])
            return
        views = self.views(mem)
        key = (mem.__array_interface__["data"][0], mem.shape, mem.strides)
        if key != self._bound_key:
            for endpoint in self.endpoints:
                endpoint.bind(views)
            self._bound, self._bound_key = mem, key         # kept alive: the key's address stays its own
        lut = self.lut
        self.index.reset()
        with blas_single_thread():
            for runner in self.batches:
                if isinstance(runner, _Batch):
                    runner.run(views, acc, lut)
                else:                                       # dynamic runs and block-float: per stream
                    for k in range(len(mem)):
                        runner.run((views[0][k], views[1][k]), acc[k], lut)


# Compilation -------------------------------------------------------------------------------------
def _form_batches(an, pcs):
    """Split the compute instructions (pcs, program order) into batches: an instruction starts a new
    batch when a byte it reads (A, B) or writes (D) is one a destination of the current batch writes.

    Bytes, not footprints: strided operands interleave (a tensor's real and imaginary rows, the
    phases of a transposed convolution, the gates of a GRU step), and their footprints meet where
    their bytes do not; splitting there would cut a layer into many small batches. Footprints are
    the fast filter: the union of the batch's destination footprints, kept as disjoint sorted
    intervals, is tested first, and only an operand whose footprint meets it is tested byte by byte
    against a mask of the batch's destination bytes."""
    ops, f = an.operands, an.fields
    lo_of = {x: ops[x]["glo"][pcs].tolist() for x in "abd"}
    hi_of = {x: ops[x]["ghi"][pcs].tolist() for x in "abd"}
    cols = {name: f[name][pcs].tolist() for name in ("n", "r")}
    for x in "abd":
        for part in ("base", "rstride", "lstride", "dtype", "buf"):
            cols[f"{x}_{part}"] = f[f"{x}_{part}"][pcs].tolist()
    is_mac = an.is_mac[pcs].tolist()
    wr = an.writes[pcs].tolist()
    offsets = an.offsets.tolist()
    mask = np.zeros(int(max(hi_of["d"], default=0)) + 1 if wr else 1, bool)
    starts, ends = [], []          # the batch's destination footprints, merged: disjoint, sorted
    wmin, wmax = 1 << 62, -1       # and their hull

    def touched(x, i):
        size = 1 + cols[f"{x}_dtype"][i]
        steps = 1 if x == "d" and is_mac[i] else cols["r"][i]
        base = cols[f"{x}_base"][i] + offsets[min(cols[f"{x}_buf"][i], 2)]
        e = (base + np.arange(steps)[:, None] * cols[f"{x}_rstride"][i]
             + np.arange(cols["n"][i])[None, :] * cols[f"{x}_lstride"][i])
        return (e.reshape(-1, 1) + np.arange(size)).reshape(-1) if size > 1 else e.reshape(-1)

    # Every destination's bytes at once (a few per written element), sliced per instruction below.
    d_size = 1 + f["d_dtype"][pcs]
    d_count = np.where(an.writes[pcs], np.where(an.is_mac[pcs], 1, f["r"][pcs]) * f["n"][pcs] * d_size, 0)
    d_start = np.zeros(len(pcs) + 1, np.int64)
    np.cumsum(d_count, out=d_start[1:])
    inst = np.repeat(np.arange(len(pcs)), d_count)
    k = np.arange(int(d_start[-1])) - d_start[inst]
    elem, byte = np.divmod(k, d_size[inst])
    step, lane = np.divmod(elem, f["n"][pcs][inst])
    d_bytes = (f["d_base"][pcs][inst] + an.offsets[np.minimum(f["d_buf"][pcs], 2)][inst]
               + step * f["d_rstride"][pcs][inst] + lane * f["d_lstride"][pcs][inst] + byte)
    d_start = d_start.tolist()

    bid = [0] * len(pcs)
    cur = 0
    first = marked = 0             # the batch's first instruction; instructions before `marked` are in `mask`
    br = bisect.bisect_right
    for i in range(len(pcs)):
        if wmax >= 0:
            hit = False
            for x in ("a", "b", "d") if wr[i] else ("a", "b"):
                lo, hi = lo_of[x][i], hi_of[x][i]
                if lo <= hi and lo <= wmax and wmin <= hi:
                    k = br(starts, hi) - 1
                    if k >= 0 and ends[k] >= lo:
                        if marked < i:                     # the batch's bytes into the mask, in one go
                            mask[d_bytes[d_start[marked]:d_start[i]]] = True
                            marked = i
                        if x == "d":
                            idx = d_bytes[d_start[i]:d_start[i + 1]]
                        else:
                            idx = touched(x, i)
                            idx = idx[idx < len(mask)]
                        if mask[idx].any():
                            hit = True
                            break
            if hit:
                cur += 1
                mask[d_bytes[d_start[first]:d_start[marked]]] = False
                first = marked = i
                starts, ends = [], []
                wmin, wmax = 1 << 62, -1
        if wr[i]:
            lo, hi = lo_of["d"][i], hi_of["d"][i]
            k = br(starts, lo) - 1                         # merge [lo, hi] into the disjoint intervals
            if k >= 0 and ends[k] >= lo - 1:
                lo = starts[k]
                if ends[k] > hi:
                    hi = ends[k]
            else:
                k += 1
            j = k
            while j < len(starts) and starts[j] <= hi + 1:
                if ends[j] > hi:
                    hi = ends[j]
                j += 1
            starts[k:j] = [lo]
            ends[k:j] = [hi]
            if lo < wmin:
                wmin = lo
            if hi > wmax:
                wmax = hi
        bid[i] = cur
    return np.array(bid, np.int64)


def _compile(an, ex):
    """The runners of a frame, in program order: batches of the instructions planned at load, and
    runs of the dynamic ones (`dynamic.DynamicRun`) between them."""
    f = an.fields
    comp = np.flatnonzero(an.is_compute)
    if not len(comp):
        return []
    cfg = ex.config
    lanes = cfg.lanes
    init_views = Executor.views(ex.initial)
    pimg = ex.records
    offsets = an.offsets

    # Element indices of every operand: index = ebase + s*ers + l*els in the view of its type.
    el = {}
    for x in ("a", "b", "d"):
        dt = f[f"{x}_dtype"]
        buf = np.minimum(f[f"{x}_buf"], 2)
        gbase = f[f"{x}_base"] + offsets[buf]
        el[x] = dict(dt=dt, base=gbase >> dt, rs=f[f"{x}_rstride"] >> dt, ls=f[f"{x}_lstride"] >> dt,
                     const=f[f"{x}_buf"] == Buffer.WBUF, bc=f[f"{x}_lstride"] == 0)
    ctx = _Context(an, ex, el, init_views, pimg, lanes)
    runners = []
    dyn = an.dynamic[comp]
    for run in np.split(comp, np.flatnonzero(dyn[1:] != dyn[:-1]) + 1):
        if an.dynamic[run[0]]:
            runners.append(DynamicRun(an, el, pimg, run, ex.index, ex.acc_bits))
        else:
            runners += _static_batches(an, ctx, run)
    return runners


def _static_batches(an, ctx, pcs):
    """The batches of a run of instructions whose every address is known at load."""
    f = an.fields
    bid = _form_batches(an, pcs)
    # Block-float instructions (act=rsqrt, or a mul with b_exp) run apart, by `_BlockFloat`: a run of
    # them of one shape that the batching keeps together is one group.
    special = (f["act"][pcs] == Act.RSQRT) | (f["b_exp"][pcs] != 0)
    shape = np.stack([f["opcode"][pcs], ctx.n[pcs], ctx.r[pcs], f["acc_in"][pcs], f["acc_out"][pcs]], axis=1)
    new_shape = (shape[1:] != shape[:-1]).any(axis=1)
    cut = np.zeros(len(pcs) + 1, bool)
    cut[1:-1] = (np.diff(bid) != 0) | (special[1:] != special[:-1]) | \
        (special[1:] & (new_shape | (f["acc_in"][pcs[1:]] != 0)))
    batches = []
    for members in np.split(pcs, np.flatnonzero(cut)):
        batches.append(_BlockFloat(ctx, members) if special[np.searchsorted(pcs, members[0])]
                       else ctx.batch(members))
    return batches


class _BlockFloat:
    """Block-float instructions of one shape (docs/isa.md "Arithmetic"): MAC or element-wise
    instructions whose post-processing ends in act=rsqrt, or `mul`s reading B as a block-float
    scale (b_exp). Their results need a shift chosen per element, which the batches' shared
    requantisation constants do not have. G instructions of n lanes and r steps are gathered as
    (G, r, n) arrays; a MAC of a group continues its own bias (a chained one runs alone)."""

    def __init__(self, ctx, pcs):
        f, el = ctx.f, ctx.el
        pc = int(pcs[0])
        self.pcs = (pc, int(pcs[-1]))
        n, r = int(ctx.n[pc]), int(ctx.r[pc])
        self.n = n
        self.op = Opcode(int(f["opcode"][pc]))
        self.mac = self.op is Opcode.MAC
        g = np.asarray(pcs)[:, None, None]
        s = np.arange(r)[None, :, None]
        l = np.arange(n)[None, None, :]

        def index(x, steps=s):
            e = el[x]
            return int(e["dt"][pc]), np.ascontiguousarray(e["base"][g] + steps * e["rs"][g] + l * e["ls"][g],
                                                          dtype=np.intp)
        self.a = index("a")
        self.b = index("b") if self.op is not Opcode.MOV else None
        self.d = index("d", np.zeros((1, 1, 1), np.int64) if self.mac else s)
        self.acc_in, self.acc_out = bool(f["acc_in"][pc]), bool(f["acc_out"][pc])
        self.bexp = f["b_exp"][np.asarray(pcs)][:, None, None] != 0
        rec = ctx.records(np.repeat(np.asarray(pcs), n), np.tile(np.arange(n), len(pcs)))
        self.bias, self.mult, self.shift = (v.reshape(len(pcs), 1, n) for v in rec)
        act, k = f["act"][np.asarray(pcs)], f["lut_log2"][np.asarray(pcs)]
        self.rsqrt = (act == Act.RSQRT)[:, None, None]
        self.relu = (act == Act.RELU)[:, None, None]
        self.islut = (act == Act.LUT)[:, None, None]
        self.k = np.maximum(k, 1)[:, None, None]
        self.lut_base = f["lut_base"][np.asarray(pcs)][:, None, None]
        dt = el["d"]["dt"][np.asarray(pcs)][:, None, None]
        self.lo = np.where(dt == DType.I16, DType.I16.min, DType.I8.min)
        self.hi = np.where(dt == DType.I16, DType.I16.max, DType.I8.max)
        self.half, self.mask = ctx.half, ctx.mask
        # What the group's instructions need, known at load: a layer norm's rsqrt MAC group has
        # no other activation, its b_exp multiply group no rsqrt; the other paths are skipped.
        self.any_rsqrt, self.all_rsqrt = bool(self.rsqrt.any()), bool(self.rsqrt.all())
        self.any_bexp = bool(self.bexp.any())
        self.any_relu, self.any_lut = bool(self.relu.any()), bool(self.islut.any())
        self.shift63 = np.minimum(self.shift, 63)            # without b_exp: the record's shift alone
        self.rnd = np.where(self.shift63 > 0, np.left_shift(1, np.maximum(self.shift63 - 1, 0)), 0)

    def run(self, views, acc, lut):
        a = views[self.a[0]].take(self.a[1]).astype(I64)
        b = views[self.b[0]].take(self.b[1]).astype(I64) if self.b is not None else None
        extra = None
        if self.mac:
            start = acc[:self.n] if self.acc_in else self.bias
            v = (a * b).sum(axis=1, keepdims=True) + start
            v = ((v + self.half) & self.mask) - self.half
            acc[:self.n] = v[-1, 0]
            if self.acc_out:
                return
        else:
            if b is not None and self.any_bexp:
                u = b & 0xFFFF
                extra = np.where(self.bexp, u >> RSQRT_MANT_BITS, 0)
                b = np.where(self.bexp, u & ((1 << RSQRT_MANT_BITS) - 1), b)
            v = a if b is None else _UFUNCS[self.op](a, b, dtype=I64)
            v = ((v + self.bias + self.half) & self.mask) - self.half
        if extra is None:
            v = (v * self.mult + self.rnd) >> self.shift63
        else:
            shift = np.minimum(self.shift + extra, 63)
            v = (v * self.mult + np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)) >> shift
        if self.any_rsqrt:                        # act=rsqrt: the block-float word
            w = np.clip(v, 1, (1 << 31) - 1)
            e = (np.frexp(w.astype(F64))[1] - 1) >> 1
            sh = 2 * e - (self.k - 2)
            idx = np.where(sh >= 0, w >> np.maximum(sh, 0), w << np.maximum(-sh, 0))
            mant = lut.take(np.where(self.rsqrt, self.lut_base + idx, 0)) & ((1 << RSQRT_MANT_BITS) - 1)
            word = ((e << RSQRT_MANT_BITS) | mant).astype(np.uint16).astype(np.int16).astype(I64)
        if not self.all_rsqrt:                    # otherwise relu / lut and saturation
            y = np.where(self.relu, np.maximum(v, 0), v) if self.any_relu else v
            if self.any_lut:
                half = np.left_shift(1, self.k - 1)
                y = np.where(self.islut, lut.take(np.where(self.islut, np.clip(v, -half, half - 1) + half
                                                           + self.lut_base, 0)), y)
            y = _clip(y, self.lo, self.hi)
        out = word if self.all_rsqrt else (np.where(self.rsqrt, word, y) if self.any_rsqrt else y)
        views[self.d[0]][self.d[1]] = np.broadcast_to(out, self.d[1].shape)


class _Context:
    def __init__(self, an, ex, el, init_views, pimg, lanes):
        self.an, self.ex, self.el, self.iv, self.lanes = an, ex, el, init_views, lanes
        f = an.fields
        self.f = f
        self.n, self.r = f["n"], f["r"]
        # Parameter records of every (instruction, lane): lane l reads p_base + 8*l*p_vec of pbuf.
        self.pimg = pimg
        self.p32 = pimg.view("<i4")
        self.p16 = pimg.view("<i2")
        self.half = 1 << (ex.acc_bits - 1)
        self.mask = (1 << ex.acc_bits) - 1
        self.limit = (1 << (ex.acc_bits - 1)) - 1
        # Per-instruction post-processing constants (lane 0's record), as Python lists: a batch whose
        # instructions all share them, with one record each, gets scalars (the common case).
        pcs = np.flatnonzero(an.is_compute)
        m = len(f["opcode"])
        _, mult0, shift0 = self.records(pcs, np.zeros(len(pcs), np.int64))
        act, k, dt = f["act"], f["lut_log2"], el["d"]["dt"]
        islut = act == Act.LUT
        half = np.left_shift(1, np.maximum(k - 1, 0))
        dmax = np.where(dt == DType.I16, DType.I16.max, DType.I8.max)
        lo = np.where(islut, -half, np.where(act == Act.RELU, 0, -dmax - 1))
        hi = np.where(islut, half - 1, dmax)
        off = np.where(islut, half + f["lut_base"], 0)
        full = np.zeros((m, 2), np.int64)
        full[pcs, 0], full[pcs, 1] = mult0, shift0
        self.post_key = list(zip((f["p_vec"] != 0).tolist(), full[:, 0].tolist(), full[:, 1].tolist(), lo.tolist(),
                                 hi.tolist(), off.tolist(), islut.tolist(), dt.tolist()))
        # MAC operand canonicalisation: X is the operand to broadcast / keep on the left.
        a, b = el["a"], el["b"]

        def score(p, q):
            return np.where(p["bc"] & q["const"] & ~q["bc"], 2, np.where(p["bc"], 1, 0))
        self.swap = an.is_mac & (score(b, a) > score(a, b))

    # records ---------------------------------------------------------------------------------
    def records(self, pcs, lanes_of):
        """bias, mult, shift of the record read by (pcs[i], lanes_of[i])."""
        addr = self.f["p_base"][pcs] + RECORD_BYTES * lanes_of * (self.f["p_vec"][pcs] != 0)
        bias = self.p32[(addr + field_offset("bias")) >> 2].astype(I64)
        mult = self.p16[(addr + field_offset("mult")) >> 1].astype(I64)
        shift = (self.pimg[addr + field_offset("shift")] & ((1 << SHIFT_BITS) - 1)).astype(I64)
        return bias, mult, shift

    def operand(self, x, pcs, swap):
        """Element-index description (dt, base, rs, ls, const, bc) of MAC operand X or Y."""
        a, b = self.el["a"], self.el["b"]
        out = {}
        for key in ("dt", "base", "rs", "ls", "const", "bc"):
            first, second = (a, b) if x == "x" else (b, a)
            out[key] = np.where(swap, second[key][pcs], first[key][pcs])
        return out

    # one batch ---------------------------------------------------------------------------------
    def batch(self, members):
        an = self.an
        b = _Batch()
        b.pcs = (int(members[0]), int(members[-1]))
        b.half, b.mask = self.half, self.mask
        macs = members[an.is_mac[members]]
        ews = members[an.is_ew[members]]
        posts = []           # per-output (pcs, lanes, steps-or-None) in output order
        b.mac_groups = []
        b.mac_add = False
        b.ew_groups = []
        b.out_sel = None
        b.mac_bound = 0
        if len(macs):
            self._mac_part(b, macs, posts)
        if len(ews):
            self._ew_part(b, ews, posts)
        self._post(b, posts)
        for grp in b.mac_groups:
            if grp.mode == "dense" and grp.y.const is not None and grp.x.rows * grp.y.cols > len(grp.sel):
                _block_diagonal(grp)                     # products no entry asks for
            _simplify_selection(grp)
        return b

    def _mac_part(self, b, rows, posts):
        f, lanes = self.f, self.lanes
        n = self.n[rows]
        g_all = len(rows)
        entry_start = np.zeros(g_all + 1, np.int64)
        np.cumsum(n, out=entry_start[1:])
        ne = int(entry_start[-1])
        row_e = np.repeat(np.arange(g_all), n)
        lane_e = np.arange(ne) - entry_start[row_e]
        pcs_e = rows[row_e]
        acc_in = f["acc_in"][rows] != 0
        acc_out = f["acc_out"][rows] != 0
        b.mac_entries = ne

        # groups by shape
        swap = self.swap[rows]
        X = self.operand("x", rows, swap)
        Y = self.operand("y", rows, swap)
        _, gid = _unique_rows(n, self.r[rows], X["dt"] + 2 * X["const"] + 4 * X["bc"] + 8 * Y["dt"]
                              + 16 * Y["const"] + 32 * Y["bc"])
        for g in range(int(gid.max()) + 1):
            sel = np.flatnonzero(gid == g)
            grp = self._mac_group({k: v[sel] for k, v in X.items()}, {k: v[sel] for k, v in Y.items()},
                                  int(n[sel[0]]), int(self.r[rows[sel[0]]]))
            grp.pos = (entry_start[sel][:, None] + np.arange(grp.n)).reshape(-1)
            b.mac_groups.append(grp)
        b.mac_direct = len(b.mac_groups) == 1
        # records: start value is the bias unless acc_in
        bias, _, _ = self.records(pcs_e, lane_e)
        cont = acc_in[row_e]
        b.start = np.where(cont, 0, bias)
        # chains: for each lane, the rows covering it; a row with acc_in continues the previous one
        nmax = int(n.max())
        cover = n[None, :] > np.arange(nmax)[:, None]                 # (lane, row)
        last_row = g_all - 1 - np.argmax(cover[:, ::-1], axis=1)       # last row covering each lane
        upd_l = np.arange(nmax)
        upd_e = entry_start[last_row] + upd_l
        ext = np.zeros(ne, bool)
        chain = False
        seg = None
        if acc_in.any():
            seg = np.arange(ne)                     # entry index of the chain start of each entry
            for l in range(nmax):
                cov = np.flatnonzero(cover[l])      # rows covering lane l, program order
                e = entry_start[cov] + l            # their entries
                starts = ~acc_in[cov]
                if acc_in[cov[0]]:
                    ext[e[0]] = True                # continues a chain from an earlier batch
                    starts[0] = True
                if not starts.all():
                    chain = True
                first = np.maximum.accumulate(np.where(starts, np.arange(len(cov)), 0))
                seg[e] = e[first]
        b.chain = chain
        # Largest |acc| this batch can produce (from the types alone): the wrap is skipped below it.
        term = self.r[rows] * (128 << (8 * self.el["a"]["dt"][rows])) * (128 << (8 * self.el["b"]["dt"][rows]))
        if ext.any():
            bound = 1 << 62
        elif chain:
            bound = int(np.abs(bias).max()) + int(term.sum())
        else:
            bound = int((np.abs(b.start) + term[row_e]).max())
        b.wrap_acc = bound > self.limit
        b.mac_bound = bound
        b.upd_l = np.array(upd_l, np.intp)
        b.upd_e = np.array(upd_e, np.intp)
        if ext.any():
            b.ext_e = np.flatnonzero(ext)
            b.ext_l = lane_e[b.ext_e].astype(np.intp)
        else:
            b.ext_e = b.ext_l = None
        if chain:
            b.zshape = (g_all + 1) * lanes
            b.xi = (row_e + 1) * lanes + lane_e
            b.seg0 = row_e[seg] * lanes + lane_e
            b.ext_xi = b.xi[b.ext_e] if b.ext_e is not None else None
        # outputs: entries of rows that write
        writes = ~acc_out[row_e]
        b.out_sel = None if writes.all() else np.flatnonzero(writes)
        b.fused = chain and self._fuse_chains(b, seg, writes, ext, lane_e, int(term.sum()))
        if writes.any():
            posts.append((pcs_e[writes], lane_e[writes], np.zeros(int(writes.sum()), np.int64),
                          rows[~acc_out].tolist()))

    @staticmethod
    def _fuse_chains(b, seg, writes, ext, lane_e, products_bound) -> bool:
        """Plan `_Batch._summed` for a batch with chains when only chain ends are read: every
        written entry and every lane's last entry ends its chain, and no partial sum can reach 2**53
        (float64 sums stay exact). Entries are permuted so that each chain is one run for
        `np.add.reduceat` (folded into a lone dense group's selection, which then costs nothing).
        False (the batch keeps the cumulative sums) otherwise."""
        if products_bound >= 1 << 53:
            return False
        ne = len(seg)
        perm = np.lexsort((np.arange(ne), seg))
        bounds = np.flatnonzero(np.diff(seg[perm])) + 1
        first = np.concatenate(([0], bounds))
        last = perm[np.concatenate((bounds, [ne])) - 1]          # the last entry of every chain
        chain_of = np.empty(ne, np.intp)
        chain_of[perm] = np.repeat(np.arange(len(first)), np.diff(np.concatenate((first, [ne]))))
        out_e = np.flatnonzero(writes)
        if not (np.array_equal(last[chain_of[out_e]], out_e) and np.array_equal(last[chain_of[b.upd_e]], b.upd_e)):
            return False
        starts = perm[first]                                      # each chain's first entry
        b.seg_first = first.astype(np.intp)
        b.seg_start = b.start[starts]
        if ext[starts].any():
            b.seg_ext = np.flatnonzero(ext[starts]).astype(np.intp)
            b.seg_ext_l = lane_e[starts[b.seg_ext]].astype(np.intp)
        else:
            b.seg_ext = b.seg_ext_l = None
        b.upd_seg = chain_of[b.upd_e]
        b.out_seg = _as_slice(chain_of[out_e], len(first))           # None: every chain, in order
        b.perm = None
        if b.mac_direct and b.mac_groups[0].mode == "dense" and b.mac_groups[0].y.const is not None:
            grp = b.mac_groups[0]
            grp.sel = grp.sel[perm]
            if _chain_product(grp, first, ne):
                b.seg_first = None
        elif b.mac_direct:
            b.perm = perm
        elif not _chain_products(b.mac_groups, chain_of, len(first)):
            inverse = np.empty(ne, np.intp)
            inverse[perm] = np.arange(ne)
            for grp in b.mac_groups:
                grp.pos = inverse[grp.pos]
        else:                                   # each group sums its part of every chain
            b.seg_first = None
            b.mac_entries = len(first)
            b.mac_add = True
        return True

    def _mac_group(self, X, Y, n, r):
        grp = _MacGroup()
        grp.n = n
        g = len(X["base"])
        iv = self.iv
        steps = np.arange(r)
        lanes = np.arange(n)
        xdt, ydt = int(X["dt"][0]), int(Y["dt"][0])
        xconst, yconst = bool(X["const"][0]), bool(Y["const"][0])
        xbc, ybc = bool(X["bc"][0]), bool(Y["bc"][0])
        grp.ybc = ybc
        grp.ix = None
        if xbc:
            first, ix = _unique_rows(X["base"], X["rs"])
            ux = len(first)
            xidx = X["base"][first][:, None] + steps * X["rs"][first][:, None]
            grp.x = _Operand(xdt, xidx, iv, xconst)
            if not ybc and (yconst or xconst):
                yfirst, iy = _unique_rows(Y["base"], Y["rs"], Y["ls"])
                uy = len(yfirst)
                if ux * uy <= max(4 * g, 64) and ux * uy * n <= (1 << 22):
                    grp.mode = "dense"
                    yidx = (Y["base"][yfirst][:, None, None] + steps[None, :, None] * Y["rs"][yfirst][:, None, None]
                            + lanes[None, None, :] * Y["ls"][yfirst][:, None, None])       # (uy, r, n)
                    yidx = yidx.transpose(1, 0, 2).reshape(r, uy * n)
                    grp.y = _Operand(ydt, yidx, iv, yconst)
                    grp.sel = ((ix * (uy * n) + iy * n)[:, None] + lanes).reshape(-1)
                    return grp
            grp.mode = "row"
            if ux < g or not np.array_equal(ix, np.arange(g)):
                if xconst:                                  # constant rows: each group's own, gathered now
                    grp.x = _Operand(xdt, xidx[ix], iv, True)
                else:
                    grp.ix = ix
            if ybc:
                yidx = Y["base"][:, None] + steps * Y["rs"][:, None]
            else:
                yidx = (Y["base"][:, None, None] + steps[None, :, None] * Y["rs"][:, None, None]
                        + lanes[None, None, :] * Y["ls"][:, None, None])
            grp.y = _Operand(ydt, yidx, iv, yconst)
            return grp
        grp.mode = "elem"
        xidx = (X["base"][:, None, None] + steps[None, :, None] * X["rs"][:, None, None]
                + lanes[None, None, :] * X["ls"][:, None, None])
        grp.x = _Operand(xdt, xidx, iv, xconst)
        if ybc:
            yidx = Y["base"][:, None] + steps * Y["rs"][:, None]
        else:
            yidx = (Y["base"][:, None, None] + steps[None, :, None] * Y["rs"][:, None, None]
                    + lanes[None, None, :] * Y["ls"][:, None, None])
        grp.y = _Operand(ydt, yidx, iv, yconst)
        return grp

    def _ew_part(self, b, rows, posts):
        f, el = self.f, self.el
        op = f["opcode"][rows]
        a, bb = el["a"], el["b"]
        bconst = bb["const"][rows] & (op != Opcode.MOV)
        _, gid = _unique_rows(op, a["dt"][rows] + 2 * np.where(op == Opcode.MOV, 0, bb["dt"][rows]) + 4 * bconst)
        for g in range(int(gid.max()) + 1):
            sel = rows[gid == g]
            n, r = self.n[sel], self.r[sel]
            cnt = n * r
            start = np.zeros(len(sel) + 1, np.int64)
            np.cumsum(cnt, out=start[1:])
            inst = np.repeat(np.arange(len(sel)), cnt)
            k = np.arange(int(start[-1])) - start[inst]
            s = k // n[inst]
            l = k % n[inst]
            pcs_k = sel[inst]
            grp = _EwGroup()
            opcode = int(op[gid == g][0])
            grp.op = _UFUNCS[Opcode(opcode)]
            aidx = a["base"][pcs_k] + s * a["rs"][pcs_k] + l * a["ls"][pcs_k]
            grp.a = _Source(a["dt"][sel[0]], aidx)
            grp.b = None
            grp.bconst = None
            if opcode != Opcode.MOV:
                bidx = np.ascontiguousarray(bb["base"][pcs_k] + s * bb["rs"][pcs_k] + l * bb["ls"][pcs_k],
                                            dtype=np.intp)
                bdt = int(bb["dt"][sel[0]])
                if bool(bb["const"][sel[0]]):
                    grp.bconst = self.iv[bdt][bidx].astype(I64)
                else:
                    grp.b = _Source(bdt, bidx)
            bias, _, _ = self.records(pcs_k, l)
            grp.bias = _scalar_or(bias)
            ma = 128 << (8 * int(a["dt"][sel[0]]))
            mb = 128 << (8 * int(bb["dt"][sel[0]])) if opcode != Opcode.MOV else 0
            grp.bound = int(np.abs(bias).max()) + {Opcode.ADD: ma + mb, Opcode.SUB: ma + mb, Opcode.MUL: ma * mb,
                                                   Opcode.MAX: max(ma, mb), Opcode.MIN: max(ma, mb),
                                                   Opcode.MOV: ma}[Opcode(opcode)]
            grp.size = len(k)
            b.ew_groups.append(grp)
            posts.append((pcs_k, l, s, sel.tolist()))

    def _post(self, b, posts):
        f, el = self.f, self.el
        if not posts:
            b.req = False
            b.lut_mode = 0
            b.lo2 = None
            b.scatter = []
            b.lo = b.hi = 0
            return
        bounds = [g.bound for g in b.ew_groups]
        if b.mac_groups and (b.out_sel is None or len(b.out_sel)):
            bounds.append(b.mac_bound)
        b.wrap = max(bounds) > self.limit
        pcs = np.concatenate([p[0] for p in posts])
        lane = np.concatenate([p[1] for p in posts])
        step = np.concatenate([p[2] for p in posts])
        d = el["d"]
        didx = np.ascontiguousarray(d["base"][pcs] + step * d["rs"][pcs] + lane * d["ls"][pcs], dtype=np.intp)
        keys = {self.post_key[pc] for p in posts for pc in p[3]}
        if len(keys) == 1:
            pvec, mult, shift, lo, hi, off, islut, dt = next(iter(keys))
            if not pvec or len(pcs) == 1:
                # one set of constants for the whole batch: scalars
                b.req = not (mult == 1 and shift == 0)
                b.mult, b.shift = mult, shift
                b.safe = shift == 63
                b.rnd = 1 << (shift - 1) if shift else 0
                b.sm1, b.rbit = max(shift - 1, 0), int(shift > 0)
                b.lo, b.hi = lo, hi
                b.lut_sel = None
                b.lut_mode, b.lut_off = (1, off) if islut else (0, 0)
                b.lo2 = b.hi2 = None
                if islut and dt == 0:
                    b.lo2, b.hi2 = DType.I8.min, DType.I8.max
                b.scatter = [_Target(dt, didx, None)]
                return
        _, mult, shift = self.records(pcs, lane)
        b.req = not ((mult == 1).all() and (shift == 0).all())
        b.mult = _scalar_or(mult)
        b.shift = _scalar_or(shift)
        b.safe = bool((shift == 63).any())
        b.rnd = _scalar_or(np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0))
        b.sm1 = _scalar_or(np.maximum(shift - 1, 0))
        b.rbit = _scalar_or((shift > 0).astype(I64))
        act = f["act"][pcs]
        dt = el["d"]["dt"][pcs]
        dmax = np.where(dt == DType.I16, DType.I16.max, DType.I8.max)
        dmin = -dmax - 1
        k = f["lut_log2"][pcs]
        islut = act == Act.LUT
        half = np.left_shift(1, np.maximum(k - 1, 0))
        lo = np.where(islut, -half, np.where(act == Act.RELU, 0, dmin))
        hi = np.where(islut, half - 1, dmax)
        b.lo, b.hi = _scalar_or(lo), _scalar_or(hi)
        off = half + f["lut_base"][pcs]
        b.lut_sel = None
        b.lut_off = 0
        if islut.all():
            b.lut_mode = 1
            b.lut_off = _scalar_or(off)
        elif islut.any():
            b.lut_mode = 2
            b.lut_sel = np.flatnonzero(islut)
            b.lut_off = _scalar_or(off[islut])
        else:
            b.lut_mode = 0
        b.lo2 = b.hi2 = None
        if (islut & (dt == 0)).any():                 # LUT values saturate to int8 destinations
            b.lo2, b.hi2 = _scalar_or(dmin), _scalar_or(dmax)
        b.scatter = []
        for t in (0, 1):
            sel = dt == t
            if sel.all():
                b.scatter.append(_Target(t, didx, None))
            elif sel.any():
                b.scatter.append(_Target(t, didx[sel], np.flatnonzero(sel)))
