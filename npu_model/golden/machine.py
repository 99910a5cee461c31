"""The golden model: `Npu(program)` checks, schedules and runs a program frame by frame.

    npu = Npu(program)                 # ProgramFormatError / NpuFault if the program is rejected
    result = npu.run_frame({"x": x})   # FrameResult: outputs (port name -> array), stats
    results = npu.run({"x": xs}, frames=10)
    streams = Streams(npu, 8)          # 8 independent clips in lockstep
    outputs = streams.run_frame({"x": x8})     # x8[k]: clip k's frame

State (abuf, sbuf, the LUT, wbuf) persists across frames; the per-lane ACC registers are reset
to zero at every frame start. Timing is data-independent: `npu.schedule` holds every
instruction's issue and retire cycle and the frame counters, the same for every frame.
"""
from __future__ import annotations

import numpy as np

from ..arch.errors import NpuError
from ..arch.isa import DTYPES
from ..arch.program import Program
from .analysis import Analysis, analyse
from .executor import Executor
from .schedule import Schedule, schedule
from .stats import FrameResult, FrameStats

__all__ = ["Npu", "Streams", "FrameResult", "FrameStats", "Schedule", "check_input_values"]


class Npu:
    """Cycle-accurate golden model of one NPU running one program."""

    def __init__(self, program: Program, *, source: str = "program"):
        program.validate(source)
        self.program = program
        self.config = program.config
        self.analysis: Analysis = analyse(program, source=source)
        self.schedule: Schedule = schedule(self.analysis)
        self.executor = Executor(self.analysis)
        self.reset()

    # State ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the state at program load: abuf zero, wbuf/sbuf/LUT from the program's images."""
        self._mem = self.executor.memory()
        self.acc = np.zeros(self.config.lanes, np.int64)
        self.frame = 0

    def buffer(self, name: str) -> np.ndarray:
        """A copy of a buffer's bytes ('wbuf', 'abuf', 'sbuf', or 'pbuf', the records)."""
        if name == "pbuf":
            return self.executor.records.copy()
        if name not in self.executor.offsets:
            raise NpuError(f"unknown buffer {name!r} (wbuf, abuf, sbuf, pbuf)")
        start = self.executor.offsets[name]
        return self._mem[start:start + self.config.buffer_bytes(name)].copy()

    def read(self, name: str, offset: int, dtype: str, count: int) -> np.ndarray:
        """`count` elements of type 'i8'/'i16' at byte `offset` of a buffer."""
        size = DTYPES[dtype].size
        data = self.buffer(name)[offset:offset + count * size]
        return data.view("<i1" if dtype == "i8" else "<i2").astype(np.int8 if dtype == "i8" else np.int16)

    @property
    def stats(self) -> FrameStats:
        return self.schedule.stats

    # Running ----------------------------------------------------------------------------------
    def run_frame(self, inputs: dict | None = None) -> FrameResult:
        """Place the input ports, run pc 0 .. eof once, read the output ports."""
        inputs = {} if inputs is None else inputs
        staged = self._check_inputs(inputs)
        mem = self._mem
        for port, data in staged:
            start = self.executor.offsets[port.buf] + port.offset
            mem[start:start + port.nbytes] = data
        self.acc[:] = 0
        self.executor.run_frame(mem, self.acc)
        outputs = {}
        for port in self.program.outputs:
            start = self.executor.offsets[port.buf] + port.offset
            outputs[port.name] = mem[start:start + port.nbytes].view(port.numpy_dtype).astype(
                np.int8 if port.dtype == "i8" else np.int16).reshape(port.shape)
        result = FrameResult(frame=self.frame, outputs=outputs, stats=self.schedule.stats)
        self.frame += 1
        return result

    def run(self, inputs: dict | None, frames: int) -> list[FrameResult]:
        """Run `frames` frames; every input array has a leading frame axis (frame f is `a[f]`)."""
        inputs = {} if inputs is None else inputs
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 0:
            raise NpuError(f"frames must be a non-negative integer, not {frames!r}")
        arrays = {}
        for name, value in inputs.items():
            a = np.asarray(value)
            if a.ndim < 1 or len(a) < frames:
                raise NpuError(f"input {name!r}: needs a leading frame axis of at least {frames}, "
                               f"has shape {a.shape}")
            arrays[name] = a
        return [self.run_frame({name: a[i] for name, a in arrays.items()}) for i in range(int(frames))]

    def _check_inputs(self, inputs: dict):
        ports = self.program.inputs
        names = [p.name for p in ports]
        for name in inputs:
            if name not in names:
                raise NpuError(f"unknown input port {name!r} (the program has: {', '.join(names) or 'none'})")
        staged = []
        for port in ports:
            if port.name not in inputs:
                raise NpuError(f"missing input port {port.name!r} (the program has: {', '.join(names)})")
            a = np.asarray(inputs[port.name])
            if a.size != port.elements:
                raise NpuError(f"input {port.name!r}: {a.size} elements, the port holds {port.elements} "
                               f"({port.dtype} {'x'.join(map(str, port.shape))})")
            check_input_values(port, a)
            data = a.reshape(-1).astype(port.numpy_dtype).view(np.uint8)
            staged.append((port, data))
        return staged


class Streams:
    """`count` independent streams (clips) through one program, frame by frame in lockstep:

        streams = Streams(npu, 8)
        out = streams.run_frame({"x": xs})      # xs[k]: stream k's frame; out["y"][k] likewise

    Every batch of instructions runs for all streams at once (`Executor.run_frames`), so the
    fixed cost of the golden model's batches is shared; each stream's results are exactly those
    of its own `Npu`. The streams share the program's load-time analysis and schedule (timing is
    the same for every stream and frame: `npu.stats`); each has its own state."""

    def __init__(self, npu: Npu, count: int):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise NpuError(f"streams must be a positive integer, not {count!r}")
        self.npu = npu
        self.count = int(count)
        self.reset()

    def reset(self) -> None:
        """Every stream back to the state at program load."""
        self._mem = np.tile(self.npu.executor.initial, (self.count, 1))
        self.acc = np.zeros((self.count, self.npu.config.lanes), np.int64)
        self.frame = 0

    def buffer(self, name: str, stream: int) -> np.ndarray:
        """A copy of one stream's buffer ('wbuf', 'abuf', 'sbuf')."""
        offsets = self.npu.executor.offsets
        if name not in offsets:
            raise NpuError(f"unknown buffer {name!r} (wbuf, abuf, sbuf)")
        if not 0 <= stream < self.count:
            raise NpuError(f"stream {stream} out of range (0..{self.count - 1})")
        return self._mem[stream, offsets[name]:offsets[name] + self.npu.config.buffer_bytes(name)].copy()

    def run_frame(self, inputs: dict | None = None) -> dict:
        """Place every stream's input ports (each array has a leading stream axis), run one frame
        of every stream, return each output port as an array with a leading stream axis."""
        inputs = {} if inputs is None else inputs
        ex, mem = self.npu.executor, self._mem
        for name, value in inputs.items():
            a = np.asarray(value)
            if a.ndim < 1 or len(a) != self.count:
                raise NpuError(f"input {name!r}: needs a leading stream axis of {self.count}, has shape {a.shape}")
        for k in range(self.count):
            for port, data in self.npu._check_inputs({name: np.asarray(a)[k] for name, a in inputs.items()}):
                start = ex.offsets[port.buf] + port.offset
                mem[k, start:start + port.nbytes] = data
        self.acc[:] = 0
        ex.run_frames(mem, self.acc)
        outputs = {}
        for port in self.npu.program.outputs:
            start = ex.offsets[port.buf] + port.offset
            outputs[port.name] = np.ascontiguousarray(mem[:, start:start + port.nbytes]).view(port.numpy_dtype).astype(
                np.int8 if port.dtype == "i8" else np.int16).reshape((self.count,) + tuple(port.shape))
        self.frame += 1
        return outputs


def check_input_values(port, a: np.ndarray) -> None:
    """NpuError unless every value of `a` is an integer in the range of the port's element type
    (integral floats are accepted: frames saved by numpy code are often float64)."""
    lo, hi = DTYPES[port.dtype].min, DTYPES[port.dtype].max
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        raise NpuError(f"input {port.name!r}: expected integers, got dtype {a.dtype}")
    if not a.size:
        return
    if a.dtype.kind == "f" and (not np.isfinite(a).all() or (a != np.rint(a)).any()):
        raise NpuError(f"input {port.name!r}: values must be integers ({port.dtype}), got non-integral or "
                       "non-finite floats")
    amin, amax = a.min(), a.max()
    if amin < lo or amax > hi:
        bad = amin if amin < lo else amax
        raise NpuError(f"input {port.name!r}: value {int(bad)} outside the {port.dtype} range {lo}..{hi}")
