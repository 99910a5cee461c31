"""Technology constants for area and energy, defined once, for one node (45 nm), each with its
public source or said to be this kit's assumption (docs/area-energy.md).

Logic area comes from synthesis (`rtl.synth`): Yosys maps the NPU to its generic gates and
flip-flops, and each is weighed in *gate equivalents* (GE, the area of a two-input NAND) by the
area of the matching X1 cell of the NanGate FreePDK45 Open Cell Library
(`NangateOpenCellLibrary_typical.lib`, the open 45 nm library used by OpenROAD's and many
universities' flows). A GE is then `NAND2_UM2` square micrometres at that node.

SRAM area comes from the macros the configuration has (`memory.memory_macros`: kind, width, depth),
first order: a square bit-cell array with a periphery strip `PERIPHERY_PITCHES` cell pitches deep
along two of its sides (decoders and drivers; column circuits), and the control block in the
corner they leave,

    area = cell * (sqrt(bits) + PERIPHERY_PITCHES) ** 2

with the 6T cell of Intel's 45 nm process for single-port macros and an 8T two-port cell 30 %
larger for 1R1W ones. The periphery depth is fitted to the macros the OpenRAM memory compiler
published for FreePDK45 (`OPENRAM_FREEPDK45_MACROS`), the one constant of the model that is not a
cell area. Energy per operation and per SRAM access scales Horowitz's 45 nm figures
(ISSCC 2014); leakage is an assumption for a low-power process.
"""
from __future__ import annotations

import re

import numpy as np

from .memory import memory_macros

__all__ = ["NODE_NM", "NAND2_UM2", "GATE_GE", "flip_flop_ge", "cell_ge", "SRAM_CELL_UM2", "PERIPHERY_PITCHES",
           "OPENRAM_FREEPDK45_MACROS", "fit_macro_model", "sram_macro_um2", "sram_area_um2", "macro_shape",
           "multiply_pj", "add_pj", "REQUANT_PJ", "sram_access_pj", "LEAKAGE_NW_PER_GE", "LEAKAGE_PW_PER_SRAM_BIT",
           "logic_ge_estimate"]

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
#: Macros compiled by OpenRAM for FreePDK45 (M. R. Guthaus et al., "OpenRAM: an open-source memory
#: compiler", ICCAD 2016; the generated libraries are in github.com/VLSIDA/OpenRAM, lib/freepdk45/,
#: `area` of each `..._TT_1p0V_25C.lib`): (width bits, depth words, words per row, area um^2).
OPENRAM_FREEPDK45_MACROS = (
    (8, 256, 1, 4498.9), (32, 256, 1, 12335.4), (32, 512, 1, 22454.7), (32, 1024, 1, 42051.1),
    (64, 1024, 1, 76901.6), (128, 1024, 1, 146602.5), (32, 2048, 4, 116044.4),
)


def fit_macro_model(macros=OPENRAM_FREEPDK45_MACROS) -> tuple[float, float]:
    """(cell um^2, periphery depth in cell pitches) of `area = cell * (sqrt(bits) + depth)^2` fitted
    to compiled macros with one word per row (a straight line of sqrt(area) against sqrt(bits)).
    Column-multiplexed macros are left out: OpenRAM's 2048-word one (a 512 x 128 array with a 4:1
    column mux) is 1.5 x the model (docs/area-energy.md)."""
    rows = np.array([(w * d, a) for w, d, per_row, a in macros if per_row == 1], dtype=float)
    slope, intercept = np.polyfit(np.sqrt(rows[:, 0]), np.sqrt(rows[:, 1]), 1)
    return float(slope ** 2), float(intercept / slope)


#: Periphery depth in cell pitches: `fit_macro_model()` rounded (OpenRAM's FreePDK45 macros, whose fitted
#: cell is 1.00 um^2, follow the model within 2.5 %). Scaling it with the cell assumes the periphery is
#: drawn at the bit cell's density, as a commercial compiler's is at its own node.
PERIPHERY_PITCHES = 22.0

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
    return SRAM_CELL_UM2[kind] * ((width * depth) ** 0.5 + PERIPHERY_PITCHES) ** 2


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
#: The top-k unit and indexed loops (`topk_entries` > 0), from syntheses of the 4-lane NPU with
#: 0, 64 and 256 entries (Yosys 0.23: 163,481, 227,157 and 327,241 GE): per entry 521 GE (a
#: 16-bit value, a 16-bit step and a valid flip-flop with their shift multiplexers, a 16-bit
#: comparator, the read port's multiplexer), and 30,330 GE whatever the entries (the index and
#: span multipliers of the front end, the decoder's wider footprints, the unit's counters).
TOPK_GE_PER_ENTRY, TOPK_GE_FIXED = 521, 30_330


def logic_ge_estimate(lanes: int, topk_entries: int = 0) -> float:
    """The NPU's logic in GE at `lanes` lanes with a top-k unit of `topk_entries` registers (0:
    none), from the syntheses above."""
    per_lane = (_GE_AT_8 - _GE_AT_4) / 4
    topk = TOPK_GE_FIXED + TOPK_GE_PER_ENTRY * topk_entries if topk_entries else 0
    return _GE_AT_4 + per_lane * (lanes - 4) + topk
