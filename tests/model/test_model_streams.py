"""Several independent streams in lockstep (`Streams`, `Executor.run_frames`): every stream's
outputs and memory are exactly those of its own `Npu`, for random programs (every opcode, loops,
block-float records), a compiled TRU-Net and a D-GRU (top-k unit: its streams run one by one)."""
from pathlib import Path

import numpy as np
import pytest
from test_model_random import Gen

from npu_model.arch.errors import NpuError
from npu_model.golden.machine import Npu, Streams

STREAMS = 3
MODELS = Path(__file__).resolve().parents[2] / "models"


def _compare(prog, frames_of, frames=2):
    """frames_of(k, f) -> the input dict of stream k's frame f."""
    singles = [Npu(prog) for _ in range(STREAMS)]
    streams = Streams(Npu(prog), STREAMS)
    for f in range(frames):
        inputs = [frames_of(k, f) for k in range(STREAMS)]
        got = streams.run_frame({name: np.stack([x[name] for x in inputs]) for name in inputs[0]})
        for k, npu in enumerate(singles):
            want = npu.run_frame(inputs[k]).outputs
            for name, value in want.items():
                assert np.array_equal(got[name][k], value), f"frame {f}, stream {k}: output {name!r} differs"
            for buf in ("abuf", "sbuf"):
                assert np.array_equal(streams.buffer(buf, k), npu.buffer(buf)), f"frame {f}, stream {k}: {buf}"


@pytest.mark.parametrize("seed, lanes, acc_bits", [(1, 8, 32), (2, 4, 16), (4, 16, 48), (6, 2, 32)])
def test_random_program_streams_match_single_runs(seed, lanes, acc_bits):
    prog = Gen(seed, lanes, acc_bits).make(120)
    rng = np.random.default_rng(seed + 7)
    data = {(k, f): {"x": rng.integers(-32768, 32768, 64), "z": rng.integers(-128, 128, 32)}
            for k in range(STREAMS) for f in range(2)}
    _compare(prog, lambda k, f: data[k, f])


@pytest.mark.parametrize("model, config", [("trunet", None), ("dgru_p50", "dgru_p50.npu.json")])
def test_model_streams_match_single_runs(model, config):
    from cocotb_tests.workload import model_workload
    from npu_model.arch.config import NpuConfig

    cfg = NpuConfig.load(MODELS / config).replace(lanes=4) if config else None
    work = model_workload(MODELS / f"{model}.yaml", lanes=4, frames=2 * STREAMS, config=cfg)
    port = work.program.inputs[0].name
    _compare(work.program, lambda k, f: {port: work.inputs[port][2 * k + f]})


def test_streams_refuse_bad_counts_and_inputs():
    prog = Gen(1, 4, 32).make(20)
    npu = Npu(prog)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(NpuError, match=r"^streams must be a positive integer"):
            Streams(npu, bad)
    streams = Streams(npu, 2)
    with pytest.raises(NpuError, match=r"^input 'x': needs a leading stream axis of 2, has shape \(64,\)"):
        streams.run_frame({"x": np.zeros(64), "z": np.zeros((2, 32))})
    with pytest.raises(NpuError, match=r"^input 'x': 63 elements"):
        streams.run_frame({"x": np.zeros((2, 63)), "z": np.zeros((2, 32))})
    with pytest.raises(NpuError, match=r"^stream 2 out of range \(0\.\.1\)"):
        streams.buffer("abuf", 2)
    with pytest.raises(NpuError, match=r"^unknown buffer 'pbuf'"):
        streams.buffer("pbuf", 0)
