"""Quantisation settings, with defaults that a model file's `quantisation:` mapping may override."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..errors import fail

__all__ = ["QuantConfig", "MAX_CALIBRATION_FRAMES"]

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
    convolutions without batch norm make of them: phase encoder, first conv) are int16: their
    range is the raw features' (log power, magnitudes, large per-channel offsets), and their
    quantisation noise passes through every layer after them. int16_tensors: more int16 tensors.
    reconstruct: fit each conv's integer weights and bias to the float reference on the
    calibration frames (reconstruct.py); reconstruct_ridge: its regularisation, used where the
    conv's input is int16 (with int8 inputs the fit only rounds (GPTQ) and refits the bias)."""

    calibration_frames: int = 32
    calibration_seed: int = 100
    range_method: str = "mse"
    int16_headroom: float = 1.5
    activations: str = "int8"
    lut_log2: dict = field(default_factory=lambda: {"sigmoid": 10, "tanh": 10, "exp": 10, "reciprocal": 10,
                                                    "table": 10})
    int16_raw: bool = True
    int16_tensors: tuple = ()
    reconstruct: bool = True
    reconstruct_ridge: float = 0.3

    @classmethod
    def from_spec(cls, spec) -> "QuantConfig":
        raw = dict(spec.quantisation)
        known = {f.name for f in fields(cls)}
        for key in raw:
            if key not in known:
                fail(spec.source, f"unknown field (allowed: {', '.join(sorted(known))})", field=f"quantisation.{key}")
        if "lut_log2" in raw:
            luts, tables = raw["lut_log2"], cls().lut_log2
            if not isinstance(luts, dict) or any(k not in tables or not _is_int(v) or not 1 <= v <= 14
                                                 for k, v in luts.items()):
                fail(spec.source, f"expected a mapping of table name ({', '.join(tables)}) to 1..14",
                     field="quantisation.lut_log2")
            raw["lut_log2"] = {**tables, **luts}
        if raw.get("activations", "int8") not in ("int8", "int16"):
            fail(spec.source, "must be 'int8' or 'int16'", field="quantisation.activations")
        if raw.get("range_method", "mse") not in ("mse", "absmax"):
            fail(spec.source, "must be 'mse' or 'absmax'", field="quantisation.range_method")
        for key in ("int16_raw", "reconstruct"):
            if key in raw and not isinstance(raw[key], bool):
                fail(spec.source, "expected true or false", field=f"quantisation.{key}")
        if "int16_tensors" in raw:
            names = raw["int16_tensors"]
            if not isinstance(names, list) or any(n not in spec.shapes for n in names):
                fail(spec.source, "expected a list of tensor names", field="quantisation.int16_tensors")
            raw["int16_tensors"] = tuple(names)
        for key, low, high in (("reconstruct_ridge", 1e-12, 1e12), ("int16_headroom", 1.0, 1e3)):
            if key in raw and not (_is_number(raw[key]) and low <= raw[key] <= high):
                fail(spec.source, f"expected a number from {low:g} to {high:g}, not {raw[key]!r:.40}",
                     field=f"quantisation.{key}")
        for key, low, high in (("calibration_frames", 1, MAX_CALIBRATION_FRAMES), ("calibration_seed", 0, 2**32 - 1)):
            if key in raw and not (_is_int(raw[key]) and low <= raw[key] <= high):
                fail(spec.source, f"expected an integer from {low} to {high}, not {raw[key]!r:.40}",
                     field=f"quantisation.{key}")
        return cls(**raw)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
