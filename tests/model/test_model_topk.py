"""The top-k unit, indexed loops and `dot` in the golden model (docs/isa.md `topk`, `dot`,
"Indexed loops"): a D-GRU-like gather / reduce / scatter against the element-by-element
reference of model_helpers, the widened footprints, the fences and the loader's rules."""
import numpy as np
import pytest

from model_helpers import EOF, Image, Reference, config, ins, loop, mov, program, records, sync_in, sync_out
from npu_model.arch.errors import NpuFault, ProgramFormatError
from npu_model.arch.isa import Opcode
from npu_model.arch.program import Port
from npu_model.arch.timing import PIPELINE_LATENCY
from npu_model.golden.machine import Npu

CFG = config(lanes=4, topk_entries=8)
H, K = 8, 3
#: records: 0 topk (mult -1: the smallest z first), 0x40 + 8j one per weight row j, 0x100 a plain copy
REC = records((0, -1, 0)) + bytes(0x38) + records(*[(100 * j - 300, 3, 4) for j in range(H)])
WBUF = bytes(Image(0x200).put_bytes(0, REC).put_bytes(0x100, records((0, 1, 0))))
rng = np.random.default_rng(7)
WEIGHTS = rng.integers(-128, 128, (H, 8))
WBUF = bytes(Image(0x400).put_bytes(0, WBUF).put(0x200, WEIGHTS.reshape(-1)))
IO = dict(inputs=[Port("z", "abuf", 0x0, "i16", (H,)), Port("h", "abuf", 0x40, "i16", (8,))],
          outputs=[Port("rows", "abuf", 0x80, "i16", (K,)), Port("state", "sbuf", 0x0, "i16", (H,))])


def topk(r=H, a=("abuf", "i16", 0x0, 2, 0), n=1, **kw):
    return ins(Opcode.TOPK, n, r, a, p=0, d_dtype=1, **kw)


def dot(a=("abuf", "i16", 0x40, 8, 2), b=("wbuf", "i8", 0x200, 4, 1), d=("abuf", "i16", 0x80, 0, 0), p=0x40):
    return ins(Opcode.DOT, 4, 2, a, b, d, p)


def dgru_like(k=K):
    """z -> topk; for the k selected rows j: rows[i] = dot(h, W[j]) with record j (indexed b, p);
    state[j] = rows[i] (indexed d: the scatter)."""
    return [sync_in(0), topk(),
            loop(k, 1, b=8, d=2, p=8, idx=0b1010), dot(),
            loop(k, 1, a=2, d=2, idx=0b0100), mov(1, 1, ("abuf", "i16", 0x80, 0, 0), ("sbuf", "i16", 0x0, 0, 0), p=0x100),
            sync_out(0), EOF]


def frames(n):
    z = rng.integers(0, 4, (n, H)).astype(np.int16)            # many ties: the smaller step wins
    h = rng.integers(-3000, 3000, (n, 8)).astype(np.int16)
    return [{"z": z[i], "h": h[i]} for i in range(n)]


def test_gather_reduce_scatter_matches_the_reference():
    prog = program(dgru_like(), CFG, WBUF, **IO)
    npu, ref = Npu(prog), Reference(prog)
    for inputs in frames(6):
        got, want = npu.run_frame(inputs).outputs, ref.run_frame(inputs)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
        # and by hand: the K smallest z (ties: smaller step), their rows, requantised
        sel = np.lexsort((np.arange(H), inputs["z"].astype(int)))[:K]
        acc = WEIGHTS[sel].astype(int) @ inputs["h"].astype(int) + 100 * sel - 300
        want_rows = np.clip((acc * 3 + 8) >> 4, -32768, 32767)
        np.testing.assert_array_equal(got["rows"], want_rows)


def test_dot_sums_the_lanes_once_with_one_bias():
    prog = program([sync_in(0), dot(p=0x40 + 8 * 5), sync_out(0), EOF], CFG, WBUF, **IO)
    h = np.arange(8, dtype=np.int16) * 100
    out = Npu(prog).run_frame({"z": np.zeros(H, np.int16), "h": h}).outputs["rows"]
    acc = int(WEIGHTS[0] @ h.astype(int)) + 200
    assert out[0] == (acc * 3 + 8) >> 4


def test_an_indexed_footprint_covers_every_index_the_topk_can_give():
    an = Npu(program(dgru_like(), CFG, WBUF, **IO)).analysis
    movs = np.flatnonzero(an.opcode == Opcode.MOV)
    d = an.operands["d"]
    # indices < r = 8 of the topk: the scatter may write any of state[0..7]
    assert (d["lo"][movs] == 0).all() and (d["hi"][movs] == 2 * H - 1).all()
    dots = np.flatnonzero(an.is_dot)
    b = an.operands["b"]
    assert (b["lo"][dots] == 0x200).all() and (b["hi"][dots] == 0x200 + 8 * (H - 1) + 7).all()
    assert (an.p_hi[dots] == 0x40 + 8 * H - 1).all()


def test_a_footprint_leaving_the_buffer_for_some_index_faults_whatever_is_selected():
    code = dgru_like()
    code[-3] = mov(1, 1, ("abuf", "i16", 0x80, 0, 0), ("sbuf", "i16", 2048 - 8, 0, 0), p=0x100)
    with pytest.raises(NpuFault) as exc:
        Npu(program(code, CFG, WBUF, **IO))
    assert exc.value.code == 3 and "over the indices of the indexed loop" in exc.value.reason


def test_topk_and_an_indexed_loop_are_fences():
    npu = Npu(program(dgru_like(), CFG, WBUF, **IO))
    s, an = npu.schedule, npu.analysis
    k_topk = int(np.flatnonzero(an.is_topk)[0])
    assert s.occupancy[k_topk] == H                            # one value per cycle
    loops = np.flatnonzero(an.opcode == Opcode.LOOP)
    assert s.issue[loops[0]] == s.retire[k_topk] + 1           # waits for the topk to retire
    assert s.issue[loops[1]] == s.retire[:loops[1]].max() + 1  # and for the dots
    assert s.retire[k_topk] == s.issue[k_topk] + H - 1 + PIPELINE_LATENCY


@pytest.mark.parametrize("code, text", [
    ([sync_in(0), topk(), loop(9, 1, b=8, idx=0b0010), dot(), sync_out(0), EOF], "9 iterations"),
    ([sync_in(0), loop(2, 2, b=8, idx=0b0010), topk(), dot(), sync_out(0), EOF], "topk inside the body"),
    ([sync_in(0), topk(), loop(2, 2, b=8, idx=0b0010), loop(2, 1, b=8, idx=0b0010), dot(), sync_out(0), EOF],
     "indexed loops do not nest"),
])
def test_the_loader_rejects_misused_indexed_loops(code, text):
    with pytest.raises(ProgramFormatError, match=text):
        Npu(program(code, CFG, WBUF, **IO))


@pytest.mark.parametrize("cfg, instr, text", [
    (CFG, topk(n=2, a=("abuf", "i16", 0x0, 4, 2)), "topk with n = 2"),
    (config(lanes=4), topk(), "topk_entries = 0"),
])
def test_illegal_topk(cfg, instr, text):
    with pytest.raises(NpuFault) as exc:
        Npu(program([sync_in(0), instr, sync_out(0), EOF], cfg, WBUF, **IO))
    assert exc.value.code == 1 and text in exc.value.reason


def _add(a, b, d, p=0x100):
    return ins(Opcode.ADD, 1, 1, a, b, d, p)


BODIES = {
    # iterations that read what an earlier instruction of their own iteration wrote: one by one
    "dependent": [sync_in(0), topk(),
                  loop(K, 2, b=8, d=2, p=8, idx=0b1010), dot(),
                  _add(("abuf", "i16", 0x80, 0, 0), ("abuf", "i16", 0x40, 0, 0), ("sbuf", "i16", 0x0, 0, 0)),
                  sync_out(0), EOF],
    # a dot holding its lanes' sums for the next (ACC across instructions)
    "chained": [sync_in(0), topk(),
                loop(K, 2, b=8, d=2, p=8, idx=0b1010),
                ins(Opcode.DOT, 4, 1, ("abuf", "i16", 0x40, 8, 2), ("wbuf", "i8", 0x200, 4, 1), ("abuf", "i16", 0x80, 0, 0),
                    p=0x40, acc_out=1),
                ins(Opcode.DOT, 4, 1, ("abuf", "i16", 0x48, 8, 2), ("wbuf", "i8", 0x204, 4, 1), ("abuf", "i16", 0x80, 0, 0),
                    p=0x40, acc_in=1),
                sync_out(0), EOF],
    # more iterations than the topk had steps: the registers past r are 0, the scatter writes
    # neuron 0 several times and the last iteration wins
    "repeated": [sync_in(0), topk(r=3),
                 loop(6, 1, a=2, d=2, idx=0b0100), mov(1, 1, ("abuf", "i16", 0x40, 0, 0), ("sbuf", "i16", 0x0, 0, 0),
                                                         p=0x100),
                 sync_out(0), EOF],
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_indexed_bodies_match_the_reference(name):
    prog = program(BODIES[name], CFG, WBUF, **IO)
    npu, ref = Npu(prog), Reference(prog)
    for inputs in frames(4):
        got, want = npu.run_frame(inputs).outputs, ref.run_frame(inputs)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key}")
