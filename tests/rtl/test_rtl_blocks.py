"""Block-level tests: post-processing arithmetic, address generation, footprints, scoreboard."""
import random

import pytest
from amaranth.sim import Simulator
from rtl_harness import small_config

from npu_model.arch.isa import ADDRESS_BITS, Act, DType
from npu_model.arch.timing import PIPELINE_LATENCY
from rtl.addrgen import AddressGenerator
from rtl.footprint import Footprint
from rtl.postproc import PostProcess
from rtl.scoreboard import SCOREBOARD_ENTRIES, Scoreboard


def requant_reference(acc, mult, shift, act, lut_base, lut_log2, dtype, lut):
    """docs/isa.md "Arithmetic" steps 3-5, with Python's exact integers (round half up)."""
    y = acc * mult
    if shift > 0:
        y = (y + 2 ** (shift - 1)) // 2 ** shift
    if act == Act.RELU:
        y = max(y, 0)
    elif act == Act.LUT:
        half = 2 ** (lut_log2 - 1)
        y = lut[lut_base + min(max(y, -half), half - 1) + half]
    lo, hi = (-128, 127) if dtype == DType.I8 else (-32768, 32767)
    return min(max(y, lo), hi)


def interesting_acc(rng, bits):
    return rng.choice([0, 1, -1, 2 ** (bits - 1) - 1, -2 ** (bits - 1), rng.randint(-300, 300),
                       rng.randint(-2 ** (bits - 1), 2 ** (bits - 1) - 1)])


@pytest.mark.parametrize("lanes,acc_bits", [(1, 32), (4, 16), (8, 48), (16, 32)])
def test_postprocess(lanes, acc_bits):
    cfg = small_config(lanes=lanes, acc_bits=acc_bits, lut_entries=1024)
    rng = random.Random(lanes * 100 + acc_bits)
    lut = [rng.randint(-2 ** 15, 2 ** 15 - 1) for _ in range(cfg.lut_entries)]
    dut = PostProcess(lanes=lanes, acc_bits=acc_bits, lut_entries=cfg.lut_entries)

    async def tb(ctx):
        for _ in range(150):
            act = rng.choice([Act.NONE, Act.RELU, Act.LUT])
            lut_log2 = rng.randint(1, 10) if act == Act.LUT else 0
            lut_base = rng.randint(0, cfg.lut_entries - 2 ** lut_log2) if act == Act.LUT else 0
            dtype = rng.choice([DType.I8, DType.I16])
            rows = []
            for lane in range(lanes):
                acc = interesting_acc(rng, acc_bits)
                mult = rng.choice([1, -1, 0, 3, 2 ** 15 - 1, -2 ** 15, rng.randint(-2 ** 15, 2 ** 15 - 1)])
                shift = rng.choice([0, 1, 2, 7, 15, 31, 47, 48, 62, 63, rng.randint(0, 63)])
                rows.append((acc, mult, shift))
                ctx.set(dut.s3_acc[lane], acc)
                ctx.set(dut.s3_mult[lane], mult)
                ctx.set(dut.s3_shift[lane], shift)
            ctx.set(dut.s3_en, (1 << lanes) - 1)
            ctx.set(dut.s3_act, act)
            ctx.set(dut.s3_lut_base, lut_base)
            ctx.set(dut.s3_lut_log2, lut_log2)
            ctx.set(dut.s3_dtype, dtype)
            indices = [ctx.get(dut.s3_lut_index[lane]) for lane in range(lanes)]
            await ctx.tick()
            for lane in range(lanes):
                ctx.set(dut.s4_lut_data[lane], lut[indices[lane]])
            for lane, (acc, mult, shift) in enumerate(rows):
                want = requant_reference(acc, mult, shift, act, lut_base, lut_log2, dtype, lut)
                assert ctx.get(dut.s4_data[lane]) == want, (acc, mult, shift, act, dtype)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
def test_address_generator(lanes):
    rng = random.Random(lanes)
    dut = AddressGenerator(lanes=lanes)

    async def tb(ctx):
        for _ in range(20):
            base = rng.randrange(2 ** ADDRESS_BITS)
            rs, ls = rng.randint(-2 ** 15, 2 ** 15 - 1), rng.randint(-2 ** 15, 2 ** 15 - 1)
            ctx.set(dut.load, 1)
            ctx.set(dut.base, base)
            ctx.set(dut.rstride, rs)
            ctx.set(dut.lstride, ls)
            await ctx.tick()
            ctx.set(dut.load, 0)
            ctx.set(dut.base, 0)          # the generator must have latched everything
            ctx.set(dut.rstride, 0)
            ctx.set(dut.lstride, 0)
            for s in range(5):
                for lane in range(lanes):
                    assert ctx.get(dut.addr[lane]) == (base + s * rs + lane * ls) % 2 ** ADDRESS_BITS
                step = rng.random() < 0.7
                ctx.set(dut.step, step)
                await ctx.tick()
                ctx.set(dut.step, 0)
                if not step:
                    for lane in range(lanes):
                        assert ctx.get(dut.addr[lane]) == (base + s * rs + lane * ls) % 2 ** ADDRESS_BITS
                    ctx.set(dut.step, 1)
                    await ctx.tick()
                    ctx.set(dut.step, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def test_footprint():
    rng = random.Random(7)
    dut = Footprint()

    async def tb(ctx):
        for _ in range(300):
            base = rng.randrange(2 ** ADDRESS_BITS)
            rs, ls = rng.randint(-2 ** 15, 2 ** 15 - 1), rng.randint(-2 ** 15, 2 ** 15 - 1)
            r, n = rng.randint(1, 2 ** 16 - 1), rng.randint(1, 31)
            dtype = rng.choice([DType.I8, DType.I16])
            for name, v in (("base", base), ("rstride", rs), ("lstride", ls), ("steps_m1", r - 1),
                            ("lanes_m1", n - 1), ("dtype", dtype)):
                ctx.set(getattr(dut, name), v)
            lo = base + min(0, (r - 1) * rs) + min(0, (n - 1) * ls)
            hi = base + max(0, (r - 1) * rs) + max(0, (n - 1) * ls) + dtype.size - 1
            assert (ctx.get(dut.lo), ctx.get(dut.hi)) == (lo, hi)

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()


def test_scoreboard():
    """Entries block overlapping queries in the same buffer up to and including their retire
    cycle; the ring holds the last PIPELINE_LATENCY issued instructions."""
    assert SCOREBOARD_ENTRIES == PIPELINE_LATENCY
    dut = Scoreboard()

    async def tb(ctx):
        def query(which, buf, lo, hi, en=1):
            q = getattr(dut, f"query_{which}")
            ctx.set(q.en, en)
            ctx.set(q.buf, buf)
            ctx.set(q.lo, lo)
            ctx.set(q.hi, hi)

        ctx.set(dut.cycle, 10)
        ctx.set(dut.push, 1)
        ctx.set(dut.push_dst.en, 1)
        ctx.set(dut.push_dst.buf, 1)
        ctx.set(dut.push_dst.lo, 100)
        ctx.set(dut.push_dst.hi, 107)
        ctx.set(dut.push_retire, 14)
        await ctx.tick()
        ctx.set(dut.push, 0)
        query("b", 0, 0, 0, en=0)
        for cycle, buf, lo, hi, blocked in [
                (11, 1, 107, 200, 1), (11, 1, 0, 99, 0), (11, 1, 108, 108, 0), (11, 2, 100, 107, 0),
                (14, 1, 90, 100, 1), (15, 1, 90, 100, 0)]:
            ctx.set(dut.cycle, cycle)
            query("a", buf, lo, hi)
            assert ctx.get(dut.hazard) == blocked, (cycle, buf, lo, hi)
        query("a", 0, 0, 0, en=0)
        ctx.set(dut.cycle, 14)
        query("b", 1, 104, 104)
        assert ctx.get(dut.hazard) == 1
        # Push PIPELINE_LATENCY non-writers: the entry falls out of the ring.
        for _ in range(SCOREBOARD_ENTRIES):
            ctx.set(dut.push, 1)
            ctx.set(dut.push_dst.en, 0)
            await ctx.tick()
        ctx.set(dut.push, 0)
        assert ctx.get(dut.hazard) == 0
        ctx.set(dut.clear, 1)
        await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
