"""Front end: instruction fetch from imem and decode, one instruction per cycle ahead of issue.

    cycle 0   fetch: pc 0 to the imem read port (frame start)
    cycle 1   the word arrives in the fetch register; decode and fault checks (combinational)
    cycle 2   the sequencer holds pc 0: it may issue (FETCH_LATENCY = 2)

The fetch register is a one-entry buffer: it refills whenever the sequencer takes the decoded
instruction, so the sequencer always finds the next instruction waiting when the current one
ends, and the front end never starves issue (docs/timing.md). A FETCH_LATENCY above 2 is met by
holding back the first fetch.

The next pc comes from the loop unit (`loops.LoopUnit`): the pc after, or the start of a loop
body again after its last instruction, decided at fetch so that the branch back costs nothing.
Each fetched word is registered with the loop offsets of its fetch, which the decoder adds to
the word's address fields: the decoded instruction is the instance the loops make of it.

The decoder is part of the front end: every fault check of docs/isa.md happens here, one cycle
before the instruction can issue; the sequencer acts on the resulting fault code.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from amaranth.lib import data

from npu_model.arch.config import NpuConfig
from npu_model.arch.isa import ADDRESS_BITS, LOOP_SLOTS, Format, Opcode
from npu_model.arch.timing import FETCH_LATENCY

from .decoder import DecodedSignature, Decoder
from .imem import FetchSignature
from .layout import CYCLE_BITS, ParamSignature, check_config, instruction_layout
from .loops import INC_SHAPE, LoopUnit
from .topk import STEP_BITS

__all__ = ["Frontend", "InstructionStreamSignature", "FETCH_STAGES"]

#: Cycles the fetch/decode structure needs from frame start to issue (fetch, decode).
FETCH_STAGES = 2
if FETCH_LATENCY < FETCH_STAGES:
    raise ImportError(f"FETCH_LATENCY = {FETCH_LATENCY} is shorter than the front end's "
                      f"{FETCH_STAGES} stages")


class InstructionStreamSignature(ParamSignature):
    """Decoded instructions from the front end to the issue stage, seen from the front end: the
    instruction at `pc` is `payload` while `valid`; it is taken in a cycle with `ready`."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        super().__init__({
            "valid": Out(1), "pc": Out(config.pc_bits), "payload": Out(DecodedSignature(config=config)),
            "ready": In(1),
        }, config=config)


class Frontend(wiring.Component):
    """With a top-k unit (`topk_entries`), `idx_sel` / `idx_step` read its index registers for the
    loop unit and `bound` says how far they reach (`topk.TopKUnit`)."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        self.config = config
        members = {
            "frame_start": In(1),
            "running": In(1),
            "cycle": In(CYCLE_BITS),
            "imem": Out(FetchSignature(pc_bits=config.pc_bits)),
            "insn": Out(InstructionStreamSignature(config=config)),
        }
        if config.topk_entries:
            members.update({"idx_sel": Out(range(config.topk_entries)), "idx_step": In(STEP_BITS),
                            "bound": In(STEP_BITS + 1)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.decoder = dec = Decoder(config=cfg)
        m.submodules.loops = lu = LoopUnit(pc_bits=cfg.pc_bits, indexed=bool(cfg.topk_entries))

        fe_fetch_pc = Signal(cfg.pc_bits)
        fe_valid = Signal()
        fe_pc = Signal(cfg.pc_bits)
        fe_off = [Signal(ADDRESS_BITS, name=f"fe_off_{s[0]}") for s in LOOP_SLOTS]
        fe_ix_iter = Signal.like(lu.ix_iter, name="fe_ix_iter")
        fe_ix_inc = [Signal(INC_SHAPE, name=f"fe_ix_inc_{s[0]}") for s in LOOP_SLOTS]
        fe_fetch = Signal()
        fe_may_fetch = self.running & (~fe_valid | self.insn.ready)
        if FETCH_LATENCY > FETCH_STAGES:
            fe_may_fetch &= self.cycle >= FETCH_LATENCY - FETCH_STAGES
        m.d.comb += fe_fetch.eq(fe_may_fetch)
        m.d.comb += [self.imem.pc.eq(fe_fetch_pc), self.imem.en.eq(fe_fetch)]
        with m.If(self.frame_start):
            m.d.sync += [fe_fetch_pc.eq(0), fe_valid.eq(0)]
        with m.Elif(fe_fetch):
            m.d.sync += [fe_valid.eq(1), fe_pc.eq(fe_fetch_pc), fe_fetch_pc.eq(lu.next_pc)]
            m.d.sync += [o.eq(lo) for o, lo in zip(fe_off, lu.offsets)]
            m.d.sync += [fe_ix_iter.eq(lu.ix_iter), *[o.eq(i) for o, i in zip(fe_ix_inc, lu.ix_inc)]]
        with m.Elif(self.insn.ready):
            m.d.sync += fe_valid.eq(0)

        # A loop instruction enters the loop unit when the issue stage takes it.
        loop_word = data.View(instruction_layout(Format.LOOP), self.imem.word)
        m.d.comb += [
            lu.clear.eq(self.frame_start),
            lu.fetch.eq(fe_fetch),
            lu.fetch_pc.eq(fe_fetch_pc),
            lu.push.eq(fe_valid & self.insn.ready & (loop_word.opcode == Opcode.LOOP)),
            lu.push_pc.eq(fe_pc),
            lu.push_count.eq(loop_word.count),
            lu.push_body.eq(loop_word.body),
            lu.push_idx.eq(loop_word.idx),
        ]
        m.d.comb += [lu.push_inc[j].eq(loop_word[f"{s[0]}_inc"]) for j, s in enumerate(LOOP_SLOTS)]

        wiring.connect(m, dec.insn, wiring.flipped(self.insn.payload))
        m.d.comb += [
            dec.word.eq(self.imem.word),
            self.insn.valid.eq(fe_valid),
            self.insn.pc.eq(fe_pc),
        ]
        m.d.comb += [dec.offsets[j].eq(o) for j, o in enumerate(fe_off)]
        if cfg.topk_entries:
            # An indexed loop's index term, read from the top-k unit while the instruction is
            # decoded: the indexed `loop` is a fence, so by the time its body instructions are
            # taken (the loop has issued) the topk that filled the registers has retired.
            m.d.comb += self.idx_sel.eq(fe_ix_iter)
            for j, inc in enumerate(fe_ix_inc):
                m.d.comb += [dec.ioffsets[j].eq(self.idx_step * inc), dec.spans[j].eq((self.bound - 1) * inc)]
        return m
