"""What the host does around the NPU for one model: STFT framing and input features.

A model file's `input:` section becomes an `InputSpec` (`compiler.parse`); the host side of
every application (calibration signals, `enhance`, the cosimulation's workload) reads it.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["InputSpec", "FEATURE_CHANNELS"]

#: host-computed input features and the channels each contributes (see npu_model.host.features).
FEATURE_CHANNELS = {
    "compressed_complex": 2,  # |X|^c e^{j angle X}: real part, imaginary part
    "log_power": 1,           # log(|X|^2 + eps)
    "pcen": 1,                # per-channel energy normalisation (smoother state on the host)
    "demod_phase_cos": 1,     # cos of the phase advance minus the bin's nominal advance
    "demod_phase_sin": 1,     # sin of the same
}


@dataclass(frozen=True)
class InputSpec:
    """The STFT framing and the host features the NPU receives as its input tensor."""

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
