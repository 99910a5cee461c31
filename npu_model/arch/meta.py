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

from .config import LANE_CHOICES, MAX_DATA_BUFFER_BYTES
from .errors import ProgramFormatError
from .schema import Field, Schema

__all__ = ["InputSpec", "HostLayer", "ProgramMeta", "FEATURE_CHANNELS", "WINDOWS", "INPUT_SCHEMA", "HOST_LAYER_SCHEMA",
           "META_SCHEMA", "CODE_FORMS"]

#: How a compiler writes a program's code: with hardware loops, or every instruction written out.
CODE_FORMS = ("loops", "unrolled")

#: Host-computed input features and the channels each contributes (computed by
#: `npu_model.host.features.HostFeatures`; named here because a program's META and a model file
#: both name them and both are checked against this list).
FEATURE_CHANNELS = {
    "compressed_complex": 2,  # |X|^c e^{j angle X}: real part, imaginary part
    "log_power": 1,           # log(|X|^2 + eps)
    "log10_power": 1,         # log10(max(|X|^2, 1e-12)): NSNet2's feature
    "magnitude": 1,           # |X|
    "pcen": 1,                # per-channel energy normalisation (smoother state on the host)
    "demod_phase_cos": 1,     # cos of the phase advance minus the bin's nominal advance
    "demod_phase_sin": 1,     # sin of the same
}

#: STFT windows of the host (npu_model.host.stft): the periodic Hann window with weighted
#: overlap-add synthesis, and NSNet2's square root of the symmetric Hann window (its featurelib's
#: `np.sqrt(np.hanning(N))`) for analysis and synthesis.
WINDOWS = ("hann", "sqrt_hann")

#: The STFT framing and features a host can compute (documented limits, checked before any
#: buffer of that size is made).
MAX_FFT = 1 << 16
MAX_SAMPLE_RATE = 1_000_000

INPUT_SCHEMA = Schema("input", (
    Field("name", "name", "the input tensor's name"),
    Field("bins", "int", "frequency bins the NPU receives (at most fft_size / 2 + 1)", low=1, high=MAX_FFT // 2 + 1),
    Field("channels", "int", "feature channels (the features' channel count)", low=1, high=64),
    Field("sample_rate", "int", "samples per second", low=1, high=MAX_SAMPLE_RATE),
    Field("fft_size", "int", "STFT length in samples", low=2, high=MAX_FFT),
    Field("hop", "int", "frame hop in samples (at most fft_size)", low=1, high=MAX_FFT),
    Field("features", "list", "host features, in channel order", low=1, high=16,
          items=Field("feature", "str", "", choices=tuple(FEATURE_CHANNELS))),
    Field("compression", "number", "power-law compression of `compressed_complex`", required=False,
          low=0, high=1),
    Field("window", "str", "STFT window, analysis and synthesis (default `hann`)", required=False,
          choices=WINDOWS),
))
HOST_LAYER_SCHEMA = Schema("host_layer", (
    Field("op", "name", "the host's mask op (`mask_reconstruct`, `mask_magnitude`, `mask_complex`)"),
    Field("inputs", "list", "the output ports it reads", low=1, high=16, items=Field("port", "name", "")),
))
_COUNT = dict(low=0, high=1 << 62)
META_SCHEMA = Schema("META", (
    Field("compiler", "str", "compiler version", required=False),
    Field("model", "str", "model name", required=False),
    Field("lanes", "int", "lanes compiled for", required=False, choices=LANE_CHOICES),
    Field("code", "str", "how the compiler wrote the code: with hardware loops or every instruction",
          required=False, choices=CODE_FORMS),
    Field("inputs", "list", "the model's input tensors (the input ports)", required=False,
          items=Field("tensor", "name", "")),
    Field("outputs", "list", "the model's output tensors", required=False, items=Field("tensor", "name", "")),
    Field("host_layers", "list", '"name (op)" of every layer the host computes', required=False,
          items=Field("layer", "str", "")),
    Field("scales", "object", "port -> scale (real value = scale x integer)", required=False,
          items=Field("scale", "number", "", low=1e-15, high=1e9)),
    Field("input", "object", "the model's `input:` section (`InputSpec`, below)", required=False,
          items=INPUT_SCHEMA),
    Field("host_layer", "object", "which outputs the host turns into a spectrum", required=False,
          items=HOST_LAYER_SCHEMA),
    Field("instructions", "int", "instructions one frame executes", required=False, **_COUNT),
    Field("code_words", "int", "instruction words of the program (in imem)", required=False, **_COUNT),
    Field("macs_per_frame", "int", "the model's MACs per frame (not the NPU's n x r)", required=False, **_COUNT),
    Field("params", "object", "parameter counts by kind", required=False, items=Field("count", "int", "", **_COUNT)),
    Field("buffers", "object", "bytes used per buffer", required=False, items=Field("bytes", "int", "", **_COUNT)),
    Field("cycles_per_frame", "int", "the golden model's cycles per frame (absent with `--no-timing`)",
          required=False, **_COUNT),
    Field("utilisation", "number", "MAC utilisation", required=False, low=0, high=1),
    Field("abuf_peak_bytes", "int", "the activation arena's peak", required=False, low=0,
          high=MAX_DATA_BUFFER_BYTES),
    Field("hop", "int", "frame hop of a program without `input` (hand-written)", required=False, low=1,
          high=MAX_FFT),
    Field("sample_rate", "int", "sample rate of a program without `input`", required=False, low=1,
          high=MAX_SAMPLE_RATE),
), open=True)


@dataclass(frozen=True)
class InputSpec:
    """The STFT framing and the host features the NPU receives as its input tensor (a model
    file's `input:` section, docs/model-format.md; INPUT_SCHEMA gives each field's range)."""

    name: str
    bins: int
    channels: int
    sample_rate: int
    fft_size: int
    hop: int
    features: tuple[str, ...]
    compression: float = 0.3
    window: str = "hann"

    @property
    def shape(self) -> tuple[int, int]:
        return self.channels, self.bins

    def inconsistency(self) -> tuple[str, str] | None:
        """(field, why) if the fields disagree with each other (each in range), else None."""
        if self.bins > self.fft_size // 2 + 1:
            return "bins", f"{self.bins} bins but a {self.fft_size}-point FFT has {self.fft_size // 2 + 1}"
        if self.hop > self.fft_size:
            return "hop", "hop longer than the FFT leaves samples out"
        n = sum(FEATURE_CHANNELS[f] for f in self.features)
        if n != self.channels:
            return "channels", f"the features {', '.join(self.features)} give {n} channels, not {self.channels}"
        return None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d, *, where: str, path: str = "input") -> "InputSpec":
        d = INPUT_SCHEMA.check(d, where, path)
        spec = cls(**{**d, "features": tuple(d["features"]), "compression": float(d.get("compression", 0.3)),
                      "window": d.get("window", "hann")})
        problem = spec.inconsistency()
        if problem:
            raise ProgramFormatError(f"{where} {path}.{problem[0]}: {problem[1]}")
        return spec


@dataclass(frozen=True)
class HostLayer:
    """The layer the host computes from the NPU's outputs (today: mask reconstruction)."""
    op: str
    inputs: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"op": self.op, "inputs": list(self.inputs)}

    @classmethod
    def from_dict(cls, d, *, where: str, path: str = "host_layer") -> "HostLayer":
        d = HOST_LAYER_SCHEMA.check(d, where, path)
        return cls(op=d["op"], inputs=tuple(d["inputs"]))


@dataclass(frozen=True)
class ProgramMeta:
    """Every field is optional: an assembled program may have none of them (META_SCHEMA).

    hop / sample_rate are the frame timing of a program without an `input` (hand-written); a
    compiled program's timing is its `input`'s (`frame_timing`)."""
    compiler: str | None = None          # compiler version
    model: str | None = None
    lanes: int | None = None
    code: str | None = None              # CODE_FORMS: hardware loops or unrolled
    inputs: list | None = None           # port names
    outputs: list | None = None
    host_layers: list | None = None      # "name (op)" of every layer the host computes
    scales: dict | None = None           # port -> scale (real value = scale * integer)
    input: InputSpec | None = None
    host_layer: HostLayer | None = None
    instructions: int | None = None      # executed per frame
    code_words: int | None = None        # in imem
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
        where = f"{source}: META"
        d = META_SCHEMA.check(d, where)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names}
        if "input" in known:
            known["input"] = InputSpec.from_dict(known["input"], where=where)
        if "host_layer" in known:
            known["host_layer"] = HostLayer.from_dict(known["host_layer"], where=where)
        return cls(**known, extra={k: v for k, v in d.items() if k not in names})
