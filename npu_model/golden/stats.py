"""Per-frame counters (docs/timing.md "Counters per frame") and the result of one frame."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arch.config import COUNTED_BUFFERS

__all__ = ["BufferStats", "FrameStats", "FrameResult"]


@dataclass(frozen=True)
class BufferStats:
    hwm: int            # 1 + highest byte address touched, 0 if untouched
    read_bytes: int
    write_bytes: int


@dataclass(frozen=True)
class FrameStats:
    """The counters of one frame. Timing is data-independent, so every frame of a program has the
    same figures; they are computed once, by `timing.schedule`."""
    cycles: int
    instructions: int
    mac_cycles: int
    macs: int
    utilisation: float
    stall_cycles: int
    conflict_cycles: int
    lanes: int
    clock_mhz: float
    buffers: dict = field(default_factory=dict)     # name -> BufferStats (COUNTED_BUFFERS)

    @property
    def time_us(self) -> float:
        """Frame time at the configuration's clock."""
        return self.cycles / self.clock_mhz

    def to_dict(self) -> dict:
        """Flat, JSON-able: the counters, then `<buf>_hwm`, `<buf>_read_bytes`, `<buf>_write_bytes`."""
        out = {"cycles": self.cycles, "instructions": self.instructions, "mac_cycles": self.mac_cycles,
               "macs": self.macs, "utilisation": self.utilisation, "stall_cycles": self.stall_cycles,
               "conflict_cycles": self.conflict_cycles}
        for name in COUNTED_BUFFERS:
            b = self.buffers[name]
            out[f"{name}_hwm"] = b.hwm
            out[f"{name}_read_bytes"] = b.read_bytes
            out[f"{name}_write_bytes"] = b.write_bytes
        out["time_us"] = self.time_us
        return out


@dataclass
class FrameResult:
    frame: int                   # index since the last reset
    outputs: dict                # port name -> np.ndarray (int8/int16) shaped as the port
    stats: FrameStats

    def to_dict(self) -> dict:
        return {"frame": self.frame, **self.stats.to_dict()}

    def outputs_equal(self, other: "FrameResult") -> bool:
        return self.outputs.keys() == other.outputs.keys() and all(
            np.array_equal(self.outputs[k], other.outputs[k]) for k in self.outputs)
