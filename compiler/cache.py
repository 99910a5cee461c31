"""Results of the compiler's slow steps, kept by content, so that compiling a model again skips them.

Two steps depend only on their inputs and the code, and are most of a compile (TRU-Net: 3.3 s cold):
- seeded random weights (`init.init_random`, about 0.7 s: batch-norm statistics measured by running
  the float network): keyed by the parsed `ModelSpec`, the seed and the batch-norm shift;
- quantisation (`quant.quantise`, about 1.6 s: calibration and weight rounding): keyed by the
  parsed `ModelSpec`, every weight array's name, type, shape and bytes, the `QuantConfig` and the
  bytes of the audio files it calibrates on, if any.
Every key also holds the source of the `compiler` and `npu_model` packages
(`arch.files.source_digest`), so any change of the code computes again; nothing else invalidates
an entry. Entries are pickles in `build/cache/<kind>/` (`NPU_KIT_CACHE=DIR` for `DIR/<kind>/`,
`NPU_KIT_CACHE=off` to bypass), written atomically; an unreadable or torn entry is computed again,
and a folder that cannot be written only costs the time saved.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np

from npu_model.arch.errors import NpuError
from npu_model.arch.files import source_digest, write_bytes

from .init import init_random
from .quant.config import QuantConfig
from .quant.qnet import QuantizedNetwork
from .quant.quantise import quantise

__all__ = ["quantise_cached", "init_random_cached", "cache_dir", "quantisation_key", "weights_key"]

ROOT = Path(__file__).resolve().parents[1]
_OFF = ("off", "0", "no", "none")


def cache_dir() -> Path | None:
    """The cache's root: $NPU_KIT_CACHE, else build/cache; None when turned off."""
    value = os.environ.get("NPU_KIT_CACHE")
    if value is not None and value.strip().lower() in _OFF:
        return None
    return Path(value) if value else ROOT / "build" / "cache"


def _hasher(spec, *settings):
    h = hashlib.sha256(source_digest(("compiler", "npu_model")).encode())
    h.update(pickle.dumps(spec, protocol=5))          # apart: pickle's memo makes shared parts refs
    for s in settings:
        h.update(pickle.dumps(s, protocol=5))
    return h


def quantisation_key(model, config: QuantConfig) -> str:
    """SHA-256 of everything `quantise(model, config)` depends on (see the module docstring)."""
    h = _hasher(model.spec, config)
    for path in config.calibration_audio:                 # the audio calibrated on, not just its name
        try:
            h.update(Path(path).read_bytes())
        except OSError as exc:
            raise NpuError(f"{path}: cannot read the calibration audio ({exc.strerror or exc})") from None
    for name in sorted(model.weights):
        w = model.weights[name]
        h.update(f"\0{name}\0{w.dtype.str}\0{w.shape}\0".encode())
        h.update(w.tobytes())
    return h.hexdigest()


def weights_key(spec, seed: int, bn_shift: float) -> str:
    """SHA-256 of everything `init_random(spec, seed, bn_shift)` depends on."""
    return _hasher(spec, seed, bn_shift).hexdigest()


def _cached(kind: str, key: str, compute, expected: type):
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / kind / f"{key}.pickle"
    try:
        value = pickle.loads(path.read_bytes())
        if isinstance(value, expected):
            return value
    except Exception:                      # absent, torn, or from an incompatible version: compute again
        pass
    value = compute()
    try:
        write_bytes(path, pickle.dumps(value, protocol=5))
    except NpuError:
        pass
    return value


def quantise_cached(model, config: QuantConfig | None = None) -> QuantizedNetwork:
    """`quantise(model, config)`, taken from the cache when it was computed before."""
    config = config or QuantConfig.from_spec(model.spec)
    return _cached("quantised", quantisation_key(model, config), lambda: quantise(model, config), QuantizedNetwork)


def init_random_cached(spec, seed: int, bn_shift: float = 0.0) -> dict[str, np.ndarray]:
    """`init_random(spec, seed, bn_shift)`, taken from the cache when it was computed before."""
    return _cached("weights", weights_key(spec, seed, bn_shift), lambda: init_random(spec, seed, bn_shift), dict)
