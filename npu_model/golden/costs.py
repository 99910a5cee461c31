"""The per-instruction cost table: what each instruction of a program adds to the frame's
counters (docs/timing.md "Counters"). One table for the schedule's frame totals, the report's
per-layer figures and the RTL counters they are compared against.
"""
from __future__ import annotations

import numpy as np

from ..arch.config import BUFFER_NAMES, PBUF
from ..arch.record import RECORD_BYTES

__all__ = ["instruction_costs"]


def instruction_costs(analysis) -> dict[str, np.ndarray]:
    """Per-instance int64 arrays of an `Analysis`: `npu_macs` (n x r of a MAC), `mac_cycles` (r of a
    MAC), `conflict` (the cycles memory conflicts add to the r steps: A and B sharing a buffer,
    lanes in groups, a MAC's destination written in groups: occupancy - r), and `<buf>_read` /
    `<buf>_write`, the bytes read from and written to each data buffer (a broadcast operand,
    lstride 0, reads one element per step) and pbuf (the parameter records; never written)."""
    a = analysis
    f = a.fields
    n, r = f["n"], f["r"]
    mac = a.is_mac
    costs = {
        "npu_macs": np.where(mac, n * r, 0).astype(np.int64),
        "mac_cycles": np.where(mac, r, 0).astype(np.int64),
        "conflict": np.where(a.is_compute, a.occupancy - r, 0).astype(np.int64),
    }
    ops = a.operands
    for code, name in enumerate(BUFFER_NAMES):
        read = np.zeros(a.n_instructions, np.int64)
        for x in ("a", "b"):
            o = ops[x]
            live = o["present"] & (o["buf"] == code)
            read += np.where(live, r * np.where(f[f"{x}_lstride"] == 0, 1, n) * o["size"], 0)
        d = ops["d"]
        live = d["present"] & (d["buf"] == code) & a.writes
        write = np.where(live, a.results * d["size"], 0).astype(np.int64)
        costs[f"{name}_read"] = read
        costs[f"{name}_write"] = write
    costs[f"{PBUF}_read"] = np.where(a.is_compute, RECORD_BYTES * np.where(f["p_vec"] != 0, n, 1), 0).astype(np.int64)
    costs[f"{PBUF}_write"] = np.zeros(a.n_instructions, np.int64)
    return costs
