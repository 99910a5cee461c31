"""Programs and input frames of a model for the cosimulation, made by the compiler package.

    work = model_workload("models/trunet.yaml", lanes=8, frames=3)
    work.program, work.inputs            # Program; {input port: int8 array (frames, C, bins)}

The input frames are the compiler's own: seeded tones plus noise (`npu_model.host.generated_frames`),
the host's feature computation (`HostFeatures`) and its quantisation (`quantise_input`), i.e. what
the host would hand the NPU frame by frame. The quantised network is cached per model within a
process, so compiling one model for several lane counts quantises it once.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler import load_model, quantise_cached
from compiler.lower.network import compile_network
from compiler.quant import quantise_input
from npu_model.arch.config import NpuConfig
from npu_model.arch.program import Program
from npu_model.host import HostFeatures, generated_frames

__all__ = ["Workload", "model_workload", "SEED"]

SEED = 2024


@dataclass
class Workload:
    model: str
    program: Program
    inputs: dict            # input port name -> array with a leading frame axis
    frames: int


@functools.lru_cache(maxsize=4)
def _network(model_path: str):
    model = load_model(model_path)
    return model, quantise_cached(model)


def quantised_frames(model_path, frames: int, seed: int = SEED) -> dict:
    """{input port: int8 (frames, channels, bins)}: the host's quantised features."""

    model, qnet = _network(str(Path(model_path).resolve()))
    stft = generated_frames(model.spec.input, frames, seed)
    feats, _ = HostFeatures(model.spec.input)(stft)
    return {qnet.input.name: np.asarray(quantise_input(feats, qnet))}


def model_workload(model_path, *, lanes: int = 8, frames: int = 3, seed: int = SEED,
                   config: NpuConfig | None = None, program: Program | str | Path | None = None,
                   code: str = "loops") -> Workload:
    """Compile `model_path` for `lanes` (unless a compiled `program` is given), its code in the
    form `code` (compiler `--code`), and make `frames` quantised input frames for it."""
    if program is None:
        model, qnet = _network(str(Path(model_path).resolve()))
        config = config or NpuConfig(lanes=lanes)
        program = compile_network(qnet, config, model=model, with_listing=False, code=code)[0]
    elif not isinstance(program, Program):
        program = Program.load(program)
    return Workload(str(model_path), program, quantised_frames(model_path, frames, seed), frames)
