"""Hand-written programs for the cosimulation tests, assembled with `npu_model.golden.asm`.

`opcode_program(lanes)` uses every opcode and the features around them: int8 and int16
operands, per-lane (`p_vec`) and shared parameter records, act = relu, lut and rsqrt, `b_exp`, accumulator
chaining (`acc_out=1` then `acc_in=1`), a MAC on fewer lanes than the NPU has, broadcast lane
strides, negative strides, read-after-write hazards (stalls), A and B in one buffer (port
conflicts), fences (`sync_in`, `sync_out`, `eof`), hardware loops two deep (addresses advanced
by both levels, a body ending where the loop around it ends), D-GRU's select gate (`topk`, an
indexed loop of `dot`s over the selected rows, an indexed scatter), and state in sbuf updated in
place so that frames depend on each other. `fault_program(kind)` is a short program whose pc 3 faults;
`loop_fault_program()` faults in the third iteration of a loop.
"""
from __future__ import annotations

import random

import numpy as np

from npu_model.golden.asm import assemble
from npu_model.arch.config import NpuConfig

__all__ = ["opcode_program", "opcode_inputs", "fault_program", "loop_fault_program", "FAULTS"]


def _values(rng, count, lo, hi):
    return " ".join(str(rng.randint(lo, hi)) for _ in range(count))


def opcode_program(lanes: int, seed: int = 7, org: str = "lane"):
    L = lanes
    h = max(1, L // 2)
    rng = random.Random(seed + L)
    lines = [
        "# every opcode; see tests/cosim/cosim_programs.py",
        ".input  x     abuf 0x000 i8  64",
        ".input  xw    abuf 0x040 i16 32",
        ".output res   abuf 0x400 i8  1024",
        ".output state sbuf 0x000 i16 " + str(L),
        ".output dots  abuf 0xb00 i16 3",
        ".output picked sbuf 0x400 i16 8",
        ".param 0x18 0 -1 0",
        ".param 0x0 0 1 0",
        ".param 0x8 3 5 2",
        ".param 0x10 -7 3 1",
    ]
    for lane in range(L):
        lines.append(f".param {0x100 + 8 * lane:#x} {lane * 7 - 20} {3 + lane} 4")
    for row in range(8):
        lines.append(f".param {0x200 + 8 * row:#x} {row * 50 - 200} {2 + row} 6")
    lines += [
        f".data wbuf 0x1000 i8 {_values(rng, 64 * L, -128, 127)}",
        f".data wbuf 0x3000 i16 {_values(rng, 32 * L, -3000, 3000)}",
        f".data sbuf 0x100 i16 {_values(rng, L, -500, 500)}",
        f".lut 0 {_values(rng, 256, -32768, 32767)}",
        f".lut 256 {_values(rng, 16, -128, 127)}",
        f".lut 512 {_values(rng, 256, 0, 4095)}",
        "sync_in port=0",
        "nop",
        "sync_in port=1",
        # GEMV: activation broadcast (lstride 0), weights across lanes, per-lane records, relu.
        f"mac n={L} r=64 a=abuf.i8[0x0+1r] b=wbuf.i8[0x1000+{L}r+1l] d=abuf.i8[0x400+1l] p=0x100+8l act=relu",
        # Reads the MAC's result right away (hazard: stalls), A and B both in abuf (conflict).
        f"add n={L} r=1 a=abuf.i8[0x400+1l] b=abuf.i8[0x400+1l] d=abuf.i16[0x500+2l] p=0x8",
        # Accumulator chaining: int16 x int16 held, then continued with int8 x int8 and a LUT.
        f"mac n={L} r=32 a=abuf.i16[0x40+2r] b=wbuf.i16[0x3000+{2 * L}r+2l] d=abuf.i16[0x540+2l] p=0x8 acc_out=1",
        f"mac n={L} r=16 a=abuf.i8[0x0+1r] b=wbuf.i8[0x1000+{L}r+1l] d=abuf.i16[0x540+2l] p=0x8 acc_in=1 act=lut(0,8)",
        # Element-wise ops over several steps.
        f"sub n={L} r=2 a=abuf.i16[0x500+2l] b=abuf.i16[0x40+2r+2l] d=abuf.i16[0x580+{2 * L}r+2l] p=0x10",
        f"mul n={L} r=3 a=abuf.i8[0x0+{L}r+1l] b=abuf.i8[0x20+1l] d=abuf.i8[0x600+{L}r+1l] p=0x8",
        f"max n={L} r=2 a=abuf.i16[0x40+{2 * L}r+2l] b=sbuf.i16[0x100+2l] d=abuf.i16[0x640+{2 * L}r+2l] p=0x10 act=relu",
        f"min n={L} r=1 a=abuf.i8[0x400+1l] b=wbuf.i8[0x1000+1l] d=abuf.i8[0x6c0+1l] p=0x100+8l",
        # mov: broadcast source, int16 -> int8 through a small LUT; negative step stride, relu.
        f"mov n={h} r=4 a=abuf.i16[0x40+2r] d=abuf.i8[0x700+{h}r+1l] p=0x10 act=lut(256,4)",
        f"mov n={L} r=2 a=abuf.i8[0x410-{L}r+1l] d=sbuf.i16[0x200+{2 * L}r+2l] p=0x8 act=relu",
        # A MAC on fewer lanes, weight broadcast (B lstride 0); then one chained onto it.
        f"mac n={h} r=8 a=abuf.i8[0x0+1r+1l] b=wbuf.i8[0x1000+1r] d=abuf.i8[0x780+1l] p=0x100+8l acc_out=1",
        f"mac n={h} r=2 a=abuf.i8[0x600+1r+1l] b=abuf.i8[0x610+1r] d=abuf.i8[0x790+1l] p=0x100+8l acc_in=1",
        # Hardware loops: 3 positions (outer), each a copy and 2 weight blocks of a GEMV (inner,
        # ending with the outer body); every instance reads what the one before wrote (hazards).
        f"loop count=3 body=3 a_inc=8 d_inc={3 * L}",
        f"mov n={L} r=1 a=abuf.i8[0x0+1l] d=abuf.i8[0x800+1l] p=0x8",
        f"loop count=2 body=1 b_inc={8 * L} d_inc={L} p_inc=0",
        f"mac n={L} r=8 a=abuf.i8[0x0+1r] b=wbuf.i8[0x1000+{L}r+1l] d=abuf.i8[{0x800 + L:#x}+1l] p=0x100+8l act=relu",
        # Bank conflicts: lanes 16 bytes apart (lane groups of the reads and writes), and a MAC
        # whose destination lanes are 32 bytes apart (written in groups after its last step).
        f"mov n={L} r=2 a=abuf.i16[0x40+2r+16l] d=sbuf.i16[0x300+{2 * L}r+2l] p=0x8 act=relu",
        f"mac n={L} r=4 a=abuf.i8[0x0+1r] b=wbuf.i8[0x1000+{L}r+1l] d=abuf.i16[0xa00+32l] p=0x100+8l",
        # Block-float scales: a reciprocal square root of the sums of squares (act=rsqrt), then a
        # product with them (b_exp: the mantissa multiplies, the exponent lengthens the shift).
        f"mac n={L} r=32 a=abuf.i16[0x40+2r] b=wbuf.i16[0x3000+{2 * L}r+2l] d=abuf.i16[0x7a0+2l] p=0x100+8l "
        "act=rsqrt(512,8)",
        f"mul n={L} r=1 a=abuf.i16[0x40+2l] b=abuf.i16[0x7a0+2l] d=abuf.i16[0x7c0+2l] p=0x100+8l b_exp=1",
        # D-GRU: the 3 smallest of 8 values (a record with mult -1), a dot over each selected
        # weight row with its record (indexed B and p; results one after the other), and the
        # results scattered to the selected elements of sbuf (indexed D).
        "topk n=1 r=8 a=abuf.i16[0x40+2r] p=0x18 d_dtype=1",
        f"loop count=3 body=1 b_inc={2 * L} d_inc=2 p_inc=8 idx=10",
        f"dot n={L} r=2 a=abuf.i16[0x40+{2 * L}r+2l] b=wbuf.i8[0x1000+{L}r+1l] d=abuf.i16[0xb00] p=0x200",
        "loop count=3 body=1 a_inc=2 d_inc=2 idx=4",
        "mov n=1 r=1 a=abuf.i16[0xb00] d=sbuf.i16[0x400] p=0x8",
        "sync_out port=0",
        # State carried to the next frame, updated in place.
        f"add n={L} r=1 a=sbuf.i16[0x0+2l] b=abuf.i8[0x400+1l] d=sbuf.i16[0x0+2l] p=0x0",
        "sync_out port=1",
        "eof",
    ]
    config = NpuConfig(lanes=L, wbuf_org=org, abuf_org=org, sbuf_org=org, topk_entries=8)
    return assemble("\n".join(lines), source=f"opcodes_l{L}", config=config)


def opcode_inputs(frames: int, seed: int = 11) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.integers(-128, 128, (frames, 64), dtype=np.int64).astype(np.int8),
            "xw": rng.integers(-2000, 2000, (frames, 32), dtype=np.int64).astype(np.int16)}


#: A faulting instruction at pc 3 per fault code (docs/isa.md "Faults").
FAULTS = {
    1: "mov n=1 r=1 a=abuf.i8[0x0] d=abuf.i8[0x10] p=0x0 act=lut(0,15)",            # illegal: lut_log2 > 14
    2: "add n=2 r=1 a=abuf.i8[0x0+1l] b=sbuf.i8[0x0+1l] d=wbuf.i8[0x0+1l] p=0x0",   # write_protect
    3: "mov n=2 r=4 a=abuf.i16[0x3fffc+2r+2l] d=abuf.i16[0x100+4r+2l] p=0x0",       # address: past abuf
    4: "mov n=1 r=1 a=abuf.i8[0x0] d=abuf.i8[0x10] p=0x0 act=lut(4090,4)",          # lut_range
    5: "add n=2 r=2 a=abuf.i8[0x0+2r+1l] b=sbuf.i8[0x0+1l] d=abuf.i8[0x1+2r+1l] p=0x0",  # overlap
}


def fault_program(code: int, lanes: int = 4):
    lines = [".input x abuf 0x0 i8 16", ".output y abuf 0x20 i8 4", ".param 0x0 1 3 1",
             "sync_in port=0",
             "mac n=2 r=4 a=abuf.i8[0x0+1r] b=abuf.i8[0x8+1r+1l] d=abuf.i8[0x20+1l] p=0x0",  # in flight at the fault
             "nop",
             FAULTS[code],
             "sync_out port=0",
             "eof"]
    return assemble("\n".join(lines), source=f"fault{code}", config=NpuConfig(lanes=lanes))


def loop_fault_program(lanes: int = 4):
    """A copy inside a loop whose source advances 0x18000 bytes per iteration: the fourth
    iteration reads past the 256 KiB abuf (fault 3 at pc 4, instance 10)."""
    lines = [".input x abuf 0x0 i8 16", ".output y abuf 0x20 i8 4", ".param 0x0 1 3 1",
             "sync_in port=0",
             "mac n=2 r=4 a=abuf.i8[0x0+1r] b=abuf.i8[0x8+1r+1l] d=abuf.i8[0x20+1l] p=0x0",
             "loop count=5 body=2 a_inc=0x18000",
             "nop",
             "mov n=2 r=1 a=abuf.i8[0x10+1l] d=abuf.i8[0x30+1l] p=0x0",
             "sync_out port=0",
             "eof"]
    return assemble("\n".join(lines), source="loop_fault", config=NpuConfig(lanes=lanes))
