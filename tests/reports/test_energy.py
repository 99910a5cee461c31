"""Energy per instruction, layer and frame (docs/area-energy.md "Energy"): the constants meet
Horowitz's published 45 nm figures, the hand program's energies follow from its fields by hand,
and the report's layers add up to its frame."""
from __future__ import annotations

import pytest

from npu_model.arch.technology import REQUANT_PJ, add_pj, multiply_pj, sram_access_pj


def test_constants_meet_the_published_figures():
    # Horowitz, ISSCC 2014, 45 nm: adds 0.03 / 0.1 pJ, multiplies 0.2 / 3.1 pJ, 64-bit SRAM reads
    # 10 / 20 / 100 pJ at 8 KB / 32 KB / 1 MB.
    assert add_pj(8) == pytest.approx(0.03) and add_pj(32) == pytest.approx(0.1)
    assert multiply_pj(8, 8) == pytest.approx(0.2)
    assert multiply_pj(32, 32) == pytest.approx(3.1, rel=0.05)
    assert sram_access_pj(64, 8192) == pytest.approx(10) and sram_access_pj(64, 32768) == pytest.approx(20)
    assert sram_access_pj(64, 1 << 20) == pytest.approx(100, rel=0.15)
    assert multiply_pj(8, 16) == pytest.approx(2 * multiply_pj(8, 8))


def test_hand_program_energies(hand_program):
    from npu_model.golden.energy import ENERGY_TERMS, instruction_energy, macro_of
    from npu_model.golden.machine import Npu

    _, program = hand_program()
    npu = Npu(program)
    e = instruction_energy(npu.analysis)
    assert list(e) == list(ENERGY_TERMS)
    cfg = program.config
    lut_free = REQUANT_PJ
    # pc 1: mac n=4 r=8, int8 x int8, x from abuf (broadcast: 8 bytes), W from wbuf (32 bytes), 4 results.
    mac = npu.analysis.pc == 1
    assert e["mac"][mac].item() == pytest.approx(32 * (multiply_pj(8, 8) + add_pj(32)))
    assert e["post"][mac].item() == pytest.approx(4 * lut_free)
    wbuf_width, wbuf_macro = macro_of(cfg, "wbuf")
    assert e["wbuf"][mac].item() == pytest.approx(32 * sram_access_pj(wbuf_width, wbuf_macro) / (wbuf_width // 8))
    abuf_width, abuf_macro = macro_of(cfg, "abuf")
    assert e["abuf"][mac].item() == pytest.approx((8 + 4) * sram_access_pj(abuf_width, abuf_macro) / (abuf_width // 8))
    # pc 2: add n=4 r=1 int8: four 16-bit adds; pc 3: mov: no ALU work.
    assert e["alu"][npu.analysis.pc == 2].item() == pytest.approx(4 * add_pj(16))
    assert e["alu"][npu.analysis.pc == 3].item() == 0.0
    # Every instance fetches one word, control instructions too.
    imem = sram_access_pj(*macro_of(cfg, "imem"))
    assert e["fetch"] == pytest.approx([imem] * npu.analysis.n_instructions)


def test_layers_add_up_to_the_frame(hand_program):
    from npu_model.apps.report import build_report
    from npu_model.golden.machine import Npu

    path, program = hand_program('{"hop": 16, "sample_rate": 16000}')
    rep = build_report(Npu(program), program_path=str(path))
    e = rep.summary.energy
    assert sum(r["energy_nj"] for r in rep.rows) == pytest.approx(1e3 * e.dynamic_uj, abs=1e-3 * len(rep.rows))
    assert sum(r["energy_pct"] for r in rep.rows) == pytest.approx(100, abs=0.01)
    assert e.dynamic_uj == pytest.approx(sum(e.by_term_uj.values()))
    hop_us = 1e6 * 16 / 16000
    assert e.frame_uj == pytest.approx(e.dynamic_uj + e.leakage_uw * 1e-6 * hop_us)
    assert e.average_mw == pytest.approx(1e3 * e.frame_uj / hop_us)
    frame_us = rep.summary.real_time.frame_us
    assert e.active_mw == pytest.approx(1e3 * e.dynamic_uj / frame_us + 1e-3 * e.leakage_uw)
