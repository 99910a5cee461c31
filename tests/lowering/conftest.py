"""Shared harness: build a one-kernel program, run it on the golden model, return outputs and stats."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from compiler.builder import ProgramBuilder
from compiler.lower import Post, TensorRef, alloc_tensor
from compiler.lower.tensor import row_pitch
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
    output tensors named in `outputs` as refs[name] = TensorRef (`alloc_tensor`, or dense).
    Tensors in abuf have the compiler's padded rows (`alloc_tensor`); their ports cover the
    padding, which the harness fills with zeros on input and cuts off the outputs."""
    from npu_model.golden.machine import Npu

    b = ProgramBuilder(NpuConfig(lanes=lanes, **config))
    refs = {}
    feed = {}
    for name, arr in inputs.items():
        ref = alloc_tensor(b, name, arr.shape[0], arr.shape[1], dtype_of(arr))
        padded = _padded(ref)
        b.input_port(name, "abuf", ref.offset, padded, arr.dtype)
        feed[name] = np.zeros(padded, arr.dtype)
        feed[name][:, :arr.shape[1]] = arr
        refs[name] = ref
    for name, arr in (state or {}).items():
        dt = dtype_of(arr)
        row = row_pitch(b.config, Buffer.SBUF, arr.shape[1] * dt.size, dt.size)
        off = b.state(name, np.zeros((arr.shape[0], row // dt.size), arr.dtype))
        ref = TensorRef(Buffer.SBUF, off, arr.shape[0], arr.shape[1], dt, row_stride=row)
        b.input_port(name, "sbuf", off, _padded(ref), arr.dtype)
        feed[name] = np.zeros(_padded(ref), arr.dtype)
        feed[name][:, :arr.shape[1]] = arr
        refs[name] = ref
    for port in range(len(b.inputs)):
        b.emit(Opcode.SYNC_IN, port=port)
    with b.layer("kernel", "kernel"):
        result = kernel(b, refs)
    for name in outputs:
        ref = refs[name]
        b.output_port(name, ref.buf.name.lower(), ref.offset, _padded(ref), ref.np_dtype)
    for port in range(len(b.outputs)):
        b.emit(Opcode.SYNC_OUT, port=port)
    b.emit(Opcode.EOF)
    program = b.build()
    npu = Npu(program)
    res = npu.run_frame(feed)
    out = {name: res.outputs[name][:, :refs[name].channels] for name in outputs}
    return Run(out, res.stats, result, program, npu)


def _padded(ref) -> tuple[int, int]:
    """The port shape of a channel-last tensor: its rows, padding included."""
    assert ref.col_stride == ref.size and ref.row_stride % ref.size == 0
    return ref.positions, ref.row_stride // ref.size


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
