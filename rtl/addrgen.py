"""Address generator of one operand: the byte address every lane uses in the current step.

    X(s, l) = X.base + s * X.rstride + l * X.lstride

Rather than multiply in every step, each lane keeps its current address in a register: `load`
sets it to base + l * lstride (step 0; l is a constant, so this is a shift-and-add) and `step`
adds rstride. Addresses are kept modulo 2**ADDR_BITS; a legal instruction never leaves its
buffer, so the wrap is never seen (the fault checks stop an instruction that would).
"""
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import FIELD_BY_NAME

from .layout import ADDR_BITS, check_positive

__all__ = ["AddressGenerator"]

_STRIDE = signed(FIELD_BY_NAME["a_rstride"].bits)


class AddressGenerator(wiring.Component):
    def __init__(self, *, lanes):
        check_positive("Lanes", lanes)
        self.lanes = lanes
        super().__init__({
            "load": In(1), "base": In(ADDR_BITS), "lstride": In(_STRIDE), "rstride": In(_STRIDE),
            "step": In(1),
            "addr": Out(ADDR_BITS).array(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        ag_rstride = Signal(_STRIDE)
        ag_addr = [Signal(ADDR_BITS, name=f"ag_addr{lane}") for lane in range(self.lanes)]
        with m.If(self.load):
            m.d.sync += ag_rstride.eq(self.rstride)
            m.d.sync += [a.eq(self.base + lane * self.lstride) for lane, a in enumerate(ag_addr)]
        with m.Elif(self.step):
            m.d.sync += [a.eq(a + ag_rstride) for a in ag_addr]
        m.d.comb += [self.addr[lane].eq(a) for lane, a in enumerate(ag_addr)]
        return m
