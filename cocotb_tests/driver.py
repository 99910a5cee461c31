"""Driver and monitor of the cosimulation (run inside the simulator, by `cocotb_tests.tb`).

`HostDriver` moves whole host targets through `cosim_top`'s command registers (see `hdl.py`):
one file and one `RisingEdge(tb_done)` per transfer, the rows themselves at simulator speed.
`Monitor` reads back, after `done`, the fault status, the counters, the debug trace, the output
regions and abuf/sbuf.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from cocotb.triggers import RisingEdge

from npu_model.arch.isa import DATA_BUFFERS
from npu_model.arch.program import Program
from rtl.counters import COUNTER_NAMES
from rtl.layout import TRACE_ENTRIES_PER_ROW, HostTarget, host_row_bytes

from .hdl import OP_READ, OP_RUN, OP_WRITE, ROW_BYTES
from .scoreboard import Observed

__all__ = ["HostDriver", "Monitor", "write_rows_file", "read_rows_file"]

#: host-port target of each data buffer, by name.
_TARGET = {b.label: HostTarget[b.name] for b in DATA_BUFFERS}


def write_rows_file(path: Path, data: bytes, row_bytes: int = ROW_BYTES) -> int:
    """Write `data` (padded to whole rows of `row_bytes`) as $readmemh text, one host row per
    line in the low bytes of a 256-bit value (byte 0 in the least significant bits). Returns the
    number of rows."""
    data = bytes(data) + bytes(-len(data) % row_bytes)
    rows = np.zeros((len(data) // row_bytes, ROW_BYTES), np.uint8)
    rows[:, :row_bytes] = np.frombuffer(data, np.uint8).reshape(-1, row_bytes)
    text = np.frombuffer(rows[:, ::-1].tobytes().hex().encode(), dtype=f"S{2 * ROW_BYTES}")
    path.write_bytes(b"\n".join(text.tolist()) + b"\n")
    return len(rows)


def read_rows_file(path: Path, rows: int, row_bytes: int = ROW_BYTES) -> bytes:
    """Parse $writememh output (256-bit values) back into the little-endian bytes of host rows
    of `row_bytes`."""
    lines = [ln for ln in path.read_text().split() if ln and not ln.startswith(("//", "@"))]
    if len(lines) != rows:
        raise RuntimeError(f"{path}: expected {rows} rows, read {len(lines)}")
    raw = bytes.fromhex("".join(ln.rjust(2 * ROW_BYTES, "0") for ln in lines))
    return np.frombuffer(raw, np.uint8).reshape(-1, ROW_BYTES)[:, ::-1][:, :row_bytes].tobytes()


class HostDriver:
    """Host-side transfers and frame starts through `cosim_top`."""

    def __init__(self, dut, workdir: Path, config):
        self.dut = dut
        self.config = config
        self.rows_file = Path(workdir) / "rows.hex"
        self.seq = 0

    async def settle(self):
        """Let the simulation initialise: registers take their initial values in the first
        evaluation (tb_done 0 -> 1 at time 0 would look like a finished command)."""
        for _ in range(2):
            await RisingEdge(self.dut.clk)

    def issue(self, op, target=0, row0=0, rows=0):
        """Hand a command to the wrapper; it starts at the next clock edge."""
        d = self.dut
        d.tb_op.value = op
        d.tb_sel.value = int(target)
        d.tb_row0.value = row0
        d.tb_rows.value = rows
        self.seq += 1
        d.tb_seq.value = self.seq

    async def command(self, op, target=0, row0=0, rows=0):
        self.issue(op, target, row0, rows)
        await RisingEdge(self.dut.tb_done)

    def row_bytes(self, target) -> int:
        return host_row_bytes(self.config, target)

    async def write_rows(self, target, data: bytes, row0: int = 0):
        rows = write_rows_file(self.rows_file, data, self.row_bytes(target))
        await self.command(OP_WRITE, target, row0, rows)

    async def read_rows(self, target, row0: int, rows: int) -> bytes:
        if rows == 0:
            return b""
        await self.command(OP_READ, target, row0, rows)
        return read_rows_file(self.rows_file, rows, self.row_bytes(target))

    async def read_bytes(self, target, offset: int, count: int) -> bytes:
        size = self.row_bytes(target)
        row0 = offset // size
        rows = -(-(offset + count) // size) - row0
        raw = await self.read_rows(target, row0, rows)
        skip = offset - row0 * size
        return raw[skip:skip + count]

    async def write_bytes(self, target, offset: int, data: bytes):
        """Write bytes at any offset: rows only partly covered are read, patched, written."""
        size = self.row_bytes(target)
        row0 = offset // size
        end = offset + len(data)
        rows = -(-end // size) - row0
        skip = offset - row0 * size
        if skip or end % size:
            block = bytearray(await self.read_rows(target, row0, rows))
            block[skip:skip + len(data)] = data
            data = bytes(block)
        await self.write_rows(target, data, row0)

    async def load_program(self, program: Program):
        """imem, and the state at program load: wbuf and sbuf from their images (zero beyond),
        pbuf from its image (zero beyond), abuf zero, the LUT (zero beyond its image) -- the golden
        model's `Npu.reset()`."""
        cfg = program.config
        await self.write_rows(HostTarget.IMEM, program.code.tobytes())
        await self.write_rows(HostTarget.WBUF, program.wbuf + bytes(cfg.wbuf_bytes - len(program.wbuf)))
        await self.write_rows(HostTarget.PBUF, program.pbuf + bytes(cfg.pbuf_bytes - len(program.pbuf)))
        await self.write_rows(HostTarget.SBUF, program.sbuf + bytes(cfg.sbuf_bytes - len(program.sbuf)))
        await self.write_rows(HostTarget.ABUF, bytes(cfg.abuf_bytes))
        lut = np.zeros(cfg.lut_entries, "<i2")
        lut[:len(program.lut)] = program.lut
        await self.write_rows(HostTarget.LUT, lut.tobytes())

    async def write_inputs(self, program: Program, inputs: dict):
        for port in program.inputs:
            data = np.asarray(inputs[port.name]).reshape(-1).astype(port.numpy_dtype).tobytes()
            await self.write_bytes(_TARGET[port.buf], port.offset, data)

    def start(self, limit: int):
        """Pulse start; the wrapper stops waiting for done after `limit` clock cycles."""
        self.dut.tb_limit.value = limit
        self.issue(OP_RUN)

    async def run_frame(self, limit: int) -> tuple[int, bool]:
        """Pulse start and wait for done (at most `limit` clock cycles): (cycles, timed out)."""
        self.start(limit)
        await RisingEdge(self.dut.tb_done)
        return int(self.dut.tb_cycles.value), bool(self.dut.tb_timeout.value)


class Monitor:
    """Reads what the RTL did in the last frame."""

    def __init__(self, driver: HostDriver, program: Program):
        self.driver = driver
        self.dut = driver.dut
        self.program = program

    def fault(self):
        d = self.dut
        if int(d.fault.value):
            return int(d.fault_pc.value), int(d.fault_code.value)
        return None

    def counters(self) -> dict:
        return {name: int(getattr(self.dut, f"c_{name}").value) for name in COUNTER_NAMES}

    async def trace(self, count: int):
        raw = await self.driver.read_rows(HostTarget.TRACE, 0, -(-count // TRACE_ENTRIES_PER_ROW))
        entries = np.frombuffer(raw, "<u4").reshape(-1, 2)[:count].astype(np.int64)
        return entries[:, 0].copy(), entries[:, 1].copy()

    async def observe(self, frame: int, clock_cycles: int, timeout: bool, instances: int) -> Observed:
        """What the RTL did in the frame; `instances`: trace entries to read (the golden model's
        count of the frame's instructions, or of those before its fault)."""
        prog = self.program
        cfg = prog.config
        fault = self.fault()
        issue, retire = await self.trace(instances)
        outputs = {}
        for port in prog.outputs:
            raw = await self.driver.read_bytes(_TARGET[port.buf], port.offset, port.nbytes)
            outputs[port.name] = np.frombuffer(raw, port.numpy_dtype).astype(
                np.int8 if port.dtype == "i8" else np.int16).reshape(port.shape)
        buffers = {}
        for name in ("abuf", "sbuf"):
            raw = await self.driver.read_bytes(_TARGET[name], 0, cfg.buffer_bytes(name))
            buffers[name] = np.frombuffer(raw, np.uint8).copy()
        return Observed(frame=frame, fault=fault, issue=issue, retire=retire, counters=self.counters(),
                        outputs=outputs, buffers=buffers, timeout=timeout, clock_cycles=clock_cycles)
