"""The top-k unit: D-GRU's select gate (docs/isa.md `topk`, "Indexed loops").

An insertion queue of `entries` (value, step) registers, kept sorted by value, largest first. A
`topk` instruction resets it as it issues (it is a fence: nothing of an earlier `topk` is still
in flight) and then offers one value per cycle, at the lane pipeline's write stage: every entry
compares itself with the new value (a comparator per entry), the entries from the first smaller
one on move down one place (the last falls off) and the new value takes the freed place, so ties
keep their order and the smaller step stays ahead. The steps are counted here: the values
arrive in step order. An empty entry reads as step 0.

The index registers are read by the loop unit of the front end (`read_sel` -> `read_step`, one
read port, a mux over the entries), and `bound` tells the decoder how far an index can reach:
the steps of the last `topk` (its r), 1 before any in the frame. Everything is cleared at every
frame start.

Cost: `entries` x (16-bit value + 16-bit step + valid) flip-flops and `entries` 16-bit
comparators; `topk_entries = 0` builds none of it.
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import FIELD_BY_NAME

from .layout import ELEM_BITS, check_positive

__all__ = ["TopKUnit", "STEP_BITS"]

#: A step of a `topk` (its r field's width).
STEP_BITS = FIELD_BY_NAME["r"].bits


class TopKUnit(wiring.Component):
    def __init__(self, *, entries):
        check_positive("Top-k entries", entries)
        self.entries = entries
        super().__init__({
            "clear": In(1),                     # frame start
            "start": In(1), "start_r": In(STEP_BITS),   # a topk issues (its r)
            "push": In(1), "value": In(signed(ELEM_BITS)),   # a value arrives (write stage)
            "read_sel": In(range(entries)), "read_step": Out(STEP_BITS),
            "bound": Out(STEP_BITS + 1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.entries
        tk_value = [Signal(signed(ELEM_BITS), name=f"tk_value{i}") for i in range(n)]
        tk_step = [Signal(STEP_BITS, name=f"tk_step{i}") for i in range(n)]
        tk_valid = Signal(n)
        tk_count = Signal(STEP_BITS)
        tk_bound = Signal(STEP_BITS + 1, init=1)
        # keep[i]: entry i stays where it is (it is at least the new value)
        keep = Signal(n)
        m.d.comb += keep.eq(Cat(*[tk_valid[i] & (tk_value[i] >= self.value) for i in range(n)]))
        with m.If(self.clear):
            m.d.sync += [tk_valid.eq(0), tk_count.eq(0), tk_bound.eq(1)]
        with m.Elif(self.start):
            m.d.sync += [tk_valid.eq(0), tk_count.eq(0), tk_bound.eq(self.start_r)]
        with m.Elif(self.push):
            m.d.sync += tk_count.eq(tk_count + 1)
            for i in range(n):
                here = keep[i - 1] if i else 1      # the first entry the new value beats
                with m.If(~keep[i]):
                    with m.If(here):
                        m.d.sync += [tk_value[i].eq(self.value), tk_step[i].eq(tk_count), tk_valid[i].eq(1)]
                    with m.Else():
                        m.d.sync += [tk_value[i].eq(tk_value[i - 1]), tk_step[i].eq(tk_step[i - 1]),
                                     tk_valid[i].eq(tk_valid[i - 1])]
        step = 0
        for i in range(n):
            step = Mux(self.read_sel == i, Mux(tk_valid[i], tk_step[i], 0), step)
        m.d.comb += [self.read_step.eq(step), self.bound.eq(tk_bound)]
        return m
