"""Amaranth RTL of the speech-enhancement NPU, built to docs/isa.md and docs/timing.md.

`Npu(config)` is the whole design for one `npu_model.NpuConfig`; `python -m rtl generate`
writes its Verilog. See docs/rtl.md.
"""
from .layout import HostTarget
from .npu import Npu

__all__ = ["Npu", "HostTarget"]
