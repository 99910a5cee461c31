"""Seeded random weights with data-dependent batch-norm statistics.

He/Xavier-style initialisation alone gives activations whose scale drifts from layer to layer;
a trained network's batch norms undo that. So, as in data-dependent initialisation, each batch
norm's running mean and variance are set to the statistics its input actually has on generated
frames (tones plus noise), layer by layer in order: every activation then has the range of a
normalised network, which is what calibration and quantisation need to be realistic.
"""
from __future__ import annotations

import numpy as np

from .fold import fold_layer
from .host import HostFeatures, generated_frames
from .ops import OPS
from .reference.float_layers import FLOAT_LAYERS
from .spec import ModelSpec

__all__ = ["init_random", "BN_INIT_FRAMES", "BN_INIT_SEED_OFFSET"]

BN_INIT_FRAMES = 24
BN_INIT_SEED_OFFSET = 1000


def init_random(spec: ModelSpec, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in spec.layers:
        for suffix, value in OPS[layer.op].init(layer, spec.input_shapes(layer), rng).items():
            weights[f"{layer.name}.{suffix}"] = np.asarray(value, dtype=np.float64)
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
        if layer.op in ("conv1d", "conv_transpose1d") and layer["batchnorm"]:
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
