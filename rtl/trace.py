"""Debug trace: the issue and retire cycle of every instruction of the current frame, by pc.

A cosimulation testbench compares every instruction's issue and retire cycle with the golden
model. Waking Python on every clock to watch the strobes would dominate the run time, so the
NPU writes the cycles into this memory instead and the host reads it after `done`, four pcs per
256-bit host row. Entry layout (64 bits): issue cycle in bits 0..31, retire cycle in bits
32..63. Entries of pcs that did not run in the frame keep their old contents; pcs at or beyond
`depth` are not recorded.

The issue port also writes the retire cycle of a control instruction (it retires in its issue
cycle); compute instructions write theirs from the end of the lane pipeline, so the recorded
retire cycle is the cycle the last write really happened, not a prediction.
"""
from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from .layout import CYCLE_BITS, HOST_DATA_BITS, TRACE_ENTRIES_PER_ROW, check_positive
from .sram import HostPortSignature

__all__ = ["TraceMemory"]

_SLOT_BITS = ceil_log2(TRACE_ENTRIES_PER_ROW)


class TraceMemory(wiring.Component):
    def __init__(self, *, depth, pc_bits, host_addr_bits):
        check_positive("Depth", depth)
        check_positive("PC width", pc_bits)
        self.depth = depth
        self.rows = max(1, -(-depth // TRACE_ENTRIES_PER_ROW))
        super().__init__({
            "issue_en": In(1), "issue_pc": In(pc_bits), "issue_cycle": In(CYCLE_BITS),
            "issue_retires": In(1),
            "retire_en": In(1), "retire_pc": In(pc_bits), "retire_cycle": In(CYCLE_BITS),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=HOST_DATA_BITS, depth=self.rows, init=[])

        # Granules of 32 bits: entry e has its issue cycle in granule 2e, retire in 2e+1.
        iport = mem.write_port(granularity=CYCLE_BITS)
        slot = self.issue_pc[:_SLOT_BITS]
        mask = Mux(self.issue_retires, 0b11, 0b01)
        m.d.comb += [
            iport.addr.eq(self.issue_pc >> _SLOT_BITS),
            iport.data.eq(Cat(*([self.issue_cycle, self.issue_cycle] * TRACE_ENTRIES_PER_ROW))),
            iport.en.eq(Mux(self.issue_en & (self.issue_pc < self.depth), mask << (slot * 2), 0)),
        ]
        rport = mem.write_port(granularity=CYCLE_BITS)
        slot = self.retire_pc[:_SLOT_BITS]
        m.d.comb += [
            rport.addr.eq(self.retire_pc >> _SLOT_BITS),
            rport.data.eq(Cat(*([self.retire_cycle] * (2 * TRACE_ENTRIES_PER_ROW)))),
            rport.en.eq(Mux(self.retire_en & (self.retire_pc < self.depth), 0b10 << (slot * 2), 0)),
        ]
        hport = mem.read_port()
        m.d.comb += [hport.addr.eq(self.host.addr), hport.en.eq(self.host.re),
                     self.host.rdata.eq(hport.data)]
        return m
