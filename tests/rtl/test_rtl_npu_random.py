"""Whole-NPU runs (amaranth.sim) of random legal programs against the golden model (data, schedule,
counters)."""
import random

import pytest

from rtl.layout import HostTarget

import rtl_golden as golden
from npu_model.arch.isa import Opcode
from rtl_harness import run_npu, small_config
from rtl_progen import faulting_loop, initial_images, legal_and_faulting, random_program


def check_frames(cfg, programs_per_sim, seed):
    """Load random images once, run several programs (each one frame) in one simulation and
    compare each frame with the reference (memory carried over between frames)."""
    rng = random.Random(seed)
    wbuf, abuf, sbuf, lut = initial_images(cfg, rng)
    programs = [random_program(rng, cfg, rng.randint(3, 8)) for _ in range(programs_per_sim)]
    assert any(i.opcode == Opcode.LOOP for prog in programs for i in prog)
    mems = {"wbuf": wbuf, "abuf": abuf, "sbuf": sbuf}
    expected = []
    for prog in programs:
        ref = golden.run(cfg, prog, wbuf=mems["wbuf"], abuf=mems["abuf"], sbuf=mems["sbuf"], lut=lut)
        assert ref.fault is None
        expected.append(ref)
        mems = {k: bytes(v) for k, v in ref.mem.items()}

    async def tb(host):
        await host.load_program([], wbuf=wbuf, sbuf=sbuf, abuf=abuf, lut=lut)
        for prog, ref in zip(programs, expected):
            await host.load_program(prog)
            await host.run_frame()
            assert not host.ctx.get(host.dut.fault)
            got = await host.trace(len(ref.schedule))
            assert got == ref.schedule, (prog, got, ref.schedule)
            counters = host.counters()
            for name, value in ref.counters.items():
                assert counters[name] == value, name
            for target, name in ((HostTarget.ABUF, "abuf"), (HostTarget.SBUF, "sbuf")):
                data = await host.read_bytes(target, 0, cfg.buffer_bytes(name))
                assert data == bytes(ref.mem[name]), name

    run_npu(cfg, tb)


def hazard_config(lanes):
    """Small buffers, so that random footprints often overlap (hazards, in-place updates)."""
    return small_config(lanes=lanes, wbuf_bytes=1024, abuf_bytes=256, sbuf_bytes=128)


@pytest.mark.parametrize("lanes", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("seed", range(3))
def test_random_programs(lanes, seed):
    check_frames(hazard_config(lanes), 3, seed * 100 + lanes)


@pytest.mark.parametrize("acc_bits", [16, 48])
def test_random_programs_acc_width(acc_bits):
    check_frames(small_config(lanes=4, wbuf_bytes=1024, abuf_bytes=256, sbuf_bytes=128,
                              acc_bits=acc_bits), 3, acc_bits)


@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
def test_random_faults(lanes):
    """A random program with one instruction broken: the NPU stops at the first faulting pc with
    the reference's code, after every earlier instruction issued with the reference timing."""
    cfg = hazard_config(lanes)
    rng = random.Random(500 + lanes)
    wbuf, abuf, sbuf, lut = initial_images(cfg, rng)
    cases = []
    broken = [ins for ins, code in legal_and_faulting(cfg, rng, 40)
              if code and not golden.rejected_by_loader(cfg, ins)]
    for k in range(4):
        prog = random_program(rng, cfg, rng.randint(2, 6))
        inside = {j + 1 + t for j, i in enumerate(prog) if i.opcode == Opcode.LOOP for t in range(i.body)}
        at = rng.choice([j for j in range(len(prog)) if j not in inside])     # between blocks
        prog[at:at] = [rng.choice(broken)] if k % 2 == 0 else faulting_loop(rng, cfg)
        ref = golden.run(cfg, prog, wbuf=wbuf, abuf=abuf, sbuf=sbuf, lut=lut)
        assert ref.fault is not None
        cases.append((prog, ref))

    async def tb(host):
        await host.load_program([], wbuf=wbuf, sbuf=sbuf, abuf=abuf, lut=lut)
        for prog, ref in cases:
            await host.load_program(prog)
            await host.run_frame()
            ctx, dut = host.ctx, host.dut
            pc, code = ref.fault
            assert (ctx.get(dut.fault), ctx.get(dut.fault_pc), ctx.get(dut.fault_code)) == (1, pc, code)
            assert await host.trace(len(ref.schedule)) == ref.schedule
            assert host.counters()["instructions"] == len(ref.schedule)

    run_npu(cfg, tb)
