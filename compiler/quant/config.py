"""Quantisation settings, with defaults that a model file's `quantisation:` mapping may override."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..errors import fail

__all__ = ["QuantConfig"]


@dataclass(frozen=True)
class QuantConfig:
    """calibration_frames/seed: the generated frames ranges are measured on (tones plus noise).
    range_method: 'mse' picks each int8 tensor's clipping range minimising the quantisation
    error on those frames; 'absmax' takes the largest value. int16_headroom: margin on the
    largest value seen for int16 intermediates (GRU gate sums, attention scores).
    lut_log2: table sizes (the default four tables fill the NPU's 4096 LUT entries)."""

    calibration_frames: int = 32
    calibration_seed: int = 100
    range_method: str = "mse"
    int16_headroom: float = 1.5
    activations: str = "int8"
    lut_log2: dict = field(default_factory=lambda: {"sigmoid": 10, "tanh": 10, "exp": 10, "reciprocal": 10})

    @classmethod
    def from_spec(cls, spec) -> "QuantConfig":
        raw = dict(spec.quantisation)
        known = {f.name for f in fields(cls)}
        for key in raw:
            if key not in known:
                fail(spec.source, f"unknown field (allowed: {', '.join(sorted(known))})", field=f"quantisation.{key}")
        if "lut_log2" in raw:
            luts = raw["lut_log2"]
            if not isinstance(luts, dict) or any(not isinstance(v, int) or not 1 <= v <= 14 for v in luts.values()):
                fail(spec.source, "expected a mapping of table name to 1..14", field="quantisation.lut_log2")
            raw["lut_log2"] = {**cls().lut_log2, **luts}
        if raw.get("activations", "int8") not in ("int8", "int16"):
            fail(spec.source, "must be 'int8' or 'int16'", field="quantisation.activations")
        if raw.get("range_method", "mse") not in ("mse", "absmax"):
            fail(spec.source, "must be 'mse' or 'absmax'", field="quantisation.range_method")
        for key in ("calibration_frames", "calibration_seed"):
            if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 1):
                fail(spec.source, "expected a positive integer", field=f"quantisation.{key}")
        return cls(**raw)
