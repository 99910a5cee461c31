"""A content-addressed cache of computed points, so that an interrupted or extended sweep resumes.

A point's key is the SHA-256 of everything its result depends on: the model file and the weights
file it names, the task's settings (configuration, code form, precision, frames, hop, area
source), and the code version, a hash of the source of the packages that compile, simulate and
synthesise (`compiler`, `npu_model`, `rtl`: `--area synth` reads the RTL's area). Change any of them and the point is computed again; nothing else
invalidates an entry. Each entry is one JSON file named by its key, written atomically when the
point finishes, so a sweep stopped half-way keeps what it finished.

Only deterministic outcomes are kept ("ok" and "does not fit"); an "error" (a timeout, a crash) is
computed again next time.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from compiler.parse import parse_model

from ..arch.errors import NpuError
from ..arch.files import source_digest, write_bytes

__all__ = ["PointCache", "code_version", "model_digest", "CACHED_STATUSES"]

CACHED_STATUSES = ("ok", "does not fit")
_PACKAGES = ("compiler", "npu_model", "rtl")


def code_version() -> str:
    """SHA-256 over the Python sources of the packages that compile, simulate and synthesise a point."""
    return source_digest(_PACKAGES)


def model_digest(model: Path) -> str:
    """SHA-256 of a model file and of the weights file it names (a YAML's `weights.npz`)."""
    h = hashlib.sha256()
    try:
        h.update(model.read_bytes())
        if model.suffix.lower() in (".yaml", ".yml"):
            npz = parse_model(model).weights.get("npz")
            if npz:
                h.update(b"\0npz\0" + Path(npz).read_bytes())
    except OSError as exc:
        raise NpuError(f"{exc.filename}: cannot read ({exc.strerror})") from None
    return h.hexdigest()


class PointCache:
    """JSON entries in `folder`, one per point key; `None` folder: a cache that keeps nothing."""

    def __init__(self, folder: Path | None, *, model: Path):
        self.folder = Path(folder) if folder is not None else None
        self._base = f"{model_digest(model)}:{code_version()}" if folder is not None else ""

    def key(self, settings: dict) -> str:
        text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{self._base}:{text}".encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        if self.folder is None:
            return None
        try:
            return json.loads((self.folder / f"{key}.json").read_text())
        except (OSError, ValueError):          # absent, or torn by a crash: compute it again
            return None

    def put(self, key: str, fields: dict) -> None:
        if self.folder is None or fields.get("status") not in CACHED_STATUSES:
            return
        write_bytes(self.folder / f"{key}.json", json.dumps(fields, sort_keys=True).encode())
