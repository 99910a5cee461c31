"""Debug trace: the issue and retire cycle of every instruction instance of the current frame.

A cosimulation testbench compares every instance's issue and retire cycle with the golden
model. Waking Python on every clock to watch the strobes would dominate the run time, so the
NPU writes the cycles into this memory instead and the host reads it after `done`, four entries
per 256-bit host row. Entry k is the k-th instruction issued in the frame (its sequence number:
a loop body's instructions have one entry per iteration). Entry layout (64 bits): issue cycle in
bits 0..31, retire cycle in bits 32..63. Entries beyond the frame's instances keep their old
contents; instances at or beyond `depth` are not recorded.

This memory exists for verification: it has two write ports, is left out of area figures, and
an NPU built with `trace_depth=0` has none.

The issue port also writes the retire cycle of a control instruction (it retires in its issue
cycle); compute instructions write theirs from the end of the lane pipeline, so the recorded
retire cycle is the cycle the last write really happened, not a prediction.
"""
from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from .layout import CYCLE_BITS, HOST_DATA_BITS, SEQ_BITS, TRACE_ENTRIES_PER_ROW, check_positive
from .databuf import HostPortSignature

__all__ = ["TraceMemory", "MAX_TRACE_DEPTH"]

#: Largest trace memory (entries): more instances than a frame can execute on the golden model.
MAX_TRACE_DEPTH = 1 << 24

_SLOT_BITS = ceil_log2(TRACE_ENTRIES_PER_ROW)


class TraceMemory(wiring.Component):
    def __init__(self, *, depth, host_addr_bits):
        check_positive("Depth", depth)
        self.depth = depth
        self.rows = max(1, -(-depth // TRACE_ENTRIES_PER_ROW))
        super().__init__({
            "issue_en": In(1), "issue_seq": In(SEQ_BITS), "issue_cycle": In(CYCLE_BITS),
            "issue_retires": In(1),
            "retire_en": In(1), "retire_seq": In(SEQ_BITS), "retire_cycle": In(CYCLE_BITS),
            "host": In(HostPortSignature(addr_bits=host_addr_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=HOST_DATA_BITS, depth=self.rows, init=[])

        # Granules of 32 bits: entry e has its issue cycle in granule 2e, retire in 2e+1.
        iport = mem.write_port(granularity=CYCLE_BITS)
        slot = self.issue_seq[:_SLOT_BITS]
        mask = Mux(self.issue_retires, 0b11, 0b01)
        m.d.comb += [
            iport.addr.eq(self.issue_seq >> _SLOT_BITS),
            iport.data.eq(Cat(*([self.issue_cycle, self.issue_cycle] * TRACE_ENTRIES_PER_ROW))),
            iport.en.eq(Mux(self.issue_en & (self.issue_seq < self.depth), mask << (slot * 2), 0)),
        ]
        rport = mem.write_port(granularity=CYCLE_BITS)
        slot = self.retire_seq[:_SLOT_BITS]
        m.d.comb += [
            rport.addr.eq(self.retire_seq >> _SLOT_BITS),
            rport.data.eq(Cat(*([self.retire_cycle] * (2 * TRACE_ENTRIES_PER_ROW)))),
            rport.en.eq(Mux(self.retire_en & (self.retire_seq < self.depth), 0b10 << (slot * 2), 0)),
        ]
        hport = mem.read_port()
        m.d.comb += [hport.addr.eq(self.host.addr), hport.en.eq(self.host.re),
                     self.host.rdata.eq(hport.data)]
        return m
