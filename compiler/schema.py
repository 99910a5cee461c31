"""The model format as a JSON Schema, generated from the parser's own field tables.

Editors that speak JSON Schema (VS Code's YAML extension, PyCharm) validate and complete model
files with it: `# yaml-language-server: $schema=docs/model-format.schema.json` at the top of a
file. It says what the tables say (the keys, every op's fields with their kinds, defaults,
choices and bounds, which ops take `input` and which `inputs`); what only the parser can check
(names defined before use, shapes, weights) stays the parser's. `make docs` writes it to
docs/model-format.schema.json, and a test keeps it in step with the parser.
"""
from __future__ import annotations

from npu_model.arch.meta import FEATURE_CHANNELS
from npu_model.arch.schema import NAME_PATTERN

from .ops import OPS
from .ops.fields import MAX_INT, Field
from .parse import INPUT_FIELDS, TOP_KEYS, WEIGHT_FIELDS
from .quant.config import LUT_LOG2_RANGE, QUANT_FIELDS, QuantConfig

__all__ = ["model_json_schema"]

_NAME = {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$"}
_SCALAR = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}


def _field(field: Field) -> dict:
    """One field's schema: its kind, choices, bounds and default."""
    if field.kind == "pair":
        one = _field(Field("int", minimum=field.minimum, maximum=field.maximum))
        out = {"oneOf": [one, {"type": "array", "items": one, "minItems": 2, "maxItems": 2}]}
    elif field.kind == "map":
        out = _mapping(field.members, required=[n for n, f in field.members.items() if f.required])
    else:
        out = {"type": _SCALAR[field.kind]}
        if field.choices:
            out["enum"] = list(field.choices)
        if field.minimum is not None:
            out["minimum"] = field.minimum
        maximum = MAX_INT if field.maximum is None and field.kind == "int" else field.maximum
        if maximum is not None:
            out["maximum"] = maximum
    if field.doc:
        out["description"] = field.doc
    if not field.required:
        out["default"] = list(field.default) if isinstance(field.default, tuple) else field.default
    return out


def _mapping(fields: dict, *, required=(), extra: dict | None = None) -> dict:
    props = {name: _field(f) for name, f in fields.items() if f is not None}
    props.update(extra or {})
    return {"type": "object", "properties": props, "required": sorted(required), "additionalProperties": False}


def _layer(opdef) -> dict:
    inputs = {"input": _NAME} if opdef.arity == 1 else {
        "inputs": {"type": "array", "items": _NAME, "minItems": opdef.arity or 2,
                   **({"maxItems": opdef.arity} if opdef.arity else {})}}
    extra = {"name": _NAME, "op": {"const": opdef.op}, **inputs}
    required = ["name", "op", *inputs, *(n for n, f in opdef.fields.items() if f.required)]
    schema = _mapping(opdef.fields, required=required, extra=extra)
    schema["description"] = opdef.doc
    return schema


def model_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a model file."""
    tables = QuantConfig().lut_log2
    quant = _mapping(QUANT_FIELDS, extra={
        "lut_log2": {"type": "object", "additionalProperties": False, "description": "table sizes, log2 of entries",
                     "properties": {t: {"type": "integer", "minimum": LUT_LOG2_RANGE[0], "maximum": LUT_LOG2_RANGE[1],
                                        "default": v} for t, v in tables.items()}},
        "int16_tensors": {"type": "array", "items": _NAME, "description": "further tensors to make int16"}})
    features = {"type": "array", "minItems": 1, "items": {"enum": list(FEATURE_CHANNELS)},
                "description": "host-computed input features, in channel order"}
    top = {"name": {"type": "string"}, "description": {"type": "string"},
           "input": _mapping(INPUT_FIELDS, required=["features", *(n for n, f in INPUT_FIELDS.items() if f.required)],
                             extra={"features": features}),
           "weights": _mapping(WEIGHT_FIELDS), "quantisation": quant,
           "layers": {"type": "array", "minItems": 1, "items": {"oneOf": [_layer(OPS[op]) for op in sorted(OPS)]}},
           "outputs": {"type": "array", "minItems": 1, "items": _NAME}}
    assert set(top) == TOP_KEYS, "the schema's top-level keys are the parser's"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Speech-enhancement NPU model file", "type": "object",
            "properties": top, "required": ["name", "input", "layers"], "additionalProperties": False}
