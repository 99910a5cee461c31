"""The packages import only downwards (docs/architecture.md), with no import hidden in a function.

The import graph is read from the source with `ast` (nothing is imported), so a new upward import
fails here even when it happens to work at run time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("npu_model", "compiler", "rtl", "cocotb_tests", "fuzz")

ARCH, HOST, GOLDEN = "npu_model.arch", "npu_model.host", "npu_model.golden"
#: layer -> the layers it may import (besides itself). The order is docs/architecture.md's.
ALLOWED = {
    ARCH: set(),
    HOST: {ARCH},
    GOLDEN: {ARCH},
    "rtl": {ARCH},
    "compiler": {ARCH, HOST, GOLDEN},
    "npu_model.apps": {ARCH, HOST, GOLDEN, "compiler"},
    "cocotb_tests": {ARCH, HOST, GOLDEN, "compiler", "rtl"},
    "fuzz": {ARCH, HOST, GOLDEN, "compiler", "npu_model.apps"},
}
#: modules outside the layers above: the package's front door and `python -m npu_model`.
ENTRY_POINTS = {"npu_model": {ARCH}, "npu_model.__main__": {"npu_model.apps"}}


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name (the longest matching prefix), or None."""
    if module in ENTRY_POINTS:
        return module
    matches = [layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len, default=None)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool):
    """(lineno, imported module, inside a function, names imported from it) of every project
    import in `source`."""
    tree = ast.parse(source)
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inside.update(id(sub) for sub in ast.walk(node) if sub is not node)
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = tuple(alias.name for alias in node.names)
            targets = [(target + "." + name, ()) for name in names] if node.module is None else [(target, names)]
        else:
            continue
        for target, names in targets:
            if target.split(".")[0] in PACKAGES:
                yield node.lineno, target, id(node) in inside, names


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """One line per upward, sideways or hidden import of `sources` (module -> (text, is_package))."""
    found = []
    for module, (text, is_package) in sorted(sources.items()):
        here = layer_of(module)
        allowed = {here} | (ENTRY_POINTS[here] if here in ENTRY_POINTS else ALLOWED.get(here, set()))
        for lineno, target, hidden, _ in imports(text, module, is_package):
            there = layer_of(target)
            if hidden:
                found.append(f"{module}:{lineno}: imports {target} inside a function")
            if there not in allowed:
                found.append(f"{module}:{lineno}: {here} imports {target} ({there}), not below it")
    return found


def project_sources() -> dict[str, tuple[str, bool]]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[module_name(path, ROOT)] = (path.read_text(), path.name == "__init__.py")
    return out


def test_every_module_is_in_a_layer():
    assert [m for m in project_sources() if layer_of(m) is None] == []


def test_imports_only_go_downwards():
    assert violations(project_sources()) == []


@pytest.mark.parametrize("module, text, message", [
    ("npu_model.arch.isa", "from npu_model.golden.machine import Npu\n",
     "npu_model.arch imports npu_model.golden.machine (npu_model.golden), not below it"),
    ("npu_model.golden.machine", "from ..apps.report import build_report\n",
     "npu_model.golden imports npu_model.apps.report (npu_model.apps), not below it"),
    ("npu_model.golden.analysis", "import compiler\n", "npu_model.golden imports compiler (compiler), not below it"),
    ("rtl.npu", "from npu_model.golden import machine\n",
     "rtl imports npu_model.golden (npu_model.golden), not below it"),
    ("compiler.cli", "def f():\n    from npu_model.apps import cli\n", "imports npu_model.apps inside a function"),
    ("npu_model.host.stft", "def f():\n    from ..arch import isa\n", "imports npu_model.arch inside a function"),
])
def test_the_check_finds_a_bad_import(module, text, message):
    found = violations({module: (text, False)})
    assert any(message in line for line in found), found


def test_relative_imports_resolve():
    assert list(imports("from .. import timing\nfrom .stats import X\n", "npu_model.golden.schedule", False)) == [
        (1, "npu_model.timing", False, ()), (2, "npu_model.golden.stats", False, ("X",))]
    assert list(imports("from .arch.config import NpuConfig\n", "npu_model", True)) == [
        (1, "npu_model.arch.config", False, ("NpuConfig",))]


def import_cycles(sources: dict[str, tuple[str, bool]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (a `from package import name` is an edge
    to the submodule when there is one, else to the package)."""
    graph = {}
    for module, (text, is_package) in sources.items():
        edges = set()
        for _, target, _, names in imports(text, module, is_package):
            for dest in [f"{target}.{n}" for n in names if f"{target}.{n}" in sources] or [target]:
                while dest and dest not in sources:
                    dest = dest.rpartition(".")[0]
                if dest and dest != module:
                    edges.add(dest)
        graph[module] = edges
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v):                        # Tarjan's algorithm; the graph is a few hundred modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles():
    assert import_cycles(project_sources()) == []


def test_the_check_finds_a_cycle():
    sources = {"rtl.a": ("from .b import x\n", False), "rtl.b": ("from rtl import a\n", False),
               "rtl": ("", True)}
    assert import_cycles(sources) == [["rtl.a", "rtl.b"]]
