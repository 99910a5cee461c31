"""Instruction memory: one 256-bit instruction word per row, `pc` counts rows.

One synchronous read port for the front end's fetch, and one write and one read port of whole
rows for the host (a host row is exactly one instruction word).
"""
from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import INSTRUCTION_BITS

from .layout import ParamSignature, check_positive
from .sram import HostPortSignature

__all__ = ["InstructionMemory", "FetchSignature"]


class FetchSignature(ParamSignature):
    """The front end's fetch, seen from the front end: the word arrives one cycle after en."""

    def __init__(self, *, pc_bits):
        check_positive("PC width", pc_bits)
        super().__init__({"en": Out(1), "pc": Out(pc_bits), "word": In(INSTRUCTION_BITS)}, pc_bits=pc_bits)


class InstructionMemory(wiring.Component):
    def __init__(self, *, words, pc_bits, host_addr_bits):
        check_positive("Words", words)
        if words > 1 << pc_bits:
            raise ValueError(f"{words} words need more than {pc_bits} PC bits")
        self.words = words
        super().__init__({
            "fetch": In(FetchSignature(pc_bits=pc_bits)),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=INSTRUCTION_BITS, depth=self.words, init=[])
        fetch = mem.read_port()
        m.d.comb += [fetch.addr.eq(self.fetch.pc), fetch.en.eq(self.fetch.en),
                     self.fetch.word.eq(fetch.data)]
        wport = mem.write_port()
        m.d.comb += [wport.addr.eq(self.host.addr), wport.data.eq(self.host.wdata),
                     wport.en.eq(self.host.we & (self.host.addr < self.words))]
        rport = mem.read_port()
        m.d.comb += [rport.addr.eq(self.host.addr), rport.en.eq(self.host.re),
                     self.host.rdata.eq(rport.data)]
        return m
