"""Names and text that come from files (issue 19): a port, symbol or layer name cannot escape an
output archive, a model file cannot expand YAML aliases, and values echoed in messages are cut."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from compiler import parse_model_text
from compiler.errors import ModelError
from npu_model.arch import isa
from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import ProgramFormatError, shown
from npu_model.arch.program import MAGIC, Layer, Port, Program, SectionKind, Symbol, bad_name

_HEADER, _SECTION = struct.Struct("<8sHHI"), struct.Struct("<III")
ROOT = Path(__file__).resolve().parents[1]


def _program(**changes):
    eof = np.frombuffer(isa.encode(isa.Instruction(opcode=isa.Opcode.EOF)), np.uint8)
    fields = dict(config=NpuConfig(lanes=4, abuf_bytes=4096), code=eof,
                  outputs=[Port("y", "abuf", 0, "i8", (4,))], symbols=[Symbol("y", "abuf", 0, 4)],
                  layers=[Layer("out", "copy", 0, 1)])
    fields.update(changes)
    return Program(**fields)


def _rewrite_io(data: bytes, io: dict) -> bytes:
    """The container with its IO section replaced and the checksum recomputed (what another tool,
    or a hand edit, could write)."""
    _, version, reserved, count = _HEADER.unpack_from(data)
    entries = [_SECTION.unpack_from(data, _HEADER.size + _SECTION.size * i) for i in range(count)]
    payloads = [(k, json.dumps(io).encode() if k == SectionKind.IO else data[o:o + n]) for k, o, n in entries]
    offset = _HEADER.size + _SECTION.size * count
    table, body = [], []
    for kind, payload in payloads:
        table.append(_SECTION.pack(kind, offset, len(payload)))
        body.append(payload)
        offset += len(payload)
    out = _HEADER.pack(MAGIC, version, reserved, count) + b"".join(table) + b"".join(body)
    return out + struct.pack("<I", zlib.crc32(out))


@pytest.mark.parametrize("name", ["../../../../tmp/x", "a/b", "", ".hidden", "-x", "x" * 65, "tab\there", "ü"])
def test_bad_names_are_refused(name):
    assert bad_name(name)
    for changes in ({"outputs": [Port(name, "abuf", 0, "i8", (4,))]}, {"symbols": [Symbol(name, "abuf", 0, 4)]},
                    {"layers": [Layer(name, "copy", 0, 1)]}):
        with pytest.raises(ProgramFormatError, match=r"^p\.bin: (IO outputs\[0\]|SYMBOLS \[0\]|LAYERS \[0\]).name: .*: a name is 1 to 64"):
            _program(**changes).validate("p.bin")


@pytest.mark.parametrize("name", ["x", "enc1.pw", "mea.mag", "tgru_h-0", "A" * 64])
def test_good_names(name):
    assert bad_name(name) is None


def test_zip_slip_port_name_is_refused_by_the_command_line(tmp_path):
    good = _program().to_bytes()
    bad = _rewrite_io(good, {"inputs": [], "outputs": [{"name": "../../../../tmp/evil", "buf": "abuf", "offset": 0,
                                                         "dtype": "i8", "shape": [4]}]})
    path = tmp_path / "p.bin"
    path.write_bytes(bad)
    out = tmp_path / "out.npz"
    r = subprocess.run([sys.executable, "-m", "npu_model", "run", str(path), "--frames", "1", "--output", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "a name is 1 to 64" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


MODEL = """name: m
input: {name: x, bins: 8, channels: 1, sample_rate: 16000, fft_size: 16, hop: 8, features: [log_power]}
layers:
  - {name: c, op: conv1d, input: x, out_channels: 2, kernel: 1}
outputs: [c]
"""


def test_yaml_aliases_are_refused():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nname: m\n"
    with pytest.raises(ModelError, match="anchors and aliases are not allowed in a model file"):
        parse_model_text(laughs, source="m.yaml")
    parse_model_text(MODEL, source="m.yaml")                     # the same file without them parses


def test_layer_and_input_names_follow_the_pattern():
    with pytest.raises(ModelError, match=r"layer 1: 'a/b': a name is 1 to 64"):
        parse_model_text(MODEL.replace("name: c,", "name: a/b,").replace("[c]", "[a/b]"), source="m.yaml")
    with pytest.raises(ModelError, match=r"input.name.*'\.\./x': a name is 1 to 64"):
        parse_model_text(MODEL.replace("name: x,", "name: ../x,").replace("input: x,", "input: ../x,"), source="m.yaml")


def test_echoed_values_are_cut():
    assert len(shown("x" * 10_000)) == 80 and shown("x" * 10_000).endswith("...")
    assert shown(list(range(1000))) == "<list of 1000 items>"
    with pytest.raises(ModelError) as err:
        parse_model_text(MODEL.replace("name: c,", f"name: {'q' * 5000},"), source="m.yaml")
    assert len(str(err.value)) < 400


def test_non_utf8_model_file(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    r = subprocess.run([sys.executable, "-m", "compiler", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not a UTF-8 text file" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_explore_refuses_non_finite_sizes(value, tmp_path):
    model = str(ROOT / "models" / "trunet.yaml")
    r = subprocess.run([sys.executable, "-m", "npu_model", "explore", model, "--act-kib", value, "-o", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "argument --act-kib: must be" in r.stderr and "Traceback" not in r.stderr


def _compile(model: Path, *extra):
    return subprocess.run([sys.executable, "-m", "compiler", str(model), *extra], capture_output=True, text=True,
                          timeout=120, cwd=model.parent)


@pytest.fixture
def weights_outside(tmp_path):
    """A model in tmp/model/ whose weights lie in tmp/ (outside its folder)."""
    from compiler import load_model, save_npz
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "m.yaml").write_text(MODEL)
    save_npz(load_model(folder / "m.yaml").weights, tmp_path / "w.npz")
    return folder / "m.yaml"


@pytest.mark.parametrize("where", ["../w.npz", "{abs}", "link.npz"])
def test_weights_outside_the_model_folder_need_an_explicit_option(weights_outside, where):
    model = weights_outside
    if where == "link.npz":                                  # a link inside the folder that points out of it
        (model.parent / "link.npz").symlink_to(model.parent.parent / "w.npz")
    npz = where.replace("{abs}", str(model.parent.parent / "w.npz"))
    model.write_text(MODEL.replace("layers:", f"weights: {{npz: {npz}}}\nlayers:"))
    r = _compile(model)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "outside the model's folder" in r.stderr, r.stderr
    assert "--weights-anywhere" in r.stderr
    r = _compile(model, "--weights-anywhere")
    assert r.returncode == 0, r.stderr


def test_weights_inside_the_model_folder_are_read(weights_outside):
    model = weights_outside
    (model.parent / "sub").mkdir()
    (model.parent / "sub" / "w.npz").write_bytes((model.parent.parent / "w.npz").read_bytes())
    model.write_text(MODEL.replace("layers:", "weights: {npz: sub/w.npz}\nlayers:"))
    r = _compile(model)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("argv, words", [
    (["-o", "taken"], "is a directory (the output is a file)"),
    (["-o", "plain/p.bin"], "plain is not a directory"),
    (["-o", "q.bin"], "q.lst: is a directory"),                 # a companion output, checked before work
    (["--save-weights", "taken"], "is a directory"),
])
def test_output_paths_are_checked_before_work(tmp_path, argv, words):
    model = tmp_path / "m.yaml"
    model.write_text(MODEL)
    (tmp_path / "taken").mkdir()
    (tmp_path / "q.lst").mkdir()
    (tmp_path / "plain").write_text("a file")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = _compile(model, *argv)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_help_says_parent_directories_are_created():
    for command in (["compiler"], ["npu_model", "run"], ["npu_model", "report"], ["npu_model", "enhance"]):
        r = subprocess.run([sys.executable, "-m", *command, "--help"], capture_output=True, text=True, timeout=120)
        assert "missing parent directories are created" in " ".join(r.stdout.split()), command


@pytest.mark.parametrize("text, words", [
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" + MODEL.replace("[c]", "*b"),
     "anchors and aliases are not allowed"),
    (MODEL.replace("name: c,", f"name: {'q' * 100_000},"), "a name is 1 to 64"),
])
def test_alias_and_huge_name_through_the_command_line(tmp_path, text, words):
    model = tmp_path / "m.yaml"
    model.write_text(text)
    r = _compile(model)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert len(r.stderr) < 400


@pytest.mark.parametrize("argv, words", [
    (["explore", "m.yaml", "-o", "x", "--jobs", "0"], "argument --jobs: must be in [1, 1024], not 0"),
    (["report", "p.bin", "-o", "x", "--frames", "-1"], "argument --frames: must be in [0, 1e+06], not -1"),
    (["report", "p.bin", "-o", "x", "--clock-mhz", "inf"], "argument --clock-mhz: must be finite, not inf"),
])
def test_numeric_options_are_bounded(tmp_path, argv, words):
    r = subprocess.run([sys.executable, "-m", "npu_model", *argv], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
