"""Quantise a folded model: calibrate, choose tensor formats, build LUTs and integer layers."""
from __future__ import annotations

import numpy as np

from ..fold import CONV_OPS, replace_params
from .builders import BUILDERS, BuildContext
from .calibrate import Calibration, calibrate
from .config import QuantConfig
from .int_layers import INT_LAYERS
from .intmath import saturate
from .luts import standard_luts
from .qnet import Epilogue, QProjection, QuantizedNetwork
from .reconstruct import FITTED_OPS, fit_conv
from .scales import LAYOUT_OPS, assign_tensors

__all__ = ["quantise"]


def quantise(model, config: QuantConfig | None = None, calib: Calibration | None = None) -> QuantizedNetwork:
    """The integer network the NPU runs, ready for lowering and for the integer reference.
    `model` is a `compiler.Model` (not imported: the model loader is above quantisation)."""
    config = config or QuantConfig.from_spec(model.spec)
    calib = calib or calibrate(model, config)
    tensors = assign_tensors(model, calib, config.activations, wide_tensors(model, config),
                             int16_headroom=config.int16_headroom)
    luts = standard_luts(config.lut_log2)
    ctx = BuildContext(source=model.spec.source, tensors=tensors, calib=calib, luts=luts, states={}, config=config)
    layers = _build_layers(model, ctx, calib, config)
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


def wide_tensors(model, config) -> tuple[str, ...]:
    """Tensors made int16 besides the fixed formats: with `int16_raw`, the input and every tensor
    computed from it by layers without batch norm or ReLU (e.g. the phase encoder, the first conv,
    a reshape, concatenation or linear map along frequency between them), up to the first normalised
    layer; then `int16_tensors`."""
    wide = list(config.int16_tensors)
    if config.int16_raw:
        raw = {model.spec.input.name}
        for fl in model.layers:
            if (not fl.host and fl.op in (*CONV_OPS, *LAYOUT_OPS, "concat", "complex_conv_time", "magnitude")
                    and all(i in raw for i in fl.inputs) and not fl.attrs.get("bn_folded")
                    and fl.attrs.get("activation", "none") == "none"):
                raw.add(fl.output)
        wide += sorted(raw - set(wide))
    return tuple(wide)


def _build_layers(model, ctx, calib, config):
    """Integer layers in network order. With `config.reconstruct`, the integer network runs on the
    calibration frames as it is built, and each convolution's weights and bias are fitted to the
    float reference from the input its integer predecessors actually produce (reconstruct.py)."""
    npu = [fl for fl in model.layers if not fl.host]
    if not config.reconstruct or calib.tensors is None:
        return [BUILDERS[fl.op](fl, ctx) for fl in npu]
    inp = ctx.tensors[model.spec.input.name]
    ints = {inp.name: saturate(np.round(calib.tensors[inp.name] / inp.scale).astype(np.int64), inp.dtype)}
    layers = []
    for fl in npu:
        # Averages (`fixed_weights`: mean, moving_average) keep their weights: they are not learned.
        if fl.op in FITTED_OPS and not fl.attrs.get("fixed_weights") and f"{fl.name}.pre" in calib.probes:
            x = ctx.tensors[fl.inputs[0]]
            ridge = config.reconstruct_ridge if x.dtype == "int16" else None
            fit = fit_conv(fl, ints[fl.inputs[0]] * x.scale, calib.probes[f"{fl.name}.pre"], ridge)
            if fit is not None:
                wq, sw, bias = fit
                ctx.fitted[fl.name] = (wq, sw)
                fl = replace_params(fl, bias=bias)
        ql = BUILDERS[fl.op](fl, ctx)
        ints[ql.output] = INT_LAYERS[ql.op](ql, [ints[i] for i in ql.inputs], None, ctx.luts)[0]
        layers.append(ql)
    return layers
