"""The Npu object: frames, state across frames, reset, input checks, results and counters."""
import json

import numpy as np
import pytest

from model_helpers import EOF, Image, config, ew, mac, mov, program, records, sync_in, sync_out
from npu_model.golden.asm import assemble
from npu_model.arch.errors import NpuError
from npu_model.arch.isa import Act, Opcode
from npu_model.golden.machine import FrameResult, Npu
from npu_model.arch.program import Port

WBUF = bytes(Image().put_bytes(0, records((0, 1, 0), (3, 1, 0))))


def accumulator():
    """sbuf[0..7] (int16) += x every frame; y = relu(x + 3) (abuf)."""
    return program([sync_in(0),
                    ew(Opcode.ADD, 8, 1, ("sbuf", "i16", 0, 0, 2), ("abuf", "i8", 0, 0, 1), ("sbuf", "i16", 0, 0, 2)),
                    mov(8, 1, ("abuf", "i8", 0, 0, 1), ("abuf", "i8", 16, 0, 1), p=8, act=Act.RELU),
                    sync_out(0), sync_out(1), EOF],
                   config(), WBUF, bytes(Image().put(0, np.arange(8) * 100, "i16")),
                   inputs=[Port("x", "abuf", 0, "i8", (2, 4))],
                   outputs=[Port("total", "sbuf", 0, "i16", (8,)), Port("y", "abuf", 16, "i8", (2, 4))])


def test_state_persists_across_frames_and_reset_restores_the_images():
    npu = Npu(accumulator())
    xs = np.arange(3 * 8).reshape(3, 2, 4) - 10
    results = npu.run({"x": xs}, 3)
    assert [r.frame for r in results] == [0, 1, 2]
    total = np.arange(8) * 100
    for x, r in zip(xs, results):
        total = total + x.reshape(-1)
        assert r.outputs["total"].tolist() == total.tolist()
        assert r.outputs["total"].dtype == np.int16 and r.outputs["y"].dtype == np.int8
        assert r.outputs["y"].shape == (2, 4)
        assert r.outputs["y"].tolist() == np.maximum(x + 3, 0).tolist()
    npu.reset()
    r = npu.run_frame({"x": xs[0]})
    assert r.frame == 0 and r.outputs["total"].tolist() == (np.arange(8) * 100 + xs[0].reshape(-1)).tolist()


def test_abuf_persists_but_starts_zero():
    prog = program([ew(Opcode.ADD, 2, 1, ("abuf", "i8", 0, 0, 1), ("wbuf", "i8", 8, 0, 1), ("abuf", "i8", 0, 0, 1)),
                    sync_out(0), EOF], config(), WBUF, outputs=[Port("y", "abuf", 0, "i8", (2,))])
    npu = Npu(prog)
    # wbuf[8..9] is the second record's bias bytes: 3, 0
    assert [npu.run_frame().outputs["y"].tolist() for _ in range(3)] == [[3, 0], [6, 0], [9, 0]]


def test_inputs_are_checked():
    npu = Npu(accumulator())
    good = np.zeros((2, 4), np.int64)
    npu.run_frame({"x": good})
    npu.run_frame({"x": good.reshape(-1).tolist()})            # any shape with the right count
    npu.run_frame({"x": good.astype(float)})                   # integral floats are fine
    cases = [({}, "missing input port 'x'"),
             ({"x": np.zeros(7)}, "input 'x': 7 elements, the port holds 8 (i8 2x4)"),
             ({"x": good + 128}, "input 'x': value 128 outside the i8 range -128..127"),
             ({"x": good - 129}, "value -129 outside"),
             ({"x": good + 0.5}, "non-integral"),
             ({"x": np.zeros(8, bool)}, "expected integers"),
             ({"x": good, "z": good}, "unknown input port 'z'")]
    for inputs, text in cases:
        with pytest.raises(NpuError) as exc:
            npu.run_frame(inputs)
        assert text in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(NpuError, match="leading frame axis"):
        npu.run({"x": np.zeros((2, 2, 4))}, 3)


def test_int16_inputs_keep_their_full_range():
    prog = program([sync_in(0), mov(4, 1, ("abuf", "i16", 0, 0, 2), ("abuf", "i16", 64, 0, 2)), EOF], config(), WBUF,
                   inputs=[Port("x", "abuf", 0, "i16", (4,))], outputs=[Port("y", "abuf", 64, "i16", (4,))])
    x = np.array([-32768, -1, 256, 32767])
    assert Npu(prog).run_frame({"x": x}).outputs["y"].tolist() == x.tolist()


def test_stats_and_schedule_shapes():
    npu = Npu(accumulator())
    r = npu.run_frame({"x": np.zeros((2, 4))})
    assert isinstance(r, FrameResult)
    d = r.stats.to_dict()
    json.dumps(d)
    for key in ("cycles", "instructions", "mac_cycles", "macs", "utilisation", "stall_cycles", "conflict_cycles",
                "wbuf_hwm", "abuf_read_bytes", "sbuf_write_bytes"):
        assert key in d
    assert d["instructions"] == 6 and d["macs"] == 0 and d["utilisation"] == 0.0
    s = npu.schedule
    assert len(s.issue) == len(s.retire) == len(s.stall) == 6
    assert s.cycles == d["cycles"] == int(s.retire[-1]) + 1
    assert r.to_dict()["frame"] == 0
    recs = list(s.records(["sync_in", "add", "mov", "sync_out", "sync_out", "eof"]))
    assert recs[1] == {"seq": 1, "pc": 1, "issue": int(s.issue[1]), "retire": int(s.retire[1]), "stall": int(s.stall[1]),
                       "op": "add"}


def test_a_program_from_the_assembler():
    prog = assemble("""
.config lanes=4 abuf_bytes=4096 sbuf_bytes=1024 wbuf_bytes=4096 imem_bytes=4096 lut_entries=512
.input x abuf 0x0 i8 8
.output y abuf 0x100 i16 4
.param 0x0 10 1 0
.param 0x8 -5 3 2
.param 0x10 0 1 0
.param 0x18 7 2 1
.data wbuf 0x40 i8 1 -2 3 4 5 6 7 8 -1 -1 -1 -1 2 2 2 2
sync_in port=0
mac n=4 r=4 a=abuf.i8[0x0+1r] b=wbuf.i8[0x40+4r+1l] d=abuf.i16[0x100+2l] p=0x0+8l act=relu
sync_out port=0
eof
""", source="t.s")
    x = np.array([1, -2, 3, 4, 0, 0, 0, 0])
    w = np.array([1, -2, 3, 4, 5, 6, 7, 8, -1, -1, -1, -1, 2, 2, 2, 2]).reshape(4, 4)
    recs = [(10, 1, 0), (-5, 3, 2), (0, 1, 0), (7, 2, 1)]
    want = []
    for l, (b, m, s) in enumerate(recs):
        acc = b + int(x[:4] @ w[:, l])
        y = acc * m
        y = (y + (1 << (s - 1))) >> s if s else y
        want.append(max(y, 0))
    assert Npu(prog).run_frame({"x": x}).outputs["y"].tolist() == want


def test_many_instructions_load_fast():
    """A 10 k-instruction weight-stationary layer (one batch, one matrix product)."""
    n, r, positions, groups = 8, 16, 200, 50
    wimg = Image().put_bytes(0, records((1, 1, 4))).put(64, np.arange(r * n * groups) % 251 - 125)
    instrs = [mac(n, r, ("abuf", "i8", p * r, 1, 0), ("wbuf", "i8", 64 + g * r * n, n, 1),
                  ("abuf", "i8", 10000 + (p * groups + g) * n, 0, 1), act=Act.RELU)
              for p in range(positions) for g in range(groups)]
    cfg = config(abuf_bytes=1 << 17, wbuf_bytes=1 << 14, imem_bytes=32 * 12000)
    prog = program([sync_in(0)] + instrs + [EOF], cfg, bytes(wimg),
                   inputs=[Port("x", "abuf", 0, "i8", (positions * r,))],
                   outputs=[Port("y", "abuf", 10000, "i8", (positions * groups * n,))])
    npu = Npu(prog)
    x = np.random.default_rng(0).integers(-128, 128, positions * r)
    y = npu.run_frame({"x": x}).outputs["y"].reshape(positions, groups, n).astype(np.int64)
    w = (np.arange(r * n * groups) % 251 - 125).reshape(groups, r, n)
    acc = 1 + np.einsum("ps,gsl->pgl", x.reshape(positions, r), w)
    assert np.array_equal(y, np.clip((acc + 8) >> 4, 0, 127))
