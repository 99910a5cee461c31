"""A small, independent executable reading of docs/isa.md and docs/timing.md for the RTL tests.

It is deliberately written from the documents, not from the RTL: straight-line Python over
bytearrays, the timing rules as formulas over the whole history (no scoreboard). Sequential
execution in program order gives the data the hardware produces because the hazard rule holds
every read back until the writes it depends on have happened and writes happen in program order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from npu_model.isa import FIELDS, OPCODES, Act, Buffer, DType, OpClass, Opcode
from npu_model.timing import FETCH_LATENCY, PIPELINE_LATENCY, PORT_CONFLICT_FACTOR

BUFS = {Buffer.WBUF: "wbuf", Buffer.ABUF: "abuf", Buffer.SBUF: "sbuf"}


def size(dtype):
    return DType(dtype).size


def operand(ins, x):
    return tuple(getattr(ins, f"{x}_{p}") for p in ("buf", "dtype", "base", "rstride", "lstride"))


def footprint(ins, x):
    n, r = ins.n, ins.r
    if x == "d" and ins.opcode == Opcode.MAC:
        r = 1
    base, rs, ls = getattr(ins, f"{x}_base"), getattr(ins, f"{x}_rstride"), getattr(ins, f"{x}_lstride")
    lo = base + min(0, (r - 1) * rs) + min(0, (n - 1) * ls)
    hi = base + max(0, (r - 1) * rs) + max(0, (n - 1) * ls) + size(getattr(ins, f"{x}_dtype")) - 1
    return lo, hi


def sources(ins):
    return ["a", "b"] if OPCODES[ins.opcode].reads_b else ["a"]


def fault_code(cfg, ins, reserved=0):
    """docs/isa.md "Faults", checks in order."""
    info = OPCODES.get(ins.opcode)
    if info is None or reserved:
        return 1
    for f in FIELDS:
        if f.name not in info.uses and getattr(ins, f.name) != 0:
            return 1
    compute = info.op_class is not OpClass.CONTROL
    ew = info.op_class is OpClass.ELEMENTWISE
    if compute and not (1 <= ins.n <= cfg.lanes and ins.r >= 1):
        return 1
    if ins.act == 3:
        return 1
    if ins.act == Act.LUT and not 1 <= ins.lut_log2 <= 14:
        return 1
    if ins.act != Act.LUT and (ins.lut_base or ins.lut_log2):
        return 1
    if compute:
        dsz = size(ins.d_dtype)
        if ins.n > 1 and abs(ins.d_lstride) < dsz:
            return 1
        if ew and ins.r > 1 and abs(ins.d_rstride) < dsz:
            return 1
        if ins.d_buf in (Buffer.WBUF, Buffer.IMEM):
            return 2
        for x in sources(ins) + ["d"]:
            buf = getattr(ins, f"{x}_buf")
            if buf == Buffer.IMEM:
                return 3
            lo, hi = footprint(ins, x)
            if lo < 0 or hi >= cfg.buffer_bytes(BUFS[buf]):
                return 3
            if getattr(ins, f"{x}_dtype") == DType.I16 and any(
                    getattr(ins, f"{x}_{p}") % 2 for p in ("base", "rstride", "lstride")):
                return 3
        if ins.p_base % 8 or ins.p_base + 8 * (ins.n if ins.p_vec else 1) > cfg.wbuf_bytes:
            return 3
    if ins.act == Act.LUT and ins.lut_base + 2 ** ins.lut_log2 > cfg.lut_entries:
        return 4
    if ew:
        dlo, dhi = footprint(ins, "d")
        for x in sources(ins):
            lo, hi = footprint(ins, x)
            if (getattr(ins, f"{x}_buf") == ins.d_buf and lo <= dhi and dlo <= hi
                    and operand(ins, x) != operand(ins, "d")):
                return 5
    return 0


def writes_twice(ins):
    """The loader's rule: one instruction must not write a byte twice."""
    info = OPCODES[ins.opcode]
    if info.op_class is OpClass.CONTROL or (ins.opcode == Opcode.MAC and ins.acc_out):
        return False
    steps = 1 if ins.opcode == Opcode.MAC else ins.r
    seen = set()
    sz = size(ins.d_dtype)
    for s in range(steps):
        for l in range(ins.n):
            a = ins.d_base + s * ins.d_rstride + l * ins.d_lstride
            for b in range(sz):
                if a + b in seen:
                    return True
                seen.add(a + b)
    return False


def wrap(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def post(cfg, acc, mult, shift, ins, lut):
    y = acc * mult
    if shift:
        y = (y + (1 << (shift - 1))) >> shift
    if ins.act == Act.RELU:
        y = max(y, 0)
    elif ins.act == Act.LUT:
        k = ins.lut_log2
        y = lut[ins.lut_base + min(max(y, -2 ** (k - 1)), 2 ** (k - 1) - 1) + 2 ** (k - 1)]
    lo, hi = (-128, 127) if ins.d_dtype == DType.I8 else (-32768, 32767)
    return min(max(y, lo), hi)


@dataclass
class Result:
    mem: dict
    schedule: list = field(default_factory=list)     # (issue, retire) per executed pc
    fault: tuple | None = None                        # (pc, code)
    counters: dict = field(default_factory=dict)


def run(cfg, program, *, wbuf=b"", abuf=b"", sbuf=b"", lut=()):
    mem = {}
    for code, name in BUFS.items():
        init = {"wbuf": wbuf, "abuf": abuf, "sbuf": sbuf}[name]
        mem[code] = bytearray(init) + bytearray(cfg.buffer_bytes(name) - len(init))
    lut = list(lut) + [0] * (cfg.lut_entries - len(lut))
    acc = [0] * cfg.lanes
    res = Result(mem={BUFS[c]: m for c, m in mem.items()})
    cnt = {k: 0 for k in ("instructions", "mac_cycles", "macs", "stall_cycles", "conflict_cycles")}
    for name in BUFS.values():
        cnt.update({f"{name}_hwm": 0, f"{name}_read_bytes": 0, f"{name}_write_bytes": 0})
    history = []   # (retire, dest footprint or None)
    e = FETCH_LATENCY

    def rd(buf, addr, dtype):
        return int.from_bytes(mem[buf][addr:addr + size(dtype)], "little", signed=True)

    def wr(buf, addr, dtype, v):
        mem[buf][addr:addr + size(dtype)] = int(v).to_bytes(size(dtype), "little", signed=True)

    def hwm(buf, top):
        key = f"{BUFS[buf]}_hwm"
        cnt[key] = max(cnt[key], top)

    for pc, ins in enumerate(program):
        code = fault_code(cfg, ins)
        if code:
            res.fault = (pc, code)
            break
        info = OPCODES[ins.opcode]
        if info.op_class is OpClass.CONTROL:
            occ, k = 1, 1
            h = max((r + 1 for r, _ in history), default=0) if ins.opcode != Opcode.NOP else 0
        else:
            k = PORT_CONFLICT_FACTOR if info.reads_b and ins.a_buf == ins.b_buf else 1
            occ = ins.r * k
            srcs = [(getattr(ins, f"{x}_buf"), *footprint(ins, x)) for x in sources(ins)]
            h = max((r + 1 for r, d in history if d and any(
                d[0] == b and lo <= d[2] and d[1] <= hi for b, lo, hi in srcs)), default=0)
        t = max(e, h)
        cnt["stall_cycles"] += t - e
        if info.op_class is OpClass.CONTROL:
            retire = t
            history.append((retire, None))
        else:
            retire = t + occ - 1 + PIPELINE_LATENCY
            writes = not (ins.opcode == Opcode.MAC and ins.acc_out)
            history.append((retire, (ins.d_buf, *footprint(ins, "d")) if writes else None))
            cnt["conflict_cycles"] += (k - 1) * ins.r
            for x in sources(ins):
                buf = getattr(ins, f"{x}_buf")
                per = 1 if getattr(ins, f"{x}_lstride") == 0 else ins.n
                cnt[f"{BUFS[buf]}_read_bytes"] += ins.r * per * size(getattr(ins, f"{x}_dtype"))
                hwm(buf, footprint(ins, x)[1] + 1)
            nrec = ins.n if ins.p_vec else 1
            cnt["wbuf_read_bytes"] += 8 * nrec
            hwm(Buffer.WBUF, ins.p_base + 8 * nrec)
            if writes:
                hwm(ins.d_buf, footprint(ins, "d")[1] + 1)
                steps = 1 if ins.opcode == Opcode.MAC else ins.r
                cnt[f"{BUFS[ins.d_buf]}_write_bytes"] += steps * ins.n * size(ins.d_dtype)
            # Data.
            recs = []
            for l in range(ins.n):
                p = ins.p_base + (8 * l if ins.p_vec else 0)
                rec = mem[Buffer.WBUF][p:p + 8]
                recs.append((int.from_bytes(rec[0:4], "little", signed=True),
                             int.from_bytes(rec[4:6], "little", signed=True), rec[6] & 63))

            def elem(x, s, l):
                return rd(getattr(ins, f"{x}_buf"), getattr(ins, f"{x}_base") + s * getattr(ins, f"{x}_rstride")
                          + l * getattr(ins, f"{x}_lstride"), getattr(ins, f"{x}_dtype"))

            if ins.opcode == Opcode.MAC:
                cnt["mac_cycles"] += ins.r
                cnt["macs"] += ins.n * ins.r
                for l in range(ins.n):
                    a = acc[l] if ins.acc_in else recs[l][0]
                    a += sum(elem("a", s, l) * elem("b", s, l) for s in range(ins.r))
                    acc[l] = wrap(a, cfg.acc_bits)
                if not ins.acc_out:
                    outs = [post(cfg, acc[l], recs[l][1], recs[l][2], ins, lut) for l in range(ins.n)]
                    for l in range(ins.n):
                        wr(ins.d_buf, ins.d_base + l * ins.d_lstride, ins.d_dtype, outs[l])
            else:
                ops = {Opcode.ADD: lambda a, b: a + b, Opcode.SUB: lambda a, b: a - b,
                       Opcode.MUL: lambda a, b: a * b, Opcode.MAX: max, Opcode.MIN: min,
                       Opcode.MOV: lambda a, b: a}
                for s in range(ins.r):
                    outs = []
                    for l in range(ins.n):
                        b = elem("b", s, l) if info.reads_b else 0
                        v = wrap(ops[Opcode(ins.opcode)](elem("a", s, l), b) + recs[l][0], cfg.acc_bits)
                        outs.append(post(cfg, v, recs[l][1], recs[l][2], ins, lut))
                    for l in range(ins.n):
                        wr(ins.d_buf, ins.d_base + s * ins.d_rstride + l * ins.d_lstride, ins.d_dtype, outs[l])
        res.schedule.append((t, retire))
        cnt["instructions"] += 1
        e = t + occ
        if ins.opcode == Opcode.EOF:
            cnt["cycles"] = retire + 1
            break
    res.counters = cnt
    return res
