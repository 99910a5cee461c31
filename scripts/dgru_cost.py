"""D-GRU on the NPU against the paper's cost: the GRU layers' cycles per frame of models/dgru.yaml
and its variants models/dgru_p25/p50/p75.yaml (top_k = P x hidden), as a markdown table.

The paper (seed 001_6ed5b05af126c285.txt, Section 3) counts a D-GRU's products as (1 + 2P) / 3
of the GRU's: z for every neuron, r and the candidate for the P x H selected. On the NPU the
selection itself (`topk`: one value per cycle), the fences around it and the gather and scatter
of the selected neurons' z and h come on top. docs/compiler.md shows this table;
tests/compiler/test_dgru.py checks that it is this script's output.

    python scripts/dgru_cost.py [--lanes 4 8]
"""
from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (("dgru", 1.0), ("dgru_p75", 0.75), ("dgru_p50", 0.5), ("dgru_p25", 0.25))


def gru_cycles(name: str, lanes: int) -> tuple[int, int, int]:
    """(GRU cycles, GRU MACs, frame cycles) of one model compiled at `lanes` lanes."""
    from compiler import companion_config, load_model, quantise
    from compiler.lower.network import compile_network
    path = ROOT / "models" / f"{name}.yaml"
    model = load_model(path)
    _, _, summary = compile_network(quantise(model), companion_config(path, lanes=lanes), model=model,
                                    with_listing=False)
    grus = [layer for layer in summary.layers if layer.op == "gru"]
    return sum(layer.cycles for layer in grus), sum(layer.macs for layer in grus), summary.cycles


def table(lanes_list=(4, 8)) -> str:
    rows = ["| model | P = K/H | lanes | GRU cycles / frame | of the GRU's | GRU MACs, of the GRU's | paper (1 + 2P)/3 |",
            "|---|---|---|---|---|---|---|"]
    for lanes in lanes_list:
        base_cycles, base_macs, _ = gru_cycles("dgru", lanes)
        for name, p in VARIANTS:
            cycles, macs, _ = gru_cycles(name, lanes)
            rows.append(f"| {name} | {p:.2f} | {lanes} | {cycles:,} | {cycles / base_cycles:.3f} | "
                        f"{macs / base_macs:.3f} | {(1 + 2 * p) / 3:.3f} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lanes", type=int, nargs="+", default=[4, 8], help="lane counts (default 4 8)")
    args = ap.parse_args(argv)
    print(table(tuple(args.lanes)))


if __name__ == "__main__":
    main()
