"""The fuzz harness (`python -m fuzz`) on a fixed-seed subset of 1,200 cases through the real
command lines: none may crash, hang, be accepted although clearly bad, or leave output behind.
`make fuzz` runs 5,000 with another seed. The harness's classifier is tested on its own first,
so a harness that could not see a failure cannot pass."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz.__main__ import make_cases
from fuzz.case import Case, Expect, Outcome
from fuzz.runner import classify, run_cases

ROOT = Path(__file__).resolve().parents[1]
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
    """`python -m fuzz` in its own process (so no state of this test session leaks into the
    forked cases), as `make fuzz` runs it."""
    r = subprocess.run([sys.executable, "-m", "fuzz", "--cases", str(CASES), "--seed", str(SEED), "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    table = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[1:11]}
    assert set(table) == {"container", "model", "npz", "npy", "wav", "config", "assembler", "paths", "options",
                          "all"}
    cases, refused, accepted, *bad = map(int, table["all"])
    assert cases == CASES and bad == [0, 0, 0, 0], r.stdout
    assert refused > 0.8 * CASES, r.stdout                 # the mutators make mostly bad inputs


def test_the_same_seed_gives_the_same_cases(monkeypatch):
    """Also an hour apart: nothing in a case (an .npz member's stamp, say) may depend on the clock."""
    a = make_cases(40, 5)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3600.0)
    b = make_cases(40, 5)
    assert [(c.loader, c.what, c.argv, c.files) for c in a] == [(c.loader, c.what, c.argv, c.files) for c in b]
