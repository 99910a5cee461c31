"""MAC-lane utilisation over the whole frame on 8 lanes, lane scaling, code size with hardware
loops and unrolled, and the reports' figures."""
import numpy as np
import pytest

from .conftest import MODELS


@pytest.mark.parametrize("name", sorted(MODELS))
def test_utilisation_on_8_lanes(networks, name):
    from npu_model.golden.machine import Npu
    program, summary = networks.compiled(name, 8)
    stats = Npu(program).stats                      # the golden model's own counters
    assert stats.cycles == summary.cycles
    assert stats.macs == summary.macs
    assert stats.utilisation >= 0.90
    assert stats.cycles <= 1.11 * stats.macs / 8
    # per-layer figures are reported and add up to the frame
    assert sum(l.cycles for l in summary.layers) == stats.cycles
    assert sum(l.macs for l in summary.layers) == stats.macs
    for layer in summary.layers:
        if layer.macs:
            assert 0 < layer.utilisation(8) <= 1.0, layer.name
    text = summary.format()
    assert "MAC-lane utilisation" in text and "%" in text


@pytest.mark.parametrize("name", sorted(MODELS))
def test_eight_lanes_need_seven_times_fewer_cycles_than_one(networks, name):
    _, one = networks.compiled(name, 1)
    _, eight = networks.compiled(name, 8)
    assert one.cycles >= 7 * eight.cycles
    assert one.macs == eight.macs


@pytest.mark.parametrize("name", sorted(MODELS))
def test_code_with_loops_fits_the_default_imem_at_every_lane_count(networks, name):
    """docs/compiler.md "Hardware loops": at most 32 KiB of code at 8 lanes with at least 98 %
    MAC utilisation, and the default instruction memory holds the program at every lane count."""
    from npu_model.arch.config import NpuConfig
    from npu_model.arch.isa import INSTRUCTION_BYTES
    for lanes in (1, 2, 4, 8, 16):
        program, summary = networks.compiled(name, lanes)
        assert summary.code == "loops" and summary.code_words == program.n_instructions
        assert program.code.nbytes <= NpuConfig().imem_bytes, lanes
        assert summary.instructions > 10 * summary.code_words, lanes
    program, summary = networks.compiled(name, 8)
    assert summary.code_words * INSTRUCTION_BYTES <= 32 * 1024
    assert summary.utilisation >= 0.98


def test_unrolled_code_runs_the_same_instructions_and_does_not_fit_the_default_imem(networks):
    """`--code unrolled` is the loops' executed stream written out (one cycle less per loop
    instruction run), over 1 MB at 8 lanes: too much for the default imem, said in one line."""
    from compiler.builder import FitError
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.arch.isa import Opcode
    from npu_model.golden.loops import unrolled_code
    from npu_model.golden.machine import Npu
    model, qnet = networks.net("trunet")
    with pytest.raises(FitError, match=r"^model does not fit: the program needs imem [\d,]+ bytes \([\d,]+ "
                                       r"instruction words\), the configuration has 65,536 \(imem_bytes\); "
                                       r"layer '[^']+' is the first past it$"):
        compile_network(qnet, NpuConfig(lanes=8), schedule=False, with_listing=False, code="unrolled")
    big = NpuConfig(lanes=8, imem_bytes=2 << 20)
    flat, _, summary = compile_network(qnet, big, model=model, with_listing=False, code="unrolled")
    looped, loop_summary = networks.compiled("trunet", 8)
    stream = unrolled_code(looped.code)
    assert summary.code == "unrolled" and summary.instructions == summary.code_words
    assert np.array_equal(stream[(stream[:, 0] & 0x1F) != Opcode.NOP], flat.code[(flat.code[:, 0] & 0x1F) != Opcode.NOP])
    loops = int(((stream[:, 0] & 0x1F) == Opcode.NOP).sum()) - int(((flat.code[:, 0] & 0x1F) == Opcode.NOP).sum())
    assert loops == loop_summary.instructions - summary.instructions > 0
    assert 0 <= loop_summary.cycles - summary.cycles <= loops
    assert Npu(flat).stats.macs == Npu(looped).stats.macs
