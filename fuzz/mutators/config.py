"""Configuration JSON for `compiler --config`, `run --config` and `asm --config`."""
from __future__ import annotations

import json

from ..case import Case, Expect
from .model import MODEL
from .tree import BAD_VALUES, added, deleted, dumps_json, expect_for, nodes, replaced


def _case(text: str, rng):
    tree = json.loads(text)
    r = rng.random()
    if r < 0.6:
        all_nodes = list(nodes(tree))
        path, value = all_nodes[int(rng.integers(len(all_nodes)))]
        label, bad = BAD_VALUES[int(rng.integers(len(BAD_VALUES)))]
        return dumps_json(replaced(tree, path, bad)), f"{'.'.join(map(str, path)) or 'root'} = {label}", \
            expect_for(value, bad)
    if r < 0.7:
        return dumps_json(added(tree, (), "sram_bytes", 1)), "an unknown field", Expect.BAD
    if r < 0.8:
        key = list(tree)[int(rng.integers(len(tree)))]
        return dumps_json(deleted(tree, (key,))), f"{key} deleted (its default)", Expect.ANY
    if r < 0.9:
        return dumps_json({**tree, "acc_bits": int(rng.choice([16, 24, 31]))}), "acc_bits below 32", None
    junk = [b"", b"{", b"[]", b"\xff\xfe", b"{\"lanes\": 4, \"lanes\": 8}", b"null"][int(rng.integers(6))]
    return junk, f"the file is {junk!r}", Expect.BAD if junk != b"{\"lanes\": 4, \"lanes\": 8}" else Expect.ANY


def cases(seeds, rng, n):
    out = []
    for _ in range(n):
        data, what, expect = _case(seeds.config, rng)
        pick = int(rng.integers(3))
        if pick == 0:
            # the compiler's quantisation assumes 32-bit sums: narrower accumulators must be refused
            out.append(Case("config", f"compiler --config: {what}", "compiler",
                            [MODEL, "--config", "c.json", "-o", "out/p.bin", "--no-timing"],
                            {MODEL: seeds.model.encode(), "c.json": data}, expect or Expect.BAD))
        elif pick == 1:
            # run --config: any change is a mismatch with the program's configuration (the clock aside)
            out.append(Case("config", f"run --config: {what}", "npu_model",
                            ["run", "p.bin", "--config", "c.json", "--input", "f.npy"],
                            {"p.bin": seeds.program, "f.npy": seeds.frames, "c.json": data},
                            Expect.ANY if expect is Expect.ANY and "clock" in what else (expect or Expect.BAD)))
        else:
            out.append(Case("config", f"asm --config: {what}", "npu_model",
                            ["asm", "s.s", "--config", "c.json", "-o", "out.bin"],
                            {"s.s": seeds.asm.encode(), "c.json": data}, expect or Expect.ANY))
    return out
