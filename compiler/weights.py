"""Weights of a model: the arrays each layer needs, loading and checking an `.npz`, saving one.

Array names are `<layer>.<suffix>` with the suffixes of each op (docs/model-format.md), in the
layouts PyTorch uses, so that a trained checkpoint maps over by renaming keys.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from npu_model.arch.arrays import ArrayFileError, load_arrays
from npu_model.arch.errors import shown
from npu_model.arch.files import write_bytes

from .errors import fail
from .ops import OPS
from .spec import ModelSpec

__all__ = ["expected_weights", "load_npz", "save_npz", "confined"]


def expected_weights(spec: ModelSpec) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Full array name -> (layer name, shape) for every array the model needs."""
    out = {}
    for layer in spec.layers:
        for suffix, shape in OPS[layer.op].weight_shapes(layer, spec.input_shapes(layer)).items():
            out[f"{layer.name}.{suffix}"] = (layer.name, tuple(shape))
    return out


def confined(spec: ModelSpec, path, *, anywhere: bool = False) -> Path:
    """`path`, if it lies inside the model file's folder (after resolving `..` and links) or
    `anywhere` is set: a model file shared by someone else must not make the compiler read
    arbitrary files (`--weights-anywhere` on the command lines)."""
    path = Path(path)
    folder = Path(spec.source).parent.resolve()
    if not anywhere and not path.resolve().is_relative_to(folder):
        fail(spec.source, f"{shown(str(path))} is outside the model's folder {folder}; give --weights-anywhere "
                          "to read weights from there", field="weights.npz")
    return path


def load_npz(spec: ModelSpec, path, *, anywhere: bool = False) -> dict[str, np.ndarray]:
    path = confined(spec, path, anywhere=anywhere)
    want = expected_weights(spec)
    try:
        arrays = load_arrays(path, max_bytes=8 * sum(math.prod(s) for _, s in want.values()) + (1 << 20))
    except ArrayFileError as exc:
        fail(spec.source, f"weights file: {exc}", field="weights.npz")
    if not isinstance(arrays, dict):
        fail(spec.source, f"weights file {path}: an .npy holds one array; weights are an .npz of named arrays",
             field="weights.npz")
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
    """float32 arrays in an .npz at exactly `path` (no suffix added), written atomically."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, dtype=np.float32) for k, v in sorted(weights.items())})
    write_bytes(path, buf.getvalue())
