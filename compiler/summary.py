"""Parameters and MACs per layer, and what runs on the host: the figures the paper tables give.

Parameters count weights, biases and batch-norm scale and shift (running statistics excluded),
as TRU-Net's paper does; after folding, a batch norm's two vectors disappear into the conv's
weights and bias (a conv without bias gains one). MACs are per frame and count transposed
convolutions without the multiplications by inserted zeros.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npu_model.host import HOST_MATHS

from .ops import OPS
from .spec import ModelSpec

__all__ = ["LayerSummary", "ModelSummary", "summarise"]


@dataclass(frozen=True)
class LayerSummary:
    name: str
    op: str
    in_shape: tuple[int, int]
    out_shape: tuple[int, int]
    kernel: int | None
    stride: int | None
    params: int          # before batch-norm folding
    params_folded: int   # after
    macs: int            # per frame
    where: str           # 'npu' or 'host'


@dataclass(frozen=True)
class ModelSummary:
    name: str
    layers: tuple[LayerSummary, ...]
    host: tuple[str, ...]

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def params_folded(self) -> int:
        return sum(l.params_folded for l in self.layers)

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)

    def row(self, name: str) -> LayerSummary:
        return next(l for l in self.layers if l.name == name)

    def format(self) -> str:
        head = f"{'layer':<12} {'op':<18} {'in':>8} {'out':>8} {'k':>4} {'s':>4} {'params':>9} {'folded':>9} {'MACs':>11} where"
        lines = [f"model {self.name}", head, "-" * len(head)]
        for l in self.layers:
            shape = lambda s: f"{s[0]}x{s[1]}"
            lines.append(f"{l.name:<12} {l.op:<18} {shape(l.in_shape):>8} {shape(l.out_shape):>8} "
                         f"{_dims(l.kernel):>4} {_dims(l.stride):>4} "
                         f"{l.params:>9,} {l.params_folded:>9,} {l.macs:>11,} {l.where}")
        lines.append("-" * len(head))
        lines.append(f"{'total':<56} {self.params:>9,} {self.params_folded:>9,} {self.macs:>11,}")
        lines.append("host: " + "; ".join(self.host))
        return "\n".join(lines)


def _dims(v) -> str:
    """A kernel or stride: an int, (time, frequency) as 'txf', or nothing."""
    if v is None:
        return ""
    return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _layer_params(spec: ModelSpec, layer) -> tuple[int, int]:
    shapes = OPS[layer.op].weight_shapes(layer, spec.input_shapes(layer))
    before = sum(int(np.prod(s)) for k, s in shapes.items() if not k.endswith(("running_mean", "running_var")))
    bn = sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith("bn.") and
             k.endswith(("weight", "bias")))
    after = before - bn
    if bn and "bias" not in shapes:
        after += layer["out_channels"]  # folding creates the conv's bias
    if layer.op == "batchnorm":
        after = before  # fused into the conv before it when possible; otherwise a scale and a shift
    return before, after


def summarise(spec: ModelSpec) -> ModelSummary:
    rows = []
    for layer in spec.layers:
        ins = spec.input_shapes(layer)
        out = spec.shapes[layer.name]
        opdef = OPS[layer.op]
        before, after = _layer_params(spec, layer)
        rows.append(LayerSummary(
            name=layer.name, op=layer.op, in_shape=(sum(s[0] for s in ins), ins[0][1]) if layer.op in ("concat", "mask_reconstruct") else ins[0], out_shape=out,
            kernel=layer.attrs.get("kernel"), stride=layer.attrs.get("stride"),
            params=before, params_folded=after, macs=opdef.macs(layer, ins, out),
            where="host" if opdef.host else "npu"))
    host = [f"input features {', '.join(spec.input.features)}: "
            + "; ".join(HOST_MATHS[f] for f in spec.input.features)]
    host += [f"{l.name} ({l.op}): {OPS[l.op].doc.removeprefix('host: ')}" for l in spec.layers if OPS[l.op].host]
    host.append("STFT and inverse STFT; int8 quantisation of the input, dequantisation of the outputs")
    return ModelSummary(name=spec.name, layers=tuple(rows), host=tuple(host))
