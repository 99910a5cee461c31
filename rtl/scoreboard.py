"""Read-after-write hazard scoreboard (docs/timing.md rule 3).

A compute instruction may not issue until every earlier instruction whose destination footprint
overlaps the footprint of its A or B has retired. Every issued instruction occupies the issue
stage for at least one cycle and retires at most `PIPELINE_LATENCY` cycles after its last issue
cycle, so when instruction i is considered (at or after e(i)) only i-1 .. i-PIPELINE_LATENCY can
still be in flight: a ring of `PIPELINE_LATENCY` entries, one pushed per issued instruction
(entries of instructions that write nothing are pushed invalid), is exact.

An entry blocks a query while it is valid, its footprint intersects the queried one in the same
buffer, and the current frame cycle is not past its retire cycle.
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.timing import PIPELINE_LATENCY

from .layout import ADDR_BITS, CYCLE_BITS

__all__ = ["Scoreboard", "SCOREBOARD_ENTRIES"]

SCOREBOARD_ENTRIES = PIPELINE_LATENCY

_entry = data.StructLayout({
    "valid": 1, "buf": 2, "lo": ADDR_BITS, "hi": ADDR_BITS, "retire": CYCLE_BITS,
})


def _range():
    return data.StructLayout({"en": 1, "buf": 2, "lo": ADDR_BITS, "hi": ADDR_BITS})


class Scoreboard(wiring.Component):
    """clear: forget everything (frame start). push: one instruction issued this cycle; its
    destination (push_dst, en = it writes) retires in cycle push_retire. query_a/query_b: the
    source footprints of the instruction waiting to issue; hazard: one of them must wait."""

    clear: In(1)
    cycle: In(CYCLE_BITS)
    push: In(1)
    push_dst: In(_range())
    push_retire: In(CYCLE_BITS)
    query_a: In(_range())
    query_b: In(_range())
    hazard: Out(1)

    def elaborate(self, platform):
        m = Module()
        sb_entries = [Signal(_entry, name=f"sb_entry{i}") for i in range(SCOREBOARD_ENTRIES)]
        sb_ptr = Signal(range(SCOREBOARD_ENTRIES))

        blocks = []
        for i, entry in enumerate(sb_entries):
            live = entry.valid & (entry.retire >= self.cycle)
            for q in (self.query_a, self.query_b):
                blocks.append(live & q.en & (q.buf == entry.buf) &
                              (q.lo <= entry.hi) & (entry.lo <= q.hi))
        m.d.comb += self.hazard.eq(Cat(*blocks).any())

        with m.If(self.clear):
            m.d.sync += sb_ptr.eq(0)
            m.d.sync += [entry.valid.eq(0) for entry in sb_entries]
        with m.Elif(self.push):
            m.d.sync += sb_ptr.eq(Mux(sb_ptr == SCOREBOARD_ENTRIES - 1, 0, sb_ptr + 1))
            with m.Switch(sb_ptr):
                for i, entry in enumerate(sb_entries):
                    with m.Case(i):
                        m.d.sync += [
                            entry.valid.eq(self.push_dst.en),
                            entry.buf.eq(self.push_dst.buf),
                            entry.lo.eq(self.push_dst.lo),
                            entry.hi.eq(self.push_dst.hi),
                            entry.retire.eq(self.push_retire),
                        ]
        return m

