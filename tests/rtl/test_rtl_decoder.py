"""Decoder: the StructLayout view against the ISA table, fault codes and footprints against an
golden model's fault rules (npu_model.golden.analysis), for several lane counts."""
import random

import pytest
import rtl_golden as golden
from amaranth.hdl import Shape, unsigned
from amaranth.sim import Simulator
from rtl_harness import small_config
from rtl_progen import legal_and_faulting, random_instruction

from npu_model.arch.isa import (ADDRESS_BITS, FIELD_BY_NAME, FORMAT_FIELDS, INSTRUCTION_BITS, LOOP_SLOTS, OPERATE_FIELDS,
                                RESERVED_BITS, Act, Buffer, DType, Format, Instruction, Opcode, encode, format_of)
from npu_model.arch.config import COUNTED_BUFFERS
from npu_model.arch.memory import ORGANISATIONS, lane_group
from rtl.decoder import Decoder
from rtl.layout import instruction_layout


def word_of(ins, reserved=0):
    shift = INSTRUCTION_BITS - RESERVED_BITS[format_of(ins.opcode)]
    return int.from_bytes(encode(ins), "little") | (reserved << shift)


def run_decoder(cfg, cases, check):
    """cases: (word, expectation), (word, offsets, expectation) or (word, offsets, spans,
    expectation); check(ctx, dut, word, expectation) runs combinationally, with the loop offsets
    and an indexed loop's spans set (0 when not given)."""
    dut = Decoder(config=cfg)
    zero = (0,) * len(LOOP_SLOTS)

    async def tb(ctx):
        for case in cases:
            word, offsets, spans, expect = (case if len(case) == 4 else (*case[:2], zero, case[2]) if len(case) == 3
                                            else (case[0], zero, zero, case[1]))
            ctx.set(dut.word.as_value(), word)
            for j, (off, span) in enumerate(zip(offsets, spans)):
                ctx.set(dut.offsets[j], off)
                ctx.set(dut.spans[j], span)
            check(ctx, dut, word, expect)

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("fmt", list(Format))
def test_layout_matches_isa_table(fmt):
    layout = instruction_layout(fmt)
    for f in FORMAT_FIELDS[fmt]:
        assert layout[f.name].offset == f.lo
        shape = Shape.cast(layout[f.name].shape)
        assert (shape.width, shape.signed) == (f.bits, f.signed)
    assert [m.name for m in layout["opcode"].shape] == [o.name for o in Opcode]     # the ISA's names
    if fmt is Format.OPERATE:
        assert layout["d_buf"].shape.as_shape() == unsigned(FIELD_BY_NAME["d_buf"].bits)
    assert layout["reserved"].offset == INSTRUCTION_BITS - RESERVED_BITS[fmt]
    assert layout.size == INSTRUCTION_BITS


@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
def test_decoded_view(lanes):
    """Every field, encoded with npu_model.arch.isa.encode at random values, reads back through the
    decoder's StructLayout view and its decoded outputs."""
    cfg = small_config(lanes=lanes)
    rng = random.Random(lanes)
    cases = []
    for _ in range(40):
        values = {f.name: rng.randint(f.min, f.max) for f in OPERATE_FIELDS}
        if values["opcode"] == Opcode.LOOP:
            values["opcode"] = Opcode.NOP
        cases.append((word_of(Instruction(**values)), values))

    def check(ctx, dut, word, values):
        for f in OPERATE_FIELDS:
            assert ctx.get(dut.word[f.name]) == values[f.name], f.name
        for name in ("opcode", "n", "r", "a_buf", "a_base", "a_rstride", "b_lstride", "d_dtype",
                     "p_base", "p_vec", "act", "lut_base", "lut_log2", "acc_in", "acc_out", "port"):
            assert ctx.get(getattr(dut.insn, name)) == values[name], name

    run_decoder(cfg, cases, check)


def hand_cases(cfg):
    """One instruction per rule of docs/isa.md "Faults", with the code worked out by hand."""
    p = cfg.wbuf_bytes - 64
    add = Instruction(opcode=Opcode.ADD, n=1, r=2, a_buf=Buffer.ABUF, a_rstride=1, b_buf=Buffer.SBUF,
                      d_buf=Buffer.ABUF, d_base=0x40, d_rstride=1, p_base=p)
    mac = Instruction(opcode=Opcode.MAC, n=1, r=4, a_buf=Buffer.ABUF, a_rstride=1, b_buf=Buffer.WBUF,
                      b_rstride=1, d_buf=Buffer.SBUF, p_base=p)
    return [
        (add, 0), (mac, 0),
        (add.replace(n=0), 1), (add.replace(n=cfg.lanes + 1), 1), (add.replace(r=0), 1),
        (add.replace(act=3), 1), (add.replace(act=Act.LUT, lut_log2=0), 1),
        (add.replace(act=Act.LUT, lut_log2=15), 1), (add.replace(lut_base=1), 1),
        (add.replace(act=Act.RELU, lut_log2=1), 1), (add.replace(d_rstride=0), 1),
        (mac.replace(d_rstride=1), 1), (Instruction(opcode=Opcode.NOP, port=1), 1),
        (Instruction(opcode=Opcode.SYNC_IN, n=1), 1), (Instruction(opcode=Opcode.MOV, b_base=1), 1),
        (add.replace(d_buf=Buffer.WBUF), 2), (add.replace(d_buf=Buffer.IMEM), 2),
        (add.replace(a_buf=Buffer.IMEM), 3), (add.replace(b_buf=Buffer.IMEM), 3),
        (add.replace(a_base=cfg.abuf_bytes - 1), 3), (add.replace(a_rstride=-1), 3),
        (add.replace(a_dtype=DType.I16), 3), (add.replace(d_dtype=DType.I16, d_rstride=2, d_lstride=3), 3),
        (add.replace(p_base=p + 4), 3), (add.replace(p_base=cfg.wbuf_bytes - 8), 0),
        (add.replace(p_base=cfg.wbuf_bytes), 3),
        (add.replace(act=Act.LUT, lut_log2=3, lut_base=cfg.lut_entries - 8), 0),
        (add.replace(act=Act.LUT, lut_log2=3, lut_base=cfg.lut_entries - 7), 4),
        (add.replace(d_base=1), 5), (add.replace(d_base=1, d_buf=Buffer.SBUF), 0),
        (add.replace(d_base=0, d_rstride=1), 0),                         # in place: identical to A
        (add.replace(d_buf=Buffer.SBUF, d_base=0, d_rstride=1), 5),      # overlaps B, not identical
        (mac.replace(d_buf=Buffer.ABUF, d_base=1), 0),                   # a MAC may overwrite its source
    ]


@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
def test_fault_codes(lanes):
    cfg = small_config(lanes=lanes)
    rng = random.Random(1000 + lanes)
    cases = [(word_of(ins), (ins, code)) for ins, code in legal_and_faulting(cfg, rng, 60)]
    for ins, code in hand_cases(cfg):
        assert golden.fault_code(cfg, ins) == code, ins   # the hand reading and the golden model agree
        cases.append((word_of(ins), (ins, code)))
    # Reserved bits and unknown opcodes.
    cases.append((word_of(Instruction(opcode=Opcode.NOP), reserved=1), (None, 1)))
    cases.append((word_of(Instruction(opcode=Opcode.EOF), reserved=1 << (RESERVED_BITS[Format.OPERATE] - 1)),
                  (None, 1)))
    # Loops: legal, nothing to do, reserved bits (of the loop format, where operate fields live).
    good = Instruction(opcode=Opcode.LOOP, count=3, body=2, a_inc=-8, p_inc=8)
    cases += [(word_of(good), (good, 0)), (word_of(good.replace(count=0)), (None, 1)),
              (word_of(good.replace(body=0)), (None, 1)), (word_of(good, reserved=1), (None, 1)),
              (word_of(good, reserved=1 << (RESERVED_BITS[Format.LOOP] - 1)), (None, 1))]
    for op in range(len(Opcode), 32):
        cases.append((word_of(Instruction(opcode=op)), (None, 1)))
    codes = {code for _w, (_i, code) in cases}
    assert codes == {0, 1, 2, 3, 4, 5}, codes      # every code is exercised

    def check(ctx, dut, word, expect):
        ins, code = expect
        assert ctx.get(dut.insn.fault) == code, ins

    run_decoder(cfg, cases, check)


@pytest.mark.parametrize("lanes", [1, 8])
def test_footprints_and_accounting(lanes):
    cfg = small_config(lanes=lanes)
    rng = random.Random(2000 + lanes)
    cases = []
    for _ in range(60):
        ins = random_instruction(rng, cfg, max_r=300)
        cases.append((word_of(ins), ins))

    def check(ctx, dut, word, ins):
        info_b = ins.opcode != Opcode.MOV
        if ins.opcode in (Opcode.NOP, Opcode.SYNC_IN, Opcode.SYNC_OUT):
            return
        for x in ["a", "d"] + (["b"] if info_b else []):
            lo, hi = golden.footprint(ins, x)
            assert (ctx.get(getattr(dut.insn, f"{x}_lo")), ctx.get(getattr(dut.insn, f"{x}_hi"))) == (lo, hi), x
        ref = golden.run(cfg, [ins], wbuf=bytes(cfg.wbuf_bytes)).counters
        for i, name in enumerate(COUNTED_BUFFERS):
            assert ctx.get(dut.insn.rd_bytes[i]) == ref[f"{name}_read_bytes"], name
            assert ctx.get(dut.insn.wr_bytes[i]) == ref[f"{name}_write_bytes"], name
            assert ctx.get(dut.insn.hwm[i]) == ref[f"{name}_hwm"], name
        assert ctx.get(dut.insn.macs) == ref["macs"]
        assert ctx.get(dut.insn.occ) - ins.r == ref["conflict_cycles"]

    run_decoder(cfg, cases, check)


def test_loop_offsets_advance_the_address_fields_an_instruction_uses():
    """The decoder adds the loop offsets (modulo 2**ADDRESS_BITS) to A, B, D and the record address of a
    compute instruction, to none of a mov's unused B, and checks the instance."""
    cfg = small_config(lanes=4)
    add = Instruction(opcode=Opcode.ADD, n=2, r=2, a_buf=Buffer.ABUF, a_rstride=1, a_lstride=2, b_buf=Buffer.SBUF,
                      b_rstride=1, b_lstride=2, d_buf=Buffer.ABUF, d_base=0x40, d_rstride=1, d_lstride=2,
                      p_base=cfg.wbuf_bytes - 64)
    mov = Instruction(opcode=Opcode.MOV, n=1, r=1, a_buf=Buffer.ABUF, d_buf=Buffer.ABUF, d_base=0x80,
                      p_base=cfg.wbuf_bytes - 64)
    cases = [
        (word_of(add), (4, 6, 8, 16), (add.replace(a_base=4, b_base=6, d_base=0x48, p_base=add.p_base + 16), 0)),
        (word_of(mov), (4, 6, 8, 16), (mov.replace(a_base=4, d_base=0x88, p_base=mov.p_base + 16), 0)),
        (word_of(mov), ((1 << ADDRESS_BITS) - 1, 0, 0, 0), (mov.replace(a_base=(1 << ADDRESS_BITS) - 1), 3)),    # wraps: outside abuf
        (word_of(add), (0, 0, 0, 4), (add.replace(p_base=add.p_base + 4), 3)),               # record misaligned
        (word_of(Instruction(opcode=Opcode.NOP)), (4, 6, 8, 16), (Instruction(opcode=Opcode.NOP), 0)),
    ]

    def check(ctx, dut, word, expect):
        ins, code = expect
        assert ctx.get(dut.insn.fault) == code, ins
        for slot in LOOP_SLOTS:
            assert ctx.get(getattr(dut.insn, slot)) == getattr(ins, slot), slot
        if ins.opcode != Opcode.NOP:
            lo, hi = golden.footprint(ins, "a")
            assert (ctx.get(dut.insn.a_lo), ctx.get(dut.insn.a_hi)) == (lo, hi)

    run_decoder(cfg, cases, check)


@pytest.mark.parametrize("lanes", [1, 8])
def test_indexed_spans_widen_the_checks_and_footprints(lanes):
    """Inside an indexed loop the decoder checks and counts an operand over every index (its
    footprint widened by the span, docs/isa.md "Indexed loops") exactly as the golden model does,
    faults included: odd spans of int16 operands, records misaligned or past pbuf by the span."""
    from npu_model.golden.analysis import instruction_fault
    cfg = small_config(lanes=lanes, topk_entries=8)
    rng = random.Random(3000 + lanes)
    cases = []
    for _ in range(120):
        ins = random_instruction(rng, cfg, max_r=40)
        if ins.opcode in (Opcode.NOP, Opcode.SYNC_IN, Opcode.SYNC_OUT):
            continue
        spans = tuple(rng.choice([0, 0, 2, -2, 8, -8, 64, 1, 300, -300, 1600]) for _ in LOOP_SLOTS)
        found = instruction_fault(ins, 0, cfg, spans)
        cases.append((word_of(ins), (0,) * len(LOOP_SLOTS), spans, (ins, spans, found[0] if found else 0)))
    codes = {c[3][2] for c in cases}
    assert {0, 3} <= codes, codes

    def check(ctx, dut, word, expect):
        ins, spans, code = expect
        assert ctx.get(dut.insn.fault) == code, (ins, spans)
        if code:                                   # the footprint outputs hold a legal instance's
            return
        for j, x in enumerate(["a", "b", "d"]):
            if x == "b" and ins.opcode == Opcode.MOV:
                continue
            lo, hi = golden.footprint(ins, x)
            want = (lo + min(0, spans[j]), hi + max(0, spans[j]))
            assert (ctx.get(getattr(dut.insn, f"{x}_lo")), ctx.get(getattr(dut.insn, f"{x}_hi"))) == want, (x, spans)

    run_decoder(cfg, cases, check)


@pytest.mark.parametrize("org", ORGANISATIONS)
@pytest.mark.parametrize("lanes", [1, 4, 16])
def test_lane_groups_are_the_memory_rule(org, lanes):
    """The decoder's lane group of every lane stride (both signs, int8 and int16, past the
    banks' stripes) is npu_model.arch.memory.lane_group, per buffer organisation."""
    cfg = small_config(lanes=lanes, abuf_org=org, sbuf_org="row" if org == "lane" else "lane")
    aorg = cfg.bank_org("abuf")
    strides = sorted({s * sign for s in list(range(0, 70)) + [96, 128, 130, 512, 514, 2**15 - 1]
                      for sign in (1, -1)})
    cases = []
    for ls in strides:
        ins = Instruction(opcode=Opcode.MOV, n=lanes, r=3, a_buf=Buffer.ABUF, a_lstride=ls, a_rstride=1,
                          d_buf=Buffer.SBUF, d_lstride=1 if lanes > 1 else 0, d_rstride=lanes, p_base=0)
        cases.append((word_of(ins), (ls, lane_group(ls, lanes, aorg))))

    def check(ctx, dut, word, expect):
        ls, p = expect
        dgroup = lane_group(1 if lanes > 1 else 0, lanes, cfg.bank_org("sbuf"))
        assert 1 << ctx.get(dut.insn.gshift) == min(p, dgroup), ls
        assert ctx.get(dut.insn.groups) == -(-lanes // min(p, dgroup)), ls

    run_decoder(cfg, cases, check)
