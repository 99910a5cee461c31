"""Shared fixtures: the two reference models (trained weights), loaded and quantised once per
session, and both with the seeded random weights they named before they were trained (the
fidelity floors of random batch-norm networks stay regression tests: docs/compiler.md)."""
from __future__ import annotations

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


@pytest.fixture(scope="session")
def trunet_random_model(random_weights_file):
    from compiler import load_model
    return load_model(random_weights_file("trunet"))


@pytest.fixture(scope="session")
def paper_random_model(random_weights_file):
    from compiler import load_model
    return load_model(random_weights_file("trunet_paper"))


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
