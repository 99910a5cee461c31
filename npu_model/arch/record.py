"""The parameter record, defined once: the 8 bytes every compute instruction reads from pbuf.

The compiler packs records with `PARAM_RECORD`, the assembler's `.param` checks `RECORD_FIELDS`'
ranges, the golden model reads them at `field_offset`, the RTL builds its `StructLayout` from
`RECORD_FIELDS`, and docs/isa.md's table is generated from it (docs/isa.md "Parameter records").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RecordField", "RECORD_FIELDS", "PARAM_RECORD", "RECORD_BYTES", "SHIFT_BITS", "field_offset",
           "out_of_range", "markdown_record_table"]

#: Only the low SHIFT_BITS bits of a record's shift byte count (a right shift of 0..63).
SHIFT_BITS = 6


@dataclass(frozen=True)
class RecordField:
    name: str
    dtype: str          # numpy type, little-endian
    lo: int             # the values a writer may store (what the hardware uses)
    hi: int
    doc: str

    @property
    def bits(self) -> int:
        return 8 * np.dtype(self.dtype).itemsize

    @property
    def signed(self) -> bool:
        return np.dtype(self.dtype).kind == "i"


RECORD_FIELDS: tuple[RecordField, ...] = (
    RecordField("bias", "<i4", -(1 << 31), (1 << 31) - 1, "added to the accumulator (MAC: its start value)"),
    RecordField("mult", "<i2", -(1 << 15), (1 << 15) - 1, "requantisation multiplier"),
    RecordField("shift", "u1", 0, (1 << SHIFT_BITS) - 1,
                f"requantisation right shift; only bits 0..{SHIFT_BITS - 1} count (0..{(1 << SHIFT_BITS) - 1})"),
    RecordField("pad", "u1", 0, 0, "ignored"),
)
PARAM_RECORD = np.dtype([(f.name, f.dtype) for f in RECORD_FIELDS])
RECORD_BYTES = PARAM_RECORD.itemsize


def field_offset(name: str) -> int:
    """Byte offset of a field in the record."""
    return PARAM_RECORD.fields[name][1]


def out_of_range(**values) -> tuple[str, int, int] | None:
    """(field, lo, hi) of the first field whose value(s) leave the field's range, or None."""
    for f in RECORD_FIELDS:
        v = values.get(f.name)
        if v is not None and np.size(v) and (np.min(v) < f.lo or np.max(v) > f.hi):
            return f.name, f.lo, f.hi
    return None


def markdown_record_table() -> str:
    rows = ["| bytes | type | name | meaning |", "|---|---|---|---|"]
    for f in RECORD_FIELDS:
        at, size = field_offset(f.name), np.dtype(f.dtype).itemsize
        span = f"{at}..{at + size - 1}" if size > 1 else f"{at}"
        kind = f"{'int' if f.signed else 'uint'}{f.bits}"
        rows.append(f"| {span} | {kind} | {'-' if f.name == 'pad' else f'`{f.name}`'} | {f.doc} |")
    return "\n".join(rows)
