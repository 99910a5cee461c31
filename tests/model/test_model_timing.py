"""Timing on hand-written programs; every expected cycle is derived here from docs/timing.md.

F = FETCH_LATENCY, P = PIPELINE_LATENCY, K = PORT_CONFLICT_FACTOR. Rules used (numbers as in the
doc): (1) occ = 1 for control, r*k for compute; (2) e(i) = t(i-1) + occ(i-1), e(0) = F;
(3) RAW: h = retire(j) + 1 over earlier writers j whose destination meets A or B; (4) fences
wait for every earlier instruction; (5) t = max(e, h); (6) retire = t + occ - 1 + P for
compute, t for control; (7) cycles = retire(eof) + 1."""
import json

import numpy as np

from model_helpers import EOF, NOP, Image, config, ew, mac, mov, program, records, sync_in, sync_out
from npu_model.arch.isa import Opcode
from npu_model.golden.machine import Npu
from npu_model.arch.program import Port
from npu_model.arch.timing import FETCH_LATENCY as F, PIPELINE_LATENCY as P, PORT_CONFLICT_FACTOR as K

WBUF = bytes(Image().put_bytes(0, records(*[(0, 1, 0)] * 16)).put(256, np.arange(64) - 32))


def sched(instrs, **kw):
    kw.setdefault("wbuf", WBUF)
    return Npu(program(instrs, config(), **kw)).schedule


def pw(r, d_base, a_base=0, n=8, **kw):
    """A pointwise MAC: A abuf i8 broadcast at a_base, B wbuf, D abuf i8 at d_base (n bytes)."""
    return mac(n, r, ("abuf", "i8", a_base, 1, 0), ("wbuf", "i8", 256, 0, 1), ("abuf", "i8", d_base, 0, 1), **kw)


def test_back_to_back_issue_without_hazards():
    s = sched([pw(5, 1000), pw(3, 1100), EOF])
    assert s.issue.tolist() == [F, F + 5, F + 5 + 3 + P]           # eof waits (fence) for pc 1
    assert s.retire.tolist() == [F + 5 - 1 + P, F + 5 + 3 - 1 + P, F + 8 + P]
    assert s.stall.tolist() == [0, 0, P]
    assert s.stats.cycles == F + 8 + P + 1
    assert s.stats.stall_cycles == P


def test_nop_takes_one_issue_cycle_and_control_retires_at_issue():
    s = sched([NOP, NOP, NOP, EOF])
    assert s.issue.tolist() == [F, F + 1, F + 2, F + 3]
    assert s.retire.tolist() == s.issue.tolist()
    assert s.stats.cycles == F + 4 and s.stats.stall_cycles == 0


def test_read_after_write_stalls_until_the_writer_retired():
    # pc 0 writes abuf[100..107]; pc 1 reads abuf[100..103]
    s = sched([pw(6, 100), mov(4, 1, ("abuf", "i8", 100, 0, 1), ("abuf", "i8", 200, 0, 1)), EOF])
    retire0 = F + 6 - 1 + P
    assert s.issue[1] == retire0 + 1
    assert s.stall[1] == retire0 + 1 - (F + 6) == P
    assert s.retire[1] == retire0 + 1 + 1 - 1 + P


def test_no_stall_when_footprints_only_touch():
    # D of pc 0 is abuf[100..107]; pc 1 reads abuf[108..111]: no overlap, no stall
    s = sched([pw(6, 100), mov(4, 1, ("abuf", "i8", 108, 0, 1), ("abuf", "i8", 200, 0, 1)), EOF])
    assert s.stall[1] == 0 and s.issue[1] == F + 6
    # reading byte 107 (the last written) does stall
    s = sched([pw(6, 100), mov(4, 1, ("abuf", "i8", 104, 1, 1), ("abuf", "i8", 200, 0, 1)), EOF])
    assert s.stall[1] == P
    # the same addresses in another buffer do not
    s = sched([pw(6, 100), mov(4, 1, ("sbuf", "i8", 100, 0, 1), ("abuf", "i8", 200, 0, 1)), EOF])
    assert s.stall[1] == 0


def test_hazard_through_operand_b_and_from_two_instructions_back():
    s = sched([pw(1, 100), pw(1, 300),
               ew(Opcode.ADD, 4, 1, ("sbuf", "i8", 0, 0, 1), ("abuf", "i8", 104, 0, 1), ("sbuf", "i8", 8, 0, 1)),
               EOF])
    # pc 0: t=F, retire F+P; pc 1: t=F+1; pc 2: e=F+2, h=F+P+1 -> stall P-1
    assert s.issue.tolist()[:3] == [F, F + 1, F + P + 1]
    assert s.stall[2] == P - 1


def test_a_writer_long_gone_causes_no_stall():
    # P control instructions between writer and reader: e = retire + 1 exactly
    s = sched([pw(1, 100)] + [NOP] * P + [mov(1, 1, ("abuf", "i8", 100, 0, 0), ("abuf", "i8", 200, 0, 1)), EOF])
    assert s.stall[P + 1] == 0 and s.issue[P + 1] == F + 1 + P


def test_element_wise_hazard_waits_for_the_last_step():
    s = sched([ew(Opcode.SUB, 2, 5, ("abuf", "i8", 0, 2, 1), ("sbuf", "i8", 0, 2, 1), ("abuf", "i8", 500, 2, 1)),
               mov(1, 1, ("abuf", "i8", 500, 0, 0), ("abuf", "i8", 600, 0, 1)), EOF])
    retire0 = F + 5 - 1 + P
    assert s.retire[0] == retire0 and s.issue[1] == retire0 + 1


def test_port_conflict_doubles_the_steps_and_is_counted():
    r = 7
    s = sched([mac(8, r, ("abuf", "i8", 0, 1, 0), ("abuf", "i8", 64, 8, 1), ("abuf", "i8", 1000, 0, 1)),
               mac(8, r, ("abuf", "i8", 0, 1, 0), ("sbuf", "i8", 64, 8, 1), ("abuf", "i8", 1100, 0, 1)),
               mov(8, r, ("abuf", "i8", 0, 8, 1), ("abuf", "i8", 1200, 8, 1)),       # mov reads A only
               EOF])
    assert s.occupancy.tolist() == [K * r, r, r, 1]
    assert s.port_factor.tolist() == [K, 1, 1, 1]
    assert s.issue.tolist()[:3] == [F, F + K * r, F + K * r + r]
    assert s.stats.conflict_cycles == (K - 1) * r


def test_fences_wait_for_everything_before_them():
    s = sched([sync_in(0), pw(10, 100), NOP, sync_out(0), pw(2, 200), EOF],
              inputs=[Port("x", "abuf", 0, "i8", (16,))], outputs=[Port("y", "abuf", 100, "i8", (8,))])
    t = s.issue.tolist()
    assert t[0] == F and s.retire[0] == F                      # sync_in at frame start: nothing to wait for
    assert t[1] == F + 1 and t[2] == F + 11
    retire1 = F + 1 + 10 - 1 + P
    assert t[3] == retire1 + 1 and s.stall[3] == retire1 + 1 - (F + 12)
    assert t[4] == t[3] + 1                                     # the fence itself retires at issue
    assert t[5] == t[4] + 2 - 1 + P + 1
    assert s.stats.cycles == t[5] + 1


def test_holding_mac_causes_no_hazard_but_fences_wait_for_it():
    hold = pw(9, 100, acc_out=1)
    s = sched([hold, mov(4, 1, ("abuf", "i8", 100, 0, 1), ("abuf", "i8", 200, 0, 1)), EOF])
    assert s.stall[1] == 0                                      # the hold wrote nothing
    assert s.retire[0] == F + 9 - 1 + P                         # but retires like any MAC
    s = sched([hold, EOF])
    assert s.issue[1] == F + 9 - 1 + P + 1


def test_counters_of_a_small_program():
    instrs = [
        sync_in(0),
        # 16 bytes of A (broadcast), 128 bytes of B, 8 records; writes abuf[0x200..0x20f]
        mac(8, 16, ("abuf", "i8", 0x0, 1, 0), ("wbuf", "i8", 0x100, 8, 1), ("abuf", "i16", 0x200, 0, 2), p=0, p_vec=1),
        # reads abuf[0x200..0x217] (hazard), sbuf[0x10..0x1b]; writes sbuf[0x40..0x57]
        ew(Opcode.ADD, 4, 3, ("abuf", "i16", 0x200, 8, 2), ("sbuf", "i8", 0x10, 4, 1), ("sbuf", "i16", 0x40, 8, 2),
           p=8),
        # holding MAC, A and B both in abuf (port conflict); its destination is never touched
        mac(8, 4, ("abuf", "i8", 0x300, 1, 0), ("abuf", "i8", 0x400, 8, 1), ("abuf", "i8", 0x1000, 0, 1), p=16,
            acc_out=1),
        sync_out(0),
        EOF,
    ]
    s = sched(instrs, inputs=[Port("x", "abuf", 0, "i8", (16,))], outputs=[Port("y", "sbuf", 0x40, "i16", (12,))])
    t1 = F + 1
    r1 = t1 + 16 - 1 + P
    t2 = r1 + 1                       # stalls P
    r2 = t2 + 3 - 1 + P
    t3 = t2 + 3
    r3 = t3 + K * 4 - 1 + P
    t4 = max(t3 + K * 4, r1 + 1, r2 + 1, r3 + 1)
    t5 = t4 + 1
    assert s.issue.tolist() == [F, t1, t2, t3, t4, t5]
    assert s.retire.tolist() == [F, r1, r2, r3, t4, t5]
    st = s.stats
    assert st.cycles == t5 + 1 == F + 30 + 2 * P
    assert st.instructions == 6
    assert st.mac_cycles == 16 + 4
    assert st.macs == 8 * 16 + 8 * 4
    assert st.utilisation == (8 * 16 + 8 * 4) / (8 * st.cycles)
    assert st.stall_cycles == (t2 - (t1 + 16)) + (t4 - (t3 + K * 4)) == 2 * P
    assert st.conflict_cycles == (K - 1) * 4
    d = st.to_dict()
    assert (d["wbuf_hwm"], d["wbuf_read_bytes"], d["wbuf_write_bytes"]) == (0x100 + 15 * 8 + 8, 128, 0)
    assert (d["pbuf_hwm"], d["pbuf_read_bytes"], d["pbuf_write_bytes"]) == (64, 64 + 8 + 8, 0)
    assert (d["abuf_hwm"], d["abuf_read_bytes"], d["abuf_write_bytes"]) == (0x400 + 3 * 8 + 8, 16 + 24 + 4 + 32, 16)
    assert (d["sbuf_hwm"], d["sbuf_read_bytes"], d["sbuf_write_bytes"]) == (0x40 + 16 + 8, 12, 24)
    json.dumps(d)


def test_untouched_buffer_has_zero_counters_and_timing_is_data_independent():
    prog = program([sync_in(0), pw(4, 100), EOF], config(), WBUF, inputs=[Port("x", "abuf", 0, "i8", (4,))],
                   outputs=[Port("y", "abuf", 100, "i8", (8,))])
    npu = Npu(prog)
    a = npu.run_frame({"x": [1, 2, 3, 4]}).stats
    b = npu.run_frame({"x": [-128, 127, 0, 5]}).stats
    assert a == b
    assert (a.to_dict()["sbuf_hwm"], a.to_dict()["sbuf_read_bytes"]) == (0, 0)


def test_long_program_schedule_matches_a_direct_loop():
    """A random stream (hazards, fences, conflicts) against the rules applied literally: every
    earlier instruction is checked, not just a window."""
    rng = np.random.default_rng(5)
    instrs = []
    for _ in range(400):
        u = rng.random()
        base = int(rng.integers(0, 64))
        if u < 0.1:
            instrs.append(sync_out(0) if rng.random() < 0.5 else NOP)
        elif u < 0.5:
            instrs.append(mac(int(rng.integers(1, 9)), int(rng.integers(1, 6)), ("abuf", "i8", base, 1, 0),
                              (str(rng.choice(["wbuf", "abuf"])), "i8", 256, 1, 0),
                              ("abuf", "i8", int(rng.integers(0, 64)), 0, 1), acc_out=int(rng.random() < 0.2)))
        else:
            instrs.append(mov(int(rng.integers(1, 9)), int(rng.integers(1, 6)), ("abuf", "i8", base, 1, 0),
                              ("sbuf" if rng.random() < 0.5 else "abuf", "i8", 100 + int(rng.integers(0, 50)), 8, 1)))
    prog = program(instrs + [EOF], config(), WBUF, outputs=[Port("y", "abuf", 0, "i8", (8,))])
    npu = Npu(prog)
    an = npu.analysis
    m = len(instrs) + 1
    t, ret = [0] * m, [0] * m
    for i in range(m):
        e = F if i == 0 else t[i - 1] + int(an.occupancy[i - 1])
        h = 0
        for j in range(i):
            if an.is_fence[i]:
                h = max(h, ret[j] + 1)
            elif an.is_compute[i] and an.writes[j]:
                d = an.operands["d"]
                for x in ("a", "b"):
                    o = an.operands[x]
                    if o["present"][i] and o["buf"][i] == d["buf"][j] and o["lo"][i] <= d["hi"][j] \
                            and d["lo"][j] <= o["hi"][i]:
                        h = max(h, ret[j] + 1)
        t[i] = max(e, h)
        ret[i] = t[i] if an.is_ctl[i] else t[i] + int(an.occupancy[i]) - 1 + P
    assert npu.schedule.issue.tolist() == t
    assert npu.schedule.retire.tolist() == ret
    assert npu.schedule.stats.stall_cycles > 50
