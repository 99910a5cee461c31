"""Faults (codes 1..5 of docs/isa.md, first faulting pc, messages) and loader-level rejections."""
import numpy as np
import pytest
from model_helpers import EOF, NOP, Image, config, ew, mac, mov, program, records, sync_in, sync_out

from npu_model.arch import isa
from npu_model.arch.errors import NpuFault, ProgramFormatError
from npu_model.arch.isa import Act, Instruction, Opcode
from npu_model.arch.program import Port
from npu_model.golden.analysis import fault_codes, instruction_fault
from npu_model.golden.asm import format_instruction
from npu_model.golden.machine import Npu

WBUF = bytes(Image().put_bytes(0, records(*[(0, 1, 0)] * 16)))
CFG = config()          # 8 lanes, wbuf/abuf 8192, sbuf 2048, lut 1024
GOOD = mov(4, 2, ("abuf", "i8", 0, 4, 1), ("abuf", "i8", 64, 4, 1))


def fault(instr, cfg=CFG, before=()):
    prog = program(list(before) + [instr, EOF], cfg, WBUF)
    with pytest.raises(NpuFault) as exc:
        Npu(prog)
    return exc.value


def raw_fault(word: bytes, before=()):
    code = np.concatenate([np.frombuffer(isa.encode(i), np.uint8) for i in before] +
                          [np.frombuffer(word, np.uint8), np.frombuffer(isa.encode(EOF), np.uint8)])
    from npu_model.arch.program import Program
    with pytest.raises(NpuFault) as exc:
        Npu(Program(config=CFG, code=code, wbuf=WBUF))
    return exc.value


ILLEGAL = [
    ("unknown opcode", Instruction(opcode=len(Opcode)), f"unknown opcode {len(Opcode)}"),
    ("nop with a field", Instruction(opcode=int(Opcode.NOP), n=1), "field n = 1 is not used by nop"),
    ("mov with b", GOOD.replace(b_base=4), "field b_base = 4 is not used by mov"),
    ("mac with d_rstride", mac(4, 2, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 0, 4, 1), ("abuf", "i8", 64, 1, 1)),
     "field d_rstride = 1 is not used by mac"),
    ("nop with a port", Instruction(opcode=int(Opcode.NOP), port=1), "field port = 1 is not used by nop"),
    ("mov acc_in", GOOD.replace(acc_in=1), "field acc_in = 1 is not used by mov"),
    ("n = 0", GOOD.replace(n=0), "n = 0 outside 1..8"),
    ("n > lanes", GOOD.replace(n=9), "n = 9 outside 1..8"),
    ("r = 0", GOOD.replace(r=0), "r = 0"),
    ("rsqrt into int8", GOOD.replace(act=int(Act.RSQRT), lut_log2=8), "D must be int16"),
    ("rsqrt lut_log2 = 1", GOOD.replace(act=int(Act.RSQRT), lut_log2=1), "lut_log2 = 1 outside 2..14"),
    ("b_exp with int8 B", Instruction(opcode=int(Opcode.MUL), n=1, r=1, a_buf=1, b_buf=1, d_buf=1, d_base=64, b_exp=1),
     "B must be int16"),
    ("b_exp on add", Instruction(opcode=int(Opcode.ADD), n=1, r=1, a_buf=1, b_buf=1, b_dtype=1, d_buf=1, d_base=64,
                                 b_exp=1), "field b_exp = 1 is not used by add"),
    ("lut_log2 = 0", GOOD.replace(act=int(Act.LUT)), "lut_log2 = 0"),
    ("lut_log2 = 15", GOOD.replace(act=int(Act.LUT), lut_log2=15), "lut_log2 = 15"),
    ("lut fields without lut", GOOD.replace(lut_base=3), "lut_base = 3"),
    ("D lanes overlap", mov(4, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i16", 64, 0, 1)), "destination lanes overlap"),
    ("D steps overlap", mov(1, 4, ("abuf", "i8", 0, 1, 0), ("abuf", "i8", 64, 0, 0)), "destination steps overlap"),
    ("MAC D lanes overlap", mac(2, 1, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 0, 1, 1), ("abuf", "i8", 64, 0, 0)),
     "destination lanes overlap"),
]


@pytest.mark.parametrize("name, instr, text", ILLEGAL, ids=[c[0] for c in ILLEGAL])
def test_illegal(name, instr, text):
    exc = fault(instr, before=[NOP])
    assert (exc.kind, exc.code, exc.pc) == ("illegal", 1, 1)
    assert text in exc.reason
    assert str(exc).startswith(f"fault at pc 1 ({format_instruction(instr)}): ")


def test_reserved_bits_are_illegal():
    word = bytearray(isa.encode(NOP))
    word[-1] |= 0x80
    exc = raw_fault(bytes(word))
    assert (exc.kind, exc.pc) == ("illegal", 0) and "reserved bits" in exc.reason


def test_a_steps_overlap_is_fine_for_a_mac_destination():
    """A MAC writes step 0 only: D.rstride is unused, so steps cannot overlap."""
    Npu(program([mac(2, 3, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 0, 2, 1), ("abuf", "i8", 64, 0, 1)), EOF],
                 CFG, WBUF))


@pytest.mark.parametrize("buf", ["wbuf", "imem"])
def test_write_protect(buf):
    exc = fault(mov(4, 1, ("abuf", "i8", 0, 0, 1), (buf, "i8", 64, 0, 1)))
    assert (exc.kind, exc.code) == ("write_protect", 2) and buf in exc.reason


def test_a_holding_mac_with_a_wbuf_destination_still_faults():
    exc = fault(mac(2, 1, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 0, 1, 1), ("wbuf", "i8", 64, 0, 1), acc_out=1))
    assert exc.kind == "write_protect"


ADDRESS = [
    ("A in imem", mov(4, 1, ("imem", "i8", 0, 0, 1), ("abuf", "i8", 64, 0, 1)), "operand A is in imem"),
    ("B in imem", ew(Opcode.ADD, 4, 1, ("abuf", "i8", 0, 0, 1), ("imem", "i8", 0, 0, 1), ("abuf", "i8", 64, 0, 1)),
     "operand B is in imem"),
    ("A past the end", mov(4, 2, ("abuf", "i16", 8192 - 8, 4, 2), ("abuf", "i8", 64, 4, 1)),
     "operand A footprint abuf[0x1ff8..0x2003] outside abuf (8192 bytes)"),
    ("A below 0", mov(4, 3, ("abuf", "i8", 4, -4, 1), ("abuf", "i8", 64, 4, 1)),
     "operand A footprint abuf[-0x4..0x7] outside abuf"),
    ("B past the end", mac(8, 2, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 8180, 8, 1), ("abuf", "i8", 64, 0, 1)),
     "operand B footprint wbuf[0x1ff4..0x2003] outside wbuf (8192 bytes)"),
    ("D past the end", mov(4, 1, ("abuf", "i8", 0, 0, 1), ("sbuf", "i8", 2046, 0, 1)),
     "destination D footprint sbuf[0x7fe..0x801] outside sbuf (2048 bytes)"),
    ("odd int16 base", mov(4, 1, ("abuf", "i16", 1, 0, 2), ("abuf", "i8", 64, 0, 1)), "odd base"),
    ("odd int16 rstride", mov(4, 2, ("abuf", "i16", 0, 9, 2), ("abuf", "i8", 64, 4, 1)), "odd rstride"),
    ("odd int16 lstride", mov(4, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i16", 64, 0, 3)), "odd lstride"),
    ("p_base alignment", GOOD.replace(p_base=4), "p_base 0x4 is not a multiple of 8"),
    ("records past pbuf", GOOD.replace(p_base=32768 - 16, p_vec=1), "parameter records pbuf[0x7ff0..0x800f]"),
]


@pytest.mark.parametrize("name, instr, text", ADDRESS, ids=[c[0] for c in ADDRESS])
def test_address(name, instr, text):
    exc = fault(instr)
    assert (exc.kind, exc.code) == ("address", 3)
    assert text in exc.reason


def test_lut_range():
    exc = fault(GOOD.replace(act=int(Act.LUT), lut_base=1000, lut_log2=5))
    assert (exc.kind, exc.code) == ("lut_range", 4)
    assert "1032" in exc.reason and "1024" in exc.reason
    Npu(program([GOOD.replace(act=int(Act.LUT), lut_base=1024 - 32, lut_log2=5), EOF], CFG, WBUF))


def test_overlap():
    exc = fault(mov(4, 2, ("abuf", "i8", 0, 4, 1), ("abuf", "i8", 4, 4, 1)))
    assert (exc.kind, exc.code) == ("overlap", 5)
    assert "overlaps operand A footprint abuf[0x0..0x7]" in exc.reason
    exc = fault(ew(Opcode.ADD, 4, 1, ("sbuf", "i8", 0, 0, 1), ("abuf", "i8", 0, 0, 1), ("abuf", "i8", 2, 0, 1)))
    assert exc.kind == "overlap" and "operand B" in exc.reason
    # same bytes but another type or stride is not an in-place update
    exc = fault(mov(2, 1, ("abuf", "i16", 0, 0, 2), ("abuf", "i8", 0, 0, 2)))
    assert exc.kind == "overlap"
    # identical addressing is allowed, and so is overlap in another buffer, and for a MAC
    Npu(program([mov(4, 2, ("abuf", "i8", 0, 4, 1), ("abuf", "i8", 0, 4, 1)),
                 mov(4, 2, ("sbuf", "i8", 0, 4, 1), ("abuf", "i8", 0, 4, 1)),
                 mac(4, 2, ("abuf", "i8", 0, 1, 0), ("abuf", "i8", 0, 4, 1), ("abuf", "i8", 0, 0, 1)), EOF], CFG, WBUF))


def test_codes_follow_the_documented_order():
    # illegal (n > lanes) before write_protect and address
    exc = fault(mov(9, 1, ("imem", "i8", 0, 0, 1), ("wbuf", "i8", 8190, 0, 1)))
    assert exc.kind == "illegal"
    # write_protect before address
    exc = fault(mov(4, 1, ("imem", "i8", 0, 0, 1), ("wbuf", "i8", 8190, 0, 1)))
    assert exc.kind == "write_protect"
    # address before lut_range before overlap
    exc = fault(mov(4, 2, ("abuf", "i8", 8190, 4, 1), ("abuf", "i8", 8190, 4, 1), act=0, lut=(1020, 5)))
    assert exc.kind == "address"
    exc = fault(mov(4, 2, ("abuf", "i8", 0, 4, 1), ("abuf", "i8", 4, 4, 1), lut=(1020, 5)))
    assert exc.kind == "lut_range"


def test_the_first_faulting_pc_wins_and_is_named():
    bad_late = GOOD.replace(n=0)                                    # code 1 at pc 3
    bad_early = mov(4, 2, ("abuf", "i8", 0, 4, 1), ("abuf", "i8", 4, 4, 1))    # code 5 at pc 2
    prog = program([NOP, GOOD, bad_early, bad_late, EOF], CFG, WBUF)
    with pytest.raises(NpuFault) as exc:
        Npu(prog)
    e = exc.value
    assert (e.pc, e.kind) == (2, "overlap")
    assert str(e) == f"fault at pc 2 ({format_instruction(bad_early)}): {e.reason}"
    assert "mov n=4 r=2" in str(e)


def test_vectorised_and_scalar_checks_agree_on_random_instructions():
    rng = np.random.default_rng(11)
    cfg = config(lanes=4, wbuf_bytes=256, abuf_bytes=512, sbuf_bytes=128, lut_entries=64, topk_entries=4)
    instrs = []
    for _ in range(12000):
        op = int(rng.integers(0, len(isa.Opcode) + 1))
        info = isa.OPCODES.get(op)
        values = {"opcode": op}
        for fld in isa.FORMAT_FIELDS[isa.format_of(op)][1:]:
            used = info is not None and fld.name in info.uses
            if not used and rng.random() > 0.004:
                continue
            if fld.name.endswith("_buf"):
                v = int(rng.integers(0, 4)) if rng.random() < 0.15 else 1
            elif fld.name.endswith("_base") and fld.name != "lut_base":
                v = int(rng.integers(0, 300)) if rng.random() < 0.2 else int(rng.integers(0, 64))
            elif "stride" in fld.name:
                v = int(rng.choice([0, 1, 2, -1, -2, 4, 3, 40, -40, 2, 4, -4, 8]))
            elif fld.name == "n":
                v = int(rng.integers(0, 6)) if rng.random() < 0.2 else int(rng.integers(1, 5))
            elif fld.name == "r":
                v = int(rng.integers(0, 20)) if rng.random() < 0.2 else int(rng.integers(1, 5))
            elif fld.name == "act":
                v = int(rng.choice([0, 0, 0, 1, 2, 2, 3]))
            elif fld.name == "lut_log2":
                v = int(rng.integers(0, 16))
            elif fld.name == "lut_base":
                v = int(rng.integers(0, 70)) if rng.random() < 0.5 else 0
            elif fld.name == "p_base":
                v = int(rng.choice([0, 8, 16, 4, 240, 248, 256])) if rng.random() < 0.2 else 8
            else:
                v = int(rng.integers(fld.min, fld.max + 1)) if fld.bits <= 4 else int(rng.integers(0, 4))
            values[fld.name] = max(fld.min, min(fld.max, v))
        if values.get("act", 0) != Act.LUT and rng.random() < 0.9:
            values.pop("lut_base", None)
            values.pop("lut_log2", None)
        elif values.get("act", 0) == Act.LUT and rng.random() < 0.8:
            values["lut_log2"] = int(rng.integers(1, 7))
            values["lut_base"] = int(rng.integers(0, 64 - (1 << values["lut_log2"]) + 6))
        if info is not None and info.op_class is isa.OpClass.ELEMENTWISE and rng.random() < 0.3:
            x = "b" if info.reads_b and rng.random() < 0.5 else "a"      # D near a source
            size = 1 + values.get(f"{x}_dtype", 0)
            values[f"{x}_lstride"] = size
            values[f"{x}_rstride"] = size * values.get("n", 1)
            for part in ("buf", "dtype", "rstride", "lstride"):
                values[f"d_{part}"] = values.get(f"{x}_{part}", 0)
            values["d_base"] = values.get(f"{x}_base", 0) + size * int(rng.choice([0, 0, 1, 2, 4]))
        instrs.append(Instruction(**values))
    words = np.stack([np.frombuffer(isa.encode(i), np.uint8) for i in instrs])
    # an indexed loop's widening of the footprints (docs/isa.md "Indexed loops") on a fifth of them
    spans = np.where(rng.random((len(instrs), 1)) < 0.2,
                     rng.choice([0, 0, 1, 2, -2, 8, -8, 40, 300, -300], (len(instrs), len(isa.LOOP_SLOTS))), 0)
    vec = fault_codes(isa.decode_words(words), cfg, spans)
    scalar = [(instruction_fault(i, 0, cfg, tuple(int(v) for v in sp)) or (0, ""))[0] for i, sp in zip(instrs, spans)]
    assert vec.tolist() == scalar
    counts = np.bincount(scalar, minlength=6)
    assert (counts >= 10).all(), counts
    loops = [i for i, ins in zip(scalar, instrs) if ins.opcode == isa.Opcode.LOOP]
    assert loops.count(0) >= 10 and loops.count(1) >= 10


# Loader-level rejections ------------------------------------------------------------------------------
def reject(instrs, **kw):
    prog = program(instrs, CFG, WBUF, **kw)
    with pytest.raises(ProgramFormatError) as exc:
        Npu(prog, source="t.bin")
    return str(exc.value)


def test_rejects_a_byte_written_twice_by_one_instruction():
    # lane stride 2, step stride 3, n=4, r=3: step 2 of lane 0 (6) meets step 0 of lane 3 (6)
    bad = mov(4, 3, ("abuf", "i8", 0, 4, 1), ("abuf", "i8", 100, 3, 2))
    msg = reject([NOP, bad, EOF])
    assert msg.startswith(f"t.bin: pc 1 ({format_instruction(bad)}): writes byte abuf[0x")
    assert "twice" in msg
    # int16 elements that half overlap: 2-byte elements at 0 and 1 apart are caught too
    bad16 = mov(2, 2, ("abuf", "i8", 0, 2, 1), ("abuf", "i16", 100, 6, 4))     # no overlap: fine
    Npu(program([bad16, EOF], CFG, WBUF))


def test_cross_collision_check_is_exact():
    """The gcd test of the loader against a brute-force byte count, over many destinations."""
    from npu_model.golden.analysis import _double_writes
    rng = np.random.default_rng(9)
    cases = []
    for _ in range(3000):
        dt = int(rng.integers(0, 2))
        size = dt + 1
        n, r = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        ls = int(rng.choice([-1, 1])) * int(rng.integers(size, 12))
        rs = int(rng.choice([-1, 1])) * int(rng.integers(size, 40))
        cases.append((dt, n, r, rs, ls))
    f = {"n": np.array([c[1] for c in cases]), "r": np.array([c[2] for c in cases]),
         "d_dtype": np.array([c[0] for c in cases]), "d_rstride": np.array([c[3] for c in cases]),
         "d_lstride": np.array([c[4] for c in cases])}
    flagged = set(_double_writes(f, np.ones(len(cases), bool)).tolist())
    for i, (dt, n, r, rs, ls) in enumerate(cases):
        seen = [b for s in range(r) for l in range(n) for b in range(s * rs + l * ls, s * rs + l * ls + dt + 1)]
        assert (len(seen) != len(set(seen))) == (i in flagged), (dt, n, r, rs, ls)


def test_rejects_ports_missing_from_the_io_table():
    msg = reject([sync_in(1), EOF], inputs=[Port("x", "abuf", 0, "i8", (4,))])
    assert msg.startswith("t.bin: pc 0 (sync_in port=1): input port 1 is not in the I/O table (input ports: 0 x)")
    msg = reject([NOP, sync_out(0), EOF])
    assert "pc 1" in msg and "output port 0 is not in the I/O table (output ports: none)" in msg


def test_rejects_programs_without_exactly_one_final_eof():
    assert "pc 1 (nop): the program does not end with eof" in reject([NOP, NOP])
    assert "pc 0 (eof): eof before the last instruction" in reject([EOF, NOP, EOF])
    assert "pc 1 (eof): eof before" in reject([NOP, EOF, EOF])


def test_loader_rejections_come_before_faults():
    msg = reject([GOOD.replace(n=0), NOP])            # a fault at pc 0, no eof at the end
    assert "does not end with eof" in msg
