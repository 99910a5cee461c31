"""Regenerate the tables in docs/ that are derived from code (`make docs`).

The ISA field and opcode tables and the timing constants are written between
`<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->` markers, and whole files
(the model format's JSON Schema) are written from the code; the tests call `stale_blocks()` so
a page that disagrees with the code fails the suite.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from compiler.schema import model_json_schema

from ..arch import config, faults, isa, meta, program, record, timing

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _constants_table() -> str:
    rows = ["| name | value | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {value} | {meaning} |" for name, value, meaning in timing.CONSTANTS]
    return "\n".join(rows)


BLOCKS = {
    ("isa.md", "fields"): isa.markdown_field_table,
    ("isa.md", "loop-fields"): lambda: isa.markdown_field_table(isa.Format.LOOP),
    ("isa.md", "opcodes"): isa.markdown_opcode_table,
    ("isa.md", "record"): record.markdown_record_table,
    ("isa.md", "faults"): faults.markdown_fault_table,
    ("timing.md", "constants"): _constants_table,
    ("program-format.md", "config"): config.markdown_config_table,
    ("program-format.md", "io"): program.IO_SCHEMA.markdown,
    ("program-format.md", "port"): program.PORT_SCHEMA.markdown,
    ("program-format.md", "symbol"): program.SYMBOL_SCHEMA.markdown,
    ("program-format.md", "layer"): program.LAYER_SCHEMA.markdown,
    ("program-format.md", "meta"): meta.META_SCHEMA.markdown,
    ("program-format.md", "input"): meta.INPUT_SCHEMA.markdown,
    ("program-format.md", "host_layer"): meta.HOST_LAYER_SCHEMA.markdown,
}


#: Whole files generated from code.
FILES = {
    "model-format.schema.json": lambda: json.dumps(model_json_schema(), indent=1) + "\n",
}


def _pattern(name):
    return re.compile(rf"(<!-- BEGIN GENERATED: {name} -->\n)(.*?)(<!-- END GENERATED: {name} -->)", re.S)


def render(text: str, page: str) -> str:
    for (file, name), make in BLOCKS.items():
        if file == page:
            text, count = _pattern(name).subn(lambda m: m[1] + make() + "\n" + m[3], text)
            if count != 1:
                raise ValueError(f"docs/{page}: marker for generated block {name!r} missing")
    return text


def stale_blocks(docs: Path = DOCS) -> list[str]:
    """Pages whose generated blocks, and generated files, differ from what the code generates now."""
    pages = sorted({file for file, _ in BLOCKS})
    stale = [p for p in pages if render((docs / p).read_text(), p) != (docs / p).read_text()]
    return stale + [f for f, make in FILES.items() if not (docs / f).exists() or (docs / f).read_text() != make()]


def main() -> int:
    for page in sorted({file for file, _ in BLOCKS}):
        path = DOCS / page
        text = path.read_text()
        new = render(text, page)
        if new != text:
            path.write_text(new)
            print(f"updated docs/{page}")
    for name, make in FILES.items():
        path, text = DOCS / name, make()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"updated docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
