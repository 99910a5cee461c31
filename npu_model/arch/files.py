"""Atomic file output for every command: a failed run never leaves a half-written file behind.

The data goes to a temporary file in the destination's directory, which is renamed over the
destination once complete; the file gets the mode a plainly created one would (0666 less the
umask; `mkstemp` alone makes 0600). An OS error is one line naming the path (`NpuError`).
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

from .errors import NpuError

__all__ = ["write_bytes", "write_text", "check_output", "source_digest", "OUTPUT_NOTE"]

#: What every command's --help says about its outputs.
OUTPUT_NOTE = ("Outputs are written atomically (a failed run leaves no file behind) after their paths "
               "are checked; missing parent directories are created.")


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically, creating its directory; NpuError on an OS error."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, _file_mode())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise NpuError(f"{path}: cannot write ({exc.strerror or exc})") from None


def check_output(path, *, directory: bool = False) -> Path:
    """Refuse, before any work, an output path that cannot be written: a directory where a file
    goes (or a file where a directory goes), or a path under something that is not a directory."""
    path = Path(path)
    if str(path) in ("", "."):
        raise NpuError(f"{str(path)!r}: not a usable output path")
    if path.exists():
        if directory and not path.is_dir():
            raise NpuError(f"{path}: exists and is not a directory (the output is a directory)")
        if not directory and path.is_dir():
            raise NpuError(f"{path}: is a directory (the output is a file)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NpuError(f"{path}: cannot be created ({parent} is not a directory)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NpuError(f"{path}: cannot be created ({parent} is not writable)")
    return path


def write_text(path, text: str) -> None:
    """`write_bytes` of UTF-8 text."""
    write_bytes(path, text.encode())


@functools.cache
def source_digest(packages: tuple[str, ...]) -> str:
    """SHA-256 over the Python sources of the kit's `packages` ("compiler", "npu_model", ...): the
    code version a cached result computed by them is valid for."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()
