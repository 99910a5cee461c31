"""Fixtures every test folder shares."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[1] / "models"

#: The seeded random weights each reference model file named before it was trained
#: (docs/training.md); the tests of random batch-norm networks use them.
RANDOM_WEIGHTS = {"trunet": {"seed": 2, "bn_shift": 1.0}, "trunet_paper": {"seed": 1, "bn_shift": 1.0}}


@pytest.fixture(scope="session")
def random_weights_file(tmp_path_factory):
    """`make(name, bn_shift=None)` -> the path of a copy of models/NAME.yaml whose `weights:` line
    names the seeded random weights of RANDOM_WEIGHTS (with another `bn_shift` if given)."""
    def make(name: str, bn_shift: float | None = None) -> Path:
        init = dict(RANDOM_WEIGHTS[name], **({} if bn_shift is None else {"bn_shift": bn_shift}))
        line = f"weights: {{init: random, seed: {init['seed']}, bn_shift: {init['bn_shift']}}}"
        text, n = re.subn(r"^weights: .*$", line, (MODELS / f"{name}.yaml").read_text(), flags=re.M)
        assert n == 1, name
        path = tmp_path_factory.mktemp(f"{name}_random") / f"{name}.yaml"
        path.write_text(text)
        return path
    return make
