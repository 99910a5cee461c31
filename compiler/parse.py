"""Read a model YAML file into a validated `ModelSpec`.

Checks, each failing with one line naming the file, the layer and the field: YAML syntax, the
top-level keys, the input description, every layer's op and typed fields, that every input name
is defined before it is used, that the NPU never reads a host-computed tensor, and every shape.
"""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from npu_model.arch.config import MAX_DATA_BUFFER_BYTES
from npu_model.arch.errors import shown
from npu_model.arch.meta import FEATURE_CHANNELS, INPUT_SCHEMA, InputSpec
from npu_model.arch.schema import bad_name

from .errors import fail
from .ops import OPS, LayerSpec
from .ops.fields import Field, parse_fields, parse_value
from .quant.config import QuantConfig
from .spec import ModelSpec
from .weights import expected_weights

#: Most elements a tensor may have, and most weights a model may have: what the largest buffer
#: the ISA addresses holds at one byte each (a larger model can never fit; refusing it here
#: keeps a mistyped size from allocating gigabytes before the fit check).
MAX_ELEMENTS = MAX_DATA_BUFFER_BYTES

__all__ = ["parse_model", "parse_model_text", "TOP_KEYS", "INPUT_FIELDS", "WEIGHT_FIELDS"]

#: The model file's top-level keys; the input and weights sections' fields (also read by the JSON Schema).
TOP_KEYS = {"name", "description", "input", "weights", "quantisation", "layers", "outputs"}
#: The input section's fields, with the ranges of the program's META (`INPUT_SCHEMA`).
INPUT_FIELDS = {
    "name": Field("str", "input"),
    **{k: Field("int", minimum=INPUT_SCHEMA.by_name[k].low, maximum=INPUT_SCHEMA.by_name[k].high)
       for k in ("bins", "channels", "sample_rate", "fft_size", "hop")},
    "compression": Field("float", 0.3, minimum=INPUT_SCHEMA.by_name["compression"].low,
                         maximum=INPUT_SCHEMA.by_name["compression"].high),
    "window": Field("str", "hann", choices=INPUT_SCHEMA.by_name["window"].choices),
}
WEIGHT_FIELDS = {"init": Field("str", "random", choices=("random",)),
                  "seed": Field("int", 0, minimum=0, maximum=2 ** 32 - 1),
                  "bn_shift": Field("float", 0.0), "npz": Field("str", "")}


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a model file needs neither, and a few nested aliases
    ("billion laughs") would expand a small file into gigabytes before any check."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "anchors and aliases are not allowed in a model file",
                                              event.start_mark)
        return super().compose_node(parent, index)


def parse_model(path) -> ModelSpec:
    """Parse and validate the model file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(path, f"cannot read ({exc.strerror})")
    except UnicodeDecodeError as exc:
        fail(path, f"not a UTF-8 text file (byte {exc.start}: {exc.reason})")
    return parse_model_text(text, source=str(path))


def parse_model_text(text: str, *, source: str = "<model>") -> ModelSpec:
    try:
        doc = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        fail(source, f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}")
    except ValueError as exc:                         # an integer of thousands of digits
        fail(source, f"not valid YAML: {str(exc).split(':')[0]}")
    except RecursionError:
        fail(source, "not valid YAML: nested too deeply")
    if not isinstance(doc, dict):
        fail(source, f"expected a mapping at the top level, not {type(doc).__name__}")
    for key in doc:
        if key not in TOP_KEYS:
            fail(source, f"unknown top-level key (allowed: {', '.join(sorted(TOP_KEYS))})", field=str(key))
    for key in ("name", "input", "layers"):
        if key not in doc:
            fail(source, "missing (required)", field=key)
    if not isinstance(doc["name"], str):
        fail(source, f"expected a string, got {type(doc['name']).__name__}", field="name")

    inp = _parse_input(doc["input"], source)
    weights = _parse_weights(doc.get("weights", {}), source)
    quant = doc.get("quantisation", {})
    if not isinstance(quant, dict):
        fail(source, f"expected a mapping, not {type(quant).__name__}", field="quantisation")

    layers, shapes = _parse_layers(doc["layers"], inp, source)
    outputs = _parse_outputs(doc.get("outputs"), layers, shapes, inp, source)
    spec = ModelSpec(name=doc["name"], source=source, input=inp, layers=tuple(layers), shapes=shapes,
                     outputs=outputs, weights=weights, quantisation=dict(quant))
    total = sum(math.prod(shape) for _, shape in expected_weights(spec).values())
    if total > MAX_ELEMENTS:
        fail(source, f"the model has {total:,} weights; no wbuf the ISA addresses holds more than {MAX_ELEMENTS:,}",
             field="layers")
    QuantConfig.from_spec(spec)                       # the quantisation settings, checked now
    return spec


def _mapping(value, source, field):
    if not isinstance(value, dict):
        fail(source, f"expected a mapping, not {type(value).__name__}", field=field)
    return value


def _parse_input(raw, source) -> InputSpec:
    raw = dict(_mapping(raw, source, "input"))
    features = raw.pop("features", None)
    vals = {}
    for key in raw:
        if key not in INPUT_FIELDS:
            fail(source, f"unknown field (allowed: features, {', '.join(INPUT_FIELDS)})", field=f"input.{key}")
    for name, spec in INPUT_FIELDS.items():
        if name in raw:
            vals[name] = parse_value(raw[name], spec, source=source, layer=None, field=f"input.{name}")
        elif spec.required:
            fail(source, "missing (required)", field=f"input.{name}")
        else:
            vals[name] = spec.default
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        fail(source, "expected a non-empty list of feature names", field="input.features")
    for f in features:
        if f not in FEATURE_CHANNELS:
            fail(source, f"unknown feature {shown(f)} (known: {', '.join(FEATURE_CHANNELS)})", field="input.features")
    spec = InputSpec(features=tuple(features), **vals)
    problem = spec.inconsistency()
    if problem:
        fail(source, problem[1], field=f"input.{problem[0]}")
    problem = bad_name(vals["name"])
    if problem:
        fail(source, f"{shown(vals['name'])}: {problem}", field="input.name")
    return spec


def _parse_weights(raw, source) -> dict:
    raw = _mapping(raw, source, "weights")
    out = {}
    for key in raw:
        if key not in WEIGHT_FIELDS:
            fail(source, f"unknown field (allowed: {', '.join(WEIGHT_FIELDS)})", field=f"weights.{key}")
    for name, spec in WEIGHT_FIELDS.items():
        out[name] = parse_value(raw[name], spec, source=source, layer=None, field=f"weights.{name}") \
            if name in raw else spec.default
    if out["npz"]:
        out["npz"] = str((Path(source).parent / out["npz"]))
    return out


def _layer_inputs(raw, op, source, name) -> tuple[str, ...]:
    arity = OPS[op].arity
    if "input" in raw and "inputs" in raw:
        fail(source, "give either 'input' or 'inputs', not both", layer=name, field="inputs")
    if arity == 1:
        if "input" not in raw:
            fail(source, "missing (required)", layer=name, field="input")
        if not isinstance(raw["input"], str):
            fail(source, f"expected a layer name, got {type(raw['input']).__name__} {shown(raw['input'])}",
                 layer=name, field="input")
        return (raw["input"],)
    if "inputs" not in raw:
        fail(source, "missing (required)", layer=name, field="inputs")
    ins = raw["inputs"]
    if not isinstance(ins, list) or not all(isinstance(i, str) for i in ins):
        fail(source, f"expected a list of layer names, got {shown(ins)}", layer=name, field="inputs")
    if arity is None and len(ins) < 2:
        fail(source, f"needs at least 2 inputs, got {len(ins)}", layer=name, field="inputs")
    if arity is not None and len(ins) != arity:
        fail(source, f"needs exactly {arity} inputs, got {len(ins)}", layer=name, field="inputs")
    return tuple(ins)


def _parse_layers(raw, inp: InputSpec, source):
    if not isinstance(raw, list) or not raw:
        fail(source, "expected a non-empty list of layers", field="layers")
    shapes = {inp.name: inp.shape}
    host_made: set[str] = set()
    layers = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            fail(source, f"layer {i + 1}: expected a mapping, not {type(item).__name__}", field="layers")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            fail(source, f"layer {i + 1}: expected a non-empty string, got {shown(name)}", field="name")
        problem = bad_name(name)
        if problem:
            fail(source, f"layer {i + 1}: {shown(name)}: {problem}", field="name")
        if name in shapes:
            fail(source, "name already defined earlier", layer=name, field="name")
        op = item.get("op")
        if not isinstance(op, str) or op not in OPS:
            what = f"unknown op {shown(op)}" if op is not None else "missing (required)"
            fail(source, f"{what} (known: {', '.join(sorted(OPS))})", layer=name, field="op")
        opdef = OPS[op]
        inputs = _layer_inputs(item, op, source, name)
        field_name = "input" if opdef.arity == 1 else "inputs"
        for src in inputs:
            if src not in shapes:
                later = any(isinstance(x, dict) and x.get("name") == src for x in raw[i:])
                why = "used before it is defined" if later else "not defined"
                fail(source, f"'{src}' is {why}", layer=name, field=field_name)
            if src in host_made and not opdef.host:
                fail(source, f"'{src}' is computed on the host after the NPU frame; an NPU layer cannot read it",
                     layer=name, field=field_name)
        attrs_raw = {k: v for k, v in item.items() if k not in ("name", "op", "input", "inputs")}
        attrs = parse_fields(attrs_raw, opdef.fields, source=source, layer=name)
        layer = LayerSpec(name=name, op=op, inputs=inputs, attrs=attrs, source=source)
        out_shape = opdef.output_shape(layer, [shapes[s] for s in inputs])
        opdef.check_against_input(layer, [shapes[s] for s in inputs], inp)
        shapes[name] = tuple(int(v) for v in out_shape)
        if math.prod(shapes[name]) > MAX_ELEMENTS:
            fail(source, f"output of shape {shapes[name]} has more elements than any abuf the ISA addresses "
                         f"holds ({MAX_ELEMENTS:,})", layer=name)
        if opdef.host:
            host_made.add(name)
        layers.append(layer)
    return layers, shapes


def _parse_outputs(raw, layers, shapes, inp, source) -> tuple[str, ...]:
    if raw is None:
        return (layers[-1].name,)
    if not isinstance(raw, list) or not raw or not all(isinstance(o, str) for o in raw):
        fail(source, f"expected a non-empty list of layer names, got {shown(raw)}", field="outputs")
    for o in raw:
        if o not in shapes or o == inp.name:
            fail(source, f"'{o}' is not a layer", field="outputs")
    return tuple(raw)
