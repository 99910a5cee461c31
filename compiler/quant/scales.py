"""Choose each tensor's integer type and scale.

Most tensors are int8 with a calibrated scale. Some are fixed by the arithmetic: a GRU's output
is its int16 hidden state (2**-14), a sigmoid/tanh output is the table's int16 output. Inputs of
a concat, and the two inputs of an add, must share one scale because the NPU adds and stacks
integers as they are: those are joined into groups (union-find) that take the largest range of
their members, or the fixed format of a fixed member. An add with a fixed-format input (a GRU's
state, a table's output) is not joined: it requantises the input of smaller range onto the
other's scale first (`build_add`). A concat does not join its inputs: each
keeps its own format and is requantised (a `mov`) into the concat's format when they differ, so
that a small-range skip tensor keeps its resolution for its other consumers.
"""
from __future__ import annotations

from npu_model.arch.isa import DType

from ..errors import QuantisationError
from .calibrate import Calibration
from .luts import SIGMOID_OUT, TANH_OUT
from .qnet import QTensor

__all__ = ["assign_tensors", "GRU_STATE_SCALE", "LAYOUT_OPS"]

GRU_STATE_SCALE = 2.0 ** -14
_FIXED_ACT = {"sigmoid": ("int16", SIGMOID_OUT), "tanh": ("int16", TANH_OUT)}
_DTYPE_MAX = {d.long_name: d.max for d in DType}
#: Ops that move integers without changing them: output and input share one format.
LAYOUT_OPS = ("reshape", "pixel_shuffle", "channels")


def _fixed_format(fl):
    if fl.op in ("gru", "lstm"):
        return "int16", GRU_STATE_SCALE
    return _FIXED_ACT.get(fl.attrs.get("activation", "none"))


def assign_tensors(model, calib: Calibration, activations: str, wide, *,
                   int16_headroom: float) -> dict[str, QTensor]:
    """`wide`: tensors made int16 whatever `activations` says (with every tensor sharing their scale).
    `int16_headroom`: margin on the largest value seen for int16 tensors."""
    wide = set(wide)
    spec = model.spec
    npu = [fl for fl in model.layers if not fl.host]
    names = [spec.input.name] + [fl.output for fl in npu]
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def join(a, b):
        parent[find(a)] = find(b)

    fixed = {fl.output: (_fixed_format(fl), fl) for fl in npu if _fixed_format(fl)}
    for fl in npu:
        if fl.op in LAYOUT_OPS:     # a layout change: the same integers
            join(fl.inputs[0], fl.output)
    fixed_roots = {find(n) for n in fixed}
    for fl in npu:   # an add of a fixed-format tensor (a GRU's state) aligns the other one instead
        if fl.op == "add" and not any(find(i) in fixed_roots for i in fl.inputs):
            join(fl.inputs[0], fl.inputs[1])
            fixed_roots = {find(n) for n in fixed}

    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(find(n), []).append(n)

    out = {}
    for members in groups.values():
        formats = {fixed[m][0] for m in members if m in fixed}
        if len(formats) > 1:
            raise QuantisationError(spec.source, f"tensors {', '.join(members)} must share one format "
                                    f"but have fixed formats {sorted(formats)}", layer=members[-1])
        if formats:
            dtype, scale = formats.pop()
            for m in members:
                if m not in fixed and calib.ranges[m] > scale * _DTYPE_MAX[dtype] * 1.001:
                    raise QuantisationError(spec.source, f"tensor '{m}' (range {calib.ranges[m]:.3g}) must share "
                                            f"the fixed {dtype} scale {scale:g} of {sorted(set(members) & set(fixed))}",
                                            layer=m)
        else:
            dtype = "int16" if wide & set(members) else activations
            if dtype == "int8":
                scale = max(calib.ranges[m] for m in members) / _DTYPE_MAX[dtype]
            else:  # 16 bits need no clipping: the largest value seen, with a margin for unseen frames
                scale = max(calib.absmax[m] for m in members) * int16_headroom / _DTYPE_MAX[dtype]
        for m in members:
            out[m] = QTensor(name=m, shape=spec.shapes[m], dtype=dtype, scale=scale)
    for fl in npu:  # in order, so that a concat of concats sees its inputs' final formats
        if fl.op in LAYOUT_OPS:     # and a layout change of a concat its format
            t = out[fl.inputs[0]]
            out[fl.output] = QTensor(name=fl.output, shape=spec.shapes[fl.output], dtype=t.dtype, scale=t.scale)
        elif fl.op == "concat":
            ins = [out[i] for i in fl.inputs]
            if len({(t.dtype, t.scale) for t in ins}) == 1:
                dtype, scale = ins[0].dtype, ins[0].scale
            else:
                dtype = "int16" if fl.output in wide else activations
                scale = max(t.scale * _DTYPE_MAX[t.dtype] for t in ins) / _DTYPE_MAX[dtype]
            out[fl.output] = QTensor(name=fl.output, shape=spec.shapes[fl.output], dtype=dtype, scale=scale)
    return out
