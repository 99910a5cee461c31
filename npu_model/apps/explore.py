"""Architecture exploration: compile and simulate one model over lanes, buffer sizes and clocks.

    python -m npu_model explore models/trunet.yaml --lanes 1,2,4,8,16 --act-kib 64,256 \\
        --clock-mhz 100,200,400 -o build/explore

Each *point* (lanes x abuf size x wbuf/sbuf/imem sizes x code form) is compiled and run on the
golden model (`--code loops,unrolled` weighs code bytes against the cycles of the loop
instructions).
The model is loaded and quantised once (the slow step, independent of the hardware) and every point
lowers that network with the compiler's network pass (`compiler.lower.network.compile_network`, the
same as `python -m compiler MODEL -o prog.bin --config npu.json`; with `--use-cli` that command runs
in a subprocess per point instead). A point the model does not fit is a row "does not fit" with the
compiler's message, any other failure a row "error": never a crash of the sweep; the clock does not change the program, so every
clock of `--clock-mhz` is evaluated from the same schedule. Points run on Dask (`cluster.run_tasks`):
a local cluster of `--jobs` worker processes, or an existing cluster with `--scheduler ADDRESS`;
the quantised network is broadcast to the workers once. Every finished point is kept in a cache
keyed by a content hash of model, weights, configuration and code (`pointcache`; `--cache DIR`,
default `OUTPUT/cache`), so an interrupted or extended sweep computes only the points it lacks.
Output (docs/exploration.md shows a run):

- `sweep.csv`: one row per (point, clock), columns SWEEP_COLUMNS (units in docs/exploration.md);
- `exploration.md`: tables and the plots below embedded;
- plots: cycles per frame against lanes with the MACs/lanes bound, real-time factor against the
  swept clocks per lane count, memory per buffer per lane count with the configured capacities,
  power against 45 nm area (docs/area-energy.md) with the real-time Pareto front;
- answers: the smallest-area and the lowest-power point that runs in real time (RTF <= 1 and
  <= 0.85).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from compiler import load_model, quantise_cached, read_spec
from compiler.builder import FitError
from compiler.lower.network import compile_network
from compiler.quant import QuantConfig

from ..arch.config import KIB, MAX_CLOCK_MHZ, ConfigError, NpuConfig
from ..arch.errors import NpuError
from ..arch.files import check_output, write_bytes
from ..arch.isa import DTYPES
from ..arch.memory import ORGANISATIONS
from ..arch.meta import CODE_FORMS, MAX_FFT, MAX_SAMPLE_RATE
from ..arch.program import Program
from ..arch.technology import NAND2_UM2, logic_ge_estimate, sram_area_um2
from ..golden.machine import Npu
from .arguments import MAX_FRAMES, MAX_JOBS, bounded, bounded_list, precisions
from .cluster import run_tasks
from .pointcache import PointCache
from .plots import explore_plots
from .report import build_report

__all__ = ["add_arguments", "main_explore", "sweep", "SWEEP_COLUMNS", "AREA_SOURCES", "area_of", "synthesised_ge",
           "SweepPoint", "compile_point", "evaluate_point", "explore_markdown", "smallest_fits", "real_time_answers",
           "answer_lines", "sized_config"]

#: How a point's logic area is found: `model` (the gate equivalents of `technology.logic_ge_estimate`,
#: a line through two syntheses) or `synth` (`python -m rtl synth` of the point's configuration,
#: minutes each the first time, cached by the RTL tools).
AREA_SOURCES = ("model", "synth")

@dataclass
class SweepPoint:
    """One row of sweep.csv: a configuration at one clock (columns in docs/exploration.md).

    The figures are None where a point was not built ("does not fit" or "error"), and the clock-
    dependent ones where the frame hop is unknown; the CSV writes None as an empty cell."""
    lanes: int
    abuf_kib: float
    wbuf_kib: float
    sbuf_kib: float
    imem_kib: float
    org: str = "lane"                  # the data buffers' organisation (wbuf/abuf/sbuf when they differ)
    code: str = "loops"                # the compiler's --code
    activations: str = ""              # the activations' precision (int8/int16; the model file's by default)
    clock_mhz: float = 0.0
    status: str = "ok"                 # "ok", "does not fit" or "error"
    message: str = ""
    instructions: int | None = None
    cycles: int | None = None
    npu_macs: int | None = None
    model_macs: int | None = None
    bound_cycles: int | None = None
    bound_ratio: float | None = None
    utilisation_pct: float | None = None
    stall_cycles: int | None = None
    wbuf_hwm: int | None = None
    abuf_hwm: int | None = None
    abuf_peak_live: int | None = None
    sbuf_hwm: int | None = None
    pbuf_hwm: int | None = None
    code_bytes: int | None = None
    lut_entries: int | None = None
    wbuf_need: int | None = None       # what the program needs of each memory, also where it does not fit
    sbuf_need: int | None = None
    pbuf_need: int | None = None
    abuf_need: int | None = None
    imem_need: int | None = None
    sram_bytes: int | None = None
    logic_mm2: float | None = None     # 45 nm, docs/area-energy.md
    sram_mm2: float | None = None      # the configured memories' macros
    area_mm2: float | None = None      # logic + SRAM
    sized_mm2: float | None = None     # the same with every memory sized to what the program needs
    energy_uj: float | None = None     # dynamic energy per frame
    leakage_uw: float | None = None
    power_mw: float | None = None      # real-time operation: (energy + leakage over a hop) / hop
    hop_us: float | None = None
    frame_us: float | None = None
    real_time_factor: float | None = None
    min_clock_mhz: float | None = None
    real_time: str | None = None       # "yes" / "no"
    compile_s: float | None = None
    sim_ms_per_frame: float | None = None

    @property
    def shape(self) -> tuple:
        """What identifies the configuration (everything but the clock)."""
        return (self.lanes, self.abuf_kib, self.wbuf_kib, self.sbuf_kib, self.imem_kib, self.org, self.code,
                self.activations)

    def csv_row(self) -> dict:
        return {k: "" if v is None else v for k, v in dataclasses.asdict(self).items()}


SWEEP_COLUMNS = [f.name for f in dataclasses.fields(SweepPoint)]


def area_of(config: NpuConfig, *, source: str = "model", timeout: float | None = None) -> tuple[float, float]:
    """(logic, SRAM) mm^2 at 45 nm of a configuration: SRAM from the macros it has
    (`technology.sram_area_um2`), logic from the estimate or from synthesis (`AREA_SOURCES`)."""
    ge = logic_ge_estimate(config.lanes, config.topk_entries) if source == "model" else synthesised_ge(config, timeout=timeout)
    return ge * NAND2_UM2 * 1e-6, sram_mm2(config)


def sram_mm2(config: NpuConfig) -> float:
    return sum(sram_area_um2(config).values()) * 1e-6


def synthesised_ge(config: NpuConfig, *, timeout: float | None = None) -> float:
    """The logic gate equivalents of `python -m rtl synth` for `config`, in a subprocess (the RTL
    tools sit beside this package, not below it; they cache every configuration's result)."""
    with tempfile.TemporaryDirectory(prefix="npu-area-") as tmp:
        cfg, out = Path(tmp) / "npu.json", Path(tmp) / "area.json"
        cfg.write_text(config.to_json())
        try:
            proc = subprocess.run([sys.executable, "-m", "rtl", "synth", "--config", str(cfg), "--json", str(out)],
                                  capture_output=True, text=True, timeout=timeout, env=_kit_env())
        except subprocess.TimeoutExpired:
            raise NpuError(f"synthesis timed out after {timeout:g} s") from None
        if proc.returncode != 0 or not out.exists():
            lines = [l for l in (proc.stderr or proc.stdout).splitlines() if l.strip()]
            raise NpuError(f"synthesis failed: {lines[-1] if lines else f'exit code {proc.returncode}'}")
        blocks = json.loads(out.read_text())["blocks"]
    return float(sum(b["ge"] for b in blocks.values()))


# One point --------------------------------------------------------------------------------------------
def quantise_model(model_path: str, precisions: list, *, weights_anywhere: bool = False) -> dict:
    """Load the model and quantise it once per activation precision for the whole sweep (the slow,
    lane-independent step): {precision: (model, quantised network)}, shared with every worker."""
    model = load_model(model_path, weights_anywhere=weights_anywhere)
    quant = QuantConfig.from_spec(model.spec)
    return {p: (model, quantise_cached(model, replace(quant, activations=p))) for p in precisions}


def model_precision(model_path) -> str:
    """The activation precision the model file asks for (its `quantisation.activations`)."""
    return QuantConfig.from_spec(read_spec(model_path)).activations


def compile_point(task: dict, config: NpuConfig, out_path: Path,
                  quantised: dict | None = None) -> tuple[str, str, dict]:
    """Compile the task's model for `config` into `out_path`: with the compiler's API on the shared
    quantised networks ({precision: (model, qnet)}, `quantise_model`) when given, else with its CLI
    in a subprocess.

    Returns (status, message, needs): ("ok", "", {}), ("does not fit", the compiler's message, what
    the program needs of each memory by configuration field when known) or ("error", message, {})."""
    if quantised is not None:
        model, qnet = quantised[task["activations"]]
        try:
            program, _, _ = compile_network(qnet, config, model=model, schedule=False, code=task.get("code", "loops"))
        except FitError as exc:
            return "does not fit", str(exc), exc.needs
        except NpuError as exc:
            return "error", str(exc), {}
        except Exception as exc:              # a compiler bug at one point must not stop the sweep
            return "error", f"compiler failed: {type(exc).__name__}: {exc}", {}
        program.save(out_path)
        return "ok", "", {}
    return *compile_cli(task["model"], config, out_path, timeout=task.get("timeout"),
                       weights_anywhere=task.get("weights_anywhere", False), code=task.get("code", "loops")), {}


def program_needs(program: Program) -> dict:
    """What a compiled program needs of each sized memory, by configuration field (bytes)."""
    return {"wbuf_bytes": len(program.wbuf), "sbuf_bytes": len(program.sbuf), "pbuf_bytes": len(program.pbuf),
            "abuf_bytes": program.meta.abuf_peak_bytes, "imem_bytes": program.code.nbytes}


def _need_fields(needs: dict) -> dict:
    """SweepPoint's `<memory>_need` fields from needs by configuration field (`<memory>_bytes`)."""
    return {f"{m}_need": needs.get(f"{m}_bytes") for m in _NEEDS}


def sized_config(config: NpuConfig, point: "SweepPoint") -> NpuConfig:
    """`config` with every memory cut to what the point's program needs (rounded up to 32 bytes,
    which every size field accepts)."""
    return config.replace(**{f"{m}_bytes": max(32, -(-need // 32) * 32) for m in _NEEDS
                             if (need := getattr(point, f"{m}_need")) is not None})


def _kit_env() -> dict:
    """The environment of a subprocess that runs this kit's tools (`python -m compiler`, `-m rtl`)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def compile_cli(model: str, config: NpuConfig, out_path: Path, *, timeout: float | None = None,
                weights_anywhere: bool = False, code: str = "loops") -> tuple[str, str]:
    """`python -m compiler MODEL -o out_path --config npu.json --code CODE` in a subprocess."""
    cfg_path = out_path.with_suffix(".json")
    cfg_path.write_text(config.to_json())
    cmd = [sys.executable, "-m", "compiler", str(model), "-o", str(out_path), "--config", str(cfg_path),
           "--code", code, "--no-timing", "--quiet"] + (["--weights-anywhere"] if weights_anywhere else [])
    env = _kit_env()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(Path.cwd()))
    except subprocess.TimeoutExpired:
        return "error", f"compiler timed out after {timeout:g} s"
    finally:
        cfg_path.unlink(missing_ok=True)
    if proc.returncode == 0 and out_path.exists():
        return "ok", ""
    lines = [l.strip() for l in (proc.stderr or proc.stdout).splitlines() if l.strip()]
    msg = lines[-1] if lines else f"compiler exited with code {proc.returncode}"
    msg = re.sub(r"^error:\s*", "", msg)
    return ("does not fit" if proc.returncode == FitError.exit_code else "error"), msg


def evaluate_point(task: dict, quantised: dict | None = None) -> SweepPoint:
    """Compile and simulate one point (runs in a worker process): the figures that do not depend
    on the clock, with status and message. `quantised`: the sweep's `quantise_model`, else the
    compiler's CLI compiles the model file."""
    cfg = NpuConfig.from_dict(task["config"])
    code = task.get("code", "loops")
    base = SweepPoint(lanes=cfg.lanes, abuf_kib=cfg.abuf_bytes / KIB, wbuf_kib=cfg.wbuf_bytes / KIB,
                      sbuf_kib=cfg.sbuf_bytes / KIB, imem_kib=cfg.imem_bytes / KIB, org=org_label(cfg), code=code,
                      activations=task["activations"])
    workdir = Path(task["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    prog_path = workdir / f"lanes{cfg.lanes}_abuf{cfg.abuf_bytes}_wbuf{cfg.wbuf_bytes}_" \
                          f"sbuf{cfg.sbuf_bytes}_imem{cfg.imem_bytes}_{base.org.replace('/', '-')}_{code}_" \
                          f"{task['activations']}.bin"
    t0 = time.perf_counter()
    try:
        status, message, needs = compile_point(task, cfg, prog_path, quantised)
    except OSError as exc:
        status, message, needs = "error", f"cannot run the compiler ({exc})", {}
    base.compile_s = round(time.perf_counter() - t0, 2)
    if status != "ok":
        return dataclasses.replace(base, status=status, message=message, **_need_fields(needs))
    try:
        program = Program.load(prog_path)
        base = dataclasses.replace(base, **_need_fields(program_needs(program)))
        npu = Npu(program, source=str(prog_path))
        frames = int(task.get("frames", 1))
        feed = {p.name: _zeros(p, frames) for p in program.inputs}
        t1 = time.perf_counter()
        npu.run(feed, frames)
        sim_ms = 1e3 * (time.perf_counter() - t1) / frames if frames else None
        rep = build_report(npu, program_path=str(prog_path), hop=task.get("hop"), sample_rate=task.get("sample_rate"))
    except NpuError as exc:
        return dataclasses.replace(base, status="error", message=str(exc))
    except Exception as exc:                  # a failure at one point must not stop the sweep
        return dataclasses.replace(base, status="error", message=f"{type(exc).__name__}: {exc}")
    finally:
        if not task.get("keep"):
            prog_path.unlink(missing_ok=True)
    s = rep.summary
    mem = s.memory
    sram = sum(m.hwm_bytes for m in mem.values()) + s.instruction_bytes + s.lut_bytes
    try:
        logic, sram_area = area_of(cfg, source=task.get("area", "model"), timeout=task.get("timeout"))
    except NpuError as exc:
        return dataclasses.replace(base, status="error", message=f"area: {exc}")
    e = s.energy
    return dataclasses.replace(
        base, instructions=s.frame.instructions, cycles=s.frame.cycles, npu_macs=s.frame.npu_macs,
        model_macs=s.bound.model_macs, bound_cycles=s.bound.bound_cycles,
        bound_ratio=round(s.bound.ratio, 4) if s.bound.ratio else None,
        utilisation_pct=round(s.frame.utilisation_pct, 2), stall_cycles=s.frame.stall_cycles,
        wbuf_hwm=mem["wbuf"].hwm_bytes, abuf_hwm=mem["abuf"].hwm_bytes, abuf_peak_live=mem["abuf"].peak_live_bytes,
        sbuf_hwm=mem["sbuf"].hwm_bytes, pbuf_hwm=mem["pbuf"].hwm_bytes, code_bytes=s.instruction_bytes,
        lut_entries=s.lut_entries, sram_bytes=sram, logic_mm2=round(logic, 4), sram_mm2=round(sram_area, 4),
        area_mm2=round(logic + sram_area, 4), sized_mm2=round(logic + sram_mm2(sized_config(cfg, base)), 4),
        energy_uj=round(e.dynamic_uj, 4), leakage_uw=round(e.leakage_uw, 2),
        power_mw=round(e.average_mw, 4) if e.average_mw is not None else None,
        hop_us=s.real_time.hop_us or None, sim_ms_per_frame=round(sim_ms, 2) if sim_ms is not None else None)


def org_label(cfg: NpuConfig) -> str:
    """The data buffers' organisation: one name, or wbuf/abuf/sbuf when they differ."""
    orgs = [getattr(cfg, f"{b}_org") for b in ("wbuf", "abuf", "sbuf")]
    return orgs[0] if len(set(orgs)) == 1 else "/".join(orgs)


def _zeros(port, frames):
    return np.zeros((frames,) + tuple(port.shape), DTYPES[port.dtype].numpy)


def _at_clocks(point: SweepPoint, clocks: list) -> list[SweepPoint]:
    """The point at every clock, with the clock-dependent figures."""
    out = []
    for c in clocks:
        p = dataclasses.replace(point, clock_mhz=c)
        if p.status == "ok":
            p.frame_us = round(p.cycles / c, 3)
            if p.hop_us is not None:
                p.real_time_factor = round(p.cycles / (p.hop_us * c), 6)
                p.min_clock_mhz = round(p.cycles / p.hop_us, 3)
                p.real_time = "yes" if p.cycles / c <= p.hop_us else "no"
        out.append(p)
    return out


# The sweep --------------------------------------------------------------------------------------------
#: The task settings a point's result depends on (its cache key, with the model and the code).
_KEYED = ("config", "code", "frames", "hop", "sample_rate", "area", "activations")
#: SweepPoint fields that measure this run's machine, not the design: not compared between runs.
MEASURED = ("compile_s", "sim_ms_per_frame")


@dataclass
class SweepRun:
    """A sweep's rows (every point at every clock) and where each point came from."""
    rows: list
    computed: int
    cached: int


def sweep(model, configs: list, clocks: list, *, jobs: int = 1, frames: int = 1, hop=None,
          sample_rate=None, area: str = "model",
          workdir=None, keep=False, progress=True, timeout=None, use_api=True,
          weights_anywhere=False, scheduler: str | None = None, cache_dir=None) -> SweepRun:
    """Every config x clock, in the order of `configs` then `clocks`; a config is an NpuConfig, an
    (NpuConfig, code form) pair or an (NpuConfig, code form, activations) triple (activations
    None or absent: the model file's precision). Points run on `cluster.run_tasks` (in this process, a local
    Dask cluster of `jobs` workers, or the cluster at `scheduler`); with `cache_dir`, points found
    in the cache (`pointcache.PointCache`) are not computed again and new ones are added to it."""
    configs = [c if isinstance(c, tuple) else (c, "loops") for c in configs]
    own = model_precision(model) if any(len(c) < 3 or c[2] is None for c in configs) else None
    configs = [(c[0], c[1], c[2] if len(c) > 2 and c[2] else own) for c in configs]
    if not use_api and any(act != own for _, _, act in configs):
        raise NpuError("--activations other than the model file's need the compiler's API (not --use-cli)")
    cache = PointCache(Path(cache_dir) if cache_dir is not None else None, model=Path(model))
    with tempfile.TemporaryDirectory(prefix="npu-explore-") as tmp:
        wd = Path(workdir) if workdir else Path(tmp)
        try:
            wd.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NpuError(f"{wd}: cannot create ({exc.strerror or exc})") from None
        tasks = [{"model": str(model), "config": cfg.to_dict(), "code": code, "workdir": str(wd), "frames": frames,
                  "hop": hop, "sample_rate": sample_rate, "area": area, "activations": act,
                  "keep": keep, "timeout": timeout, "weights_anywhere": weights_anywhere}
                 for cfg, code, act in configs]
        keys = [cache.key({k: t[k] for k in _KEYED}) for t in tasks]
        results: list = [None] * len(tasks)
        for i, key in enumerate(keys):
            hit = None if keep else cache.get(key)       # --keep-programs wants the programs written
            if hit is not None:
                results[i] = SweepPoint(**hit)
        todo = [i for i, r in enumerate(results) if r is None]
        quantised = None
        if use_api and todo:
            if progress:
                print(f"explore: quantising {model} (once for every point)", file=sys.stderr, flush=True)
            quantised = quantise_model(str(model), sorted({tasks[i]["activations"] for i in todo}),
                                       weights_anywhere=weights_anywhere)
        bar = _progress(len(tasks), progress)
        bar.update(len(tasks) - len(todo))
        try:
            for j, point in run_tasks(evaluate_point, [tasks[i] for i in todo], jobs=jobs, scheduler=scheduler,
                                      shared=quantised):
                i = todo[j]
                results[i] = point
                cache.put(keys[i], dataclasses.asdict(point))
                bar.update(1)
        finally:
            bar.close()
    rows = [p for r in results for p in _at_clocks(r, clocks)]
    return SweepRun(rows, computed=len(todo), cached=len(tasks) - len(todo))


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total, enabled):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    # disable=None: tqdm turns itself off when stderr is not a terminal (a log, CI)
    return tqdm(total=total, desc="explore", unit="point", file=sys.stderr, dynamic_ncols=True, disable=None)


# Markdown -------------------------------------------------------------------------------------------
def _f(x, fmt="{:,.2f}"):
    if x is None:
        return "–"
    return fmt.format(x)


def explore_markdown(rows, clocks, plots: dict, *, model: str, command: str, area: str = "model",
                     heading: int = 1) -> str:
    h = "#" * heading
    first = [r for r in rows if r.clock_mhz == clocks[0]]
    ok = [r for r in first if r.status == "ok"]
    out = [f"{h} Exploration: {model}", "",
           f"Generated by `{command}`.", "",
           "Area and energy at 45 nm (docs/area-energy.md): SRAM from the macros of the configured memories, logic "
           + ("from synthesis of each configuration (`python -m rtl synth`)" if area == "synth" else
              "from the gate-equivalent estimate (`--area synth` synthesises each configuration)")
           + "; power is that of real-time operation: (dynamic energy + leakage over a hop) / hop.", ""]
    hop = next((r.hop_us for r in ok if r.hop_us is not None), None)
    if hop is not None:
        out += [f"Frame hop: {float(hop):,.0f} us. Real-time factor = frame time / hop time (<= 1 is real time).", ""]
    dims = _swept(first)
    dim_head = " | ".join(_DIM_HEAD[d] for d in dims)

    def key(r):
        return f"| {r.lanes} | " + " | ".join(_dim_value(r, d) for d in dims) + " |"

    ncol = 13                                      # columns after status
    out += [f"{h}# Points", "",
            f"| lanes | {dim_head} | status | instructions | cycles / frame | bound MACs/lanes | cycles / bound | "
            "util % | min clock MHz | wbuf used KiB | abuf used KiB | sbuf used KiB | pbuf used KiB | code KiB | area mm² | "
            "power mW |",
            "|---|" + "---|" * (len(dims) + 1 + ncol)]
    for r in first:
        if r.status != "ok":
            out.append(key(r) + f" **{r.status}** |" + " |" * ncol)
            continue
        out.append(key(r) + f" ok | {r.instructions:,} | {r.cycles:,} | "
                   f"{r.bound_cycles:,} | {_f(r.bound_ratio, '{:.4f}')} | {_f(r.utilisation_pct, '{:.1f}')} | "
                   f"{_f(r.min_clock_mhz, '{:,.1f}')} | {r.wbuf_hwm / KIB:,.1f} | {r.abuf_hwm / KIB:,.1f} | "
                   f"{r.sbuf_hwm / KIB:,.1f} | {r.pbuf_hwm / KIB:,.1f} | {r.code_bytes / KIB:,.1f} | "
                   f"{_f(r.area_mm2, '{:.3f}')} | {_f(r.power_mw, '{:.2f}')} |")
    bad = [r for r in first if r.status != "ok"]
    if bad:
        out += ["", "Points that were not built:", ""]
        out += [f"- {r.lanes} lanes, " + ", ".join(f"{_DIM_HEAD[d]} {_dim_value(r, d)}" for d in dims)
                + f": {r.status}: {_reason(r)}" for r in bad]
    out += ["", f"{h}# Answers", ""] + [f"- {line}." for line in answer_lines(rows)]
    fits = smallest_fits(first)
    if fits:
        group_dims = [d for d in ("org", "code", "activations") if d in dims]
        out += ["", f"{h}# Smallest buffers that fit", "",
                "What the program needs of each memory (KiB), whatever the configured sizes: a configuration "
                "fits when every buffer is at least this large.", "",
                "| lanes | " + "".join(f"{_DIM_HEAD[d]} | " for d in group_dims) + " | ".join(_NEEDS) + " |",
                "|---|" + "---|" * (len(group_dims) + len(_NEEDS))]
        for (lanes, org, code, act), need in fits:
            vals = {"org": org, "code": code, "activations": act}
            out.append(f"| {lanes} | " + "".join(f"{vals[d]} | " for d in group_dims)
                       + " | ".join(_f(None if v is None else v / KIB, "{:,.1f}") for v in need.values()) + " |")
    if ok and hop is not None:
        out += ["", f"{h}# Real-time factor per clock", "",
                f"| lanes | {dim_head} | " + " | ".join(f"{c:g} MHz" for c in clocks) + " |",
                "|---|" + "---|" * (len(dims) + len(clocks))]
        for r in ok:
            cells = []
            for c in clocks:
                rr = next(x for x in rows if x.clock_mhz == c and x.shape == r.shape)
                mark = " ✓" if rr.real_time == "yes" else ""
                cells.append(f"{rr.real_time_factor:.2f}{mark}")
            out.append(key(r) + " " + " | ".join(cells) + " |")
        out += ["", "✓: real time (frame time <= hop time)."]
    if plots:
        out += ["", f"{h}# Plots", ""]
        for title, fname in plots.items():
            out += [f"![{title}]({fname})", ""]
    return "\n".join(out).rstrip() + "\n"


_DIM_HEAD = {"abuf_kib": "abuf KiB", "wbuf_kib": "wbuf KiB", "sbuf_kib": "sbuf KiB", "imem_kib": "imem KiB",
             "org": "memory", "code": "code", "activations": "activations"}


def _swept(rows) -> list[str]:
    """The configuration columns to show: abuf always, the others where the sweep varies them."""
    return ["abuf_kib"] + [d for d in ("wbuf_kib", "sbuf_kib", "imem_kib", "org", "code", "activations")
                           if len({getattr(r, d) for r in rows}) > 1]


def _dim_value(r, d) -> str:
    v = getattr(r, d)
    return v if isinstance(v, str) else f"{v:g}"


_NEEDS = ("wbuf", "abuf", "sbuf", "pbuf", "imem")


def smallest_fits(rows) -> list[tuple[tuple, dict]]:
    """Per (lanes, organisation, code form, activations): the smallest size of each memory the program fits,
    in bytes (what it needs, from a built point or the compiler's "does not fit"); rows of one
    clock. Groups without any figure are left out."""
    groups: dict = {}
    for r in rows:
        need = {b: getattr(r, f"{b}_need") for b in _NEEDS}
        if all(v is None for v in need.values()):
            continue
        g = groups.setdefault((r.lanes, r.org, r.code, r.activations), dict.fromkeys(_NEEDS))
        for b, v in need.items():
            if v is not None:
                g[b] = v if g[b] is None else max(g[b], v)
    return list(groups.items())


#: Real-time factors the answers are given for: real time, and the seed paper's margin.
RTF_LIMITS = (1.0, 0.85)


def real_time_answers(rows, limit: float) -> dict:
    """{"area": row, "power": row}: the smallest-area and the lowest-power point (at a clock) whose
    real-time factor is at most `limit`; ties go to the lower clock, then the other figure. Empty
    when no point qualifies."""
    ok = [r for r in rows if r.status == "ok" and r.real_time_factor is not None and r.real_time_factor <= limit
          and r.area_mm2 is not None]
    if not ok:
        return {}
    out = {"area": min(ok, key=lambda r: (r.area_mm2, r.clock_mhz, r.power_mw or 0.0))}
    powered = [r for r in ok if r.power_mw is not None]
    if powered:
        out["power"] = min(powered, key=lambda r: (r.power_mw, r.clock_mhz, r.area_mm2))
    return out


def answer_lines(rows) -> list[str]:
    """The answers of a sweep, one line each: per RTF limit, the smallest-area and the
    lowest-power real-time point (what the command prints and exploration.md lists)."""
    lines = []
    for limit in RTF_LIMITS:
        ans = real_time_answers(rows, limit)
        if not ans:
            lines.append(f"No swept point runs with a real-time factor <= {limit:g}")
        for key, what in (("area", "Smallest area"), ("power", "Lowest power")):
            if key in ans:
                lines.append(f"{what} with RTF <= {limit:g}: {_design_text(ans[key])}")
    return lines


def _design_text(r) -> str:
    return (f"{r.lanes} lanes, abuf {r.abuf_kib:g} / wbuf {r.wbuf_kib:g} / sbuf {r.sbuf_kib:g} / "
            f"imem {r.imem_kib:g} KiB, {r.org}, {r.code}, {r.activations} activations, {r.clock_mhz:g} MHz: "
            f"{r.area_mm2:.3f} mm² (logic {r.logic_mm2:.3f}), {_f(r.power_mw, '{:.2f}')} mW, "
            f"RTF {r.real_time_factor:.2f}")


def _needs_text(need: dict) -> str:
    return ", ".join(f"{b} {v / KIB:,.1f} KiB" for b, v in need.items() if v is not None)


# Command line ---------------------------------------------------------------------------------------
#: A buffer size in KiB (up to the ISA's 4 MiB per buffer, 64 MiB of imem: NpuConfig says which).
_KIB = bounded_list(float, 0, 64 * KIB, low_open=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model YAML file (compiled with `python -m compiler`)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for sweep.csv, plots, exploration.md")
    p.add_argument("--lanes", type=bounded_list(int, 1, 1 << 10), default=[1, 2, 4, 8, 16], metavar="L,..",
                   help="lane counts (default 1,2,4,8,16)")
    p.add_argument("--act-kib", type=_KIB, metavar="KIB,..",
                   help="activation buffer (abuf) sizes in KiB (default: the configuration's)")
    p.add_argument("--wbuf-kib", type=_KIB, metavar="KIB,..", help="weight buffer sizes in KiB")
    p.add_argument("--sbuf-kib", type=_KIB, metavar="KIB,..", help="state buffer sizes in KiB")
    p.add_argument("--imem-kib", type=_KIB, metavar="KIB,..", help="instruction memory sizes in KiB")
    p.add_argument("--org", type=_organisations, metavar="ORG,..",
                   help=f"memory organisations of the data buffers ({', '.join(ORGANISATIONS)}; default: the "
                        "configuration's): each swept value organises wbuf, abuf and sbuf alike")
    p.add_argument("--activations", type=precisions, metavar="PREC,..",
                   help="activation precisions to sweep (int8, int16, or both; default: the model file's)")
    p.add_argument("--code", type=_code_forms, default=["loops"], metavar="FORM,..",
                   help="code forms of the compiler: loops (default), unrolled, or both (loops,unrolled)")
    p.add_argument("--clock-mhz", type=bounded_list(float, 0, MAX_CLOCK_MHZ, low_open=True), metavar="MHZ,..",
                   help="clocks for the real-time factor (default: the configuration's)")
    p.add_argument("--config", metavar="JSON", help="base configuration for the fields not swept")
    p.add_argument("--jobs", type=bounded(int, 1, MAX_JOBS), default=os.cpu_count() or 1, metavar="N",
                   help="worker processes of the local Dask cluster (default: the machine's cores; 1: no "
                        "cluster, every point in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the points on an existing Dask cluster (e.g. tcp://host:8786) instead of a local one")
    p.add_argument("--cache", metavar="DIR",
                   help="cache of computed points, keyed by model, weights, configuration and code version "
                        "(default: DIR/cache under the output folder): a rerun computes only new points")
    p.add_argument("--no-cache", action="store_true", help="compute every point, read and write no cache")
    p.add_argument("--frames", type=bounded(int, 0, MAX_FRAMES), default=1, metavar="N", help="frames simulated per point (default 1)")
    p.add_argument("--hop", type=bounded(int, 1, MAX_FFT), metavar="SAMPLES", help="frame hop (default: the model file's)")
    p.add_argument("--sample-rate", type=bounded(int, 1, MAX_SAMPLE_RATE), metavar="HZ", help="sample rate (default: the model file's)")
    p.add_argument("--area", choices=AREA_SOURCES, default="model",
                   help="logic area from the gate-equivalent estimate (model, default) or from synthesis of each "
                        "configuration with a full Yosys (synth: minutes per configuration, cached)")
    p.add_argument("--plot-format", choices=("png", "svg"), default="png", help="plot file format (default png)")
    p.add_argument("--doc", metavar="FILE", help="also write the summary into FILE between the markers "
                                                 "<!-- BEGIN GENERATED: explore --> and <!-- END GENERATED: explore -->")
    p.add_argument("--keep-programs", action="store_true", help="keep every compiled program in DIR/programs/")
    p.add_argument("--timeout", type=bounded(float, 0, 1e6, low_open=True), metavar="S", help="with --use-cli: give up compiling a point after S seconds")
    p.add_argument("--use-cli", action="store_true", help="compile every point with `python -m compiler` in a "
                                                        "subprocess (re-quantising each time) instead of the API")
    p.add_argument("--weights-anywhere", action="store_true",
                   help="let the model file read its weights .npz from outside its own folder")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when stderr is not a terminal)")


def _organisations(text: str) -> list[str]:
    orgs = [t.strip() for t in text.split(",")]
    bad = [o for o in orgs if o not in ORGANISATIONS]
    if bad or not orgs:
        raise argparse.ArgumentTypeError(f"expected organisations among {', '.join(ORGANISATIONS)}, not {text[:40]!r}")
    return list(dict.fromkeys(orgs))


def _code_forms(text: str) -> list[str]:
    forms = [t.strip() for t in text.split(",")]
    bad = [f for f in forms if f not in CODE_FORMS]
    if bad or not forms:
        raise argparse.ArgumentTypeError(f"expected code forms among {', '.join(CODE_FORMS)}, not {text[:40]!r}")
    return list(dict.fromkeys(forms))


def _bytes(kib: float) -> int:
    return int(round(kib * KIB))


def main_explore(args) -> int:
    model = Path(args.model)
    if not model.is_file():
        raise NpuError(f"{model}: no such model file")
    check_output(args.output, directory=True)
    args.doc and check_output(args.doc)
    base = NpuConfig.load(args.config) if args.config else NpuConfig()
    hop, rate = args.hop, args.sample_rate
    if hop is None or rate is None:

        inp = read_spec(model).input
        hop = inp.hop if hop is None else hop
        rate = inp.sample_rate if rate is None else rate
    clocks = args.clock_mhz or [base.clock_mhz]
    configs = []
    try:
        for lanes in args.lanes:
            for act in args.act_kib or [base.abuf_bytes / KIB]:
                for wk in args.wbuf_kib or [base.wbuf_bytes / KIB]:
                    for sk in args.sbuf_kib or [base.sbuf_bytes / KIB]:
                        for ik in args.imem_kib or [base.imem_bytes / KIB]:
                            cfg = base.replace(lanes=lanes, abuf_bytes=_bytes(act), wbuf_bytes=_bytes(wk),
                                               sbuf_bytes=_bytes(sk), imem_bytes=_bytes(ik))
                            for org in args.org or [None]:
                                one = cfg if org is None else cfg.replace(wbuf_org=org, abuf_org=org, sbuf_org=org)
                                configs += [(one, code, act) for code in args.code
                                            for act in args.activations or [None]]
    except ConfigError as exc:
        raise NpuError(f"sweep point: {exc}") from None
    out = Path(args.output)
    workdir = out / "programs" if args.keep_programs else None
    cache_dir = None if args.no_cache else Path(args.cache) if args.cache else out / "cache"
    run = sweep(model, configs, clocks, jobs=args.jobs, frames=args.frames, hop=hop,
                sample_rate=rate, area=args.area,
                workdir=workdir, keep=args.keep_programs, progress=not args.no_progress, timeout=args.timeout,
                use_api=not args.use_cli, weights_anywhere=args.weights_anywhere, scheduler=args.scheduler,
                cache_dir=cache_dir)
    rows = run.rows
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=SWEEP_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(p.csv_row() for p in rows)
    write_bytes(out / "sweep.csv", text.getvalue().encode())
    made = {}
    series = {d: _DIM_HEAD[d] for d in _swept(rows)}
    for title, (fname, data) in explore_plots(rows, clocks, fmt=args.plot_format, series=series).items():
        write_bytes(out / fname, data)
        made[title] = fname
    command = "python -m npu_model explore " + " ".join(_argv_tail(args))
    md = explore_markdown(rows, clocks, made, model=str(model), command=command, area=args.area)
    write_bytes(out / "exploration.md", md.encode())
    if args.doc:
        _update_doc(Path(args.doc), rows, clocks, made, out, model, command, args)
    first = [r for r in rows if r.clock_mhz == clocks[0]]
    ok = sum(1 for r in first if r.status == "ok")
    print(f"explore: {len(configs)} point(s), {ok} built, {len(configs) - ok} not built "
          f"({run.computed} computed, {run.cached} from the cache); "
          f"{out}/sweep.csv, {out}/exploration.md, {len(made)} plot(s)")
    dims = _swept(first)
    for r in first:
        where = f"  {r.lanes:>2} lanes " + " ".join(f"{_DIM_HEAD[d]} {_dim_value(r, d)}" for d in dims)
        if r.status == "ok":
            print(f"{where}: {r.cycles:,} cycles/frame, {_f(r.bound_ratio, '{:.4f}')}x bound, "
                  f"min clock {_f(r.min_clock_mhz, '{:,.1f}')} MHz")
        else:
            print(f"{where}: {r.status}: {_reason(r)}")
    for line in answer_lines(rows):
        print(line)
    fits = smallest_fits(first)
    if fits:
        print("smallest buffers that fit:")
        for (lanes, org, code, act), need in fits:
            extra = "".join(f" {v}" for d, v in (("org", org), ("code", code), ("activations", act)) if d in dims)
            print(f"  {lanes:>2} lanes{extra}: {_needs_text(need)}")
    return 0


def _reason(r: SweepPoint) -> str:
    """A point's message after its status: "does not fit" is said once, not twice."""
    return r.message.removeprefix("model does not fit: ") if r.status == "does not fit" else r.message


def _argv_tail(args) -> list[str]:
    parts = [str(args.model)]
    for flag, value in (("--lanes", args.lanes), ("--act-kib", args.act_kib), ("--wbuf-kib", args.wbuf_kib),
                        ("--sbuf-kib", args.sbuf_kib), ("--imem-kib", args.imem_kib), ("--clock-mhz", args.clock_mhz)):
        if value:
            parts += [flag, ",".join(f"{v:g}" for v in value)]
    if args.org:
        parts += ["--org", ",".join(args.org)]
    if args.code != ["loops"]:
        parts += ["--code", ",".join(args.code)]
    if args.activations:
        parts += ["--activations", ",".join(args.activations)]
    if args.config:
        parts += ["--config", str(args.config)]
    parts += ["-o", str(args.output)]
    if args.doc:
        parts += ["--doc", str(args.doc)]
    if args.plot_format != "png":
        parts += ["--plot-format", args.plot_format]
    if args.area != "model":
        parts += ["--area", args.area]
    return parts


BEGIN, END = "<!-- BEGIN GENERATED: explore -->", "<!-- END GENERATED: explore -->"


def _update_doc(doc: Path, rows, clocks, made, out: Path, model, command, args) -> None:
    rel = os.path.relpath(out, doc.parent)
    plots = {t: f"{rel}/{f}".replace(os.sep, "/") for t, f in made.items()}
    body = explore_markdown(rows, clocks, plots, model=str(model), command=command, area=args.area, heading=2)
    try:
        text = doc.read_text()
    except FileNotFoundError:
        text = f"{BEGIN}\n{END}\n"
    except OSError as exc:
        raise NpuError(f"{doc}: cannot read ({exc.strerror})") from None
    if BEGIN not in text or END not in text:
        raise NpuError(f"{doc}: no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    write_bytes(doc, (head + BEGIN + "\n" + body + END + tail).encode())
