"""Quantise a folded model: calibrate, choose tensor formats, build LUTs and integer layers."""
from __future__ import annotations

from ..model import Model
from .builders import BUILDERS, BuildContext
from .calibrate import Calibration, calibrate
from .config import QuantConfig
from .luts import standard_luts
from .qnet import QuantizedNetwork
from .scales import assign_tensors

__all__ = ["quantise"]


def quantise(model: Model, config: QuantConfig | None = None, calib: Calibration | None = None) -> QuantizedNetwork:
    """The integer network the NPU runs, ready for lowering and for the integer reference."""
    config = config or QuantConfig.from_spec(model.spec)
    calib = calib or calibrate(model, config)
    tensors = assign_tensors(model, calib, config.activations)
    luts = standard_luts(config.lut_log2)
    ctx = BuildContext(source=model.spec.source, tensors=tensors, calib=calib, luts=luts, states={}, config=config)
    layers = [BUILDERS[fl.op](fl, ctx) for fl in model.layers if not fl.host]
    host_layers = [fl for fl in model.layers if fl.host]
    outputs = []
    for name in list(model.spec.outputs) + [i for fl in host_layers for i in fl.inputs]:
        if name in tensors and name not in outputs:
            outputs.append(name)
    used = {l.lut for layer in layers for l in _epilogues(layer) if l.lut}
    luts = {k: v for k, v in ctx.luts.items() if k in used}
    npu_tensors = {k: v for k, v in tensors.items() if k != model.spec.input.name}
    return QuantizedNetwork(name=model.name, input=tensors[model.spec.input.name], tensors=npu_tensors,
                            layers=layers, outputs=tuple(outputs), states=ctx.states, luts=luts,
                            host_layers=host_layers, config={"quantisation": config})


def _epilogues(layer):
    """Every Epilogue a layer holds (for LUT usage and reports)."""
    from .qnet import Epilogue, QProjection
    out = []
    for value in vars(layer).values():
        if isinstance(value, Epilogue):
            out.append(value)
        elif isinstance(value, QProjection):
            out.append(value.ep)
        elif isinstance(value, tuple):
            for cell in value:
                if isinstance(cell, Epilogue):
                    out.append(cell)
                elif hasattr(cell, "__dataclass_fields__"):
                    out += [v for v in vars(cell).values() if isinstance(v, Epilogue)]
    return out
