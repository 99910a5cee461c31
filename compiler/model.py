"""A loaded model: its spec, its raw weights and its folded layers, ready to run or quantise."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npu_model.arch.config import NpuConfig

from .fold import FoldedLayer, fold_model
from .cache import init_random_cached
from .onnx_import import import_onnx
from .errors import fail
from .parse import parse_model, parse_model_text
from .spec import ModelSpec
from .weights import expected_weights, load_npz

__all__ = ["Model", "load_model", "read_spec", "build_model", "companion_config"]


@dataclass
class Model:
    spec: ModelSpec
    weights: dict[str, np.ndarray]
    layers: list[FoldedLayer]

    @property
    def name(self) -> str:
        return self.spec.name

    def layer(self, name: str) -> FoldedLayer:
        for fl in self.layers:
            if fl.name == name or fl.output == name:
                return fl
        raise KeyError(name)


def build_model(spec: ModelSpec, weights: dict | None = None, *, weights_anywhere: bool = False) -> Model:
    """Weights from `weights`, else from the spec's `.npz` (inside the model's folder unless
    `weights_anywhere`), else seeded random ones."""
    if weights is None:
        if spec.weights.get("npz"):
            weights = load_npz(spec, spec.weights["npz"], anywhere=weights_anywhere)
        else:
            weights = init_random_cached(spec, spec.weights.get("seed", 0), spec.weights.get("bn_shift", 0.0))
    return Model(spec=spec, weights=weights, layers=fold_model(spec, weights))


def load_model(path, *, weights_anywhere: bool = False, input_section: dict | None = None,
               weights=None) -> Model:
    """Parse, validate, load or initialise weights, fold: the usual entry point. An `.onnx` file is
    imported (compiler.onnx_import; `input_section` overrides its `input:` fields) and checked
    like any model file. `weights`: an `.npz` (any path: the caller's own choice, e.g. a trained
    checkpoint, `--weights` on the command lines) used instead of the file's `weights:` section."""
    if Path(path).suffix.lower() == ".onnx":
        if weights is not None:
            fail(path, "an ONNX graph carries its own weights; --weights applies to model files")
        text, weights = import_onnx(path, input_section=input_section)
        spec = parse_model_text(text, source=str(path))
        want = expected_weights(spec)
        for name, (layer, shape) in want.items():
            if name not in weights or weights[name].shape != shape:
                fail(path, f"imported array '{name}' does not have the shape {shape} the layer needs", layer=layer)
        return build_model(spec, {k: weights[k] for k in want})
    spec = parse_model(path)
    if weights is not None:
        return build_model(spec, load_npz(spec, weights, anywhere=True))
    return build_model(spec, weights_anywhere=weights_anywhere)


def read_spec(path, *, input_section: dict | None = None) -> ModelSpec:
    """The parsed model of a YAML file or of an ONNX graph (imported, without building weights):
    what callers that need only its fields (hop, sample rate, precision) read."""
    if Path(path).suffix.lower() == ".onnx":
        text, _ = import_onnx(path, input_section=input_section)
        return parse_model_text(text, source=str(path))
    return parse_model(path)


def companion_config(path, *, lanes: int | None = None) -> NpuConfig:
    """The NPU configuration a model file names beside itself (`<model>.npu.json`, for a model
    that needs buffers other than the defaults, such as models/cgcrn.yaml), else the defaults;
    `lanes` overrides its lanes. What the bundled models are tested and benchmarked with."""
    side = Path(path).with_suffix(".npu.json")
    config = NpuConfig.load(side) if side.exists() else NpuConfig()
    return config if lanes is None else config.replace(lanes=lanes)
