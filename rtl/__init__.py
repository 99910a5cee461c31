"""Amaranth RTL of the speech-enhancement NPU, built to docs/isa.md and docs/timing.md.

`Npu(config)` is the whole design for one `npu_model.NpuConfig`; `python -m rtl generate`
writes its Verilog. See docs/rtl.md.
"""
from .npu import Npu
from .layout import HostTarget

__all__ = ["Npu", "HostTarget"]
