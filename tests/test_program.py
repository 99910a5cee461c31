"""The program container: round trip, and the loader's one-line rejections (exit code 2)."""
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from npu_model.arch import isa
from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuError, ProgramFormatError
from npu_model.arch.meta import ProgramMeta
from npu_model.arch.program import SectionKind, MAGIC, Layer, Port, Program, Symbol


def small_program(**changes):
    eof = np.frombuffer(isa.encode(isa.Instruction(opcode=isa.Opcode.EOF)), np.uint8)
    nop = np.frombuffer(isa.encode(isa.Instruction(opcode=isa.Opcode.NOP)), np.uint8)
    fields = dict(config=NpuConfig(lanes=4, abuf_bytes=4096), code=np.concatenate([nop, eof]),
                  wbuf=bytes(range(40)), sbuf=b"\x01\x02", lut=np.arange(-3, 5, dtype=np.int16),
                  inputs=[Port("x", "abuf", 0, "i8", (4, 8))], outputs=[Port("y", "abuf", 64, "i16", (4,))],
                  symbols=[Symbol("w", "wbuf", 0, 40, "i8", (5, 8), "enc1")],
                  layers=[Layer("enc1", "conv1d", 0, 1, 320)], meta=ProgramMeta(model="test"))
    fields.update(changes)
    return Program(**fields)


def test_round_trip():
    p = small_program()
    q = Program.from_bytes(p.to_bytes())
    assert q.config == p.config and q.wbuf == p.wbuf and q.sbuf == p.sbuf
    assert np.array_equal(q.code, p.code) and np.array_equal(q.lut, p.lut)
    assert q.inputs == p.inputs and q.outputs == p.outputs and q.symbols == p.symbols
    assert q.layers == p.layers and q.meta == p.meta
    assert q.to_bytes() == p.to_bytes()


def _reject(data, match, **kwargs):
    with pytest.raises(ProgramFormatError, match=match) as exc:
        Program.from_bytes(data, source="prog.bin", **kwargs)
    assert "\n" not in str(exc.value) and str(exc.value).startswith("prog.bin: ")


def test_rejects_bad_magic():
    data = small_program().to_bytes()
    _reject(b"ELF\x7f" + data[4:], "bad magic")
    _reject(b"", "bad magic")


def test_rejects_unknown_version():
    data = bytearray(small_program().to_bytes())
    data[8:10] = struct.pack("<H", 7)
    _reject(bytes(data), "unknown format version 7")


@pytest.mark.parametrize("keep", [12, 40, 100, -1, -4, -30])
def test_rejects_truncation(keep):
    data = small_program().to_bytes()
    _reject(data[:keep], "truncated")


def test_rejects_every_single_corrupted_byte_in_the_payload():
    data = small_program().to_bytes()
    header_and_table = 16 + 12 * len(SectionKind)
    for at in range(header_and_table, len(data) - 4, 7):
        bad = bytearray(data)
        bad[at] ^= 0x10
        _reject(bytes(bad), "bad checksum")


def test_rejects_configuration_mismatch():
    data = small_program().to_bytes()
    _reject(data, r"compiled for another configuration \(expected != program: lanes: 8 != 4\)",
            expected_config=NpuConfig(lanes=8, abuf_bytes=4096))
    Program.from_bytes(data, expected_config=NpuConfig(lanes=4, abuf_bytes=4096, clock_mhz=50))


def _rebuild(data, mutate):
    """Re-checksum a program after mutating its body, to reach the checks behind the checksum."""
    body = bytearray(data[:-4])
    mutate(body)
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def test_rejects_unknown_section_and_missing_section():
    data = small_program().to_bytes()
    _reject(_rebuild(data, lambda b: b.__setitem__(slice(16, 20), struct.pack("<I", 42))), "unknown section kind 42")
    _reject(_rebuild(data, lambda b: b.__setitem__(slice(28, 32), struct.pack("<I", 1))), "section CONFIG appears twice")


def test_rejects_sizes_beyond_the_configuration():
    with pytest.raises(ProgramFormatError, match="wbuf image needs 8192 but the configuration has wbuf_bytes = 4096"):
        small_program(config=NpuConfig(lanes=4, wbuf_bytes=4096, abuf_bytes=4096), wbuf=bytes(8192)).to_bytes()
    with pytest.raises(ProgramFormatError, match="output port 'y': region 4090..4098 outside abuf"):
        small_program(outputs=[Port("y", "abuf", 4090, "i16", (4,))]).to_bytes()
    with pytest.raises(ProgramFormatError, match=r"IO inputs\[0\].buf: must be one of abuf, sbuf, not 'wbuf'"):
        small_program(inputs=[Port("x", "wbuf", 0, "i8", (4,))]).to_bytes()


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "prog.bin"
    small_program().save(path)
    before = path.read_bytes()
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask      # not mkstemp's private 0600
    broken = small_program(wbuf=bytes(1 << 21))          # too large: refused before anything is written
    with pytest.raises(ProgramFormatError):
        broken.save(path)
    assert path.read_bytes() == before

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("npu_model.arch.files.os.replace", failing_replace)
    with pytest.raises(NpuError, match="prog.bin: cannot write \\(No space left on device\\)"):
        small_program(meta=ProgramMeta(extra={"other": 1})).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["prog.bin"]


def test_cli_exit_code_2_and_one_line(tmp_path):
    path = tmp_path / "prog.bin"
    path.write_bytes(MAGIC + b"\x01\x00")
    result = subprocess.run([sys.executable, "-m", "npu_model", "disasm", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "truncated" in result.stderr
    assert "Traceback" not in result.stderr
