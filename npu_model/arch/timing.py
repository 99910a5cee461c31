"""The NPU's timing constants: the one place they are defined (docs/timing.md).

The golden model's schedule (`npu_model.golden.schedule`) applies the rules of docs/timing.md with
these numbers; the RTL generator builds its pipeline from the same names, so that the two cannot
disagree about a latency.
"""
from __future__ import annotations

__all__ = ["FETCH_LATENCY", "PIPELINE_LATENCY", "PORT_CONFLICT_FACTOR", "CONSTANTS"]

#: Cycles from the frame start to the issue of the instruction at pc 0 (imem read, decode).
FETCH_LATENCY = 2
#: Cycles from an instruction's last read step to the cycle of its last write (operand registers,
#: multiply/ALU, accumulate, requantise, activation/LUT + write).
PIPELINE_LATENCY = 4
#: Cycles per lane group when A and B are read through the same buffer's banks (one read each per cycle).
PORT_CONFLICT_FACTOR = 2

#: (name, value, meaning) for docs/timing.md.
CONSTANTS = (
    ("FETCH_LATENCY", FETCH_LATENCY, "cycles from frame start to the issue of pc 0"),
    ("PIPELINE_LATENCY", PIPELINE_LATENCY, "cycles from an instruction's last read step to its last write"),
    ("PORT_CONFLICT_FACTOR", PORT_CONFLICT_FACTOR, "cycles per lane group when A and B share one buffer's read port"),
)
