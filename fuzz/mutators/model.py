"""Model YAML files: values edited anywhere in the document, keys removed or added, and the
attacks a shared model file could carry (aliases, paths, bytes that are not UTF-8)."""
from __future__ import annotations

import yaml

from ..case import Case, Expect
from .tree import BAD_VALUES, Raw, added, deleted, expect_for, nodes, replaced

#: Values a careless author writes where a count belongs.
_SIZES = [("100000", 100_000), ("10**30", 10 ** 30), ("2**40", 2 ** 40)]

#: The model sits in a folder of its own; a copy of its weights lies outside it (`../w.npz`).
MODEL = "model/m.yaml"

_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _dump(tree) -> bytes:
    raws = {}

    def strip(v):
        if isinstance(v, Raw):
            raws[f"RAW{len(raws)}X"] = v.text
            return f"RAW{len(raws) - 1}X"
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    text = yaml.safe_dump(strip(tree), sort_keys=False, width=1 << 20)
    for key, raw in raws.items():
        text = text.replace(key, raw)
    return text.encode()


def _special(text: str, rng):
    """(file bytes, what, expect) for the attacks that are not a value edit."""
    tree = yaml.safe_load(text)
    choice = int(rng.integers(11))
    if choice == 0:
        where = ["outputs: *i", "quantisation: {int16_tensors: *i}", "name: *i"][int(rng.integers(3))]
        body = text.replace("outputs: [mea]", "") if where.startswith("outputs") else text
        body = body.replace("name: tiny\n", "") if where.startswith("name") else body
        return (_LAUGHS + body + where + "\n").encode(), f"billion laughs as {where.split(':')[0]}", Expect.BAD
    if choice == 1:
        return text.encode("utf-16"), "UTF-16 text", Expect.BAD
    if choice == 2:
        at = int(rng.integers(len(text)))
        return text[:at].encode() + b"\xff\xfe" + text[at:].encode(), "bytes that are not UTF-8", Expect.BAD
    if choice == 3:
        tree["weights"] = {"npz": ["../w.npz", "/etc/passwd", "../../../../etc/hostname"][int(rng.integers(3))]}
        return _dump(tree), f"weights.npz outside the model's folder ({tree['weights']['npz']})", Expect.BAD
    if choice == 4:
        layer = tree["layers"][int(rng.integers(len(tree["layers"])))]
        layer["name"] = ["../x", "a/b", "", " ", "x" * 65, ".hidden", "a\x00b", "ü"][int(rng.integers(8))]
        return _dump(tree), f"layer name {layer['name']!r}", Expect.BAD
    if choice == 5:
        tree["layers"][1]["name"] = tree["layers"][0]["name"]
        return _dump(tree), "a layer name used twice", Expect.BAD
    if choice == 6:
        tree["layers"][2]["input"] = "nowhere"
        return _dump(tree), "input from an undefined layer", Expect.BAD
    if choice == 7:
        key, value = [("int16_headroom", -1), ("int16_headroom", float("nan")), ("calibration_frames", 10 ** 9),
                      ("reconstruct_ridge", float("inf")), ("lut_log2", {"sigmoid": 40}),
                      ("int16_headroom", 0), ("calibration_seed", -5), ("int16_tensors", ["nowhere"])][
            int(rng.integers(8))]
        tree["quantisation"][key] = value
        return _dump(tree), f"quantisation.{key} = {value!r}", Expect.BAD
    if choice == 8:
        layer = tree["layers"][int(rng.integers(len(tree["layers"]) - 1))]
        key = [k for k in layer if k not in ("name", "op", "input", "inputs")]
        key = key[int(rng.integers(len(key)))]
        label, value = _SIZES[int(rng.integers(len(_SIZES)))]
        layer[key] = value
        return _dump(tree), f"layer {layer['name']} {key} = {label}", Expect.ANY
    if choice == 9:
        return (text + "\t- broken: [\n").encode(), "YAML syntax error", Expect.BAD
    tree["input"][["bins", "fft_size", "hop", "sample_rate", "channels"][int(rng.integers(5))]] = 10 ** 30
    return _dump(tree), "an input size of 10**30", Expect.BAD


def _edit(text: str, rng):
    tree = yaml.safe_load(text)
    all_nodes = list(nodes(tree))
    path, value = all_nodes[int(rng.integers(1, len(all_nodes)))]
    parent = tree
    for k in path[:-1]:
        parent = parent[k]
    r = rng.random()
    if r < 0.75:
        label, bad = BAD_VALUES[int(rng.integers(len(BAD_VALUES)))]
        expect = expect_for(value, bad)
        if path[-1] == "name" and path[0] == "name" and isinstance(bad, str):
            expect = Expect.ANY                      # the model's own name is free text
        return _dump(replaced(tree, path, bad)), f"{'.'.join(map(str, path))} = {label}", expect
    if r < 0.9 and isinstance(parent, dict):
        optional = path[-1] not in ("name", "op", "input", "inputs", "layers", "bins", "channels", "fft_size",
                                    "hop", "sample_rate", "features") or path[0] in ("weights", "quantisation") or path == ("input", "name")
        return _dump(deleted(tree, path)), f"{'.'.join(map(str, path))} deleted", \
            Expect.ANY if optional else Expect.BAD
    container = path[:-1] if not isinstance(value, dict) else path
    node = tree
    for k in container:
        node = node[k]
    if not isinstance(node, dict):
        return _dump(replaced(tree, path, [value])), f"{'.'.join(map(str, path))} wrapped in a list", Expect.BAD
    return _dump(added(tree, container, "zz_unknown", 1)), f"{'.'.join(map(str, container)) or 'top'} gains an " \
        "unknown key", Expect.BAD


def cases(seeds, rng, n):
    out = []
    for _ in range(n):
        text, files = (seeds.model, {}) if rng.random() < 0.8 else (seeds.model_npz, {"model/w.npz": seeds.weights})
        data, what, expect = _special(text, rng) if rng.random() < 0.35 else _edit(text, rng)
        argv = [[MODEL, "-o", "out/p.bin", "--no-timing"], [MODEL], [MODEL, "--summary"],
                [MODEL, "-o", "p.bin"]][int(rng.integers(4))]
        out.append(Case("model", what, "compiler", argv, {MODEL: data, "w.npz": seeds.weights, **files}, expect))
    return out
