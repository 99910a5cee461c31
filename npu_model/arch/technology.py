"""Technology constants for area, defined once, for one node (45 nm), each with its public source.

Logic area comes from synthesis (`rtl.synth`): Yosys maps the NPU to its generic gates and
flip-flops, and each is weighed in *gate equivalents* (GE, the area of a two-input NAND) by the
area of the matching X1 cell of the NanGate FreePDK45 Open Cell Library
(`NangateOpenCellLibrary_typical.lib`, the open 45 nm library used by OpenROAD's and many
universities' flows). A GE is then `NAND2_UM2` square micrometres at that node.

SRAM area comes from the macros the configuration asks for (`rtl.macro`: kind, width, depth),
first order: the bit-cell array, a periphery strip along two of its sides and a control block,

    area = core + 2 * PERIPHERY_STRIP_UM * sqrt(core) + CONTROL_UM2,   core = bits * cell

with the 6T cell of Intel's 45 nm process for single-port macros and an 8T two-port cell 30 %
larger for 1R1W ones. docs/area-energy.md gives the sources and checks the result against
published figures.
"""
from __future__ import annotations

import re

__all__ = ["NODE_NM", "NAND2_UM2", "GATE_GE", "flip_flop_ge", "cell_ge", "SRAM_CELL_UM2", "PERIPHERY_STRIP_UM",
           "CONTROL_UM2", "sram_macro_um2", "macro_shape"]

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


def sram_macro_um2(kind: str, width: int, depth: int) -> float:
    """Area of one SRAM macro of `width` bits x `depth` words (see the module docstring)."""
    core = width * depth * SRAM_CELL_UM2[kind]
    return core + 2 * PERIPHERY_STRIP_UM * core ** 0.5 + CONTROL_UM2
