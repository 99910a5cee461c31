"""Technology constants for area and energy, defined once, for one node (45 nm), each with its
public source or said to be this kit's assumption (docs/area-energy.md).

Logic area comes from synthesis (`rtl.synth`): Yosys maps the NPU to its generic gates and
flip-flops, and each is weighed in *gate equivalents* (GE, the area of a two-input NAND) by the
area of the matching X1 cell of the NanGate FreePDK45 Open Cell Library
(`NangateOpenCellLibrary_typical.lib`, the open 45 nm library used by OpenROAD's and many
universities' flows). A GE is then `NAND2_UM2` square micrometres at that node.

SRAM area comes from the macros the configuration has (`memory.memory_macros`: kind, width, depth),
first order: the bit-cell array, a periphery strip along two of its sides and a control block,

    area = core + 2 * PERIPHERY_STRIP_UM * sqrt(core) + CONTROL_UM2,   core = bits * cell

with the 6T cell of Intel's 45 nm process for single-port macros and an 8T two-port cell 30 %
larger for 1R1W ones. Energy per operation and per SRAM access scales Horowitz's 45 nm figures
(ISSCC 2014); leakage is an assumption for a low-power process.
"""
from __future__ import annotations

import re

from .memory import memory_macros

__all__ = ["NODE_NM", "NAND2_UM2", "GATE_GE", "flip_flop_ge", "cell_ge", "SRAM_CELL_UM2", "PERIPHERY_STRIP_UM",
           "CONTROL_UM2", "sram_macro_um2", "sram_area_um2", "macro_shape", "multiply_pj", "add_pj", "REQUANT_PJ",
           "sram_access_pj", "LEAKAGE_NW_PER_GE", "LEAKAGE_PW_PER_SRAM_BIT", "logic_ge_estimate"]

#: The node every constant below belongs to.
NODE_NM = 45

#: NanGate FreePDK45 Open Cell Library, cell areas in um^2 (X1 drive strength).
_NANGATE_UM2 = {"INV_X1": 0.532, "NAND2_X1": 0.798, "NOR2_X1": 0.798, "AND2_X1": 1.064, "OR2_X1": 1.064,
                "XOR2_X1": 1.596, "XNOR2_X1": 1.596, "MUX2_X1": 1.862, "AOI21_X1": 1.064, "OAI21_X1": 1.064,
                "AOI22_X1": 1.330, "OAI22_X1": 1.330, "DFF_X1": 4.522}
#: One gate equivalent: a NAND2_X1.
NAND2_UM2 = _NANGATE_UM2["NAND2_X1"]


def _ge(cell: str) -> float:
    return _NANGATE_UM2[cell] / NAND2_UM2


#: Yosys's generic combinational gates -> GE. ANDNOT and ORNOT (a AND NOT b), which the library
#: lacks, are weighed as AND2/OR2: libraries with inverted-input cells make them at that size.
GATE_GE = {
    "$_NOT_": _ge("INV_X1"), "$_BUF_": _ge("NAND2_X1"),
    "$_AND_": _ge("AND2_X1"), "$_OR_": _ge("OR2_X1"), "$_ANDNOT_": _ge("AND2_X1"), "$_ORNOT_": _ge("OR2_X1"),
    "$_NAND_": _ge("NAND2_X1"), "$_NOR_": _ge("NOR2_X1"), "$_XOR_": _ge("XOR2_X1"), "$_XNOR_": _ge("XNOR2_X1"),
    "$_MUX_": _ge("MUX2_X1"), "$_AOI3_": _ge("AOI21_X1"), "$_OAI3_": _ge("OAI21_X1"),
    "$_AOI4_": _ge("AOI22_X1"), "$_OAI4_": _ge("OAI22_X1"),
}

_FF = re.compile(r"^\$_(S?)DFF(C?E?)_([PN01]+)_$")


def flip_flop_ge(cell: str) -> float | None:
    """GE of one of Yosys's flip-flop cells ($_DFF_P_, $_DFFE_PP_, $_SDFF_PP0_, $_SDFFCE_PN0P_, ...):
    a DFF_X1, plus a MUX2 for a clock enable and an AND2 for a synchronous reset or set (the
    library's plain flip-flop has neither); None for anything else."""
    m = _FF.match(cell)
    if m is None:
        return None
    sync, enable, _ = m.groups()
    return _ge("DFF_X1") + (_ge("MUX2_X1") if "E" in enable else 0.0) + (_ge("AND2_X1") if sync else 0.0)


def cell_ge(cell: str) -> float | None:
    """GE of a generic gate or flip-flop cell; None for a cell that is neither (a submodule, a
    black-boxed macro)."""
    return GATE_GE.get(cell, flip_flop_ge(cell))


#: 6T SRAM bit cell, um^2: Intel 45 nm high-k + metal gate process (Mistry et al., IEDM 2007).
_CELL_6T_UM2 = 0.346
#: An 8T two-port cell (a separate read port) is about 30 % larger than the 6T cell (Chang et al.,
#: "Stable SRAM cell design for the 32 nm node and beyond", VLSI Symposium 2005).
SRAM_CELL_UM2 = {"1rw": _CELL_6T_UM2, "1r1w": 1.3 * _CELL_6T_UM2}
#: Periphery of a macro, first order: a strip of decoders and word-line drivers along one side of
#: the (square) bit-cell array and one of column muxes, sense amplifiers and write drivers along
#: another, each `PERIPHERY_STRIP_UM` deep, plus a control block (timing, address latches).
PERIPHERY_STRIP_UM = 20.0
CONTROL_UM2 = 2000.0

_MACRO = re.compile(r"^sram_(1rw|1r1w)_w(\d+)_d(\d+)_g(\d+)$")


def macro_shape(name: str) -> tuple[str, int, int] | None:
    """(kind, width bits, depth words) of an SRAM macro module name (`rtl.macro.macro_name`), else None."""
    m = _MACRO.match(name)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def sram_area_um2(config) -> dict[str, float]:
    """SRAM macro area of an NPU configuration per memory (`memory.memory_macros`), um^2."""
    out: dict[str, float] = {}
    for g in memory_macros(config):
        out[g.memory] = out.get(g.memory, 0.0) + g.count * sram_macro_um2(g.kind, g.width, g.depth)
    return out


def sram_macro_um2(kind: str, width: int, depth: int) -> float:
    """Area of one SRAM macro of `width` bits x `depth` words (see the module docstring)."""
    core = width * depth * SRAM_CELL_UM2[kind]
    return core + 2 * PERIPHERY_STRIP_UM * core ** 0.5 + CONTROL_UM2


# Energy ------------------------------------------------------------------------------------------------
# M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm, 0.9 V:
# 8-bit integer add 0.03 pJ, 32-bit add 0.1 pJ, 8-bit multiply 0.2 pJ, 32-bit multiply 3.1 pJ;
# a 64-bit read of an 8 KB SRAM 10 pJ, of 32 KB 20 pJ, of 1 MB 100 pJ.

#: Energy of one integer multiply of an a-bit by a b-bit operand, pJ: Horowitz's 8 x 8 figure
#: scaled with the product of the widths (his 32 x 32 one is 15.5 x the 8 x 8 one for 16 x the width
#: product): 0.2 pJ int8 x int8, 0.4 pJ int8 x int16, 0.8 pJ int16 x int16.
def multiply_pj(a_bits: int, b_bits: int) -> float:
    return 0.2 * (a_bits * b_bits) / 64


#: Energy of one add of `bits` bits, pJ: between Horowitz's 8-bit (0.03) and 32-bit (0.1) adds,
#: linear in the width.
def add_pj(bits: int) -> float:
    return 0.03 + (0.1 - 0.03) * (bits - 8) / 24


#: Requantising one result (a 16 x 32-bit multiply and a 32-bit add for the bias/rounding), pJ.
REQUANT_PJ = multiply_pj(16, 32) + add_pj(32)


def sram_access_pj(width_bits: int, macro_bytes: int) -> float:
    """One read or write of a `width_bits` word of one SRAM macro of `macro_bytes`, pJ: Horowitz's
    64-bit access of an 8 KB array (10 pJ) scaled linearly with the word width and with the square
    root of the capacity (his 8 KB -> 32 KB -> 1 MB figures, 10 -> 20 -> 100 pJ, follow it)."""
    return 10.0 * (width_bits / 64) * (macro_bytes / 8192) ** 0.5


#: Leakage at 45 nm, 25 C: assumptions of this kit for a low-power (LP) process, not datasheet
#: figures. The NanGate typical library, a generic process model, lists some tens of nW per cell;
#: LP processes, what an always-on speech device is built in, leak one to two orders of magnitude
#: less: 1 nW per gate equivalent, and 20 pW per SRAM bit with its periphery.
LEAKAGE_NW_PER_GE = 1.0
LEAKAGE_PW_PER_SRAM_BIT = 20.0

#: Logic of the NPU in GE without synthesising it (for leakage in reports): `make area` with Yosys
#: 0.23 on this RTL gave 161,632 GE at 4 lanes and 277,819 GE at 8; a line through both.
_GE_AT_4, _GE_AT_8 = 161_632, 277_819


def logic_ge_estimate(lanes: int) -> float:
    """The NPU's logic in GE at `lanes` lanes, interpolated from two syntheses (see above)."""
    per_lane = (_GE_AT_8 - _GE_AT_4) / 4
    return _GE_AT_4 + per_lane * (lanes - 4)
