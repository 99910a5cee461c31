"""The lookup-table unit: `lut_entries` int16 entries, one lookup per lane per cycle.

Activation tables (sigmoid, tanh, exp) are shared by all lanes, but every lane looks up its own
index, so the memory has one synchronous read port per lane. Entries are stored four to a
64-bit row so that the host loads 16 entries per 256-bit host row, like the data buffers.
"""
from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .layout import ELEM_BITS, MEM_WORD_BITS, ParamSignature, check_positive
from .sram import HOST_WORDS_PER_ROW, HostPortSignature

__all__ = ["LutUnit", "LutReadSignature"]

_ENTRIES_PER_WORD = MEM_WORD_BITS // ELEM_BITS


class LutReadSignature(ParamSignature):
    """One lane's lookup, seen from the requester: data one cycle after en.

    entries: entries of the LUT memory (the index is wide enough for every one)."""

    def __init__(self, *, entries):
        check_positive("Entries", entries)
        super().__init__({
            "en": Out(1), "index": Out(max(1, ceil_log2(entries))), "data": In(signed(ELEM_BITS)),
        }, entries=entries)


class LutUnit(wiring.Component):
    def __init__(self, *, entries, lanes, host_addr_bits):
        check_positive("Entries", entries)
        check_positive("Lanes", lanes)
        self.entries = entries
        self.lanes = lanes
        self.depth = max(1, -(-entries // _ENTRIES_PER_WORD))
        super().__init__({
            "rd": In(LutReadSignature(entries=entries)).array(lanes),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=MEM_WORD_BITS, depth=self.depth, init=[])
        sub_bits = ceil_log2(_ENTRIES_PER_WORD)
        for lane in range(self.lanes):
            req = self.rd[lane]
            port = mem.read_port()
            lut_sub = Signal(sub_bits, name=f"lut{lane}_sub")
            m.d.comb += [port.addr.eq(req.index >> sub_bits), port.en.eq(req.en)]
            with m.If(req.en):
                m.d.sync += lut_sub.eq(req.index[:sub_bits])
            m.d.comb += req.data.eq(port.data.word_select(lut_sub, ELEM_BITS).as_signed())

        host_rdata = []
        for j in range(HOST_WORDS_PER_ROW):
            word = self.host.addr * HOST_WORDS_PER_ROW + j
            wport = mem.write_port()
            m.d.comb += [
                wport.addr.eq(word),
                wport.data.eq(self.host.wdata[j * MEM_WORD_BITS:(j + 1) * MEM_WORD_BITS]),
                wport.en.eq(self.host.we & (word < self.depth)),
            ]
            rport = mem.read_port()
            m.d.comb += [rport.addr.eq(word), rport.en.eq(self.host.re)]
            host_rdata.append(rport.data)
        m.d.comb += self.host.rdata.eq(Cat(*host_rdata))
        return m
