"""The lookup-table unit: `lut_entries` int16 entries, one lookup per lane per cycle.

Every lane looks up its own index in every cycle (a table activation of n elements), and the
index is data, so a shared table would need `lanes` read ports or data-dependent waits. The unit
therefore holds one copy of the table per lane, each a single-port macro of 64-bit words (four
entries): the honest price of a per-lane activation table. The host writes a row (one word, four
entries) into every copy at once and reads copy 0.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .databuf import HostPortSignature
from .layout import ELEM_BITS, LUT_WORD_BITS, ParamSignature, check_positive
from .macro import SramArray

__all__ = ["LutUnit", "LutReadSignature"]

_ENTRIES_PER_WORD = LUT_WORD_BITS // ELEM_BITS


class LutReadSignature(ParamSignature):
    """One lane's lookup, seen from the requester: data one cycle after en.

    entries: entries of the LUT memory (the index is wide enough for every one)."""

    def __init__(self, *, entries):
        check_positive("Entries", entries)
        super().__init__({
            "en": Out(1), "index": Out(max(1, ceil_log2(entries))), "data": In(signed(ELEM_BITS)),
        }, entries=entries)


class LutUnit(wiring.Component):
    def __init__(self, *, entries, lanes, macro_words, host_addr_bits):
        check_positive("Entries", entries)
        check_positive("Lanes", lanes)
        self.entries, self.lanes, self.macro_words = entries, lanes, macro_words
        self.depth = max(1, -(-entries // _ENTRIES_PER_WORD))
        super().__init__({
            "rd": In(LutReadSignature(entries=entries)).array(lanes),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        sub_bits = ceil_log2(_ENTRIES_PER_WORD)
        host = self.host
        for lane in range(self.lanes):
            m.submodules[f"copy{lane}"] = arr = SramArray(kind="1rw", width=LUT_WORD_BITS, depth=self.depth,
                                                         granularity=LUT_WORD_BITS, macro_words=self.macro_words)
            req = self.rd[lane]
            lut_sub = Signal(sub_bits, name=f"lut{lane}_sub")
            with m.If(req.en):
                m.d.sync += lut_sub.eq(req.index[:sub_bits])
            reading = host.re if lane == 0 else 0            # the host reads copy 0
            m.d.comb += [
                arr.ce.eq(req.en | host.we | reading), arr.we.eq(host.we),
                arr.addr.eq(Mux(req.en, req.index >> sub_bits, host.addr)),
                arr.wmask.eq(host.we), arr.wdata.eq(host.wdata[:LUT_WORD_BITS]),
                req.data.eq(arr.rdata.word_select(lut_sub, ELEM_BITS).as_signed()),
            ]
            if lane == 0:
                m.d.comb += host.rdata.eq(arr.rdata)
        return m
