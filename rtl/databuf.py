"""A data buffer (wbuf, abuf or sbuf): banks of SRAM macros, and the crossbar between them and the
lanes.

The buffer is `org.banks` banks of `org.word_bytes`-byte words, interleaved word by word
(npu_model.arch.memory: byte a is in bank (a // W) % B, bank row a // (W B)); each bank is an
`SramArray` of single-port macros (wbuf: only the host writes it, while the NPU is idle) or 1R1W
macros (abuf, sbuf: the lane pipeline writes while the issue stage reads). In a cycle each bank
serves one read and, 1R1W, one write.

Reads: every lane with its `rd` enable set asks for the element at its byte address; a bank's
address is the row of the lanes that want the bank (an AND-OR crossbar: each lane decodes its bank
one-hot), and every lane gets its element out of its bank's word the next cycle (byte offset, int8
or int16, sign-extended). Writes: each
lane's element goes, under byte enables, to the word of its bank; lanes writing different bytes
of one word in a cycle are merged. The issue stage keeps to lane groups in which no two lanes
need different words of one bank (docs/timing.md rule 1, `npu_model.arch.memory.lane_group`):
that is what makes the OR of their rows their one row, and it is an invariant of the programs'
timing, not checked here. A lane's element never straddles two words (int16 operands
are 2-aligned and words are whole numbers of int16).

Host rows: `host_row_bytes` consecutive bytes (one word in each bank when a stripe of the banks
is at most 32 bytes, else 32 bytes of one bank), written or read in one cycle; only while idle.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from npu_model.arch.isa import DType
from npu_model.arch.memory import BankOrg

from .layout import ADDR_BITS, ELEM_BITS, HOST_DATA_BITS, DTypeShape, ParamSignature, check_positive
from .macro import SramArray

__all__ = ["DataBuffer", "ElementReadSignature", "ElementWriteSignature", "HostPortSignature"]


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


class HostPortSignature(ParamSignature):
    """Whole host rows of one target, seen from the host: read data one cycle after `re` (a
    target's rows are its own width, in the low bytes of the 256-bit data).

    addr_bits: width of the row address (every target of the host bus has the same)."""

    def __init__(self, *, addr_bits):
        check_positive("Address width", addr_bits)
        super().__init__({
            "addr": Out(addr_bits), "we": Out(1), "wdata": Out(HOST_DATA_BITS), "re": Out(1),
            "rdata": In(HOST_DATA_BITS),
        }, addr_bits=addr_bits)


class DataBuffer(wiring.Component):
    """One data buffer of `size` bytes organised as `org`; `writable`: lane write ports."""

    def __init__(self, *, size, org: BankOrg, lanes, macro_words, host_addr_bits, host_row_bytes, writable=True):
        check_positive("Size", size)
        check_positive("Lanes", lanes)
        if not isinstance(org, BankOrg):
            raise TypeError(f"Organisation must be a BankOrg, not {org!r}")
        if size % org.word_bytes:
            raise TypeError(f"Size must be a multiple of the {org.word_bytes}-byte word, not {size}")
        self.size, self.org, self.lanes, self.writable = size, org, lanes, writable
        self.macro_words = macro_words
        self.rows = -(-size // org.stripe_bytes)
        if host_row_bytes % org.word_bytes or org.stripe_bytes % host_row_bytes:
            raise TypeError(f"A host row of {host_row_bytes} bytes is not whole words of a stripe of {org}")
        self.host_row_bytes = host_row_bytes
        members = {
            "rd": In(ElementReadSignature()).array(lanes),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        }
        if writable:
            members["wr"] = In(ElementWriteSignature()).array(lanes)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        org, lanes = self.org, self.lanes
        nb, wb = org.banks, org.word_bytes
        bank_bits, word_bits = exact_log2(nb), exact_log2(wb)
        banks = []
        for b in range(nb):
            m.submodules[f"bank{b}"] = arr = SramArray(kind=org.kind, width=8 * wb, depth=self.rows, granularity=8,
                                                      macro_words=self.macro_words)
            banks.append(arr)
        row_bits = max(1, ceil_log2(self.rows))

        def split(addr):
            word = addr >> word_bits
            return (word[:bank_bits] if bank_bits else Const(0, 1)), (word >> bank_bits)[:row_bits], addr[:word_bits]

        # --- lane reads ---------------------------------------------------------------------------
        # Each lane decodes its bank once (one-hot, zero when it does not read); a bank's row is
        # the OR of the rows of the lanes that want it, which are one row (rule 1), so the
        # crossbar is AND-OR with no priority between lanes.
        rd_addr = [Signal(row_bits, name=f"bk_raddr{b}") for b in range(nb)]
        rd_en = [Signal(name=f"bk_ren{b}") for b in range(nb)]
        rd_hot, rd_row = [], []
        for lane in range(lanes):
            bank, row, _ = split(self.rd[lane].addr)
            hot = Signal(nb, name=f"rd{lane}_hot")
            m.d.comb += hot.eq(Mux(self.rd[lane].en, Const(1, nb) << bank, 0))
            rd_hot.append(hot), rd_row.append(row)
        for b in range(nb):
            addr, en = Const(0, row_bits), Const(0, 1)
            for lane in range(lanes):
                addr = addr | Mux(rd_hot[lane][b], rd_row[lane], 0)
                en = en | rd_hot[lane][b]
            m.d.comb += [rd_addr[b].eq(addr), rd_en[b].eq(en)]
        for lane in range(lanes):
            req = self.rd[lane]
            bank, _, off = split(req.addr)
            bk_q = Signal(max(1, bank_bits), name=f"rd{lane}_bank")
            off_q = Signal(max(1, word_bits), name=f"rd{lane}_off")
            i16_q = Signal(name=f"rd{lane}_i16")
            with m.If(req.en):
                m.d.sync += [bk_q.eq(bank), off_q.eq(off), i16_q.eq(req.dtype == DType.I16)]
            word = banks[0].rdata
            for b in range(1, nb):
                word = Mux(bk_q == b, banks[b].rdata, word)
            shifted = Signal(ELEM_BITS, name=f"rd{lane}_raw")
            m.d.comb += shifted.eq(word >> (off_q * 8))
            m.d.comb += req.data.eq(Mux(i16_q, shifted.as_signed(), shifted[:8].as_signed()))

        # --- lane writes ------------------------------------------------------------------------
        wr_addr = [Signal(row_bits, name=f"bk_waddr{b}") for b in range(nb)]
        wr_mask = [Signal(wb, name=f"bk_wmask{b}") for b in range(nb)]
        wr_data = [Signal(8 * wb, name=f"bk_wdata{b}") for b in range(nb)]
        if self.writable:
            # Each lane places its element in a word of its bank (data and byte enables shifted to
            # its byte offset); a bank ORs the words of the lanes that write it. Within a lane
            # group the lanes writing one bank write one word, and never the same byte (a
            # destination's lanes do not overlap: a fault), so the OR merges their bytes.
            lane_hot, lane_row, lane_word, lane_mask = [], [], [], []
            for lane in range(lanes):
                req = self.wr[lane]
                bank, row, off = split(req.addr)
                i16 = req.dtype == DType.I16
                word, mask = Signal(8 * wb, name=f"wr{lane}_word"), Signal(wb, name=f"wr{lane}_mask")
                hot = Signal(nb, name=f"wr{lane}_hot")
                m.d.comb += [word.eq(Mux(i16, req.data[:16], req.data[:8]) << (off * 8)),
                             mask.eq(Mux(req.en, Mux(i16, 0b11, 0b01) << off, 0)),
                             hot.eq(Mux(req.en, Const(1, nb) << bank, 0))]
                lane_hot.append(hot), lane_row.append(row), lane_word.append(word), lane_mask.append(mask)
            for b in range(nb):
                addr, mask, data = Const(0, row_bits), Const(0, wb), Const(0, 8 * wb)
                for lane in range(lanes):
                    hit = lane_hot[lane][b]
                    addr = addr | Mux(hit, lane_row[lane], 0)
                    mask = mask | Mux(hit, lane_mask[lane], 0)
                    data = data | Mux(hit, lane_word[lane], 0)
                m.d.comb += [wr_addr[b].eq(addr), wr_mask[b].eq(mask), wr_data[b].eq(data)]

        # --- host rows --------------------------------------------------------------------------
        # Row h holds words h*k .. h*k + k-1 (k words per row): banks `first` .. first + k-1 of
        # bank row (h*k) // B, where first = (h*k) % B is a multiple of k, so bank b takes word
        # b % k of the row.
        host = self.host
        per_row = self.host_row_bytes // wb
        slots = [host.wdata.word_select(i, 8 * wb) for i in range(per_row)]
        h_row = Signal(row_bits, name="host_row")
        h_bank = [Signal(name=f"host_bank{b}") for b in range(nb)]
        first = Signal(max(1, bank_bits), name="host_first")
        if bank_bits:
            m.d.comb += first.eq((host.addr * per_row)[:bank_bits])
        m.d.comb += h_row.eq((host.addr * per_row) >> bank_bits)
        for b in range(nb):
            m.d.comb += h_bank[b].eq((first >> exact_log2(per_row)) == (b // per_row))
        first_q = Signal.like(first, name="host_first_q")
        with m.If(host.re):
            m.d.sync += first_q.eq(first)

        def slot_of(b):
            return slots[b % per_row]

        for b, arr in enumerate(banks):
            hw = host.we & h_bank[b]
            hr = host.re & h_bank[b]
            if org.kind == "1rw":
                m.d.comb += [arr.ce.eq(rd_en[b] | hw | hr), arr.we.eq(hw),
                             arr.addr.eq(Mux(hw | hr, h_row, rd_addr[b])),
                             arr.wmask.eq(Mux(hw, (1 << wb) - 1, 0)), arr.wdata.eq(slot_of(b))]
            else:
                m.d.comb += [arr.re.eq(rd_en[b] | hr), arr.raddr.eq(Mux(hr, h_row, rd_addr[b])),
                             arr.waddr.eq(Mux(hw, h_row, wr_addr[b])),
                             arr.wmask.eq(Mux(hw, (1 << wb) - 1, wr_mask[b])),
                             arr.wdata.eq(Mux(hw, slot_of(b), wr_data[b]))]
        words = []
        for i in range(per_row):
            word = banks[i].rdata
            for b in range(i + per_row, nb, per_row):
                word = Mux(first_q == b - i, banks[b].rdata, word)
            words.append(word)
        m.d.comb += host.rdata.eq(Cat(*words))
        return m
