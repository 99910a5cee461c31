"""The memory system, defined once: which SRAM macros every memory is built from, how the data
buffers are banked, and the lane-group rule that turns bank conflicts into cycles.

Every memory is a set of SRAM macros a memory compiler would give: single-port (`1rw`: one
address, a read or a write per cycle) where only the host writes while the NPU is idle (wbuf,
pbuf, imem, the LUT), two-port (`1r1w`: one read and one write port) where the lane pipeline
writes while the issue stage reads (abuf, sbuf). A data buffer is `banks` banks of `word_bytes`
wide words, interleaved word by word (byte address a is in bank (a // word_bytes) % banks, row
a // (word_bytes * banks)); a bank deeper than `macro_words` is several macros stacked.

The organisation of a data buffer is named in the configuration (`<buf>_org`):

    lane   one bank per lane, 16-bit words: every lane can read or write its own element in
           every cycle wherever it is, as long as no two lanes need different words of one bank;
    row    two banks of rows of `lanes` int16 elements (even and odd rows): a vector of
           consecutive elements, aligned or not, is one access, an element per lane from rows
           apart is one access per row pair.

Each cycle a bank delivers one word to any lanes that want it and takes one write (byte enables
merge lanes writing different bytes of one word). An instruction's lanes are processed in lane
groups of `p` consecutive lanes chosen so that no two lanes of a group need different words of
one bank for any operand; `lane_group` gives p from the lane stride (docs/timing.md, rule 1).
Everything here is a pure function of the instruction fields, so timing stays a pure function
of the program, and the golden model and the RTL compute the same p from the same formula.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .isa import INSTRUCTION_BITS
from .record import RECORD_BYTES

__all__ = ["ORGANISATIONS", "MACRO_KINDS", "BankOrg", "bank_org", "lane_group", "lane_group_array", "LUT_WORD_BITS",
           "Macros", "memory_macros"]

#: Named organisations of a data buffer (see the module docstring).
ORGANISATIONS = ("lane", "row")
#: SRAM macro kinds: single-port, and one read + one write port.
MACRO_KINDS = ("1rw", "1r1w")


@dataclass(frozen=True)
class BankOrg:
    """One data buffer's banking: `banks` banks of `word_bytes`-byte words, macros of `kind`."""
    banks: int
    word_bytes: int
    kind: str

    @property
    def stripe_bytes(self) -> int:
        """Bytes of one word in every bank (consecutive addresses)."""
        return self.banks * self.word_bytes


def bank_org(org: str, lanes: int, *, writable: bool) -> BankOrg:
    """The banking of a data buffer of organisation `org` on an NPU of `lanes` lanes."""
    kind = "1r1w" if writable else "1rw"
    if org == "lane":
        return BankOrg(lanes, 2, kind)
    if org == "row":
        return BankOrg(2, 2 * lanes, kind)
    raise ValueError(f"unknown memory organisation {org!r} (one of {', '.join(ORGANISATIONS)})")


def lane_group(lstride: int, lanes: int, org: BankOrg) -> int:
    """Lanes of one group for an operand whose lanes are `lstride` bytes apart: a power of two,
    `lanes` when the operand never conflicts (a broadcast, one lane).

    With a stride of q whole words, lanes l and l' meet in a bank iff (l' - l) q is a multiple
    of `banks`, so groups of banks / gcd(q, banks) lanes are free of conflicts. Otherwise lanes
    within (banks - 1) words of each other use different banks or the same word: a group is the
    largest power of two p with (p - 1) |lstride| <= (banks - 1) word_bytes."""
    s = abs(lstride)
    if s == 0 or lanes == 1:
        return lanes
    b, w = org.banks, org.word_bytes
    if s % w == 0:
        q = s // w
        tz = (q & -q).bit_length() - 1
        p = b >> min(tz, b.bit_length() - 1)
    else:
        p = 1
        while (2 * p - 1) * s <= (b - 1) * w:
            p *= 2
    return min(p, lanes)


def lane_group_array(lstride: np.ndarray, lanes: int, org: BankOrg) -> np.ndarray:
    """`lane_group` over an array of lane strides."""
    s = np.abs(np.asarray(lstride, np.int64))
    b, w = org.banks, org.word_bytes
    q = s // w
    tz = np.zeros_like(q)
    nz = q != 0
    low = q & -q
    tz[nz] = np.log2(low[nz]).astype(np.int64)
    whole = np.right_shift(b, np.minimum(tz, b.bit_length() - 1))
    part = np.ones_like(s)
    for p in (2, 4, 8, 16, 32, 64):
        part = np.where((p - 1) * s <= (b - 1) * w, p, part)
    p = np.where(s % w == 0, whole, part)
    return np.where((s == 0) | (lanes == 1), lanes, np.minimum(p, lanes))


#: The LUT's macro word: four int16 entries (one lookup reads one word and picks the entry).
LUT_WORD_BITS = 64


@dataclass(frozen=True)
class Macros:
    """`count` identical SRAM macros of one memory: `kind`, `width` bits x `depth` words."""
    memory: str
    kind: str
    width: int
    depth: int
    count: int


def memory_macros(config) -> list[Macros]:
    """Every SRAM macro of an NPU configuration (an `NpuConfig`), what the RTL instantiates
    (docs/rtl.md "Memories"): the data buffers' banks, pbuf's bank of records per lane, one LUT
    copy per lane, imem; each array of `rows` words tiled from macros of at most `macro_words`
    words (the last one shallower when `macro_words` does not divide `rows`).
    tests/rtl/test_rtl_synth.py checks it against the RTL's instances."""
    arrays = []                                          # (memory, kind, width, rows, arrays)
    for name in ("wbuf", "abuf", "sbuf"):
        org = config.bank_org(name)
        arrays.append((name, org.kind, 8 * org.word_bytes, -(-getattr(config, f"{name}_bytes") // org.stripe_bytes),
                       org.banks))
    arrays.append(("pbuf", "1rw", 8 * RECORD_BYTES, -(-config.pbuf_bytes // (RECORD_BYTES * config.lanes)),
                   config.lanes))
    arrays.append(("lut", "1rw", LUT_WORD_BITS, max(1, -(-config.lut_entries * 16 // LUT_WORD_BITS)), config.lanes))
    arrays.append(("imem", "1rw", INSTRUCTION_BITS, -(-config.imem_bytes * 8 // INSTRUCTION_BITS), 1))
    out = []
    for memory, kind, width, rows, count in arrays:
        deep = min(rows, config.macro_words)
        full, rest = divmod(rows, deep)
        out.append(Macros(memory, kind, width, deep, count * full))
        if rest:
            out.append(Macros(memory, kind, width, rest, count))
    return out
