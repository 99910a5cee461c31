"""A model file as a PyTorch network: the same layers, the same weight names, trainable.

`TorchNet(model)` builds one torch module per layer of a model file (`compiler.load_model`), in
file order, from the layer's own fields, so the network trained is the network the compiler
compiles: `state_arrays()` returns every array under the name the `.npz` format gives it
(docs/model-format.md, "Weights") and `compiler.FloatModel` of the trained file computes what the
torch network computes in evaluation mode (tests/training: to 1e-6). Convolutions with
`batchnorm: true` train their batch norm (batch statistics, running statistics kept for
inference), which the compiler folds afterwards.

Tensors are (batch, frames, channels, positions): the layers along frequency see batch x frames
items, a GRU along time runs over the frames of each clip from a zero state, and a causal
convolution along time pads the clip's start with zeros, as the NPU does from its first frame.
Only the ops the reference networks use are supported; any other is a one-line error naming the
layer.
"""
from __future__ import annotations

import torch
from torch import nn

from compiler.errors import ModelError
from compiler.ops import OPS

__all__ = ["TorchNet", "apply_mask"]

_ACT = {"none": lambda x: x, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _freq(x, fn):
    """Apply `fn` to (items, C, L) over the batch and frames of x (B, T, C, L)."""
    b, t = x.shape[:2]
    y = fn(x.reshape(b * t, *x.shape[2:]))
    return y.reshape(b, t, *y.shape[1:])


class _Conv(nn.Module):
    """conv1d / conv_transpose1d along frequency, with batch norm and activation."""

    def __init__(self, layer, cin):
        super().__init__()
        a = layer.attrs
        kind = nn.ConvTranspose1d if layer.op == "conv_transpose1d" else nn.Conv1d
        extra = {"output_padding": a["output_padding"]} if layer.op == "conv_transpose1d" else {}
        if not isinstance(a["padding"], int):
            raise ModelError(layer.source, "training: asymmetric padding is not supported", layer=layer.name)
        self.conv = kind(cin, a["out_channels"], a["kernel"], stride=a["stride"], padding=a["padding"],
                         dilation=a["dilation"], groups=a["groups"], bias=a["bias"], **extra)
        self.bn = nn.BatchNorm1d(a["out_channels"], eps=a["bn_eps"]) if a["batchnorm"] else None
        self.act = _ACT[a["activation"]]

    def forward(self, x):
        def one(v):
            v = self.conv(v)
            return self.act(self.bn(v) if self.bn is not None else v)
        return _freq(x, one)

    def arrays(self):
        out = {"weight": self.conv.weight}
        if self.conv.bias is not None:
            out["bias"] = self.conv.bias
        if self.bn is not None:
            out.update({"bn.weight": self.bn.weight, "bn.bias": self.bn.bias,
                        "bn.running_mean": self.bn.running_mean, "bn.running_var": self.bn.running_var})
        return out


class _ComplexConvTime(nn.Module):
    """Y = W * X + b over the current and the kernel - 1 previous frames, complex, per bin."""

    def __init__(self, layer, cin):
        super().__init__()
        co, ci, k = layer.attrs["out_channels"], cin // 2, layer.attrs["kernel"]
        bound = 1.0 / (ci * k) ** 0.5
        self.weight_real = nn.Parameter(torch.empty(co, ci, k).uniform_(-bound, bound))
        self.weight_imag = nn.Parameter(torch.empty(co, ci, k).uniform_(-bound, bound))
        self.with_bias = layer.attrs["bias"]
        self.bias_real = nn.Parameter(torch.zeros(co))
        self.bias_imag = nn.Parameter(torch.zeros(co))
        self.k = k

    def forward(self, x):
        wr, wi = self.weight_real, self.weight_imag
        w = torch.cat([torch.cat([wr, -wi], 1), torch.cat([wi, wr], 1)], 0)        # (2Co, 2Ci, K)
        t = x.shape[1]
        xs = torch.cat([x.new_zeros(x.shape[0], self.k - 1, *x.shape[2:]), x], 1)
        out = sum(torch.einsum("oc,btcl->btol", w[:, :, tap], xs[:, tap:tap + t]) for tap in range(self.k))
        if self.with_bias:
            out = out + torch.cat([self.bias_real, self.bias_imag])[:, None]
        return out

    def arrays(self):
        out = {"weight_real": self.weight_real, "weight_imag": self.weight_imag}
        if self.with_bias:
            out.update({"bias_real": self.bias_real, "bias_imag": self.bias_imag})
        return out


class _Magnitude(nn.Module):
    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps                     # keeps the gradient finite at zero while training

    def forward(self, x):
        c = x.shape[2] // 2
        return torch.sqrt(x[:, :, :c] ** 2 + x[:, :, c:] ** 2 + self.eps)

    def arrays(self):
        return {}


class _Attention(nn.Module):
    def __init__(self, layer, cin):
        super().__init__()
        dim, cout = layer.attrs["dim"], layer.attrs["out_channels"] or cin
        self.heads = layer.attrs["heads"]
        self.q, self.k, self.v = (nn.Linear(cin, dim) for _ in range(3))
        self.o = nn.Linear(dim, cout)

    def forward(self, x):
        b, t, _, length = x.shape
        xt = x.transpose(2, 3)                                                 # (B, T, L, C)
        q, k, v = (m(xt).reshape(b, t, length, self.heads, -1) for m in (self.q, self.k, self.v))
        scores = torch.einsum("btihd,btjhd->bthij", q, k) / q.shape[-1] ** 0.5
        o = torch.einsum("bthij,btjhd->btihd", torch.softmax(scores, -1), v).reshape(b, t, length, -1)
        return self.o(o).transpose(2, 3)

    def arrays(self):
        return {f"{n}.{p}": getattr(getattr(self, n), p) for n in "qkvo" for p in ("weight", "bias")}


class _Gru(nn.Module):
    def __init__(self, layer, cin):
        super().__init__()
        a = layer.attrs
        if a["groups"] != 1:
            raise ModelError(layer.source, "training: grouped GRUs are not supported", layer=layer.name)
        self.axis = a["axis"]
        self.gru = nn.GRU(cin, a["hidden"], batch_first=True, bidirectional=a["bidirectional"])

    def forward(self, x):
        b, t, c, length = x.shape
        if self.axis == "time":                                               # one sequence per clip and position
            y = self.gru(x.permute(0, 3, 1, 2).reshape(b * length, t, c))[0]
            return y.reshape(b, length, t, -1).permute(0, 2, 3, 1)
        y = self.gru(x.permute(0, 1, 3, 2).reshape(b * t, length, c))[0]      # one sequence per frame
        return y.reshape(b, t, length, -1).permute(0, 1, 3, 2)

    def arrays(self):
        out = {}
        for suffix in ("", "_reverse"):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                p = getattr(self.gru, f"{name}_l0{suffix}", None)
                if p is not None:
                    out[f"{name}{suffix}"] = p
        return out


class _Elementwise(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.op = layer.op
        self.act = _ACT[layer.attrs.get("activation", "none")] if layer.op == "add" else _ACT.get(layer.op)
        self.start, self.stop = layer.attrs.get("start"), layer.attrs.get("stop")

    def forward(self, *ins):
        if self.op == "concat":
            return torch.cat(ins, 2)
        if self.op == "add":
            return self.act(ins[0] + ins[1])
        if self.op == "slice":
            return ins[0][:, :, self.start:self.stop]
        return self.act(ins[0])

    def arrays(self):
        return {}


def _module(layer, shapes, magnitude_eps):
    cin = shapes[layer.inputs[0]][0]
    if layer.op in ("conv1d", "conv_transpose1d"):
        return _Conv(layer, cin)
    if layer.op == "complex_conv_time":
        return _ComplexConvTime(layer, cin)
    if layer.op == "magnitude":
        return _Magnitude(magnitude_eps)
    if layer.op == "attention":
        return _Attention(layer, cin)
    if layer.op == "gru":
        return _Gru(layer, cin)
    if layer.op in ("concat", "add", "slice", "relu", "sigmoid", "tanh"):
        return _Elementwise(layer)
    raise ModelError(layer.source, f"training: op {layer.op!r} is not supported (training/net.py)", layer=layer.name)


class TorchNet(nn.Module):
    """The NPU layers of `model` (a `compiler.Model`); `forward(features)` -> every layer's output."""

    def __init__(self, model, *, magnitude_eps: float = 1e-8):
        super().__init__()
        spec = model.spec
        self.order = [layer for layer in spec.layers if not OPS[layer.op].host]
        self.host = [layer for layer in spec.layers if OPS[layer.op].host]
        self.input = spec.input.name
        self.blocks = nn.ModuleDict({_key(layer.name): _module(layer, spec.shapes, magnitude_eps) for layer in self.order})

    def forward(self, features):
        values = {self.input: features}
        for layer in self.order:
            values[layer.name] = self.blocks[_key(layer.name)](*(values[i] for i in layer.inputs))
        return values

    def state_arrays(self) -> dict:
        """Every array by its `.npz` name (`<layer>.<suffix>`), as float64 numpy."""
        out = {}
        for layer in self.order:
            for suffix, p in self.blocks[_key(layer.name)].arrays().items():
                out[f"{layer.name}.{suffix}"] = p.detach().double().numpy().copy()
        return out

    def load_arrays(self, arrays: dict) -> None:
        """Set the parameters and running statistics from `.npz`-named arrays (e.g. model.weights)."""
        with torch.no_grad():
            for layer in self.order:
                for suffix, p in self.blocks[_key(layer.name)].arrays().items():
                    p.copy_(torch.as_tensor(arrays[f"{layer.name}.{suffix}"], dtype=p.dtype))


def apply_mask(op: str, outs, stft_re, stft_im):
    """The host mask op in torch: (re, im) of the enhanced STFT from the network's outputs
    (B, T, C, L) and the noisy STFT (B, T, L)."""
    if op == "mask_reconstruct":
        m, p = outs[0][:, :, 0], outs[1][:, :, 0]
        c, s = torch.cos(p), torch.sin(p)
        return m * (stft_re * c - stft_im * s), m * (stft_re * s + stft_im * c)
    if op == "mask_magnitude":
        m = outs[0][:, :, 0]
        return m * stft_re, m * stft_im
    if op == "mask_complex":
        mr, mi = outs[0][:, :, 0], outs[0][:, :, 1]
        return mr * stft_re - mi * stft_im, mr * stft_im + mi * stft_re
    raise ValueError(f"training: host op {op!r} is not supported")


def _key(name: str) -> str:
    return name.replace(".", "__")
