"""Quantisation settings, with defaults that a model file's `quantisation:` mapping may override."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..errors import fail
from ..ops.fields import Field, parse_value

__all__ = ["QuantConfig", "MAX_CALIBRATION_FRAMES", "QUANT_FIELDS", "LUT_LOG2_RANGE"]

#: Most calibration frames (each is one STFT frame through the float model; 10,000 is minutes).
MAX_CALIBRATION_FRAMES = 10_000


@dataclass(frozen=True)
class QuantConfig:
    """calibration_frames/seed: the generated frames ranges are measured on (tones plus noise).
    range_method: 'mse' picks each int8 tensor's clipping range minimising the quantisation
    error on those frames; 'absmax' takes the largest value. int16_headroom: margin on the
    largest value seen for int16 tensors and intermediates (GRU gate sums, attention scores).
    lut_log2: table sizes (the four shared tables fill the NPU's default 4096 LUT entries; a model
    uses only those it needs); "table": the size of each softplus or elu layer's own table.
    int16_raw: the tensors before the first normalised layer (the input features and what the
    convolutions without batch norm, the reshapes and concatenations make of them: phase encoder,
    first conv, a transposed frame) are int16: their
    range is the raw features' (log power, magnitudes, large per-channel offsets), and their
    quantisation noise passes through every layer after them. int16_tensors: more int16 tensors.
    reconstruct: fit each conv's integer weights and bias to the float reference on the
    calibration frames (reconstruct.py); reconstruct_ridge: its regularisation, used where the
    conv's input is int16 (with int8 inputs the fit only rounds (GPTQ) and refits the bias).
    calibration_audio: wav files (paths) to measure the ranges on instead of the generated frames:
    `calibration_frames` of their STFT frames through the model's host input settings, in runs of
    consecutive frames spread evenly over the files (`calibrate.calibration_stft`). Not a
    model-file field: the commands take it as `--calibration PATH` (`calibrate.audio_files`)."""

    calibration_frames: int = 32
    calibration_seed: int = 100
    range_method: str = "mse"
    int16_headroom: float = 1.5
    activations: str = "int8"
    lut_log2: dict = field(default_factory=lambda: {"sigmoid": 10, "tanh": 10, "exp": 10, "reciprocal": 10,
                                                    "table": 10, "rsqrt": 10})
    int16_raw: bool = True
    int16_tensors: tuple = ()
    reconstruct: bool = True
    reconstruct_ridge: float = 0.3
    calibration_audio: tuple = ()

    @classmethod
    def from_spec(cls, spec) -> "QuantConfig":
        raw = dict(spec.quantisation)
        for key in raw:
            if key not in QUANT_FIELDS:
                fail(spec.source, f"unknown field (allowed: {', '.join(sorted(QUANT_FIELDS))})", field=f"quantisation.{key}")
        if "lut_log2" in raw:
            luts, tables = raw["lut_log2"], cls().lut_log2
            if not isinstance(luts, dict) or any(k not in tables or not _is_int(v) or not 1 <= v <= LUT_LOG2_RANGE[1]
                                                 for k, v in luts.items()):
                fail(spec.source, f"expected a mapping of table name ({', '.join(tables)}) to 1..{LUT_LOG2_RANGE[1]}",
                     field="quantisation.lut_log2")
            if luts.get("rsqrt", 2) < 2:
                fail(spec.source, "the rsqrt table needs lut_log2 >= 2", field="quantisation.lut_log2.rsqrt")
            raw["lut_log2"] = {**tables, **luts}
        if "int16_tensors" in raw:
            names = raw["int16_tensors"]
            if not isinstance(names, list) or any(n not in spec.shapes for n in names):
                fail(spec.source, "expected a list of tensor names", field="quantisation.int16_tensors")
            raw["int16_tensors"] = tuple(names)
        for key, field in QUANT_FIELDS.items():
            if key in raw and field is not None:
                raw[key] = parse_value(raw[key], field, source=spec.source, layer=None, field=f"quantisation.{key}")
        return cls(**raw)


#: The scalar settings, checked as a layer's fields are (kind, choices, bounds); None: a field
#: checked on its own above (lut_log2, int16_tensors). The model format's JSON Schema reads this.
def _field(name, kind, **bounds) -> Field:
    return Field(kind, QuantConfig.__dataclass_fields__[name].default, **bounds)


QUANT_FIELDS = {
    "calibration_frames": _field("calibration_frames", "int", minimum=1, maximum=MAX_CALIBRATION_FRAMES),
    "calibration_seed": _field("calibration_seed", "int", minimum=0, maximum=2 ** 32 - 1),
    "range_method": _field("range_method", "str", choices=("mse", "absmax")),
    "int16_headroom": _field("int16_headroom", "float", minimum=1.0, maximum=1e3),
    "activations": _field("activations", "str", choices=("int8", "int16")),
    "lut_log2": None,
    "int16_raw": _field("int16_raw", "bool"),
    "int16_tensors": None,
    "reconstruct": _field("reconstruct", "bool"),
    "reconstruct_ridge": _field("reconstruct_ridge", "float", minimum=1e-12, maximum=1e12),
}
#: A table's size: 2**1 .. 2**14 entries.
LUT_LOG2_RANGE = (1, 14)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
