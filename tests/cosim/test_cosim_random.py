"""Random legal programs (the RTL tests' generator) under Verilator against the golden model:
small address ranges make hazards, in-place updates and port conflicts frequent."""
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from npu_model.arch.config import NpuConfig

from cocotb_tests.cosim import cosimulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rtl"))
from rtl_golden import program_of  # noqa: E402
from rtl_harness import small_config  # noqa: E402
from rtl_progen import initial_images, random_program  # noqa: E402


@pytest.mark.parametrize("seed", range(3))
def test_random_programs(seed):
    lanes = 4
    small = small_config(lanes=lanes, wbuf_bytes=1024, abuf_bytes=256, sbuf_bytes=128)
    rng = random.Random(seed)
    wbuf, abuf, sbuf, lut = initial_images(small, rng)
    code = random_program(rng, small, 40)
    # Legal for the small configuration, hence for the default one the build is shared with.
    program = program_of(NpuConfig(lanes=lanes), code, wbuf=wbuf, sbuf=sbuf, lut=lut)
    start = np.frombuffer(abuf.ljust(NpuConfig().abuf_bytes, b"\0"), np.int8)
    result = cosimulate(program, inputs={"abuf": np.stack([start, start[::-1]])}, frames=2,
                        name=f"random{seed}", log=lambda *_: None)
    assert result.ok, result.message
