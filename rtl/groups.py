"""Lane groups in hardware: log2 of `npu_model.arch.memory.lane_group` for an operand.

The decoder needs, for each operand, the largest power-of-two group of consecutive lanes that
never meet in a bank of the operand's buffer (docs/timing.md rule 1). With W-byte words and B
banks (both powers of two) and s = |lane stride|:

    s = 0                  every lane (a broadcast)
    s a multiple of W      B / 2^min(trailing zeros of s / W, log2 B)
    otherwise              the largest 2^e with (2^e - 1) s <= (B - 1) W

capped at the lanes: a trailing-zero count and a few constant comparisons, no divider.
"""
from amaranth.hdl import Const, Mux, Signal
from amaranth.utils import exact_log2

from npu_model.arch.memory import BankOrg

__all__ = ["lane_group_log2", "GROUP_LOG2_BITS"]

#: Width of a group's log2 (groups of up to 2**7 lanes).
GROUP_LOG2_BITS = 3


def lane_group_log2(m, lstride, lanes: int, org: BankOrg, *, name: str):
    """A signal: log2 of the lane group of an operand with lane stride `lstride` (a signed value)
    in a buffer organised as `org`, on an NPU of `lanes` lanes."""
    top = exact_log2(lanes)
    bank_log, word_log = exact_log2(org.banks), exact_log2(org.word_bytes)
    s = Signal(len(lstride), name=f"{name}_s")
    m.d.comb += s.eq(Mux(lstride < 0, -lstride, lstride))
    q = s >> word_log
    zeros = sum((q[:e] == 0) for e in range(1, bank_log + 1)) if bank_log else Const(0)
    whole = Const(bank_log, GROUP_LOG2_BITS) - zeros
    part = sum(((2 ** e - 1) * s <= (org.banks - 1) * org.word_bytes) for e in range(1, top + 1)) if top \
        else Const(0)
    log = Mux(s == 0, top, Mux(s[:word_log] == 0 if word_log else 1, whole, part))
    out = Signal(GROUP_LOG2_BITS, name=f"{name}_glog")
    m.d.comb += out.eq(Mux(log > top, top, log))
    return out
