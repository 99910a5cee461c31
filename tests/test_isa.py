"""The ISA table: encoding round trips, vectorised decoding agrees, docs agree with the table."""
import re
from pathlib import Path

import numpy as np
import pytest

from npu_model.apps import docgen
from npu_model.arch import isa

DOCS = Path(__file__).resolve().parent.parent / "docs"


def random_instruction(rng, fmt=isa.Format.OPERATE):
    """Random values in every field of a format (the opcode: one of that format's)."""
    values = {f.name: int(rng.integers(f.min, f.max + 1)) for f in isa.FORMAT_FIELDS[fmt][1:]}
    values["opcode"] = int(rng.choice([op for op, i in isa.OPCODES.items() if i.format is fmt]))
    return isa.Instruction(**values)


def extreme(fmt, which):
    """Every field of a format at its min or max, with an opcode of the format."""
    values = {f.name: getattr(f, which) for f in isa.FORMAT_FIELDS[fmt][1:]}
    return isa.Instruction(opcode=min(op for op, i in isa.OPCODES.items() if i.format is fmt), **values)


@pytest.mark.parametrize("fmt", list(isa.Format))
def test_fields_fill_the_word_without_overlap(fmt):
    pos = 0
    for f in isa.FORMAT_FIELDS[fmt]:
        assert f.lo == pos and f.format in (None, fmt)
        pos += f.bits
    assert pos + isa.RESERVED_BITS[fmt] == isa.INSTRUCTION_BITS == 8 * isa.INSTRUCTION_BYTES
    assert isa.FORMAT_FIELDS[fmt][0].name == "opcode"


def test_every_field_is_in_one_format_and_the_opcode_in_all():
    assert [f.name for f in isa.FIELDS] == ["opcode"] + [f.name for fmt in isa.Format
                                                         for f in isa.FORMAT_FIELDS[fmt][1:]]
    assert len({f.name for f in isa.FIELDS}) == len(isa.FIELDS)


def test_encode_decode_round_trip_including_extremes():
    rng = np.random.default_rng(0)
    instructions = [random_instruction(rng, fmt) for fmt in isa.Format for _ in range(100)]
    instructions += [extreme(fmt, which) for fmt in isa.Format for which in ("min", "max")]
    words = b"".join(isa.encode(i) for i in instructions)
    for i, ins in enumerate(instructions):
        decoded, reserved = isa.decode(words[32 * i:32 * i + 32])
        assert decoded == ins and reserved == 0
    vec = isa.decode_words(np.frombuffer(words, np.uint8))
    for f in isa.FIELDS:
        assert vec[f.name].tolist() == [getattr(i, f.name) for i in instructions], f.name
    assert not vec["reserved"].any()


def test_each_field_sets_exactly_its_own_bits():
    for f in isa.FIELDS[1:]:
        all_ones = -1 if f.signed else f.max
        opcode = isa.Opcode.LOOP if f.format is isa.Format.LOOP else isa.Opcode.NOP
        word = int.from_bytes(isa.encode(isa.Instruction(opcode=opcode, **{f.name: all_ones})), "little")
        assert word == (((1 << f.bits) - 1) << f.lo) | int(opcode), f.name


def test_a_field_of_the_other_format_is_refused():
    with pytest.raises(ValueError, match="field count is not part of the operate format of opcode 1"):
        isa.encode(isa.Instruction(opcode=isa.Opcode.MAC, count=3))
    with pytest.raises(ValueError, match="field n is not part of the loop format of opcode 11"):
        isa.encode(isa.Instruction(opcode=isa.Opcode.LOOP, n=3))


def test_out_of_range_values_are_refused():
    with pytest.raises(ValueError, match="field r: 65536 does not fit 16 unsigned bits"):
        isa.encode(isa.Instruction(r=1 << 16))
    with pytest.raises(ValueError, match="field a_rstride: -32769 does not fit 16 signed bits"):
        isa.encode(isa.Instruction(a_rstride=-32769))


@pytest.mark.parametrize("fmt", list(isa.Format))
def test_reserved_bits_are_reported(fmt):
    opcode = isa.Opcode.LOOP if fmt is isa.Format.LOOP else isa.Opcode.NOP
    lowest = isa.INSTRUCTION_BITS - isa.RESERVED_BITS[fmt]
    for bit in (lowest, isa.INSTRUCTION_BITS - 1):
        word = (int(opcode) | 1 << bit).to_bytes(32, "little")
        _, reserved = isa.decode(word)
        assert reserved == 1 << (bit - lowest)
        assert isa.decode_words(np.frombuffer(word, np.uint8))["reserved"][0] == 1
    below = (int(opcode) | 1 << (lowest - 1)).to_bytes(32, "little")
    assert isa.decode(below)[1] == 0


def test_every_opcode_uses_known_fields():
    names = {f.name for f in isa.FIELDS}
    for info in isa.OPCODES.values():
        assert info.uses <= names
    assert set(isa.OPCODES) == set(isa.Opcode)


def _doc_field_rows(block):
    text = (DOCS / "isa.md").read_text()
    text = text.split(f"<!-- BEGIN GENERATED: {block} -->")[1].split(f"<!-- END GENERATED: {block} -->")[0]
    return re.findall(r"^\| `(\w+)` \| (\d+) \| (\d+) \| (yes|no) \|", text, re.M)


@pytest.mark.parametrize("fmt,block", [(isa.Format.OPERATE, "fields"), (isa.Format.LOOP, "loop-fields")])
def test_isa_doc_field_tables_match_the_code(fmt, block):
    rows = _doc_field_rows(block)
    assert [(n, int(b), int(lo), s == "yes") for n, b, lo, s in rows] == [
        (name, bits, lo, signed) for name, lo, bits, signed in isa.field_layout(fmt)]


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
    words[::3, 0] = (words[::3, 0] & 0xE0) | isa.Opcode.LOOP     # a third of them loops
    words[1:1000:3, 14:] = 0                    # some loops without reserved bits
    vec = isa.decode_words(words)
    for i in range(0, 2000, 7):
        ins, reserved = isa.decode(words[i].tobytes())
        assert {k: int(vec[k][i]) for k in ins.fields()} == ins.fields()
        assert vec["reserved"][i] == (reserved != 0)


def test_vectorised_encode_is_encode():
    rng = np.random.default_rng(4)
    instructions = [random_instruction(rng, fmt) for fmt in isa.Format for _ in range(200)]
    words = np.frombuffer(b"".join(isa.encode(i) for i in instructions), np.uint8).reshape(-1, 32)
    fields = {f.name: np.array([getattr(i, f.name) for i in instructions]) for f in isa.FIELDS}
    assert np.array_equal(isa.encode_words(fields), words)
    assert np.array_equal(isa.encode_words(isa.decode_words(words)), words)
