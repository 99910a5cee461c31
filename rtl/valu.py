"""The vector ALU: the element-wise operations add, sub, mul, max, min and mov, plus the bias.

Stage 1 computes op(A, B) per lane (exact: int16 products fit 32 bits); stage 2 adds the
record's bias and wraps the result to `acc_bits` (docs/isa.md "Arithmetic" step 1). The result
is registered for stage 3, in step with the MAC array's ACC registers, so the post-processing
sees one accumulator value per lane whatever the opcode. Element-wise operations never touch
the ACC registers.

A `mul` with `b_exp` reads B as a block-float scale: A times its 12-bit mantissa, and its 4-bit
exponent travels beside the result (`exp`, stage 3) to lengthen the requantisation shift.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.isa import RSQRT_EXP_BITS, RSQRT_MANT_BITS, Opcode

from .layout import ELEM_BITS, OpcodeShape, check_positive

__all__ = ["VectorAlu"]

_OP_BITS = 2 * ELEM_BITS
_BIAS_BITS = 32


class VectorAlu(wiring.Component):
    def __init__(self, *, lanes, acc_bits):
        check_positive("Lanes", lanes)
        check_positive("Accumulator width", acc_bits)
        self.lanes = lanes
        self.acc_bits = acc_bits
        super().__init__({
            "s1_opcode": In(OpcodeShape),
            "s1_b_exp": In(1),
            "s1_a": In(signed(ELEM_BITS)).array(lanes),
            "s1_b": In(signed(ELEM_BITS)).array(lanes),
            "s1_bias": In(signed(_BIAS_BITS)).array(lanes),
            "acc": Out(signed(acc_bits)).array(lanes),   # stage 3
            "exp": Out(RSQRT_EXP_BITS).array(lanes),       # stage 3: b_exp's exponent, else 0
        })

    def elaborate(self, platform):
        m = Module()
        for lane in range(self.lanes):
            a, b = self.s1_a[lane], self.s1_b[lane]
            alu_s1_res = Signal(signed(_OP_BITS), name=f"alu_s1_res{lane}")
            with m.Switch(self.s1_opcode):
                with m.Case(Opcode.ADD):
                    m.d.comb += alu_s1_res.eq(a + b)
                with m.Case(Opcode.SUB):
                    m.d.comb += alu_s1_res.eq(a - b)
                with m.Case(Opcode.MUL):
                    mant = b.as_unsigned()[:RSQRT_MANT_BITS]
                    m.d.comb += alu_s1_res.eq(Mux(self.s1_b_exp, a * mant, a * b))
                with m.Case(Opcode.MAX):
                    m.d.comb += alu_s1_res.eq(Mux(a > b, a, b))
                with m.Case(Opcode.MIN):
                    m.d.comb += alu_s1_res.eq(Mux(a < b, a, b))
                with m.Default():   # mov (and anything that is not element-wise: unused)
                    m.d.comb += alu_s1_res.eq(a)
            alu_s2_res = Signal(signed(_OP_BITS), name=f"alu_s2_res{lane}")
            alu_s2_bias = Signal(signed(_BIAS_BITS), name=f"alu_s2_bias{lane}")
            alu_s3_acc = Signal(signed(self.acc_bits), name=f"alu_s3_acc{lane}")
            m.d.sync += [alu_s2_res.eq(alu_s1_res), alu_s2_bias.eq(self.s1_bias[lane]),
                         alu_s3_acc.eq(alu_s2_res + alu_s2_bias)]   # truncation = wrap
            m.d.comb += self.acc[lane].eq(alu_s3_acc)
            alu_s2_exp = Signal(RSQRT_EXP_BITS, name=f"alu_s2_exp{lane}")
            alu_s3_exp = Signal(RSQRT_EXP_BITS, name=f"alu_s3_exp{lane}")
            m.d.sync += [alu_s2_exp.eq(Mux(self.s1_b_exp, b.as_unsigned()[RSQRT_MANT_BITS:], 0)),
                         alu_s3_exp.eq(alu_s2_exp)]
            m.d.comb += self.exp[lane].eq(alu_s3_exp)
        return m
