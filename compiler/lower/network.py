"""The network pass: a `QuantizedNetwork` -> one unrolled `Program` for the configuration's lanes.

    program, listing, summary = compile_network(qnet, NpuConfig(lanes=8))

The pass walks the layers in execution order (the order of the integer reference) and, for each,
places its output, emits its instructions through the kernels (`layers.py`, `gru.py`,
`attention.py`) and frees what is no longer read:

* Every per-frame tensor lives in abuf, channel-last ((positions, channels), the seed paper's
  loop/memory re-ordering), allocated first-fit when produced and freed after its last reader
  (liveness). Temporaries of a layer are freed at its end; updates are done in place where the
  ISA allows it (GRU gates, softmax, requantising a concatenation's part that is not read again).
* U-Net skips are ordinary abuf tensors kept alive by liveness until their decoder block: they
  are produced and consumed in the same frame, so sbuf (whose contents survive frames) is not
  needed, no copy is made, and the MACs that read them take weights from wbuf with no port
  conflict. A concatenation read only by dense convolutions costs nothing: it stays a list of
  parts, reduced by chained MACs (`acc_out=1` / `acc_in=1`). Its parts are laid out with one
  row stride (the widest part's row), so that the chain's MACs step from one position to the
  next by the same bytes and one hardware loop runs them all (`compiler.reroll`).
* State that persists across frames lives in sbuf: the time-axis GRU hidden state (updated in
  place by the step's last instruction, once the old state is read for the last time) and the
  phase encoder's past frames (shifted at the end of the frame, after the outputs are signalled).
  The phase encoder's input port is the slot after its past frames, so the host writes the new
  frame straight where the convolution reads it.
* Host ports carry tensors in the integer reference's (channels, positions) order: the input is
  read position-last by the first layer, outputs are written position-last by their producers.
* The frame: `sync_in` per input port, the layers, a `sync_out` right after each output is
  complete, the state updates, `eof`.
"""
from __future__ import annotations

import contextlib

import numpy as np

from npu_model.arch.config import ConfigError, NpuConfig
from npu_model.arch.isa import Buffer, DType, Opcode
from npu_model.arch.meta import HostLayer, ProgramMeta

from ..builder import ProgramBuilder
from ..quant.intmath import ACC_BITS
from .attention import lower_attention
from .conv import FrameStack
from .eltwise import copy
from .errors import LoweringError
from .gru import lower_gru
from .lstm import lower_lstm
from .layers import LOWER_SIMPLE, copy_block, dtype_of
from .report import LayerRecord, listing, summarise_program
from .tensor import TensorRef, row_pitch

__all__ = ["compile_network", "LayerContext", "COMPILER_VERSION"]

COMPILER_VERSION = "trunet-npu-compiler 1"

LOWER = {**LOWER_SIMPLE, "gru": lower_gru, "lstm": lower_lstm, "attention": lower_attention}
_DENSE_READERS = ("conv1d", "conv_transpose1d", "conv2d", "conv_transpose2d", "dense")
_NEVER = 1 << 30


class LayerContext:
    """What the per-layer lowering functions see: the builder, placed tensors, allocation."""

    def __init__(self, qnet, builder: ProgramBuilder):
        self.qnet, self.b, self.luts = qnet, builder, qnet.luts
        self.values: dict = {}                   # tensor name -> TensorRef or list of parts
        self.owned: dict[str, list[str]] = {}    # tensor name -> abuf allocations it keeps alive
        self.outputs = tuple(qnet.outputs)
        self.index = -1                          # current layer
        self.layer = None
        self._temps: list[str] = []
        self._notes: list[str] = []
        self.end_of_frame: list = []             # callables emitting the state updates
        self.frame_blocks: dict[str, tuple] = {}  # complex conv layer -> (sbuf offset, K, C, L, dtype)
        self._shared: dict[str, tuple[int, int]] = {}   # shared sbuf scratch: name -> (offset, bytes)
        self._analyse()

    # Liveness ---------------------------------------------------------------------------------
    def _analyse(self):
        layers = self.qnet.layers
        self.readers: dict[str, list[int]] = {}
        for i, layer in enumerate(layers):
            for name in layer.inputs:
                self.readers.setdefault(name, []).append(i)
        self.kept_parts = set()
        for i, layer in enumerate(layers):
            if layer.op != "concat" or layer.output in self.outputs:
                continue
            rs = self.readers.get(layer.output, [])
            if rs and all(layers[j].op in _DENSE_READERS and getattr(layers[j], "groups", 1) == 1 for j in rs):
                self.kept_parts.add(layer.output)
        self.last_use: dict[str, int] = {}
        for name, rs in self.readers.items():
            self.last_use[name] = max(rs)
        for layer in reversed(layers):                       # parts live as long as their concat
            if layer.output in self.kept_parts:
                end = self.last_use.get(layer.output, 0)
                for name in layer.inputs:
                    self.last_use[name] = max(self.last_use.get(name, 0), end)
        # A reshape may be a view of its input's bytes (`lower_reshape`): the input lives as long
        # as the view's readers, and neither is updated in place (`dead_after`).
        self.shared: set[str] = set()
        for layer in reversed(layers):
            if layer.op == "reshape":
                src = layer.inputs[0]
                self.last_use[src] = max(self.last_use.get(src, 0), self.last_use.get(layer.output, 0))
                self.shared.update((src, layer.output))
        for name in self.outputs:
            self.last_use[name] = _NEVER
        # One row stride for the parts of a concatenation kept as parts (produced in abuf).
        self.row_bytes: dict[str, int] = {}
        for layer in layers:
            if layer.output not in self.kept_parts:
                continue
            parts = []
            for name, ep in zip(layer.inputs, layer.eps):
                t = self.qnet.tensors.get(name)
                if t is None or name in self.outputs or name == self.qnet.input.name:
                    parts = []
                    break
                dtype = dtype_of(ep.out_dtype if ep is not None else t.dtype)
                parts += [(name, t.shape[0] * dtype_of(t.dtype).size), (f"{layer.output}.{name}", t.shape[0] * dtype.size)]
            if parts:
                row = row_pitch(self.b.config, Buffer.ABUF, max(b for _, b in parts), 2)
                for key, nbytes in parts:
                    self.row_bytes[key] = max(row, self.row_bytes.get(key, 0))

    def dead_after(self, name: str) -> bool:
        """No layer after the current one reads `name` (directly), and it is not an output."""
        return (name not in self.outputs and max(self.readers.get(name, [-1])) <= self.index
                and self.layer.inputs.count(name) == 1 and name not in self.qnet.states and name not in self.shared)

    def keep_as_parts(self, name: str) -> bool:
        return name in self.kept_parts

    # Values -----------------------------------------------------------------------------------
    def value(self, name: str):
        try:
            return self.values[name]
        except KeyError:
            raise LoweringError(self.layer.name, f"input {name!r} is not available") from None

    def materialise(self, name: str) -> TensorRef:
        """A concatenation kept as parts, copied into one channel-last tensor."""
        v = self.value(name)
        if not isinstance(v, list):
            return v
        p, c = v[0].positions, sum(t.channels for t in v)
        out = self._alloc(name + ".copy", p, c, v[0].dtype, owner=name)
        c0 = 0
        for t in v:
            copy(self.b, t, out.view(ch=c0, channels=t.channels))
            c0 += t.channels
        self.values[name] = out
        return out

    def output(self, name: str, *, channel_last: bool = False) -> TensorRef:
        """abuf storage for the current layer's output `name`: channel-last, or position-last
        (the host port layout) for a network output unless channel_last is asked for."""
        t = self.qnet.tensors[name]
        channels, positions = t.shape
        dtype = dtype_of(t.dtype)
        if name in self.outputs and not channel_last:
            off = self.b.alloc(name, (channels, positions), DType(dtype).numpy)
            self.owned.setdefault(name, []).append(name)
            return TensorRef(Buffer.ABUF, off, positions, channels, dtype).transposed_store()
        return self._alloc(name, positions, channels, dtype, owner=name)

    def _alloc(self, key, positions, channels, dtype, *, owner):
        """A channel-last abuf tensor, rows `row_pitch` apart (the stride planned for a
        concatenation's parts, `row_bytes`, if it is one)."""
        dtype = DType(dtype)
        row = self.row_bytes.get(key) or self._pitch(Buffer.ABUF, positions, channels, dtype)
        off = self.b.alloc(key, (positions, row // dtype.size), dtype.numpy)
        self.owned.setdefault(owner, []).append(key)
        return TensorRef(Buffer.ABUF, off, positions, channels, dtype, row_stride=row)

    def _pitch(self, buf, positions, channels, dtype) -> int:
        """Row stride of a channel-last tensor: padded against bank conflicts (`row_pitch`)
        unless it has one position."""
        row = channels * dtype.size
        return row if positions == 1 else row_pitch(self.b.config, buf, row, dtype.size)

    def temp_tensor(self, name: str, positions: int, channels: int, dtype, *,
                    keep_with: str | None = None) -> TensorRef:
        """A channel-last abuf temporary, freed at the end of the layer (or with `keep_with`)."""
        dtype = DType(dtype)
        if keep_with is not None:
            return self._alloc(name, positions, channels, dtype, owner=keep_with)
        row = self._pitch(Buffer.ABUF, positions, channels, dtype)
        off = self.b.alloc(name, (positions, row // dtype.size), dtype.numpy)
        self._temps.append(name)
        return TensorRef(Buffer.ABUF, off, positions, channels, dtype, row_stride=row)

    def temp(self, name: str, nbytes: int) -> int:
        """Raw abuf bytes for the current layer; returns the offset."""
        off = self.b.alloc(name, (nbytes,), np.int8)
        self._temps.append(name)
        return off

    def sbuf_scratch(self, name: str, nbytes: int) -> int:
        """Static sbuf bytes (zero at load) for a layer's scratch data; returns the offset."""
        return self.b.state(name, np.zeros(nbytes, np.int8))

    def shared_scratch(self, name: str, nbytes: int) -> int:
        """Static sbuf bytes that every layer asking for `name` reuses (layers run one after the
        other, and such scratch holds nothing across layers); the first request must be the
        largest (`nbytes` over all the layers that will ask)."""
        if name not in self._shared:
            self._shared[name] = (self.sbuf_scratch(name, nbytes), nbytes)
        off, size = self._shared[name]
        if nbytes > size:
            raise ValueError(f"shared scratch {name!r}: {nbytes} bytes asked, {size} allocated")
        return off

    def sbuf_tensor(self, name: str, positions: int, channels: int, dtype) -> TensorRef:
        dtype = DType(dtype)
        row = self._pitch(Buffer.SBUF, positions, channels, dtype)
        off = self.b.state(name, np.zeros((positions, row // dtype.size), dtype.numpy))
        return TensorRef(Buffer.SBUF, off, positions, channels, dtype, row_stride=row)

    def state_tensor(self, name: str, positions: int, channels: int, dtype) -> TensorRef:
        """A tensor kept across frames (zero at load), channel-last in sbuf."""
        return self.sbuf_tensor(name, positions, channels, dtype)

    def frame_block(self, layer, x: TensorRef) -> TensorRef:
        """The K frames a time convolution reads, back to back in sbuf, position-last, as one
        (positions, K*C) tensor; queues the shift of the past frames for the end of the frame."""
        k = layer.weight.shape[2]
        c, length = x.channels, x.positions
        if layer.name in self.frame_blocks:
            off = self.frame_blocks[layer.name][0]
        else:
            off = self.sbuf_scratch(layer.state, k * c * length * x.size)
            cur = TensorRef(Buffer.SBUF, off + (k - 1) * c * length * x.size, length, c, x.dtype).transposed_store()
            copy(self.b, x, cur)
        block = TensorRef(Buffer.SBUF, off, length, k * c, x.dtype, row_stride=x.size, col_stride=length * x.size)
        frame = c * length * x.size

        def shift(b=self.b):
            for f in range(k - 1):                  # oldest first: frame f <- frame f+1
                copy_block(b, (Buffer.SBUF, off + (f + 1) * frame), (Buffer.SBUF, off + f * frame), frame)
        self.end_of_frame.append((layer.name, shift))
        return block

    def frame_stack(self, layer, x) -> tuple[TensorRef, FrameStack]:
        """The frames a 2-D convolution reads: its (kt-1)*dt past input frames and the current
        one, oldest first, as one channel-last sbuf tensor of (frames x positions) rows. Copies
        the current frame (a tensor or a concatenation's parts) into the last slot and queues the
        shift of the slots (slot f <- slot f+1) for the end of the frame."""
        parts = x if isinstance(x, list) else [x]
        kt, dt = layer.weight.shape[2], layer.time_dilation
        past = (kt - 1) * dt
        length, channels, dtype = parts[0].positions, sum(p.channels for p in parts), parts[0].dtype
        stack = self.sbuf_tensor(layer.state, (past + 1) * length, channels, dtype)
        cur = stack.view(pos=past * length, positions=length)
        c0 = 0
        for p in parts:
            copy(self.b, p, cur.view(ch=c0, channels=p.channels))
            c0 += p.channels
        transposed = layer.op == "conv_transpose2d"
        taps = tuple((kt - 1 - k) * dt if transposed else k * dt for k in range(kt))
        slot = length * stack.row_stride

        def shift(b=self.b):
            for f in range(past):                   # oldest first: slot f <- slot f+1
                copy_block(b, (Buffer.SBUF, stack.offset + (f + 1) * slot), (Buffer.SBUF, stack.offset + f * slot), slot)
        self.end_of_frame.append((layer.name, shift))
        return stack, FrameStack(taps, length)

    def note(self, text: str) -> None:
        if text and text not in self._notes:
            self._notes.append(text)

    # The pass ---------------------------------------------------------------------------------
    def place_input(self):
        """The host input port: in the slot after the past frames of a time convolution reading
        it, else position-last in abuf."""
        t = self.qnet.input
        channels, positions = t.shape
        dtype = dtype_of(t.dtype)
        size = dtype.size
        for layer in self.qnet.layers:
            if layer.op == "complex_conv_time" and t.name in layer.inputs:
                k = layer.weight.shape[2]
                off = self.sbuf_scratch(layer.state, k * channels * positions * size)
                self.frame_blocks[layer.name] = (off, k, channels, positions, dtype)
                cur = off + (k - 1) * channels * positions * size
                self.b.input_port(t.name, "sbuf", cur, (channels, positions), DType(dtype).numpy)
                self.values[t.name] = TensorRef(Buffer.SBUF, cur, positions, channels, dtype).transposed_store()
                return
        off = self.b.alloc(t.name, (channels, positions), DType(dtype).numpy)
        self.owned[t.name] = [t.name]
        self.b.input_port(t.name, "abuf", off, (channels, positions), DType(dtype).numpy)
        self.values[t.name] = TensorRef(Buffer.ABUF, off, positions, channels, dtype).transposed_store()

    def run(self) -> list[LayerRecord]:
        """Emit the whole frame; returns one record per layer (and per frame.in / frame.end)."""
        b = self.b
        records = []
        with self._measure(records, "frame.in", "sync_in"):
            self.place_input()
            for port in range(len(b.inputs)):
                b.emit(Opcode.SYNC_IN, port=port)
            self.note("host input port(s)")
        for i, layer in enumerate(self.qnet.layers):
            self.index, self.layer = i, layer
            fn = LOWER.get(layer.op)
            if fn is None:
                raise LoweringError(layer.name, f"no lowering for op {layer.op!r}")
            with self._measure(records, layer.name, layer.op):
                try:
                    value = fn(self, layer)
                except ValueError as exc:            # a kernel's precondition: one line, naming the layer
                    raise LoweringError(layer.name, str(exc)) from exc
                self.values[layer.output] = value
                if layer.output in self.outputs:
                    self._emit_output(layer.output)
        self.index, self.layer = len(self.qnet.layers), None
        with self._measure(records, "frame.end", "state"):
            for name, emit in self.end_of_frame:
                emit()
                self.note(f"shift the past frames of {name}")
            b.emit(Opcode.EOF)
        return records

    @contextlib.contextmanager
    def _measure(self, records, name, op):
        """One builder layer; afterwards free its temporaries and dead tensors, and record it."""
        b = self.b
        self._temps, self._notes = [], []
        w0, s0, p0 = len(b.wbuf.image), len(b.sbuf.image), len(b.pbuf.image)
        with b.layer(name, op):
            yield
            extent = max((o + n for o, n in b.abuf.live.values()), default=0)
            live = sum(n for _, n in b.abuf.live.values())
        for key in self._temps:
            b.free(key)
        self._free_dead(self.index)
        layer = b.layers[-1]
        records.append(LayerRecord(name=name, op=op, pc_start=layer.pc_start, pc_end=layer.pc_end,
                                   macs=layer.macs, wbuf_bytes=len(b.wbuf.image) - w0,
                                   pbuf_bytes=len(b.pbuf.image) - p0,
                                   sbuf_bytes=len(b.sbuf.image) - s0, abuf_bytes=extent, abuf_live_bytes=live,
                                   mapping="; ".join(self._notes)))

    def _emit_output(self, name):
        """Make `name` a host output port (position-last (C, L)) and signal it."""
        v = self.values[name]
        t = self.qnet.tensors[name]
        channels, positions = t.shape
        if isinstance(v, list) or not (v.row_stride == v.size and v.col_stride == positions * v.size):
            src = self.materialise(name) if isinstance(v, list) else v
            off = self.b.alloc(name + ".port", (channels, positions), DType(src.dtype).numpy)
            self.owned.setdefault(name, []).append(name + ".port")
            v = TensorRef(Buffer.ABUF, off, positions, channels, src.dtype).transposed_store()
            copy(self.b, src, v)
            self.values[name] = v
        port = self.b.output_port(name, v.buf.label, v.offset, (channels, positions), DType(v.dtype).numpy)
        self.b.emit(Opcode.SYNC_OUT, port=port)
        self.note(f"output port {port}")

    def _free_dead(self, i):
        for name in list(self.owned):
            if self.last_use.get(name, i) <= i and name not in self.outputs:
                for key in self.owned.pop(name):
                    self.b.free(key)


def check_compilable(config: NpuConfig) -> None:
    """Refuse a configuration the compiler cannot honour: its quantisation and its integer
    reference assume sums that wrap at ACC_BITS, so a program for another accumulator width
    would not compute what the reference says (hand-written programs may use any width the
    golden model and the RTL support)."""
    if config.acc_bits != ACC_BITS:
        raise ConfigError(f"acc_bits = {config.acc_bits}: the compiler quantises for a {ACC_BITS}-bit accumulator "
                          f"(compile for acc_bits = {ACC_BITS}; other widths are for hand-written programs)")


def compile_network(qnet, config: NpuConfig | None = None, *, model=None, schedule: bool = True,
                    with_listing: bool = True, code: str = "loops"):
    """Lower a quantised network for `config` (default: NpuConfig()), its code with hardware
    loops (`code="loops"`) or every instruction written out (`code="unrolled"`).

    Returns (Program, listing text, CompileSummary). `model` (the `compiler.Model` the network was
    quantised from) adds the model-level figures to the summary (parameters before and after
    batch-norm folding, MACs of the model, what runs on the host). With schedule=False the golden
    model's timing is not computed (no cycles in the listing and summary); with with_listing=False
    the listing (mostly the disassembly) is not made and None is returned in its place.
    Raises FitError (a buffer, imem or the LUT memory too small) or LoweringError.
    """
    config = config or NpuConfig()
    check_compilable(config)
    builder = ProgramBuilder(config, code=code)
    ctx = LayerContext(qnet, builder)
    records = ctx.run()
    meta = ProgramMeta(compiler=COMPILER_VERSION, model=qnet.name, lanes=config.lanes, code=code,
                       outputs=list(qnet.outputs),
                       inputs=[qnet.input.name], host_layers=[f"{fl.name} ({fl.op})" for fl in qnet.host_layers],
                       **_host_meta(qnet, model))
    program = builder.build(meta)          # FitError if a buffer does not fit
    summary = summarise_program(program, qnet, records, builder, model=model, schedule=schedule)
    program.meta = program.meta.replace(**summary.meta_figures())
    return program, (listing(program, summary) if with_listing else None), summary


def _host_meta(qnet, model) -> dict:
    """What the host needs to use the program without the model file (`npu_model enhance`,
    `report`): the STFT framing and features, the scale of every port, the reconstruction."""
    out = {"scales": {qnet.input.name: float(qnet.input.scale),
                      **{name: float(qnet.tensors[name].scale) for name in qnet.outputs if name in qnet.tensors}}}
    if model is not None:
        out["input"] = model.spec.input
    for fl in qnet.host_layers:            # the host's mask op (one per model)
        out["host_layer"] = HostLayer(op=fl.op, inputs=tuple(fl.inputs))
    return out
