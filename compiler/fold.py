"""Compile-time folding: batch norms into convolutions, activations into their producers.

The result, a list of `FoldedLayer`, is what both references and the quantiser run: a batch norm
disappears into the preceding convolution's weights and bias (y = g (conv(x) + b - m) / sqrt(v +
eps) + beta), a ReLU/sigmoid/tanh right after a conv or an add becomes that layer's activation,
and a complex convolution becomes its real-equivalent convolution.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .ops import OPS, LayerSpec, channel_index, is_stateful
from .ops.elementwise import TABLE_FUNCTIONS
from .reference.linear import complex_as_real
from .spec import ModelSpec

__all__ = ["FoldedLayer", "fold_layer", "fold_model", "bn_scale_shift", "CONV_OPS"]


@dataclass
class FoldedLayer:
    """One computation after folding. `output` names the tensor it produces (the last fused
    spec layer); `fused` lists the spec layers it stands for."""

    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict
    params: dict[str, np.ndarray] = field(default_factory=dict)
    fused: tuple[str, ...] = ()
    host: bool = False
    stateful: bool = False


def bn_scale_shift(weights: dict, prefix: str, eps: float):
    """Per-channel (scale, shift) of an inference batch norm."""
    g, b = weights[f"{prefix}weight"], weights[f"{prefix}bias"]
    m, v = weights[f"{prefix}running_mean"], weights[f"{prefix}running_var"]
    scale = g / np.sqrt(v + eps)
    return scale, b - m * scale


CONV_OPS = ("conv1d", "conv_transpose1d", "conv2d", "conv_transpose2d", "dense")


def _scale_conv_out(op, w, scale, groups):
    """Multiply a conv's weights (1-D or 2-D, PyTorch layout) by a per-output-channel factor."""
    if op in ("conv1d", "conv2d", "dense"):
        return w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    cin, cout_g = w.shape[:2]
    s = scale.reshape(groups, 1, cout_g, 1)
    return (w.reshape(groups, cin // groups, cout_g, -1) * s).reshape(w.shape)


def _time_attrs(attrs: dict) -> dict:
    """A 2-D convolution's fields in the 1-D spelling the kernels share: stride, padding (left,
    right), dilation along frequency, plus time_dilation (the weight's third axis is time)."""
    out = dict(attrs)
    out["stride"], out["dilation"] = attrs["stride"][1], attrs["dilation"][1]
    out["time_dilation"] = attrs["dilation"][0]
    out["padding"] = tuple(out.pop("padding_freq"))
    out["kernel"] = attrs["kernel"][1]
    return out


def fold_layer(layer: LayerSpec, weights: dict, spec: ModelSpec, *, with_bn=True, with_act=True) -> FoldedLayer:
    """Fold one spec layer on its own (a `batchnorm: true` conv absorbs its batch norm)."""
    p = {k[len(layer.name) + 1:]: v for k, v in weights.items() if k.startswith(layer.name + ".")}
    opdef = OPS[layer.op]
    base = FoldedLayer(name=layer.name, op=layer.op, inputs=layer.inputs, output=layer.name,
                       attrs=dict(layer.attrs), fused=(layer.name,), host=opdef.host,
                       stateful=is_stateful(layer))
    if layer.op == "dense":
        cout = layer["out_features"]
        base.params = {"weight": p["weight"][:, :, None], "bias": p.get("bias", np.zeros(cout))}
        base.attrs.update(kernel=1, stride=1, padding=0, dilation=1, groups=1, output_padding=0, bn_folded=False)
    elif layer.op in CONV_OPS:
        cout = layer["out_channels"]
        w = p["weight"]
        b = p.get("bias", np.zeros(cout))
        if layer["batchnorm"] and with_bn:
            scale, shift = bn_scale_shift(p, "bn.", layer["bn_eps"])
            w = _scale_conv_out(layer.op, w, scale, layer["groups"])
            b = b * scale + shift
        base.params = {"weight": w, "bias": b}
        base.attrs.setdefault("output_padding", 0)
        if layer.op in ("conv2d", "conv_transpose2d"):
            base.attrs = _time_attrs(base.attrs)
        if not with_act:
            base.attrs["activation"] = "none"
        base.attrs["bn_folded"] = bool(layer["batchnorm"])
    elif layer.op == "batchnorm":
        scale, shift = bn_scale_shift(p, "", layer["eps"])
        c = scale.shape[0]
        base.op = "conv1d"
        base.params = {"weight": scale.reshape(c, 1, 1), "bias": shift}
        base.attrs = dict(kernel=1, stride=1, padding=0, dilation=1, groups=c, out_channels=c,
                          output_padding=0, activation="none", bn_folded=True)
    elif layer.op == "mean":
        c, length = spec.shapes[layer.inputs[0]]
        base.op = "conv1d"
        base.params = {"weight": np.full((c, 1, length), 1.0 / length), "bias": np.zeros(c)}
        base.attrs = dict(kernel=length, stride=1, padding=0, dilation=1, groups=c, out_channels=c,
                          output_padding=0, activation="none", bn_folded=False, fixed_weights=True)
    elif layer.op == "moving_average":
        c = spec.shapes[layer.inputs[0]][0]
        n = layer["frames"]
        base.op = "conv2d"
        base.params = {"weight": np.full((c, 1, n, 1), 1.0 / n), "bias": np.zeros(c)}
        base.attrs = _time_attrs(dict(kernel=(n, 1), stride=(1, 1), dilation=(1, 1), padding_freq=(0, 0), groups=c,
                                      out_channels=c, output_padding=0, activation="none"))
        base.attrs.update(bn_folded=False, fixed_weights=True)
    elif layer.op in ("relu", "sigmoid", "tanh"):
        base.op = "activation"
        base.attrs = {"activation": layer.op}
    elif layer.op in ("leaky_relu", "prelu"):
        c = spec.shapes[layer.inputs[0]][0]
        slope = np.full(c, layer["negative_slope"]) if layer.op == "leaky_relu" else np.broadcast_to(p["weight"], (c,))
        base.op, base.attrs, base.params = "prelu", {}, {"slope": np.array(slope, np.float64)}
    elif layer.op in ("slice", "channel_shuffle"):
        base.op = "channels"
        base.attrs = {"index": channel_index(layer.op, layer.attrs, spec.shapes[layer.inputs[0]][0])}
    elif layer.op in ("flatten", "reshape"):
        base.op = "reshape"
        base.attrs = {"order": layer["order"], "shape": spec.shapes[layer.name]}
    elif layer.op in TABLE_FUNCTIONS:
        base.op, base.attrs = "table", {"function": layer.op, **layer.attrs}
    elif layer.op == "complex_conv_time":
        cout = layer["out_channels"]
        base.params = {"weight": complex_as_real(p["weight_real"], p["weight_imag"]),
                       "bias": np.concatenate([p.get("bias_real", np.zeros(cout)),
                                               p.get("bias_imag", np.zeros(cout))])}
    elif layer.op in ("gru", "lstm"):
        gates = OPS[layer.op].gates
        base.params = ungroup_gru(p, layer["groups"], gates) if layer["groups"] > 1 else p
        base.attrs["directions"] = OPS[layer.op].directions(layer)
    else:
        base.params = p
    return base


def ungroup_gru(params: dict, groups: int, gates: int = 3) -> dict:
    """A grouped recurrent layer's weights (leading group axis) as one layer's block-diagonal
    matrices, rows gate-major (gate k of group g's unit j at row k*H + g*H/P + j), so that the
    references and the quantiser treat it as one layer; the lowering multiplies the blocks only."""
    out = {}
    for name, w in params.items():
        hg = w.shape[1] // gates
        h = hg * groups
        if name.startswith("bias"):
            full = np.zeros(gates * h)
            for g in range(groups):
                for k in range(gates):
                    full[k * h + g * hg: k * h + (g + 1) * hg] = w[g, k * hg:(k + 1) * hg]
        else:
            cols = w.shape[2]
            full = np.zeros((gates * h, cols * groups))
            for g in range(groups):
                for k in range(gates):
                    full[k * h + g * hg: k * h + (g + 1) * hg, g * cols:(g + 1) * cols] = w[g, k * hg:(k + 1) * hg]
        out[name] = full
    return out


def fold_model(spec: ModelSpec, weights: dict) -> list[FoldedLayer]:
    """Fold the whole model, fusing standalone batch norms and activations where legal."""
    folded: list[FoldedLayer] = []
    producer: dict[str, FoldedLayer] = {}
    for layer in spec.layers:
        target = producer.get(layer.inputs[0]) if len(layer.inputs) == 1 else None
        fusable = (target is not None and len(spec.consumers(layer.inputs[0])) == 1
                   and layer.inputs[0] not in spec.outputs)
        if layer.op == "batchnorm" and fusable and target.op in CONV_OPS \
                and target.attrs["activation"] == "none" and not target.attrs["bn_folded"]:
            scale, shift = bn_scale_shift({k[len(layer.name) + 1:]: v for k, v in weights.items()
                                           if k.startswith(layer.name + ".")}, "", layer["eps"])
            target.params = {"weight": _scale_conv_out(target.op, target.params["weight"], scale,
                                                       target.attrs["groups"]),
                             "bias": target.params["bias"] * scale + shift}
            target.attrs["bn_folded"] = True
            _rename(target, layer, producer)
            continue
        if layer.op in ("relu", "sigmoid", "tanh") and fusable \
                and target.op in (*CONV_OPS, "add") and target.attrs["activation"] == "none":
            target.attrs["activation"] = layer.op
            _rename(target, layer, producer)
            continue
        fl = fold_layer(layer, weights, spec)
        folded.append(fl)
        producer[fl.output] = fl
    return folded


def _rename(target: FoldedLayer, layer: LayerSpec, producer: dict):
    del producer[target.output]
    target.output = layer.name
    target.fused = target.fused + (layer.name,)
    producer[layer.name] = target


def replace_params(fl: FoldedLayer, **params) -> FoldedLayer:
    """A copy of a folded layer with some arrays replaced (tests, weight surgery)."""
    return replace(fl, params={**fl.params, **params})
