"""Shared fixtures: the two reference models, loaded and quantised once per session."""
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
