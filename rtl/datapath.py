"""The lane pipeline from the operand read to the destination write (PIPELINE_LATENCY cycles).

    stage 0  sequencer: lane addresses to the buffers' read ports (the instruction's records
             were read from pbuf at its issue and stay on `s1_rec`)
    stage 1  operands and records arrive; A and B are picked from their buffers (A of a
             conflicting step arrived one cycle earlier and was held);
             MAC array multiplies, vector ALU operates
    stage 2  accumulate (MAC) / add bias (element-wise), wrap to acc_bits
    stage 3  (dot: the adder tree sums the lanes' ACC into lane 0) requantise, ReLU, LUT index
             to the LUT unit
    stage 4  LUT entry arrives; saturate; write port of D (topk: lane 0's value to the top-k
             unit instead); the last beat retires

Stage 4 is the write, so a beat read in cycle c is written in cycle c + 4. A larger
`PIPELINE_LATENCY` is met by delaying the write port; a smaller one cannot be built.
The beat (control word) travels alongside in the `sN_beat` registers. Nothing here stalls:
the issue stage guarantees that every beat may proceed, which is what makes the retire cycle
a fixed function of the issue cycle.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.config import NpuConfig
from npu_model.arch.isa import FIELD_BY_NAME
from npu_model.arch.record import RECORD_BYTES, SHIFT_BITS
from npu_model.arch.timing import PIPELINE_LATENCY

from .layout import ADDR_BITS, ELEM_BITS, SEQ_BITS, BufferShape, check_config, data_buffers, record_layout, register_bundle
from .lut import LutReadSignature
from .mac_array import MacArray
from .postproc import PostProcess
from .sequencer import BeatSignature
from .databuf import ElementWriteSignature
from .valu import VectorAlu

__all__ = ["Datapath", "WRITE_STAGE"]

#: The stage whose cycle is the destination write (see the module docstring).
WRITE_STAGE = 4
if PIPELINE_LATENCY < WRITE_STAGE:
    raise ImportError(f"PIPELINE_LATENCY = {PIPELINE_LATENCY} is shorter than the {WRITE_STAGE} "
                      f"stages the lane pipeline needs")


class Datapath(wiring.Component):
    def __init__(self, *, config: NpuConfig):
        check_config(config)
        self.config = config
        lanes = config.lanes
        n_bufs = len(data_buffers())
        super().__init__({
            "clear": In(1),
            "beat": In(BeatSignature(config=config)),
            # Elements of each data buffer's lane ports, one cycle after their read.
            "rd": In(signed(ELEM_BITS)).array(n_bufs, lanes),
            "s1_rec": In(RECORD_BYTES * 8).array(lanes),
            "lut": Out(LutReadSignature(entries=config.lut_entries)).array(lanes),
            "wr": Out(ElementWriteSignature()).array(lanes),
            "wr_buf": Out(BufferShape),
            "retire": Out(1),
            "retire_pc": Out(config.pc_bits),
            "retire_seq": Out(SEQ_BITS),
            "topk_push": Out(1), "topk_value": Out(signed(ELEM_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        lanes = cfg.lanes
        beat_sig = BeatSignature(config=cfg)
        m.submodules.mac = mac = MacArray(lanes=lanes, acc_bits=cfg.acc_bits)
        m.submodules.valu = valu = VectorAlu(lanes=lanes, acc_bits=cfg.acc_bits)
        m.submodules.post = post = PostProcess(lanes=lanes, acc_bits=cfg.acc_bits, lut_entries=cfg.lut_entries)

        s1_beat = register_bundle(m, beat_sig, self.beat, name="s1_beat")
        s2_beat = register_bundle(m, beat_sig, s1_beat, name="s2_beat")
        s3_beat = register_bundle(m, beat_sig, s2_beat, name="s3_beat")
        s4_beat = register_bundle(m, beat_sig, s3_beat, name="s4_beat")

        # --- stage 1: operand select, records ---------------------------------------------------
        def element(buf, lane):
            """The element of buffer `buf`'s port of `lane`."""
            picked = self.rd[0][lane]
            for i, (code, _name) in enumerate(data_buffers()[1:], start=1):
                picked = Mux(buf == code, self.rd[i][lane], picked)
            return picked

        s1_a = [Signal(signed(ELEM_BITS), name=f"s1_a{lane}") for lane in range(lanes)]
        s1_b = [Signal(signed(ELEM_BITS), name=f"s1_b{lane}") for lane in range(lanes)]
        for lane in range(lanes):
            # A conflicting step read A one cycle before B through the same port: A arrives in
            # the beat's stage-0 cycle and is held for stage 1.
            a_early = Signal(signed(ELEM_BITS), name=f"s1_a_early{lane}")
            m.d.sync += a_early.eq(element(self.beat.a_buf, lane))
            m.d.comb += [s1_a[lane].eq(Mux(s1_beat.conflict, a_early, element(s1_beat.a_buf, lane))),
                         s1_b[lane].eq(element(s1_beat.b_buf, lane))]
        s1_rec = [data.View(record_layout(), self.s1_rec[lane]) for lane in range(lanes)]

        m.d.comb += [
            mac.clear.eq(self.clear),
            mac.s1_en.eq(Mux(s1_beat.valid & s1_beat.is_mac, s1_beat.mask, 0)),
            mac.s1_first.eq(s1_beat.first),
            mac.s1_acc_in.eq(s1_beat.acc_in),
            valu.s1_opcode.eq(s1_beat.opcode),
            valu.s1_b_exp.eq(s1_beat.b_exp),
        ]
        for lane in range(lanes):
            m.d.comb += [
                mac.s1_a[lane].eq(s1_a[lane]), mac.s1_b[lane].eq(s1_b[lane]),
                # a dot starts lane 0 from the bias, the other lanes from 0
                mac.s1_bias[lane].eq(s1_rec[lane].bias if lane == 0 else Mux(s1_beat.is_dot, 0, s1_rec[lane].bias)),
                valu.s1_a[lane].eq(s1_a[lane]), valu.s1_b[lane].eq(s1_b[lane]),
                valu.s1_bias[lane].eq(s1_rec[lane].bias),
            ]

        # Requantisation parameters travel to stage 3.
        for lane in range(lanes):
            s2_mult = Signal(signed(16), name=f"s2_mult{lane}")
            s2_shift = Signal(SHIFT_BITS, name=f"s2_shift{lane}")
            s3_mult = Signal(signed(16), name=f"s3_mult{lane}")
            s3_shift = Signal(SHIFT_BITS, name=f"s3_shift{lane}")
            m.d.sync += [s2_mult.eq(s1_rec[lane].mult), s2_shift.eq(s1_rec[lane].shift[:SHIFT_BITS]),
                         s3_mult.eq(s2_mult), s3_shift.eq(s2_shift)]
            m.d.comb += [post.s3_mult[lane].eq(s3_mult), post.s3_shift[lane].eq(s3_shift)]

        # --- stage 3: post-processing, LUT lookup ----------------------------------------------
        m.d.comb += [
            post.s3_en.eq(Mux(s3_beat.valid & s3_beat.write, s3_beat.wmask, 0)),
            post.s3_act.eq(s3_beat.act),
            post.s3_lut_base.eq(s3_beat.lut_base),
            post.s3_lut_log2.eq(s3_beat.lut_log2),
            post.s3_dtype.eq(s3_beat.d_dtype),
        ]
        # A dot's lanes meet in an adder tree (wrapping to acc_bits like every lane's sum).
        dot_sum = Signal(signed(cfg.acc_bits))
        m.d.comb += dot_sum.eq(sum(Mux(s3_beat.nmask[lane], mac.acc[lane], 0) for lane in range(lanes)))
        for lane in range(lanes):
            acc = Mux(s3_beat.is_dot, dot_sum, mac.acc[lane]) if lane == 0 else mac.acc[lane]
            m.d.comb += [
                post.s3_acc[lane].eq(Mux(s3_beat.is_mac, acc, valu.acc[lane])),
                post.s3_exp[lane].eq(Mux(s3_beat.is_mac, 0, valu.exp[lane])),
                self.lut[lane].en.eq(post.s3_lut_en[lane]),
                self.lut[lane].index.eq(post.s3_lut_index[lane]),
                post.s4_lut_data[lane].eq(self.lut[lane].data),
            ]

        # --- stage 4: write port (delayed if PIPELINE_LATENCY asks for more) ---------------------
        wr_sig = wiring.Signature({
            "en": Out(lanes), "data": Out(ELEM_BITS).array(lanes),
            "addr": Out(ADDR_BITS).array(lanes), "dtype": Out(1),
            "buf": Out(FIELD_BY_NAME["d_buf"].bits), "retire": Out(1), "pc": Out(cfg.pc_bits),
            "seq": Out(SEQ_BITS),
        })
        wr = wr_sig.create(path=("s4_wr",))
        m.d.comb += [
            wr.en.eq(Mux(s4_beat.valid & s4_beat.write, s4_beat.wmask, 0)),
            wr.dtype.eq(s4_beat.d_dtype),
            wr.buf.eq(s4_beat.d_buf),
            wr.retire.eq(s4_beat.valid & s4_beat.last),
            wr.pc.eq(s4_beat.pc),
            wr.seq.eq(s4_beat.seq),
        ]
        for lane in range(lanes):
            m.d.comb += [wr.data[lane].eq(post.s4_data[lane]), wr.addr[lane].eq(s4_beat.d_addr[lane])]
        for extra in range(PIPELINE_LATENCY - WRITE_STAGE):
            wr = register_bundle(m, wr_sig, wr, name=f"wr_delay{extra}")
        for lane in range(lanes):
            m.d.comb += [
                self.wr[lane].en.eq(wr.en[lane]),
                self.wr[lane].addr.eq(wr.addr[lane]),
                self.wr[lane].dtype.eq(wr.dtype),
                self.wr[lane].data.eq(wr.data[lane]),
            ]
        m.d.comb += [self.wr_buf.eq(wr.buf), self.retire.eq(wr.retire), self.retire_pc.eq(wr.pc),
                     self.retire_seq.eq(wr.seq),
                     self.topk_push.eq(s4_beat.valid & s4_beat.is_topk), self.topk_value.eq(post.s4_data[0])]
        return m
