"""The compiler's content cache (compiler.cache): a second compile of the same model skips its
random initialisation and its quantisation and gives the same program byte for byte; anything the
result depends on changes the key; a torn entry or a turned-off cache computes again."""
from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

from compiler import QuantConfig, load_model, quantise_cached
from compiler.lower.network import compile_network
from compiler import cache
from npu_model.arch.config import NpuConfig

from .conftest import MODELS


@pytest.fixture
def model():
    return load_model(MODELS / "dgru.yaml")


def _program(qnet) -> bytes:
    program, _, _ = compile_network(qnet, NpuConfig.load(MODELS / "dgru.npu.json").replace(lanes=4), with_listing=False,
                                    schedule=False)
    return program.to_bytes()


def test_second_quantisation_comes_from_the_cache(model, tmp_path, monkeypatch):
    monkeypatch.setenv("NPU_KIT_CACHE", str(tmp_path))
    calls = []
    real = cache.quantise
    monkeypatch.setattr(cache, "quantise", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = quantise_cached(model)
    (entry,) = (tmp_path / "quantised").glob("*.pickle")
    second = quantise_cached(load_model(MODELS / "dgru.yaml"))
    assert calls == [1] and _program(first) == _program(second)
    entry.write_bytes(entry.read_bytes()[:100])                      # torn by a crash
    assert _program(quantise_cached(model)) == _program(first) and calls == [1, 1]
    assert isinstance(pickle.loads(entry.read_bytes()), type(first))    # and written again


def test_the_key_follows_the_weights_and_the_settings(model):
    config = QuantConfig.from_spec(model.spec)
    key = cache.quantisation_key(model, config)
    assert cache.quantisation_key(load_model(MODELS / "dgru.yaml"), config) == key
    assert cache.quantisation_key(model, replace(config, activations="int8" if config.activations == "int16"
                                                 else "int16")) != key
    name = sorted(model.weights)[0]
    model.weights[name] = np.asarray(model.weights[name]) + np.float32(1e-3)
    assert cache.quantisation_key(model, config) != key


def test_turned_off_it_keeps_nothing(model, tmp_path, monkeypatch):
    monkeypatch.setenv("NPU_KIT_CACHE", "off")
    assert cache.cache_dir() is None
    monkeypatch.chdir(tmp_path)
    quantise_cached(model)
    assert not list(tmp_path.rglob("*.pickle"))


def test_random_weights_come_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPU_KIT_CACHE", str(tmp_path))
    calls = []
    real = cache.init_random
    monkeypatch.setattr(cache, "init_random", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load_model(MODELS / "dgru.yaml")
    second = load_model(MODELS / "dgru.yaml")
    assert calls == [1] and len(list((tmp_path / "weights").glob("*.pickle"))) == 1
    assert sorted(first.weights) == sorted(second.weights)
    assert all(np.array_equal(first.weights[k], second.weights[k]) for k in first.weights)
    spec = first.spec
    assert cache.weights_key(spec, 0, 0.0) != cache.weights_key(spec, 1, 0.0) != cache.weights_key(spec, 1, 0.5)
