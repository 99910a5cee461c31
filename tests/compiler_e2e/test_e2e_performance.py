"""MAC-lane utilisation over the whole frame on 8 lanes, lane scaling, and the reports' figures."""
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


def test_one_lane_trunet_exceeds_the_default_imem(networks):
    """Reported, not hidden: at one lane the program needs more than the default 4 MiB imem, and
    compiling for the default configuration says so in one line."""
    from compiler.builder import FitError
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    _, summary = networks.compiled("trunet", 1)
    assert summary.instructions * 32 > NpuConfig().imem_bytes
    _, qnet = networks.net("trunet")
    # the same check on a quicker compile: 8 lanes against a 512 KiB imem
    with pytest.raises(FitError, match=r"^model does not fit: layer '[^']+' needs imem [\d,]+ bytes \([\d,]+ "
                                       r"instructions\), the configuration has 524,288 \(imem_bytes\)$"):
        compile_network(qnet, NpuConfig(lanes=8, imem_bytes=512 * 1024), schedule=False, with_listing=False)
    for lanes in (2, 4, 8, 16):
        assert networks.compiled("trunet", lanes)[1].instructions * 32 <= NpuConfig().imem_bytes
