"""The seed papers' networks as bundled model files (models/cgcrn.yaml, ...): the golden model
running the compiled program equals the integer reference bit for bit over 20 consecutive frames
at every reference lane count, each in the configuration the model names beside itself
(`compiler.companion_config`); and the MAC utilisation at 8 lanes is at least the 95 % target."""
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED_MODELS = ("cgcrn", "dgru", "dgru_p25", "dgru_p50", "dgru_p75", "nunet_tls")
FRAMES = 20


@pytest.fixture(scope="module", params=SEED_MODELS)
def seed_net(request):
    from compiler import IntModel, load_model, quantise, quantise_input
    from npu_model.host import HostFeatures, generated_frames
    path = ROOT / "models" / f"{request.param}.yaml"
    model = load_model(path)
    qnet = quantise(model)
    feats, _ = HostFeatures(model.spec.input)(generated_frames(model.spec.input, FRAMES, 2024))
    x = quantise_input(feats, qnet)
    ref, _ = IntModel(qnet).run(x)
    return path, model, qnet, x, ref


@pytest.mark.parametrize("lanes", [1, 2, 4, 8, 16])
def test_seed_model_bit_exact(seed_net, lanes):
    from compiler import companion_config
    from compiler.lower.network import compile_network
    from npu_model.golden.machine import Npu
    path, model, qnet, x, ref = seed_net
    program, _, summary = compile_network(qnet, companion_config(path, lanes=lanes), model=model, with_listing=False)
    npu = Npu(program)
    for f in range(FRAMES):
        out = npu.run_frame({qnet.input.name: x[f]}).outputs
        for name in qnet.outputs:
            np.testing.assert_array_equal(out[name], ref[name][f], err_msg=f"{path.stem}, {lanes} lanes, frame {f}, {name}")
    if lanes == 8:
        assert summary.utilisation >= 0.95, f"{path.stem}: {100 * summary.utilisation:.1f} % MAC utilisation at 8 lanes"


def test_nunet_tls_file_is_the_generators_output():
    """models/nunet_tls.yaml is written by scripts/make_nunet_tls.py; an edit of one alone fails here."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_nunet_tls.py")], capture_output=True, text=True,
                         check=True).stdout
    assert out == (ROOT / "models" / "nunet_tls.yaml").read_text()
