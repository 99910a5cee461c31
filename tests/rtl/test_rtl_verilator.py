"""The generated Verilog (memories as plain arrays, no reset, compressed replications) runs
random programs under Verilator with the same results as the reference."""
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from npu_model.isa import encode
from rtl.layout import HOST_WORD_BYTES, HostTarget
from rtl.trace import ENTRIES_PER_ROW
from rtl.verilog import generate_verilog, waiver_text

import rtl_refmodel as refmodel
from rtl_harness import small_config
from rtl_progen import initial_images, random_program
from test_rtl_generate import verilator

HERE = Path(__file__).resolve().parent


def build(cfg, workdir):
    tool = verilator()
    if tool is None or shutil.which("make") is None or shutil.which("c++") is None:
        pytest.skip("verilator, make or a C++ compiler missing")
    binary, env = tool
    (workdir / "npu.v").write_text(generate_verilog(cfg))
    (workdir / "npu.vlt").write_text(waiver_text("npu.v"))
    subprocess.run([binary, "--cc", "--exe", "--top-module", "npu", "-O1", "--Mdir", "obj",
                    "npu.vlt", "npu.v", str(HERE / "rtl_vharness.cpp"), "-o", "vnpu"],
                   cwd=workdir, env=env, check=True, capture_output=True, timeout=600)
    # The wheel's configuration leaves the precompiled-header flag empty: pass it explicitly.
    subprocess.run(["make", "-j2", "-C", "obj", "-f", "Vnpu.mk", "vnpu", "CFG_CXXFLAGS_PCH_I=-include",
                    "OPT_FAST=-O0", "OPT_SLOW=-O0"],
                   cwd=workdir, env=env, check=True, capture_output=True, timeout=600)
    return workdir / "obj" / "vnpu"


def rows(target, data):
    data = bytes(data) + bytes(-len(data) % HOST_WORD_BYTES)
    for i in range(len(data) // HOST_WORD_BYTES):
        chunk = data[i * HOST_WORD_BYTES:(i + 1) * HOST_WORD_BYTES]
        yield f"W {int(target)} {i} {int.from_bytes(chunk, 'little'):064x}"


def test_verilator_random_programs(tmp_path):
    cfg = small_config(lanes=4, wbuf_bytes=1024, abuf_bytes=256, sbuf_bytes=128, imem_bytes=32 * 64)
    exe = build(cfg, tmp_path)
    rng = random.Random(42)
    wbuf, abuf, sbuf, lut = initial_images(cfg, rng)
    script = []
    script += rows(HostTarget.WBUF, wbuf)
    script += rows(HostTarget.ABUF, abuf)
    script += rows(HostTarget.SBUF, sbuf)
    import numpy as np
    script += rows(HostTarget.LUT, np.asarray(lut, dtype="<i2").tobytes())
    mems = {"wbuf": wbuf, "abuf": abuf, "sbuf": sbuf}
    expected = []
    for _ in range(4):
        prog = random_program(rng, cfg, rng.randint(4, 12))
        ref = refmodel.run(cfg, prog, lut=lut, **mems)
        mems = {k: bytes(v) for k, v in ref.mem.items()}
        expected.append((prog, ref))
        script += rows(HostTarget.IMEM, b"".join(encode(i) for i in prog))
        script.append("S")
        script.append("C")
        for i in range((len(prog) + ENTRIES_PER_ROW - 1) // ENTRIES_PER_ROW):
            script.append(f"R {int(HostTarget.TRACE)} {i}")
        for target, name in ((HostTarget.ABUF, "abuf"), (HostTarget.SBUF, "sbuf")):
            for i in range(cfg.buffer_bytes(name) // HOST_WORD_BYTES):
                script.append(f"R {int(target)} {i}")
    out = subprocess.run([str(exe)], input="\n".join(script) + "\n", capture_output=True,
                         text=True, check=True, timeout=120).stdout.split("\n")
    lines = iter(out)
    for prog, ref in expected:
        assert next(lines) == "F 0 0 0"
        counters = {}
        for _ in range(15):
            _k, name, value = next(lines).split()
            counters[name] = int(value)
        assert counters == {**ref.counters}
        trace = b"".join(int(next(lines)[2:], 16).to_bytes(HOST_WORD_BYTES, "little")
                         for _ in range((len(prog) + ENTRIES_PER_ROW - 1) // ENTRIES_PER_ROW))
        got = [(int.from_bytes(trace[8 * pc:8 * pc + 4], "little"),
                int.from_bytes(trace[8 * pc + 4:8 * pc + 8], "little")) for pc in range(len(prog))]
        assert got == ref.schedule
        for name in ("abuf", "sbuf"):
            data = b"".join(int(next(lines)[2:], 16).to_bytes(HOST_WORD_BYTES, "little")
                            for _ in range(cfg.buffer_bytes(name) // HOST_WORD_BYTES))
            assert data == bytes(ref.mem[name]), name
