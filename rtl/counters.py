"""Performance counters of one frame (docs/timing.md "Counters per frame"), reset at start.

Everything except `cycles`, `instructions` and `stall_cycles` is a pure function of the
instruction, so the decoder computes the increments (bytes, MACs, high-water candidates) one
cycle ahead and this block only adds them up when the instruction issues. `instructions`
counts retirements (control instructions retire as they issue, compute instructions at the end
of the lane pipeline; both can happen in one cycle), `stall_cycles` counts the cycles an
instruction waits at issue for a hazard or a fence. All counters are 32 bits and wrap.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from npu_model.arch.config import COUNTED_BUFFERS, NpuConfig
from npu_model.arch.isa import FIELD_BY_NAME

from .decoder import HWM_BITS, OCC_BITS, RD_BYTES_BITS
from .layout import COUNTER_BITS, CYCLE_BITS, ParamSignature, check_config

__all__ = ["PerfCounters", "COUNTER_NAMES", "CountersSignature"]

COUNTER_NAMES = (
    ["cycles", "instructions", "mac_cycles", "macs", "stall_cycles", "conflict_cycles"]
    + [f"{buf}_{what}" for buf in COUNTED_BUFFERS for what in ("hwm", "read_bytes", "write_bytes")]
)


class CountersSignature(ParamSignature):
    """The counters of one frame, as seen from the NPU (outputs), one per `COUNTER_NAMES`."""

    def __init__(self):
        super().__init__({name: Out(COUNTER_BITS) for name in COUNTER_NAMES})


class PerfCounters(wiring.Component):
    def __init__(self, *, config: NpuConfig):
        check_config(config)
        self.config = config
        n_bufs = len(COUNTED_BUFFERS)
        members = {
            "clear": In(1),
            "cycle": In(CYCLE_BITS),
            "issue": In(1),
            "is_mac": In(1),
            "is_compute": In(1),
            "occ": In(OCC_BITS),
            "r": In(FIELD_BY_NAME["r"].bits),
            "macs_inc": In(FIELD_BY_NAME["r"].bits + FIELD_BY_NAME["n"].bits),
            "stall": In(1),
            "retire_ctl": In(1),
            "retire_pipe": In(1),
            "counters": Out(CountersSignature()),
        }
        # Per counted buffer (COUNTED_BUFFERS order): bytes read and written, high-water candidate.
        members["rd_inc"] = In(RD_BYTES_BITS).array(n_bufs)
        members["wr_inc"] = In(RD_BYTES_BITS).array(n_bufs)
        members["hwm_cand"] = In(HWM_BITS).array(n_bufs)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cnt = {name: Signal(COUNTER_BITS, name=f"cnt_{name}") for name in COUNTER_NAMES
               if name != "cycles"}
        incs = {
            "instructions": self.retire_ctl + self.retire_pipe,
            "mac_cycles": Mux(self.issue & self.is_mac, self.r, 0),
            "macs": Mux(self.issue, self.macs_inc, 0),
            "stall_cycles": self.stall,
            # The cycles beyond one per step: lane groups, A and B sharing a read port, write groups.
            "conflict_cycles": Mux(self.issue & self.is_compute, self.occ - self.r, 0),
        }
        for i, buf in enumerate(COUNTED_BUFFERS):
            incs[f"{buf}_read_bytes"] = Mux(self.issue, self.rd_inc[i], 0)
            incs[f"{buf}_write_bytes"] = Mux(self.issue, self.wr_inc[i], 0)
        with m.If(self.clear):
            m.d.sync += [c.eq(0) for c in cnt.values()]
        with m.Else():
            for name, inc in incs.items():
                m.d.sync += cnt[name].eq(cnt[name] + inc)
            for i, buf in enumerate(COUNTED_BUFFERS):
                cand = self.hwm_cand[i]
                with m.If(self.issue & (cand > cnt[f"{buf}_hwm"])):
                    m.d.sync += cnt[f"{buf}_hwm"].eq(cand)
        m.d.comb += self.counters.cycles.eq(self.cycle)
        for name, sig in cnt.items():
            m.d.comb += getattr(self.counters, name).eq(sig)
        return m
