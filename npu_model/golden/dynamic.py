"""Instructions whose addresses or results the executor resolves while the frame runs.

Three kinds (docs/isa.md): `topk`, which writes the index registers; the instructions of an
indexed loop, whose indexed address fields move by IDX[i] * inc, IDX being data; and `dot`,
whose lanes share one dot product. Everything else of a program is planned once at load by the
batch executor (`executor.py`); these run in program order between its batches, as numpy
operations on (instances, r, n) arrays of their elements (`DynamicRun`). What is known at load is
computed at load: the element indices of iteration 0 and the increments the index scales; the
records are read as the index gives their address.

The index registers are reset to 0 at every frame start (`IndexRegisters.reset`), so that the
analysis can bound every index by the steps of the last `topk` before it (its footprint
widening), and no frame depends on the one before.
"""
from __future__ import annotations

import numpy as np

from ..arch.isa import RSQRT_MANT_BITS, Act, DType, Opcode
from ..arch.record import RECORD_BYTES, SHIFT_BITS, field_offset

__all__ = ["IndexRegisters", "DynamicRun", "finish", "ALU_UFUNCS", "clip_ufunc"]

I64 = np.int64
F64 = np.float64
try:        # numpy 2's clip ufunc itself: np.clip wraps it in Python checks costing more than a small clip
    from numpy._core.umath import clip as clip_ufunc
except ImportError:                                     # numpy 1.26
    def clip_ufunc(v, lo, hi, out=None):
        return np.minimum(np.maximum(v, lo, out=out), hi, out=out)
#: The ALU opcodes' numpy functions (the batch executor's too).
ALU_UFUNCS = {Opcode.ADD: np.add, Opcode.SUB: np.subtract, Opcode.MUL: np.multiply,
              Opcode.MAX: np.maximum, Opcode.MIN: np.minimum}


class IndexRegisters:
    """The top-k unit's `entries` index registers: what the last `topk` selected."""

    def __init__(self, entries: int):
        self.values = np.zeros(max(entries, 1), I64)

    def reset(self) -> None:
        self.values[:] = 0

    def select(self, v: np.ndarray) -> None:
        """IDX[k] = the step of the k-th largest value of v (ties: the smaller step first); entries
        past len(v) are 0. Only the first `entries` survive, as in the hardware's insertion queue."""
        order = np.lexsort((np.arange(len(v)), -v))[:len(self.values)]
        self.values[:] = 0
        self.values[:len(order)] = order


def finish(v, mult, shift, *, act, lut_log2, lut_base, dtype, lut):
    """Steps 3-5 of docs/isa.md "Arithmetic" on int64 accumulators `v`: requantise (mult, shift
    broadcast against v; shift may exceed 63 with b_exp), activate, saturate to `dtype`."""
    shift = np.minimum(shift, 63)
    v = (v * mult + np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)) >> shift
    dt = DType(dtype)
    if act == Act.RSQRT:
        w = np.clip(v, 1, (1 << 31) - 1)
        e = (np.frexp(w.astype(F64))[1] - 1) >> 1
        sh = 2 * e - (lut_log2 - 2)
        idx = np.where(sh >= 0, w >> np.maximum(sh, 0), w << np.maximum(-sh, 0))
        mant = lut.take(lut_base + idx) & ((1 << RSQRT_MANT_BITS) - 1)
        return ((e << RSQRT_MANT_BITS) | mant).astype(np.uint16).astype(np.int16).astype(I64)
    if act == Act.RELU:
        v = np.maximum(v, 0)
    elif act == Act.LUT:
        half = 1 << (lut_log2 - 1)
        v = lut.take(np.clip(v, -half, half - 1) + half + lut_base)
    return clip_ufunc(v, dt.min, dt.max)


class DynamicRun:
    """A run of dynamic instances (consecutive in the executed stream), executed in order.

    One execution of an indexed loop whose iterations cannot see each other's results (no
    instance reads bytes another writes, over the footprints of every index; no accumulator
    chaining; no two static pcs writing the same bytes) runs as one group: per static pc of the
    body, its `count` instances are one (count, r, n) gather, computation and scatter, the later
    iteration winning where two write one byte. Anything else runs instance by instance."""

    def __init__(self, an, el, records: np.ndarray, members, idx: IndexRegisters, acc_bits: int):
        self.records = records
        self.p32, self.p16 = records.view("<i4"), records.view("<i2")
        self.idx = idx
        self.half, self.mask = 1 << (acc_bits - 1), (1 << acc_bits) - 1
        self.steps = []
        members = np.asarray(members)
        for part in _loop_executions(an, members):
            if _independent(an, part):
                self.steps.append(_Group(an, el, part, self))
            else:
                self.steps += [_Group(an, el, part[i:i + 1], self) for i in range(len(part))]

    def record(self, addr):
        """bias, mult, shift of the records at byte addresses `addr` (any shape)."""
        bias = self.p32[(addr + field_offset("bias")) >> 2].astype(I64)
        mult = self.p16[(addr + field_offset("mult")) >> 1].astype(I64)
        shift = (self.records[addr + field_offset("shift")] & ((1 << SHIFT_BITS) - 1)).astype(I64)
        return bias, mult, shift

    def run(self, views, acc, lut):
        for step in self.steps:
            step.run(views, acc, lut)


def _loop_executions(an, members):
    """Split a run into the instances of one execution of one indexed loop (a new execution starts
    where the iteration falls back or the loop changes) and single instances outside one."""
    it = an.index_iter[members]
    parts, start = [], 0
    for i in range(1, len(members) + 1):
        if i == len(members) or it[i] < 0 or it[start] < 0 or it[i] < it[i - 1] or \
                (it[i] == it[i - 1] and an.pc[members[i]] <= an.pc[members[i - 1]]):
            parts.append(members[start:i])
            start = i
    return parts


def _independent(an, part) -> bool:
    """The instances may run as one group: see `DynamicRun`."""
    if len(part) < 2 or an.index_iter[part[0]] < 0 or an.is_topk[part].any():
        return False
    f = an.fields
    if (an.is_mac[part] & ((f["acc_in"][part] != 0) | (f["acc_out"][part] != 0))).any():
        return False
    ops = an.operands
    w = part[an.writes[part]]
    wlo, whi = ops["d"]["glo"][w], ops["d"]["ghi"][w]
    for x in ("a", "b"):
        live = part[ops[x]["present"][part]]
        lo, hi = ops[x]["glo"][live], ops[x]["ghi"][live]
        if len(lo) and len(wlo) and ((lo[:, None] <= whi[None, :]) & (wlo[None, :] <= hi[:, None])).any():
            return False
    pcs = an.pc[w]
    meet = (wlo[:, None] <= whi[None, :]) & (wlo[None, :] <= whi[:, None]) & (pcs[:, None] != pcs[None, :])
    return not meet.any()


class _Group:
    """The instances of one static pc or more, (G, r, n) arrays per pc (G instances of it)."""

    def __init__(self, an, el, part, run: DynamicRun):
        f = an.fields
        self.run_ = run
        self.by_pc = []
        part = np.asarray(part)
        self.last_mac = None
        for pc in dict.fromkeys(an.pc[part].tolist()):
            ks = part[an.pc[part] == pc]
            k = int(ks[0])
            op = Opcode(int(f["opcode"][k]))
            n, r = int(f["n"][k]), int(f["r"][k])
            g = ks[:, None, None]
            s = np.arange(r)[None, :, None]
            l = np.arange(n)[None, None, :]
            zero = np.zeros((1, 1, 1), np.int64)
            it = an.index_iter[ks]
            inc = an.index_inc[ks]

            def operand(x, j, steps=s, lanes=l):
                e = el[x]
                dt = int(e["dt"][k])
                return (dt, np.ascontiguousarray(e["base"][g] + steps * e["rs"][g] + lanes * e["ls"][g], np.intp),
                        (inc[:, j] >> dt)[:, None, None])
            st = dict(op=op, n=n, it=it, last=int(ks[-1]), pinc=inc[:, 3][:, None],
                      p=(f["p_base"][ks][:, None] + RECORD_BYTES * np.arange(n)[None, :] * (f["p_vec"][ks][:, None] != 0)),
                      act=int(f["act"][k]), lut_log2=int(f["lut_log2"][k]), lut_base=int(f["lut_base"][k]),
                      dtype=int(f["d_dtype"][k]), acc_in=bool(f["acc_in"][k]), acc_out=bool(f["acc_out"][k]),
                      b_exp=(f["b_exp"][ks] != 0)[:, None, None], a=operand("a", 0))
            if op not in (Opcode.MOV, Opcode.TOPK):
                st["b"] = operand("b", 1)
            if op is Opcode.DOT:
                st["d"] = operand("d", 2, zero, zero)
            elif op is Opcode.MAC:
                st["d"] = operand("d", 2, zero)
            elif op is not Opcode.TOPK:
                st["d"] = operand("d", 2)
            if op in (Opcode.MAC, Opcode.DOT) and (self.last_mac is None or st["last"] > self.last_mac):
                self.last_mac = st["last"]
            self.by_pc.append(st)

    def run(self, views, acc, lut):
        run = self.run_
        half, mask = run.half, run.mask
        ix = run.idx.values
        for st in self.by_pc:
            at = np.where(st["it"] >= 0, ix[np.maximum(st["it"], 0)], 0)[:, None, None]

            def get(x, dtype=I64):
                dt, e, inc = st[x]
                return views[dt].take(e + at * inc).astype(dtype)
            op, n = st["op"], st["n"]
            bias, mult, shift = run.record(st["p"] + at[:, :, 0] * st["pinc"])      # (G, n)
            bias, mult, shift = bias[:, None, :], mult[:, None, :], shift[:, None, :]
            extra = 0
            if op is Opcode.MAC or op is Opcode.DOT:
                # float64 is exact: r * n products of at most 2**30 each stay below 2**50
                sums = np.einsum("gsl,gsl->gl", get("a", F64), get("b", F64)).astype(I64)[:, None, :]
                if st["acc_in"]:
                    start = acc[:n]
                elif op is Opcode.DOT:
                    start = np.where(np.arange(n) == 0, bias[:, :, :1], 0)
                else:
                    start = bias
                v = ((sums + start + half) & mask) - half
                if st["last"] == self.last_mac:
                    acc[:n] = v[-1, 0]
                if st["acc_out"]:
                    continue
                if op is Opcode.DOT:
                    v = ((v.sum(axis=2, keepdims=True) + half) & mask) - half
                    mult, shift = mult[:, :, :1], shift[:, :, :1]
            else:
                a = get("a")
                if op is Opcode.MOV or op is Opcode.TOPK:
                    v = a
                else:
                    b = get("b")
                    u = b & 0xFFFF
                    extra = np.where(st["b_exp"], u >> RSQRT_MANT_BITS, 0)
                    b = np.where(st["b_exp"], u & ((1 << RSQRT_MANT_BITS) - 1), b)
                    v = ALU_UFUNCS[op](a, b, dtype=I64)
                v = ((v + bias + half) & mask) - half
            y = finish(v, mult, shift + extra, act=st["act"], lut_log2=st["lut_log2"], lut_base=st["lut_base"],
                       dtype=st["dtype"], lut=lut)
            if op is Opcode.TOPK:
                run.idx.select(y[0, :, 0])
                continue
            dt, e, inc = st["d"]
            target = np.broadcast_to(e + at * inc, y.shape).reshape(-1)
            y = y.reshape(-1)
            if len(st["it"]) > 1:                    # a later iteration wins where two write one element
                _, first = np.unique(target[::-1], return_index=True)
                keep = len(target) - 1 - first
                target, y = target[keep], y[keep]
            views[dt][target] = y
