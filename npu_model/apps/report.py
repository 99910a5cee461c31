"""Cycle and memory reports of one program: per layer and for the whole frame (docs/reports.md).

    npu = Npu(program)
    rep = build_report(npu, program_path="prog.bin")    # a Report: rows per layer, summary, timeline
    write_report(rep, "build/report")                   # layers.csv, summary.json, report.md, plots

Everything is computed from the program's layer table and memory map, the static analysis
(footprints, per-instruction read and write bytes) and the schedule (issue, stall, occupancy):
timing does not depend on data, so one schedule describes every frame. The per-layer figures use
the same formulas as the frame counters of docs/timing.md, restricted to the layer's
instructions, so that the rows of the table add up to the frame totals exactly.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arch.config import BUFFER_NAMES, COUNTED_BUFFERS, NpuConfig
from ..arch.errors import NpuError
from ..arch.files import write_bytes
from ..arch.isa import DTYPES
from ..arch.meta import ProgramMeta
from ..arch.program import Program
from ..arch.timing import FETCH_LATENCY
from ..arch.technology import logic_ge_estimate
from ..golden.costs import instruction_costs as golden_costs
from ..golden.energy import ENERGY_TERMS, instruction_energy, leakage_uw
from ..golden.machine import Npu
from .plots import report_plots

__all__ = ["Report", "TimeBase", "instruction_costs", "symbol_lifetimes", "layer_rows", "build_report",
           "write_report", "timebase", "real_time", "LAYER_COLUMNS", "OTHER_ROW", "report_markdown"]

#: Name of the row that holds the instructions outside every layer and the fetch latency.
OTHER_ROW = "(outside layers)"

#: Per-layer CSV columns, in order (documented with units in docs/reports.md).
LAYER_COLUMNS = (["layer", "op", "pc_start", "pc_end", "code_words", "instructions", "macs", "npu_macs", "mac_cycles",
                  "start_cycle", "cycles", "stall_cycles", "conflict_cycles", "utilisation_pct", "weight_bytes"]
                 + [f"{b}_{k}" for b in COUNTED_BUFFERS for k in ("live_bytes", "read_bytes", "write_bytes")]
                 + ["energy_nj", "energy_pct"])


# Per-instruction costs --------------------------------------------------------------------------------
def instruction_costs(npu) -> dict:
    """Per-instance arrays (the executed stream, `Analysis.pc`): the golden model's cost table
    (`npu_model.golden.costs`) plus the schedule's `issue_cycles` = stall + occupancy, the cycles
    the issue stage spends on the instruction (waiting for its hazards, then walking its steps).
    Their sum plus FETCH_LATENCY is the frame. `energy_<term>_fj`: the instruction's dynamic energy
    by term of `golden.energy.ENERGY_TERMS`, in femtojoules."""
    s = npu.schedule
    costs = golden_costs(npu.analysis)
    energy = instruction_energy(npu.analysis, costs)
    return {"issue_cycles": (s.stall + s.occupancy).astype(np.int64), "stall": s.stall.astype(np.int64),
            **{_energy_key(t): np.rint(1000.0 * v).astype(np.int64) for t, v in energy.items()}, **costs}


def _energy_key(term: str) -> str:
    return f"energy_{term}_fj"


# Lifetimes of the memory map's symbols ---------------------------------------------------------------
@dataclass(frozen=True)
class Lifetime:
    """A symbol is live from the issue of pc `birth` to the retire of pc `death` (inclusive);
    `persistent` symbols (wbuf, sbuf) hold their bytes for the whole frame and across frames."""
    name: str
    buf: str
    offset: int
    nbytes: int
    layer: str
    birth: int
    death: int
    persistent: bool


def symbol_lifetimes(npu) -> list[Lifetime]:
    """When each symbol of the memory map holds live data (definition in docs/reports.md).

    wbuf and sbuf symbols are resident for the whole frame. An abuf symbol S is born at the first
    instruction, from the start of the layer that allocated it, whose destination footprint meets
    S's bytes (pc 0 for an input port's region, which the host fills before the frame); it dies at
    the last instruction that reads S's bytes before the next symbol allocated over any of its
    bytes is born (the end of the frame for an output port's region, which the host reads after).
    """
    program: Program = npu.program
    a = npu.analysis
    m = a.n_instructions
    layer_start = {l.name: int(a.pc_first[l.pc_start]) if l.pc_start < len(program.code) else m
                   for l in program.layers}
    ops = a.operands
    abuf = BUFFER_NAMES.index("abuf")
    d = ops["d"]
    wmask = d["present"] & (d["buf"] == abuf) & a.writes
    w_pc = np.flatnonzero(wmask)
    w_lo, w_hi = d["lo"][w_pc], d["hi"][w_pc]
    r_parts = []
    for x in ("a", "b"):
        o = ops[x]
        mask = o["present"] & (o["buf"] == abuf)
        pcs = np.flatnonzero(mask)
        r_parts.append((pcs, o["lo"][pcs], o["hi"][pcs]))
    r_pc = np.concatenate([p[0] for p in r_parts])
    r_lo = np.concatenate([p[1] for p in r_parts])
    r_hi = np.concatenate([p[2] for p in r_parts])

    def ports_meet(ports, lo, hi):
        return any(p.buf == "abuf" and p.offset <= hi and lo <= p.offset + p.nbytes - 1 for p in ports)

    out: list[Lifetime] = []
    abuf_syms = []
    for sym in program.symbols:
        if sym.buf != "abuf":
            out.append(Lifetime(sym.name, sym.buf, sym.offset, sym.nbytes, sym.layer, 0, max(m - 1, 0), True))
            continue
        lo, hi = sym.offset, sym.offset + sym.nbytes - 1
        start = layer_start.get(sym.layer, 0)
        if ports_meet(program.inputs, lo, hi) and sym.layer not in layer_start:
            birth = 0
        else:
            hit = w_pc[(w_pc >= start) & (w_lo <= hi) & (lo <= w_hi)]
            birth = int(hit.min()) if len(hit) else start
        abuf_syms.append([sym, lo, hi, birth])
    # Deaths: the next symbol placed over the same bytes (in memory-map order) ends the lifetime.
    for i, (sym, lo, hi, birth) in enumerate(abuf_syms):
        limit = m
        successor = None
        for other, olo, ohi, obirth in abuf_syms[i + 1:]:
            if olo <= hi and lo <= ohi and obirth >= birth:
                successor = obirth
                break
        if successor is not None:
            limit = successor
        reads = r_pc[(r_pc >= birth) & (r_pc < limit) & (r_lo <= hi) & (lo <= r_hi)]
        death = int(reads.max()) if len(reads) else birth
        if successor is None and ports_meet(program.outputs, lo, hi):
            death = max(m - 1, 0)
        out.append(Lifetime(sym.name, "abuf", sym.offset, sym.nbytes, sym.layer, birth, max(death, birth), False))
    return out


# Rows per layer -------------------------------------------------------------------------------------
def _segment_sum(values: np.ndarray, start: int, end: int, cum_cache: dict, key: str) -> int:
    cum = cum_cache.get(key)
    if cum is None:
        cum = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
        cum_cache[key] = cum
    return int(cum[end] - cum[start])


def layer_rows(npu, costs: dict | None = None, lifetimes: list | None = None) -> list[dict]:
    """One row per layer of the layer table (LAYER_COLUMNS), then the OTHER_ROW for instructions
    outside every layer plus the FETCH_LATENCY cycles before pc 0 (always present)."""
    program: Program = npu.program
    costs = instruction_costs(npu) if costs is None else costs
    lifetimes = symbol_lifetimes(npu) if lifetimes is None else lifetimes
    lanes = npu.config.lanes
    m = npu.analysis.n_instructions
    cache: dict = {}
    earliest = npu.schedule.earliest
    frame_fj = sum(int(costs[_energy_key(t)].sum()) for t in ENERGY_TERMS)

    def seg(key, s, e):
        return _segment_sum(costs[key], s, e, cache, key)

    resident = {b: resident_bytes(program, b) for b in ("wbuf", "sbuf", "pbuf")}
    weights_by_layer: dict[str, int] = {}
    for sym in program.symbols:
        if sym.buf == "wbuf":
            weights_by_layer[sym.layer] = weights_by_layer.get(sym.layer, 0) + sym.nbytes
    abuf_lives = [(l.birth, l.death, l.nbytes) for l in lifetimes if l.buf == "abuf"]

    def row_for(name, op, s, e, macs, extra_cycles=0, cover=None, pcs=("", ""), words=0):
        instr = e - s if cover is None else int(cover.sum())
        if cover is None:
            cyc = seg("issue_cycles", s, e) + extra_cycles
            vals = {k: seg(k, s, e) for k in costs}
        else:
            cyc = int(costs["issue_cycles"][cover].sum()) + extra_cycles
            vals = {k: int(v[cover].sum()) for k, v in costs.items()}
            cover_cum = np.concatenate([[0], np.cumsum(cover, dtype=np.int64)])
        npu_macs = vals["npu_macs"]
        row = {
            "layer": name, "op": op, "pc_start": pcs[0], "pc_end": pcs[1], "code_words": words, "instructions": instr,
            "macs": int(macs if macs is not None else npu_macs), "npu_macs": npu_macs,
            "mac_cycles": vals["mac_cycles"],
            "start_cycle": int(earliest[s]) if (cover is None and s < m) else 0,
            "cycles": cyc, "stall_cycles": vals["stall"], "conflict_cycles": vals["conflict"],
            "utilisation_pct": round(100.0 * npu_macs / (lanes * cyc), 3) if cyc else 0.0,
            "weight_bytes": weights_by_layer.get(name, 0),
        }
        for b in COUNTED_BUFFERS:
            if b in resident:
                live = resident[b]
            elif cover is None:
                live = sum(nb for bi, de, nb in abuf_lives if bi < e and de >= s) if e > s else 0
            else:
                live = sum(nb for bi, de, nb in abuf_lives if cover_cum[de + 1] - cover_cum[bi] > 0)
            row[f"{b}_live_bytes"] = int(live)
            row[f"{b}_read_bytes"] = vals[f"{b}_read"]
            row[f"{b}_write_bytes"] = vals[f"{b}_write"]
        fj = sum(vals[_energy_key(t)] for t in ENERGY_TERMS)
        row["energy_nj"] = round(fj * 1e-6, 3)
        row["energy_pct"] = round(100.0 * fj / frame_fj, 3) if frame_fj else 0.0
        return row

    an = npu.analysis
    rows = []
    covered = np.zeros(m, bool)
    for l in program.layers:
        mask = an.instances(l.pc_start, l.pc_end)
        covered |= mask
        span = an.span(l.pc_start, l.pc_end)
        if span is None:                     # a loop runs across the layer's edge: count by mask
            rows.append(row_for(l.name, l.op, 0, m, l.macs, cover=mask, pcs=(l.pc_start, l.pc_end),
                                words=l.pc_end - l.pc_start))
        else:
            rows.append(row_for(l.name, l.op, *span, l.macs, pcs=(l.pc_start, l.pc_end), words=l.pc_end - l.pc_start))
    rest = ~covered
    other = row_for(OTHER_ROW, "-", 0, m, None, extra_cycles=FETCH_LATENCY, cover=rest,
                    words=int(len(program.code) - sum(l.pc_end - l.pc_start for l in program.layers)))
    other["start_cycle"] = ""
    other["weight_bytes"] = sum(v for k, v in weights_by_layer.items() if k not in {l.name for l in program.layers})
    rows.append(other)
    return rows


# Time base: frame hop and sample rate -----------------------------------------------------------------
@dataclass(frozen=True)
class TimeBase:
    sample_rate: int | None
    hop: int | None
    source: str            # "META", "flags" or "none"

    @property
    def hop_us(self) -> float | None:
        if not self.sample_rate or not self.hop:
            return None
        return 1e6 * self.hop / self.sample_rate


def timebase(meta: ProgramMeta, *, hop: int | None = None, sample_rate: int | None = None,
             fallback: tuple | None = None) -> TimeBase:
    """Frame hop (samples) and sample rate (Hz): flags first, then META (`ProgramMeta.frame_timing`:
    the model's `input`, or `hop`/`sample_rate` of a hand-written program), then `fallback` =
    (hop, rate, source name)."""
    m_hop, m_rate = meta.frame_timing
    sources = []
    h, r = hop, sample_rate
    if h is not None or r is not None:
        sources.append("flags")
    if (h is None and m_hop) or (r is None and m_rate):
        sources.append("META")
        h = m_hop if h is None else h
        r = m_rate if r is None else r
    if fallback and (h is None or r is None):
        sources.append(fallback[2])
        h = fallback[0] if h is None else h
        r = fallback[1] if r is None else r
    if h is None or r is None:
        return TimeBase(None, None, "none")
    return TimeBase(int(r), int(h), " and ".join(sources))


# The summary ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameFigures:
    """One frame on the golden model (its counters)."""
    cycles: int
    instructions: int
    npu_macs: int              # n x r over the MACs executed
    mac_cycles: int
    utilisation_pct: float
    stall_cycles: int
    conflict_cycles: int


@dataclass(frozen=True)
class Bound:
    """The frame against ceil(model MACs / lanes), the cycles no schedule can beat."""
    model_macs: int
    model_macs_source: str     # "META", "LAYERS" or "none"
    lanes: int
    bound_cycles: int
    ratio: float | None
    model_utilisation_pct: float | None


@dataclass(frozen=True)
class RealTime:
    """A frame's compute time against the frame hop (definitions in docs/reports.md)."""
    clock_mhz: float
    frame_us: float
    sample_rate: int | None
    hop: int | None
    hop_us: float | None
    source: str
    real_time_factor: float | None = None
    min_clock_mhz: float | None = None
    real_time: bool | None = None


@dataclass(frozen=True)
class Energy:
    """A frame's energy and the power it takes (45 nm constants, docs/area-energy.md "Energy")."""
    dynamic_uj: float          # every instruction of the frame
    by_term_uj: dict           # mac, alu, post, wbuf, abuf, sbuf, pbuf, fetch
    leakage_uw: float          # SRAM of the configured memories + the logic estimate
    leakage_by_part_uw: dict   # sram, logic
    frame_uj: float | None     # dynamic + leakage over one hop (real-time operation)
    average_mw: float | None   # frame_uj / hop: the power of real-time operation, whatever the clock
    active_mw: float           # while computing at the configured clock: dynamic / frame time + leakage


@dataclass(frozen=True)
class BufferMemory:
    capacity_bytes: int
    hwm_bytes: int
    peak_live_bytes: int
    image_bytes: int
    resident_bytes: int
    read_bytes: int
    write_bytes: int


@dataclass(frozen=True)
class ReportSummary:
    """The whole-frame summary `report` prints and writes (summary.json is `to_dict()`)."""
    program: str
    model: str
    config: NpuConfig
    frame: FrameFigures
    bound: Bound
    real_time: RealTime
    memory: dict               # buffer name -> BufferMemory
    energy: Energy
    weight_bytes: int
    weight_symbol_bytes: int
    state_bytes: int
    instruction_bytes: int
    lut_entries: int
    lut_bytes: int
    inputs: list               # Port
    outputs: list
    host: list                 # what runs on the host
    layers: int
    frames_run: int
    sim_ms_per_frame: float | None
    meta: ProgramMeta

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "memory":
                v = {name: dataclasses.asdict(m) for name, m in v.items()}
            elif f.name in ("inputs", "outputs"):
                v = [p.to_dict() for p in v]
            elif hasattr(v, "to_dict"):
                v = v.to_dict()
            elif dataclasses.is_dataclass(v):
                v = dataclasses.asdict(v)
            out[f.name] = v
        return out


def real_time(cycles: int, clock_mhz: float, tb: TimeBase) -> RealTime:
    """Real-time figures of a frame of `cycles` at `clock_mhz` (definitions in docs/reports.md)."""
    frame_us = cycles / clock_mhz
    if not tb.hop_us:
        return RealTime(clock_mhz, frame_us, tb.sample_rate, tb.hop, tb.hop_us, tb.source)
    return RealTime(clock_mhz, frame_us, tb.sample_rate, tb.hop, tb.hop_us, tb.source,
                    real_time_factor=frame_us / tb.hop_us, min_clock_mhz=cycles / tb.hop_us,
                    real_time=bool(frame_us <= tb.hop_us))


# The report -----------------------------------------------------------------------------------------
@dataclass
class Report:
    summary: ReportSummary
    rows: list
    timeline: dict                         # buffer -> (cycles array, live bytes array)
    frames: list = field(default_factory=list)


def model_macs(program: Program) -> tuple[int, str]:
    """The MACs a frame of the model needs: META `macs_per_frame` (the compiler's model count) if
    present, else the sum of the layer table's MACs, else 0."""
    if program.meta.macs_per_frame:
        return program.meta.macs_per_frame, "META"
    total = sum(l.macs for l in program.layers)
    return int(total), "LAYERS" if program.layers else "none"


def memory_timeline(npu, lifetimes) -> dict:
    """abuf bytes live against the frame's cycles (a step function: (cycles, bytes)); wbuf and sbuf
    are constant (resident images and state)."""
    s = npu.schedule
    cycles = int(s.stats.cycles)
    ev = {}
    for l in lifetimes:
        if l.buf != "abuf":
            continue
        t0 = int(s.earliest[l.birth])
        t1 = int(s.retire[l.death]) + 1
        ev[t0] = ev.get(t0, 0) + l.nbytes
        ev[t1] = ev.get(t1, 0) - l.nbytes
    times = sorted(set(ev) | {0, cycles})
    live, acc = [], 0
    for t in times:
        acc += ev.get(t, 0)
        live.append(acc)
    program = npu.program
    flat = {b: (np.array([0, cycles]), np.array([resident_bytes(program, b)] * 2)) for b in ("wbuf", "sbuf", "pbuf")}
    return {**flat, "abuf": (np.array(times), np.array(live))}


def image_bytes(program: Program, buf: str) -> int:
    """Bytes of the program's initial image of a buffer (0 for abuf)."""
    return len({"wbuf": program.wbuf, "sbuf": program.sbuf, "pbuf": program.pbuf}.get(buf, b""))


def resident_bytes(program: Program, buf: str) -> int:
    """Bytes of wbuf, sbuf or pbuf holding data for the whole frame: the larger of the buffer's
    initial image and the end of its highest memory-map symbol."""
    ends = [s.offset + s.nbytes for s in program.symbols if s.buf == buf]
    return max([image_bytes(program, buf)] + ends)


def build_report(npu, *, program_path: str = "program", hop: int | None = None,
                 sample_rate: int | None = None, frames: list | None = None, sim_seconds: float | None = None,
                 clock_mhz: float | None = None, fallback: tuple | None = None) -> Report:
    """Everything `report` writes, as data (see docs/reports.md for every figure)."""
    program: Program = npu.program
    cfg = program.config
    clock = float(clock_mhz or cfg.clock_mhz)
    st = npu.stats
    costs = instruction_costs(npu)
    lifetimes = symbol_lifetimes(npu)
    rows = layer_rows(npu, costs, lifetimes)
    timeline = memory_timeline(npu, lifetimes)
    mm, mm_src = model_macs(program)
    bound_macs = mm or st.macs
    bound = math.ceil(bound_macs / cfg.lanes) if bound_macs else 0
    tb = timebase(program.meta, hop=hop, sample_rate=sample_rate, fallback=fallback)
    memory = {}
    for b in COUNTED_BUFFERS:
        bs = st.buffers[b]
        memory[b] = BufferMemory(
            capacity_bytes=cfg.buffer_bytes(b), hwm_bytes=bs.hwm,
            peak_live_bytes=int(timeline[b][1].max()) if len(timeline[b][1]) else 0,
            image_bytes=image_bytes(program, b),
            resident_bytes=resident_bytes(program, b) if b != "abuf" else 0,
            read_bytes=bs.read_bytes, write_bytes=bs.write_bytes)
    summary = ReportSummary(
        program=str(program_path), model=program.meta.model or "", config=cfg,
        frame=FrameFigures(cycles=st.cycles, instructions=st.instructions, npu_macs=st.macs, mac_cycles=st.mac_cycles,
                           utilisation_pct=100.0 * st.utilisation, stall_cycles=st.stall_cycles,
                           conflict_cycles=st.conflict_cycles),
        bound=Bound(model_macs=mm, model_macs_source=mm_src, lanes=cfg.lanes, bound_cycles=bound,
                    ratio=(st.cycles / bound) if bound else None,
                    model_utilisation_pct=(100.0 * bound_macs / (cfg.lanes * st.cycles)) if bound_macs else None),
        real_time=real_time(st.cycles, clock, tb),
        memory=memory,
        energy=frame_energy(npu, costs, cycles=st.cycles, clock_mhz=clock, hop_us=tb.hop_us),
        weight_bytes=len(program.wbuf),
        weight_symbol_bytes=sum(s.nbytes for s in program.symbols if s.buf == "wbuf"),
        state_bytes=len(program.sbuf),
        instruction_bytes=int(program.code.nbytes),
        lut_entries=int(len(program.lut)),
        lut_bytes=int(program.lut.nbytes),
        inputs=list(program.inputs), outputs=list(program.outputs),
        host=_host_work(program.meta),
        layers=len(program.layers),
        frames_run=len(frames or []),
        sim_ms_per_frame=(1e3 * sim_seconds / len(frames)) if frames and sim_seconds is not None else None,
        meta=program.meta)
    return Report(summary=summary, rows=rows, timeline=timeline, frames=frames or [])


def frame_energy(npu, costs: dict, *, cycles: int, clock_mhz: float, hop_us: float | None) -> Energy:
    """The frame's `Energy` from the per-instruction energies of `instruction_costs` and the
    leakage of the configuration (logic from `technology.logic_ge_estimate`: `python -m rtl synth`
    gives the real figure)."""
    cfg = npu.config
    by_term = {t: int(costs[_energy_key(t)].sum()) * 1e-9 for t in ENERGY_TERMS}
    dyn = sum(by_term.values())
    leak = leakage_uw(cfg, logic_ge=logic_ge_estimate(cfg.lanes, cfg.topk_entries))
    leak_uw = sum(leak.values())
    frame_us = cycles / clock_mhz
    frame_uj = dyn + leak_uw * 1e-6 * hop_us if hop_us else None
    return Energy(dynamic_uj=dyn, by_term_uj=by_term, leakage_uw=leak_uw, leakage_by_part_uw=leak,
                  frame_uj=frame_uj, average_mw=1e3 * frame_uj / hop_us if frame_uj is not None else None,
                  active_mw=(1e3 * dyn / frame_us if frame_us else 0.0) + leak_uw * 1e-3)


def _host_work(meta: ProgramMeta) -> list[str]:
    return [f"host layer {h}" for h in meta.host_layers or []]


# Writing ------------------------------------------------------------------------------------------
def _csv_text(rows, columns) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _fmt(x, digits=1):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _mhz(x) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.1f}" if x >= 10 else f"{x:.4g}"


def summary_lines(s: ReportSummary) -> list[str]:
    """The short human summary (what `report` and `make demo` print)."""
    f, b, rt, cfg = s.frame, s.bound, s.real_time, s.config
    lines = [f"cycles per frame     {f.cycles:,} ({f.instructions:,} instructions, {cfg.lanes} lanes)",
             f"MAC utilisation      {f.utilisation_pct:.1f} %  (stalls {f.stall_cycles:,} cycles)",
             f"MACs / lanes bound   {b.bound_cycles:,} cycles: program at "
             + (f"{b.ratio:.2f} x the bound" if b.ratio else "n/a")]
    if rt.real_time_factor is not None:
        lines.append(f"real-time factor     {rt.real_time_factor:.2f} at {rt.clock_mhz:g} MHz "
                     f"(frame {rt.frame_us:,.0f} us, hop {rt.hop_us:,.0f} us: "
                     f"{'real time' if rt.real_time else 'NOT real time'})")
        lines.append(f"min real-time clock  {_mhz(rt.min_clock_mhz)} MHz")
    else:
        lines.append(f"frame time           {rt.frame_us:,.1f} us at {rt.clock_mhz:g} MHz "
                     "(no hop/sample rate: give --hop and --sample-rate for the real-time factor)")
    mem = s.memory
    lines.append("memory per frame     " + ", ".join(
        f"{k} {v.hwm_bytes / 1024:,.1f} KiB" + (f" (peak live {v.peak_live_bytes / 1024:,.1f})" if k == "abuf" else "")
        for k, v in mem.items()) + f", code {s.instruction_bytes / 1024:,.1f} KiB")
    e = s.energy
    if e.average_mw is None:
        lines.append(f"energy per frame     {e.dynamic_uj:,.2f} uJ dynamic (45 nm): {e.active_mw:,.2f} mW while "
                     f"computing at {rt.clock_mhz:g} MHz")
    else:
        at_clock = (f"at {rt.clock_mhz:g} MHz {e.active_mw:,.2f} mW while computing, "
                    + ("idle for the rest of the hop" if rt.real_time else "NOT real time"))
        lines.append(f"energy per frame     {e.dynamic_uj:,.2f} uJ dynamic + {e.frame_uj - e.dynamic_uj:,.2f} uJ "
                     f"leakage over the hop (45 nm): {e.average_mw:,.2f} mW average in real time (any clock from "
                     f"{_mhz(rt.min_clock_mhz)} MHz at one supply); {at_clock}")
    return lines


_ENERGY_LABELS = {"mac": "MACs", "alu": "vector ALU", "post": "requantise, activation, LUT", "wbuf": "wbuf accesses",
                  "abuf": "abuf accesses", "sbuf": "sbuf accesses", "pbuf": "parameter records",
                  "fetch": "instruction fetch"}


def report_markdown(rep: Report, plots: dict) -> str:
    s = rep.summary
    f, b, rt, cfg = s.frame, s.bound, s.real_time, s.config
    out = [f"# NPU report: {s.model or Path(s.program).name}", "",
           f"Program `{s.program}`, compiled for {cfg.lanes} lanes at {cfg.clock_mhz:g} MHz "
           f"(wbuf {cfg.wbuf_bytes // 1024} KiB, abuf {cfg.abuf_bytes // 1024} KiB, "
           f"sbuf {cfg.sbuf_bytes // 1024} KiB). Columns and units: docs/reports.md.", "",
           "## Frame", "", "| figure | value |", "|---|---|",
           f"| cycles per frame | {f.cycles:,} |",
           f"| instructions executed | {f.instructions:,} |",
           f"| instruction words in imem | {s.instruction_bytes // 32:,} ({s.instruction_bytes:,} bytes) |",
           f"| MACs executed (n x r) | {f.npu_macs:,} |",
           f"| model MACs ({b.model_macs_source}) | {b.model_macs:,} |",
           f"| MAC utilisation | {f.utilisation_pct:.1f} % |",
           f"| stall cycles | {f.stall_cycles:,} |",
           f"| port-conflict cycles | {f.conflict_cycles:,} |",
           f"| bound ceil(MACs / lanes) | {b.bound_cycles:,} cycles |",
           f"| cycles / bound | {_fmt(b.ratio, 2)} |",
           f"| frame time at {rt.clock_mhz:g} MHz | {rt.frame_us:,.4g} us |",
           f"| frame hop | {_fmt(rt.hop)} samples at {_fmt(rt.sample_rate)} Hz = {_fmt(rt.hop_us)} us ({rt.source}) |",
           f"| real-time factor (frame time / hop time; <= 1 is real time) | {_fmt(rt.real_time_factor, 2)} |",
           f"| lowest real-time clock | {_mhz(rt.min_clock_mhz)} MHz |",
           f"| weight bytes (wbuf image) | {s.weight_bytes:,} |",
           f"| state bytes (sbuf image) | {s.state_bytes:,} |",
           f"| instruction bytes | {s.instruction_bytes:,} |",
           f"| LUT entries | {s.lut_entries:,} |", "",
           "## Memory per buffer", "", "| buffer | capacity | high-water mark | peak live | read / frame | written / frame |",
           "|---|---|---|---|---|---|"]
    for name, m in s.memory.items():
        out.append(f"| {name} | {m.capacity_bytes:,} | {m.hwm_bytes:,} | {m.peak_live_bytes:,} | "
                   f"{m.read_bytes:,} | {m.write_bytes:,} |")
    e = s.energy
    out += ["", "## Energy (45 nm, docs/area-energy.md)", "", "| part | per frame | share |", "|---|---|---|"]
    for term, uj in e.by_term_uj.items():
        out.append(f"| {_ENERGY_LABELS[term]} | {uj:,.3f} uJ | {100 * uj / e.dynamic_uj if e.dynamic_uj else 0:.1f} % |")
    out.append(f"| **dynamic** | {e.dynamic_uj:,.3f} uJ | 100 % |")
    out.append(f"| leakage (SRAM {e.leakage_by_part_uw['sram']:,.0f} uW, logic {e.leakage_by_part_uw['logic']:,.0f} uW) "
               f"| {_fmt(e.frame_uj - e.dynamic_uj if e.frame_uj is not None else None, 3)} uJ over the hop | |")
    out += ["", f"Average power in real time: {_fmt(e.average_mw, 2)} mW (the same at every real-time clock of one "
                f"supply); while computing at {rt.clock_mhz:g} MHz: {e.active_mw:,.2f} mW."]
    if s.host:
        out += ["", "## On the host", ""] + [f"- {h}" for h in s.host]
    if plots:
        out += ["", "## Plots", ""]
        for title, fname in plots.items():
            out += [f"![{title}]({fname})", ""]
    out += ["## Layers", "", "| layer | op | code | executed | MACs | cycles | stalls | util % | abuf live | wbuf rd | "
            "abuf rd | abuf wr | energy nJ |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep.rows:
        out.append(f"| {r['layer']} | {r['op']} | {r['code_words']:,} | {r['instructions']:,} | {r['macs']:,} | "
                   f"{r['cycles']:,} | "
                   f"{r['stall_cycles']:,} | {r['utilisation_pct']:.1f} | {r['abuf_live_bytes']:,} | "
                   f"{r['wbuf_read_bytes']:,} | {r['abuf_read_bytes']:,} | {r['abuf_write_bytes']:,} | "
                   f"{r['energy_nj']:,.1f} |")
    return "\n".join(out) + "\n"


def write_report(rep: Report, out_dir, *, plots: bool = True, figures=()) -> list[Path]:
    """layers.csv, summary.json (summary + layers), report.md and the PNG plots; all atomic.
    `figures`: images made elsewhere (enhance's spectrograms) that report.md links, by their stems."""
    out_dir = Path(out_dir)
    written = []

    def put(name, data: bytes):
        path = out_dir / name
        write_bytes(path, data)
        written.append(path)

    put("layers.csv", _csv_text(rep.rows, LAYER_COLUMNS).encode())
    if rep.frames:
        put("frames.csv", _csv_text(rep.frames, list(rep.frames[0])).encode())
    doc = rep.summary.to_dict()
    doc["layer_rows"] = rep.rows
    put("summary.json", (json.dumps(doc, indent=2, default=_json_default) + "\n").encode())
    made = {}
    if plots:
        for title, (fname, data) in report_plots(rep).items():
            put(fname, data)
            made[title] = fname
    for fig in map(Path, figures):
        link = Path(os.path.relpath(fig.resolve(), out_dir.resolve())).as_posix()
        title = fig.stem.replace("_", " ")
        made[link if title in made else title] = link          # two figures of one name: both shown
    put("report.md", report_markdown(rep, made).encode())
    return written


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def run_report(program_path, *, frames: int = 1, hop=None, sample_rate=None, clock_mhz=None,
               expected_config=None, inputs=None, fallback=None) -> Report:
    """Load, check, schedule and run a program for `frames` frames (zero inputs unless given)."""
    if frames < 0:
        raise NpuError(f"--frames must be at least 0, not {frames}")
    program = Program.load(program_path, expected_config=expected_config)
    npu = Npu(program, source=str(program_path))
    feed = inputs
    if feed is None:
        feed = {p.name: np.zeros((frames,) + tuple(p.shape), DTYPES[p.dtype].numpy)
                for p in program.inputs}
    t0 = time.perf_counter()
    results = npu.run(feed, frames) if frames else []
    elapsed = time.perf_counter() - t0
    rows = [{"frame": r.frame, **r.stats.to_dict()} for r in results]
    return build_report(npu, program_path=str(program_path), hop=hop, sample_rate=sample_rate, frames=rows,
                        sim_seconds=elapsed if frames else None, clock_mhz=clock_mhz, fallback=fallback)
