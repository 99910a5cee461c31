"""The banked memories (npu_model.arch.memory): lane groups are free of bank conflicts for every
address, the vectorised rule is the scalar one, and bank conflicts cost the cycles docs/timing.md
rule 1 says, with every organisation."""
import numpy as np
import pytest

from model_helpers import EOF, Image, config, ew, mac, program, records
from npu_model.arch.isa import Opcode
from npu_model.arch.memory import ORGANISATIONS, bank_org, lane_group, lane_group_array
from npu_model.arch.timing import PIPELINE_LATENCY as P
from npu_model.golden.machine import Npu

WBUF = bytes(Image(64).put_bytes(0, records(*[(0, 1, 0)] * 8)))


def words(base, lstride, lanes, size, org):
    """(bank, row) of the word each lane's element is in."""
    out = []
    for l in range(lanes):
        a = base + l * lstride
        assert a // org.word_bytes == (a + size - 1) // org.word_bytes      # an element never straddles
        w = a // org.word_bytes
        out.append((w % org.banks, w // org.banks))
    return out


@pytest.mark.parametrize("name", ORGANISATIONS)
@pytest.mark.parametrize("lanes", [1, 2, 4, 8, 16])
def test_lane_groups_never_meet_in_a_bank(name, lanes):
    """Brute force: for every stride and offset, lanes of one group that share a bank share the word."""
    org = bank_org(name, lanes, writable=True)
    for size in (1, 2):
        for lstride in range(-70 * size, 70 * size + 1, size):
            p = lane_group(lstride, lanes, org)
            assert p & (p - 1) == 0 and 1 <= p <= lanes
            for base in range(0, 2 * org.stripe_bytes + 4, size):
                start = base + max(0, -lstride) * (lanes - 1)
                w = words(start, lstride, lanes, size, org)
                for g in range(0, lanes, p):
                    seen = {}
                    for bank, row in w[g:g + p]:
                        assert seen.setdefault(bank, row) == row, (name, lanes, lstride, base, p)


def test_the_rule_by_hand():
    lane8 = bank_org("lane", 8, writable=True)        # 8 banks of 2 bytes
    row8 = bank_org("row", 8, writable=True)          # 2 banks of 16 bytes
    assert [lane_group(s, 8, lane8) for s in (0, 1, 2, 4, 8, 16, 18, 128, 130)] == [8, 8, 8, 4, 2, 1, 8, 1, 8]
    assert [lane_group(s, 8, row8) for s in (0, 1, 2, 3, 16, 32, 48)] == [8, 8, 8, 4, 2, 1, 2]
    assert lane_group(5, 1, lane8) == 1


@pytest.mark.parametrize("name", ORGANISATIONS)
@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
def test_vectorised_rule_is_the_scalar_rule(name, lanes):
    org = bank_org(name, lanes, writable=False)
    strides = np.arange(-600, 601)
    assert lane_group_array(strides, lanes, org).tolist() == [lane_group(int(s), lanes, org) for s in strides]


def occupancy(org, ins):
    cfg = config(lanes=8, abuf_org=org, sbuf_org=org, wbuf_org=org)
    npu = Npu(program([ins, EOF], cfg, WBUF))
    return int(npu.schedule.occupancy[0]), npu.stats.conflict_cycles


def test_bank_conflicts_cost_cycles():
    # lanes 16 bytes apart: one bank per lane group of 1 (lane org), 2 (row org): 8 or 4 groups
    strided = ew(Opcode.ADD, 8, 3, ("abuf", "i16", 0, 2, 16), ("sbuf", "i16", 0, 2, 2), ("sbuf", "i16", 0x200, 16, 2))
    assert occupancy("lane", strided) == (3 * 8, 3 * 7)
    assert occupancy("row", strided) == (3 * 4, 3 * 3)
    # 18 bytes apart (9 words, odd): conflict-free with a bank per lane; rows 18 bytes apart still are not
    skewed = strided.replace(a_lstride=18)
    assert occupancy("lane", skewed) == (3, 0)
    assert occupancy("row", skewed) == (3 * 8, 3 * 7)
    # A and B in one buffer: the two reads of a step take two cycles per group
    both = ew(Opcode.ADD, 8, 3, ("abuf", "i16", 0, 2, 16), ("abuf", "i16", 0x100, 2, 2), ("sbuf", "i16", 0, 16, 2))
    assert occupancy("lane", both) == (3 * 8 * 2, 3 * 8 * 2 - 3)


def test_a_mac_writes_a_conflicting_destination_in_extra_cycles():
    """Reads in one group (A broadcast, B contiguous); D 16 bytes apart per lane: 8 write groups
    with one bank per lane, the first with the last step and 7 more cycles."""
    m = mac(8, 5, ("abuf", "i8", 0, 1, 0), ("wbuf", "i8", 0x40, 8, 1), ("abuf", "i16", 0x100, 0, 16), p=0, p_vec=1)
    assert occupancy("lane", m) == (5 + 7, 7)
    assert occupancy("row", m) == (5 + 3, 3)
    held = m.replace(acc_out=1)
    assert occupancy("lane", held) == (5, 0)              # holds: writes nothing
    cfg = config(lanes=8)
    npu = Npu(program([m, EOF], cfg, WBUF))
    assert npu.schedule.retire[0] == npu.schedule.issue[0] + 12 - 1 + P
