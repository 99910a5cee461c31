"""The validated content of a model file: input description, layers, shapes, outputs.

`compiler.parse` builds a `ModelSpec` from YAML; everything downstream (weights, folding,
references, quantisation, lowering) reads this and never the YAML again.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from npu_model.arch.meta import InputSpec

from .ops import OPS, LayerSpec, Shape

__all__ = ["ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model: layers in execution order with the shape of every tensor."""

    name: str
    source: str
    input: InputSpec
    layers: tuple[LayerSpec, ...]
    shapes: dict[str, Shape]
    outputs: tuple[str, ...]
    weights: dict
    quantisation: dict = field(default_factory=dict)

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def input_shapes(self, layer: LayerSpec) -> list[Shape]:
        return [self.shapes[i] for i in layer.inputs]

    def is_host(self, layer: LayerSpec) -> bool:
        return OPS[layer.op].host

    def consumers(self, tensor: str) -> list[LayerSpec]:
        return [l for l in self.layers if tensor in l.inputs]
