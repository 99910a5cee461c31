"""Timing rules of the NPU: the one place they live (mirrored in docs/timing.md, built by the RTL).

Constants here are imported by the RTL generator; the schedule computed here is what the RTL's
retire strobes are compared against, cycle for cycle.
"""
from __future__ import annotations

__all__ = ["FETCH_LATENCY", "PIPELINE_LATENCY", "PORT_CONFLICT_FACTOR", "CONSTANTS"]

#: Cycles from the frame start to the issue of the instruction at pc 0 (imem read, decode).
FETCH_LATENCY = 2
#: Cycles from an instruction's last read step to the cycle of its last write (operand registers,
#: multiply/ALU, accumulate, requantise, activation/LUT + write).
PIPELINE_LATENCY = 4
#: Cycles per step when A and B are read through the same buffer's single read port.
PORT_CONFLICT_FACTOR = 2

#: (name, value, meaning) for docs/timing.md.
CONSTANTS = (
    ("FETCH_LATENCY", FETCH_LATENCY, "cycles from frame start to the issue of pc 0"),
    ("PIPELINE_LATENCY", PIPELINE_LATENCY, "cycles from an instruction's last read step to its last write"),
    ("PORT_CONFLICT_FACTOR", PORT_CONFLICT_FACTOR, "cycles per step when A and B share one buffer's read port"),
)
