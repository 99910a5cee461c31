"""Helpers shared by the RTL tests: configurations, a host driver for `Npu` in amaranth.sim,
and program construction from `npu_model.arch.isa` instructions."""
from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from npu_model.arch.config import NpuConfig
from npu_model.arch.isa import INSTRUCTION_BYTES, Instruction, encode
from rtl.layout import HOST_WORD_BYTES, TRACE_ENTRIES_PER_ROW, HostTarget, host_row_bytes
from rtl.npu import Npu

__all__ = ["small_config", "Host", "run_npu", "I", "record"]


def small_config(lanes=8, **kw) -> NpuConfig:
    """A configuration small enough for amaranth.sim to elaborate and run quickly."""
    base = dict(lanes=lanes, wbuf_bytes=2048, abuf_bytes=2048, sbuf_bytes=512,
                imem_bytes=64 * INSTRUCTION_BYTES, lut_entries=256, acc_bits=32)
    base.update(kw)
    base.setdefault("pbuf_bytes", base["wbuf_bytes"])
    return NpuConfig(**base)


def I(opcode, **fields) -> Instruction:
    return Instruction(opcode=int(opcode), **fields)


def record(bias=0, mult=1, shift=0) -> bytes:
    return (int(bias).to_bytes(4, "little", signed=True) + int(mult).to_bytes(2, "little", signed=True)
            + bytes([shift & 0xFF, 0]))


class Host:
    """Drives the host port of an `Npu` from an async amaranth.sim testbench."""

    def __init__(self, ctx, dut: Npu):
        self.ctx, self.dut = ctx, dut

    def row_bytes(self, target) -> int:
        return host_row_bytes(self.dut.config, target)

    async def write_rows(self, target, data: bytes, row0=0):
        ctx, host = self.ctx, self.dut.host
        size = self.row_bytes(target)
        data = bytes(data) + bytes(-len(data) % size)
        ctx.set(host.sel, target)
        for i in range(len(data) // size):
            chunk = data[i * size:(i + 1) * size]
            ctx.set(host.addr, row0 + i)
            ctx.set(host.wdata, int.from_bytes(chunk, "little"))
            ctx.set(host.we, 1)
            await ctx.tick()
        ctx.set(host.we, 0)

    async def read_rows(self, target, rows, row0=0) -> bytes:
        ctx, host = self.ctx, self.dut.host
        out = bytearray()
        ctx.set(host.sel, target)
        ctx.set(host.re, 1)
        for i in range(rows):
            ctx.set(host.addr, row0 + i)
            await ctx.tick()
            out += ctx.get(host.rdata).to_bytes(HOST_WORD_BYTES, "little")[:self.row_bytes(target)]
        ctx.set(host.re, 0)
        return bytes(out)

    async def read_bytes(self, target, offset, count) -> bytes:
        size = self.row_bytes(target)
        row0 = offset // size
        rows = (offset + count + size - 1) // size - row0
        raw = await self.read_rows(target, rows, row0)
        skip = offset - row0 * size
        return raw[skip:skip + count]

    async def load_program(self, code, *, wbuf=b"", sbuf=b"", abuf=b"", lut=(), pbuf=None):
        """imem and the images given; pbuf gets the wbuf image unless given (the tests write
        their parameter records and weights into one image, records at the same offsets)."""
        words = b"".join(encode(ins) if isinstance(ins, Instruction) else ins for ins in code)
        await self.write_rows(HostTarget.IMEM, words)
        pbuf = bytes(wbuf)[:self.dut.config.pbuf_bytes] if pbuf is None else pbuf
        if pbuf:
            await self.write_rows(HostTarget.PBUF, pbuf)
        if wbuf:
            await self.write_rows(HostTarget.WBUF, wbuf)
        if sbuf:
            await self.write_rows(HostTarget.SBUF, sbuf)
        if abuf:
            await self.write_rows(HostTarget.ABUF, abuf)
        if len(lut):
            await self.write_rows(HostTarget.LUT, np.asarray(lut, dtype="<i2").tobytes())

    async def run_frame(self, max_cycles=20000) -> int:
        """Pulse start and wait for done; returns the number of clock edges waited."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for n in range(max_cycles):
            if ctx.get(dut.done):
                return n
            await ctx.tick()
        raise AssertionError("NPU did not finish")

    async def trace(self, count):
        rows = -(-count // TRACE_ENTRIES_PER_ROW)
        raw = await self.read_rows(HostTarget.TRACE, rows)
        out = []
        for pc in range(count):
            e = int.from_bytes(raw[pc * 8:pc * 8 + 8], "little")
            out.append((e & 0xFFFFFFFF, e >> 32))
        return out

    def counters(self) -> dict:
        return {name: self.ctx.get(getattr(self.dut.counters, name))
                for name in self.dut.counters.signature.members}


def run_npu(config, testbench, *, trace_depth=256, vcd=None):
    """Build an Npu (with a debug trace of `trace_depth` instances), run `testbench(host)` (an
    async function) on it."""
    dut = Npu(config=config, trace_depth=trace_depth)
    result = {}

    async def tb(ctx):
        result["value"] = await testbench(Host(ctx, dut))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return result.get("value")
