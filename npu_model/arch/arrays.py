"""Reading `.npy` and `.npz` files from users without trusting their headers.

`numpy.load` allocates whatever shape a header declares (a 100-byte file can ask for 11 TiB)
and its errors are exceptions of every kind. Here the header is read first, the declared size
is checked against the caller's limit and against the bytes the file holds, object (pickled)
arrays are refused, and every problem is one `NpuError` line naming the file and the array.
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from .errors import NpuError, shown
from .schema import bad_name

__all__ = ["ArrayFileError", "load_arrays", "MAX_INPUT_BYTES"]

#: Most bytes of input frames a command reads from one file (500,000 TRU-Net frames as int16).
MAX_INPUT_BYTES = 256 << 20

_ZIP_MAGIC = b"PK\x03\x04"


class ArrayFileError(NpuError):
    """An .npy or .npz file is unreadable, malformed or declares more data than allowed."""


def _read_npy(f, where: str, max_bytes: int) -> np.ndarray:
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise ArrayFileError(f"{where}: .npy format version {version} is not supported (1.0 or 2.0)")
    except ArrayFileError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise ArrayFileError(f"{where}: not a valid .npy array ({shown(str(exc), 100)})") from None
    if dtype.hasobject:
        raise ArrayFileError(f"{where}: holds Python objects (pickled data is never loaded)")
    if any(d < 0 for d in shape):
        raise ArrayFileError(f"{where}: negative dimension in shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max_bytes:
        raise ArrayFileError(f"{where}: declares shape {shape} ({nbytes:,} bytes), more than the {max_bytes:,} "
                             "bytes this file may hold")
    data = f.read(nbytes)
    if len(data) < nbytes:
        raise ArrayFileError(f"{where}: truncated (the header declares {nbytes:,} bytes of data, the file has "
                             f"{len(data):,})")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()


def load_arrays(path, *, max_bytes: int) -> np.ndarray | dict[str, np.ndarray]:
    """One array from an .npy, or name -> array from an .npz, at most `max_bytes` of data in all."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(4) != _ZIP_MAGIC:
                f.seek(0)
                return _read_npy(f, str(path), max_bytes)
    except OSError as exc:
        raise ArrayFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    out, budget = {}, max_bytes
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else None
                if name is None or bad_name(name):
                    raise ArrayFileError(f"{path}: member {shown(info.filename)} is not an .npy array with a "
                                         "valid name")
                with z.open(info) as f:
                    a = _read_npy(f, f"{path}: array {name!r}", budget)
                budget -= a.nbytes
                out[name] = a
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise ArrayFileError(f"{path}: not a readable .npz archive ({shown(str(exc), 100)})") from None
    return out
