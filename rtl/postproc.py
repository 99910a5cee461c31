"""Post-processing of one accumulator per lane: requantise, activate, saturate (stages 3 and 4).

docs/isa.md "Arithmetic" steps 3 to 5:

    y = (acc * mult + 2**(shift-1)) >> shift    (shift > 0, arithmetic: round half up)
    y = acc * mult                              (shift = 0)
    relu: y = max(y, 0)
    lut:  y = LUT[lut_base + clamp(y, -2**(k-1), 2**(k-1)-1) + 2**(k-1)]
    saturate y to int8 or int16
    rsqrt: v = clamp(y, 1, 2**31-1), e = floor(log2 v) // 2,
           y = e << 12 | LUT[lut_base + (v << (k-2) >> 2e)] & 0xfff   (not saturated)

A `mul` with `b_exp` adds B's exponent (`s3_exp`) to the record's shift.

The rounding shift is computed as ((p >> (shift-1)) + 1) >> 1, which equals
floor((p + 2**(shift-1)) / 2**shift) for every integer p and needs no 2**62 constant; every
value stays exact (acc_bits + 17 bits), so a shift past the product's width correctly gives 0
or -1 before rounding.

Stage 3 computes y and the LUT index and presents it to the LUT unit; stage 4 takes the table
entry (or the saturated y) and saturates it to the destination type for the write port.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from npu_model.arch.isa import FIELD_BY_NAME, RSQRT_EXP_BITS, RSQRT_LOG2_MIN, RSQRT_MANT_BITS, Act, DType
from npu_model.arch.record import SHIFT_BITS

from .layout import ELEM_BITS, check_positive

__all__ = ["PostProcess", "saturate"]

_MULT_BITS = 16


def saturate(value, dtype):
    """Clamp a signed value to int8 (dtype = I8) or int16 (I16); returns a 16-bit value."""
    lo = Mux(dtype == DType.I16, DType.I16.min, DType.I8.min)
    hi = Mux(dtype == DType.I16, DType.I16.max, DType.I8.max)
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


class PostProcess(wiring.Component):
    def __init__(self, *, lanes, acc_bits, lut_entries):
        check_positive("Lanes", lanes)
        check_positive("Accumulator width", acc_bits)
        check_positive("LUT entries", lut_entries)
        self.lanes = lanes
        self.acc_bits = acc_bits
        self.lut_entries = lut_entries
        idx_bits = max(1, ceil_log2(lut_entries))
        super().__init__({
            # Stage 3.
            "s3_en": In(lanes),
            "s3_acc": In(signed(acc_bits)).array(lanes),
            "s3_mult": In(signed(_MULT_BITS)).array(lanes),
            "s3_shift": In(SHIFT_BITS).array(lanes),
            "s3_exp": In(RSQRT_EXP_BITS).array(lanes),
            "s3_act": In(FIELD_BY_NAME["act"].bits),
            "s3_lut_base": In(FIELD_BY_NAME["lut_base"].bits),
            "s3_lut_log2": In(FIELD_BY_NAME["lut_log2"].bits),
            "s3_dtype": In(1),
            "s3_lut_en": Out(lanes),
            "s3_lut_index": Out(idx_bits).array(lanes),
            # Stage 4.
            "s4_lut_data": In(signed(ELEM_BITS)).array(lanes),
            "s4_data": Out(signed(ELEM_BITS)).array(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        prod_bits = self.acc_bits + _MULT_BITS
        pp_s4_use_lut = Signal()
        pp_s4_rsqrt = Signal()
        pp_s4_dtype = Signal()
        m.d.sync += [pp_s4_use_lut.eq(self.s3_act == Act.LUT), pp_s4_rsqrt.eq(self.s3_act == Act.RSQRT),
                     pp_s4_dtype.eq(self.s3_dtype)]
        pp_km2 = Signal(FIELD_BY_NAME["lut_log2"].bits)
        m.d.comb += pp_km2.eq(self.s3_lut_log2 - RSQRT_LOG2_MIN)

        # 2**(k-1) for the LUT clamp; k = lut_log2 is 1..14 for a legal instruction.
        pp_km1 = Signal(FIELD_BY_NAME["lut_log2"].bits)
        pp_half = Signal(FIELD_BY_NAME["lut_base"].bits + 1)
        m.d.comb += [pp_km1.eq(self.s3_lut_log2 - 1), pp_half.eq(Const(1, 1) << pp_km1)]

        lut_en = []
        for lane in range(self.lanes):
            pp_prod = Signal(signed(prod_bits), name=f"pp_s3_prod{lane}")
            m.d.comb += pp_prod.eq(self.s3_acc[lane] * self.s3_mult[lane])
            shift = Signal(SHIFT_BITS + 2, name=f"pp_s3_shift{lane}")
            m.d.comb += shift.eq(self.s3_shift[lane] + self.s3_exp[lane])
            pp_shm1 = Signal(SHIFT_BITS + 2, name=f"pp_s3_shm1_{lane}")
            m.d.comb += pp_shm1.eq(shift - 1)
            pp_round = Signal(signed(prod_bits + 1), name=f"pp_s3_round{lane}")
            m.d.comb += pp_round.eq(((pp_prod >> pp_shm1) + 1) >> 1)
            pp_y = Signal(signed(prod_bits + 1), name=f"pp_s3_y{lane}")
            m.d.comb += pp_y.eq(Mux(shift == 0, pp_prod, pp_round))
            pp_act = Signal(signed(prod_bits + 1), name=f"pp_s3_act{lane}")
            m.d.comb += pp_act.eq(Mux((self.s3_act == Act.RELU) & (pp_y < 0), 0, pp_y))

            # LUT index: clamp to the k-bit signed range, offset to 0..2**k-1, add the base.
            pp_clamped = Signal(signed(FIELD_BY_NAME["lut_base"].bits + 2), name=f"pp_s3_clamp{lane}")
            m.d.comb += pp_clamped.eq(Mux(pp_y < -pp_half, -pp_half,
                                          Mux(pp_y > pp_half - 1, pp_half - 1, pp_y)))
            # rsqrt: the argument normalised to [1, 4) by an even shift 2e, its top k bits index.
            pp_v = Signal(31, name=f"pp_s3_v{lane}")
            m.d.comb += pp_v.eq(Mux(pp_y < 1, 1, Mux(pp_y > (1 << 31) - 1, (1 << 31) - 1, pp_y)))
            pp_lead = Signal(range(31), name=f"pp_s3_lead{lane}")
            lead = Const(0, range(31))
            for bit in range(1, 31):
                lead = Mux(pp_v[bit], bit, lead)
            m.d.comb += pp_lead.eq(lead)
            pp_e = Signal(RSQRT_EXP_BITS, name=f"pp_s3_e{lane}")
            m.d.comb += pp_e.eq(pp_lead >> 1)
            pp_ridx = Signal(FIELD_BY_NAME["lut_base"].bits, name=f"pp_s3_ridx{lane}")
            m.d.comb += pp_ridx.eq((pp_v << pp_km2) >> Cat(Const(0, 1), pp_e))
            is_rsqrt = self.s3_act == Act.RSQRT
            m.d.comb += self.s3_lut_index[lane].eq(
                self.s3_lut_base + Mux(is_rsqrt, pp_ridx, pp_clamped + pp_half))
            lut_en.append(self.s3_en[lane] & ((self.s3_act == Act.LUT) | is_rsqrt))
            pp_s4_e = Signal(RSQRT_EXP_BITS, name=f"pp_s4_e{lane}")
            m.d.sync += pp_s4_e.eq(pp_e)

            pp_s4_y = Signal(signed(ELEM_BITS), name=f"pp_s4_y{lane}")
            m.d.sync += pp_s4_y.eq(saturate(pp_act, self.s3_dtype))
            m.d.comb += self.s4_data[lane].eq(
                Mux(pp_s4_rsqrt, Cat(self.s4_lut_data[lane][:RSQRT_MANT_BITS], pp_s4_e),
                    Mux(pp_s4_use_lut, saturate(self.s4_lut_data[lane], pp_s4_dtype), pp_s4_y)))
        m.d.comb += self.s3_lut_en.eq(Cat(*lut_en))
        return m
