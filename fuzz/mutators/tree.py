"""Edits of a parsed JSON or YAML tree, and whether the edit surely makes it invalid.

A bad value is put at a random node; `Raw` values are text spliced into the serialised file
(a 5,000-digit integer or a 100,000-deep list cannot be built as Python values and dumped).
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass

from ..case import Expect

__all__ = ["Raw", "BAD_VALUES", "nodes", "replaced", "deleted", "added", "dumps_json", "expect_for"]


@dataclass(frozen=True)
class Raw:
    """Text to splice into the serialised document in place of this value."""
    text: str
    label: str


BAD_VALUES = [
    ("a string", "x"), ("a numeric string", "0"), ("null", None), ("true", True), ("an empty list", []),
    ("an object", {"k": 1}), ("a fraction", 1.5), ("minus one", -1), ("zero", 0), ("2**64", 2 ** 64),
    ("-2**63", -2 ** 63), ("1e308", 1e308), ("NaN", float("nan")), ("Infinity", float("inf")),
    ("a huge string", "y" * 100_000), ("a path", "../../../../tmp/escape"), ("a list of 100000", [0] * 100_000),
    ("a 5000-digit integer", Raw("9" * 5000, "a 5000-digit integer")),
    ("a 100000-deep list", Raw("[" * 100_000 + "]" * 100_000, "a 100000-deep list")),
]


def nodes(tree, path=()):
    """Every (path, value) of the tree, the root first."""
    yield path, tree
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from nodes(v, path + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from nodes(v, path + (i,))


def _parent(tree, path):
    for key in path[:-1]:
        tree = tree[key]
    return tree


def replaced(tree, path, value):
    if not path:
        return value
    out = copy.deepcopy(tree)
    _parent(out, path)[path[-1]] = value
    return out


def deleted(tree, path):
    out = copy.deepcopy(tree)
    del _parent(out, path)[path[-1]]
    return out


def added(tree, path, key, value):
    out = copy.deepcopy(tree)
    node = out
    for k in path:
        node = node[k]
    node[key] = value
    return out


def _kind(v):
    if isinstance(v, Raw):
        return "raw"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "str", type(None): "null", list: "list", dict: "dict"}[type(v)]


def expect_for(original, value) -> Expect:
    """BAD when the new value cannot be valid wherever the original was: another JSON type
    (except a whole number where a fraction was), an integer field given a fraction, a negative
    where a count was, 2**64-sized numbers, non-finite numbers, spliced monsters, path-like or
    100,000-character strings, 100,000-item lists in place of short ones."""
    ko, kv = _kind(original), _kind(value)
    if kv == "raw":
        return Expect.BAD
    if ko != kv:
        return Expect.ANY if ko == "number" and isinstance(original, float) and kv == "number" else Expect.BAD
    if kv == "number":
        if isinstance(value, float) and not math.isfinite(value) or abs(value) >= 2 ** 62 or abs(value) >= 1e300:
            return Expect.BAD
        if isinstance(original, int) and isinstance(value, float):
            return Expect.BAD
        if isinstance(original, int) and original >= 0 and value < 0:
            return Expect.BAD
        return Expect.ANY
    if kv == "str":
        return Expect.BAD if len(value) > 1000 or "/" in value and "/" not in original else Expect.ANY
    if kv == "list" and len(value) >= 100_000 and len(original) < 1000:
        return Expect.BAD
    return Expect.ANY


def dumps_json(tree) -> bytes:
    """JSON text of the tree with `Raw` values spliced in; NaN and Infinity as Python writes them."""
    raws = {}

    def strip(v):
        if isinstance(v, Raw):
            key = f"@@RAW{len(raws)}@@"
            raws[key] = v.text
            return key
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    text = json.dumps(strip(tree))
    for key, raw in raws.items():
        text = text.replace(json.dumps(key), raw)
    return text.encode()
