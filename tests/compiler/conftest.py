"""Shared fixtures: the two reference models (trained weights), loaded and quantised once per
session, and both with the seeded random weights they named before they were trained (the
fidelity floors of random batch-norm networks stay regression tests: docs/compiler.md)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"


@pytest.fixture(scope="session")
def paper_model():
    from compiler import load_model
    return load_model(MODELS / "trunet_paper.yaml")


@pytest.fixture(scope="session")
def trunet_model():
    from compiler import load_model
    return load_model(MODELS / "trunet.yaml")


#: The seeded random weights each reference model file named before it was trained.
RANDOM_WEIGHTS = {"trunet": "{init: random, seed: 2, bn_shift: 1.0}", "trunet_paper": "{init: random, seed: 1, bn_shift: 1.0}"}


def random_weights_text(name: str) -> str:
    """models/NAME.yaml with its former seeded random weights (and int16 activations)."""
    text = (MODELS / f"{name}.yaml").read_text()
    for key, value in (("weights", RANDOM_WEIGHTS[name]), ("quantisation", "{activations: int16}")):
        text, n = re.subn(rf"^{key}: .*$", f"{key}: {value}", text, flags=re.M)
        assert n == 1, key
    return text


def _random_model(tmp_path_factory, name):
    from compiler import load_model
    path = tmp_path_factory.mktemp(f"{name}_random") / f"{name}.yaml"
    path.write_text(random_weights_text(name))
    return load_model(path)


@pytest.fixture(scope="session")
def trunet_random_model(tmp_path_factory):
    return _random_model(tmp_path_factory, "trunet")


@pytest.fixture(scope="session")
def paper_random_model(tmp_path_factory):
    return _random_model(tmp_path_factory, "trunet_paper")


@pytest.fixture(scope="session")
def trunet_random_qnet(trunet_random_model):
    from compiler import quantise
    return quantise(trunet_random_model)


@pytest.fixture(scope="session")
def paper_random_qnet(paper_random_model):
    from compiler import quantise
    return quantise(paper_random_model)


@pytest.fixture(scope="session")
def paper_qnet(paper_model):
    from compiler import quantise
    return quantise(paper_model)


@pytest.fixture(scope="session")
def trunet_qnet(trunet_model):
    from compiler import quantise
    return quantise(trunet_model)


@pytest.fixture
def write_model(tmp_path):
    """Write YAML text to a file in a temporary directory and return its path."""
    def write(text: str, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write
