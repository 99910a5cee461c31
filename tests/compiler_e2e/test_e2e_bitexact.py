"""The golden model running the compiled program reproduces the integer reference bit for bit:
both models, every lane count, every output port of every one of 20 consecutive frames (state
carried from frame to frame: the phase encoder's past frames and the TGRU's hidden state)."""
from pathlib import Path

import numpy as np
import pytest

from .conftest import FRAMES, LANES, MODELS


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_golden_model_equals_integer_reference(networks, name, lanes):
    from npu_model.golden.machine import Npu
    _, qnet = networks.net(name)
    program, _ = networks.compiled(name, lanes)
    x, ref = networks.reference(name)
    assert [p.name for p in program.inputs] == [qnet.input.name]
    assert sorted(p.name for p in program.outputs) == sorted(qnet.outputs)
    npu = Npu(program)
    for f in range(FRAMES):
        result = npu.run_frame({qnet.input.name: x[f]})
        for port in program.outputs:
            got = result.outputs[port.name]
            want = ref[port.name][f]
            assert got.shape == want.shape, port.name
            if not np.array_equal(got, want):
                diff = np.argwhere(got != want)
                at = tuple(diff[0])
                pytest.fail(f"{name} at {lanes} lanes, frame {f}, output {port.name}: {len(diff)} of {got.size} "
                            f"elements differ, first at {at}: {got[at]} != {want[at]}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_is_carried(networks, name):
    """The outputs of a frame depend on the previous frames (a fresh NPU given frame 1 first
    differs from one that ran frame 0 before it), so the state path is exercised."""
    from npu_model.golden.machine import Npu
    _, qnet = networks.net(name)
    program, _ = networks.compiled(name, 8)
    x, ref = networks.reference(name)
    fresh = Npu(program).run_frame({qnet.input.name: x[1]})
    assert any(not np.array_equal(fresh.outputs[p.name], ref[p.name][1]) for p in program.outputs)


@pytest.mark.parametrize("lanes, layers", [(1, 1), (8, 6)])
def test_layer_products_equal_the_per_entry_sums(networks, lanes, layers, monkeypatch):
    """The golden model sums a convolution's chains in one matrix product per layer
    (`executor._chain_product`: 'chains' groups); TRU-Net has such layers (plain, padded and
    transposed convolutions), and every output equals the per-entry products and segmented sums
    the executor uses without them."""
    from npu_model.golden import executor
    from npu_model.golden.machine import Npu
    _, qnet = networks.net("trunet")
    program, _ = networks.compiled("trunet", lanes)
    x, _ = networks.reference("trunet")
    fast = Npu(program)
    modes = [g.mode for b in fast.executor.batches for g in b.mac_groups]
    assert modes.count("chains") >= layers, modes
    monkeypatch.setattr(executor, "_chain_product", lambda *a, **k: False)
    slow = Npu(program)
    assert "chains" not in [g.mode for b in slow.executor.batches for g in b.mac_groups]
    for f in range(3):
        a, b = fast.run_frame({qnet.input.name: x[f]}), slow.run_frame({qnet.input.name: x[f]})
        for port in program.outputs:
            assert np.array_equal(a.outputs[port.name], b.outputs[port.name]), (f, port.name)


def test_chains_across_groups_add_up_and_a_partial_plan_is_undone(networks, monkeypatch):
    """A convolution over concatenated inputs (TRU-Net's decoder: an input per group) sums each
    group's part of every chain and adds the parts (`executor._chain_products`, batches with
    `mac_add`); when one group's product is declined the groups already planned are restored.
    Both give the outputs of the per-entry sums."""
    from npu_model.golden import executor
    from npu_model.golden.machine import Npu
    _, qnet = networks.net("trunet")
    program, _ = networks.compiled("trunet", 8)
    x, _ = networks.reference("trunet")
    fast = Npu(program)
    assert any(getattr(b, "mac_add", False) for b in fast.executor.batches)
    one, every = executor._chain_product, executor._chain_products
    state = {"calls": 0, "undone": 0}

    def batch(groups, *args):                           # counts the calls of one batch's groups
        state["calls"] = 0
        planned = every(groups, *args)
        state["undone"] += state["calls"] == 2 and not planned
        return planned

    def first_only(grp, *args, **kw):                   # the second group of a batch is declined
        state["calls"] += 1
        return state["calls"] == 1 and one(grp, *args, **kw)
    monkeypatch.setattr(executor, "_chain_products", batch)
    monkeypatch.setattr(executor, "_chain_product", first_only)
    undone = Npu(program)
    assert state["undone"] and not any(getattr(b, "mac_add", False) for b in undone.executor.batches)
    monkeypatch.setattr(executor, "_chain_product", lambda *a, **k: False)
    slow = Npu(program)
    for f in range(3):
        want = slow.run_frame({qnet.input.name: x[f]}).outputs
        for npu in (fast, undone):
            got = npu.run_frame({qnet.input.name: x[f]}).outputs
            for port in program.outputs:
                assert np.array_equal(got[port.name], want[port.name]), (f, port.name)


def test_block_diagonal_products_equal_the_dense_ones(monkeypatch):
    """CGCRN's grouped layers pair each input row only with its group's weights: the golden model
    computes each group's product alone (`executor._block_diagonal`, 'blocks' groups) instead of
    every row against every weight block; the outputs are those of the whole products."""
    from cocotb_tests.workload import model_workload
    from compiler import companion_config
    from npu_model.golden import executor
    from npu_model.golden.machine import Npu
    model = Path(__file__).resolve().parents[2] / "models" / "cgcrn.yaml"
    work = model_workload(model, lanes=4, frames=3, config=companion_config(model, lanes=4))
    port = work.program.inputs[0].name
    split = Npu(work.program)
    assert "blocks" in [g.mode for b in split.executor.batches for g in getattr(b, "mac_groups", [])]
    monkeypatch.setattr(executor, "_block_diagonal", lambda grp: False)
    whole = Npu(work.program)
    assert "blocks" not in [g.mode for b in whole.executor.batches for g in getattr(b, "mac_groups", [])]
    for f in range(3):
        a, b = split.run_frame({port: work.inputs[port][f]}), whole.run_frame({port: work.inputs[port][f]})
        for name, value in b.outputs.items():
            assert np.array_equal(a.outputs[name], value), (f, name)
