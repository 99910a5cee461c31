"""Hardware loops in the golden model (docs/isa.md "Loops"): the executed stream against the
front-end walk of model_helpers, timing against the unrolled program, the loader's rules and
faults inside loops."""
import numpy as np
import pytest

from model_helpers import (EOF, NOP, Image, config, executed, ins, loop, mac, mov, program, records, sync_in,
                           sync_out)
from npu_model.arch import isa
from npu_model.arch.errors import NpuFault, ProgramFormatError
from npu_model.arch.isa import Opcode
from npu_model.arch.program import Port
from npu_model.golden.loops import MAX_FRAME_INSTRUCTIONS
from npu_model.golden.machine import Npu
from test_model_random import Gen

CFG = config(lanes=4)
WBUF = bytes(Image(256).put_bytes(0, records((5, 1, 0), (-3, 2, 1), (7, 1, 0), (1, 3, 2), (0, 1, 0))))


def pointwise(x=0x100, w=0x80, y=0x400):
    """One MAC of a pointwise layer: 4 lanes over output channels, 8 input channels."""
    return mac(4, 8, ("abuf", "i8", x, 1, 0), ("wbuf", "i8", w, 4, 1), ("abuf", "i8", y, 0, 1), p=0, p_vec=1)


def nested():
    """positions x channel blocks: the two loops of a pointwise convolution."""
    return [sync_in(0), loop(6, 2, a=8, d=8), loop(2, 1, b=32, d=4, p=32), pointwise(), NOP, sync_out(0), EOF]


IO = dict(inputs=[Port("x", "abuf", 0x100, "i8", (48,))], outputs=[Port("y", "abuf", 0x400, "i8", (48,))])


def test_the_executed_stream_is_the_front_end_walk():
    prog = program(nested(), CFG, WBUF, **IO)
    npu = Npu(prog)
    walk = list(executed([isa.decode(bytes(w))[0] for w in prog.code]))
    an = npu.analysis
    assert an.pc.tolist() == [pc for pc, _ in walk]
    assert len(walk) == 1 + 1 + 6 * (1 + 2) + 3
    for k, (_, i) in enumerate(walk):
        assert {name: int(an.fields[name][k]) for name in i.fields()} == i.fields(), k
    macs = [i for _, i in walk if i.opcode == Opcode.MAC]
    assert [(m.a_base, m.b_base, m.d_base, m.p_base) for m in macs[:3]] == [
        (0x100, 0x80, 0x400, 0), (0x100, 0xa0, 0x404, 32), (0x108, 0x80, 0x408, 0)]
    assert npu.stats.instructions == len(walk)


def test_loops_take_the_cycles_of_the_unrolled_code_plus_one_per_loop_instruction():
    """The same stream unrolled, each executed loop instruction a nop: identical schedule."""
    for seed in range(6):
        gen = Gen(40 + seed, 8, 32)
        body = [gen.random_instruction() for _ in range(3)] + gen.loop_block() + gen.loop_block()
        looped = program(body + [EOF], gen.cfg, WBUF)
        flat = [NOP if i.opcode == Opcode.LOOP else i for _, i in executed(body + [EOF])]
        a, b = Npu(looped), Npu(program(flat, gen.cfg, WBUF))
        assert a.schedule.issue.tolist() == b.schedule.issue.tolist()
        assert a.schedule.retire.tolist() == b.schedule.retire.tolist()
        assert a.stats == b.stats


def test_outputs_match_the_unrolled_program():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, 48)
    w = Image(512).put_bytes(0, WBUF).put(0x80, rng.integers(-128, 128, 256))
    looped = Npu(program(nested(), CFG, bytes(w), **IO)).run_frame({"x": x}).outputs["y"]
    flat = [i for _, i in executed(nested()) if i.opcode != Opcode.LOOP]
    unrolled = Npu(program(flat, CFG, bytes(w), **IO)).run_frame({"x": x}).outputs["y"]
    assert np.array_equal(looped, unrolled) and np.abs(looped).sum() > 0


def test_increments_move_only_the_address_fields_an_instruction_uses():
    body = [loop(3, 3, a=2, b=8, d=4, p=8), mov(2, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i8", 64, 0, 1)),
            NOP, sync_out(0), EOF]
    an = Npu(program(body, CFG, WBUF, outputs=[Port("y", "abuf", 0, "i8", (4,))])).analysis
    movs = np.flatnonzero(an.opcode == Opcode.MOV)
    assert an.fields["a_base"][movs].tolist() == [0, 2, 4]
    assert an.fields["d_base"][movs].tolist() == [64, 68, 72]
    assert an.fields["p_base"][movs].tolist() == [0, 8, 16]
    assert an.fields["b_base"][movs].tolist() == [0, 0, 0]          # mov has no B
    assert len(an.pc) == 1 + 3 * 3 + 1


def test_addresses_wrap_modulo_2_to_the_address_bits():
    """An increment of -1 from address 0 is address 2**ADDRESS_BITS - 1: outside abuf, a fault in iteration 1."""
    body = [loop(2, 1, a=-1), mov(1, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i8", 64, 0, 1)), EOF]
    with pytest.raises(NpuFault) as exc:
        Npu(program(body, CFG, WBUF))
    e = exc.value
    assert (e.pc, e.kind) == (1, "address")
    assert f"a=abuf.i8[{(1 << isa.ADDRESS_BITS) - 1:#x}+1l]" in str(e) and "(iteration 1 of the loop at pc 0)" in str(e)


def test_a_fault_names_the_iterations_of_every_loop_around_it():
    """D = 0x100 + 0x10 i + 0x400 j leaves the 8 KiB abuf first at i = 0, j = 8."""
    body = [loop(3, 2, d=0x10), loop(9, 1, d=0x400), mov(1, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i8", 0x100, 0, 1)),
            EOF]
    with pytest.raises(NpuFault) as exc:
        Npu(program(body, CFG, WBUF))
    e = exc.value
    assert (e.pc, e.kind) == (2, "address")
    assert "d=abuf.i8[0x2100+1l]" in str(e)
    assert str(e).endswith("(iteration 0 of the loop at pc 0, iteration 8 of the loop at pc 1)")


@pytest.mark.parametrize("count, body", [(0, 1), (2, 0)])
def test_a_loop_with_nothing_to_do_is_illegal(count, body):
    with pytest.raises(NpuFault) as exc:
        Npu(program([NOP, loop(count, body), NOP, EOF], CFG, WBUF))
    e = exc.value
    assert (e.pc, e.kind) == (1, "illegal")
    assert f"loop with {'count' if count == 0 else 'body'} = 0" in e.reason


def reject(instrs):
    with pytest.raises(ProgramFormatError) as exc:
        Npu(program(instrs, CFG, WBUF), source="t.bin")
    return str(exc.value)


def test_loader_rules():
    assert "pc 1 (loop count=2 body=2): loop body pc 2..3 runs past pc 2" in reject([NOP, loop(2, 2), NOP, EOF])
    assert "pc 2 (loop count=2 body=3): loop body pc 3..5 ends after the body of the loop around it (pc ..4)" in \
        reject([NOP, loop(2, 3), loop(2, 3), NOP, NOP, NOP, NOP, EOF])
    deep = [loop(2, 4), loop(2, 3), loop(2, 2), NOP, NOP, NOP, EOF]
    assert "pc 2 (loop count=2 body=2): loop nested 3 deep; loops nest at most 2 deep" in reject(deep)
    huge = [loop(65535, 2), loop(65535, 1), NOP, NOP, EOF]
    assert f"a frame executes 4,294,901,763 instructions; the golden model runs at most " \
           f"{MAX_FRAME_INSTRUCTIONS:,}" in reject(huge)


def test_loops_may_end_together_and_contain_fences():
    body = [loop(2, 4), NOP, loop(3, 2), sync_out(0), NOP, EOF]
    npu = Npu(program(body, CFG, WBUF, outputs=[Port("y", "abuf", 0, "i8", (4,))]))
    assert npu.analysis.pc.tolist() == [0] + [1, 2, 3, 4, 3, 4, 3, 4] * 2 + [5]
