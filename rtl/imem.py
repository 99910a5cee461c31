"""Instruction memory: one 256-bit instruction word per row, `pc` counts rows.

One synchronous read port for the front end's fetch, and one write and one read port of whole
rows for the host (a host row is exactly one instruction word).
"""
from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import INSTRUCTION_BITS

from .sram import HostPort

__all__ = ["InstructionMemory", "FetchPort"]


def FetchPort(pc_bits):
    """The front end's fetch, seen from the front end: the word arrives one cycle after en."""
    return wiring.Signature({"en": Out(1), "pc": Out(pc_bits), "word": In(INSTRUCTION_BITS)})


class InstructionMemory(wiring.Component):
    def __init__(self, words, *, pc_bits, host_addr_bits):
        self.words = words
        super().__init__({
            "fetch": In(FetchPort(pc_bits)),
            "host": In(HostPort(host_addr_bits)),
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
