"""D-GRU (`gru` with `top_k`): the float and integer references select the same neurons the NPU's
top-k unit does, a configuration without enough top-k registers is refused in one line, and
docs/compiler.md's cost table is scripts/dgru_cost.py's output."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_float_select_gate_updates_the_k_neurons_of_largest_update():
    from compiler.reference.float_layers import top_k_update
    z = np.array([[0.9, 0.1], [0.2, 0.1], [0.2, 0.5], [0.05, 0.7]])
    keep = top_k_update(z, 2)
    # column 0: smallest z at 3, then 1 and 2 tie at 0.2: the lower neuron wins
    assert keep[:, 0].tolist() == [False, True, False, True]
    assert keep[:, 1].tolist() == [True, True, False, False]


def test_the_integer_d_gru_keeps_the_state_of_unselected_neurons():
    """One step of models/dgru_p25.yaml's first GRU: 240 of 320 neurons keep their state."""
    from compiler import IntModel, load_model, quantise, quantise_input
    from npu_model.host import HostFeatures, generated_frames
    model = load_model(ROOT / "models" / "dgru_p25.yaml")
    qnet = quantise(model)
    feats, _ = HostFeatures(model.spec.input)(generated_frames(model.spec.input, 3, 5))
    tensors, _ = IntModel(qnet).run(quantise_input(feats, qnet))
    h = tensors["gru1"][:, :, 0]                               # (frames, 320)
    changed = (h[2] != h[1]).sum()
    assert 0 < changed <= 80


def test_a_configuration_without_enough_top_k_registers_is_refused(tmp_path):
    cfg = tmp_path / "npu.json"
    cfg.write_text('{"wbuf_bytes": 2097152, "pbuf_bytes": 65536, "topk_entries": 100}')
    run = subprocess.run([sys.executable, "-m", "compiler", str(ROOT / "models" / "dgru_p50.yaml"), "--config", str(cfg),
                          "-o", str(tmp_path / "p.bin")], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "gru1" in run.stderr and "topk_entries 100" in run.stderr
    assert not (tmp_path / "p.bin").exists()


def test_the_cost_table_in_the_docs_is_the_scripts_output():
    text = (ROOT / "docs" / "compiler.md").read_text()
    doc = re.search(r"<!-- BEGIN DGRU COST -->\n(.*?)\n<!-- END DGRU COST -->", text, re.S).group(1)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "dgru_cost.py")], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert doc == out
    # and the products are the paper's (1 + 2P) / 3
    for row in out.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[5] == cells[6]
