"""Static analysis of a program at load: decode, loops, footprints, loader rejections and faults.

Everything here is vectorised over the instruction stream (`isa.decode_words`), so that a program
of a few hundred thousand instructions is analysed in well under a second. The rules are those
of docs/isa.md ("Operands and addressing", "Loops", "Faults"); the executor (`executor.py`) and
the timing model (`schedule.py`) work from the arrays computed here.

The arrays describe the *executed* stream of one frame (`loops.expand`): one entry per
instruction instance, a loop body's instructions once per iteration with their effective
addresses; `Analysis.pc` maps an instance to its static pc. A program without loops executes
each pc once, so the two coincide.

Order of checks at load:

1. loader-level rejections (`ProgramFormatError`, naming the pc): a byte written twice by one
   instruction, a port missing from the I/O table, not exactly one `eof` as the last
   instruction, a loop body that overlaps another or runs into the `eof`, loops nested deeper
   than `LOOP_DEPTH`. The smallest offending pc is reported.
2. faults (`NpuFault`): the first faulting instance in execution order, with the code of the
   first failing check in the documented order (1 illegal, 2 write_protect, 3 address,
   4 lut_range, 5 overlap); the message names its pc and, inside loops, the iterations.

A fault-free program then needs no run-time checks at all: every address is known at load, and an
indexed loop's addresses, which come from the top-k unit while the frame runs, lie within its
footprints widened over every index the unit can hold (docs/isa.md "Indexed loops").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..arch.config import BUFFER_NAMES, NpuConfig
from ..arch.errors import NpuFault, ProgramFormatError
from ..arch.faults import Fault
from ..arch.memory import lane_group_array
from ..arch.isa import (FIELDS, LOOP_SLOTS, LUT_LOG2_MAX, OPCODES, RSQRT_LOG2_MIN, Act, Buffer, DType, Instruction, OpClass,
                        Opcode, decode, decode_words)
from ..arch.program import Program
from ..arch.record import RECORD_BYTES
from ..arch.timing import PORT_CONFLICT_FACTOR
from .asm import format_fields, format_instruction
from .loops import Expansion, LoopStructure, expand, loop_structure

__all__ = ["Analysis", "analyse", "instruction_fault", "fault_codes", "footprint"]

_ABSENT_LO = 1 << 40      # global footprint of an absent operand: [_ABSENT_LO, -1], meets nothing

_N_OPCODES = max(int(o) for o in Opcode) + 1
_EW_OPCODES = [int(o) for o, info in OPCODES.items() if info.op_class is OpClass.ELEMENTWISE]
_MAC_OPCODES = [int(o) for o, info in OPCODES.items() if info.op_class is OpClass.MAC]
_READS_B = np.zeros(_N_OPCODES, bool)
_WRITES_D = np.zeros(_N_OPCODES, bool)
_USES = np.zeros((_N_OPCODES, len(FIELDS)), bool)
for _op, _info in OPCODES.items():
    _READS_B[int(_op)] = _info.reads_b
    _WRITES_D[int(_op)] = _info.writes_d
    for _j, _f in enumerate(FIELDS):
        _USES[int(_op), _j] = _f.name in _info.uses


def footprint(base, rstride, lstride, steps, lanes, size):
    """Byte range [lo, hi] an operand touches (docs/isa.md); works on ints and numpy arrays."""
    rs = (steps - 1) * rstride
    ls = (lanes - 1) * lstride
    lo = base + np.minimum(0, rs) + np.minimum(0, ls)
    hi = base + np.maximum(0, rs) + np.maximum(0, ls) + size - 1
    return lo, hi


def buffer_offsets(config: NpuConfig) -> np.ndarray:
    """`config.flat_offsets` indexed by buffer code (imem: -1)."""
    flat = config.flat_offsets
    return np.array([flat.get(b.label, -1) for b in Buffer], np.int64)


# Faults: vectorised ------------------------------------------------------------------------------
class _Classes(NamedTuple):
    """Per-instruction opcode classes of a decoded stream."""
    known: np.ndarray
    opc: np.ndarray          # the opcode, 0 where unknown (a safe table index)
    is_mac: np.ndarray       # MAC class: mac and dot
    is_ew: np.ndarray        # element-wise class: the ALU opcodes and topk
    is_compute: np.ndarray
    reads_b: np.ndarray
    writes_d: np.ndarray     # compute with a destination in a buffer (all but topk)


def _classes(op: np.ndarray) -> _Classes:
    known = op < _N_OPCODES
    opc = np.where(known, op, 0)
    is_mac = known & np.isin(op, _MAC_OPCODES)
    is_ew = known & np.isin(op, _EW_OPCODES)
    is_compute = is_mac | is_ew
    return _Classes(known, opc, is_mac, is_ew, is_compute, is_compute & _READS_B[opc], is_compute & _WRITES_D[opc])


def _spread(lo, hi, span):
    """A footprint widened by an indexed loop: the union over index 0..bound-1 of [lo, hi] moved by
    index * inc, with span = (bound - 1) * inc."""
    return lo + np.minimum(0, span), hi + np.maximum(0, span)


def fault_codes(f: dict, config: NpuConfig, spans: np.ndarray | None = None) -> np.ndarray:
    """Fault code (0 = none) of every instruction of a decoded stream (`isa.decode_words`).
    `spans` (instances, LOOP_SLOTS): (bound - 1) * inc of the fields an indexed loop moves by
    the index (`Analysis`), which widen their footprints."""
    op = f["opcode"]
    known, opc, is_mac, is_ew, comp, reads_b, writes_d = _classes(op)
    if spans is None:
        spans = np.zeros((len(op), len(LOOP_SLOTS)), np.int64)
    n, r, act = f["n"], f["r"], f["act"]

    unused = np.zeros(len(op), bool)
    for j, fld in enumerate(FIELDS):
        unused |= (f[fld.name] != 0) & ~_USES[opc, j]
    illegal = ~known | (f["reserved"] != 0) | (known & unused)
    table = (act == Act.LUT) | (act == Act.RSQRT)
    lutbad = table & ((f["lut_log2"] < np.where(act == Act.RSQRT, RSQRT_LOG2_MIN, 1)) | (f["lut_log2"] > LUT_LOG2_MAX))
    nolut = ~table & ((f["lut_base"] != 0) | (f["lut_log2"] != 0))
    rsqrt8 = (act == Act.RSQRT) & (f["d_dtype"] != DType.I16)
    exp8 = (f["b_exp"] != 0) & (f["b_dtype"] != DType.I16)
    dsize = 1 + f["d_dtype"]
    dlanes = (op != Opcode.DOT) & (n > 1) & (np.abs(f["d_lstride"]) < dsize)
    dsteps = is_ew & (r > 1) & (np.abs(f["d_rstride"]) < dsize)
    illegal |= writes_d & (dlanes | dsteps)
    illegal |= comp & ((n == 0) | (n > config.lanes) | (r == 0) | lutbad | nolut | rsqrt8 | exp8)
    illegal |= (op == Opcode.TOPK) & ((n != 1) | (config.topk_entries == 0))
    illegal |= known & (op == Opcode.LOOP) & ((f["count"] == 0) | (f["body"] == 0))

    wprot = writes_d & ((f["d_buf"] == Buffer.WBUF) | (f["d_buf"] == Buffer.IMEM))

    sizes = np.array(config.buffer_sizes, np.int64)
    addr = np.zeros(len(op), bool)
    for j, (x, present) in enumerate((("a", comp), ("b", reads_b), ("d", writes_d))):
        size = 1 + f[f"{x}_dtype"]
        steps = np.where(is_mac, 1, r) if x == "d" else r
        lo, hi = _spread(*footprint(f[f"{x}_base"], f[f"{x}_rstride"], f[f"{x}_lstride"], steps, n, size), spans[:, j])
        buf = f[f"{x}_buf"]
        odd = (size == 2) & (((f[f"{x}_base"] | f[f"{x}_rstride"] | f[f"{x}_lstride"] | spans[:, j]) & 1) != 0)
        addr |= present & ((buf == Buffer.IMEM) | (lo < 0) | (hi >= sizes[buf]) | odd)
    nrec = np.where(f["p_vec"] != 0, n, 1)
    plo, phi = _spread(f["p_base"], f["p_base"] + RECORD_BYTES * nrec - 1, spans[:, 3])
    addr |= comp & ((((f["p_base"] | spans[:, 3]) % RECORD_BYTES) != 0) | (plo < 0) | (phi >= config.pbuf_bytes))

    lutr = comp & table & (f["lut_base"] + (np.int64(1) << np.minimum(f["lut_log2"], 62))
                                      > config.lut_entries)

    over = np.zeros(len(op), bool)
    dlo, dhi = _spread(*footprint(f["d_base"], f["d_rstride"], f["d_lstride"], r, n, dsize), spans[:, 2])
    for j, (x, present) in enumerate((("a", is_ew & writes_d), ("b", is_ew & reads_b))):
        lo, hi = _spread(*footprint(f[f"{x}_base"], f[f"{x}_rstride"], f[f"{x}_lstride"], r, n, 1 + f[f"{x}_dtype"]),
                         spans[:, j])
        same = f[f"{x}_buf"] == f["d_buf"]
        ident = same & (f[f"{x}_dtype"] == f["d_dtype"]) & (f[f"{x}_base"] == f["d_base"]) & \
            (f[f"{x}_rstride"] == f["d_rstride"]) & (f[f"{x}_lstride"] == f["d_lstride"]) & (spans[:, j] == spans[:, 2])
        over |= present & same & (lo <= dhi) & (dlo <= hi) & ~ident

    return np.select([illegal, wprot, addr, lutr, over],
                     [Fault.ILLEGAL, Fault.WRITE_PROTECT, Fault.ADDRESS, Fault.LUT_RANGE, Fault.OVERLAP],
                     Fault.NONE).astype(np.int64)


# Faults: one instruction, with the reason -------------------------------------------------------
def _range(buf, lo, hi):
    return f"{Buffer(buf).label}[0x{lo:x}..0x{hi:x}]" if lo >= 0 else f"{Buffer(buf).label}[-0x{-lo:x}..0x{hi:x}]"


def instruction_fault(ins, reserved: int, config: NpuConfig, spans=(0, 0, 0, 0)):
    """(code, reason) of the first failing fault check of one instruction, or None.

    The scalar twin of `fault_codes` (`spans` likewise: an indexed loop's widening of the A, B, D
    and record footprints), used to word the message of the first faulting pc (the test suite
    checks the two agree on random instructions)."""
    info = OPCODES.get(ins.opcode) if ins.opcode < _N_OPCODES else None
    if info is None:
        return Fault.ILLEGAL, f"unknown opcode {ins.opcode}"
    if reserved:
        return Fault.ILLEGAL, f"reserved bits set (0x{reserved:x})"
    for fld in FIELDS:
        value = getattr(ins, fld.name)
        if value and fld.name not in info.uses:
            return Fault.ILLEGAL, f"field {fld.name} = {value} is not used by {info.mnemonic} and must be 0"
    if info.opcode is Opcode.LOOP:
        for name in ("count", "body"):
            if getattr(ins, name) == 0:
                return Fault.ILLEGAL, f"loop with {name} = 0 (at least 1)"
        return None
    if info.op_class is OpClass.CONTROL:
        return None
    is_ew = info.op_class is OpClass.ELEMENTWISE
    n, r = ins.n, ins.r
    if n == 0 or n > config.lanes:
        return Fault.ILLEGAL, f"n = {n} outside 1..{config.lanes} (lanes)"
    if r == 0:
        return Fault.ILLEGAL, "r = 0 (at least one step)"
    if info.opcode is Opcode.TOPK:
        if n != 1:
            return Fault.ILLEGAL, f"topk with n = {n}: it reads one value per step (n = 1)"
        if config.topk_entries == 0:
            return Fault.ILLEGAL, "topk without a top-k unit (topk_entries = 0)"
    table = ins.act in (Act.LUT, Act.RSQRT)
    lo = RSQRT_LOG2_MIN if ins.act == Act.RSQRT else 1
    if table and not lo <= ins.lut_log2 <= LUT_LOG2_MAX:
        return Fault.ILLEGAL, (f"act = {Act(ins.act).name.lower()} with lut_log2 = {ins.lut_log2} outside "
                               f"{lo}..{LUT_LOG2_MAX}")
    if not table and (ins.lut_base or ins.lut_log2):
        return Fault.ILLEGAL, (f"lut_base = {ins.lut_base}, lut_log2 = {ins.lut_log2} without act = lut or rsqrt "
                               "(must be 0)")
    if ins.act == Act.RSQRT and ins.d_dtype != DType.I16:
        return Fault.ILLEGAL, "act = rsqrt writes an int16 block-float scale: D must be int16"
    if ins.b_exp and ins.b_dtype != DType.I16:
        return Fault.ILLEGAL, "b_exp reads B as an int16 block-float scale: B must be int16"
    dsize = DType(ins.d_dtype).size if ins.d_dtype in (0, 1) else 1
    if info.opcode is not Opcode.DOT and info.writes_d and n > 1 and abs(ins.d_lstride) < dsize:
        return Fault.ILLEGAL, (f"destination lanes overlap: |d_lstride| = {abs(ins.d_lstride)} < element size {dsize} "
                   f"with n = {n}")
    if info.writes_d and is_ew and r > 1 and abs(ins.d_rstride) < dsize:
        return Fault.ILLEGAL, (f"destination steps overlap: |d_rstride| = {abs(ins.d_rstride)} < element size {dsize} "
                   f"with r = {r}")
    if info.writes_d and ins.d_buf in (Buffer.WBUF, Buffer.IMEM):
        return Fault.WRITE_PROTECT, f"destination D is in {Buffer(ins.d_buf).label} (read-only while running)"
    sizes = config.buffer_sizes
    operands = [("a", "operand A", spans[0]), ("b", "operand B", spans[1]), ("d", "destination D", spans[2])]
    if not info.writes_d:
        del operands[2]
    if not info.reads_b:
        del operands[1]
    indexed = " over the indices of the indexed loop" if any(spans) else ""
    for x, role, span in operands:
        buf = getattr(ins, f"{x}_buf")
        size = 2 if getattr(ins, f"{x}_dtype") else 1
        base, rs, ls = (getattr(ins, f"{x}_{p}") for p in ("base", "rstride", "lstride"))
        if buf == Buffer.IMEM:
            return Fault.ADDRESS, f"{role} is in imem (instructions are not data)"
        steps = 1 if (x == "d" and not is_ew) else r
        lo, hi = _spread(*footprint(base, rs, ls, steps, n, size), span)
        if lo < 0 or hi >= sizes[buf]:
            return Fault.ADDRESS, (f"{role} footprint {_range(buf, int(lo), int(hi))}{indexed} outside "
                                   f"{Buffer(buf).label} ({sizes[buf]} bytes)")
        if size == 2:
            for what, value in (("base", base), ("rstride", rs), ("lstride", ls), ("index increment", span)):
                if value & 1:
                    return Fault.ADDRESS, f"{role} is int16 with an odd {what} ({value})"
    if (ins.p_base | spans[3]) % RECORD_BYTES:
        what = "p_base" if ins.p_base % RECORD_BYTES else "the index increment of p_base"
        return Fault.ADDRESS, f"{what} 0x{ins.p_base if what == 'p_base' else spans[3]:x} is not a multiple of {RECORD_BYTES}"
    nrec = n if ins.p_vec else 1
    plo, phi = _spread(ins.p_base, ins.p_base + RECORD_BYTES * nrec - 1, spans[3])
    if plo < 0 or phi >= config.pbuf_bytes:
        return Fault.ADDRESS, (f"parameter records pbuf[0x{int(plo):x}..0x{int(phi):x}]{indexed} ({nrec} record(s)) "
                               f"outside pbuf ({config.pbuf_bytes} bytes)")
    if table and ins.lut_base + (1 << ins.lut_log2) > config.lut_entries:
        end = ins.lut_base + (1 << ins.lut_log2)
        return Fault.LUT_RANGE, (f"LUT table lut_base {ins.lut_base} + 2**{ins.lut_log2} = {end} entries > "
                                 f"lut_entries {config.lut_entries}")
    if is_ew and info.writes_d:
        dlo, dhi = _spread(*footprint(ins.d_base, ins.d_rstride, ins.d_lstride, r, n, dsize), spans[2])
        for x, role, span in operands[:-1]:
            buf = getattr(ins, f"{x}_buf")
            if buf != ins.d_buf:
                continue
            parts = ("dtype", "base", "rstride", "lstride")
            if all(getattr(ins, f"{x}_{p}") == getattr(ins, f"d_{p}") for p in parts) and span == spans[2]:
                continue
            size = 2 if getattr(ins, f"{x}_dtype") else 1
            lo, hi = _spread(*footprint(getattr(ins, f"{x}_base"), getattr(ins, f"{x}_rstride"),
                                        getattr(ins, f"{x}_lstride"), r, n, size), span)
            if lo <= dhi and dlo <= hi:
                return Fault.OVERLAP, (f"destination footprint {_range(buf, dlo, dhi)} overlaps {role} footprint "
                           f"{_range(buf, lo, hi)} (only an identically addressed in-place update may)")
    return None


def format_at(code: np.ndarray, pc: int) -> tuple:
    """(Instruction, reserved, one-line disassembly) of the word at pc."""

    ins, reserved = decode(bytes(code[pc]))
    return ins, reserved, format_instruction(ins, reserved)


# The analysis ------------------------------------------------------------------------------------
@dataclass
class Analysis:
    """Effective fields and derived per-instance arrays of a fault-free program's executed stream
    (length M each, M = instructions one frame executes).

    Footprints are local byte addresses in their buffer (`*_lo`, `*_hi`); `*_glo`/`*_ghi` are
    the same in the model's one flat memory (wbuf, abuf, sbuf back to back, `buffer_offsets`), so
    that "same buffer and byte ranges intersect" is one interval test. An absent operand has
    an empty footprint (lo > hi) and `present` False.
    """
    program: Program
    config: NpuConfig
    pc: np.ndarray          # static pc of each instance
    loops: LoopStructure
    fields: dict            # name -> int64 array (as isa.decode_words, addresses advanced by loops)
    opcode: np.ndarray
    is_mac: np.ndarray      # MAC class (mac, dot)
    is_ew: np.ndarray       # element-wise class (the ALU opcodes, topk)
    is_dot: np.ndarray
    is_topk: np.ndarray
    results: np.ndarray     # values post-processed: n (mac), 1 (dot), r * n (element-wise, topk)
    index_iter: np.ndarray  # iteration of the enclosing indexed loop, -1 if none (loops.Expansion)
    index_inc: np.ndarray   # (instances, LOOP_SLOTS): bytes per unit of the index, 0 if not indexed
    dynamic: np.ndarray     # addresses or semantics the executor resolves while running (indexed, dot, topk)
    is_ctl: np.ndarray
    is_compute: np.ndarray
    is_fence: np.ndarray
    reads_b: np.ndarray
    writes: np.ndarray      # compute and not a holding MAC
    port_factor: np.ndarray  # c of docs/timing.md: 2 when A and B share a buffer (1 for control instructions)
    groups: np.ndarray       # g: lane groups per step (1 for control instructions)
    write_groups: np.ndarray  # a MAC's destination lane groups (1 otherwise)
    occupancy: np.ndarray
    operands: dict          # 'a'/'b'/'d' -> dict(present, buf, size, lo, hi, glo, ghi)
    p_lo: np.ndarray        # parameter records in pbuf (compute only)
    p_hi: np.ndarray
    offsets: np.ndarray     # buffer_offsets(config)

    @property
    def n_instructions(self) -> int:
        """Instructions one frame executes (instances)."""
        return len(self.opcode)

    def instances(self, pc_start: int, pc_end: int) -> np.ndarray:
        """Mask of the instances of static pcs [pc_start, pc_end) (a layer's instructions)."""
        return (self.pc >= pc_start) & (self.pc < pc_end)

    def span(self, pc_start: int, pc_end: int) -> tuple[int, int] | None:
        """The instances [k0, k1) of static pcs [pc_start, pc_end) when they are consecutive in
        the executed stream (always, unless a loop runs across pc_start or pc_end); None if not."""
        hit = np.flatnonzero(self.instances(pc_start, pc_end))
        if not len(hit):                     # an empty range: where pc_start first runs
            k = int(self.pc_first[pc_start]) if pc_start < len(self.program.code) else len(self.pc)
            return k, k
        k0, k1 = int(hit[0]), int(hit[-1]) + 1
        return (k0, k1) if k1 - k0 == len(hit) else None

    @property
    def pc_first(self) -> np.ndarray:
        """The first instance of every static pc."""
        first = np.full(len(self.program.code), len(self.pc), np.int64)
        np.minimum.at(first, self.pc, np.arange(len(self.pc)))
        return first


def analyse(program: Program, *, source: str = "program") -> Analysis:
    """Decode and check a program; raise `ProgramFormatError` or `NpuFault` (see module doc)."""
    config = program.config
    static = decode_words(program.code)
    static_ew = _classes(static["opcode"]).is_ew
    structure = _loader_checks(program, static, static_ew & (fault_codes(static, config) != Fault.ILLEGAL), source)
    run = expand(static, structure)
    f = run.fields
    op = f["opcode"]
    known, _, is_mac, is_ew, is_compute, reads_b, writes_d = _classes(op)
    is_topk = op == Opcode.TOPK
    is_fence = known & (np.isin(op, [Opcode.SYNC_IN, Opcode.SYNC_OUT, Opcode.EOF, Opcode.TOPK])
                        | ((op == Opcode.LOOP) & (f["idx"] != 0)))
    n, r = f["n"], f["r"]
    # The index registers hold steps of the last topk of the frame (0 at the frame start).
    m = len(op)
    last = np.maximum.accumulate(np.where(is_topk, np.arange(m), -1)) if m else np.zeros(0, np.int64)
    prev = np.concatenate([[-1], last[:-1]]).astype(np.int64) if m else last
    bound = np.where(prev >= 0, r[np.maximum(prev, 0)], 1)
    spans = np.where(run.index_iter[:, None] >= 0, (bound - 1)[:, None] * run.index_inc, 0)

    codes = fault_codes(f, config, spans)
    bad = np.flatnonzero(codes)
    if len(bad):
        raise _fault_at(program, run, structure, int(bad[0]), int(codes[bad[0]]), spans[bad[0]])

    writes = writes_d & ~(is_mac & (f["acc_out"] != 0))
    is_dot = op == Opcode.DOT
    results = np.where(is_mac, np.where(is_dot, 1, n), r * n) * is_compute
    same_port = reads_b & (f["a_buf"] == f["b_buf"])
    k = np.where(same_port, PORT_CONFLICT_FACTOR, 1).astype(np.int64)
    groups, write_groups = lane_groups(f, config, is_mac, reads_b, writes)
    occ = np.where(is_compute, r * groups * k + write_groups - 1, 1).astype(np.int64)
    offsets = buffer_offsets(config)
    operands = {}
    for j, (x, present) in enumerate((("a", is_compute), ("b", reads_b), ("d", writes_d))):
        size = 1 + f[f"{x}_dtype"]
        steps = np.where(is_mac, 1, r) if x == "d" else r
        lo, hi = _spread(*footprint(f[f"{x}_base"], f[f"{x}_rstride"], f[f"{x}_lstride"], steps, n, size), spans[:, j])
        lo = np.where(present, lo, 1)
        hi = np.where(present, hi, 0)
        buf = f[f"{x}_buf"]
        goff = offsets[np.minimum(buf, 2)]
        operands[x] = dict(present=present, buf=buf, size=size, lo=lo, hi=hi,
                           glo=np.where(present, lo + goff, _ABSENT_LO), ghi=np.where(present, hi + goff, -1))
    nrec = np.where(f["p_vec"] != 0, n, 1)
    p_lo, p_hi = _spread(f["p_base"], f["p_base"] + RECORD_BYTES * nrec - 1, spans[:, 3])
    p_lo = np.where(is_compute, p_lo, 1)
    p_hi = np.where(is_compute, p_hi, 0)
    return Analysis(program=program, config=config, pc=run.pc, loops=structure, fields=f, opcode=op,
                    is_mac=is_mac, is_ew=is_ew, is_dot=is_dot, is_topk=is_topk, results=results,
                    index_iter=run.index_iter, index_inc=run.index_inc, dynamic=(run.index_iter >= 0) | is_dot | is_topk,
                    is_ctl=~is_compute, is_compute=is_compute, is_fence=is_fence, reads_b=reads_b,
                    writes=writes, port_factor=k, groups=groups, write_groups=write_groups, occupancy=occ, operands=operands, p_lo=p_lo, p_hi=p_hi,
                    offsets=offsets)


def lane_groups(f: dict, config: NpuConfig, is_mac, reads_b, writes) -> tuple[np.ndarray, np.ndarray]:
    """(g, g_D) of docs/timing.md rule 1: lane groups per step, and a MAC's destination groups.

    Each operand's group size comes from its lane stride and its buffer's banking
    (`npu_model.arch.memory.lane_group`); the reads of a step use the smaller of A's and B's,
    an element-wise instruction also D's (a step's lanes are read and written together), a
    MAC writes its destination once, in groups of its own after the last step."""
    n = np.maximum(f["n"], 1)
    lanes = config.lanes
    size = {}
    for x in ("a", "b", "d"):
        p = np.full(len(n), lanes, np.int64)
        for code, name in enumerate(BUFFER_NAMES):
            here = f[f"{x}_buf"] == code
            if here.any():
                p = np.where(here, lane_group_array(f[f"{x}_lstride"], lanes, config.bank_org(name)), p)
        size[x] = p
    read = np.minimum(size["a"], np.where(reads_b, size["b"], lanes))
    dest = np.where(writes, size["d"], lanes)
    groups = -(-n // np.where(is_mac, read, np.minimum(read, dest)))
    write_groups = np.where(is_mac & writes, -(-n // dest), 1)
    return groups.astype(np.int64), write_groups.astype(np.int64)


def _fault_at(program: Program, run: Expansion, structure: LoopStructure, k: int, code: int, spans) -> NpuFault:
    """The NpuFault of instance k: its pc, its instruction with the effective addresses, the
    reason, and the iteration of every loop around it."""
    pc = int(run.pc[k])
    values = {name: int(v[k]) for name, v in run.fields.items()}
    reserved = values.pop("reserved")
    if reserved:                               # the reserved bits' value, not just the flag
        _, reserved, _ = format_at(program.code, pc)
    ins = Instruction(**values)
    found = instruction_fault(ins, reserved, program.config, tuple(int(v) for v in spans))
    assert found is not None and found[0] == code, (pc, found, code)
    text = format_fields(values, reserved)
    loops = structure.enclosing(pc)
    reason = found[1]
    if loops:
        where = ", ".join(f"iteration {int(run.iterations[k, lp.depth])} of the loop at pc {lp.pc}" for lp in loops)
        reason = f"{reason} ({where})"
    return NpuFault(pc, text, reason, fault=found[0], seq=k)


# Loader-level rejections -----------------------------------------------------------------------
def _loader_checks(program: Program, f: dict, is_ew: np.ndarray, source: str) -> LoopStructure:
    m = len(f["opcode"])
    op = f["opcode"]
    problems = []   # (pc, message)

    dup = _double_writes(f, is_ew)
    if len(dup):
        pc = int(dup[0])
        problems.append((pc, _double_write_text(f, pc)))

    for opcode, ports, what in ((Opcode.SYNC_IN, program.inputs, "input"),
                                (Opcode.SYNC_OUT, program.outputs, "output")):
        bad = np.flatnonzero((op == opcode) & (f["port"] >= len(ports)))
        if len(bad):
            pc = int(bad[0])
            have = ", ".join(f"{i} {p.name}" for i, p in enumerate(ports)) or "none"
            problems.append((pc, f"{what} port {int(f['port'][pc])} is not in the I/O table "
                                 f"({what} ports: {have})"))

    eofs = np.flatnonzero(op == Opcode.EOF)
    if len(eofs) == 0:
        problems.append((m - 1, "the program does not end with eof (it has none)"))
    elif eofs[0] != m - 1:
        problems.append((int(eofs[0]), f"eof before the last instruction (pc {m - 1}): a program has "
                                       "exactly one eof, its last instruction"))
    structure, loop_problems = loop_structure(f, m)
    problems += loop_problems
    topks = np.flatnonzero(op == Opcode.TOPK)
    for lp in structure.loops if not loop_problems else ():
        if not lp.indexed:
            continue
        if lp.count > program.config.topk_entries:
            problems.append((lp.pc, f"indexed loop of {lp.count} iterations; the top-k unit has "
                                    f"{program.config.topk_entries} index registers (topk_entries)"))
        inner = topks[(topks > lp.pc) & (topks <= lp.end)]
        if len(inner):
            problems.append((int(inner[0]), f"topk inside the body of the indexed loop at pc {lp.pc} "
                                            "(it would rewrite the indices the loop runs over)"))
    if problems:
        pc, message = min(problems, key=lambda p: p[0])
        _, _, text = format_at(program.code, pc)
        raise ProgramFormatError(f"{source}: pc {pc} ({text}): {message}")
    return structure


def _double_writes(f: dict, is_ew: np.ndarray) -> np.ndarray:
    """pcs among `is_ew` (the legal element-wise instructions) two of whose (step, lane) writes
    share a byte.

    A destination whose lanes or steps overlap on their own is fault 1 (illegal), checked by the
    NPU; what is left for the loader is a step of one lane landing on (or, int16, half over) an
    element of another lane: s*rs + l*ls within one element size of s'*rs + l'*ls. With
    ds = s - s', dl = l - l' (dl > 0 by symmetry) that is |ds*rs + dl*ls| < size for some
    |ds| <= r-1."""
    n, r = f["n"], f["r"]
    size = 1 + f["d_dtype"]
    rs, ls = f["d_rstride"], f["d_lstride"]
    cand = is_ew & (n > 1) & (r > 1) & (np.abs(ls) >= size) & (np.abs(rs) >= size)
    idx = np.flatnonzero(cand)
    if not len(idx):
        return idx
    n, r, size, rs, ls = n[idx], r[idx], size[idx], rs[idx], ls[idx]
    hit = np.zeros(len(idx), bool)
    for dl in range(1, int(n.max())):
        live = n > dl
        for delta in (-1, 0, 1):
            target = -dl * ls + delta          # want ds * rs == target
            ok = live & (size == 2) if delta else live
            q, rem = np.divmod(target, rs)
            hit |= ok & (rem == 0) & (np.abs(q) <= r - 1)
    return idx[hit]


def _double_write_text(f: dict, pc: int) -> str:
    n, r = int(f["n"][pc]), int(f["r"][pc])
    size = 1 + int(f["d_dtype"][pc])
    base, rs, ls = (int(f[f"d_{p}"][pc]) for p in ("base", "rstride", "lstride"))
    buf = Buffer(int(f["d_buf"][pc])).label
    seen = {}
    for s in range(r):
        for l in range(n):
            a = base + s * rs + l * ls
            for b in range(a, a + size):
                if b in seen:
                    s0, l0 = seen[b]
                    return (f"writes byte {buf}[0x{b:x}] twice (step {s0} lane {l0} and step {s} lane {l}): "
                            "destination lanes and steps must not meet")
                seen[b] = (s, l)
    return "writes a byte twice"
