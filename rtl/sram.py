"""A data buffer (wbuf, abuf or sbuf): byte-addressed SRAM with per-lane element ports.

The ISA lets every lane read its own, arbitrarily strided address in every step and write its
own address of D. The buffer is therefore one `Memory` of 64-bit rows with enough ports: `lanes`
element read ports (the buffer's one read port of docs/timing.md, one element per lane: the
sequencer routes A or B to it, and A and B of one step in the same buffer take two cycles),
`lanes` record read ports on wbuf (per-lane parameter records, `p_vec`), `lanes` element write
ports with byte enables on the writable buffers, and four read and four write ports of whole
rows for the host (32 bytes per cycle). Rows are 64 bits so that a parameter record is one row
and an int16 element, which is always 2-aligned, never straddles two rows.

All read ports are synchronous (data one cycle after the address) and not transparent: the
hazard rule guarantees that a read is at least one cycle after the write it depends on.
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from npu_model.arch.isa import DType
from npu_model.arch.record import RECORD_BYTES

from .layout import ADDR_BITS, ELEM_BITS, HOST_DATA_BITS, MEM_WORD_BITS, DTypeShape, ParamSignature, check_positive

__all__ = ["Sram", "ElementReadSignature", "ElementWriteSignature", "RecordReadSignature", "HostPortSignature",
           "HOST_WORDS_PER_ROW"]

#: 64-bit memory rows per 256-bit host row.
HOST_WORDS_PER_ROW = HOST_DATA_BITS // MEM_WORD_BITS
_BYTES_PER_WORD = MEM_WORD_BITS // 8
_WORD_SHIFT = ceil_log2(_BYTES_PER_WORD)


class ElementReadSignature(ParamSignature):
    """One lane's element read, seen from the requester: data is valid one cycle after en."""

    def __init__(self):
        super().__init__({
            "en": Out(1), "addr": Out(ADDR_BITS), "dtype": Out(DTypeShape),
            "data": In(signed(ELEM_BITS)),
        })


class ElementWriteSignature(ParamSignature):
    """One lane's element write, seen from the requester."""

    def __init__(self):
        super().__init__({
            "en": Out(1), "addr": Out(ADDR_BITS), "dtype": Out(DTypeShape), "data": Out(ELEM_BITS),
        })


class RecordReadSignature(ParamSignature):
    """One parameter record read, by record index (byte address / RECORD_BYTES)."""

    def __init__(self):
        super().__init__({
            "en": Out(1), "index": Out(ADDR_BITS - ceil_log2(RECORD_BYTES)),
            "data": In(RECORD_BYTES * 8),
        })


class HostPortSignature(ParamSignature):
    """Whole 256-bit rows of one target, seen from the host: read data one cycle after `re`.

    addr_bits: width of the row address (every target of the host bus has the same)."""

    def __init__(self, *, addr_bits):
        check_positive("Address width", addr_bits)
        super().__init__({
            "addr": Out(addr_bits), "we": Out(1), "wdata": Out(HOST_DATA_BITS), "re": Out(1),
            "rdata": In(HOST_DATA_BITS),
        }, addr_bits=addr_bits)


class Sram(wiring.Component):
    """One data buffer of `size` bytes.

    records:    give the buffer `lanes` parameter-record read ports (wbuf).
    writable:   give the buffer `lanes` element write ports (abuf, sbuf).
    """

    def __init__(self, *, size, lanes, host_addr_bits, records=False, writable=True):
        check_positive("Size", size)
        check_positive("Lanes", lanes)
        if size % _BYTES_PER_WORD:
            raise ValueError(f"Size must be a multiple of the {_BYTES_PER_WORD}-byte row, not {size}")
        self.size = size
        self.lanes = lanes
        self.depth = size // _BYTES_PER_WORD
        self.records = records
        self.writable = writable
        members = {
            "rd": In(ElementReadSignature()).array(lanes),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        }
        if records:
            members["rec"] = In(RecordReadSignature()).array(lanes)
        if writable:
            members["wr"] = In(ElementWriteSignature()).array(lanes)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=MEM_WORD_BITS, depth=self.depth, init=[])

        # Element reads: row address now, byte select and sign extension when the row arrives.
        for lane in range(self.lanes):
            req = self.rd[lane]
            port = mem.read_port()
            rd_off = Signal(_WORD_SHIFT, name=f"rd{lane}_off")
            rd_i16 = Signal(name=f"rd{lane}_i16")
            m.d.comb += [port.addr.eq(req.addr >> _WORD_SHIFT), port.en.eq(req.en)]
            with m.If(req.en):
                m.d.sync += [rd_off.eq(req.addr[:_WORD_SHIFT]), rd_i16.eq(req.dtype == DType.I16)]
            rd_shifted = Signal(ELEM_BITS, name=f"rd{lane}_raw")
            m.d.comb += rd_shifted.eq(port.data >> (rd_off * 8))
            m.d.comb += req.data.eq(Mux(rd_i16, rd_shifted.as_signed(), rd_shifted[:8].as_signed()))

        if self.records:
            for lane in range(self.lanes):
                port = mem.read_port()
                m.d.comb += [port.addr.eq(self.rec[lane].index), port.en.eq(self.rec[lane].en),
                             self.rec[lane].data.eq(port.data)]

        if self.writable:
            # An element is replicated over the row and written through byte enables, which
            # avoids a barrel shifter per lane.
            for lane in range(self.lanes):
                req = self.wr[lane]
                port = mem.write_port(granularity=8)
                wr_off = req.addr[:_WORD_SHIFT]
                wr_mask = Mux(req.dtype == DType.I16, 0b11, 0b01)
                m.d.comb += [
                    port.addr.eq(req.addr >> _WORD_SHIFT),
                    port.data.eq(Mux(req.dtype == DType.I16,
                                     Cat(*([req.data] * (_BYTES_PER_WORD // 2))),
                                     Cat(*([req.data[:8]] * _BYTES_PER_WORD)))),
                    port.en.eq(Mux(req.en, wr_mask << wr_off, 0)),
                ]

        # Host rows: four 64-bit words per 256-bit row.
        host_rdata = []
        for j in range(HOST_WORDS_PER_ROW):
            word = self.host.addr * HOST_WORDS_PER_ROW + j
            in_range = word < self.depth
            wport = mem.write_port(granularity=8)
            m.d.comb += [
                wport.addr.eq(word),
                wport.data.eq(self.host.wdata[j * MEM_WORD_BITS:(j + 1) * MEM_WORD_BITS]),
                wport.en.eq(Mux(self.host.we & in_range, (1 << _BYTES_PER_WORD) - 1, 0)),
            ]
            rport = mem.read_port()
            m.d.comb += [rport.addr.eq(word), rport.en.eq(self.host.re)]
            host_rdata.append(rport.data)
        m.d.comb += self.host.rdata.eq(Cat(*host_rdata))
        return m
