"""The N-lane MAC array: per-lane multiply and accumulate into the lane's ACC register.

Stage 1 multiplies A by B (int16 x int16, exact in 32 bits); stage 2 adds the product to the
lane's start value: on a MAC's first step the record's bias (`acc_in = 0`) or the ACC register
left by the previous MAC (`acc_in = 1`, the concat-without-copy pattern), on later steps the
running ACC. The sum wraps to `acc_bits` two's complement, which is the same as wrapping the
exact sum once at the end. ACC is only ever written by MAC steps of active lanes, so element-wise
instructions between a MAC with `acc_out = 1` and one with `acc_in = 1` leave it alone; it is
cleared at every frame start (docs/isa.md "Machine state").

The ACC registers are the output: after a MAC's last step has been accumulated they hold its
result, in stage 3, where the post-processing picks them up.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .layout import ELEM_BITS, check_positive

__all__ = ["MacArray"]

_PROD_BITS = 2 * ELEM_BITS
_BIAS_BITS = 32


class MacArray(wiring.Component):
    def __init__(self, *, lanes, acc_bits):
        check_positive("Lanes", lanes)
        check_positive("Accumulator width", acc_bits)
        self.lanes = lanes
        self.acc_bits = acc_bits
        super().__init__({
            "clear": In(1),
            # Stage 1.
            "s1_en": In(lanes),         # MAC step, lane active
            "s1_first": In(1),
            "s1_acc_in": In(1),
            "s1_a": In(signed(ELEM_BITS)).array(lanes),
            "s1_b": In(signed(ELEM_BITS)).array(lanes),
            "s1_bias": In(signed(_BIAS_BITS)).array(lanes),
            # Stage 3: the ACC registers.
            "acc": Out(signed(acc_bits)).array(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        mac_s2_en = Signal(self.lanes)
        mac_s2_from_bias = Signal()
        m.d.sync += [mac_s2_en.eq(self.s1_en),
                     mac_s2_from_bias.eq(self.s1_first & ~self.s1_acc_in)]
        for lane in range(self.lanes):
            mac_s2_prod = Signal(signed(_PROD_BITS), name=f"mac_s2_prod{lane}")
            mac_s2_bias = Signal(signed(_BIAS_BITS), name=f"mac_s2_bias{lane}")
            mac_acc = Signal(signed(self.acc_bits), name=f"mac_acc{lane}")
            m.d.sync += [mac_s2_prod.eq(self.s1_a[lane] * self.s1_b[lane]),
                         mac_s2_bias.eq(self.s1_bias[lane])]
            mac_s2_sum = Signal(signed(self.acc_bits), name=f"mac_s2_sum{lane}")
            m.d.comb += mac_s2_sum.eq(Mux(mac_s2_from_bias, mac_s2_bias, mac_acc) + mac_s2_prod)
            with m.If(self.clear):
                m.d.sync += mac_acc.eq(0)
            with m.Elif(mac_s2_en[lane]):
                m.d.sync += mac_acc.eq(mac_s2_sum)
            m.d.comb += self.acc[lane].eq(mac_acc)
        return m
