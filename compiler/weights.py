"""Weights of a model: the arrays each layer needs, loading and checking an `.npz`, saving one.

Array names are `<layer>.<suffix>` with the suffixes of each op (docs/model-format.md), in the
layouts PyTorch uses, so that a trained checkpoint maps over by renaming keys.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import fail
from .ops import OPS
from .spec import ModelSpec

__all__ = ["expected_weights", "load_npz", "save_npz"]


def expected_weights(spec: ModelSpec) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Full array name -> (layer name, shape) for every array the model needs."""
    out = {}
    for layer in spec.layers:
        for suffix, shape in OPS[layer.op].weight_shapes(layer, spec.input_shapes(layer)).items():
            out[f"{layer.name}.{suffix}"] = (layer.name, tuple(shape))
    return out


def load_npz(spec: ModelSpec, path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        fail(spec.source, f"cannot read weights file {path} ({exc})", field="weights.npz")
    want = expected_weights(spec)
    out = {}
    for name, (layer, shape) in want.items():
        suffix = name[len(layer) + 1:]
        if name not in arrays:
            fail(path, f"missing array '{name}' of shape {shape}", layer=layer, field=suffix)
        a = arrays[name]
        if a.shape != shape:
            fail(path, f"array '{name}' has shape {a.shape}, expected {shape}", layer=layer, field=suffix)
        if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
            fail(path, f"array '{name}' has dtype {a.dtype}, expected a real number type", layer=layer, field=suffix)
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            fail(path, f"array '{name}' holds NaN or infinite values", layer=layer, field=suffix)
        if suffix.endswith("running_var") and np.any(a < 0):
            fail(path, f"array '{name}' has negative variances", layer=layer, field=suffix)
        out[name] = a
    extra = sorted(set(arrays) - set(want))
    if extra:
        fail(path, f"array '{extra[0]}' is not used by any layer (expected names: <layer>.<suffix>)")
    return out


def save_npz(weights: dict[str, np.ndarray], path) -> None:
    np.savez(path, **{k: np.asarray(v, dtype=np.float32) for k, v in sorted(weights.items())})
