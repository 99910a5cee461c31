"""Quantised networks kept by content, so that compiling a model again skips its quantisation.

Quantising is most of a compile (TRU-Net: about 1.6 s of 3.3 s, calibration and weight rounding)
and depends only on the model (its parsed description and weights), the quantisation settings
and the code. `quantise_cached` keys a pickle of the result by a SHA-256 of exactly those: the
pickled `ModelSpec`, every weight array's name, type, shape and bytes, the `QuantConfig`, and the
source of the `compiler` and `npu_model` packages (`arch.files.source_digest`), so any change to
any of them quantises again; nothing else invalidates an entry. Entries live in
`build/cache/quantised/` (`NPU_KIT_CACHE=DIR` elsewhere, `NPU_KIT_CACHE=off` to bypass), written
atomically; an unreadable or torn entry is computed again, and a folder that cannot be written only
costs the time saved.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from npu_model.arch.errors import NpuError
from npu_model.arch.files import source_digest, write_bytes

from .config import QuantConfig
from .qnet import QuantizedNetwork
from .quantise import quantise

__all__ = ["quantise_cached", "cache_dir", "quantisation_key"]

ROOT = Path(__file__).resolve().parents[2]
_OFF = ("off", "0", "no", "none")


def cache_dir() -> Path | None:
    """Where entries are kept: $NPU_KIT_CACHE, else build/cache/quantised; None when turned off."""
    value = os.environ.get("NPU_KIT_CACHE")
    if value is not None and value.strip().lower() in _OFF:
        return None
    return Path(value) if value else ROOT / "build" / "cache" / "quantised"


def quantisation_key(model, config: QuantConfig) -> str:
    """SHA-256 of everything `quantise(model, config)` depends on (see the module docstring)."""
    h = hashlib.sha256(source_digest(("compiler", "npu_model")).encode())
    h.update(pickle.dumps(model.spec, protocol=5))          # apart: pickle's memo makes shared parts refs
    h.update(pickle.dumps(config, protocol=5))
    for name in sorted(model.weights):
        w = model.weights[name]
        h.update(f"\0{name}\0{w.dtype.str}\0{w.shape}\0".encode())
        h.update(w.tobytes())
    return h.hexdigest()


def quantise_cached(model, config: QuantConfig | None = None) -> QuantizedNetwork:
    """`quantise(model, config)`, taken from the cache when it was computed before."""
    config = config or QuantConfig.from_spec(model.spec)
    folder = cache_dir()
    if folder is None:
        return quantise(model, config)
    path = folder / f"{quantisation_key(model, config)}.pickle"
    try:
        qnet = pickle.loads(path.read_bytes())
        if isinstance(qnet, QuantizedNetwork):
            return qnet
    except Exception:                      # absent, torn, or from an incompatible version: quantise again
        pass
    qnet = quantise(model, config)
    try:
        write_bytes(path, pickle.dumps(qnet, protocol=5))
    except NpuError:
        pass
    return qnet
