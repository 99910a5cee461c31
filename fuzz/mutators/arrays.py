"""`.npz` and `.npy` files: weights for the compiler, input frames for `run` and `report`.

Besides wrong names, shapes, types and values, headers that declare far more data than the file
holds (10**11 x 16 elements): a loader must check the declared size before allocating it.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np

from ..case import Case, Expect
from .model import MODEL


def npy_header(descr: str, shape: tuple, data: bytes = b"", fortran: bool = False) -> bytes:
    """A .npy file with this header (version 1.0) and these data bytes, whatever they hold."""
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=isinstance(a, np.ndarray) and a.dtype == object)
    return buf.getvalue()


def _npz(members: dict) -> bytes:
    """An .npz of the given members; each ZipInfo keeps its fixed 1980 stamp (writestr with a name
    would stamp the current time, and one seed must give the same bytes in any second)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name if name.endswith(".npy") or "/" in name else name + ".npy"), data)
    return buf.getvalue()


def _bad_array(a: np.ndarray, rng, *, integer_range=None):
    """(replacement .npy bytes, what, expect) for one array."""
    choice = int(rng.integers(13))
    if choice == 0:
        return _npy(a.reshape(-1)[:-1] if a.size > 1 else np.zeros(3)), "one element short", Expect.BAD
    if choice == 1:
        b = a.astype(np.float64)
        b.reshape(-1)[int(rng.integers(b.size))] = [np.nan, np.inf, -np.inf][int(rng.integers(3))]
        return _npy(b), "a NaN or infinite value", Expect.BAD
    if choice == 2:
        return _npy(np.array([{"x": 1}] * 2, dtype=object)), "an object (pickled) array", Expect.BAD
    if choice == 3:
        return _npy(a.astype(np.complex64)), "complex values", Expect.BAD
    if choice == 4:
        return _npy(np.array(["a"] * max(1, a.size)).reshape(a.shape)), "strings", Expect.BAD
    if choice == 5:
        return _npy(np.float64(1.0)), "a 0-d array", Expect.BAD
    if choice == 6:
        return _npy(np.zeros((0,) + a.shape[1:], a.dtype)), "no rows", Expect.BAD
    if choice == 7:
        return npy_header("<f8", (10 ** 11, 16)), "a header declaring 10**11 x 16 elements", Expect.BAD
    if choice == 8:
        return _npy(a)[:-3], "truncated data", Expect.BAD
    if choice == 9:
        return b"not an npy file at all", "not an npy file", Expect.BAD
    if choice == 10:
        return npy_header("<i1", (-4, 2)), "a negative shape in the header", Expect.BAD
    if choice == 11:
        if integer_range is not None:
            lo, hi = integer_range
            return _npy(np.full(a.shape, hi + 1, np.int64)), "integers beyond the port's range", Expect.BAD
        return _npy(a.astype(np.float16)), "float16", Expect.ANY
    if integer_range is not None:
        return _npy(a.astype(np.float64) + 0.5), "fractional values", Expect.BAD
    return _npy(a.astype(">f8")), "big-endian", Expect.ANY


class Npz:
    """Weights for the compiler; input frames for `run`."""

    @staticmethod
    def cases(seeds, rng, n):
        out = []
        weights = dict(np.load(io.BytesIO(seeds.weights)))
        for _ in range(n):
            if rng.random() < 0.6:
                members = {k: _npy(v) for k, v in weights.items()}
                data, what, expect = _npz_case(members, weights, rng)
                out.append(Case("npz", f"weights: {what}", "compiler", [MODEL, "-o", "out/p.bin", "--no-timing"],
                                {MODEL: seeds.model_npz.encode(), "model/w.npz": data}, expect))
            else:
                frames = np.load(io.BytesIO(seeds.frames))
                data, what, expect = _npz_case({"input": _npy(frames)}, {"input": frames}, rng, integers=True)
                out.append(Case("npz", f"run --input: {what}", "npu_model",
                                ["run", "p.bin", "--input", "f.npz", "--output", "out.npz"],
                                {"p.bin": seeds.program, "f.npz": data}, expect))
        return out


def _npz_case(members: dict, arrays: dict, rng, *, integers=False):
    names = list(arrays)
    choice = rng.random()
    if choice < 0.55:
        name = names[int(rng.integers(len(names)))]
        data, what, expect = _bad_array(arrays[name], rng, integer_range=(-32768, 32767) if integers else None)
        return _npz({**members, name: data}), f"{name}: {what}", expect
    if choice < 0.65:
        name = names[int(rng.integers(len(names)))]
        return _npz({k: v for k, v in members.items() if k != name}), f"{name} missing", Expect.BAD
    if choice < 0.72:
        return _npz({**members, "zz_extra": _npy(np.zeros(3))}), "an extra array", \
            Expect.ANY if integers else Expect.BAD
    if choice < 0.8:
        return _npz({}), "an empty archive", Expect.BAD
    if choice < 0.88:
        data = _npz(members)
        return data[:int(rng.integers(10, len(data)))], "a truncated archive", Expect.BAD
    if choice < 0.94:
        return _npz({**members, "../../escape": b"junk"}), "a member named ../../escape", \
            Expect.ANY if integers else Expect.BAD
    return b"PK\x03\x04" + bytes(rng.integers(0, 256, 200, dtype=np.uint8)), "random bytes after a zip magic", \
        Expect.BAD


class Npy:
    """Input frames for `run` and `report`."""

    @staticmethod
    def cases(seeds, rng, n):
        out = []
        for _ in range(n):
            kind = "compiled" if rng.random() < 0.7 else "assembled"
            program, frames_bytes = seeds.programs[kind]
            frames = np.load(io.BytesIO(frames_bytes))
            lim = (-128, 127) if frames.dtype == np.int8 else (-32768, 32767)
            data, what, expect = _bad_array(frames, rng, integer_range=lim)
            argv = [["run", "p.bin", "--input", "f.npy"], ["report", "p.bin", "--input", "f.npy", "-o", "rep",
                                                           "--no-plots"]][int(rng.integers(2))]
            out.append(Case("npy", f"{kind} program input: {what}", "npu_model", argv,
                            {"p.bin": program, "f.npy": data}, expect))
        return out
