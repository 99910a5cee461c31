"""Compiling from the command line: determinism, the files written, one-line errors (exit 2)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from .conftest import MODELS, ROOT


def _run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=600)


@pytest.fixture
def patched_quantise(networks, monkeypatch):
    """In-process CLI runs reuse the session's quantised networks (quantising takes seconds).
    The CLI module's own binding is patched (it is imported first, so the patch is undone at the
    end of the test instead of staying in a module imported while it was in place)."""
    import compiler.cli
    nets = {networks.net(n)[0].name: networks.net(n) for n in MODELS}
    monkeypatch.setattr(compiler.cli, "quantise_cached", lambda model, *a, **k: nets[model.name][1])


def test_compiling_is_deterministic(networks):
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    _, qnet = networks.net("trunet_paper")
    a = compile_network(qnet, NpuConfig(lanes=4), schedule=False, with_listing=False)[0].to_bytes()
    b = compile_network(qnet, NpuConfig(lanes=4), schedule=False, with_listing=False)[0].to_bytes()
    assert a == b


def test_cli_writes_program_listing_summary_deterministically(networks, tmp_path):
    """A separate process (another hash seed, its own quantisation) writes the same prog.bin as
    this one compiles, plus the listing and the summaries."""
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    from npu_model.arch.program import Program
    out = tmp_path / "prog.bin"
    r = _run_cli(MODELS["trunet"], "-o", out, "--lanes", "8", "--quiet", env={"PYTHONHASHSEED": "12345"})
    assert r.returncode == 0, r.stderr
    model, qnet = networks.net("trunet")
    program, listing, summary = compile_network(qnet, NpuConfig(lanes=8), model=model)
    assert out.read_bytes() == program.to_bytes()
    loaded = Program.load(out)
    assert [l.name for l in loaded.layers][:3] == ["frame.in", "pe.conv", "pe.mag"]
    assert loaded.meta.model == "trunet" and loaded.meta.macs_per_frame == summary.macs
    lst = (tmp_path / "prog.lst").read_text()
    assert lst == listing
    for layer in ("pe.conv", "fsa", "tgru", "dec6.up", "mea.phase"):
        assert f".layer {layer} " in lst
    assert "mac n=8" in lst and "MAC-lane utilisation" in lst
    text = (tmp_path / "prog.summary.txt").read_text()
    for word in ("parameters", "MACs per frame", "instruction words with hardware loops",
                 "instructions executed per frame", "wbuf", "abuf", "sbuf", "host:"):
        assert word in text
    data = json.loads((tmp_path / "prog.summary.json").read_text())
    assert data["macs"] == summary.macs and data["cycles"] == summary.cycles
    assert {l["name"] for l in data["layers"]} >= {"enc1", "tgru", "mea.mag"}


def test_model_that_does_not_fit_names_layer_buffer_and_bytes(networks, tmp_path, capsys, patched_quantise):
    from compiler.builder import FitError
    from compiler.cli import main
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig
    _, qnet = networks.net("trunet")
    with pytest.raises(FitError) as err:
        compile_network(qnet, NpuConfig(abuf_bytes=16384), schedule=False, with_listing=False)
    m = re.fullmatch(r"model does not fit: the program needs abuf ([\d,]+) bytes at its peak, "
                     r"the configuration has 16,384 \(abuf_bytes\); layer '([^']+)' is the first past it", str(err.value))
    assert m, str(err.value)
    layer, needed = m.group(2), int(m.group(1).replace(",", ""))
    assert layer in [l.name for l in qnet.layers] and needed > 16384
    assert err.value.needs["abuf_bytes"] == needed
    # Every memory that is too small is named, the first in full; `needs` gives the smallest fit.
    with pytest.raises(FitError) as err2:
        compile_network(qnet, NpuConfig(abuf_bytes=16384, sbuf_bytes=1024), schedule=False, with_listing=False)
    sbuf = err2.value.needs["sbuf_bytes"]
    assert str(err2.value).startswith("model does not fit: the program needs sbuf ")
    assert str(err2.value).endswith(f" (also too small: abuf_bytes needs {needed:,})") and sbuf > 1024
    fit = NpuConfig(**{k: max(-(-v // 32) * 32, 32) for k, v in err2.value.needs.items() if k.endswith("_bytes")})
    compile_network(qnet, fit, schedule=False, with_listing=False)        # the smallest sizes (aligned) fit
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"abuf_bytes": 16384}))
    rc = main([str(MODELS["trunet"]), "-o", str(tmp_path / "p.bin"), "--config", str(cfg)])
    err_text = capsys.readouterr().err
    assert rc == FitError.exit_code == 4          # "does not fit" has its own exit code (explore relies on it)
    assert err_text == f"error: {err.value}\n"
    assert not (tmp_path / "p.bin").exists()


def test_cli_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlayers: [unclosed\n")
    for args in ([tmp_path / "missing.yaml", "-o", tmp_path / "p.bin"], [bad, "-o", tmp_path / "p.bin"]):
        r = _run_cli(*args)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
        assert "Traceback" not in r.stderr
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"lanes": 3}')
    r = _run_cli(MODELS["trunet"], "-o", tmp_path / "p.bin", "--config", cfg)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "lanes" in r.stderr


def test_weights_replace_the_model_files_and_are_checked(tmp_path, random_weights_file):
    """--weights: a checkpoint instead of the file's weights (here the trained TRU-Net in place of a
    copy of its file that names seeded random ones); a checkpoint of another network, or weights
    for an ONNX graph, are one-line errors."""
    from compiler import load_model
    random = load_model(random_weights_file("trunet"))
    trained = load_model(random_weights_file("trunet"), weights=ROOT / "models" / "trunet.npz")
    assert trained.weights.keys() == random.weights.keys()
    assert not np.array_equal(trained.weights["enc1.weight"], random.weights["enc1.weight"])
    np.testing.assert_array_equal(trained.weights["enc1.weight"], load_model(MODELS["trunet"]).weights["enc1.weight"])
    for args, words in (([MODELS["trunet_paper"], "--weights", ROOT / "models" / "trunet.npz"], "missing array"),
                        ([tmp_path / "x.onnx", "--weights", ROOT / "models" / "trunet.npz"], "carries its own weights")):
        r = _run_cli(*args, "-o", tmp_path / "p.bin")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
        assert not (tmp_path / "p.bin").exists()


def test_help_describes_compiling():
    r = _run_cli("--help")
    assert r.returncode == 0
    for word in ("-o", "--lanes", "--config", "prog.lst", "summary", "--summary", "--fidelity", "exit code 2"):
        assert word in r.stdout, word


def test_summary_and_fidelity_options_still_work(capsys, patched_quantise):
    from compiler.cli import main
    assert main([str(MODELS["trunet_paper"]), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "380,881" in out and "16,918,144" in out


def test_outputs_ports_use_the_reference_layout(networks):
    """Ports hold (channels, positions) like the integer reference: the host neither transposes
    the input nor the outputs."""
    _, qnet = networks.net("trunet_paper")
    program, _ = networks.compiled("trunet_paper", 8)
    assert program.inputs[0].shape == tuple(qnet.input.shape)
    for port in program.outputs:
        assert port.shape == tuple(qnet.tensors[port.name].shape)
    assert [(p.name, p.shape) for p in program.outputs] == [("mask.gain", (1, 256)), ("mask.phase", (1, 256))]


def test_builder_encoding_matches_the_isa_encoder(networks):
    """The builder packs words itself (faster than building Instruction objects): same bits as
    npu_model.arch.isa.encode, same range checks."""
    from compiler.builder import ProgramBuilder
    from npu_model.arch.config import NpuConfig
    from npu_model.arch.isa import Opcode, decode, encode
    program, _ = networks.compiled("trunet_paper", 16)
    for word in program.code[::5]:
        ins, reserved = decode(word.tobytes())
        assert reserved == 0 and encode(ins) == word.tobytes()
    b = ProgramBuilder(NpuConfig())
    with pytest.raises(ValueError, match="a_rstride"):
        b.emit(Opcode.MOV, n=1, r=1, a_rstride=1 << 15)
    with pytest.raises(TypeError, match="bogus"):
        b.emit(Opcode.MOV, bogus=0)
