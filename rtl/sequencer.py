"""Issue stage: holds the current instruction, decides when it issues, walks its steps.

This block implements docs/timing.md "Rules" directly:

* The current-instruction register is loaded from the front end in the last cycle of the
  previous instruction, so instruction i is present, and may issue, in cycle e(i).
* A compute instruction issues when the hazard scoreboard reports no in-flight destination
  overlapping its A or B footprint (rule 3); `sync_in`, `sync_out`, `eof`, `topk` and an
  indexed `loop` wait until the frame cycle is past the retire cycle of every earlier
  instruction (rule 4; a `topk` checks the scoreboard too); `nop` never waits.
  A waiting cycle counts as a stall cycle.
* It then occupies the stage for occ = r * g * c + g_D - 1 cycles (rule 1, the decoder's
  `occ`): each of the r steps is g lane groups (lanes that never meet in a bank; the decoder's
  `gshift`/`groups`), each group one cycle, or two when A and B are in one buffer (c =
  PORT_CONFLICT_FACTOR: A in the first, B in the second); a MAC whose destination needs g_D
  write groups adds g_D - 1 write-only cycles after its last step. A group's last operand read
  is in its last cycle, which is what makes an element-wise write of step s, group j land in
  cycle t + (s*g + j)*c + (c-1) + PIPELINE_LATENCY.
* Each group of a step emits a beat: the control word that travels down the lane pipeline to
  the write port, with the lanes it reads (`mask`) and writes (`wmask`). The read requests go to
  the buffers' lane ports for the group's lanes. The parameter records are read from pbuf once,
  in the issue cycle.
* A faulting instruction (its fault code comes from the decoder) stops the NPU in cycle e(i),
  before it issues; instructions already issued drain, then `done` rises with `fault` set.

The frame cycle counter lives here because the scoreboard, the fences and the trace all need it.
"""
import enum

from amaranth.hdl import Cat, Const, Module, Mux, Signal
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
from .layout import (ADDR_BITS, CYCLE_BITS, SEQ_BITS, FaultShape, ParamSignature, bundle_values, check_config,
                     data_buffers, field_shape)
from .params import RecordsSignature
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


class BeatSignature(ParamSignature):
    """One step of one instruction, as it travels from the read (stage 0) to the write port."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        super().__init__({
            "valid": Out(1),
            "pc": Out(config.pc_bits),
            "seq": Out(SEQ_BITS),       # the instance: its place in the frame's executed stream
            "first": Out(1),            # step 0: a MAC starts from the bias or ACC
            "conflict": Out(1),         # A was read one cycle before B (same buffer)
            "last": Out(1),             # the instruction retires when this beat is written
            "is_mac": Out(1),
            "is_dot": Out(1),           # the lanes' sums meet in lane 0 (an adder tree)
            "is_topk": Out(1),          # the value goes to the top-k unit, not to a buffer
            "opcode": Out(_f("opcode")),
            "mask": Out(config.lanes),  # lanes that read (and accumulate) in this beat
            "nmask": Out(config.lanes),  # lanes < n: the lanes a dot sums
            "wmask": Out(config.lanes),  # lanes whose destination this beat writes
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
            "b_exp": Out(1),
        }, config=config)


class ReadRequestsSignature(ParamSignature):
    """Read requests of one cycle: per data buffer (in `data_buffers()` order) its lane ports'
    enables, element type and addresses, A or B."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        lanes = config.lanes
        n_bufs = len(data_buffers())
        super().__init__({
            "en": Out(lanes).array(n_bufs), "dtype": Out(_f("a_dtype")).array(n_bufs),
            "addr": Out(ADDR_BITS).array(n_bufs, lanes),
        }, config=config)


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
            "records": Out(RecordsSignature(lanes=config.lanes)),
            # Events.
            "issue": Out(1), "issue_pc": Out(pcb), "issue_seq": Out(SEQ_BITS), "stall": Out(1),
            "ctl_retire": Out(1),
            "sync_in": Out(1), "sync_out": Out(1), "sync_port": Out(_f("port")),
            "topk_start": Out(1), "topk_r": Out(_f("r")),
            "cur": Out(DecodedSignature(config=config)),   # the current instruction (accounting)
        })

    def elaborate(self, platform):
        m = Module()
        st = _IssueState(m, self)
        self._issue(m, st)
        self._scoreboard(m, st)
        self._walker(m, st)
        self._run_control(m, st)
        self._stage0(m, st)
        self._outputs(m, st)
        return m

    def _issue(self, m, st):
        """Issue decision."""
        st.seq_waiting = Signal()
        st.seq_faulting = Signal()
        st.seq_fence_ok = Signal()
        st.seq_can_issue = Signal()
        st.seq_issue = Signal()
        m.d.comb += [
            st.seq_waiting.eq(st.running & st.seq_valid & ~st.seq_started),
            st.seq_faulting.eq(st.seq_waiting & (st.ins.fault != 0)),
            st.seq_fence_ok.eq(st.seq_cycle > st.seq_last_retire),
            st.seq_can_issue.eq((~st.ins.fence | st.seq_fence_ok) & (st.ins.is_ctl | ~st.sb.hazard)),
            st.seq_issue.eq(st.seq_waiting & ~st.seq_faulting & st.seq_can_issue),
        ]
        st.seq_active = Signal()
        st.seq_read_beat = Signal()      # a group of a step: reads, and (element-wise) writes
        st.seq_tail_beat = Signal()      # a MAC's write-only beat of destination group wgrp
        st.seq_beat = Signal()
        st.seq_step_end = Signal()       # the step's last group
        st.seq_last_read = Signal()
        st.seq_insn_done = Signal()
        compute = st.active_compute = Signal()
        m.d.comb += [
            st.seq_active.eq(st.running & st.seq_valid & (st.seq_started | st.seq_issue)),
            compute.eq(st.seq_active & ~st.ins.is_ctl),
            st.seq_read_beat.eq(compute & ~st.seq_tail & (~st.ins.conflict | st.seq_phase)),
            st.seq_tail_beat.eq(compute & st.seq_tail),
            st.seq_beat.eq(st.seq_read_beat | st.seq_tail_beat),
            st.seq_step_end.eq(st.seq_read_beat & (st.seq_grp == st.ins.groups - 1)),
            st.seq_last_read.eq(st.seq_step_end & (st.seq_left == 1)),
            st.seq_insn_done.eq(st.seq_active & (
                st.ins.is_ctl | (st.seq_last_read & (st.ins.wgroups == 1))
                | (st.seq_tail_beat & (st.seq_wgrp == st.ins.wgroups - 1)))),
            self.insn.ready.eq(st.running & (~st.seq_valid | st.seq_insn_done)),
        ]

        # retire = t + occ - 1 + PIPELINE_LATENCY (rule 6).
        st.seq_retire = Signal(CYCLE_BITS)
        m.d.comb += st.seq_retire.eq(st.seq_cycle + st.ins.occ + (PIPELINE_LATENCY - 1))

    def _scoreboard(self, m, st):
        """Scoreboard."""
        m.d.comb += [
            st.sb.clear.eq(st.frame_start),
            st.sb.cycle.eq(st.seq_cycle),
            st.sb.push.eq(st.seq_issue),
            st.sb.push_dst.en.eq(st.ins.writes),
            st.sb.push_dst.buf.eq(st.ins.d_buf),
            st.sb.push_dst.lo.eq(st.ins.d_lo),
            st.sb.push_dst.hi.eq(st.ins.d_hi),
            st.sb.push_retire.eq(st.seq_retire),
            st.sb.query_a.en.eq(~st.ins.is_ctl),
            st.sb.query_a.buf.eq(st.ins.a_buf),
            st.sb.query_a.lo.eq(st.ins.a_lo),
            st.sb.query_a.hi.eq(st.ins.a_hi),
            st.sb.query_b.en.eq(st.ins.reads_b),
            st.sb.query_b.buf.eq(st.ins.b_buf),
            st.sb.query_b.lo.eq(st.ins.b_lo),
            st.sb.query_b.hi.eq(st.ins.b_hi),
        ]

    def _walker(self, m, st):
        """Current instruction register and step walker."""
        for op, agen in st.agens.items():
            m.d.comb += [
                agen.load.eq(self.insn.ready),
                agen.base.eq(getattr(self.insn.payload, f"{op}_base")),
                agen.lstride.eq(getattr(self.insn.payload, f"{op}_lstride")),
                agen.rstride.eq(getattr(self.insn.payload, f"{op}_rstride")),
                agen.step.eq(st.seq_step_end),
            ]
        with m.If(st.frame_start):
            m.d.sync += st.seq_valid.eq(0)
        with m.Elif(self.insn.ready):
            m.d.sync += [d.eq(s) for d, s in zip(bundle_values(st.dec_sig, st.seq_insn),
                                                 bundle_values(st.dec_sig, self.insn.payload))]
            m.d.sync += [
                st.seq_valid.eq(self.insn.valid),
                st.seq_pc.eq(self.insn.pc),
                st.seq_started.eq(0),
                st.seq_left.eq(self.insn.payload.r),
                st.seq_grp.eq(0),
                st.seq_phase.eq(0),
                st.seq_first.eq(1),
                st.seq_tail.eq(0),
                st.seq_wgrp.eq(1),
            ]
        with m.Else():
            with m.If(st.seq_issue):
                m.d.sync += st.seq_started.eq(1)
            with m.If(st.seq_step_end):
                m.d.sync += [st.seq_left.eq(st.seq_left - 1), st.seq_first.eq(0), st.seq_grp.eq(0)]
                with m.If((st.seq_left == 1) & (st.ins.wgroups != 1)):
                    m.d.sync += st.seq_tail.eq(1)
            with m.Elif(st.seq_read_beat):
                m.d.sync += st.seq_grp.eq(st.seq_grp + 1)
            with m.If(st.seq_tail_beat):
                m.d.sync += st.seq_wgrp.eq(st.seq_wgrp + 1)
            with m.If(st.active_compute & ~st.seq_tail & st.ins.conflict):
                m.d.sync += st.seq_phase.eq(~st.seq_phase)

    def _run_control(self, m, st):
        """Run control."""
        with m.If(st.seq_state != RunState.IDLE):
            m.d.sync += st.seq_cycle.eq(st.seq_cycle + 1)
        with m.If(st.frame_start):
            m.d.sync += st.seq_count.eq(0)
        with m.Elif(st.seq_issue):
            m.d.sync += st.seq_count.eq(st.seq_count + 1)
        with m.If(st.seq_issue & ~st.ins.is_ctl):
            m.d.sync += st.seq_last_retire.eq(st.seq_retire)
        with m.Switch(st.seq_state):
            with m.Case(RunState.IDLE):
                with m.If(st.seq_start_q):
                    m.d.sync += [
                        st.seq_state.eq(RunState.RUN), st.seq_cycle.eq(0), st.seq_last_retire.eq(0),
                        st.seq_done.eq(0), st.seq_fault.eq(0), st.seq_fault_pc.eq(0), st.seq_fault_code.eq(0),
                    ]
            with m.Case(RunState.RUN):
                with m.If(st.seq_faulting):
                    m.d.sync += [
                        st.seq_state.eq(RunState.DRAIN), st.seq_fault.eq(1),
                        st.seq_fault_pc.eq(st.seq_pc), st.seq_fault_code.eq(st.ins.fault),
                    ]
                with m.Elif(st.seq_issue & st.ins.is_eof):
                    m.d.sync += [st.seq_state.eq(RunState.IDLE), st.seq_done.eq(1)]
            with m.Case(RunState.DRAIN):
                with m.If(st.seq_cycle > st.seq_last_retire):
                    m.d.sync += [st.seq_state.eq(RunState.IDLE), st.seq_done.eq(1)]

    def _stage0(self, m, st):
        """Stage 0: beat and read requests."""
        lanes = st.lanes

        def group_lanes(shift, index, name):
            """Active lanes (l < n) of lane group `index` of 2**shift lanes."""
            mask = Signal(lanes, name=name)
            m.d.comb += mask.eq(Cat(*[(st.ins.n > lane) & ((Const(lane, 8) >> shift) == index)
                                      for lane in range(lanes)]))
            return mask

        st.seq_mask = group_lanes(st.ins.gshift, st.seq_grp, "seq_rmask")
        seq_dmask = Signal(lanes)
        m.d.comb += seq_dmask.eq(Mux(st.ins.is_dot, 1, group_lanes(st.ins.wshift, Mux(st.seq_tail, st.seq_wgrp, 0),
                                                                   "seq_dmask_lanes")))
        seq_nmask = Signal(lanes)
        m.d.comb += seq_nmask.eq(Cat(*[st.ins.n > lane for lane in range(lanes)]))
        beat = self.beat
        m.d.comb += [
            beat.valid.eq(st.seq_beat),
            beat.pc.eq(st.seq_pc),
            # seq_count counts issues: the current instruction's is one less once it has issued.
            beat.seq.eq(st.seq_count - st.seq_started),
            beat.first.eq(st.seq_first),
            beat.conflict.eq(st.ins.conflict),
            beat.last.eq(st.seq_insn_done),
            beat.is_mac.eq(st.ins.is_mac),
            beat.is_dot.eq(st.ins.is_dot),
            beat.is_topk.eq(st.ins.is_topk),
            beat.nmask.eq(seq_nmask),
            beat.opcode.eq(st.ins.opcode),
            beat.mask.eq(Mux(st.seq_tail, 0, st.seq_mask)),
            # A MAC writes once, after its last step, in destination groups: the first with the
            # last read beat, the others in write-only beats (and not at all when it holds).
            beat.wmask.eq(Mux(st.ins.is_ew, st.seq_mask, Mux(st.seq_tail | st.seq_last_read, seq_dmask, 0))),
            beat.a_buf.eq(st.ins.a_buf),
            beat.b_buf.eq(st.ins.b_buf),
            beat.write.eq((st.ins.is_ew & st.ins.writes) | st.seq_tail | (st.seq_last_read & st.ins.writes)),
            beat.d_buf.eq(st.ins.d_buf),
            beat.d_dtype.eq(st.ins.d_dtype),
            beat.acc_in.eq(st.ins.acc_in),
            beat.act.eq(st.ins.act),
            beat.lut_base.eq(st.ins.lut_base),
            beat.lut_log2.eq(st.ins.lut_log2),
            beat.b_exp.eq(st.ins.b_exp),
        ]
        rq = self.reads
        # A is read in the beat's cycle, or in the first cycle of a conflicting step (its
        # addresses only advance with the beat); B in the beat's cycle. So a buffer's lane ports
        # serve at most one of them per cycle.
        st.seq_read_a = Signal()
        st.seq_read_b = Signal()
        m.d.comb += [
            st.seq_read_a.eq(st.active_compute & ~st.seq_tail & ~(st.ins.conflict & st.seq_phase)),
            st.seq_read_b.eq(st.seq_read_beat & st.ins.reads_b),
        ]
        for i, (code, _name) in enumerate(data_buffers()):
            a_here = st.seq_read_a & (st.ins.a_buf == code)
            b_here = st.seq_read_b & (st.ins.b_buf == code)
            m.d.comb += [rq.en[i].eq(Mux(a_here | b_here, st.seq_mask, 0)),
                         rq.dtype[i].eq(Mux(a_here, st.ins.a_dtype, st.ins.b_dtype))]
            for lane in range(st.lanes):
                m.d.comb += rq.addr[i][lane].eq(
                    Mux(a_here, st.agens["a"].addr[lane], st.agens["b"].addr[lane]))
        for lane in range(st.lanes):
            m.d.comb += beat.d_addr[lane].eq(st.agens["d"].addr[lane])
        m.d.comb += [
            self.records.read.eq(st.seq_issue & ~st.ins.is_ctl),
            self.records.index.eq(st.ins.p_base >> _RECORD_SHIFT),
            self.records.vec.eq(st.ins.p_vec),
        ]

    def _outputs(self, m, st):
        """Outputs."""
        m.d.comb += [
            self.frame_start.eq(st.frame_start),
            self.running.eq(st.running),
            self.busy.eq((st.seq_state != RunState.IDLE) | st.seq_start_q),
            self.done.eq(st.seq_done & ~st.seq_start_q),
            self.cycle.eq(st.seq_cycle),
            self.fault.eq(st.seq_fault),
            self.fault_pc.eq(st.seq_fault_pc),
            self.fault_code.eq(st.seq_fault_code),
            self.issue.eq(st.seq_issue),
            self.issue_pc.eq(st.seq_pc),
            self.issue_seq.eq(st.seq_count),
            self.stall.eq(st.seq_waiting & ~st.seq_faulting & ~st.seq_can_issue),
            self.ctl_retire.eq(st.seq_issue & st.ins.is_ctl),
            self.sync_in.eq(st.seq_issue & st.ins.is_sync_in),
            self.sync_out.eq(st.seq_issue & st.ins.is_sync_out),
            self.sync_port.eq(st.ins.port),
            self.topk_start.eq(st.seq_issue & st.ins.is_topk),
            self.topk_r.eq(st.ins.r),
        ]
        m.d.comb += [d.eq(s) for d, s in zip(bundle_values(st.dec_sig, self.cur),
                                             bundle_values(st.dec_sig, st.seq_insn))]


class _IssueState:
    """The issue stage's registers and submodules, shared by the stages of `Sequencer.elaborate`."""

    def __init__(self, m, seq):
        self.cfg = seq.config
        self.lanes = self.cfg.lanes

        m.submodules.scoreboard = self.sb = Scoreboard()
        self.agens = {}
        for op in "abd":
            m.submodules[f"agen_{op}"] = self.agens[op] = AddressGenerator(lanes=self.lanes)

        self.seq_state = Signal(RunState)
        self.seq_cycle = Signal(CYCLE_BITS)
        self.seq_count = Signal(SEQ_BITS)            # instances issued in this frame
        self.seq_valid = Signal()
        self.seq_started = Signal()
        self.dec_sig = DecodedSignature(config=self.cfg)
        self.seq_insn = self.dec_sig.create(path=("seq_insn",))
        self.seq_pc = Signal(self.cfg.pc_bits)
        self.seq_left = Signal(FIELD_BY_NAME["r"].bits)
        self.seq_grp = Signal(range(self.lanes + 1))     # lane group of the step
        self.seq_tail = Signal()                         # a MAC's write-only beats
        self.seq_wgrp = Signal(range(self.lanes + 1))    # destination group of a write-only beat
        self.seq_phase = Signal()
        self.seq_first = Signal()
        self.seq_last_retire = Signal(CYCLE_BITS)
        self.seq_done = Signal()
        self.seq_fault = Signal()
        self.seq_fault_pc = Signal(self.cfg.pc_bits)
        self.seq_fault_code = Signal(FaultShape)

        # `start` is registered before it is used: logic that depends on a top-level input
        # combinationally is re-evaluated by Verilator on every eval() call, so keeping the
        # clear-on-start muxes behind a register keeps them out of that path.
        self.seq_start_q = Signal()
        m.d.sync += self.seq_start_q.eq(seq.start)

        self.ins = self.seq_insn
        self.running = self.seq_state == RunState.RUN
        self.frame_start = self.seq_start_q & (self.seq_state == RunState.IDLE)
