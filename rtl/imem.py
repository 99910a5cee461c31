"""Instruction memory: one 256-bit instruction word per row, `pc` counts rows.

Single-port macros (tiled to the depth): the front end fetches while the NPU runs, the host
writes (a host row is one instruction word) and reads while it is idle. The fetched word stays
on the output (the macros' output latch) until the next fetch, which is what the fetch register
of the front end is.
"""
from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import INSTRUCTION_BITS

from .databuf import HostPortSignature
from .layout import ParamSignature, check_positive
from .macro import SramArray

__all__ = ["InstructionMemory", "FetchSignature"]


class FetchSignature(ParamSignature):
    """The front end's fetch, seen from the front end: the word arrives one cycle after en."""

    def __init__(self, *, pc_bits):
        check_positive("PC width", pc_bits)
        super().__init__({"en": Out(1), "pc": Out(pc_bits), "word": In(INSTRUCTION_BITS)}, pc_bits=pc_bits)


class InstructionMemory(wiring.Component):
    def __init__(self, *, words, pc_bits, macro_words, host_addr_bits):
        check_positive("Words", words)
        if words > 1 << pc_bits:
            raise ValueError(f"{words} words need more than {pc_bits} PC bits")
        self.words, self.macro_words = words, macro_words
        super().__init__({
            "fetch": In(FetchSignature(pc_bits=pc_bits)),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = arr = SramArray(kind="1rw", width=INSTRUCTION_BITS, depth=self.words,
                                             granularity=INSTRUCTION_BITS, macro_words=self.macro_words)
        host = self.host
        in_range = host.addr < self.words
        hw = host.we & in_range
        m.d.comb += [
            arr.ce.eq(self.fetch.en | hw | host.re), arr.we.eq(hw),
            arr.addr.eq(Mux(self.fetch.en, self.fetch.pc, host.addr)),
            arr.wmask.eq(hw), arr.wdata.eq(host.wdata),
            self.fetch.word.eq(arr.rdata), host.rdata.eq(arr.rdata),
        ]
        return m
