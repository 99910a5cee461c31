"""Random fault-free programs: the model (batched, vectorised) against the element-by-element
reference of model_helpers.py, on every output and on the whole of abuf and sbuf, over frames."""
import numpy as np
import pytest

from model_helpers import EOF, Image, Reference, config, executed, ins, loop, program, records, sync_in, sync_out
from npu_model.golden.analysis import _double_writes, instruction_fault
from npu_model.arch.isa import Act, Opcode, decode_words, encode
from npu_model.golden.machine import Npu
from npu_model.arch.program import Port

EW_OPS = [Opcode.ADD, Opcode.SUB, Opcode.MUL, Opcode.MAX, Opcode.MIN, Opcode.MOV]
SIZES = {"wbuf": 4096, "abuf": 2048, "sbuf": 1024}
N_RECORDS = 48


class Gen:
    def __init__(self, seed, lanes, acc_bits):
        self.rng = np.random.default_rng(seed)
        self.cfg = config(lanes=lanes, wbuf_bytes=SIZES["wbuf"], abuf_bytes=SIZES["abuf"],
                          sbuf_bytes=SIZES["sbuf"], lut_entries=512, acc_bits=acc_bits)
        self.lanes = lanes

    def stride(self, size, zero_ok=True):
        rng = self.rng
        choice = rng.integers(0, 6)
        if choice == 0 and zero_ok:
            return 0
        k = int(rng.choice([1, 1, 2, 3, 5, 8]))
        return int(rng.choice([-1, 1])) * k * size

    def place(self, buf, dt, steps, lanes, rs, ls, align_base=True):
        size = 2 if dt == "i16" else 1
        span_lo = min(0, (steps - 1) * rs) + min(0, (lanes - 1) * ls)
        span_hi = max(0, (steps - 1) * rs) + max(0, (lanes - 1) * ls) + size - 1
        lo_base, hi_base = -span_lo, SIZES[buf] - 1 - span_hi
        if hi_base < lo_base:
            return None
        base = int(self.rng.integers(lo_base, hi_base + 1))
        if size == 2:
            base -= base % 2
            if base < lo_base:
                base += 2
            if base > hi_base:
                return None
        return (buf, dt, base, rs, ls)

    def src(self, steps, lanes, bufs=("abuf", "sbuf", "wbuf")):
        dt = str(self.rng.choice(["i8", "i16"]))
        size = 2 if dt == "i16" else 1
        buf = str(self.rng.choice(bufs))
        return self.place(buf, dt, steps, lanes, self.stride(size), self.stride(size))

    def dst(self, steps, lanes, ew):
        dt = str(self.rng.choice(["i8", "i16"]))
        size = 2 if dt == "i16" else 1
        ls = self.stride(size, zero_ok=False)
        rs = self.stride(size, zero_ok=False) if ew else 0
        if ew and self.rng.random() < 0.6:             # a dense (step, lane) grid, either order
            if self.rng.random() < 0.5:
                ls, rs = size * int(self.rng.choice([-1, 1])), lanes * size * int(self.rng.choice([-1, 1]))
            else:
                rs, ls = size * int(self.rng.choice([-1, 1])), steps * size * int(self.rng.choice([-1, 1]))
        buf = str(self.rng.choice(["abuf", "sbuf"]))
        return self.place(buf, dt, steps if ew else 1, lanes, rs, ls)

    def common(self, n):
        rng = self.rng
        p = 8 * int(rng.integers(0, N_RECORDS - n + 1))
        kw = dict(p=p, p_vec=int(rng.random() < 0.5))
        u = rng.random()
        if u < 0.3:
            kw["act"] = Act.RELU
        elif u < 0.5:
            k = int(rng.integers(1, 9))
            kw["lut"] = (int(rng.integers(0, 512 - (1 << k) + 1)), k)
        return kw

    def ok(self, i):
        word = np.frombuffer(encode(i), np.uint8)[None]
        if instruction_fault(i, 0, self.cfg) is not None:
            return False
        f = decode_words(word)
        return not len(_double_writes(f, np.array([i.opcode in [int(o) for o in EW_OPS]])))

    def random_instruction(self):
        rng = self.rng
        for _ in range(200):
            n = int(rng.integers(1, self.lanes + 1))
            r = int(rng.integers(1, 10))
            if rng.random() < 0.5:
                a, b, d = self.src(r, n), self.src(r, n), self.dst(r, n, False)
                if None in (a, b, d):
                    continue
                extra = {}
                if rng.random() < 0.25:
                    extra["acc_in"] = 1
                if rng.random() < 0.2:
                    extra["acc_out"] = 1
                i = ins(Opcode.MAC, n, r, a, b, d, **self.common(n), **extra)
            else:
                op = EW_OPS[int(rng.integers(0, len(EW_OPS)))]
                a = self.src(r, n)
                b = self.src(r, n) if op != Opcode.MOV else None
                d = self.dst(r, n, True)
                if a is None or d is None or (op != Opcode.MOV and b is None):
                    continue
                if rng.random() < 0.2 and a[0] != "wbuf" and a[1] == d[1]:
                    d = a                                       # in-place update
                i = ins(op, n, r, a, b, d, **self.common(n))
            if self.ok(i):
                return i
        raise AssertionError("generator stuck")

    def pointwise_block(self):
        """A weight-stationary layer: P positions x G output groups, activation broadcast."""
        rng = self.rng
        n = self.lanes
        r = int(rng.integers(2, 12))
        positions = int(rng.integers(2, 6))
        groups = int(rng.integers(1, 4))
        xbase = int(rng.integers(0, 200))
        wbase = 400 + int(rng.integers(0, 200))
        obase = 1024 + int(rng.integers(0, 200))
        out = []
        order = [(p, g) for p in range(positions) for g in range(groups)]
        if rng.random() < 0.5:
            order = [(p, g) for g in range(groups) for p in range(positions)]
        for p, g in order:
            out.append(ins(Opcode.MAC, n, r, ("abuf", "i8", xbase + p * r, 1, 0),
                           ("wbuf", "i8", wbase + g * r * n, n, 1),
                           ("abuf", "i8", obase + p * groups * n + g * n, 0, 1), **self.common(n)))
        return out

    def gemv_chain(self):
        """Hold + continue chains (GRU gate style), sometimes interleaved with other MACs."""
        rng = self.rng
        n = self.lanes
        r1, r2 = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        out = []
        for g in range(int(rng.integers(1, 3))):
            first = ins(Opcode.MAC, n, r1, ("abuf", "i8", int(rng.integers(0, 100)), 1, 0),
                        ("wbuf", "i16", 1000 + 2 * g * r1 * n, 2 * n, 2), ("abuf", "i8", 1500, 0, 1),
                        **self.common(n), acc_out=1)
            m = int(rng.integers(1, n + 1))
            second = ins(Opcode.MAC, m, r2, ("sbuf", "i16", 2 * int(rng.integers(0, 100)), 2, 0),
                         ("wbuf", "i8", 2000 + g * r2 * n, n, 1), ("abuf", "i16", 1600 + 32 * g, 0, 2),
                         **self.common(m), acc_in=1)
            out += [first, second]
        return out

    def increments(self):
        """Per-iteration increments of A, B, D (small, either sign, often 0) and of the record."""
        rng = self.rng
        pick = lambda: int(rng.choice([0, 0, 1, -1, 2, -2, 4, 8, -8, 16, 48]))  # noqa: E731
        return dict(a=pick(), b=pick(), d=pick(), p=8 * int(rng.choice([0, 0, 1, -1, 2])))

    def loop_block(self):
        """Random instructions inside a hardware loop, sometimes two deep (with an instruction of
        the outer body before the inner loop), every iteration a legal instruction."""
        rng = self.rng
        for _ in range(100):
            inner = [self.random_instruction() for _ in range(int(rng.integers(1, 3)))]
            block = [loop(int(rng.integers(2, 5)), len(inner), **self.increments())] + inner
            if rng.random() < 0.4:
                before = [self.random_instruction()] if rng.random() < 0.5 else []
                block = [loop(int(rng.integers(2, 4)), len(before) + len(block), **self.increments())] + before + block
            if all(self.ok(i) for _, i in executed(block) if i.opcode != Opcode.LOOP):
                return block
        raise AssertionError("loop generator stuck")

    def make(self, count):
        rng = self.rng
        body = []
        while len(body) < count:
            u = rng.random()
            if u < 0.15:
                body += self.pointwise_block()
            elif u < 0.25:
                body += self.gemv_chain()
            elif u < 0.3:
                body.append(sync_out(0))
            elif u < 0.45:
                body += self.loop_block()
            else:
                body.append(self.random_instruction())
        assert all(self.ok(i) for _, i in executed(body) if i.opcode not in (Opcode.SYNC_OUT, Opcode.LOOP))
        recs = []
        for _ in range(N_RECORDS):
            shift = int(rng.choice([0, 0, 1, 3, 7, 12, 63, 64 + 5, 128 + 2]))
            recs.append((int(rng.integers(-3000, 3000)), int(rng.integers(-600, 600)), shift))
        w = Image(SIZES["wbuf"]).put_bytes(0, records(*recs))
        w.put(N_RECORDS * 8, rng.integers(-128, 128, SIZES["wbuf"] - N_RECORDS * 8), "i8")
        s = Image(SIZES["sbuf"]).put(0, rng.integers(-128, 128, SIZES["sbuf"]), "i8")
        lut = rng.integers(-32768, 32768, 512)
        inputs = [Port("x", "abuf", 0, "i16", (64,)), Port("z", "sbuf", 512, "i8", (32,))]
        outputs = [Port("y", "abuf", 0, "i8", (SIZES["abuf"],))]
        return program([sync_in(0), sync_in(1)] + body + [EOF], self.cfg, bytes(w), bytes(s), lut,
                       inputs, outputs)


@pytest.mark.parametrize("seed, lanes, acc_bits", [(1, 8, 32), (2, 4, 16), (3, 1, 24), (4, 16, 48),
                                                  (5, 8, 20), (6, 2, 32), (7, 8, 16), (8, 16, 32)])
def test_random_programs_match_the_reference(seed, lanes, acc_bits):
    gen = Gen(seed, lanes, acc_bits)
    prog = gen.make(120)
    npu = Npu(prog)
    ref = Reference(prog)
    rng = np.random.default_rng(seed + 100)
    for frame in range(2):
        inputs = {"x": rng.integers(-32768, 32768, 64), "z": rng.integers(-128, 128, 32)}
        got = npu.run_frame(inputs)
        want = ref.run_frame(inputs)
        assert np.array_equal(got.outputs["y"], want["y"]), f"frame {frame}: abuf differs"
        assert npu.buffer("sbuf").tobytes() == bytes(ref.mem["sbuf"]), f"frame {frame}: sbuf differs"
        assert npu.buffer("abuf").tobytes() == bytes(ref.mem["abuf"])
        assert npu.buffer("wbuf").tobytes() == bytes(ref.mem["wbuf"])
