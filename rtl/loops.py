"""The front end's loop unit: the stack of open hardware loops (docs/isa.md "Loops").

It works at fetch: for the pc fetched in a cycle it says which pc to fetch next (the body's
start again when the pc is the end of the innermost open loop and iterations remain, else the
next pc) and the address offsets of the fetched instruction, the sum over the open loops of
iteration x increment, which the decoder adds to the instruction's address fields. The branch
back therefore costs no cycle: the fetch after a body's last instruction is its first one.

A loop is pushed when the issue stage takes its `loop` instruction from the front end, which is
the same cycle in which the instruction after it is fetched; that fetch already sees the new
loop (a one-instruction body redirects at once). An exhausted loop is popped at the fetch of its
last instruction, and so are the loops around it that end at the same pc. The loader guarantees
proper nesting and at most LOOP_DEPTH levels; a push beyond them is ignored.

Per level: start and end pc, count, the iteration being fetched, the increments and the running
offsets (iteration x increment, modulo 2**ADDRESS_BITS).

Indexed loops (`idx`, built when the NPU has a top-k unit): a level's fields named by its `idx`
bits do not run an offset; instead the fetched instruction gets IDX[iteration] x increment, the
iteration going to the top-k unit's read port (`idx_sel`) and its step coming back
(`idx_step`), (`ioffsets`, apart from the `offsets` of the plain loops: the footprints are those of index 0)
and a span, (bound - 1) x increment, by which the decoder widens the footprints
(docs/isa.md "Indexed loops"). Indexed loops do not nest in each other (the loader's rule), so
one multiplier per field serves every level. An indexed `loop` is a fence: the `topk` that
filled the registers has retired before its body is fetched.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import ADDRESS_BITS, FIELD_BY_NAME, LOOP_DEPTH, LOOP_SLOTS

from .layout import check_positive
from .topk import STEP_BITS

__all__ = ["LoopUnit", "SPAN_BITS", "INC_SHAPE"]

#: (bound - 1) x increment: a 16-bit step count times a 22-bit signed increment.
SPAN_BITS = STEP_BITS + FIELD_BY_NAME["a_inc"].bits + 1

_COUNT_BITS = FIELD_BY_NAME["count"].bits
_BODY_BITS = FIELD_BY_NAME["body"].bits
_INC = signed(FIELD_BY_NAME["a_inc"].bits)
INC_SHAPE = _INC


class _Level:
    """The registers of one stack level."""

    def __init__(self, d, pc_bits):
        self.start = Signal(pc_bits, name=f"lp{d}_start")
        self.end = Signal(pc_bits, name=f"lp{d}_end")
        self.count = Signal(_COUNT_BITS, name=f"lp{d}_count")
        self.iter = Signal(_COUNT_BITS, name=f"lp{d}_iter")
        self.inc = [Signal(_INC, name=f"lp{d}_inc_{s[0]}") for s in LOOP_SLOTS]
        self.off = [Signal(ADDRESS_BITS, name=f"lp{d}_off_{s[0]}") for s in LOOP_SLOTS]
        self.idx = Signal(len(LOOP_SLOTS), name=f"lp{d}_idx")


class LoopUnit(wiring.Component):
    """`indexed`: the NPU has a top-k unit (indexed loops; else `push_idx` is ignored)."""

    def __init__(self, *, pc_bits, indexed=False):
        check_positive("PC width", pc_bits)
        self.pc_bits = pc_bits
        self.indexed = indexed
        super().__init__({
            "clear": In(1),
            # The fetch of this cycle.
            "fetch": In(1), "fetch_pc": In(pc_bits),
            "next_pc": Out(pc_bits),
            "offsets": Out(ADDRESS_BITS).array(len(LOOP_SLOTS)),
            "ix_iter": Out(_COUNT_BITS), "ix_inc": Out(_INC).array(len(LOOP_SLOTS)),
            # A loop instruction taken by the issue stage this cycle.
            "push": In(1), "push_pc": In(pc_bits), "push_count": In(_COUNT_BITS), "push_body": In(_BODY_BITS),
            "push_inc": In(_INC).array(len(LOOP_SLOTS)), "push_idx": In(len(LOOP_SLOTS)),
        })

    def elaborate(self, platform):
        m = Module()
        levels = [_Level(d, self.pc_bits) for d in range(LOOP_DEPTH)]
        lp_depth = Signal(range(LOOP_DEPTH + 1))

        # The stack as the fetch of this cycle sees it: with the loop being pushed now on top.
        lp_push = Signal()
        m.d.comb += lp_push.eq(self.push & (lp_depth < LOOP_DEPTH))
        view_depth = Signal(range(LOOP_DEPTH + 1))
        m.d.comb += view_depth.eq(lp_depth + lp_push)
        views = []
        for d, lv in enumerate(levels):
            new = lp_push & (lp_depth == d)
            views.append({
                "start": Mux(new, self.push_pc + 1, lv.start),
                "end": Mux(new, self.push_pc + self.push_body, lv.end),
                "count": Mux(new, self.push_count, lv.count),
                "iter": Mux(new, 0, lv.iter),
                "inc": [Mux(new, pi, i) for pi, i in zip(self.push_inc, lv.inc)],
                "off": [Mux(new, 0, o) for o in lv.off],
                "idx": Mux(new, self.push_idx if self.indexed else 0, lv.idx),
                "new": new,
            })

        # Offsets of the instruction fetched now: every open level's; an open indexed level's
        # iteration and indexed increments.
        ix_sel, ix_inc = 0, [0] * len(LOOP_SLOTS)      # the open indexed level's iteration, increments
        for d, v in enumerate(views):
            on = (view_depth > d) & (v["idx"] != 0)
            ix_inc = [Mux(on & v["idx"][j], v["inc"][j], inc) for j, inc in enumerate(ix_inc)]
            ix_sel = Mux(on, v["iter"], ix_sel)
        for j in range(len(LOOP_SLOTS)):
            total = 0
            for d, v in enumerate(views):
                total = total + Mux(view_depth > d, v["off"][j], 0)
            m.d.comb += self.offsets[j].eq(total)
        if self.indexed:
            m.d.comb += [self.ix_iter.eq(ix_sel), *[o.eq(i) for o, i in zip(self.ix_inc, ix_inc)]]

        # Innermost first: a level decides only if every level inside it ends here and is done.
        redirect = []
        pops = []
        reach = 1
        for d in reversed(range(LOOP_DEPTH)):
            v = views[d]
            active = view_depth > d
            at_end = active & (self.fetch_pc == v["end"])
            more = (v["iter"] + 1) < v["count"]
            lp_redirect = Signal(name=f"lp{d}_redirect")
            lp_pop = Signal(name=f"lp{d}_pop")
            m.d.comb += [lp_redirect.eq(reach & at_end & more), lp_pop.eq(reach & at_end & ~more)]
            redirect.append((d, lp_redirect))
            pops.append((d, lp_pop))
            reach = reach & (~active | lp_pop)

        next_pc = self.fetch_pc + 1
        for d, lp_redirect in redirect:
            next_pc = Mux(lp_redirect, views[d]["start"], next_pc)
        m.d.comb += self.next_pc.eq(next_pc)
        new_depth = view_depth
        for d, lp_pop in pops:                    # innermost first: the outermost pop wins
            new_depth = Mux(lp_pop, d, new_depth)

        with m.If(self.clear):
            m.d.sync += lp_depth.eq(0)
        with m.Else():
            with m.If(self.fetch):
                m.d.sync += lp_depth.eq(new_depth)
            with m.Elif(lp_push):
                m.d.sync += lp_depth.eq(view_depth)
            for d, lv in enumerate(levels):
                v = views[d]
                advance = self.fetch & dict(redirect)[d]
                with m.If(v["new"] | advance):
                    m.d.sync += [lv.start.eq(v["start"]), lv.end.eq(v["end"]), lv.count.eq(v["count"])]
                    m.d.sync += [i.eq(vi) for i, vi in zip(lv.inc, v["inc"])]
                    m.d.sync += [lv.idx.eq(v["idx"]), lv.iter.eq(Mux(advance, v["iter"] + 1, v["iter"]))]
                    m.d.sync += [o.eq(Mux(advance & ~v["idx"][j], vo + vi, vo))
                                 for j, (o, vo, vi) in enumerate(zip(lv.off, v["off"], v["inc"]))]
        return m
