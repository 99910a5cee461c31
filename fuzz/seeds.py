"""The valid inputs every mutation starts from, built once per fuzz run.

A tiny model of the kind the kit is for (a 2-D convolution with past frames, a GRU and an LSTM
with state, a mask pair and the host's reconstruction) so a mutated model compiles in a fraction of a second, its weights as an
`.npz`, the program compiled from it (with META's host description, so `enhance` runs), a
hand-written program (no META), their input frames, a short wav clip, a configuration and the
assembly source.
"""
from __future__ import annotations

import io
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler import load_model, quantise, save_npz
from compiler.lower.network import compile_network
from npu_model.arch.config import NpuConfig
from npu_model.golden.asm import assemble_file

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Seeds", "build_seeds", "TINY_MODEL"]

TINY_MODEL = """\
name: tiny
input: {name: input, sample_rate: 16000, fft_size: 64, hop: 16, bins: 24, channels: 2,
        features: [compressed_complex], compression: 0.3}
weights: {init: random, seed: 3}
quantisation: {calibration_frames: 4, reconstruct: false}
layers:
  - {name: enc, op: conv2d, input: input, out_channels: 6, kernel: [2, 3], stride: [1, 2], padding_freq: 1, activation: relu}
  - {name: tgru, op: gru, input: enc, hidden: 6, axis: time}
  - {name: tlstm, op: lstm, input: tgru, hidden: 4, axis: time}
  - {name: dec, op: conv_transpose1d, input: tlstm, out_channels: 4, kernel: 4, stride: 2, padding: 1}
  - {name: mask.mag, op: conv1d, input: dec, out_channels: 1, kernel: 3, padding: 1, activation: relu}
  - {name: mask.phase, op: conv1d, input: dec, out_channels: 1, kernel: 3, padding: 1}
  - {name: mea, op: mask_reconstruct, inputs: [mask.mag, mask.phase]}
outputs: [mea]
"""


@dataclass(frozen=True)
class Seeds:
    model: str                 # YAML text (random weights)
    model_npz: str             # the same model reading its weights from `w.npz`
    weights: bytes             # w.npz
    program: bytes             # compiled from `model`, with META
    frames: bytes              # .npy of valid input frames for `program`
    asm: str                   # examples/relu_gemv.s
    asm_program: bytes         # assembled from it
    asm_frames: bytes          # .npy of its input frames
    wav: bytes                 # 16 kHz mono clip
    config: str                # a configuration JSON the tiny model compiles for

    @property
    def programs(self) -> dict:
        return {"compiled": (self.program, self.frames), "assembled": (self.asm_program, self.asm_frames)}


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _wav(seconds: float = 0.06, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(x * 32767, -32768, 32767).astype("<i2").tobytes())
    return buf.getvalue()


def build_seeds() -> Seeds:
    config = NpuConfig(lanes=4, wbuf_bytes=64 * 1024, abuf_bytes=32 * 1024, sbuf_bytes=16 * 1024,
                       imem_bytes=256 * 1024)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tiny.yaml").write_text(TINY_MODEL)
        model = load_model(tmp / "tiny.yaml")
        program, _, _ = compile_network(quantise(model), config, model=model, with_listing=False)
        save_npz(model.weights, tmp / "w.npz")
        weights = (tmp / "w.npz").read_bytes()
        asm_path = ROOT / "examples" / "relu_gemv.s"
        asm_program = assemble_file(asm_path, config=None)
    port = program.inputs[0]
    frames = np.random.default_rng(1).integers(-100, 100, (3, *port.shape)).astype(port.numpy_dtype)
    return Seeds(model=TINY_MODEL, model_npz=TINY_MODEL.replace("{init: random, seed: 3}", "{npz: w.npz}"),
                 weights=weights, program=program.to_bytes(), frames=_npy(frames), asm=asm_path.read_text(),
                 asm_program=asm_program.to_bytes(),
                 asm_frames=(ROOT / "examples" / "relu_gemv_frames.npy").read_bytes(), wav=_wav(),
                 config=config.to_json())
