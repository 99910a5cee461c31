"""Shared harness: build a one-kernel program, run it on the golden model, return outputs and stats."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from compiler.builder import ProgramBuilder
from compiler.lower import Post, TensorRef, alloc_tensor
from npu_model.arch.config import NpuConfig
from npu_model.arch.isa import Act, Buffer, DType, Opcode

LANES = (1, 2, 4, 8, 16)


@dataclass
class Run:
    out: dict            # output name -> array
    stats: object        # npu_model FrameStats
    result: object       # the kernel's KernelResult
    program: object
    npu: object


def dtype_of(array) -> DType:
    return DType.I8 if np.asarray(array).dtype == np.int8 else DType.I16


def run_kernel(lanes: int, inputs: dict, kernel, outputs, *, state: dict | None = None, **config) -> Run:
    """inputs: name -> (P, C) int8/int16 array placed in abuf (host input ports);
    state: name -> array placed in sbuf (also an input port, so tests can set it);
    kernel(builder, refs) -> KernelResult, with refs name -> TensorRef, and it must create the
    output tensors named in `outputs` as refs[name] = TensorRef (dense allocations)."""
    from npu_model.golden.machine import Npu

    b = ProgramBuilder(NpuConfig(lanes=lanes, **config))
    refs = {}
    for name, arr in inputs.items():
        ref = alloc_tensor(b, name, arr.shape[0], arr.shape[1], dtype_of(arr))
        b.input_port(name, "abuf", ref.offset, arr.shape, arr.dtype)
        refs[name] = ref
    for name, arr in (state or {}).items():
        off = b.state(name, np.zeros_like(arr))
        ref = TensorRef(Buffer.SBUF, off, arr.shape[0], arr.shape[1], dtype_of(arr))
        b.input_port(name, "sbuf", off, arr.shape, arr.dtype)
        refs[name] = ref
    for port in range(len(b.inputs)):
        b.emit(Opcode.SYNC_IN, port=port)
    with b.layer("kernel", "kernel"):
        result = kernel(b, refs)
    for name in outputs:
        ref = refs[name]
        b.output_port(name, ref.buf.name.lower(), ref.offset, ref.shape, ref.np_dtype)
    for port in range(len(b.outputs)):
        b.emit(Opcode.SYNC_OUT, port=port)
    b.emit(Opcode.EOF)
    program = b.build()
    npu = Npu(program)
    feed = {**inputs, **(state or {})}
    res = npu.run_frame(feed)
    return Run(res.outputs, res.stats, result, program, npu)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def rand_post(rng, cout, *, shift=16, act=Act.RELU, lut=None):
    """Per-channel bias and multiplier that map int8 x int8 sums of a few hundred terms to int8."""
    return Post(bias=rng.integers(-3000, 3000, cout), mult=rng.integers(100, 400, cout), shift=shift,
                act=act, lut=lut)


@pytest.fixture
def run():
    return run_kernel


@pytest.fixture
def post():
    return rand_post
