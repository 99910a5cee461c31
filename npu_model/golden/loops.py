"""Hardware loops at load: the loop structure of a program and its expansion into the frame's
instruction stream (docs/isa.md "Loops").

A `loop` instruction runs the `body` instructions after it `count` times; in iteration i every
compute instruction of the body has `i * inc` added to each of its address fields (A, B and D
bases and the record address), modulo 2**ADDRESS_BITS, on top of what enclosing loops add.
Everything else of the golden model works on the *executed* stream this module produces: the
static pc of every executed instruction and its effective fields. That keeps the executor, the
schedule and the fault checks exactly as they are for straight-line code (every loop iteration
is an instruction instance like any other), and it is vectorised: one `np.tile` per loop, never
a Python step per iteration.

An *indexed* loop (`idx` != 0) advances the address fields its `idx` bits name by IDX[i] * inc
instead of i * inc, IDX being the top-k index registers the last `topk` wrote: data, known only
while the frame runs. The expansion then holds those fields as in iteration 0 of that loop and
records, per instance, the loop's iteration (`index_iter`) and the increments to scale by the
index (`index_inc`); the executor adds IDX[i] * inc as it runs, the analysis widens the
footprints over every index the top-k can produce. Indexed loops do not nest in each other.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from ..arch.isa import ADDRESS_BITS, LOOP_DEPTH, LOOP_SLOTS, OPCODES, Opcode, decode_words, encode_words

__all__ = ["Loop", "LoopStructure", "Expansion", "loop_structure", "expand", "executed", "unrolled_code",
           "MAX_FRAME_INSTRUCTIONS"]

#: Most instructions one frame may execute: the golden model holds the executed stream in memory
#: (about 0.4 KB per instruction), so a program that would run longer is refused at load.
MAX_FRAME_INSTRUCTIONS = 1 << 22

_ADDRESS_MASK = (1 << ADDRESS_BITS) - 1
_N_OPCODES = max(int(o) for o in Opcode) + 1
#: _SLOT_USED[opcode, j]: the opcode uses address field LOOP_SLOTS[j] (a loop advances only those).
_SLOT_USED = np.zeros((_N_OPCODES + 1, len(LOOP_SLOTS)), bool)
for _op, _info in OPCODES.items():
    for _j, _slot in enumerate(LOOP_SLOTS):
        _SLOT_USED[int(_op), _j] = _slot in _info.uses


@dataclass(frozen=True)
class Loop:
    """One loop instruction at `pc`: its body is pcs [pc + 1, end], run `count` times."""
    pc: int
    count: int
    body: int
    depth: int                       # 0 outermost
    increments: tuple                # one per LOOP_SLOTS entry
    indexed: int = 0                 # idx: bit j, LOOP_SLOTS[j] advances by IDX[i] * inc

    @property
    def end(self) -> int:
        return self.pc + self.body


@dataclass(frozen=True)
class LoopStructure:
    loops: tuple                     # Loop, by pc
    executed: int                    # instructions one frame executes (loop instructions included)

    def enclosing(self, pc: int) -> list:
        """The loops whose body holds `pc`, outermost first."""
        return [lp for lp in self.loops if lp.pc < pc <= lp.end]


def loop_structure(fields: dict, n: int, *, program: bool = True):
    """(LoopStructure, problems): the program's loops and the loader's objections to them, as
    (pc, message) pairs: a body running past the instruction before the last (the `eof`), a body
    that ends inside another loop's body without being inside it, nesting deeper than LOOP_DEPTH,
    or a frame executing more than MAX_FRAME_INSTRUCTIONS instructions. A loop with a count or a
    body of 0 is an illegal instruction (fault 1), not a loader objection; it is taken as 1 here so
    that the stream up to the fault can be built. With program=False the words are a piece of a
    program (the compiler's), which has no `eof`: bodies may end at its last word."""
    last = n - 2 if program else n - 1
    pcs = np.flatnonzero(fields["opcode"] == Opcode.LOOP).tolist()
    counts = fields["count"][pcs].tolist()
    bodies = fields["body"][pcs].tolist()
    incs = np.stack([fields[f"{s[0]}_inc"][pcs] for s in LOOP_SLOTS], axis=1).tolist() if pcs else []
    idx = fields["idx"][pcs].tolist()
    problems, loops, open_ = [], [], []          # open_: ends of the loops enclosing the current pc
    loops_open = []                                # the Loops of open_
    for pc, count, body, inc, ix in zip(pcs, counts, bodies, incs, idx):
        while open_ and open_[-1] < pc:
            loops_open.pop()
            open_.pop()
        body = max(body, 1)
        end = pc + body
        if end > last:
            problems.append((pc, f"loop body pc {pc + 1}..{end} runs past pc {last}: a body ends before the "
                                 f"program's last instruction (the eof)"))
            break
        if open_ and end > open_[-1]:
            problems.append((pc, f"loop body pc {pc + 1}..{end} ends after the body of the loop around it "
                                 f"(pc ..{open_[-1]}): loops nest, they do not overlap"))
            break
        if len(open_) >= LOOP_DEPTH:
            problems.append((pc, f"loop nested {len(open_) + 1} deep; loops nest at most {LOOP_DEPTH} deep"))
            break
        if ix and any(lp.indexed for lp in loops_open):
            outer = next(lp for lp in loops_open if lp.indexed)
            problems.append((pc, f"indexed loop inside the indexed loop at pc {outer.pc}: indexed loops do not nest"))
            break
        loops.append(Loop(pc, max(count, 1), body, len(open_), tuple(inc), ix))
        loops_open.append(loops[-1])
        open_.append(end)
    executed = _executed(loops, n) if not problems else 0
    if executed > MAX_FRAME_INSTRUCTIONS:
        first = loops[0].pc if loops else 0
        problems.append((first, f"a frame executes {executed:,} instructions; the golden model runs at most "
                                f"{MAX_FRAME_INSTRUCTIONS:,}"))
    return LoopStructure(tuple(loops), executed), problems


def _executed(loops, n: int) -> int:
    """Instructions one frame executes: each loop's body counts `count` times."""
    starts = [lp.pc for lp in loops]
    by_pc = {lp.pc: lp for lp in loops}

    def count(lo: int, hi: int) -> int:
        total, pc = 0, lo
        while pc < hi:
            i = bisect.bisect_left(starts, pc)
            nxt = starts[i] if i < len(starts) and starts[i] < hi else hi
            total += nxt - pc
            if nxt == hi:
                break
            lp = by_pc[nxt]
            total += 1 + lp.count * count(nxt + 1, lp.end + 1)
            pc = lp.end + 1
        return total

    return count(0, n)


@dataclass
class Expansion:
    """The executed stream of one frame: for instance k, its static pc, the effective fields of
    the instruction (address fields advanced by the enclosing loops; an indexed loop's indexed
    fields as in its iteration 0) and the iteration of each enclosing loop (-1 at levels that do
    not enclose it); inside an indexed loop, its iteration and the increments IDX[i] scales."""
    pc: np.ndarray                   # int64, static pc of instance k
    fields: dict                     # name -> int64 array over instances
    iterations: np.ndarray           # (instances, LOOP_DEPTH) int64
    index_iter: np.ndarray           # (instances,) iteration i of the enclosing indexed loop, -1 if none
    index_inc: np.ndarray            # (instances, len(LOOP_SLOTS)): bytes per unit of IDX[i], 0 if not indexed

    def __len__(self) -> int:
        return len(self.pc)


def expand(fields: dict, structure: LoopStructure) -> Expansion:
    """The executed stream of a program (decoded `fields`, checked `structure`)."""
    n = len(fields["opcode"])
    if not structure.loops:
        pcs = np.arange(n, dtype=np.int64)
        return Expansion(pcs, dict(fields), np.full((n, LOOP_DEPTH), -1, np.int64), np.full(n, -1, np.int64),
                         np.zeros((n, len(LOOP_SLOTS)), np.int64))
    starts = [lp.pc for lp in structure.loops]
    by_pc = {lp.pc: lp for lp in structure.loops}

    def block(lo: int, hi: int):
        """(pcs, offsets (k, slots), iterations (k, depth)) of static pcs [lo, hi)."""
        parts = []
        pc = lo
        while pc < hi:
            i = bisect.bisect_left(starts, pc)
            nxt = starts[i] if i < len(starts) and starts[i] < hi else hi
            if nxt > pc:
                parts.append(_straight(pc, nxt))
            if nxt == hi:
                break
            lp = by_pc[nxt]
            parts.append(_straight(nxt, nxt + 1))
            parts.append(_repeat(lp, block(nxt + 1, lp.end + 1)))
            pc = lp.end + 1
        return _concat(parts)

    pcs, offsets, iterations, index_iter, index_inc = block(0, n)
    out = {name: values[pcs] for name, values in fields.items()}
    used = _SLOT_USED[np.minimum(out["opcode"], _N_OPCODES)]
    for j, slot in enumerate(LOOP_SLOTS):
        moved = used[:, j] & (offsets[:, j] != 0)
        if moved.any():
            out[slot] = np.where(moved, (out[slot] + offsets[:, j]) & _ADDRESS_MASK, out[slot])
    index_inc = np.where(used, index_inc, 0)
    return Expansion(pcs, out, iterations, index_iter, index_inc)


def _straight(lo: int, hi: int):
    k = hi - lo
    return (np.arange(lo, hi, dtype=np.int64), np.zeros((k, len(LOOP_SLOTS)), np.int64),
            np.full((k, LOOP_DEPTH), -1, np.int64), np.full(k, -1, np.int64),
            np.zeros((k, len(LOOP_SLOTS)), np.int64))


def _repeat(lp: Loop, body):
    pcs, offsets, iterations, index_iter, index_inc = body
    k = len(pcs)
    it = np.repeat(np.arange(lp.count, dtype=np.int64), k)
    inc = np.asarray(lp.increments, np.int64)
    indexed = np.array([bool(lp.indexed >> j & 1) for j in range(len(LOOP_SLOTS))])
    offsets = np.tile(offsets, (lp.count, 1)) + it[:, None] * np.where(indexed, 0, inc)[None, :]
    iterations = np.tile(iterations, (lp.count, 1))
    iterations[:, lp.depth] = it
    index_iter = np.tile(index_iter, lp.count)
    index_inc = np.tile(index_inc, (lp.count, 1))
    if lp.indexed:
        index_iter = it
        index_inc = np.broadcast_to(np.where(indexed, inc, 0), index_inc.shape).copy()
    return np.tile(pcs, lp.count), offsets, iterations, index_iter, index_inc


def _concat(parts):
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(5))


def executed(code: np.ndarray, *, program: bool = True) -> Expansion:
    """The executed stream of instruction words whose loop structure is legal (the loader's
    checks passed); program=False for a piece of a program (see `loop_structure`)."""
    fields = decode_words(code)
    structure, problems = loop_structure(fields, len(fields["opcode"]), program=program)
    if problems:
        raise ValueError(f"pc {problems[0][0]}: {problems[0][1]}")
    return expand(fields, structure)


def unrolled_code(code: np.ndarray, count: int | None = None) -> np.ndarray:
    """The straight-line code of a program's executed stream (its first `count` instances): every
    instance as a word with its effective addresses, every loop instruction a `nop`. It runs
    exactly like the program, cycle for cycle (a `loop` and a `nop` both take one issue cycle),
    which is what the cosimulation uses to schedule the instances before a fault. An indexed loop
    among them has no such code (its addresses are data, its `loop` a fence): ValueError."""
    run = executed(code)
    if (run.index_iter[:count] >= 0).any() or (run.fields["idx"][:count] != 0).any():
        raise ValueError("an indexed loop has no straight-line code: its addresses come from the top-k unit")
    rows = {name: v[:count] for name, v in run.fields.items() if name != "reserved"}
    loops = rows["opcode"] == Opcode.LOOP
    for name in rows:
        rows[name] = np.where(loops, Opcode.NOP if name == "opcode" else 0, rows[name])
    return encode_words(rows)
