"""Shared fixtures of the report, exploration and enhance tests: a hand-assembled program whose
figures are derived by hand from docs/timing.md, and a tiny model with MEA's host reconstruction."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[2]

# y = relu(W x) on 4 lanes (layer fc), doubled (layer out), copied over h's bytes into t, and
# accumulated into an int16 state in sbuf (layer acc); the sync_outs and eof are outside layers.
HAND = """\
.config lanes=4 wbuf_bytes=1024 abuf_bytes=1024 sbuf_bytes=256 imem_bytes=4096 lut_entries=256
.input  x abuf 0x000 i8  8
.output y abuf 0x040 i8  4
.output s sbuf 0x000 i16 4
.param 0x000 0 1 0
.data wbuf 0x040 i8 1 0 0 0  0 1 0 0  0 0 1 0  0 0 0 1  1 1 1 1  -1 -1 -1 -1  2 0 2 0  0 2 0 2
.symbol W wbuf 0x40 32 i8 8x4 fc
.symbol x abuf 0x00 8 i8 8 -
.symbol h abuf 0x20 4 i8 4 fc
.symbol y abuf 0x40 4 i8 4 out
.symbol t abuf 0x20 4 i8 4 acc
.symbol s sbuf 0x00 8 i16 4 acc
.layer fc conv1d 32
sync_in port=0
mac n=4 r=8 a=abuf.i8[0x0+1r] b=wbuf.i8[0x40+4r+1l] d=abuf.i8[0x20+1l] p=0x0 act=relu
.layer out add 0
add n=4 r=1 a=abuf.i8[0x20+1l] b=abuf.i8[0x20+1l] d=abuf.i8[0x40+1l] p=0x0
.layer acc add 0 2
mov n=4 r=1 a=abuf.i8[0x40+1l] d=abuf.i8[0x20+1l] p=0x0
add n=4 r=1 a=sbuf.i16[0x0+2l] b=abuf.i8[0x20+1l] d=sbuf.i16[0x0+2l] p=0x0
sync_out port=0
sync_out port=1
eof
"""

TINY_MODEL = """\
name: tiny
input: {sample_rate: 16000, fft_size: 64, hop: 16, bins: 32, channels: 2, features: [compressed_complex]}
weights: {init: random, seed: 3}
layers:
  - {name: c1, op: conv1d, input: input, out_channels: 8, kernel: 3, padding: 1, activation: relu}
  - {name: mea.mag, op: conv1d, input: c1, out_channels: 1, kernel: 3, padding: 1, activation: relu}
  - {name: mea.phase, op: conv1d, input: c1, out_channels: 1, kernel: 3, padding: 1}
  - {name: mea, op: mask_reconstruct, inputs: [mea.mag, mea.phase]}
outputs: [mea]
"""


@pytest.fixture
def hand_program(tmp_path):
    """(path, Program) of HAND, with the hop and sample rate in META when asked."""
    from npu_model.golden.asm import assemble

    def make(meta: str = ""):
        program = assemble(HAND + (f".meta {meta}\n" if meta else ""), source="hand.s")
        path = tmp_path / "hand.bin"
        program.save(path)
        return path, program
    return make


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(TINY_MODEL)
    return path


@pytest.fixture(scope="session")
def tiny_program(tiny_model):
    """The tiny model compiled for 4 lanes (the compiler's API), saved next to it."""
    from compiler import load_model, quantise
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig

    model = load_model(tiny_model)
    program, _, _ = compile_network(quantise(model), NpuConfig(lanes=4), model=model)
    path = tiny_model.parent / "tiny.bin"
    program.save(path)
    return path
