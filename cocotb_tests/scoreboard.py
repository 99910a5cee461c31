"""Transaction model and scoreboard: what the golden model expects of a frame, what the RTL did,
and the comparison that names the first diverging instruction.

The transaction model is `npu_model.golden.machine.Npu` itself (the one specification): per frame it
gives the outputs, every instruction's issue and retire cycle (`Npu.schedule`), the counters
(`FrameStats.to_dict()`) and the contents of abuf and sbuf after the frame; for a program the
model rejects with `NpuFault` it gives the fault's pc and code, and the schedule of the
instructions before it (they issue and complete before the NPU stops).

The scoreboard checks, in this order: the fault, the schedule (the first instruction instance,
in execution order, whose issue or retire cycle differs), every counter, the outputs bit for bit,
and the whole of abuf and sbuf (so a wrong intermediate value is caught even when it does not
reach an output). A value mismatch is attributed to an instruction: the earliest among the last
writers of the differing bytes. Schedules are compared per instance (a loop body's instruction
once per iteration, as the RTL's trace records them); mismatches name the static pc and the
instance.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from npu_model.arch.config import BUFFER_NAMES
from npu_model.arch.errors import NpuFault
from npu_model.arch.isa import Opcode
from npu_model.arch.program import Program
from npu_model.golden.analysis import format_at
from npu_model.golden.loops import executed, unrolled_code
from npu_model.golden.machine import Npu
from rtl.counters import COUNTER_NAMES

__all__ = ["Expected", "Observed", "Mismatch", "GoldenModel", "compare", "CORRUPTIONS"]


@dataclass
class Expected:
    """What the golden model says one frame does."""
    frame: int
    issue: np.ndarray                  # per instance (those before the fault only, if it faults)
    retire: np.ndarray
    counters: dict = field(default_factory=dict)     # COUNTER_NAMES -> int (empty if it faults)
    outputs: dict = field(default_factory=dict)      # port name -> array
    buffers: dict = field(default_factory=dict)      # 'abuf'/'sbuf' -> uint8 array
    fault: tuple | None = None                       # (pc, code)


@dataclass
class Observed:
    """What the RTL did in one frame (read back by the monitor after `done`)."""
    frame: int
    fault: tuple | None
    issue: np.ndarray
    retire: np.ndarray
    counters: dict
    outputs: dict
    buffers: dict
    timeout: bool = False
    clock_cycles: int = 0              # clock cycles from start to done (wrapper count)


@dataclass
class Mismatch:
    """One disagreement. `pc` is the instruction it is attributed to (None if none), `seq` the
    instance of it (its place in the frame's executed stream)."""
    frame: int
    what: str                          # 'fault', 'issue', 'retire', 'counter', 'output', 'buffer', 'timeout'
    name: str                          # counter / port / buffer name, or '' for schedule entries
    expected: object
    actual: object
    pc: int | None = None
    text: str = ""                     # disassembly of pc
    cycle: int | None = None           # frame cycle of interest (for the waveform window)
    detail: str = ""
    seq: int | None = None

    def describe(self) -> str:
        where = f"frame {self.frame}: "
        ins = f"pc {self.pc} ({self.text})" if self.pc is not None else ""
        if self.pc is not None and self.seq is not None and self.seq != self.pc:
            ins += f", instance {self.seq}"
        if self.what in ("issue", "retire"):
            return (f"{where}first diverging instruction {ins}: {self.what} cycle expected "
                    f"{self.expected}, RTL {self.actual}{self.detail}")
        if self.what == "fault":
            return f"{where}fault expected {_fault_text(self.expected)}, RTL {_fault_text(self.actual)}"
        if self.what == "counter":
            return f"{where}counter {self.name}: expected {self.expected}, RTL {self.actual}"
        if self.what == "timeout":
            return f"{where}the RTL did not finish within {self.actual} cycles (model: {self.expected})"
        by = f"; last written by {ins}" if ins else ""
        return f"{where}{self.what} {self.name}: expected {self.expected}, RTL {self.actual}{self.detail}{by}"

    def to_dict(self) -> dict:
        return {"frame": self.frame, "what": self.what, "name": self.name,
                "expected": _jsonable(self.expected), "actual": _jsonable(self.actual), "pc": self.pc, "seq": self.seq,
                "text": self.text, "cycle": self.cycle, "detail": self.detail, "message": self.describe()}


def _fault_text(f):
    return "none" if f is None else f"pc {f[0]} code {f[1]}"


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, tuple):
        return list(v)
    return v


#: Deliberate corruptions of the golden trace (to show the checker fails): name -> what it does.
CORRUPTIONS = {
    "retire": "add 1 to the expected retire cycle of instance N",
    "output": "flip the lowest bit of expected element N (flat index) of the first output port",
}


class GoldenModel:
    """The golden model running the same frames as the RTL."""

    def __init__(self, program: Program, *, corrupt: dict | None = None):
        self.program = program
        self.corrupt = corrupt or {}
        self.code = program.code
        try:
            self.npu = Npu(program)
            self.fault = None
            self.fault_seq = None
        except NpuFault as exc:
            self.npu = None
            self.fault = (exc.pc, exc.code)
            self.fault_seq = exc.seq
        self._writers = None

    @property
    def n_instructions(self) -> int:
        return len(self.code)

    @property
    def n_instances(self) -> int:
        """Instructions the RTL's trace records in a frame: every one, or those before the fault."""
        return self.fault_seq if self.npu is None else self.npu.stats.instructions

    def pc_of(self, seq: int) -> int:
        """The static pc of instance `seq`."""
        return int(self.npu.analysis.pc[seq] if self.npu is not None else executed(self.code).pc[seq])

    def disassemble(self, pc: int) -> str:
        return format_at(self.code, pc)[2]

    def expected_cycles(self) -> int:
        if self.npu is not None:
            return self.npu.schedule.cycles
        issue, retire = self._prefix_schedule()
        return int(retire.max(initial=0)) + 1

    def run_frame(self, frame: int, inputs: dict) -> Expected:
        if self.npu is None:
            issue, retire = self._prefix_schedule()
            return Expected(frame, issue, retire, fault=self.fault)
        result = self.npu.run_frame(inputs)
        sched = self.npu.schedule
        stats = result.stats.to_dict()
        exp = Expected(frame, sched.issue.copy(), sched.retire.copy(),
                       counters={name: int(stats[name]) for name in COUNTER_NAMES},
                       outputs={k: v.copy() for k, v in result.outputs.items()},
                       buffers={name: self.npu.buffer(name) for name in ("abuf", "sbuf")})
        if "retire" in self.corrupt:
            exp.retire[int(self.corrupt["retire"])] += 1
        if "output" in self.corrupt and exp.outputs:
            port = self.program.outputs[0].name
            flat = exp.outputs[port].reshape(-1)
            flat[int(self.corrupt["output"])] ^= 1
        return exp

    def _prefix_schedule(self):
        """Issue and retire cycles of the instances before the faulting one: the schedule of the
        executed stream cut there, straight-line, and ended with `eof` (timing depends only on
        earlier instructions)."""
        k = self.fault_seq
        eof = np.zeros((1, self.code.shape[1]), np.uint8)
        eof[0, 0] = int(Opcode.EOF)
        cut = Program(config=self.program.config, code=np.concatenate([unrolled_code(self.code, k), eof]),
                      wbuf=self.program.wbuf, sbuf=self.program.sbuf, lut=self.program.lut,
                      inputs=self.program.inputs, outputs=self.program.outputs)
        sched = Npu(cut).schedule
        return sched.issue[:k].copy(), sched.retire[:k].copy()

    def last_writer(self, buf: str, byte: int) -> int | None:
        """The last instance whose destination footprint covers `byte` of `buf` (None if none)."""
        if self.npu is None:
            return None
        if self._writers is None:
            an = self.npu.analysis
            d = an.operands["d"]
            self._writers = (an.writes, d["buf"], d["lo"], d["hi"])
        writes, dbuf, lo, hi = self._writers
        code = BUFFER_NAMES.index(buf)
        hit = np.flatnonzero(writes & (dbuf == code) & (lo <= byte) & (byte <= hi))
        return int(hit[-1]) if len(hit) else None


def compare(model: GoldenModel, exp: Expected, obs: Observed, *, limit: int = 20) -> list[Mismatch]:
    """Every disagreement between a frame's expectation and observation, most telling first:
    the first element is the one to report (the first diverging instruction when the schedule
    differs). At most `limit` value mismatches per category are listed."""
    out: list[Mismatch] = []
    f = exp.frame
    if obs.timeout:
        out.append(Mismatch(f, "timeout", "", model.expected_cycles(), obs.clock_cycles))
        return out
    if exp.fault != obs.fault:
        pc = exp.fault[0] if exp.fault else (obs.fault[0] if obs.fault else None)
        text = model.disassemble(pc) if pc is not None and pc < model.n_instructions else ""
        out.append(Mismatch(f, "fault", "", exp.fault, obs.fault, pc=pc, text=text))
    # Schedule: the first instance (execution order) whose issue or retire cycle differs.
    m = len(exp.issue)
    issue, retire = obs.issue[:m], obs.retire[:m]
    bad = np.flatnonzero((issue != exp.issue) | (retire != exp.retire))
    if len(bad):
        k = int(bad[0])
        what = "issue" if issue[k] != exp.issue[k] else "retire"
        e, a = (exp.issue[k], issue[k]) if what == "issue" else (exp.retire[k], retire[k])
        detail = ""
        if what == "issue" and retire[k] != exp.retire[k]:
            detail = f" (retire expected {exp.retire[k]}, RTL {retire[k]})"
        more = len(bad) - 1
        if more:
            detail += f"; {more} later instruction{'s' if more > 1 else ''} differ too"
        pc = model.pc_of(k)
        out.append(Mismatch(f, what, "", int(e), int(a), pc=pc, text=model.disassemble(pc),
                            cycle=int(min(e, a)), detail=detail, seq=k))
    if exp.fault is not None:
        return out
    for name in COUNTER_NAMES:
        if exp.counters[name] != obs.counters[name]:
            out.append(Mismatch(f, "counter", name, exp.counters[name], obs.counters[name],
                                cycle=exp.counters["cycles"] - 1))
    for name, want in exp.outputs.items():
        got = obs.outputs[name]
        diff = np.flatnonzero(want.reshape(-1) != got.reshape(-1))
        if len(diff):
            port = next(p for p in model.program.outputs if p.name == name)
            out.append(_value_mismatch(model, f, "output", name, want, got, diff, port.buf,
                                       port.offset, want.dtype.itemsize, limit))
    for name, want in exp.buffers.items():
        got = obs.buffers[name]
        diff = np.flatnonzero(want != got)
        if len(diff):
            out.append(_value_mismatch(model, f, "buffer", name, want, got, diff, name, 0, 1, limit))
    return out


def _value_mismatch(model, frame, what, name, want, got, diff, buf, offset, size, limit):
    """A value mismatch attributed to the earliest instance among the last writers of the
    differing bytes (at most `limit` of them, spread over the differences, are looked up)."""
    sample = diff if len(diff) <= limit else diff[np.linspace(0, len(diff) - 1, limit).astype(int)]
    writers = {}
    for i in sample.tolist():
        k = model.last_writer(buf, offset + i * size)
        if k is not None:
            writers.setdefault(k, i)
    first = int(diff[0])
    seq = pc = None
    if writers:
        seq = min(writers)
        first = writers[seq]
        pc = model.pc_of(seq)
    wflat, gflat = want.reshape(-1), got.reshape(-1)
    index = np.unravel_index(first, want.shape)
    label = f"{name}[{', '.join(map(str, index))}]" if what == "output" else f"{name}[0x{first:x}]"
    detail = f" ({len(diff)} element{'s differ' if len(diff) > 1 else ' differs'})"
    cycle = None
    if seq is not None and model.npu is not None:
        cycle = int(model.npu.schedule.retire[seq])
    return Mismatch(frame, what, label, int(wflat[first]), int(gflat[first]), pc=pc,
                    text=model.disassemble(pc) if pc is not None else "", cycle=cycle, detail=detail, seq=seq)
