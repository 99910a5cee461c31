"""Field-by-field schemas of the JSON a program file carries (and of the host description
`enhance` reads), used by the loader and rendered into docs/program-format.md.

A checksum only says the bytes are the ones written; a program written by another tool, an older
version or a hand edit must still be checked value by value. Each `Schema` is a closed record:
every field has one JSON type, a range or a set of values, and required fields must be present;
a key the schema does not know is refused (except where a record says it is open, as META is for
`.meta` keys of hand-written programs). A failure is one line naming the section, the field and
the bad value (`shown`, so a 100,000-character value cannot flood a terminal).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ProgramFormatError, shown

__all__ = ["NAME_PATTERN", "bad_name", "Field", "Schema", "MAX_ITEMS"]

#: What a port, symbol or layer name may be (they become file and archive member names, e.g. in
#: `run --output out.npz`): letters, digits, `_`, `.`, `-`, not starting with `.` or `-`, at most 64.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
#: Longest list any section may hold (a TRU-Net program has about 2,000 symbols).
MAX_ITEMS = 1 << 20
#: Longest free-text string (model names, compiler versions, op names).
MAX_TEXT = 1000

_KIND_WORDS = {"int": "an integer", "number": "a number", "str": "a string", "name": "a name",
               "list": "a list", "object": "an object", "bool": "true or false"}


def bad_name(name) -> str | None:
    """Why `name` is not a valid port, symbol or layer name (NAME_PATTERN), or None."""
    if not isinstance(name, str):
        return f"a name must be a string, not {type(name).__name__}"
    if not NAME_PATTERN.fullmatch(name):
        return ("a name is 1 to 64 letters, digits, '_', '.' or '-', not starting with '.' or '-' "
                "(it becomes a file or archive member name)")
    return None


@dataclass(frozen=True)
class Field:
    """One field of a record.

    kind:   'int', 'number' (finite), 'bool', 'str' (at most MAX_TEXT characters), 'name'
            (NAME_PATTERN), 'list' (of `items`) or 'object' (a nested `Schema` in `items`, or
            a mapping of names to `items` fields when `items` is a Field).
    low/high: inclusive bounds of a number, or of a list's length.
    """
    name: str
    kind: str
    doc: str
    required: bool = True
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    items: "Field | Schema | None" = None

    def describe(self) -> str:
        """The type and range in words, for the documentation."""
        if self.kind == "list":
            inner = self.items.describe() if isinstance(self.items, Field) else f"`{self.items.name}` records"
            text = f"list of {inner}"
        elif self.kind == "object" and isinstance(self.items, Field):
            text = f"object: name -> {self.items.describe()}"
        elif self.kind == "object":
            text = f"`{self.items.name}` record"
        else:
            text = {"int": "integer", "number": "number", "str": "string", "name": "name",
                    "bool": "boolean"}[self.kind]
        if self.choices:
            text += " " + " / ".join(f"`{c}`" if c != "" else '`""`' for c in self.choices)
        if self.low is not None or self.high is not None:
            lo = "" if self.low is None else _number(self.low)
            hi = "" if self.high is None else _number(self.high)
            text += f", {'length ' if self.kind == 'list' else ''}{lo}..{hi}"
        return text

    def check(self, value, where: str, path: str = ""):
        """The value, checked; ProgramFormatError naming `where` and the field's `path` otherwise."""
        at = f"{where} {path}" if path else where
        kind = self.kind
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind == "bool":
            ok = isinstance(value, bool)
        elif kind in ("str", "name"):
            ok = isinstance(value, str)
        elif kind == "list":
            ok = isinstance(value, list)
        else:
            ok = isinstance(value, dict)
        if not ok:
            raise ProgramFormatError(f"{at}: must be {_KIND_WORDS[kind]}, not {type(value).__name__} "
                                     f"{shown(value, 40)}")
        if kind == "number" and not math.isfinite(value):
            raise ProgramFormatError(f"{at}: must be a finite number, not {value}")
        if kind == "str" and len(value) > MAX_TEXT:
            raise ProgramFormatError(f"{at}: a string of {len(value)} characters (at most {MAX_TEXT})")
        if kind == "name":
            problem = bad_name(value)
            if problem:
                raise ProgramFormatError(f"{at}: {shown(value)}: {problem}")
        if self.choices and value not in self.choices:
            raise ProgramFormatError(f"{at}: must be one of {', '.join(map(str, self.choices))}, "
                                     f"not {shown(value)}")
        size = len(value) if kind == "list" else value if kind in ("int", "number") else None
        if size is not None:
            high = MAX_ITEMS if kind == "list" and self.high is None else self.high
            if self.low is not None and size < self.low or high is not None and size > high:
                what = f"{size} items" if kind == "list" else shown(value)
                raise ProgramFormatError(f"{at}: must be {'a list of ' if kind == 'list' else ''}"
                                         f"{_range(self.low, high)}, not {what}")
        if kind == "list":
            return [self.items.check(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "object":
            if isinstance(self.items, Schema):
                return self.items.check(value, where, path)
            return {_KEY.check(k, where, f"{path} key"): self.items.check(v, where, f"{path}.{k}")
                    for k, v in value.items()}
        return value


@dataclass(frozen=True)
class Schema:
    """A record: its fields; `open` records keep keys they do not know (unchecked)."""
    name: str
    fields: tuple
    open: bool = False

    def __post_init__(self):
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def check(self, value, where: str, path: str = "") -> dict:
        """The record with every known field checked; absent optional fields are left out.
        Messages read `where path.field: ...` (`p.bin: IO outputs[1].shape[0]: ...`)."""
        at = f"{where} {path}" if path else where
        if not isinstance(value, dict):
            raise ProgramFormatError(f"{at}: must be an object ({self.name}), not {type(value).__name__} "
                                     f"{shown(value, 40)}")
        for f in self.fields:
            if f.required and f.name not in value:
                raise ProgramFormatError(f"{at}: field '{f.name}' missing")
        out = {}
        for key, v in value.items():
            field = self.by_name.get(key)
            if field is None:
                if not self.open:
                    raise ProgramFormatError(f"{at}: unknown field {shown(key)} (known: "
                                             f"{', '.join(self.by_name)})")
                out[key] = v
                continue
            out[key] = field.check(v, where, f"{path}.{key}" if path else key)
        return out

    def markdown(self) -> str:
        """The schema as a Markdown table (docs/program-format.md)."""
        rows = ["| field | required | type and range | meaning |", "|---|---|---|---|"]
        rows += [f"| `{f.name}` | {'yes' if f.required else 'no'} | {f.describe()} | {f.doc} |" for f in self.fields]
        return "\n".join(rows)


_KEY = Field("key", "name", "a key that names a port, tensor or buffer")


def _number(v) -> str:
    if isinstance(v, float) and (abs(v) >= 1e15 or 0 < abs(v) < 1e-4):
        return f"{v:g}"
    v = int(v) if float(v).is_integer() else v
    if isinstance(v, int) and v >= 1 << 16 and v & (v - 1) == 0:
        return f"2^{v.bit_length() - 1}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    return f"at least {_number(low)}" if low is not None else f"at most {_number(high)}"
