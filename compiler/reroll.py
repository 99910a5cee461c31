"""Hardware loops from straight-line code: the compiler's `--code loops` (docs/compiler.md).

The kernels emit every instruction of a layer (`--code unrolled` keeps that). This pass folds
the repetition back into `loop` instructions (docs/isa.md "Loops"): a run of C copies of a body of
instructions whose address fields (A, B and D bases, record address) advance by the same
increments from one copy to the next becomes one `loop count=C` and the body, and the pass is
repeated on its own output so that loops nest (up to LOOP_DEPTH), e.g. a pointwise convolution's
output positions around its output-channel tiles.

The result executes the very instruction stream it was made from, with a one-cycle `loop`
instruction before each run: `reroll` checks that by expanding its output with the golden
model's expansion (`npu_model.golden.loops.executed`) before returning it. Nothing here knows
about layers or kernels, so new kernels get loops without work, and the compiler's layers are
rerolled one by one (a loop never spans two layers).

Runs are found greedily from the start of the code: at each position the shortest body that
repeats (at least the 2 instructions a loop costs saved) is taken, as long as it repeats. The
shortest body first makes the inner loops; the next level then finds the outer ones.
"""
from __future__ import annotations

import numpy as np

from npu_model.arch.isa import (ADDRESS_BITS, FIELDS, INSTRUCTION_BYTES, LOOP_DEPTH, LOOP_SLOTS, MAX_LOOP_BODY,
                                MAX_LOOP_COUNT, OPCODES, Opcode, decode_words, encode_words)
from npu_model.golden.loops import executed

__all__ = ["reroll", "MAX_BODY_ITEMS"]

#: Longest body (in items: instructions or loops of the level below) the search tries.
MAX_BODY_ITEMS = 16

_KEY_FIELDS = [f.name for f in FIELDS if f.name not in LOOP_SLOTS]
_SLOTS = len(LOOP_SLOTS)
_MASK = (1 << ADDRESS_BITS) - 1
_HALF = 1 << (ADDRESS_BITS - 1)


class _Item:
    """An instruction, or a loop with its body, as the search sees it: `key` says everything but
    the address fields (equal keys: same shape), `rows` the address fields of every instruction
    inside (None where unused), `words` its size in imem; `used` and `base` say which address
    fields appear and their first value, `shape` is `_shape` of the item."""
    __slots__ = ("key", "rows", "words", "fields", "base", "used", "shape")

    def __init__(self, key, rows, words, fields, used=None, base=None):
        self.key, self.rows, self.words, self.fields = key, rows, words, fields
        if used is None:
            used = [any(r[s] is not None for r in rows) for s in range(_SLOTS)]
            base = [next((r[s] for r in rows if r[s] is not None), 0) for s in range(_SLOTS)]
        self.used, self.base = used, base
        self.shape = None


def _shape(item: _Item):
    """The item's key and address pattern relative to its base: equal shapes differ only by a
    constant per-field offset."""
    if item.shape is None:
        rel = tuple(tuple(None if v is None else v - item.base[s] for s, v in enumerate(r)) for r in item.rows)
        item.shape = (item.key, rel)
    return item.shape


def _instructions(fields: dict) -> list[_Item]:
    """One item per instruction: its key numbers its word with the address fields cleared among the
    distinct ones, and its shape depends only on which address fields its opcode
    uses (each is its own base), so it is made here without `_shape`'s general walk. An item's
    `fields` entry is (instruction index, address fields), which `_encode` reads back."""
    uses = {op: tuple(slot in info.uses for slot in LOOP_SLOTS) for op, info in OPCODES.items()}
    none = (False,) * _SLOTS
    rel_of = {u: (tuple(0 if x else None for x in u),) for u in {*uses.values(), none}}
    masked = encode_words({**fields, **{slot: np.zeros_like(fields[slot]) for slot in LOOP_SLOTS}})
    ids: dict = {}
    kid = [ids.setdefault(w, len(ids)) for w in map(bytes, masked)]
    slots = list(zip(*(fields[s].tolist() for s in LOOP_SLOTS)))
    every = (True,) * _SLOTS
    out = []
    for i, (key, op, vals) in enumerate(zip(kid, fields["opcode"].tolist(), slots)):
        used = uses.get(op, none)
        if used == every:                                  # MACs and binary element-wise: the common case
            item = _Item(key, (vals,), 1, [(i, vals)], every, vals)
        else:
            item = _Item(key, (tuple(v if u else None for v, u in zip(vals, used)),), 1, [(i, vals)], used,
                         tuple(v if u else 0 for v, u in zip(vals, used)))
        item.shape = (key, rel_of[used])
        out.append(item)
    return out


def _delta(x: _Item, y: _Item):
    return [(y.base[s] - x.base[s]) if x.used[s] else None for s in range(_SLOTS)]


def _merge(d, e):
    """Increments d and e (None: the field is not used) agree where both are used; merged."""
    out = []
    for a, b in zip(d, e):
        if a is not None and b is not None and a != b:
            return None
        out.append(a if a is not None else b)
    return out


def _level(items: list[_Item]) -> list[_Item]:
    """One pass: every run of a repeated body becomes a loop item."""
    shapes = [_shape(it) for it in items]
    ids = {}
    sig = [ids.setdefault(s, len(ids)) for s in shapes]
    n = len(items)
    out = []
    i = 0
    while i < n:
        found = None
        for p in range(1, min(MAX_BODY_ITEMS, (n - i) // 2) + 1):
            if sig[i + p] != sig[i]:
                continue
            body_words = sum(it.words for it in items[i:i + p])
            if body_words > MAX_LOOP_BODY:
                break
            inc = [None] * _SLOTS
            ok = True
            for j in range(p):                                   # the second copy fixes the increments
                if sig[i + p + j] != sig[i + j]:
                    ok = False
                    break
                inc = _merge(inc, _delta(items[i + j], items[i + p + j]))
                if inc is None:
                    ok = False
                    break
            if not ok:
                continue
            count = 2
            while count < MAX_LOOP_COUNT and i + (count + 1) * p <= n:
                k = i + count * p
                good = True
                for j in range(p):
                    if sig[k + j] != sig[i + j] or _merge(inc, _delta(items[k - p + j], items[k + j])) != inc:
                        good = False
                        break
                if not good:
                    break
                count += 1
            if count * body_words - (1 + body_words) >= 1:
                found = (p, count, inc, body_words)
                break
        if found is None:
            out.append(items[i])
            i += 1
            continue
        p, count, inc, body_words = found
        body = items[i:i + p]
        inc = [0 if v is None else ((v + _HALF) & _MASK) - _HALF for v in inc]
        key = (Opcode.LOOP, count, tuple(inc)) + tuple(it.key for it in body)
        rows = ((None,) * _SLOTS,) + tuple(r for it in body for r in it.rows)
        loop = (("LOOP", count, body_words, tuple(inc)), None)
        out.append(_Item(key, rows, 1 + body_words, [loop] + [f for it in body for f in it.fields]))
        i += count * p
    return out


def _encode(items: list[_Item], fields: dict) -> np.ndarray:
    """The words of `items`: loop instructions from their entries, every other instruction's fields
    from the decoded input (`fields`) with its address fields as the item holds them."""
    rows = [f for it in items for f in it.fields]
    cols = {name: np.zeros(len(rows), np.int64) for name in [f.name for f in FIELDS]}
    src, dst, slot_values = [], [], []
    for r, (ref, slots) in enumerate(rows):
        if slots is None:                                        # a loop instruction
            _, count, body, inc = ref
            cols["opcode"][r] = Opcode.LOOP
            cols["count"][r], cols["body"][r] = count, body
            for s, slot in enumerate(LOOP_SLOTS):
                cols[f"{slot[0]}_inc"][r] = inc[s]
            continue
        src.append(ref)
        dst.append(r)
        slot_values.append(slots)
    if dst:
        for name in _KEY_FIELDS:
            cols[name][dst] = fields[name][src]
        values = np.array(slot_values, np.int64).reshape(len(dst), _SLOTS)
        for s, slot in enumerate(LOOP_SLOTS):
            cols[slot][dst] = values[:, s]
    return encode_words(cols)


def reroll(code: np.ndarray) -> np.ndarray:
    """(N, 32) instruction words -> the same instruction stream with loops.

    Loops already in the code (the lowering's own, `ProgramBuilder.loop`: indexed loops, which
    no repetition of straight-line code can stand for) stay as they are; the straight-line code
    between them is folded. Raises AssertionError if the result would not execute the input
    exactly (a bug here, never a property of the program)."""
    code = np.ascontiguousarray(code, np.uint8).reshape(-1, INSTRUCTION_BYTES)
    fields = decode_words(code)
    loops = np.flatnonzero(fields["opcode"] == Opcode.LOOP).tolist()
    if not loops:
        return _reroll_straight(code)
    parts, at = [], 0
    for pc in loops:
        if pc < at:                                   # inside the body of the loop before
            continue
        end = pc + 1 + int(fields["body"][pc])
        parts += [_reroll_straight(code[at:pc]), code[pc:end]]
        at = end
    parts.append(_reroll_straight(code[at:]))
    return np.concatenate(parts)


def _reroll_straight(code: np.ndarray) -> np.ndarray:
    if len(code) < 3:
        return code
    fields = decode_words(code)
    items = _instructions(fields)
    for _ in range(LOOP_DEPTH):
        nxt = _level(items)
        if len(nxt) == len(items):
            break
        items = nxt
    out = _encode(items, fields)
    run = executed(out, program=False)
    flat = run.pc[run.fields["opcode"] != Opcode.LOOP]
    assert len(flat) == len(code), "reroll: the loops do not run the code they replace"
    again = encode_words({k: v[run.fields["opcode"] != Opcode.LOOP] for k, v in run.fields.items()
                          if k != "reserved"})
    assert np.array_equal(again, code), "reroll: the loops do not run the code they replace"
    return out
