"""The validated content of a model file: input description, layers, shapes, outputs.

`compiler.parse` builds a `ModelSpec` from YAML; everything downstream (weights, folding,
references, quantisation, lowering) reads this and never the YAML again.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ops import OPS, LayerSpec, Shape

__all__ = ["InputSpec", "ModelSpec", "FEATURE_CHANNELS"]

#: host-computed input features and the channels each contributes (see compiler.host.features).
FEATURE_CHANNELS = {
    "compressed_complex": 2,  # |X|^c e^{j angle X}: real part, imaginary part
    "log_power": 1,           # log(|X|^2 + eps)
    "pcen": 1,                # per-channel energy normalisation (smoother state on the host)
    "demod_phase_cos": 1,     # cos of the phase advance minus the bin's nominal advance
    "demod_phase_sin": 1,     # sin of the same
}


@dataclass(frozen=True)
class InputSpec:
    """The STFT framing and the host features the NPU receives as its input tensor."""

    name: str
    bins: int
    channels: int
    sample_rate: int
    fft_size: int
    hop: int
    features: tuple[str, ...]
    compression: float = 0.3

    @property
    def shape(self) -> Shape:
        return self.channels, self.bins


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
