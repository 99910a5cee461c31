"""Typed fields of a layer in the YAML file: parsing, defaults and one-line errors.

YAML happily turns `kernel: "3"` into a string and `stride: 2.0` into a float; both are mistakes
an author wants to hear about, so every field has one declared kind and is checked against it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from npu_model.arch.errors import shown

from ..errors import fail

__all__ = ["Field", "REQUIRED", "parse_fields", "parse_value", "MAX_INT"]

REQUIRED = object()
#: Largest integer a field takes unless it says otherwise: far beyond any size of a speech
#: network on this NPU (its largest buffer is 4 MiB), small enough that no shape computed from
#: fields can overflow or allocate before the sizes are checked.
MAX_INT = 1 << 16

_KIND_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "pair": "an integer or a list of two integers", "map": "a mapping"}


@dataclass(frozen=True)
class Field:
    """One field: its kind ('int', 'float', 'bool', 'str', 'pair': an integer n for (n, n) or a
    list [a, b], parsed as a tuple, or 'map': a mapping of the `members` fields, parsed as a
    dict, its errors naming 'field.member'), default, allowed values, bounds (an int or pair
    field's maximum defaults to MAX_INT; a float field must be finite)."""

    kind: str
    default: Any = REQUIRED
    choices: tuple = ()
    minimum: float | None = None
    doc: str = ""
    maximum: float | None = None
    members: dict | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def parse_value(value, spec: Field, *, source, layer, field):
    """Check one value against its field; returns it converted (int for float fields is allowed)."""
    kind = spec.kind
    if kind == "pair":
        return _parse_pair(value, spec, source=source, layer=layer, field=field)
    if kind == "map":
        if not isinstance(value, dict):
            fail(source, f"expected {_KIND_NAMES['map']} ({', '.join(spec.members)}), got {shown(value)}",
                 layer=layer, field=field)
        return parse_fields(value, spec.members, source=source, layer=layer, prefix=f"{field}.")
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        fail(source, f"expected {_KIND_NAMES[kind]}, got {type(value).__name__} {shown(value)}",
             layer=layer, field=field)
    if kind == "float":
        value = float(value)
        if not math.isfinite(value):
            fail(source, f"must be a finite number, not {value}", layer=layer, field=field)
    if spec.choices and value not in spec.choices:
        fail(source, f"must be one of {', '.join(map(str, spec.choices))}, not {shown(value)}",
             layer=layer, field=field)
    if spec.minimum is not None and value < spec.minimum:
        fail(source, f"must be at least {spec.minimum:g}, not {shown(value)}", layer=layer, field=field)
    maximum = MAX_INT if spec.maximum is None and kind == "int" else spec.maximum
    if maximum is not None and value > maximum:
        fail(source, f"must be at most {maximum:g}, not {shown(value)}", layer=layer, field=field)
    return value


def _parse_pair(value, spec: Field, *, source, layer, field) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        fail(source, f"expected {_KIND_NAMES['pair']}, got {shown(value)}", layer=layer, field=field)
    one = Field("int", minimum=spec.minimum, maximum=spec.maximum)
    return tuple(parse_value(v, one, source=source, layer=layer, field=field) for v in value)


def parse_fields(raw: dict, fields: dict[str, Field], *, source, layer, known_extra=(), prefix="") -> dict:
    """Validate the op-specific fields of one layer (or of a map field's members, named
    `prefix` + member); unknown keys are errors (typos are common)."""
    for key in raw:
        if key not in fields and key not in known_extra:
            allowed = ", ".join(sorted([*fields, *known_extra]))
            fail(source, f"unknown field (allowed here: {allowed})", layer=layer, field=f"{prefix}{key}")
    out = {}
    for name, spec in fields.items():
        if name in raw:
            out[name] = parse_value(raw[name], spec, source=source, layer=layer, field=f"{prefix}{name}")
        elif spec.required:
            fail(source, "missing (required)", layer=layer, field=f"{prefix}{name}")
        else:
            out[name] = spec.default
    return out
