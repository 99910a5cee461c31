"""Assembler and disassembler: exact round trips, and errors that name the file and line."""
import subprocess
import sys

import numpy as np
import pytest

from npu_model.arch import isa
from npu_model.golden.asm import AsmError, assemble, disassemble, format_code, format_instruction, parse_instruction

SOURCE = """\
.config lanes=4 abuf_bytes=4096 sbuf_bytes=1024 wbuf_bytes=4096 imem_bytes=4096 lut_entries=512
.input x abuf 0x0 i8 4x8
.output y abuf 0x100 i16 4
.param 0x0 10 1 0
.param 0x8 -5 3 2
.data wbuf 0x40 i8 1 -2 3 4 5 6 7 8
.data sbuf 0x10 i16 -300 300
.lut 0 -1 2 3
.symbol w wbuf 0x40 8 i8 2x4 enc1
.layer enc1 conv1d 32
sync_in port=0
mac n=4 r=8 a=abuf.i8[0x0+1r] b=wbuf.i8[0x40+4r+1l] d=abuf.i16[0x100+2l] p=0x0+8l act=relu
mov n=4 r=2 a=abuf.i8[0x0+4r+1l] d=abuf.i8[0x200-4r+1l] p=0x8 act=lut(0,8)   # a comment
.layer dec1 add 0
add n=2 r=3 a=sbuf.i16[0x10+2r] b=abuf.i16[0x20-2r+4l] d=sbuf.i16[0x10+2r] p=0x8 acc_in=1
sync_out port=0
eof
"""


def test_disassembly_reassembles_to_the_same_program():
    program = assemble(SOURCE, source="t.s")
    text = disassemble(program, full=True)
    assert assemble(text).to_bytes() == program.to_bytes()
    assert program.layers[0].pc_end == 3 and program.layers[1].pc_start == 3


def test_instruction_text_is_generated_from_the_fields():
    program = assemble(SOURCE)
    ins, _ = isa.decode(program.code[1].tobytes())
    assert ins.opcode == isa.Opcode.MAC and ins.n == 4 and ins.r == 8
    assert (ins.b_buf, ins.b_base, ins.b_rstride, ins.b_lstride) == (isa.Buffer.WBUF, 0x40, 4, 1)
    assert (ins.d_dtype, ins.p_vec, ins.act) == (isa.DType.I16, 1, isa.Act.RELU)
    assert format_instruction(ins) == ("mac n=4 r=8 a=abuf.i8[0x0+1r] b=wbuf.i8[0x40+4r+1l] "
                                       "d=abuf.i16[0x100+2l] p=0x0+8l act=relu")


def test_loops_spell_their_fields_by_name():
    program = assemble("loop count=128 body=1 a_inc=128 d_inc=-256\nnop\nnop\neof\n")
    ins, _ = isa.decode(program.code[0].tobytes())
    assert (ins.opcode, ins.count, ins.body, ins.a_inc, ins.d_inc, ins.b_inc) == (isa.Opcode.LOOP, 128, 1, 128, -256, 0)
    assert format_instruction(ins) == "loop count=128 body=1 a_inc=128 d_inc=-256"


def test_every_random_word_round_trips_through_text():
    rng = np.random.default_rng(1)
    for _ in range(300):
        opcode = int(rng.integers(0, 16))
        values = {f.name: int(rng.integers(f.min, f.max + 1)) for f in isa.FORMAT_FIELDS[isa.format_of(opcode)][1:]}
        ins = isa.Instruction(opcode=opcode, **values)
        reserved = int(rng.integers(0, 4))
        text = format_instruction(ins, reserved)
        assert parse_instruction(text) == (ins, reserved), text


@pytest.mark.parametrize("line, message", [
    ("macc n=1", "t.s:1: unknown mnemonic 'macc'"),
    ("mac n=1 r=70000", "t.s:1: field r: 70000 does not fit 16 unsigned bits"),
    ("mac n=1 a=xbuf.i8[0]", "t.s:1: unknown buffer 'xbuf' in operand a"),
    ("mac n=1 a=abuf.i32[0]", "t.s:1: bad operand a='abuf.i32[0]'"),
    ("mac n=1 colour=3", "t.s:1: unknown field 'colour'"),
    ("mac n=1 count=3", "t.s:1: field count is not part of the operate format of opcode 1"),
    ("loop count=2 body=1 n=2", "t.s:1: field n is not part of the loop format of opcode 11"),
    ("nop reserved=0x200", "t.s:1: reserved=0x200 does not fit the format's 9 reserved bits"),
    ("mac n", "t.s:1: expected name=value, got 'n'"),
    (".data abuf 0 i8 1", "t.s:1: initial data goes into wbuf or sbuf, not 'abuf'"),
    (".data wbuf 0 i8 300", "t.s:1: value 300 does not fit i8"),
    (".param 0 0 40000 0", "t.s:1: .param mult 40000 outside -32768..32767"),
    (".frobnicate", "t.s:1: unknown directive '.frobnicate'"),
    (".config lanes=3", "t.s: .config: lanes: must be one of 1, 2, 4, 8, 16, not 3"),
])
def test_errors_name_file_and_line(line, message):
    with pytest.raises(AsmError) as exc:
        assemble(line + "\neof\n", source="t.s")
    assert str(exc.value).startswith(message)


def test_cli_asm_and_disasm(tmp_path):
    src = tmp_path / "t.s"
    src.write_text(SOURCE)
    out = tmp_path / "t.bin"
    run = lambda *a: subprocess.run([sys.executable, "-m", "npu_model", *a], capture_output=True, text=True)
    result = run("asm", str(src), "-o", str(out))
    assert result.returncode == 0, result.stderr
    result = run("disasm", str(out))
    assert result.returncode == 0 and "mac n=4 r=8" in result.stdout
    bad = tmp_path / "bad.s"
    bad.write_text("nop\nmac n=1 r=-1\n")
    result = run("asm", str(bad), "-o", str(tmp_path / "bad.bin"))
    assert result.returncode == 2 and "bad.s:2: field r: -1" in result.stderr
    assert not (tmp_path / "bad.bin").exists()
    for command in ("run", "asm", "disasm"):
        assert run(command, "--help").returncode == 0


def test_fast_listing_formats_like_one_instruction_at_a_time():
    rng = np.random.default_rng(2)
    words = rng.integers(0, 256, (400, 32)).astype(np.uint8)
    words[:, 0] = rng.integers(0, 16, 400).astype(np.uint8)     # mostly known opcodes
    words[:300, 29:] = 0                                        # most without reserved bits
    expected = [format_instruction(*isa.decode(w.tobytes())) for w in words]
    assert format_code(words) == expected
