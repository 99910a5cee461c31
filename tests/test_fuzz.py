"""The fuzz harness (`python -m fuzz`) on a fixed-seed subset of 1,200 cases through the real
command lines: none may crash, hang, be accepted although clearly bad, or leave output behind.
`make fuzz` runs 5,000 with another seed. The harness's classifier is tested on its own first,
so a harness that could not see a failure cannot pass."""
from __future__ import annotations

import os

import pytest

from fuzz.__main__ import failures, make_cases, summary
from fuzz.case import Case, Expect, Outcome
from fuzz.runner import classify, run_cases

CASES = 1200
SEED = 20261204


@pytest.mark.parametrize("code, stderr, left, hung, expect, outcome", [
    (2, "error: bad\n", [], False, Expect.BAD, Outcome.REFUSED),
    (4, "error: does not fit\n", [], False, Expect.BAD, Outcome.REFUSED),
    (1, "Traceback (most recent call last):\n  ...\nValueError: x\n", [], False, Expect.BAD, Outcome.CRASH),
    (2, "usage: x\nerror: two lines\n", [], False, Expect.BAD, Outcome.CRASH),
    (0, "", [], False, Expect.BAD, Outcome.SILENT),
    (0, "", [], False, Expect.ANY, Outcome.ACCEPTED),
    (2, "error: bad\n", ["out.bin"], False, Expect.BAD, Outcome.PARTIAL),
    (None, "", [], True, Expect.ANY, Outcome.HANG),
    (None, "", [], False, Expect.ANY, Outcome.CRASH),            # killed by a signal
])
def test_classifier(code, stderr, left, hung, expect, outcome):
    case = Case("x", "what", "npu_model", [], {}, expect)
    assert classify(case, code, stderr, left, hung) is outcome


MISBEHAVING = """
import sys, time
from pathlib import Path

def main(argv):
    if argv[0] == "crash":
        raise ValueError("boom")
    if argv[0] == "hang":
        time.sleep(60)
    if argv[0] == "partial":
        Path("half.bin").write_bytes(b"half")
        print("error: failed after writing", file=sys.stderr)
        return 2
    if argv[0] == "memory":
        return len(bytearray(1 << 36))
    return 0
"""


def test_the_runner_sees_every_bad_outcome(tmp_path, monkeypatch):
    """Real forked children of a misbehaving command, and the real CLI on a bad program."""
    (tmp_path / "misbehaving.py").write_text(MISBEHAVING)
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = [Case("x", what, "misbehaving", [what], {}) for what in ("crash", "hang", "partial", "memory", "ok")]
    cases.append(Case("container", "not a program", "npu_model", ["disasm", "p.bin"], {"p.bin": b"junk"}))
    results = run_cases(cases, jobs=2, timeout=2)
    assert [r.outcome for r in results] == [Outcome.CRASH, Outcome.HANG, Outcome.PARTIAL, Outcome.CRASH,
                                            Outcome.SILENT, Outcome.REFUSED]
    assert "ValueError: boom" in results[0].stderr and "MemoryError" in results[3].stderr
    assert results[2].left == ["half.bin"] and "bad magic" in results[5].stderr


def test_fixed_seed_subset_has_no_bad_outcome():
    cases = make_cases(CASES, SEED)
    assert len(cases) == CASES and len({c.loader for c in cases}) == 8
    results = run_cases(cases, jobs=os.cpu_count() or 1, timeout=60)
    text = summary(results)
    bad = failures(results)
    assert not bad, text + "\n" + "\n".join(bad)
    refused = sum(r.outcome is Outcome.REFUSED for r in results)
    assert refused > 0.8 * CASES, text                      # the mutators make mostly bad inputs
