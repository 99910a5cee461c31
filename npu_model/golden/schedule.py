"""The golden model's timing rules: issue and retire cycle of every instruction (docs/timing.md).

The constants come from `npu_model.arch.timing`, which the RTL generator imports too; the schedule
computed here is what the RTL's retire strobes are compared against, cycle for cycle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.config import BUFFER_NAMES, PBUF
from ..arch.timing import FETCH_LATENCY, PIPELINE_LATENCY
from .costs import instruction_costs
from .stats import BufferStats, FrameStats

__all__ = ["Schedule", "schedule", "hazard_window"]


# The schedule ------------------------------------------------------------------------------------
@dataclass
class Schedule:
    """Issue and retire cycle of every instruction instance of one frame (cycles from the frame
    start; a loop body's instructions once per iteration, `pc` their static pcs), and the frame's
    counters. Timing depends only on the program, so one schedule serves every frame."""
    pc: np.ndarray           # static pc of instance i
    earliest: np.ndarray     # e(i), rule 2
    issue: np.ndarray        # t(i), rule 5
    retire: np.ndarray       # rule 6
    stall: np.ndarray        # t(i) - e(i)
    occupancy: np.ndarray    # occ(i), rule 1
    port_factor: np.ndarray  # k(i) (1 for control instructions)
    stats: "FrameStats"      # noqa: F821  (npu_model.golden.stats.FrameStats)

    @property
    def cycles(self) -> int:
        return self.stats.cycles

    def records(self, mnemonics=None):
        """One dict per instance (seq: its place in the frame, pc, issue, retire, stall; 'op' when
        mnemonics, one per static pc, are given)."""
        pcs, issue, retire, stall = self.pc.tolist(), self.issue.tolist(), self.retire.tolist(), self.stall.tolist()
        for k, pc in enumerate(pcs):
            rec = {"seq": k, "pc": pc, "issue": issue[k], "retire": retire[k], "stall": stall[k]}
            if mnemonics is not None:
                rec["op"] = mnemonics[pc]
            yield rec


def hazard_window(analysis) -> np.ndarray:
    """Bit d-1 of entry i is set when instruction i - d (1 <= d <= PIPELINE_LATENCY) may hold up
    i: i is a fence, or i - d writes a footprint overlapping i's A or B (rule 3, 4).

    Only the last PIPELINE_LATENCY instructions can still be in flight when i could issue: each
    instruction occupies the issue stage at least one cycle, so retire(j) + 1 = t(j) + occ(j) +
    PIPELINE_LATENCY <= e(i) once i - j > PIPELINE_LATENCY (control instructions retire at issue)."""
    m = analysis.n_instructions
    ops = analysis.operands
    a, b, d = ops["a"], ops["b"], ops["d"]
    flags = np.zeros(m, np.int64)
    for dist in range(1, PIPELINE_LATENCY + 1):
        if dist >= m:
            break
        i = slice(dist, m)
        j = slice(0, m - dist)
        w = analysis.writes[j]
        dlo, dhi = d["glo"][j], d["ghi"][j]
        hit = w & (((dlo <= a["ghi"][i]) & (a["glo"][i] <= dhi)) | ((dlo <= b["ghi"][i]) & (b["glo"][i] <= dhi)))
        hit &= analysis.is_compute[i]
        hit |= analysis.is_fence[i] & analysis.is_compute[j]
        flags[dist:] |= hit.astype(np.int64) << (dist - 1)
    return flags


def schedule(analysis) -> Schedule:
    """Apply the rules of docs/timing.md to a program (an `npu_model.golden.analysis.Analysis`)."""
    m = analysis.n_instructions
    occ = analysis.occupancy
    ctl = analysis.is_ctl
    # retire(j) + 1 - t(j): occ + PIPELINE_LATENCY for compute, 1 for control.
    span = np.where(ctl, 1, occ + PIPELINE_LATENCY).astype(np.int64)
    cum = np.zeros(m + 1, np.int64)
    np.cumsum(occ, out=cum[1:])
    # Without stalls t(i) = FETCH_LATENCY + cum[i]; a stall shifts every later instruction, so
    # t(i) = FETCH_LATENCY + cum[i] + off(i) with off the running sum of stalls. Only instructions
    # with a possible hazard are visited.
    flags = hazard_window(analysis)
    stall = np.zeros(m, np.int64)
    todo = np.flatnonzero(flags)
    if len(todo):
        cuml, spanl = cum.tolist(), span.tolist()
        change_pc, change_off = [-1], [0]      # off(i) = change_off[k] for the last change_pc[k] <= i
        off = 0
        for i, bits in zip(todo.tolist(), flags[todo].tolist()):
            e = cuml[i] + off
            h = e
            dist = 1
            while bits:
                if bits & 1:
                    j = i - dist
                    k = len(change_pc) - 1
                    while change_pc[k] > j:
                        k -= 1
                    v = cuml[j] + change_off[k] + spanl[j]
                    if v > h:
                        h = v
                bits >>= 1
                dist += 1
            if h > e:
                stall[i] = h - e
                off += h - e
                change_pc.append(i)
                change_off.append(off)
    earliest = FETCH_LATENCY + cum[:m] + np.concatenate([[0], np.cumsum(stall)[:-1]]) if m else cum[:0]
    issue = earliest + stall
    retire = np.where(ctl, issue, issue + occ - 1 + PIPELINE_LATENCY)

    cycles = int(retire[-1]) + 1
    costs = instruction_costs(analysis)
    macs = int(costs["npu_macs"].sum())
    lanes = analysis.config.lanes
    buffers = {name: BufferStats(hwm=_high_water_mark(analysis, code), read_bytes=int(costs[f"{name}_read"].sum()),
                                 write_bytes=int(costs[f"{name}_write"].sum()))
               for code, name in enumerate(BUFFER_NAMES)}
    records = analysis.p_hi[analysis.is_compute]
    buffers[PBUF] = BufferStats(hwm=int(records.max()) + 1 if len(records) else 0,
                                read_bytes=int(costs[f"{PBUF}_read"].sum()), write_bytes=0)
    stats = FrameStats(cycles=cycles, instructions=m, mac_cycles=int(costs["mac_cycles"].sum()), macs=macs,
                       utilisation=macs / (lanes * cycles), stall_cycles=int(stall.sum()),
                       conflict_cycles=int(costs["conflict"].sum()),
                       lanes=lanes, clock_mhz=analysis.config.clock_mhz, buffers=buffers)
    return Schedule(pc=analysis.pc, earliest=earliest, issue=issue, retire=retire, stall=stall, occupancy=occ.copy(),
                    port_factor=analysis.port_factor.copy(), stats=stats)


def _high_water_mark(analysis, code: int) -> int:
    """1 + the highest byte of data buffer `code` any instruction touches."""
    hwm = 0
    for x in ("a", "b", "d"):
        o = analysis.operands[x]
        live = o["present"] & (o["buf"] == code)
        if x == "d":
            live &= analysis.writes
        if live.any():
            hwm = max(hwm, int(o["hi"][live].max()) + 1)
    return hwm
