"""Helpers of the golden-model tests: program construction and an independent reference.

The reference interpreter below is written for clarity, not speed: Python integers, one element
at a time, straight from docs/isa.md. It shares nothing with npu_model.golden.executor but the ISA
decoder, so the model's batching, gathers and matrix products are checked against it.
"""
from __future__ import annotations

import numpy as np

from npu_model.arch import isa
from npu_model.arch.config import NpuConfig
from npu_model.arch.isa import ADDRESS_BITS, Act, Buffer, DType, Instruction, Opcode
from npu_model.arch.program import Program

BUF = {"wbuf": Buffer.WBUF, "abuf": Buffer.ABUF, "sbuf": Buffer.SBUF, "imem": Buffer.IMEM}
DT = {"i8": DType.I8, "i16": DType.I16}

SMALL = dict(lanes=8, wbuf_bytes=8192, abuf_bytes=8192, sbuf_bytes=2048, imem_bytes=32 * 4096,
             lut_entries=1024)


def config(**changes) -> NpuConfig:
    return NpuConfig(**{**SMALL, **changes})


def operand(letter, spec):
    """('abuf', 'i8', base, rstride, lstride) -> fields of operand `letter`."""
    if spec is None:
        return {}
    buf, dt, base, rs, ls = spec
    return {f"{letter}_buf": BUF[buf], f"{letter}_dtype": DT[dt], f"{letter}_base": base,
            f"{letter}_rstride": rs, f"{letter}_lstride": ls}


def ins(op, n=0, r=0, a=None, b=None, d=None, p=0, p_vec=0, act=0, lut=None, **extra):
    """One instruction; operands as ('abuf', 'i8', base, rstride, lstride)."""
    fields = dict(opcode=int(op), n=n, r=r, p_base=p, p_vec=p_vec, act=int(act))
    fields.update(operand("a", a))
    fields.update(operand("b", b))
    fields.update(operand("d", d))
    if lut is not None:
        fields["act"] = int(Act.LUT)
        fields["lut_base"], fields["lut_log2"] = lut
    fields.update(extra)
    return Instruction(**fields)


def mac(n, r, a, b, d, p=0, **kw):
    return ins(Opcode.MAC, n, r, a, b, d, p, **kw)


def ew(op, n, r, a, b, d, p=0, **kw):
    return ins(op, n, r, a, b, d, p, **kw)


def mov(n, r, a, d, p=0, **kw):
    return ins(Opcode.MOV, n, r, a, None, d, p, **kw)


EOF = Instruction(opcode=int(Opcode.EOF))
NOP = Instruction(opcode=int(Opcode.NOP))


def loop(count, body, a=0, b=0, d=0, p=0, idx=0):
    """A hardware loop over the next `body` instructions, with the per-iteration increments
    (`idx`: the indexed fields, bit j for LOOP_SLOTS[j])."""
    return Instruction(opcode=int(Opcode.LOOP), count=count, body=body, a_inc=a, b_inc=b, d_inc=d, p_inc=p, idx=idx)


def sync_in(port=0):
    return Instruction(opcode=int(Opcode.SYNC_IN), port=port)


def sync_out(port=0):
    return Instruction(opcode=int(Opcode.SYNC_OUT), port=port)


def records(*recs) -> bytes:
    """Parameter records (bias, mult, shift) packed back to back (8 bytes each)."""
    out = bytearray()
    for bias, mult, shift in recs:
        out += int(bias).to_bytes(4, "little", signed=True) + int(mult).to_bytes(2, "little", signed=True)
        out += bytes([shift & 0xFF, 0])
    return bytes(out)


class Image:
    """A growable byte image (wbuf or sbuf) with typed writes."""

    def __init__(self, size=0):
        self.data = bytearray(size)

    def put(self, offset, values, dt="i8"):
        raw = np.asarray(values).astype("<i1" if dt == "i8" else "<i2").tobytes()
        end = offset + len(raw)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = raw
        return self

    def put_bytes(self, offset, raw):
        end = offset + len(raw)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = raw
        return self

    def __bytes__(self):
        return bytes(self.data)


def program(instrs, cfg=None, wbuf=b"", sbuf=b"", lut=(), inputs=(), outputs=(), pbuf=None) -> Program:
    """A program of `instrs` and the images given. The tests write their parameter records and
    weights into one image; unless `pbuf` is given, pbuf gets a copy of the wbuf image (so a
    record at wbuf offset x is at pbuf offset x)."""
    cfg = cfg or config()
    code = np.concatenate([np.frombuffer(isa.encode(i), np.uint8) for i in instrs])
    pbuf = bytes(wbuf)[:cfg.pbuf_bytes] if pbuf is None else bytes(pbuf)
    return Program(config=cfg, code=code, wbuf=bytes(wbuf), sbuf=bytes(sbuf), pbuf=pbuf,
                   lut=np.asarray(lut, np.int16), inputs=list(inputs), outputs=list(outputs))


# Independent reference ---------------------------------------------------------------------------
def requant(acc, mult, shift):
    y = acc * mult
    return (y + (1 << (shift - 1))) >> shift if shift else y


def wrap(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def executed(code, idx=None):
    """The instructions of one frame in execution order (pc, instruction with the addresses its
    loops give it): a program counter and a stack of open loops, as the front end walks the
    code (docs/isa.md "Loops"). `idx`: the index registers (read as each instruction is reached;
    an indexed loop's indexed fields move by idx[i] * inc)."""
    pc, stack = 0, []
    while pc < len(code):
        ins = code[pc]
        if ins.opcode == Opcode.LOOP:
            stack.append({"start": pc + 1, "end": pc + ins.body, "count": ins.count, "i": 0, "idx": ins.idx,
                          "inc": [getattr(ins, f"{s[0]}_inc") for s in isa.LOOP_SLOTS]})
            yield pc, ins
            pc += 1
            continue
        uses = isa.OPCODES[Opcode(ins.opcode)].uses
        moved = {}
        for j, slot in enumerate(isa.LOOP_SLOTS):
            if slot in uses:
                moved[slot] = (getattr(ins, slot) + sum((idx[lp["i"]] if lp["idx"] >> j & 1 else lp["i"]) * lp["inc"][j]
                                                        for lp in stack)) % (1 << ADDRESS_BITS)
        yield pc, ins.replace(**moved)
        pc += 1
        while stack and pc == stack[-1]["end"] + 1:
            top = stack[-1]
            top["i"] += 1
            if top["i"] < top["count"]:
                pc = top["start"]
                break
            stack.pop()


class Reference:
    """docs/isa.md, one element at a time."""

    def __init__(self, prog: Program):
        self.p = prog
        self.cfg = prog.config
        self.mem = {"wbuf": bytearray(self.cfg.wbuf_bytes), "abuf": bytearray(self.cfg.abuf_bytes),
                    "sbuf": bytearray(self.cfg.sbuf_bytes)}
        self.mem["wbuf"][:len(prog.wbuf)] = prog.wbuf
        self.pbuf = bytearray(self.cfg.pbuf_bytes)
        self.pbuf[:len(prog.pbuf)] = prog.pbuf
        self.mem["sbuf"][:len(prog.sbuf)] = prog.sbuf
        self.lut = [0] * self.cfg.lut_entries
        for i, v in enumerate(prog.lut.tolist()):
            self.lut[i] = v
        self.code = [isa.decode(bytes(w))[0] for w in prog.code]

    NAMES = {0: "wbuf", 1: "abuf", 2: "sbuf"}

    def load(self, buf, addr, dt):
        m = self.mem[self.NAMES[buf]]
        size = 2 if dt else 1
        return int.from_bytes(m[addr:addr + size], "little", signed=True)

    def store(self, buf, addr, dt, value):
        size = 2 if dt else 1
        self.mem[self.NAMES[buf]][addr:addr + size] = int(value).to_bytes(size, "little", signed=True)

    def record(self, ins, lane):
        a = ins.p_base + (8 * lane if ins.p_vec else 0)
        w = self.pbuf
        return (int.from_bytes(w[a:a + 4], "little", signed=True), int.from_bytes(w[a + 4:a + 6], "little", signed=True),
                w[a + 6] & 63)

    def element(self, ins, x, s, l):
        base, rs, ls = getattr(ins, f"{x}_base"), getattr(ins, f"{x}_rstride"), getattr(ins, f"{x}_lstride")
        return self.load(getattr(ins, f"{x}_buf"), base + s * rs + l * ls, getattr(ins, f"{x}_dtype"))

    def post(self, ins, acc, lane):
        _, mult, shift = self.record(ins, lane)
        y = requant(acc, mult, shift)
        if ins.act == Act.RELU:
            y = max(y, 0)
        elif ins.act == Act.LUT:
            h = 1 << (ins.lut_log2 - 1)
            y = self.lut[ins.lut_base + min(max(y, -h), h - 1) + h]
        lo, hi = (-32768, 32767) if ins.d_dtype else (-128, 127)
        return min(max(y, lo), hi)

    def executed(self, idx=None):
        return executed(self.code, idx)

    def run_frame(self, inputs):
        for port in self.p.inputs:
            data = np.asarray(inputs[port.name]).reshape(-1).astype(port.numpy_dtype).tobytes()
            self.mem[port.buf][port.offset:port.offset + len(data)] = data
        bits = self.cfg.acc_bits
        accs = [0] * self.cfg.lanes
        idx = [0] * max(self.cfg.topk_entries, 1)
        for _, ins in self.executed(idx):
            op = Opcode(ins.opcode)
            if op == Opcode.DOT:
                new = []
                for l in range(ins.n):
                    acc = accs[l] if ins.acc_in else (self.record(ins, 0)[0] if l == 0 else 0)
                    for s in range(ins.r):
                        acc += self.element(ins, "a", s, l) * self.element(ins, "b", s, l)
                    new.append(wrap(acc, bits))
                accs[:ins.n] = new
                if not ins.acc_out:
                    self.store(ins.d_buf, ins.d_base, ins.d_dtype, self.post(ins, wrap(sum(new), bits), 0))
            elif op == Opcode.TOPK:
                values = [self.post(ins, wrap(self.element(ins, "a", s, 0) + self.record(ins, 0)[0], bits), 0)
                          for s in range(ins.r)]
                order = sorted(range(ins.r), key=lambda s: (-values[s], s))
                idx[:] = [0] * len(idx)
                for k, s in enumerate(order[:len(idx)]):
                    idx[k] = s
            elif op == Opcode.MAC:
                new = []
                for l in range(ins.n):
                    acc = accs[l] if ins.acc_in else self.record(ins, l)[0]
                    for s in range(ins.r):
                        acc += self.element(ins, "a", s, l) * self.element(ins, "b", s, l)
                    new.append(wrap(acc, bits))
                accs[:ins.n] = new
                if not ins.acc_out:
                    for l in range(ins.n):
                        self.store(ins.d_buf, ins.d_base + l * ins.d_lstride, ins.d_dtype, self.post(ins, new[l], l))
            elif op in (Opcode.ADD, Opcode.SUB, Opcode.MUL, Opcode.MAX, Opcode.MIN, Opcode.MOV):
                results = []
                for s in range(ins.r):
                    for l in range(ins.n):
                        a = self.element(ins, "a", s, l)
                        b = self.element(ins, "b", s, l) if op != Opcode.MOV else 0
                        v = {Opcode.ADD: a + b, Opcode.SUB: a - b, Opcode.MUL: a * b, Opcode.MAX: max(a, b),
                             Opcode.MIN: min(a, b), Opcode.MOV: a}[op]
                        acc = wrap(v + self.record(ins, l)[0], bits)
                        results.append((s, l, self.post(ins, acc, l)))
                for s, l, y in results:
                    self.store(ins.d_buf, ins.d_base + s * ins.d_rstride + l * ins.d_lstride, ins.d_dtype, y)
        out = {}
        for port in self.p.outputs:
            raw = bytes(self.mem[port.buf][port.offset:port.offset + port.nbytes])
            out[port.name] = np.frombuffer(raw, port.numpy_dtype).astype(
                np.int8 if port.dtype == "i8" else np.int16).reshape(port.shape)
        return out
