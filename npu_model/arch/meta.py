"""The program's META section as a typed record: what the compiler knows that the instruction
stream does not carry (docs/program-format.md "META").

The compiler writes a `ProgramMeta`; `report`, `explore` and `enhance` read its fields instead of
guessing at dictionary keys, so a figure the compiler stores under one name cannot be looked for
under another. Keys a hand-written program adds (`.meta` in assembly) that this record does not
know are kept, in `extra`, and written back unchanged.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import ProgramFormatError

__all__ = ["InputSpec", "HostLayer", "ProgramMeta"]


@dataclass(frozen=True)
class InputSpec:
    """The STFT framing and the host features the NPU receives as its input tensor (a model
    file's `input:` section, docs/model-format.md)."""

    name: str
    bins: int
    channels: int
    sample_rate: int
    fft_size: int
    hop: int
    features: tuple[str, ...]
    compression: float = 0.3

    @property
    def shape(self) -> tuple[int, int]:
        return self.channels, self.bins

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict, *, where: str) -> "InputSpec":
        _expect(d, dict, where)
        kinds = {"name": str, "bins": int, "channels": int, "sample_rate": int, "fft_size": int, "hop": int,
                 "features": list, "compression": (int, float)}
        missing = [k for k in kinds if k not in d and k != "compression"]
        if missing:
            raise ProgramFormatError(f"{where}: missing field {missing[0]!r}")
        for key in d:
            if key not in kinds:
                raise ProgramFormatError(f"{where}: unknown field {key!r}")
            _expect(d[key], kinds[key], f"{where}.{key}")
        return cls(**{**d, "features": tuple(str(f) for f in d["features"]),
                      "compression": float(d.get("compression", 0.3))})


@dataclass(frozen=True)
class HostLayer:
    """The layer the host computes from the NPU's outputs (today: mask reconstruction)."""
    op: str
    inputs: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"op": self.op, "inputs": list(self.inputs)}

    @classmethod
    def from_dict(cls, d: dict, *, where: str) -> "HostLayer":
        _expect(d, dict, where)
        _expect(d.get("op"), str, f"{where}.op")
        _expect(d.get("inputs"), list, f"{where}.inputs")
        return cls(op=d["op"], inputs=tuple(str(i) for i in d["inputs"]))


#: field -> accepted JSON type(s) of the plain fields; None means absent.
_PLAIN = {"compiler": str, "model": str, "lanes": int, "inputs": list, "outputs": list, "host_layers": list,
          "scales": dict, "instructions": int, "macs_per_frame": int, "params": dict, "buffers": dict,
          "cycles_per_frame": int, "utilisation": (int, float), "abuf_peak_bytes": int, "hop": int,
          "sample_rate": int}


@dataclass(frozen=True)
class ProgramMeta:
    """Every field is optional: an assembled program may have none of them.

    hop / sample_rate are the frame timing of a program without an `input` (hand-written); a
    compiled program's timing is its `input`'s (`frame_timing`)."""
    compiler: str | None = None          # compiler version
    model: str | None = None
    lanes: int | None = None
    inputs: list | None = None           # port names
    outputs: list | None = None
    host_layers: list | None = None      # "name (op)" of every layer the host computes
    scales: dict | None = None           # port -> scale (real value = scale * integer)
    input: InputSpec | None = None
    host_layer: HostLayer | None = None
    instructions: int | None = None
    macs_per_frame: int | None = None    # the model's MACs per frame (not the NPU's n x r)
    params: dict | None = None
    buffers: dict | None = None          # buffer -> bytes used
    cycles_per_frame: int | None = None
    utilisation: float | None = None
    abuf_peak_bytes: int | None = None   # the compiler's activation-arena peak
    hop: int | None = None
    sample_rate: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def frame_timing(self) -> tuple[int | None, int | None]:
        """(hop in samples, sample rate in Hz) of a frame, from `input` or the top-level fields."""
        if self.input is not None:
            return self.input.hop, self.input.sample_rate
        return self.hop, self.sample_rate

    def replace(self, **changes) -> "ProgramMeta":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or value is None:
                continue
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @classmethod
    def from_dict(cls, d, *, source: str = "program") -> "ProgramMeta":
        """From the JSON object of a META section; ProgramFormatError naming the key otherwise."""
        _expect(d, dict, f"{source}: META")
        known, extra = {}, {}
        for key, value in d.items():
            where = f"{source}: META {key}"
            if key == "input":
                known[key] = InputSpec.from_dict(value, where=where)
            elif key == "host_layer":
                known[key] = HostLayer.from_dict(value, where=where)
            elif key in _PLAIN:
                _expect(value, _PLAIN[key], where)
                known[key] = value
            else:
                extra[key] = value
        return cls(**known, extra=extra)


def _expect(value, kinds, where: str) -> None:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join({str: "a string", int: "an integer", float: "a number", list: "a list",
                             dict: "an object"}[k] for k in kinds)
        raise ProgramFormatError(f"{where}: must be {names}, not {type(value).__name__}")
