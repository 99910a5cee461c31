"""Cycle-accurate golden model of the speech-enhancement NPU, and the definitions it owns:
the configuration object (`NpuConfig`), the instruction set (`isa`) and the program container
(`program`). The compiler and the RTL import these; they never restate them."""
from .arch.config import NpuConfig, ConfigError
from .arch.errors import NpuError, NpuFault, ProgramFormatError

__all__ = ["NpuConfig", "ConfigError", "NpuError", "NpuFault", "ProgramFormatError"]
