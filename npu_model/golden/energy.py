"""Energy of every executed instruction, from the counters' own quantities and the 45 nm constants of
`npu_model.arch.technology` (docs/area-energy.md "Energy").

Per instance, in pJ (each a term of `instruction_energy`):

    mac     multiply-accumulates: n x r x (multiply of A's by B's width + 32-bit add); a dot adds
            its adder tree, n - 1 32-bit adds
    alu     element-wise operations: r x n x (add/sub/max/min: a 16-bit add; mul: a multiply;
            mov: nothing; topk: a 16-bit compare per index register, the insertion)
    post    requantisation of every result written (a MAC's n, a dot's 1, an element-wise r x n,
            a topk's r compared) and the LUT read of act = lut / rsqrt
    <buf>   data-buffer reads and writes: the bytes of the cost table (`golden.costs`) in words of
            the buffer's macros, each access the energy of one macro of that size
    pbuf    parameter records read
    fetch   one instruction word from imem per instance (control instructions too)

Leakage is not per instruction: `leakage_uw` gives the power the configured memories and a logic
area leak, which a frame pays over its duration.
"""
from __future__ import annotations

import numpy as np

from ..arch.config import BUFFER_NAMES, PBUF, NpuConfig
from ..arch.isa import Act, DType, Opcode
from ..arch.memory import memory_macros
from ..arch.technology import (LEAKAGE_NW_PER_GE, LEAKAGE_PW_PER_SRAM_BIT, REQUANT_PJ, add_pj, multiply_pj,
                               sram_access_pj)
from .costs import instruction_costs

__all__ = ["instruction_energy", "macro_of", "leakage_uw", "ENERGY_TERMS"]

#: The terms of `instruction_energy`, in report order.
ENERGY_TERMS = ("mac", "alu", "post", *BUFFER_NAMES, PBUF, "fetch")


def macro_of(config: NpuConfig, memory: str) -> tuple[int, int]:
    """(word width in bits, bytes of its deepest macro) of the SRAM macros `memory` is built from
    (`arch.memory.memory_macros`): an access costs what one access of that macro costs."""
    groups = [g for g in memory_macros(config) if g.memory == memory]
    if not groups:
        raise ValueError(f"unknown memory {memory!r}")
    width, depth = groups[0].width, max(g.depth for g in groups)
    return width, width * depth // 8


def _byte_pj(config: NpuConfig, memory: str) -> float:
    width, size = macro_of(config, memory)
    return sram_access_pj(width, size) / (width // 8)


def instruction_energy(analysis, costs: dict | None = None) -> dict[str, np.ndarray]:
    """Per-instance float64 arrays of pJ, one per `ENERGY_TERMS` (see the module docstring)."""
    a = analysis
    cfg: NpuConfig = a.config
    f = a.fields
    costs = instruction_costs(a) if costs is None else costs
    n, r = f["n"].astype(np.float64), f["r"].astype(np.float64)
    bits = np.array([DType(d).bits for d in DType], np.float64)
    mult = multiply_pj(bits[f["a_dtype"]], bits[f["b_dtype"]])
    op = a.opcode
    # dot: the same multiply-adds, then an adder tree of n - 1 accumulator-wide adds
    out = {"mac": np.where(a.is_mac, n * r * (mult + add_pj(32)) + np.where(a.is_dot, (n - 1) * add_pj(32), 0.0), 0.0)}
    # topk: one compare per step against every index register (the insertion)
    ew_op = np.where(op == Opcode.MUL, mult, np.where(op == Opcode.MOV, 0.0, add_pj(16)))
    ew_op = np.where(a.is_topk, cfg.topk_entries * add_pj(16), ew_op)
    out["alu"] = np.where(a.is_ew, r * n * ew_op, 0.0)
    results = np.where(a.writes | a.is_topk, a.results, 0).astype(np.float64)
    lut = np.isin(f["act"], (Act.LUT, Act.RSQRT))
    lut_pj = sram_access_pj(*macro_of(cfg, "lut"))
    out["post"] = results * (REQUANT_PJ + np.where(lut, lut_pj, 0.0))
    for buf in (*BUFFER_NAMES, PBUF):
        out[buf] = (costs[f"{buf}_read"] + costs[f"{buf}_write"]) * _byte_pj(cfg, buf)
    out["fetch"] = np.full(a.n_instructions, sram_access_pj(*macro_of(cfg, "imem")))
    return {k: out[k] for k in ENERGY_TERMS}


def leakage_uw(config: NpuConfig, *, logic_ge: float) -> dict[str, float]:
    """Leakage power in uW: `sram` of the bits of every macro of the configuration (the LUT's copy
    per lane included), `logic` of `logic_ge` gate equivalents (from `python -m rtl synth`, or an
    estimate)."""
    bits = sum(g.count * g.width * g.depth for g in memory_macros(config))
    return {"sram": bits * LEAKAGE_PW_PER_SRAM_BIT * 1e-6, "logic": logic_ge * LEAKAGE_NW_PER_GE * 1e-3}
