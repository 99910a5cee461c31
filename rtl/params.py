"""The parameter memory (pbuf): the 8-byte records (bias, mult, shift) of docs/isa.md.

One bank of 64-bit single-port macros per lane, interleaved record by record (record j in bank
j % lanes), so the `n` consecutive records of a `p_vec` instruction are one read of `n` banks and a
shared record one read of one bank. The issue stage reads an instruction's records in its issue
cycle; the records arrive the next cycle, when its first beat is in stage 1, and stay on `data`
(the macros' output latches) until the next instruction's issue, so every beat of the instruction
finds them there: the record read is free, as docs/timing.md says. Lane l gets record
p_index + l (p_vec) or p_index.

Host rows: one record in each of min(lanes, 4) banks (8 to 32 bytes).
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from npu_model.arch.isa import FIELD_BY_NAME
from npu_model.arch.record import RECORD_BYTES

from .databuf import HostPortSignature
from .layout import ParamSignature, check_positive
from .macro import SramArray

__all__ = ["ParamMemory", "RecordsSignature"]

_RECORD_BITS = 8 * RECORD_BYTES
_INDEX_BITS = FIELD_BY_NAME["p_base"].bits - exact_log2(RECORD_BYTES)


class RecordsSignature(ParamSignature):
    """The records of one instruction, seen from the issue stage: `read` with the first record's
    index and `vec`; one record per lane on `data` from the next cycle on."""

    def __init__(self, *, lanes):
        check_positive("Lanes", lanes)
        super().__init__({"read": Out(1), "index": Out(_INDEX_BITS), "vec": Out(1),
                          "data": In(_RECORD_BITS).array(lanes)}, lanes=lanes)


class ParamMemory(wiring.Component):
    def __init__(self, *, size, lanes, macro_words, host_addr_bits, host_row_bytes):
        check_positive("Size", size)
        check_positive("Lanes", lanes)
        if size % RECORD_BYTES:
            raise TypeError(f"Size must be a multiple of the {RECORD_BYTES}-byte record, not {size}")
        self.lanes, self.macro_words = lanes, macro_words
        self.depth = -(-size // (RECORD_BYTES * lanes))
        if host_row_bytes % RECORD_BYTES or lanes % (host_row_bytes // RECORD_BYTES):
            raise TypeError(f"A host row of {host_row_bytes} bytes is not whole records of the {lanes} banks")
        self.host_row_bytes = host_row_bytes
        super().__init__({
            "rec": In(RecordsSignature(lanes=lanes)),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes
        lb = exact_log2(lanes)
        row_bits = max(1, ceil_log2(self.depth))
        banks = []
        for b in range(lanes):
            m.submodules[f"bank{b}"] = arr = SramArray(kind="1rw", width=_RECORD_BITS, depth=self.depth,
                                                      granularity=_RECORD_BITS, macro_words=self.macro_words)
            banks.append(arr)
        idx = self.rec.index
        first = idx[:lb] if lb else 0
        row = (idx >> lb)[:row_bits]
        # Host: row h holds records h*k .. h*k + k-1 (k = min(lanes, 4)), banks (h*k) % lanes + i.
        host = self.host
        per_row = self.host_row_bytes // RECORD_BYTES
        h_first = Signal(max(1, lb), name="pb_host_first")
        if lb:
            m.d.comb += h_first.eq((host.addr * per_row)[:lb])
        h_row = (host.addr * per_row) >> lb
        h_first_q = Signal.like(h_first, name="pb_host_first_q")
        with m.If(host.re):
            m.d.sync += h_first_q.eq(h_first)
        for b, arr in enumerate(banks):
            # Record p_index + l lands in bank b for l = (b - first) % lanes: the next row when b < first.
            want = self.rec.read & (self.rec.vec | (first == b) if lb else self.rec.read)
            mine = (h_first >> exact_log2(per_row)) == b // per_row
            hw, hr = host.we & mine, host.re & mine
            m.d.comb += [
                arr.ce.eq(want | hw | hr), arr.we.eq(hw),
                arr.addr.eq(Mux(hw | hr, h_row, row + (first > b) if 0 < b + 1 < lanes else row)),
                arr.wmask.eq(hw), arr.wdata.eq(host.wdata.word_select(b % per_row, _RECORD_BITS)),
            ]
        # Lane l reads bank (first + l * vec) % lanes, as registered at the read.
        first_q = Signal(max(1, lb), name="pb_first_q")
        vec_q = Signal(name="pb_vec_q")
        with m.If(self.rec.read):
            m.d.sync += [first_q.eq(first), vec_q.eq(self.rec.vec)]
        for lane in range(lanes):
            sel = (first_q + Mux(vec_q, lane, 0))[:lb] if lb else 0
            data = banks[0].rdata
            for b in range(1, lanes):
                data = Mux(sel == b, banks[b].rdata, data)
            m.d.comb += self.rec.data[lane].eq(data)
        words = []
        for i in range(per_row):
            word = banks[i].rdata
            for b in range(i + per_row, lanes, per_row):
                word = Mux(h_first_q == b - i, banks[b].rdata, word)
            words.append(word)
        m.d.comb += host.rdata.eq(Cat(*words))
        return m
