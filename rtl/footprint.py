"""Footprint of one operand: the byte range [lo, hi] an instruction touches through it.

docs/isa.md "Operands and addressing":

    lo = base + min(0, (r'-1)*rstride) + min(0, (n-1)*lstride)
    hi = base + max(0, (r'-1)*rstride) + max(0, (n-1)*lstride) + size - 1

The result is exact (signed, wide enough for any field values) because the fault checks compare
it against the buffer bounds: a footprint that leaves the buffer must be seen as such, not wrap
back into range. Footprints also drive the hazard scoreboard and the high-water marks.
"""

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import FIELD_BY_NAME, DType

from .loops import SPAN_BITS

__all__ = ["Footprint", "FOOTPRINT_BITS"]

_STRIDE_BITS = FIELD_BY_NAME["a_rstride"].bits
_R_BITS = FIELD_BY_NAME["r"].bits
_N_BITS = FIELD_BY_NAME["n"].bits
_BASE_BITS = FIELD_BY_NAME["a_base"].bits
#: base + (2**16-1) * (+-2**15) + 31 * (+-2**15) + an indexed loop's span (+-2**37) + 1 fits in 40
#: signed bits.
FOOTPRINT_BITS = 40


class Footprint(wiring.Component):
    """Combinational footprint of one operand.

    `steps_m1` is r'-1 (0 for a MAC's destination, r-1 otherwise) and `lanes_m1` is n-1; both are
    taken as unsigned so that callers pass them only when r >= 1 and n >= 1 (otherwise the
    instruction is illegal and the footprint is never used). `span` widens it over an indexed
    loop's indices (docs/isa.md "Indexed loops"): (bound - 1) x the index increment, 0 otherwise.
    """

    base: In(_BASE_BITS)
    rstride: In(signed(_STRIDE_BITS))
    lstride: In(signed(_STRIDE_BITS))
    steps_m1: In(_R_BITS)
    lanes_m1: In(_N_BITS)
    dtype: In(1)
    span: In(signed(SPAN_BITS))
    lo: Out(signed(FOOTPRINT_BITS))
    hi: Out(signed(FOOTPRINT_BITS))

    def elaborate(self, platform):
        m = Module()
        # Exact signed products: (2**16-1) * stride needs 33 bits, (2**5-1) * stride 22 bits.
        fp_rspan = self.steps_m1 * self.rstride
        fp_lspan = self.lanes_m1 * self.lstride
        zero = 0
        fp_rneg = Mux(fp_rspan < 0, fp_rspan, zero)
        fp_rpos = Mux(fp_rspan < 0, zero, fp_rspan)
        fp_lneg = Mux(fp_lspan < 0, fp_lspan, zero)
        fp_lpos = Mux(fp_lspan < 0, zero, fp_lspan)
        fp_last = Mux(self.dtype == DType.I16, DType.I16.size - 1, DType.I8.size - 1)
        fp_sneg = Mux(self.span < 0, self.span, zero)
        fp_spos = Mux(self.span < 0, zero, self.span)
        m.d.comb += [
            self.lo.eq(self.base + fp_rneg + fp_lneg + fp_sneg),
            self.hi.eq(self.base + fp_rpos + fp_lpos + fp_last + fp_spos),
        ]
        return m
