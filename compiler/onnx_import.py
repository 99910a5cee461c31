"""ONNX front end: a frame-streaming graph as a model file (YAML text) and its weights.

A speech-enhancement graph exported from PyTorch runs a whole utterance: its input is
[batch, frames, features] and its recurrent layers loop over the frames. The NPU runs one frame
at a time with the recurrent state kept across frames, so the import reads the graph as the
computation of one frame:

- every tensor carries symbolic axes, batch `B`, time `T`, GRU direction `D`, and features `F`
  last; Transpose, Squeeze and Unsqueeze may move or drop B, T and D (each frame is one time step
  of batch one) but never move F;
- MatMul by a constant (K, N) matrix, with an Add of a constant (N) bias after it, is a `dense`
  layer; Relu, Sigmoid and Tanh are activations (fused into the dense layer by the compiler);
  Add and Mul of two tensors are `add` and `mul`;
- GRU (forward, `linear_before_reset = 1`: PyTorch's GRU) is a `gru` along time whose initial
  state is zero: absent, or a ConstantOfShape of 0 however it is shaped (the Shape, Gather,
  Concat, Slice plumbing around it is evaluated symbolically). ONNX's gate order z, r, h becomes
  PyTorch's r, z, n;
- the graph's input becomes the model's host features (`input:`, log10 power by default, NSNet2's
  feature) flattened to F features at one position, and its output a real mask on the noisy
  magnitude (`mask_magnitude`), reshaped to F positions.

Anything else is refused with one line naming the node, its op type and the reason. The result is
plain model-format text and an `.npz`-ready weight dictionary, so it can be written out, read and
edited (`python -m compiler model.onnx --export model.yaml`).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml

from .errors import fail
from .onnx_gtcrn import import_gtcrn, is_gtcrn

__all__ = ["import_onnx", "ONNX_INPUT_DEFAULTS"]

#: The model's `input:` section when the caller names nothing else: 16 kHz, F bins from the graph
#: (an FFT of 2 (F - 1) points, hop half of it), NSNet2's log10 power feature and its square-root
#: Hann window (the framing of its featurelib, which its training used).
ONNX_INPUT_DEFAULTS = {"sample_rate": 16000, "channels": 1, "features": ["log10_power"], "window": "sqrt_hann"}

_ZERO = "zero"          # a value known to be all zeros (an initial state)
_PLUMBING = "plumbing"  # a shape computation whose value does not matter once it only shapes zeros
_ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}


class _Tensor:
    """A model-format tensor: its layer name and the ONNX axes it stands for (F last)."""

    def __init__(self, name: str, axes: tuple[str, ...]):
        self.name, self.axes = name, axes


def _layer_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.]", "_", text).strip("._") or "layer"
    return name if name[0].isalpha() else f"n{name}"


class _Importer:
    def __init__(self, path: Path, graph, onnx_module):
        self.path, self.graph, self.onnx = path, graph, onnx_module
        self.values: dict[str, object] = {}
        self.layers: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.consumers: dict[str, list] = {}          # tensor name -> the nodes that read it
        self.names: set[str] = set()
        for node in graph.node:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        for init in graph.initializer:
            self.values[init.name] = self.onnx.numpy_helper.to_array(init)

    def fail(self, node, reason: str):
        fail(self.path, f"node '{node.name or node.output[0]}' ({node.op_type}): {reason}")

    def unique(self, text: str) -> str:
        base = _layer_name(text)
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def add(self, node, op: str, inputs: list[str], name: str, **fields) -> str:
        layer = {"name": self.unique(name), "op": op}
        layer.update({"input": inputs[0]} if len(inputs) == 1 else {"inputs": inputs})
        layer.update(fields)
        self.layers.append(layer)
        return layer["name"]

    # values ------------------------------------------------------------------------------------
    def tensor(self, node, name: str) -> _Tensor:
        v = self.values.get(name)
        if not isinstance(v, _Tensor):
            self.fail(node, f"input '{name}' is {'a constant' if isinstance(v, np.ndarray) else 'not a tensor'} "
                            "where a tensor of the frame is expected")
        return v

    def const(self, node, name: str) -> np.ndarray:
        v = self.values.get(name)
        if not isinstance(v, np.ndarray):
            self.fail(node, f"input '{name}' must be a constant (an initializer)")
        return v

    def attrs(self, node) -> dict:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    # the graph ---------------------------------------------------------------------------------
    def run(self, input_section: dict) -> tuple[str, dict]:
        g = self.graph
        inits = {i.name for i in g.initializer}
        inputs = [i for i in g.input if i.name not in inits]
        if len(inputs) != 1 or len(g.output) != 1:
            fail(self.path, f"the graph has {len(inputs)} inputs and {len(g.output)} outputs; the import reads a "
                            "graph of one input [batch, frames, features] and one output (streaming graphs with "
                            "explicit caches are not supported yet)")
        dims = [d.dim_value or d.dim_param for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 3 or not isinstance(dims[2], int) or dims[2] < 2:
            fail(self.path, f"input '{inputs[0].name}' has shape {dims}; expected [batch, frames, features]")
        bins = dims[2]
        inp = {"sample_rate": ONNX_INPUT_DEFAULTS["sample_rate"], "fft_size": 2 * (bins - 1), "hop": bins - 1,
               "bins": bins, "channels": ONNX_INPUT_DEFAULTS["channels"],
               "features": list(ONNX_INPUT_DEFAULTS["features"]), "window": ONNX_INPUT_DEFAULTS["window"]}
        inp.update(input_section or {})
        frame = self.add(inputs[0], "flatten", ["input"], "frame")
        self.values[inputs[0].name] = _Tensor(frame, ("B", "T", "F"))
        for node in g.node:
            handler = getattr(self, f"_{node.op_type}", None)
            if handler is None:
                self.fail(node, "op type not supported by the ONNX import (docs/model-format.md, 'ONNX')")
            handler(node)
        out = self.values.get(g.output[0].name)
        if not isinstance(out, _Tensor):
            fail(self.path, f"output '{g.output[0].name}' is not computed from the input")
        if out.axes[-1] != "F":
            fail(self.path, f"output '{g.output[0].name}' does not end with the feature axis")
        mask = self.add(g.output[0], "reshape", [out.name], "mask", channels=1)
        self.add(g.output[0], "mask_magnitude", [mask], "enhanced")
        doc = {"name": _layer_name(self.path.stem), "input": inp, "layers": self.layers, "outputs": [mask]}
        header = (f"# Imported from {self.path.name} by compiler.onnx_import (python -m compiler "
                  f"{self.path.name} --export ...): {len(self.graph.node)} ONNX nodes, {len(self.layers)} layers.\n")
        return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120), self.weights

    # shape plumbing ----------------------------------------------------------------------------
    def _plumbing(self, node):
        if node.op_type == "Gather" and isinstance(self.values.get(node.input[0]), _Tensor):
            self.fail(node, "gathering from a tensor of the frame is not supported")
        self.values[node.output[0]] = _PLUMBING

    _Shape = _Gather = _plumbing

    def _Constant(self, node):
        a = self.attrs(node)
        if "value" not in a:
            self.fail(node, "only a tensor `value` constant is supported")
        self.values[node.output[0]] = self.onnx.numpy_helper.to_array(a["value"])

    def _ConstantOfShape(self, node):
        a = self.attrs(node)
        value = self.onnx.numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1)
        if np.any(value != 0):
            self.fail(node, "a constant other than zeros (only a zero initial state is supported)")
        self.values[node.output[0]] = _ZERO

    def _Slice(self, node):
        src = self.values.get(node.input[0])
        if src not in (_ZERO, _PLUMBING):
            self.fail(node, "slicing a tensor of the frame is not supported")
        self.values[node.output[0]] = src

    def _Concat(self, node):
        if any(isinstance(self.values.get(i), _Tensor) for i in node.input):
            self.fail(node, "concatenating tensors of the frame is not supported by the import yet")
        self.values[node.output[0]] = _PLUMBING

    # layout ------------------------------------------------------------------------------------
    def _Transpose(self, node):
        x = self.tensor(node, node.input[0])
        perm = self.attrs(node).get("perm", list(range(len(x.axes)))[::-1])
        axes = tuple(x.axes[p] for p in perm)
        if axes[-1] != "F":
            self.fail(node, f"moves the feature axis (axes {''.join(x.axes)} -> {''.join(axes)})")
        self.values[node.output[0]] = _Tensor(x.name, axes)

    def _Squeeze(self, node):
        x = self.tensor(node, node.input[0])
        a = self.attrs(node)
        drop = a.get("axes")
        if drop is None and len(node.input) > 1:
            drop = self.const(node, node.input[1]).tolist()
        if drop is None:
            self.fail(node, "a Squeeze without axes")
        drop = {d % len(x.axes) for d in drop}
        if any(x.axes[d] == "F" for d in drop):
            self.fail(node, "removes the feature axis")
        self.values[node.output[0]] = _Tensor(x.name, tuple(a_ for i, a_ in enumerate(x.axes) if i not in drop))

    def _Unsqueeze(self, node):
        x = self.values.get(node.input[0])
        if not isinstance(x, _Tensor):
            self.values[node.output[0]] = _PLUMBING
            return
        a = self.attrs(node)
        add = a.get("axes")
        if add is None and len(node.input) > 1:
            add = self.const(node, node.input[1]).tolist()
        axes = list(x.axes)
        for d in sorted(add):
            axes.insert(d % (len(axes) + 1), "B")
        if axes[-1] != "F":
            self.fail(node, "puts an axis after the features")
        self.values[node.output[0]] = _Tensor(x.name, tuple(axes))

    # compute -----------------------------------------------------------------------------------
    def _MatMul(self, node):
        x = self.tensor(node, node.input[0])
        w = self.const(node, node.input[1])
        if w.ndim != 2:
            self.fail(node, f"the constant operand has shape {list(w.shape)}; a (in, out) matrix is expected")
        name = self._dense_name(node)
        layer = self.add(node, "dense", [x.name], name, out_features=int(w.shape[1]))
        self.weights[f"{layer}.weight"] = np.ascontiguousarray(w.T, np.float64)
        self.weights[f"{layer}.bias"] = np.zeros(w.shape[1])
        self.values[node.output[0]] = _Tensor(layer, x.axes)

    def _dense_name(self, node) -> str:
        """The bias's initializer name without '.bias' when an Add of it follows (PyTorch's module
        name, e.g. fc_in.0), else the node's name."""
        for nxt in self.consumers.get(node.output[0], []):
            if nxt.op_type == "Add":
                other = [i for i in nxt.input if i != node.output[0]]
                if other and isinstance(self.values.get(other[0]), np.ndarray) and other[0].endswith(".bias"):
                    return other[0][:-len(".bias")]
        return node.name or "dense"

    def _Add(self, node):
        a, b = (self.values.get(i) for i in node.input)
        if isinstance(a, _Tensor) and isinstance(b, _Tensor):
            self.values[node.output[0]] = _Tensor(self.add(node, "add", [a.name, b.name], node.name or "add"), a.axes)
            return
        x, c = (a, b) if isinstance(a, _Tensor) else (b, a)
        if not isinstance(x, _Tensor) or not isinstance(c, np.ndarray):
            self.fail(node, "an add of a tensor and a constant, or of two tensors, is expected")
        layer = next((l for l in self.layers if l["name"] == x.name), None)
        if (layer is None or layer["op"] != "dense" or len(self.consumers.get(node.input[0 if a is x else 1], [])) != 1
                or np.any(self.weights[f"{x.name}.bias"] != 0)):
            self.fail(node, "adding a constant is supported as the bias of a MatMul right before it")
        bias = np.broadcast_to(c, (layer["out_features"],)) if c.size in (1, layer["out_features"]) else None
        if bias is None:
            self.fail(node, f"a bias of shape {list(c.shape)} for {layer['out_features']} features")
        self.weights[f"{x.name}.bias"] = np.array(bias, np.float64)
        self.values[node.output[0]] = x

    def _Mul(self, node):
        a, b = (self.tensor(node, i) for i in node.input)
        self.values[node.output[0]] = _Tensor(self.add(node, "mul", [a.name, b.name], node.name or "mul"), a.axes)

    def _activation(self, node):
        x = self.tensor(node, node.input[0])
        op = _ACTIVATIONS[node.op_type]
        self.values[node.output[0]] = _Tensor(self.add(node, op, [x.name], node.name or op), x.axes)

    _Relu = _Sigmoid = _Tanh = _activation

    def _GRU(self, node):
        a = self.attrs(node)
        x = self.tensor(node, node.input[0])
        if x.axes[0] != "T":
            self.fail(node, f"its input's axes are {''.join(x.axes)}; the GRU runs along time (the first axis)")
        if a.get("direction", b"forward") not in (b"forward", "forward"):
            self.fail(node, f"direction {a['direction']!r}: only a forward GRU runs frame by frame")
        if a.get("linear_before_reset", 0) != 1:
            self.fail(node, "linear_before_reset = 0 applies the reset gate before the recurrent product; "
                            "PyTorch's GRU (the model format's) has linear_before_reset = 1")
        for key in ("activations", "clip", "layout"):
            if a.get(key) not in (None, 0):
                self.fail(node, f"attribute {key} is not supported")
        w, r = self.const(node, node.input[1]), self.const(node, node.input[2])
        h = int(a.get("hidden_size", w.shape[1] // 3))
        bias = self.const(node, node.input[3]) if len(node.input) > 3 and node.input[3] else np.zeros((1, 6 * h))
        if len(node.input) > 4 and node.input[4]:
            self.fail(node, "sequence_lens: every frame is one step of one sequence")
        if len(node.input) > 5 and node.input[5] and self.values.get(node.input[5]) != _ZERO:
            self.fail(node, "its initial state is not zero (a ConstantOfShape of 0, or absent)")
        if len(node.output) > 1 and node.output[1] and self.consumers.get(node.output[1]):
            self.fail(node, "its last state output Y_h is read (only the sequence output Y is supported)")

        def pytorch(m):                                     # ONNX z, r, h -> PyTorch r, z, n
            return np.concatenate([m[h:2 * h], m[:h], m[2 * h:3 * h]]).astype(np.float64)
        layer = self.add(node, "gru", [x.name], node.name or "gru", hidden=h, axis="time")
        self.weights[f"{layer}.weight_ih"] = pytorch(w[0])
        self.weights[f"{layer}.weight_hh"] = pytorch(r[0])
        self.weights[f"{layer}.bias_ih"] = pytorch(bias[0, :3 * h])
        self.weights[f"{layer}.bias_hh"] = pytorch(bias[0, 3 * h:])
        self.values[node.output[0]] = _Tensor(layer, ("T", "D", "B", "F"))


def import_onnx(path, *, input_section: dict | None = None) -> tuple[str, dict]:
    """Read the ONNX graph at `path` -> (model-format YAML text, weights by `.npz` name).
    `input_section` overrides fields of the model's `input:` (sample rate, FFT, hop, features)."""
    path = Path(path)
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401 (the submodule the importer reads tensors with)
    except ImportError:
        fail(path, "reading ONNX needs the `onnx` package (pip install onnx)")
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        fail(path, "no such file")
    except Exception as exc:                      # protobuf's errors have no common base
        fail(path, f"not an ONNX model ({type(exc).__name__})")
    if is_gtcrn(model.graph):
        return import_gtcrn(path, model.graph, onnx, input_section)
    return _Importer(path, model.graph, onnx).run(input_section or {})
