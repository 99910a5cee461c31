"""The NPU: front end, sequencer, lane pipeline, memories, counters, trace and host interface.

See docs/rtl.md for the block diagram and the host protocol. In short: while `busy` is low the
host loads imem, wbuf, sbuf, abuf and the LUT through the 256-bit host port, pulses `start`,
waits for `done`, then reads outputs from abuf, the counters and the debug trace.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.config import NpuConfig
from npu_model.arch.faults import Fault
from npu_model.arch.isa import FIELD_BY_NAME, Buffer

from .counters import CountersSignature, PerfCounters
from .datapath import Datapath
from .frontend import Frontend
from .imem import InstructionMemory
from .databuf import DataBuffer
from .layout import (HOST_DATA_BITS, FaultShape, HostTarget, ParamSignature, buffer_bytes, check_config, check_positive,
                     data_buffers, host_addr_bits, host_row_bytes)
from .lut import LutUnit
from .params import ParamMemory
from .sequencer import Sequencer
from .topk import TopKUnit
from .trace import TraceMemory

__all__ = ["Npu", "HostBusSignature", "Fault", "HostTarget"]


class HostBusSignature(ParamSignature):
    """The host port, seen from the host: `sel` picks the target (`HostTarget`), `addr` a 256-bit
    row in it; writes take effect at the clock edge, read data is valid the cycle after `re`."""

    def __init__(self, *, addr_bits):
        check_positive("Address width", addr_bits)
        super().__init__({
            "sel": Out(HostTarget), "addr": Out(addr_bits),
            "we": Out(1), "wdata": Out(HOST_DATA_BITS),
            "re": Out(1), "rdata": In(HOST_DATA_BITS),
        }, addr_bits=addr_bits)


class Npu(wiring.Component):
    """The whole NPU for one `NpuConfig`.

    trace_depth: instruction instances recorded by the debug trace (`trace.TraceMemory`, a
    verification aid); 0, the default, builds the NPU without it.
    """

    def __init__(self, *, config: NpuConfig, trace_depth=0):
        check_config(config)
        if isinstance(trace_depth, bool) or not isinstance(trace_depth, int) or trace_depth < 0:
            raise TypeError(f"Trace depth must be 0 (no trace) or a positive integer, not {trace_depth!r}")
        self.config = config
        self.trace_depth = trace_depth
        self.host_addr_bits = host_addr_bits(config, self.trace_depth)
        pcb = config.pc_bits
        super().__init__({
            "start": In(1),
            "busy": Out(1), "done": Out(1),
            "fault": Out(1), "fault_pc": Out(pcb), "fault_code": Out(FaultShape),
            "host": In(HostBusSignature(addr_bits=self.host_addr_bits)),
            "issue_valid": Out(1), "issue_pc": Out(pcb),
            "retire_valid": Out(1), "retire_pc": Out(pcb),
            "retire_ctl_valid": Out(1), "retire_ctl_pc": Out(pcb),
            "sync_in_valid": Out(1), "sync_out_valid": Out(1),
            "sync_port": Out(FIELD_BY_NAME["port"].bits),
            "counters": Out(CountersSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        lanes = cfg.lanes
        hab = self.host_addr_bits

        m.submodules.frontend = fe = Frontend(config=cfg)
        m.submodules.sequencer = seq = Sequencer(config=cfg)
        m.submodules.datapath = dp = Datapath(config=cfg)
        m.submodules.counters = cnt = PerfCounters(config=cfg)
        mw = cfg.macro_words
        m.submodules.imem = imem = InstructionMemory(words=cfg.imem_words, pc_bits=cfg.pc_bits, macro_words=mw,
                                                     host_addr_bits=hab)
        m.submodules.lut = lut = LutUnit(entries=cfg.lut_entries, lanes=lanes, macro_words=mw, host_addr_bits=hab)
        m.submodules.pbuf = pbuf = ParamMemory(size=cfg.pbuf_bytes, lanes=lanes, macro_words=mw, host_addr_bits=hab,
                                               host_row_bytes=host_row_bytes(cfg, HostTarget.PBUF))
        if cfg.topk_entries:
            m.submodules.topk = topk = TopKUnit(entries=cfg.topk_entries)
            m.d.comb += [
                topk.clear.eq(seq.frame_start),
                topk.start.eq(seq.topk_start), topk.start_r.eq(seq.topk_r),
                topk.push.eq(dp.topk_push), topk.value.eq(dp.topk_value),
                topk.read_sel.eq(fe.idx_sel), fe.idx_step.eq(topk.read_step), fe.bound.eq(topk.bound),
            ]
        trace = None
        if self.trace_depth:
            m.submodules.trace = trace = TraceMemory(depth=self.trace_depth, host_addr_bits=hab)
        srams = {}
        for code, name in data_buffers():
            srams[code] = m.submodules[name] = DataBuffer(
                size=buffer_bytes(cfg, code), org=cfg.bank_org(name), lanes=lanes, macro_words=mw,
                host_addr_bits=hab, host_row_bytes=host_row_bytes(cfg, HostTarget[name.upper()]),
                writable=code != Buffer.WBUF)

        # --- front end -> sequencer --------------------------------------------------------------
        wiring.connect(m, fe.imem, imem.fetch)
        wiring.connect(m, fe.insn, seq.insn)
        m.d.comb += [
            seq.start.eq(self.start),
            fe.frame_start.eq(seq.frame_start),
            fe.running.eq(seq.running),
            fe.cycle.eq(seq.cycle),
        ]

        # --- stage 0 reads, stage 1 data, stage 4 writes ------------------------------------------
        rq = seq.reads
        wiring.connect(m, seq.beat, dp.beat)
        m.d.comb += dp.clear.eq(seq.frame_start)
        for i, (code, _name) in enumerate(data_buffers()):
            sram = srams[code]
            for lane in range(lanes):
                port = sram.rd[lane]
                m.d.comb += [port.en.eq(rq.en[i][lane]), port.addr.eq(rq.addr[i][lane]),
                             port.dtype.eq(rq.dtype[i]), dp.rd[i][lane].eq(port.data)]
                if sram.writable:
                    port = sram.wr[lane]
                    m.d.comb += [
                        port.en.eq(dp.wr[lane].en & (dp.wr_buf == code)),
                        port.addr.eq(dp.wr[lane].addr),
                        port.dtype.eq(dp.wr[lane].dtype),
                        port.data.eq(dp.wr[lane].data),
                    ]
        wiring.connect(m, seq.records, pbuf.rec)
        for lane in range(lanes):
            m.d.comb += dp.s1_rec[lane].eq(pbuf.rec.data[lane])
            wiring.connect(m, dp.lut[lane], lut.rd[lane])

        # --- counters and trace ------------------------------------------------------------------
        cur = seq.cur
        m.d.comb += [
            cnt.clear.eq(seq.frame_start),
            cnt.cycle.eq(seq.cycle),
            cnt.issue.eq(seq.issue),
            cnt.is_mac.eq(cur.is_mac),
            cnt.is_compute.eq(~cur.is_ctl),
            cnt.occ.eq(cur.occ),
            cnt.r.eq(cur.r),
            cnt.macs_inc.eq(cur.macs),
            cnt.stall.eq(seq.stall),
            cnt.retire_ctl.eq(seq.ctl_retire),
            cnt.retire_pipe.eq(dp.retire),
        ]
        for i in range(len(cur.rd_bytes)):
            m.d.comb += [cnt.rd_inc[i].eq(cur.rd_bytes[i]), cnt.wr_inc[i].eq(cur.wr_bytes[i]),
                         cnt.hwm_cand[i].eq(cur.hwm[i])]
        wiring.connect(m, wiring.flipped(self.counters), cnt.counters)
        targets = {HostTarget.IMEM: imem.host, HostTarget.LUT: lut.host, HostTarget.PBUF: pbuf.host}
        if trace is not None:
            m.d.comb += [
                trace.issue_en.eq(seq.issue),
                trace.issue_seq.eq(seq.issue_seq),
                trace.issue_cycle.eq(seq.cycle),
                trace.issue_retires.eq(seq.ctl_retire),
                trace.retire_en.eq(dp.retire),
                trace.retire_seq.eq(dp.retire_seq),
                trace.retire_cycle.eq(seq.cycle),
            ]
            targets[HostTarget.TRACE] = trace.host

        # --- host port ---------------------------------------------------------------------------
        for code, name in data_buffers():
            targets[HostTarget[name.upper()]] = srams[code].host
        host_sel_q = Signal(HostTarget)
        with m.If(self.host.re):
            m.d.sync += host_sel_q.eq(self.host.sel)
        rdata = 0
        for target, port in targets.items():
            picked = self.host.sel == target
            m.d.comb += [port.addr.eq(self.host.addr), port.wdata.eq(self.host.wdata),
                         port.we.eq(self.host.we & picked), port.re.eq(self.host.re & picked)]
            rdata = Mux(host_sel_q == target, port.rdata, rdata)
        m.d.comb += self.host.rdata.eq(rdata)

        # --- status and strobes ------------------------------------------------------------------
        m.d.comb += [
            self.busy.eq(seq.busy),
            self.done.eq(seq.done),
            self.fault.eq(seq.fault),
            self.fault_pc.eq(seq.fault_pc),
            self.fault_code.eq(seq.fault_code),
            self.issue_valid.eq(seq.issue),
            self.issue_pc.eq(seq.issue_pc),
            self.retire_valid.eq(dp.retire),
            self.retire_pc.eq(dp.retire_pc),
            self.retire_ctl_valid.eq(seq.ctl_retire),
            self.retire_ctl_pc.eq(seq.issue_pc),
            self.sync_in_valid.eq(seq.sync_in),
            self.sync_out_valid.eq(seq.sync_out),
            self.sync_port.eq(seq.sync_port),
        ]
        return m
