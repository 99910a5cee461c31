"""Seeded random weights with data-dependent batch-norm statistics.

He/Xavier-style initialisation alone gives activations whose scale drifts from layer to layer;
a trained network's batch norms undo that. So, as in data-dependent initialisation, each batch
norm's running mean and variance are set to the statistics its input actually has on generated
frames (tones plus noise), layer by layer in order: every activation then has the range of a
normalised network, which is what calibration and quantisation need to be realistic.

`bn_shift` moves the mean of every batch norm's random shift (beta). With beta near 0 half of
each normalised pre-activation is cut by the ReLU, and such a random network is chaotic: as the
mean-field theory of batch norm predicts (Yang et al., ICLR 2019: a factor pi/(pi-1), 1.66 dB,
per layer for ReLU), any small perturbation grows relative to the signal at every layer, so
the network's output says more about the random weights than about the arithmetic that computes
it. A shift of about one standard deviation (the ReLU passes 84 % of the pre-activation) keeps
a deep random network out of that regime (docs/compiler.md, "Fidelity").
"""
from __future__ import annotations

import numpy as np

from npu_model.host import HostFeatures, generated_frames

from .fold import CONV_OPS, fold_layer
from .ops import OPS
from .reference.float_layers import FLOAT_LAYERS
from .spec import ModelSpec

__all__ = ["init_random", "BN_INIT_FRAMES", "BN_INIT_SEED_OFFSET"]

BN_INIT_FRAMES = 24
BN_INIT_SEED_OFFSET = 1000


def init_random(spec: ModelSpec, seed: int, bn_shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in spec.layers:
        shift_key = "bias" if layer.op == "batchnorm" else "bn.bias"
        for suffix, value in OPS[layer.op].init(layer, spec.input_shapes(layer), rng).items():
            value = np.asarray(value, dtype=np.float64)
            weights[f"{layer.name}.{suffix}"] = value + bn_shift if suffix == shift_key else value
    _set_bn_statistics(spec, weights, seed + BN_INIT_SEED_OFFSET)
    return weights


def _set_bn_statistics(spec: ModelSpec, weights: dict, seed: int):
    stft = generated_frames(spec.input, BN_INIT_FRAMES, seed)
    feats, _ = HostFeatures(spec.input)(stft)
    tensors = {spec.input.name: feats}
    for layer in spec.layers:
        if OPS[layer.op].host:
            continue
        ins = [tensors[i] for i in layer.inputs]
        prefix = None
        if layer.op in CONV_OPS and layer.attrs.get("batchnorm"):
            pre = _run(fold_layer(layer, weights, spec, with_bn=False, with_act=False), ins)
            prefix = f"{layer.name}.bn."
        elif layer.op == "batchnorm":
            pre, prefix = ins[0], f"{layer.name}."
        if prefix is not None:
            weights[prefix + "running_mean"] = pre.mean(axis=(0, 2))
            weights[prefix + "running_var"] = pre.var(axis=(0, 2))
        tensors[layer.name] = _run(fold_layer(layer, weights, spec), ins)


def _run(fl, ins):
    return FLOAT_LAYERS[fl.op](fl, ins, None, lambda *a: None)[0]
