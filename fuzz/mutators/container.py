"""The program container: JSON sections edited and the checksum recomputed (so the loader's
schema, not the checksum, has to catch them), and byte-level damage."""
from __future__ import annotations

import json

from npu_model.arch.meta import ProgramMeta
from npu_model.arch.program import SectionKind, pack_sections, unpack_sections

from ..case import Case, Expect
from .tree import BAD_VALUES, added, deleted, dumps_json, expect_for, nodes, replaced

JSON_SECTIONS = (SectionKind.IO, SectionKind.SYMBOLS, SectionKind.LAYERS, SectionKind.META, SectionKind.CONFIG)
_META_KEYS = {f for f in ProgramMeta.__dataclass_fields__ if f != "extra"}
_SYMBOL_REQUIRED = {"name", "buf", "offset", "nbytes"}


def _strict(kind, path) -> bool:
    """Whether a dict at `path` of section `kind` has a closed set of required keys."""
    if kind in (SectionKind.IO, SectionKind.LAYERS):
        return True
    if kind is SectionKind.META:
        return len(path) >= 1 and path[0] in ("input", "host_layer")
    return False


def _json_case(sections, kind, rng):
    tree = json.loads(sections[kind])
    all_nodes = list(nodes(tree))
    path, value = all_nodes[rng.integers(len(all_nodes))]
    if kind is SectionKind.META and path and path[0] not in _META_KEYS:
        return None
    choice = rng.random()
    if choice < 0.7 or not path:
        label, bad = BAD_VALUES[rng.integers(len(BAD_VALUES))]
        expect = expect_for(value, bad)
        if isinstance(bad, str) and len(bad) < 1000 and _free_text(kind, path):
            expect = Expect.ANY
        return replaced(tree, path, bad), f"{kind.name} {_where(path)} = {label}", expect
    parent_path, key = path[:-1], path[-1]
    parent = tree
    for k in parent_path:
        parent = parent[k]
    if choice < 0.85 and isinstance(parent, dict):
        required = _strict(kind, parent_path) and key != "macs" or \
            kind is SectionKind.SYMBOLS and key in _SYMBOL_REQUIRED
        if kind is SectionKind.META and parent_path == ("input",) and key == "compression":
            required = False
        return deleted(tree, path), f"{kind.name} {_where(path)} deleted", Expect.BAD if required else Expect.ANY
    if isinstance(value, dict):
        strict = _strict(kind, path) or kind in (SectionKind.SYMBOLS, SectionKind.CONFIG) or \
            kind is SectionKind.META and path and path[0] in ("input", "host_layer")
        return added(tree, path, "zz_unknown", 1), f"{kind.name} {_where(path)} gains an unknown key", \
            Expect.BAD if strict else Expect.ANY
    return None


def _free_text(kind, path) -> bool:
    """Strings that are labels, not names (a path-like value is legal there)."""
    return kind is SectionKind.META and path[:1] in (("compiler",), ("model",), ("host_layers",)) or \
        kind is SectionKind.SYMBOLS and path[-1:] == ("layer",)


def _where(path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "(root)"


def _binary_case(data, sections, rng):
    ordered = list(sections.items())
    choice = int(rng.integers(10))
    if choice == 0:
        cut = int(rng.integers(1, len(data)))
        return data[:cut], f"truncated to {cut} bytes", Expect.BAD
    if choice == 1:
        at = int(rng.integers(len(data) - 4))
        flipped = bytearray(data)
        flipped[at] ^= 1 << int(rng.integers(8))
        return bytes(flipped), f"bit flipped at byte {at}, checksum kept", Expect.BAD
    if choice == 2:
        at = int(rng.integers(len(sections[SectionKind.CODE])))
        code = bytearray(sections[SectionKind.CODE])
        code[at] ^= 1 << int(rng.integers(8))
        return pack_sections([(k, bytes(code) if k is SectionKind.CODE else v) for k, v in ordered]), \
            f"CODE bit flipped at byte {at}, checksum recomputed", Expect.ANY
    if choice == 3:
        drop = [SectionKind.CONFIG, SectionKind.CODE, SectionKind.IO][int(rng.integers(3))]
        return pack_sections([(k, v) for k, v in ordered if k is not drop]), f"{drop.name} dropped", Expect.BAD
    if choice == 4:
        k, v = ordered[int(rng.integers(len(ordered)))]
        return pack_sections(ordered + [(k, v)]), f"{k.name} twice", Expect.BAD
    if choice == 5:
        return pack_sections(ordered + [(77, b"")]), "unknown section kind 77", Expect.BAD
    if choice == 6:
        config = json.loads(sections[SectionKind.CONFIG])
        grown = b"\x01" * (config["wbuf_bytes"] + 16)
        return pack_sections([(k, grown if k is SectionKind.WBUF else v) for k, v in ordered]), \
            "WBUF image larger than wbuf", Expect.BAD
    if choice == 7:
        kind = [SectionKind.LUT, SectionKind.CODE][int(rng.integers(2))]
        return pack_sections([(k, v + b"\x00" if k is kind else v) for k, v in ordered]), \
            f"{kind.name} one byte longer", Expect.BAD
    if choice == 8:
        kind = JSON_SECTIONS[int(rng.integers(len(JSON_SECTIONS)))]
        junk = [b"\xff\xfe\x00", b"{", b"", b"[1,]", b"\"\\ud800\""][int(rng.integers(5))]
        return pack_sections([(k, junk if k is kind else v) for k, v in ordered]), \
            f"{kind.name} section is {junk!r}", Expect.BAD
    version = int(rng.choice([0, 2, 65535]))
    return data[:8] + version.to_bytes(2, "little") + data[10:], f"format version {version}", Expect.BAD


def mutate(data: bytes, rng):
    """(mutated container, what, expect)."""
    sections = unpack_sections(data)
    while True:
        if rng.random() < 0.65:
            kinds = [k for k in JSON_SECTIONS if k in sections]
            kind = kinds[int(rng.integers(len(kinds)))]
            made = _json_case(sections, kind, rng)
            if made is None:
                continue
            tree, what, expect = made
            out = pack_sections([(k, dumps_json(tree) if k is kind else v) for k, v in sections.items()])
            return out, what, expect
        return _binary_case(data, sections, rng)


def commands(program_file, frames_file, rng, *, compiled: bool):
    pick = int(rng.integers(5 if compiled else 4))
    return [["disasm", program_file], ["disasm", program_file, "--full", "-o", "out.s"],
            ["run", program_file, "--input", frames_file, "--frames", "1", "--output", "out.npz"],
            ["report", program_file, "-o", "rep", "--frames", "1", "--no-plots"],
            ["enhance", "clip.wav", "-o", "out.wav", "--program", program_file, "--no-progress"]][pick]


def cases(seeds, rng, n):
    out = []
    for _ in range(n):
        kind = "compiled" if rng.random() < 0.8 else "assembled"
        program, frames = seeds.programs[kind]
        data, what, expect = mutate(program, rng)
        out.append(Case("container", f"{kind} program: {what}", "npu_model",
                        commands("p.bin", "f.npy", rng, compiled=kind == "compiled"),
                        {"p.bin": data, "f.npy": frames, "clip.wav": seeds.wav}, expect))
    return out
