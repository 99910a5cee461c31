"""Whole-NPU tests on hand-built programs: outputs, and the issue/retire cycle of every
instruction worked out by hand from docs/timing.md (the derivations are in the comments)."""
import numpy as np
import pytest

from npu_model.arch.isa import Act, Buffer, DType, Opcode
from npu_model.arch.timing import FETCH_LATENCY, PIPELINE_LATENCY, PORT_CONFLICT_FACTOR
from rtl.layout import HostTarget

from rtl_harness import I, record, run_npu, small_config

A, W, S = Buffer.ABUF, Buffer.WBUF, Buffer.SBUF
I8, I16 = DType.I8, DType.I16


def test_constants_assumed_by_the_hand_derivations():
    assert (FETCH_LATENCY, PIPELINE_LATENCY, PORT_CONFLICT_FACTOR) == (2, 4, 2)


def i16(*values):
    return np.asarray(values, dtype="<i2").tobytes()


def i8(*values):
    return np.asarray(values, dtype="i1").tobytes()


PROGRAM_1 = [
    # pc0 sync_in: fence, nothing earlier. e = FETCH_LATENCY = 2, t = 2, retire = 2.
    I(Opcode.SYNC_IN, port=0),
    # pc1 GEMV-style MAC, 4 lanes, 3 steps, activation broadcast (lstride 0), relu.
    # e = 3, no hazard, t = 3, occ = 3 (abuf + wbuf: k = 1), retire = 3 + 3 - 1 + 4 = 9.
    I(Opcode.MAC, n=4, r=3, a_buf=A, a_dtype=I8, a_base=0x0, a_rstride=1,
      b_buf=W, b_dtype=I8, b_base=0x0, b_rstride=4, b_lstride=1,
      d_buf=A, d_dtype=I8, d_base=0x100, d_lstride=1, p_base=0x400, p_vec=1, act=Act.RELU),
    # pc2 add, A and B both in abuf (k = 2), reads pc1's destination abuf[0x100..0x103].
    # e = 3 + 3 = 6, h = retire(pc1) + 1 = 10, t = 10 (stall 4), occ = 2, retire = 10 + 2 - 1 + 4 = 15.
    I(Opcode.ADD, n=4, r=1, a_buf=A, a_dtype=I8, a_base=0x100, a_lstride=1,
      b_buf=A, b_dtype=I8, b_base=0x100, b_lstride=1,
      d_buf=S, d_dtype=I16, d_base=0x0, d_lstride=2, p_base=0x420),
    # pc3 nop: e = 12, t = 12, retire = 12.
    I(Opcode.NOP),
    # pc4 mov of sbuf[0..15] (pc2 wrote sbuf[0..7], retires 15): e = 13, h = 16, t = 16 (stall 3),
    # occ = 2, retire = 16 + 2 - 1 + 4 = 21.
    I(Opcode.MOV, n=4, r=2, a_buf=S, a_dtype=I16, a_base=0x0, a_rstride=8, a_lstride=2,
      d_buf=A, d_dtype=I8, d_base=0x200, d_rstride=4, d_lstride=1, p_base=0x428),
    # pc5 sync_out: fence. e = 18, h = 21 + 1 = 22, t = 22 (stall 4), retire = 22.
    I(Opcode.SYNC_OUT, port=1),
    # pc6 eof: e = 23, h = 23, t = 23, retire = 23; the frame takes 24 cycles.
    I(Opcode.EOF),
]
SCHEDULE_1 = [(2, 2), (3, 9), (10, 15), (12, 12), (16, 21), (22, 22), (23, 23)]


def images_1():
    weights = i8(1, 2, 3, 4, 5, 6, 7, 8, -1, -1, -1, -1)          # wbuf.i8[4r + l]
    wbuf = bytearray(2048)
    wbuf[0:12] = weights
    for lane in range(4):
        wbuf[0x400 + 8 * lane:0x408 + 8 * lane] = record(bias=10 * lane, mult=1, shift=0)
    wbuf[0x420:0x428] = record(0, 1, 0)
    wbuf[0x428:0x430] = record(bias=1, mult=3, shift=1)
    abuf = i8(1, -2, 3)
    sbuf = bytes(8) + i16(100, -100, 1000, -7)
    return bytes(wbuf), abuf, sbuf


@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_program_1(lanes):
    cfg = small_config(lanes=lanes)
    wbuf, abuf, sbuf = images_1()

    async def tb(host):
        await host.load_program(PROGRAM_1, wbuf=wbuf, abuf=abuf, sbuf=sbuf)
        await host.run_frame()
        assert not host.ctx.get(host.dut.fault)
        assert await host.trace(len(PROGRAM_1)) == SCHEDULE_1
        # MAC, lane l: 10l + 1*w[0][l] - 2*w[1][l] + 3*w[2][l] = -12, -3, 6, 15 -> relu.
        assert await host.read_bytes(HostTarget.ABUF, 0x100, 4) == i8(0, 0, 6, 15)
        # add: 2v + 0 -> int16 in sbuf.
        assert await host.read_bytes(HostTarget.SBUF, 0, 8) == i16(0, 0, 12, 30)
        # mov: ((v + 1) * 3 + 1) >> 1, saturated to int8:
        # step 0 v = 0, 0, 12, 30 -> 2, 2, 20, 47; step 1 v = 100, -100, 1000, -7 -> 127, -128, 127, -9.
        assert await host.read_bytes(HostTarget.ABUF, 0x200, 8) == i8(2, 2, 20, 47, 127, -128, 127, -9)
        c = host.counters()
        assert c == {
            "cycles": 24, "instructions": 7, "mac_cycles": 3, "macs": 12, "stall_cycles": 4 + 3 + 4,
            "conflict_cycles": 1,
            # wbuf: the MAC's B, 3 x 4 bytes (the records are read from pbuf, which holds the same image).
            "wbuf_hwm": 12, "wbuf_read_bytes": 12, "wbuf_write_bytes": 0,
            # pbuf: 4 per-lane records of the MAC, one shared record each of add and mov.
            "pbuf_hwm": 0x430, "pbuf_read_bytes": 32 + 8 + 8, "pbuf_write_bytes": 0,
            # abuf: A broadcast 3 bytes + add's A and B 4 + 4; writes 4 (MAC) + 8 (mov).
            "abuf_hwm": 0x208, "abuf_read_bytes": 3 + 8, "abuf_write_bytes": 12,
            "sbuf_hwm": 16, "sbuf_read_bytes": 16, "sbuf_write_bytes": 8,
        }

    run_npu(cfg, tb)


PROGRAM_2 = [
    # pc0 MAC that holds (acc_out = 1): writes nothing, no hazard for anyone.
    # e = 2, t = 2, occ = 2 (abuf + wbuf), retire = 2 + 2 - 1 + 4 = 7.
    I(Opcode.MAC, n=2, r=2, a_buf=A, a_dtype=I16, a_base=0, a_rstride=2,
      b_buf=W, b_dtype=I16, b_base=0, b_rstride=4, b_lstride=2,
      d_buf=A, d_dtype=I8, d_base=0x80, d_lstride=1, p_base=0x100, acc_out=1),
    # pc1 MAC continuing the accumulators (acc_in = 1), A and B both in abuf: k = 2.
    # e = 4, t = 4, occ = 2, retire = 4 + 2 - 1 + 4 = 9.
    I(Opcode.MAC, n=2, r=1, a_buf=A, a_dtype=I16, a_base=4,
      b_buf=A, b_dtype=I16, b_base=8, b_lstride=2,
      d_buf=A, d_dtype=I16, d_base=0x40, d_lstride=2, p_base=0x100, acc_in=1,
      act=Act.LUT, lut_base=16, lut_log2=3),
    # pc2 eof: e = 6, h = max(7, 9) + 1 = 10, t = 10 (stall 4); frame of 11 cycles.
    I(Opcode.EOF),
]
SCHEDULE_2 = [(2, 7), (4, 9), (10, 10)]

PROGRAM_3 = [
    # A new frame starts with ACC = 0: acc_in = 1 continues from zero.
    # e = 2, t = 2, k = 2, occ = 2, retire = 7; eof e = 4, h = 8.
    I(Opcode.MAC, n=2, r=1, a_buf=A, a_dtype=I16, a_base=4,
      b_buf=A, b_dtype=I16, b_base=8, b_lstride=2,
      d_buf=A, d_dtype=I16, d_base=0x50, d_lstride=2, p_base=0x108, acc_in=1),
    I(Opcode.EOF),
]
SCHEDULE_3 = [(2, 7), (8, 8)]


@pytest.mark.parametrize("lanes", [2, 4])
def test_accumulator_chaining_lut_and_frames(lanes):
    cfg = small_config(lanes=lanes)
    wbuf = bytearray(2048)
    wbuf[0:8] = i16(2, -5, 3, 4)                          # wbuf.i16[4r + 2l]
    wbuf[0x100:0x108] = record(bias=1000, mult=1, shift=2)
    wbuf[0x108:0x110] = record(bias=0, mult=1, shift=0)
    abuf = i16(300, -200, 7, 0, 10, -3)                   # A steps, A of pc1, B of pc1
    lut = [0] * cfg.lut_entries
    lut[16], lut[23] = -1234, 4321

    async def tb(host):
        await host.load_program(PROGRAM_2, wbuf=bytes(wbuf), abuf=abuf, lut=lut)
        await host.run_frame()
        assert await host.trace(len(PROGRAM_2)) == SCHEDULE_2
        # ACC after pc0: 1000 + 300*2 - 200*3 = 1000 and 1000 - 300*5 - 200*4 = -1300;
        # pc1 adds 7*10 and 7*-3: 1070, -1321; (acc + 2) >> 2 = 268, -330;
        # LUT k = 3 clamps to 3 and -4: entries 16 + 3 + 4 = 23 and 16 + 0 = 16.
        assert await host.read_bytes(HostTarget.ABUF, 0x40, 4) == i16(4321, -1234)
        assert await host.read_bytes(HostTarget.ABUF, 0x80, 2) == bytes(2)   # held: nothing written
        c = host.counters()
        assert (c["cycles"], c["stall_cycles"], c["conflict_cycles"], c["macs"], c["mac_cycles"]) == \
            (11, 4, 1, 6, 3)
        assert c["abuf_write_bytes"] == 4 and c["abuf_hwm"] == 0x44
        # Second frame, another program: ACC and the counters start again from zero.
        await host.load_program(PROGRAM_3)
        await host.run_frame()
        assert await host.trace(len(PROGRAM_3)) == SCHEDULE_3
        assert await host.read_bytes(HostTarget.ABUF, 0x50, 4) == i16(70, -21)
        assert host.counters()["cycles"] == 9
        assert host.counters()["instructions"] == 2

    run_npu(cfg, tb)


@pytest.mark.parametrize("lanes", [1, 8])
def test_fault_stops_before_issue(lanes):
    cfg = small_config(lanes=lanes)
    program = [
        I(Opcode.NOP),                                                        # t = 2
        I(Opcode.MOV, n=1, r=1, a_buf=A, a_base=0, d_buf=A, d_base=0x10, p_base=0),  # t = 3, retire 7
        I(Opcode.ADD, n=1, r=1, a_buf=A, b_buf=S, d_buf=W, p_base=0),        # write_protect
        I(Opcode.EOF),
    ]

    async def tb(host):
        await host.load_program(program, wbuf=record(0, 2, 0), abuf=i8(21))
        await host.run_frame()
        ctx, dut = host.ctx, host.dut
        assert ctx.get(dut.fault) == 1
        assert ctx.get(dut.fault_pc) == 2
        assert ctx.get(dut.fault_code) == 2
        assert not ctx.get(dut.busy)
        assert (await host.trace(2)) == [(2, 2), (3, 7)]
        assert await host.read_bytes(HostTarget.ABUF, 0x10, 1) == i8(42)     # the mov completed
        assert host.counters()["instructions"] == 2
        # A fault clears at the next start.
        await host.load_program([I(Opcode.EOF)])
        await host.run_frame()
        assert ctx.get(dut.fault) == 0
        assert host.counters()["cycles"] == 3

    run_npu(cfg, tb)


def test_strobes_and_sync_port():
    """The issue/retire strobes and the sync_out port, watched every cycle."""
    cfg = small_config(lanes=2)
    program = [I(Opcode.MOV, n=2, r=3, a_buf=A, a_rstride=2, a_lstride=1, d_buf=S, d_rstride=2,
                 d_lstride=1, p_base=0),
               I(Opcode.SYNC_OUT, port=5), I(Opcode.EOF)]
    # mov: t = 2, occ = 3, retire = 8; sync_out: e = 5, h = 9; eof: e = 10, t = 10.

    async def tb(host):
        ctx, dut = host.ctx, host.dut
        await host.load_program(program, wbuf=record(0, 1, 0))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        events = []
        for _ in range(40):
            cycle = ctx.get(dut.counters.cycles)
            if ctx.get(dut.issue_valid):
                events.append(("issue", ctx.get(dut.issue_pc), cycle))
            if ctx.get(dut.retire_valid):
                events.append(("retire", ctx.get(dut.retire_pc), cycle))
            if ctx.get(dut.retire_ctl_valid):
                events.append(("retire", ctx.get(dut.retire_ctl_pc), cycle))
            if ctx.get(dut.sync_out_valid):
                events.append(("sync_out", ctx.get(dut.sync_port), cycle))
            await ctx.tick()
        assert events == [("issue", 0, 2), ("retire", 0, 8), ("issue", 1, 9), ("retire", 1, 9),
                          ("sync_out", 5, 9), ("issue", 2, 10), ("retire", 2, 10)]
        assert ctx.get(dut.done)

    run_npu(cfg, tb)
