"""What every op of the model format declares: fields, shapes, weights, counts, initialisation.

An op definition is structural only: it knows the shapes and the arithmetic cost of a layer but
not how to compute it. The float kernels (`compiler.reference`) and the integer kernels
(`compiler.quant`) implement the maths, so that each concern stays in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import fail
from .fields import Field

__all__ = ["OpDef", "LayerSpec", "Shape", "ACTIVATIONS", "BN_SUFFIXES"]

Shape = tuple[int, int]  # (channels, positions along frequency) of one frame
ACTIVATIONS = ("none", "relu", "sigmoid", "tanh")
#: batch-norm arrays of a convolution with `batchnorm: true` (running statistics are not counted).
BN_SUFFIXES = ("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")


@dataclass(frozen=True)
class LayerSpec:
    """One validated layer of the YAML file (op-specific fields in `attrs`, defaults filled in)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict
    source: str

    def __getitem__(self, key):
        return self.attrs[key]

    def fail(self, field: str | None, message: str):
        fail(self.source, message, layer=self.name, field=field)


class OpDef:
    """Base class of op definitions; subclasses fill in the class variables and the methods."""

    op: ClassVar[str]
    doc: ClassVar[str] = ""
    fields: ClassVar[dict[str, Field]] = {}
    #: number of inputs; None means two or more (given as `inputs:`).
    arity: ClassVar[int | None] = 1
    #: runs on the host (numpy) rather than on the NPU.
    host: ClassVar[bool] = False
    #: keeps state from one frame to the next.
    stateful: ClassVar[bool] = False

    def output_shape(self, layer: LayerSpec, ins: list[Shape]) -> Shape:
        raise NotImplementedError

    def keeps_state(self, layer: LayerSpec) -> bool:
        """This layer's output depends on earlier frames (state the NPU keeps in sbuf)."""
        return self.stateful

    def check_against_input(self, layer: LayerSpec, ins: list[Shape], inp) -> None:
        """Refuse input shapes that disagree with the model's input (an `InputSpec`); most ops
        do not care (a host op that combines outputs with the input's STFT does)."""

    def weight_shapes(self, layer: LayerSpec, ins: list[Shape]) -> dict[str, tuple[int, ...]]:
        """Arrays this layer needs, by suffix; the `.npz` name is `<layer>.<suffix>`."""
        return {}

    def macs(self, layer: LayerSpec, ins: list[Shape], out: Shape) -> int:
        """Multiply-accumulates per frame on the NPU (0 for data movement and host work)."""
        return 0

    def init(self, layer: LayerSpec, ins: list[Shape], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Seeded random weights; batch-norm statistics are set later from data."""
        return {}

    # Shared checks ---------------------------------------------------------------------------
    @staticmethod
    def same_length(layer: LayerSpec, ins: list[Shape]):
        lengths = {s[1] for s in ins}
        if len(lengths) > 1:
            desc = ", ".join(f"{n} has {s[1]}" for n, s in zip(layer.inputs, ins))
            layer.fail("inputs", f"shape mismatch: inputs differ in positions ({desc})")

    @staticmethod
    def bn_shapes(channels: int) -> dict[str, tuple[int, ...]]:
        return {suffix: (channels,) for suffix in BN_SUFFIXES}

    @staticmethod
    def bn_init(channels: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "bn.weight": rng.uniform(0.8, 1.2, channels),
            "bn.bias": rng.normal(0.0, 0.1, channels),
            "bn.running_mean": np.zeros(channels),
            "bn.running_var": np.ones(channels),
        }
