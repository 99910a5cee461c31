"""Random legal programs for the RTL tests (legality from the golden model's fault rules),
with hardware loops (nested up to LOOP_DEPTH) whose every iteration is legal."""
from __future__ import annotations

import numpy as np

from npu_model.arch.isa import LOOP_DEPTH, OPERATE_FIELDS, Act, Buffer, DType, Instruction, Opcode, encode
from npu_model.golden.loops import executed

import rtl_golden as golden
from rtl_harness import record

COMPUTE = [Opcode.MAC, Opcode.ADD, Opcode.SUB, Opcode.MUL, Opcode.MAX, Opcode.MIN, Opcode.MOV]
PARAM_RECORDS = 32     # records at the top of the image (loaded into wbuf and pbuf)


def param_area(cfg):
    return cfg.wbuf_bytes - 8 * PARAM_RECORDS


def initial_images(cfg, rng):
    """Random buffer contents, with sensible parameter records at the top of the wbuf image
    (the harness and `rtl_golden.program_of` load the same image into pbuf)."""
    wbuf = bytearray(rng.randbytes(param_area(cfg)))
    for i in range(PARAM_RECORDS):
        kind = rng.random()
        if kind < 0.6:
            wbuf += record(rng.randint(-300, 300), rng.choice([1, 1, 2, 3, -1, 77, 1000]), rng.randint(0, 10))
        elif kind < 0.8:
            wbuf += record(rng.randint(-2**31, 2**31 - 1), rng.randint(-2**15, 2**15 - 1), rng.randint(0, 255))
        else:
            wbuf += record(0, 1, 0)
    abuf = rng.randbytes(cfg.abuf_bytes)
    sbuf = rng.randbytes(cfg.sbuf_bytes)
    lut = [rng.randint(-2**15, 2**15 - 1) for _ in range(cfg.lut_entries)]
    return bytes(wbuf), abuf, sbuf, lut


def _operand(rng, cfg, n, r, bufs, *, dest=False, ew=True):
    dtype = rng.choice([DType.I8, DType.I16])
    sz = dtype.size
    buf = rng.choice(bufs)
    lim = cfg.buffer_bytes(golden.BUFS[buf])
    if buf == Buffer.WBUF:
        lim = param_area(cfg)
    if dest:
        lchoices = [sz, 2 * sz, -sz, n * sz] if n > 1 else [0, sz]
        rchoices = [n * sz, -n * sz, 2 * n * sz, sz * (n + 1)] if (ew and r > 1) else [0]
    else:
        lchoices = [0, sz, 2 * sz, -sz, 3 * sz]
        rchoices = [0, sz, n * sz, -n * sz, 4 * sz]
    ls = rng.choice(lchoices)
    rs = rng.choice(rchoices) if (ew or not dest) else 0
    base = rng.randrange(0, lim, sz)
    return dict(buf=int(buf), dtype=int(dtype), base=base, rstride=rs, lstride=ls)


def random_instruction(rng, cfg, *, max_r=6):
    while True:
        op = rng.choice(COMPUTE + [Opcode.NOP, Opcode.SYNC_IN, Opcode.SYNC_OUT])
        if op in (Opcode.NOP, Opcode.SYNC_IN, Opcode.SYNC_OUT):
            port = 0      # the golden model's I/O table has port 0 only (rtl_golden.program_of)
            return Instruction(opcode=int(op), port=port)
        n = rng.randint(1, cfg.lanes)
        r = rng.randint(1, max_r)
        ew = op != Opcode.MAC
        f = dict(opcode=int(op), n=n, r=r)
        srcs = [Buffer.WBUF, Buffer.ABUF, Buffer.SBUF]
        for x in ("a", "b") if op != Opcode.MOV else ("a",):
            for k, v in _operand(rng, cfg, n, r, srcs).items():
                f[f"{x}_{k}"] = v
        d = _operand(rng, cfg, n, r, [Buffer.ABUF, Buffer.SBUF], dest=True, ew=ew)
        if ew and rng.random() < 0.2:
            d = dict(buf=f["a_buf"], dtype=f["a_dtype"], base=f["a_base"], rstride=f["a_rstride"],
                     lstride=f["a_lstride"])     # in place
        for k, v in d.items():
            f[f"d_{k}"] = v
        if not ew:
            f["d_rstride"] = 0
        p_vec = rng.random() < 0.5
        f["p_vec"] = int(p_vec)
        f["p_base"] = param_area(cfg) + 8 * rng.randrange(PARAM_RECORDS - (n if p_vec else 1) + 1)
        act = rng.choice([Act.NONE, Act.NONE, Act.RELU, Act.LUT])
        f["act"] = int(act)
        if act == Act.LUT:
            k = rng.randint(1, min(14, cfg.lut_entries.bit_length() - 1))
            f["lut_log2"] = k
            f["lut_base"] = rng.randint(0, cfg.lut_entries - 2 ** k)
        if not ew:
            f["acc_in"] = int(rng.random() < 0.3)
            f["acc_out"] = int(rng.random() < 0.3)
        ins = Instruction(**f)
        if golden.fault_code(cfg, ins) == 0 and not golden.rejected_by_loader(cfg, ins):
            return ins


def instances(instructions):
    """The instruction instances a list of instructions (loops legal) executes, as Instructions."""
    code = np.frombuffer(b"".join(encode(i) for i in list(instructions) + [_EOF]), np.uint8).reshape(-1, 32)
    run = executed(code)
    names = [n for n in run.fields if n != "reserved"]
    return [Instruction(**{n: int(run.fields[n][k]) for n in names}) for k in range(len(run) - 1)]


def loop(count, body, *, a=0, b=0, d=0, p=0):
    return Instruction(opcode=int(Opcode.LOOP), count=count, body=body, a_inc=a, b_inc=b, d_inc=d, p_inc=p)


def _increments(rng):
    pick = lambda: rng.choice([0, 0, 1, -1, 2, -2, 4, 8, -8, 16, 64])  # noqa: E731
    return dict(a=pick(), b=pick(), d=pick(), p=8 * rng.choice([0, 0, 1, -1]))


def random_loop(rng, cfg, *, depth=LOOP_DEPTH, **kw):
    """A loop around 1..3 random instructions (and, below LOOP_DEPTH, sometimes a loop of its
    own), every iteration of which is a legal instruction."""
    for _ in range(200):
        body = [random_instruction(rng, cfg, **kw) for _ in range(rng.randint(1, 2))]
        if depth > 1 and rng.random() < 0.5:
            body.insert(rng.randint(0, len(body)), None)
            inner = random_loop(rng, cfg, depth=depth - 1, **kw)
            at = body.index(None)
            body[at:at + 1] = inner
        block = [loop(rng.randint(1, 4), len(body), **_increments(rng))] + body
        if all(golden.fault_code(cfg, i) == 0 and not golden.rejected_by_loader(cfg, i)
               for i in instances(block) if i.opcode != Opcode.LOOP):
            return block
    raise AssertionError("no legal loop found")


def random_program(rng, cfg, length, *, loops=True, **kw):
    """`length` blocks (an instruction, or with loops a loop block now and then) and `eof`."""
    out = []
    for _ in range(length):
        if loops and rng.random() < 0.3:
            out += random_loop(rng, cfg, **kw)
        else:
            out.append(random_instruction(rng, cfg, **kw))
    return out + [_EOF]


def faulting_loop(rng, cfg):
    """A loop whose first iterations are legal and a later one leaves its buffer (address fault)."""
    while True:
        ins = random_instruction(rng, cfg)
        if ins.opcode not in (Opcode.NOP, Opcode.SYNC_IN, Opcode.SYNC_OUT):
            break
    step = 2 * (cfg.buffer_bytes(golden.BUFS[ins.d_buf]) // 6)
    return [loop(4, 1, d=step), ins]


_EOF = Instruction(opcode=int(Opcode.EOF))


def legal_and_faulting(cfg, rng, count):
    """Random legal instructions, and mutations of them that break one rule or another."""
    out = []
    for _ in range(count):
        ins = random_instruction(rng, cfg, max_r=300)
        out.append((ins, 0))
        field = rng.choice(OPERATE_FIELDS[1:])
        out.append((ins.replace(**{field.name: rng.randint(field.min, field.max)}), 0))
        # Targeted mutations near the boundaries.
        choice = rng.randrange(8)
        if choice == 0:
            out.append((ins.replace(n=cfg.lanes + 1 if cfg.lanes < 31 else 0), 0))
        elif choice == 1:
            out.append((ins.replace(d_buf=rng.choice([Buffer.WBUF, Buffer.IMEM])), 0))
        elif choice == 2:
            out.append((ins.replace(a_base=cfg.abuf_bytes - 1, a_buf=Buffer.ABUF), 0))
        elif choice == 3:
            out.append((ins.replace(act=Act.LUT, lut_log2=rng.randint(0, 15),
                                    lut_base=rng.randint(0, cfg.lut_entries)), 0))
        elif choice == 4:
            out.append((ins.replace(p_base=ins.p_base + rng.choice([1, 4, 8, 64])), 0))
        elif choice == 5:
            out.append((ins.replace(b_dtype=DType.I16, b_base=ins.b_base | 1), 0))
        elif choice == 6 and ins.opcode not in (Opcode.MAC,):
            out.append((ins.replace(d_buf=ins.a_buf, d_base=ins.a_base, d_dtype=ins.a_dtype,
                                    d_rstride=ins.a_rstride + rng.choice([0, 1, 2]),
                                    d_lstride=ins.a_lstride), 0))
        else:
            out.append((ins.replace(a_rstride=rng.choice([-4000, 4000, 2**15 - 1]), r=rng.randint(1, 2**16 - 1)), 0))
    return [(ins, golden.fault_code(cfg, ins)) for ins, _ in out]
