"""The data buffers' banks and crossbar (rtl.databuf) against a byte array: random vector writes
and reads in lane groups (npu_model.arch.memory.lane_group), int8 and int16, with lanes
writing different bytes of one word in one cycle, in both organisations, with banks stacked
from several small macros."""
import random

import pytest
from amaranth.sim import Simulator

from npu_model.arch.isa import DType
from npu_model.arch.memory import bank_org, lane_group
from rtl.databuf import DataBuffer

SIZE = 1024


def _accesses(rng, lanes, org, count):
    """`count` vector accesses (dtype, addresses of the lanes), each split into its lane groups
    (the lanes one cycle serves), addresses in range and aligned."""
    out = []
    while len(out) < count:
        dtype = rng.choice([DType.I8, DType.I16])
        size = DType(dtype).size
        n = rng.randint(1, lanes)
        lstride = size * rng.choice([1, 1, 2, 3, -1, lanes, org.word_bytes // size or 1])
        base = rng.randrange(0, SIZE, size)
        addrs = [base + lane * lstride for lane in range(n)]
        if min(addrs) < 0 or max(addrs) + size > SIZE:
            continue
        p = lane_group(lstride, lanes, org)
        groups = [list(range(g, min(g + p, n))) for g in range(0, n, p)]
        out.append((dtype, addrs, groups))
    return out


@pytest.mark.parametrize("lanes, organisation", [(1, "lane"), (4, "lane"), (8, "lane"), (4, "row"), (8, "row")])
def test_data_buffer_against_bytes(lanes, organisation):
    org = bank_org(organisation, lanes, writable=True)
    rows = SIZE // org.stripe_bytes                                   # each bank: four macros stacked
    dut = DataBuffer(size=SIZE, org=org, lanes=lanes, macro_words=rows // 4, host_addr_bits=16,
                     host_row_bytes=min(org.stripe_bytes, 32))
    rng = random.Random(lanes * 10 + len(organisation))
    model = bytearray(SIZE)
    mismatches = []

    async def tb(ctx):
        for dtype, addrs, groups in _accesses(rng, lanes, org, 300):
            size = DType(dtype).size
            write = rng.random() < 0.5
            for group in groups:
                for lane in range(lanes):
                    port = dut.wr[lane] if write else dut.rd[lane]
                    ctx.set(port.en, lane in group)
                    if lane in group:
                        ctx.set(port.addr, addrs[lane])
                        ctx.set(port.dtype, dtype)
                        if write:
                            value = rng.randrange(1 << 16)        # an int8 write ignores the high byte
                            ctx.set(port.data, value)
                            model[addrs[lane]:addrs[lane] + size] = value.to_bytes(2, "little")[:size]
                await ctx.tick()
                for lane in range(lanes):
                    ctx.set(dut.wr[lane].en, 0)
                    ctx.set(dut.rd[lane].en, 0)
                if not write:
                    for lane in group:
                        got = ctx.get(dut.rd[lane].data)
                        want = int.from_bytes(model[addrs[lane]:addrs[lane] + size], "little", signed=True)
                        if got != want:
                            mismatches.append((dtype, addrs, lane, got, want))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert not mismatches, f"{len(mismatches)} wrong reads, first {mismatches[0]}"
