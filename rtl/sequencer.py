"""Issue stage: holds the current instruction, decides when it issues, walks its steps.

This block implements docs/timing.md "Rules" directly:

* The current-instruction register is loaded from the front end in the last cycle of the
  previous instruction, so instruction i is present, and may issue, in cycle e(i).
* A compute instruction issues when the hazard scoreboard reports no in-flight destination
  overlapping its A or B footprint (rule 3); `sync_in`, `sync_out` and `eof` wait until the
  frame cycle is past the retire cycle of every earlier instruction (rule 4); `nop` never waits.
  A waiting cycle counts as a stall cycle.
* It then occupies the stage for occ = r * k cycles (rule 1): one step per cycle, or one step
  every two cycles when A and B are in the same buffer (k = PORT_CONFLICT_FACTOR). A step's
  last operand read is in the last cycle of the step, which is what makes an element-wise write
  of step s land in cycle t + s*k + (k-1) + PIPELINE_LATENCY.
* Each step emits a beat: the control word that travels down the lane pipeline to the write
  port. The read requests go to the buffers' lane ports: A and B in the beat's cycle, except
  that a conflicting step (A and B in one buffer, whose one read port serves them on alternate
  cycles) reads A in its first cycle and B in its second; parameter records with every beat.
* A faulting instruction (its fault code comes from the decoder) stops the NPU in cycle e(i),
  before it issues; instructions already issued drain, then `done` rises with `fault` set.

The frame cycle counter lives here because the scoreboard, the fences and the trace all need it.
"""
import enum

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from npu_model.arch.config import NpuConfig
from npu_model.arch.isa import FIELD_BY_NAME
from npu_model.arch.record import RECORD_BYTES
from npu_model.arch.timing import PIPELINE_LATENCY, PORT_CONFLICT_FACTOR

from .addrgen import AddressGenerator
from .decoder import DecodedSignature
from .frontend import InstructionStreamSignature
from .layout import ADDR_BITS, CYCLE_BITS, FaultShape, bundle_values, check_config, data_buffers, field_shape
from .scoreboard import Scoreboard

__all__ = ["Sequencer", "BeatSignature", "ReadRequestsSignature", "RunState"]

_RECORD_SHIFT = ceil_log2(RECORD_BYTES)

if PORT_CONFLICT_FACTOR != 2:
    raise ImportError(f"PORT_CONFLICT_FACTOR = {PORT_CONFLICT_FACTOR}: the step walker alternates two phases "
                      "per conflicting step")


class RunState(enum.IntEnum):
    IDLE = 0    # between frames: host may access the memories
    RUN = 1     # fetching and issuing
    DRAIN = 2   # stopped on a fault, letting issued instructions retire


def _f(name):
    return field_shape(name)


class BeatSignature(wiring.Signature):
    """One step of one instruction, as it travels from the read (stage 0) to the write port."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        self._config = config
        super().__init__({
            "valid": Out(1),
            "pc": Out(config.pc_bits),
            "first": Out(1),            # step 0: a MAC starts from the bias or ACC
            "conflict": Out(1),         # A was read one cycle before B (same buffer)
            "last": Out(1),             # last step: the instruction retires when this beat is written
            "is_mac": Out(1),
            "opcode": Out(_f("opcode")),
            "mask": Out(config.lanes),  # active lanes (l < n)
            "a_buf": Out(_f("a_buf")),
            "b_buf": Out(_f("b_buf")),
            "write": Out(1),            # this beat writes D
            "d_buf": Out(_f("d_buf")),
            "d_dtype": Out(_f("d_dtype")),
            "d_addr": Out(ADDR_BITS).array(config.lanes),
            "acc_in": Out(1),
            "act": Out(_f("act")),
            "lut_base": Out(_f("lut_base")),
            "lut_log2": Out(_f("lut_log2")),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    def __eq__(self, other):
        return type(other) is type(self) and other.config == self.config

    def __repr__(self):
        return f"BeatSignature(config={self.config!r})"


class ReadRequestsSignature(wiring.Signature):
    """Read requests of one cycle: per data buffer (in `data_buffers()` order) its lane ports'
    enables, element type and addresses, A or B; the parameter records from wbuf."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        self._config = config
        lanes = config.lanes
        n_bufs = len(data_buffers())
        super().__init__({
            "en": Out(lanes).array(n_bufs), "dtype": Out(_f("a_dtype")).array(n_bufs),
            "addr": Out(ADDR_BITS).array(n_bufs, lanes),
            "p_en": Out(lanes), "p_index": Out(ADDR_BITS - _RECORD_SHIFT).array(lanes),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    def __eq__(self, other):
        return type(other) is type(self) and other.config == self.config

    def __repr__(self):
        return f"ReadRequestsSignature(config={self.config!r})"


class Sequencer(wiring.Component):
    def __init__(self, *, config: NpuConfig):
        check_config(config)
        self.config = config
        pcb = config.pc_bits
        super().__init__({
            "start": In(1),
            # Decoded instruction stream from the front end.
            "insn": In(InstructionStreamSignature(config=config)),
            # Run control.
            "frame_start": Out(1), "running": Out(1), "busy": Out(1), "done": Out(1),
            "cycle": Out(CYCLE_BITS),
            "fault": Out(1), "fault_pc": Out(pcb), "fault_code": Out(FaultShape),
            # Stage 0.
            "beat": Out(BeatSignature(config=config)),
            "reads": Out(ReadRequestsSignature(config=config)),
            # Events.
            "issue": Out(1), "issue_pc": Out(pcb), "stall": Out(1),
            "ctl_retire": Out(1),
            "sync_in": Out(1), "sync_out": Out(1), "sync_port": Out(_f("port")),
            "cur": Out(DecodedSignature(config=config)),   # the current instruction (accounting)
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        lanes = cfg.lanes

        m.submodules.scoreboard = sb = Scoreboard()
        agens = {}
        for op in "abd":
            m.submodules[f"agen_{op}"] = agens[op] = AddressGenerator(lanes=lanes)

        seq_state = Signal(RunState)
        seq_cycle = Signal(CYCLE_BITS)
        seq_valid = Signal()
        seq_started = Signal()
        dec_sig = DecodedSignature(config=cfg)
        seq_insn = dec_sig.create(path=("seq_insn",))
        seq_pc = Signal(cfg.pc_bits)
        seq_left = Signal(FIELD_BY_NAME["r"].bits)
        seq_phase = Signal()
        seq_first = Signal()
        seq_last_retire = Signal(CYCLE_BITS)
        seq_done = Signal()
        seq_fault = Signal()
        seq_fault_pc = Signal(cfg.pc_bits)
        seq_fault_code = Signal(FaultShape)

        # `start` is registered before it is used: logic that depends on a top-level input
        # combinationally is re-evaluated by Verilator on every eval() call, so keeping the
        # clear-on-start muxes behind a register keeps them out of that path.
        seq_start_q = Signal()
        m.d.sync += seq_start_q.eq(self.start)

        ins = seq_insn
        running = seq_state == RunState.RUN
        frame_start = seq_start_q & (seq_state == RunState.IDLE)

        # --- issue decision --------------------------------------------------------------------
        seq_waiting = Signal()
        seq_faulting = Signal()
        seq_fence_ok = Signal()
        seq_can_issue = Signal()
        seq_issue = Signal()
        m.d.comb += [
            seq_waiting.eq(running & seq_valid & ~seq_started),
            seq_faulting.eq(seq_waiting & (ins.fault != 0)),
            seq_fence_ok.eq(seq_cycle > seq_last_retire),
            seq_can_issue.eq(Mux(ins.is_ctl, ~ins.fence | seq_fence_ok, ~sb.hazard)),
            seq_issue.eq(seq_waiting & ~seq_faulting & seq_can_issue),
        ]
        seq_active = Signal()
        seq_beat = Signal()
        seq_last_beat = Signal()
        seq_insn_done = Signal()
        m.d.comb += [
            seq_active.eq(running & seq_valid & (seq_started | seq_issue)),
            seq_beat.eq(seq_active & ~ins.is_ctl & (~ins.conflict | seq_phase)),
            seq_last_beat.eq(seq_beat & (seq_left == 1)),
            seq_insn_done.eq(seq_active & (ins.is_ctl | seq_last_beat)),
            self.insn.ready.eq(running & (~seq_valid | seq_insn_done)),
        ]

        # occ = r * k; retire = t + occ - 1 + PIPELINE_LATENCY (rule 6).
        seq_occ = Signal(FIELD_BY_NAME["r"].bits + 1)
        seq_retire = Signal(CYCLE_BITS)
        m.d.comb += [
            seq_occ.eq(Mux(ins.conflict, ins.r * PORT_CONFLICT_FACTOR, ins.r)),
            seq_retire.eq(seq_cycle + seq_occ + (PIPELINE_LATENCY - 1)),
        ]

        # --- scoreboard ------------------------------------------------------------------------
        m.d.comb += [
            sb.clear.eq(frame_start),
            sb.cycle.eq(seq_cycle),
            sb.push.eq(seq_issue),
            sb.push_dst.en.eq(ins.writes),
            sb.push_dst.buf.eq(ins.d_buf),
            sb.push_dst.lo.eq(ins.d_lo),
            sb.push_dst.hi.eq(ins.d_hi),
            sb.push_retire.eq(seq_retire),
            sb.query_a.en.eq(~ins.is_ctl),
            sb.query_a.buf.eq(ins.a_buf),
            sb.query_a.lo.eq(ins.a_lo),
            sb.query_a.hi.eq(ins.a_hi),
            sb.query_b.en.eq(ins.reads_b),
            sb.query_b.buf.eq(ins.b_buf),
            sb.query_b.lo.eq(ins.b_lo),
            sb.query_b.hi.eq(ins.b_hi),
        ]

        # --- current instruction register and step walker ---------------------------------------
        for op, agen in agens.items():
            m.d.comb += [
                agen.load.eq(self.insn.ready),
                agen.base.eq(getattr(self.insn.payload, f"{op}_base")),
                agen.lstride.eq(getattr(self.insn.payload, f"{op}_lstride")),
                agen.rstride.eq(getattr(self.insn.payload, f"{op}_rstride")),
                agen.step.eq(seq_beat),
            ]
        with m.If(frame_start):
            m.d.sync += seq_valid.eq(0)
        with m.Elif(self.insn.ready):
            m.d.sync += [d.eq(s) for d, s in zip(bundle_values(dec_sig, seq_insn),
                                                 bundle_values(dec_sig, self.insn.payload))]
            m.d.sync += [
                seq_valid.eq(self.insn.valid),
                seq_pc.eq(self.insn.pc),
                seq_started.eq(0),
                seq_left.eq(self.insn.payload.r),
                seq_phase.eq(0),
                seq_first.eq(1),
            ]
        with m.Else():
            with m.If(seq_issue):
                m.d.sync += seq_started.eq(1)
            with m.If(seq_beat):
                m.d.sync += [seq_left.eq(seq_left - 1), seq_first.eq(0)]
            with m.If(seq_active & ins.conflict):
                m.d.sync += seq_phase.eq(~seq_phase)

        # --- run control -----------------------------------------------------------------------
        with m.If(seq_state != RunState.IDLE):
            m.d.sync += seq_cycle.eq(seq_cycle + 1)
        with m.If(seq_issue & ~ins.is_ctl):
            m.d.sync += seq_last_retire.eq(seq_retire)
        with m.Switch(seq_state):
            with m.Case(RunState.IDLE):
                with m.If(seq_start_q):
                    m.d.sync += [
                        seq_state.eq(RunState.RUN), seq_cycle.eq(0), seq_last_retire.eq(0),
                        seq_done.eq(0), seq_fault.eq(0), seq_fault_pc.eq(0), seq_fault_code.eq(0),
                    ]
            with m.Case(RunState.RUN):
                with m.If(seq_faulting):
                    m.d.sync += [
                        seq_state.eq(RunState.DRAIN), seq_fault.eq(1),
                        seq_fault_pc.eq(seq_pc), seq_fault_code.eq(ins.fault),
                    ]
                with m.Elif(seq_issue & ins.is_eof):
                    m.d.sync += [seq_state.eq(RunState.IDLE), seq_done.eq(1)]
            with m.Case(RunState.DRAIN):
                with m.If(seq_cycle > seq_last_retire):
                    m.d.sync += [seq_state.eq(RunState.IDLE), seq_done.eq(1)]

        # --- stage 0: beat and read requests -----------------------------------------------------
        seq_mask = Signal(lanes)
        m.d.comb += seq_mask.eq(Cat(*[ins.n > lane for lane in range(lanes)]))
        beat = self.beat
        m.d.comb += [
            beat.valid.eq(seq_beat),
            beat.pc.eq(seq_pc),
            beat.first.eq(seq_first),
            beat.conflict.eq(ins.conflict),
            beat.last.eq(seq_last_beat),
            beat.is_mac.eq(ins.is_mac),
            beat.opcode.eq(ins.opcode),
            beat.mask.eq(seq_mask),
            beat.a_buf.eq(ins.a_buf),
            beat.b_buf.eq(ins.b_buf),
            # A MAC writes once, after its last step (and not at all when it holds).
            beat.write.eq(ins.is_ew | (seq_last_beat & ins.writes)),
            beat.d_buf.eq(ins.d_buf),
            beat.d_dtype.eq(ins.d_dtype),
            beat.acc_in.eq(ins.acc_in),
            beat.act.eq(ins.act),
            beat.lut_base.eq(ins.lut_base),
            beat.lut_log2.eq(ins.lut_log2),
        ]
        rq = self.reads
        # A is read in the beat's cycle, or in the first cycle of a conflicting step (its
        # addresses only advance with the beat); B in the beat's cycle. So a buffer's lane ports
        # serve at most one of them per cycle.
        seq_read_a = Signal()
        seq_read_b = Signal()
        m.d.comb += [
            seq_read_a.eq(seq_active & ~ins.is_ctl & ~(ins.conflict & seq_phase)),
            seq_read_b.eq(seq_beat & ins.reads_b),
        ]
        for i, (code, _name) in enumerate(data_buffers()):
            a_here = seq_read_a & (ins.a_buf == code)
            b_here = seq_read_b & (ins.b_buf == code)
            m.d.comb += [rq.en[i].eq(Mux(a_here | b_here, seq_mask, 0)),
                         rq.dtype[i].eq(Mux(a_here, ins.a_dtype, ins.b_dtype))]
            for lane in range(lanes):
                m.d.comb += rq.addr[i][lane].eq(
                    Mux(a_here, agens["a"].addr[lane], agens["b"].addr[lane]))
        m.d.comb += rq.p_en.eq(Mux(seq_beat, seq_mask, 0))
        for lane in range(lanes):
            m.d.comb += beat.d_addr[lane].eq(agens["d"].addr[lane])
        p_first = ins.p_base >> _RECORD_SHIFT
        for lane in range(lanes):
            m.d.comb += rq.p_index[lane].eq(Mux(ins.p_vec, p_first + lane, p_first))

        # --- outputs ---------------------------------------------------------------------------
        m.d.comb += [
            self.frame_start.eq(frame_start),
            self.running.eq(running),
            self.busy.eq((seq_state != RunState.IDLE) | seq_start_q),
            self.done.eq(seq_done & ~seq_start_q),
            self.cycle.eq(seq_cycle),
            self.fault.eq(seq_fault),
            self.fault_pc.eq(seq_fault_pc),
            self.fault_code.eq(seq_fault_code),
            self.issue.eq(seq_issue),
            self.issue_pc.eq(seq_pc),
            self.stall.eq(seq_waiting & ~seq_faulting & ~seq_can_issue),
            self.ctl_retire.eq(seq_issue & ins.is_ctl),
            self.sync_in.eq(seq_issue & ins.is_sync_in),
            self.sync_out.eq(seq_issue & ins.is_sync_out),
            self.sync_port.eq(ins.port),
        ]
        m.d.comb += [d.eq(s) for d, s in zip(bundle_values(dec_sig, self.cur),
                                             bundle_values(dec_sig, seq_insn))]
        return m
