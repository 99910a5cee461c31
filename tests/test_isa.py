"""The ISA table: encoding round trips, vectorised decoding agrees, docs agree with the table."""
import re
from pathlib import Path

import numpy as np
import pytest

from npu_model.apps import docgen
from npu_model.arch import isa

DOCS = Path(__file__).resolve().parent.parent / "docs"


def random_instruction(rng):
    values = {f.name: int(rng.integers(f.min, f.max + 1)) for f in isa.FIELDS}
    return isa.Instruction(**values)


def test_fields_fill_the_word_without_overlap():
    pos = 0
    for f in isa.FIELDS:
        assert f.lo == pos
        pos += f.bits
    assert pos + isa.RESERVED_BITS == isa.INSTRUCTION_BITS == 8 * isa.INSTRUCTION_BYTES


def test_encode_decode_round_trip_including_extremes():
    rng = np.random.default_rng(0)
    instructions = [random_instruction(rng) for _ in range(200)]
    instructions.append(isa.Instruction(**{f.name: f.min for f in isa.FIELDS}))
    instructions.append(isa.Instruction(**{f.name: f.max for f in isa.FIELDS}))
    words = b"".join(isa.encode(i) for i in instructions)
    for i, ins in enumerate(instructions):
        decoded, reserved = isa.decode(words[32 * i:32 * i + 32])
        assert decoded == ins and reserved == 0
    vec = isa.decode_words(np.frombuffer(words, np.uint8))
    for f in isa.FIELDS:
        assert vec[f.name].tolist() == [getattr(i, f.name) for i in instructions], f.name
    assert not vec["reserved"].any()


def test_each_field_sets_exactly_its_own_bits():
    for f in isa.FIELDS:
        all_ones = -1 if f.signed else f.max
        word = int.from_bytes(isa.encode(isa.Instruction(**{f.name: all_ones})), "little")
        assert word == ((1 << f.bits) - 1) << f.lo, f.name


def test_out_of_range_values_are_refused():
    with pytest.raises(ValueError, match="field r: 65536 does not fit 16 unsigned bits"):
        isa.encode(isa.Instruction(r=1 << 16))
    with pytest.raises(ValueError, match="field a_rstride: -32769 does not fit 16 signed bits"):
        isa.encode(isa.Instruction(a_rstride=-32769))


def test_reserved_bits_are_reported():
    word = bytearray(32)
    word[31] = 0x80
    _, reserved = isa.decode(bytes(word))
    assert reserved
    assert isa.decode_words(np.frombuffer(bytes(word), np.uint8))["reserved"][0] == 1


def test_every_opcode_uses_known_fields():
    names = {f.name for f in isa.FIELDS}
    for info in isa.OPCODES.values():
        assert info.uses <= names
    assert set(isa.OPCODES) == set(isa.Opcode)


def _doc_field_rows():
    text = (DOCS / "isa.md").read_text()
    return re.findall(r"^\| `(\w+)` \| (\d+) \| (\d+) \| (yes|no) \|", text, re.M)


def test_isa_doc_field_table_matches_the_code():
    rows = _doc_field_rows()
    assert [(n, int(b), int(lo), s == "yes") for n, b, lo, s in rows] == [
        (name, bits, lo, signed) for name, lo, bits, signed in isa.field_layout()]


def test_isa_doc_describes_every_opcode():
    text = (DOCS / "isa.md").read_text()
    block = text.split("<!-- BEGIN GENERATED: opcodes -->")[1].split("<!-- END GENERATED: opcodes -->")[0]
    table = re.findall(r"^\| (\d+) \| `(\w+)` \|", block, re.M)
    assert [(int(n), m) for n, m in table] == [(int(op), info.mnemonic) for op, info in isa.OPCODES.items()]
    for info in isa.OPCODES.values():
        assert re.search(rf"^### `{info.mnemonic}`", text, re.M), f"docs/isa.md has no section for {info.mnemonic}"


def test_generated_doc_blocks_are_current():
    assert docgen.stale_blocks() == [], "run `make docs`"


def test_vectorised_decode_matches_scalar_decode_on_random_words():
    rng = np.random.default_rng(3)
    words = rng.integers(0, 256, (2000, 32)).astype(np.uint8)
    words[:1000, 29:] = 0                       # half of them without reserved bits
    vec = isa.decode_words(words)
    for i in range(0, 2000, 7):
        ins, reserved = isa.decode(words[i].tobytes())
        assert {k: int(vec[k][i]) for k in ins.fields()} == ins.fields()
        assert vec["reserved"][i] == (reserved != 0)
