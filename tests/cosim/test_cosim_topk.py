"""The top-k unit and indexed loops on the RTL: the hand-written D-GRU-like programs of
tests/model/test_model_topk.py (gather, dot over the selected rows, scatter; an iteration reading
its own results; dots chained through ACC; more iterations than the topk had steps, so that the
scatter writes one element several times) cosimulate bit- and cycle-exact over 3 frames."""
import sys
from pathlib import Path

import numpy as np

from cocotb_tests.cosim import cosimulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from test_model_topk import BODIES, CFG, IO, WBUF, dgru_like, frames, program  # noqa: E402

FRAMES = 3


def test_indexed_programs_exact():
    for name, code in {"gather_dot_scatter": dgru_like(), **BODIES}.items():
        fr = frames(FRAMES)
        inputs = {k: np.stack([f[k] for f in fr]) for k in fr[0]}
        result = cosimulate(program(code, CFG, WBUF, **IO), inputs=inputs, frames=FRAMES, name=f"topk_{name}",
                            log=lambda *_: None)
        assert result.ok, f"{name}: {result.message}"
        assert all(f["outputs_match"] and f["schedule_match"] and f["counters_match"] for f in result.frames)
