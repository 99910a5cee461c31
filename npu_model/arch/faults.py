"""Fault codes, defined once (docs/isa.md "Faults"): the golden model raises them, the RTL's
decoder drives them, the cosimulation compares them, and the doc table is generated from here.

The codes are in checking order: the first failing check of an instruction gives its code.
"""
from __future__ import annotations

import enum

from .isa import LUT_LOG2_MAX, RSQRT_LOG2_MIN
from .record import RECORD_BYTES

__all__ = ["Fault", "FAULT_BITS", "FAULT_CAUSES", "markdown_fault_table"]


class Fault(enum.IntEnum):
    NONE = 0
    ILLEGAL = 1
    WRITE_PROTECT = 2
    ADDRESS = 3
    LUT_RANGE = 4
    OVERLAP = 5

    @property
    def label(self) -> str:
        """The name messages and docs use: 'write_protect'."""
        return self.name.lower()


#: Bits of a fault code register (0 = no fault).
FAULT_BITS = max(Fault).bit_length()

FAULT_CAUSES = {
    Fault.ILLEGAL: (
        "unknown opcode; reserved bits set; a field the opcode does not use is non-zero; n = 0 or n > lanes; "
        f"r = 0; act = lut with lut_log2 = 0 or > {LUT_LOG2_MAX}; act = rsqrt with lut_log2 < "
        f"{RSQRT_LOG2_MIN} or > {LUT_LOG2_MAX}, or an int8 D; `b_exp` with an int8 B; act neither lut nor "
        "rsqrt with a non-zero `lut_base`/`lut_log2`; a destination whose lanes or steps overlap "
        "(|D.lstride| < element size with n > 1; for element-wise, |D.rstride| < element size with r > 1); "
        "`topk` with n != 1 or without a top-k unit (`topk_entries` = 0)"),
    Fault.WRITE_PROTECT: "the destination is `wbuf` (weights) or `imem` (instructions)",
    Fault.ADDRESS: (
        "an operand in `imem`; a footprint outside its buffer; an int16 operand with an odd base or stride; "
        f"`p_base` not a multiple of {RECORD_BYTES} or its records outside `pbuf`; inside an indexed loop, "
        "footprints over every index the last `topk` can have written (an odd or unaligned index "
        "increment likewise)"),
    Fault.LUT_RANGE: ("act = lut or rsqrt and `lut_base + 2**lut_log2 > lut_entries`: the table indexes past the LUT "
                      "memory"),
    Fault.OVERLAP: (
        "an element-wise instruction whose destination footprint overlaps a source footprint in the same "
        "buffer, unless that source is addressed identically (same buffer, type, base and strides: an "
        "in-place update)"),
}


def markdown_fault_table() -> str:
    rows = ["| code | name | cause |", "|---|---|---|"]
    rows += [f"| {int(f)} | `{f.label}` | {cause} |" for f, cause in FAULT_CAUSES.items()]
    return "\n".join(rows)
