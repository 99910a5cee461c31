"""Instruction decoder and fault checker (combinational).

Takes one 256-bit instruction word, viewed through the `StructLayout`s built from the ISA table
(one per format), and the loop offsets of its fetch (an indexed loop's index term and span
apart: checks and footprints are over every index), and produces everything the sequencer and
the counters need for the instance the loops make of it: its address fields advanced by the
offsets (modulo 2**ADDRESS_BITS), the class of the opcode, the three operand footprints, the
fault code of docs/isa.md "Faults" (checked in the documented order, the first failing check
gives the code) and the per-frame accounting increments of docs/timing.md "Counters per frame".
Doing all of it here, one cycle ahead of issue, keeps the issue stage down to a scoreboard
compare.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from npu_model.arch.config import COUNTED_BUFFERS, PBUF, NpuConfig
from npu_model.arch.faults import Fault
from amaranth.lib import data

from npu_model.arch.isa import (ADDRESS_BITS, FIELD_BY_NAME, FORMAT_FIELDS, LOOP_SLOTS, LUT_LOG2_MAX, OPCODES, RSQRT_LOG2_MIN, Act,
                                Buffer, DType, Format, OpClass, Opcode)
from npu_model.arch.record import RECORD_BYTES
from npu_model.arch.timing import PORT_CONFLICT_FACTOR

from .footprint import Footprint
from .loops import SPAN_BITS
from .groups import GROUP_LOG2_BITS, lane_group_log2
from .layout import (ADDR_BITS, FaultShape, ParamSignature, buffer_bytes, check_config, data_buffers, field_shape,
                     instruction_layout, opcode_is, opcodes_of)

__all__ = ["Decoder", "DecodedSignature", "RD_BYTES_BITS", "HWM_BITS", "OCC_BITS"]

#: Largest per-instruction read increment: 2 operands * r * n * 2 bytes + n records.
RD_BYTES_BITS = 24
#: A high-water mark is 1 + the highest byte address: up to 2**ADDR_BITS.
HWM_BITS = ADDR_BITS + 1
#: An occupancy: r * groups * 2 + groups - 1 with r < 2**16, groups <= 16.
OCC_BITS = FIELD_BY_NAME["r"].bits + 7


class DecodedSignature(ParamSignature):
    """What the decoder hands to the sequencer (registered there as the current instruction),
    one signal per field (see `layout.register_bundle` for why not one struct), with the
    opcode class, footprints, fault code and the counter increments computed from them."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        super().__init__(_decoded_members(config), config=config)


def _decoded_members(config: NpuConfig) -> dict:
    _f = field_shape
    members = {
        "opcode": Out(_f("opcode")),
        "is_mac": Out(1), "is_ew": Out(1), "is_ctl": Out(1), "reads_b": Out(1), "writes": Out(1),
        "is_dot": Out(1), "is_topk": Out(1),
        "fence": Out(1), "is_eof": Out(1), "is_sync_in": Out(1), "is_sync_out": Out(1),
        "conflict": Out(1),     # A and B share one read port: every step takes two cycles
        "n": Out(_f("n")), "r": Out(_f("r")),
        # Lane groups (docs/timing.md rule 1): log2 of a step's group, groups per step; a
        # MAC's destination groups; the occupancy r * groups * (1 + conflict) + wgroups - 1.
        "gshift": Out(GROUP_LOG2_BITS), "groups": Out(range(config.lanes + 1)),
        "wshift": Out(GROUP_LOG2_BITS), "wgroups": Out(range(config.lanes + 1)),
        "occ": Out(OCC_BITS),
    }
    for op in "abd":
        for part in ("buf", "dtype", "base", "rstride", "lstride"):
            members[f"{op}_{part}"] = Out(_f(f"{op}_{part}"))
        members[f"{op}_lo"] = Out(ADDR_BITS)
        members[f"{op}_hi"] = Out(ADDR_BITS)
    for name in ("p_base", "p_vec", "act", "lut_base", "lut_log2", "acc_in", "acc_out", "port", "b_exp"):
        members[name] = Out(_f(name))
    members["fault"] = Out(FaultShape)
    members["macs"] = Out(FIELD_BY_NAME["n"].bits + FIELD_BY_NAME["r"].bits)
    n_bufs = len(COUNTED_BUFFERS)               # the data buffers, then pbuf
    members["rd_bytes"] = Out(RD_BYTES_BITS).array(n_bufs)
    members["wr_bytes"] = Out(RD_BYTES_BITS).array(n_bufs)
    members["hwm"] = Out(HWM_BITS).array(n_bufs)
    return members


class Decoder(wiring.Component):
    """Combinational decode + fault check of one instruction word."""

    def __init__(self, *, config: NpuConfig):
        check_config(config)
        self.config = config
        super().__init__({
            "word": In(instruction_layout()),
            "offsets": In(ADDRESS_BITS).array(len(LOOP_SLOTS)),
            "ioffsets": In(ADDRESS_BITS).array(len(LOOP_SLOTS)),
            "spans": In(signed(SPAN_BITS)).array(len(LOOP_SLOTS)),
            "insn": Out(DecodedSignature(config=config)),
        })

    def elaborate(self, platform):
        m = Module()
        raw = self.word
        cls = _classify(m, raw)
        # The instance: address fields the opcode uses, advanced by the loops (the others stay 0).
        w = Signal(instruction_layout())
        m.d.comb += w.eq(raw)
        for j, slot in enumerate(LOOP_SLOTS):
            used = cls.reads_b if slot == "b_base" else cls.compute
            m.d.comb += w[slot].eq(Mux(used, raw[slot] + self.offsets[j], raw[slot]))
        spans = {slot[0]: self.spans[j] for j, slot in enumerate(LOOP_SLOTS)}
        fps = _footprints(m, w, cls, spans)
        fault, p_records, p_end = _fault(m, w, cls, fps, spans, self.config)
        _accounting(m, w, cls, fps, p_records, p_end, self.insn)
        _outputs(m, w, cls, fps, fault, self.insn, self.ioffsets)
        _lane_groups(m, w, cls, self.config, self.insn)
        return m


@dataclass(frozen=True)
class _Classes:
    """Opcode class of the word being decoded (from the ISA table)."""
    is_mac: Signal
    is_ew: Signal
    is_ctl: Signal
    is_loop: Signal
    is_dot: Signal
    is_topk: Signal
    reads_b: Signal
    writes_d: Signal        # an opcode with a destination in a buffer (topk has none)
    known: Signal
    compute: object         # is_mac | is_ew
    writes: object          # writes_d and not a holding MAC


def _classify(m, w) -> _Classes:
    dec_is_dot = Signal()
    dec_is_topk = Signal()
    dec_writes_d = Signal()
    dec_is_mac = Signal()
    dec_is_ew = Signal()
    dec_is_ctl = Signal()
    dec_reads_b = Signal()
    dec_known = Signal()
    dec_is_loop = Signal()
    m.d.comb += [
        dec_is_loop.eq(w.opcode == Opcode.LOOP),
        dec_is_mac.eq(opcode_is(w.opcode, opcodes_of(OpClass.MAC))),
        dec_is_ew.eq(opcode_is(w.opcode, opcodes_of(OpClass.ELEMENTWISE))),
        dec_is_ctl.eq(opcode_is(w.opcode, opcodes_of(OpClass.CONTROL))),
        dec_reads_b.eq(opcode_is(w.opcode, [op for op, i in OPCODES.items() if i.reads_b])),
        dec_known.eq(opcode_is(w.opcode, list(OPCODES))),
        dec_is_dot.eq(w.opcode == Opcode.DOT),
        dec_is_topk.eq(w.opcode == Opcode.TOPK),
        dec_writes_d.eq(opcode_is(w.opcode, [op for op, i in OPCODES.items() if i.writes_d])),
    ]
    compute = dec_is_mac | dec_is_ew
    return _Classes(is_mac=dec_is_mac, is_ew=dec_is_ew, is_ctl=dec_is_ctl, is_loop=dec_is_loop, is_dot=dec_is_dot,
                    is_topk=dec_is_topk, reads_b=dec_reads_b, writes_d=dec_writes_d, known=dec_known,
                    compute=compute, writes=dec_writes_d & ~(dec_is_mac & w.acc_out))


def _footprints(m, w, cls: _Classes, spans: dict) -> dict:
    """A, B and D footprints (docs/isa.md "Operands and addressing"), widened by an indexed loop."""
    fps = {}
    for op in "abd":
        m.submodules[f"fp_{op}"] = fp = Footprint()
        fps[op] = fp
        m.d.comb += [
            fp.span.eq(spans[op]),
            fp.base.eq(w[f"{op}_base"]),
            fp.rstride.eq(w[f"{op}_rstride"]),
            fp.lstride.eq(w[f"{op}_lstride"]),
            fp.lanes_m1.eq(w.n - 1),
            fp.dtype.eq(w[f"{op}_dtype"]),
        ]
    m.d.comb += [
        fps["a"].steps_m1.eq(w.r - 1),
        fps["b"].steps_m1.eq(w.r - 1),
        # A MAC's destination uses step 0 only (r' = 1).
        fps["d"].steps_m1.eq(Mux(cls.is_mac, 0, w.r - 1)),
    ]
    return fps


def _size_of(w, op):
    return Mux(w[f"{op}_dtype"] == DType.I16, DType.I16.size, DType.I8.size)


def _fault(m, w, cls: _Classes, fps: dict, spans: dict, cfg: NpuConfig):
    """The fault code (docs/isa.md "Faults": the first failing check in order), the parameter
    records the instruction reads and the end of their bytes in pbuf."""

    def buf_limit(op):
        """Bytes of the buffer an operand names (0 for imem: nothing fits there)."""
        lim = Const(0, ADDR_BITS + 1)
        for code, _name in data_buffers():
            lim = Mux(w[f"{op}_buf"] == code, buffer_bytes(cfg, code), lim)
        return lim

    def outside(op):
        return (fps[op].lo < 0) | (fps[op].hi >= buf_limit(op))

    def odd(op):
        return (w[f"{op}_dtype"] == DType.I16) & (
            w[f"{op}_base"][0] | w[f"{op}_rstride"][0] | w[f"{op}_lstride"][0] | spans[op][0])

    def abs_lt_size(op, part):
        v = w[f"{op}_{part}"]
        mag = Mux(v < 0, -v, v)
        return mag < _size_of(w, op)

    def intersects(x, y):
        return ((w[f"{x}_buf"] == w[f"{y}_buf"]) &
                (fps[x].lo <= fps[y].hi) & (fps[y].lo <= fps[x].hi))

    def identical(x, y):
        return Cat(*[w[f"{x}_{p}"] == w[f"{y}_{p}"]
                     for p in ("buf", "dtype", "base", "rstride", "lstride")], spans[x] == spans[y]).all()

    compute, reads_b = cls.compute, cls.reads_b
    # --- code 1: illegal ------------------------------------------------------------------------
    views = {Format.OPERATE: w, Format.LOOP: data.View(instruction_layout(Format.LOOP), w.as_value())}
    lw = views[Format.LOOP]
    operate = ~cls.is_loop
    dec_unused_set = Signal()
    with m.Switch(w.opcode):
        for op, info in OPCODES.items():
            with m.Case(op):
                v = views[info.format]
                unused = [v[f.name] != 0 for f in FORMAT_FIELDS[info.format] if f.name not in info.uses]
                m.d.comb += dec_unused_set.eq(Cat(*unused).any() if unused else 0)
    act_is_lut = operate & (w.act == Act.LUT)
    act_is_rsqrt = operate & (w.act == Act.RSQRT)
    act_table = act_is_lut | act_is_rsqrt
    dec_illegal = Signal()
    m.d.comb += dec_illegal.eq(
        ~cls.known
        | Mux(cls.is_loop, lw.reserved != 0, w.reserved != 0)
        | dec_unused_set
        | (cls.is_loop & ((lw.count == 0) | (lw.body == 0)))
        | (compute & ((w.n == 0) | (w.n > cfg.lanes) | (w.r == 0)))
        | (act_is_lut & ((w.lut_log2 == 0) | (w.lut_log2 > LUT_LOG2_MAX)))
        | (act_is_rsqrt & ((w.lut_log2 < RSQRT_LOG2_MIN) | (w.lut_log2 > LUT_LOG2_MAX) | (w.d_dtype != DType.I16)))
        | (operate & (w.b_exp != 0) & (w.b_dtype != DType.I16))
        | (operate & ~act_table & ((w.lut_base != 0) | (w.lut_log2 != 0)))
        | (cls.writes_d & ~cls.is_dot & (w.n > 1) & abs_lt_size("d", "lstride"))
        | (cls.writes_d & cls.is_ew & (w.r > 1) & abs_lt_size("d", "rstride"))
        | (cls.is_topk & ((w.n != 1) | (cfg.topk_entries == 0)))
    )

    # --- code 2: write protect ------------------------------------------------------------------
    dec_write_protect = Signal()
    m.d.comb += dec_write_protect.eq(cls.writes_d & ((w.d_buf == Buffer.WBUF) | (w.d_buf == Buffer.IMEM)))

    # --- code 3: address ------------------------------------------------------------------------
    p_records = Mux(w.p_vec, w.n, 1)
    p_span = spans["p"]
    dec_p_end = Signal(signed(SPAN_BITS + 2))
    dec_p_lo = Signal(signed(SPAN_BITS + 2))
    m.d.comb += [dec_p_end.eq(w.p_base + RECORD_BYTES * p_records + Mux(p_span < 0, 0, p_span)),
                 dec_p_lo.eq(w.p_base + Mux(p_span < 0, p_span, 0))]
    dec_address = Signal()
    m.d.comb += dec_address.eq(compute & (
        (w.a_buf == Buffer.IMEM) | (reads_b & (w.b_buf == Buffer.IMEM))
        | outside("a") | (reads_b & outside("b"))
        | odd("a") | (reads_b & odd("b"))
        | (cls.writes_d & ((w.d_buf == Buffer.IMEM) | outside("d") | odd("d")))
        | ((w.p_base | p_span)[:ceil_log2(RECORD_BYTES)] != 0) | (dec_p_end > cfg.pbuf_bytes) | (dec_p_lo < 0)
    ))

    # --- code 4: LUT range ----------------------------------------------------------------------
    dec_lut_range = Signal()
    m.d.comb += dec_lut_range.eq(
        act_table & ((w.lut_base + (Const(1, 16) << w.lut_log2)) > cfg.lut_entries))

    # --- code 5: element-wise destination overlaps a differently addressed source ---------------
    dec_overlap = Signal()
    m.d.comb += dec_overlap.eq(cls.is_ew & cls.writes_d & (
        (intersects("d", "a") & ~identical("d", "a"))
        | (reads_b & intersects("d", "b") & ~identical("d", "b"))
    ))

    dec_fault = Signal(FaultShape)
    with m.If(dec_illegal):
        m.d.comb += dec_fault.eq(Fault.ILLEGAL)
    with m.Elif(dec_write_protect):
        m.d.comb += dec_fault.eq(Fault.WRITE_PROTECT)
    with m.Elif(dec_address):
        m.d.comb += dec_fault.eq(Fault.ADDRESS)
    with m.Elif(dec_lut_range):
        m.d.comb += dec_fault.eq(Fault.LUT_RANGE)
    with m.Elif(dec_overlap):
        m.d.comb += dec_fault.eq(Fault.OVERLAP)
    return dec_fault, p_records, dec_p_end


def _accounting(m, w, cls: _Classes, fps: dict, p_records, p_end, out) -> None:
    """The counter increments of docs/timing.md "Counters per frame", per data buffer and pbuf."""
    def read_bytes(op):
        per_step = Mux(w[f"{op}_lstride"] == 0, 1, w.n) * _size_of(w, op)
        return w.r * per_step

    dec_wr = Signal(RD_BYTES_BITS)
    m.d.comb += dec_wr.eq(Mux(cls.is_mac, 1, w.r) * Mux(cls.is_dot, 1, w.n) * _size_of(w, "d"))
    for i, (code, _name) in enumerate(data_buffers()):
        a_in = w.a_buf == code
        b_in = cls.reads_b & (w.b_buf == code)
        d_in = cls.writes & (w.d_buf == code)
        rd = (Mux(a_in, read_bytes("a"), 0) + Mux(b_in, read_bytes("b"), 0))
        hwm = Mux(a_in, fps["a"].hi + 1, 0)
        hwm = Mux(b_in & (fps["b"].hi + 1 > hwm), fps["b"].hi + 1, hwm)
        hwm = Mux(d_in & (fps["d"].hi + 1 > hwm), fps["d"].hi + 1, hwm)
        m.d.comb += [
            out.rd_bytes[i].eq(Mux(cls.compute, rd, 0)),
            out.wr_bytes[i].eq(Mux(d_in, dec_wr, 0)),
            out.hwm[i].eq(Mux(cls.compute, hwm, 0)),
        ]
    pb = COUNTED_BUFFERS.index(PBUF)
    m.d.comb += [
        out.rd_bytes[pb].eq(Mux(cls.compute, RECORD_BYTES * p_records, 0)),
        out.wr_bytes[pb].eq(0),
        out.hwm[pb].eq(Mux(cls.compute, p_end[:HWM_BITS], 0)),
    ]


def _lane_groups(m, w, cls: _Classes, cfg: NpuConfig, out) -> None:
    """Lane groups of docs/timing.md rule 1, from each operand's lane stride and buffer."""
    top = exact_log2(cfg.lanes)

    def operand_log2(op):
        logs = {code: lane_group_log2(m, w[f"{op}_lstride"], cfg.lanes, cfg.bank_org(name), name=f"dec_{op}_{name}")
                for code, name in data_buffers()}
        value = Const(top, GROUP_LOG2_BITS)
        for code, log in logs.items():
            value = Mux(w[f"{op}_buf"] == code, log, value)
        return value

    def smaller(x, y):
        return Mux(x < y, x, y)

    def count(shift):
        return (w.n + (Const(1, 8) << shift) - 1) >> shift

    a, b, d = operand_log2("a"), operand_log2("b"), operand_log2("d")
    dec_rlog = Signal(GROUP_LOG2_BITS)
    dec_glog = Signal(GROUP_LOG2_BITS)
    dec_wlog = Signal(GROUP_LOG2_BITS)
    m.d.comb += [
        dec_rlog.eq(Mux(cls.reads_b, smaller(a, b), a)),
        dec_glog.eq(Mux(cls.is_mac, dec_rlog, smaller(dec_rlog, d))),
        dec_wlog.eq(Mux(cls.writes, d, top)),
    ]
    groups = Signal.like(out.groups, name="dec_groups")
    wgroups = Signal.like(out.wgroups, name="dec_wgroups")
    m.d.comb += [
        groups.eq(Mux(cls.compute, count(dec_glog), 1)),
        wgroups.eq(Mux(cls.is_mac & cls.writes, count(dec_wlog), 1)),
        out.gshift.eq(dec_glog), out.wshift.eq(dec_wlog), out.groups.eq(groups), out.wgroups.eq(wgroups),
        out.occ.eq(Mux(cls.compute,
                       w.r * groups * Mux(cls.reads_b & (w.a_buf == w.b_buf), PORT_CONFLICT_FACTOR, 1)
                       + wgroups - 1, 1)),
    ]


def _outputs(m, w, cls: _Classes, fps: dict, fault, out, ioffsets) -> None:
    """The instance's fields: the checks above used its index-0 addresses, the accesses add an
    indexed loop's IDX[i] x increment (`ioffsets`, 0 outside one)."""
    at = {slot: ioffsets[j] for j, slot in enumerate(LOOP_SLOTS)}
    for name in ("opcode", "n", "r", "p_base", "p_vec", "act", "lut_base", "lut_log2",
                 "acc_in", "acc_out", "port", "b_exp"):
        m.d.comb += getattr(out, name).eq(w[name] + at[name] if name in at else w[name])
    for op in "abd":
        for part in ("buf", "dtype", "base", "rstride", "lstride"):
            name = f"{op}_{part}"
            m.d.comb += getattr(out, name).eq(w[name] + at[name] if name in at else w[name])
        m.d.comb += [getattr(out, f"{op}_lo").eq(fps[op].lo), getattr(out, f"{op}_hi").eq(fps[op].hi)]
    m.d.comb += [
        out.is_mac.eq(cls.is_mac),
        out.is_ew.eq(cls.is_ew),
        out.is_ctl.eq(cls.is_ctl),
        out.reads_b.eq(cls.reads_b),
        out.writes.eq(cls.writes),
        out.is_dot.eq(cls.is_dot),
        out.is_topk.eq(cls.is_topk),
        # topk resets the top-k unit as it issues; an indexed loop reads what the topk wrote
        out.fence.eq(opcode_is(w.opcode, [Opcode.SYNC_IN, Opcode.SYNC_OUT, Opcode.EOF, Opcode.TOPK])
                     | (cls.is_loop & (data.View(instruction_layout(Format.LOOP), w.as_value()).idx != 0))),
        out.is_eof.eq(w.opcode == Opcode.EOF),
        out.is_sync_in.eq(w.opcode == Opcode.SYNC_IN),
        out.is_sync_out.eq(w.opcode == Opcode.SYNC_OUT),
        out.conflict.eq(cls.reads_b & (w.a_buf == w.b_buf)),
        out.fault.eq(fault),
        out.macs.eq(Mux(cls.is_mac, w.n * w.r, 0)),
    ]
