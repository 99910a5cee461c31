"""`make bench`: code size with hardware loops, for every bundled model at every lane count.

    python bench/code_size.py [--models models/*.yaml] [--lanes 1,2,4,8,16]

Each model is compiled in the configuration it names beside itself (`<model>.npu.json`, e.g. a
larger wbuf for CGCRN; `compiler.companion_config`). Prints, per model and lane count, the program's instruction words and bytes with hardware loops
(the compiler's default) against the default instruction memory, the instructions a frame
executes, the cycles and the MAC utilisation; and at 8 lanes the same program unrolled (`--code
unrolled`): its bytes, the ratio, and the cycles the loop instructions cost. The targets of the
hardware-loop work are printed beside the figures (TRU-Net at 8 lanes: at most 32 KiB of code at
98 % MAC utilisation or more; every model fits the default imem at every lane count). Figures
only: nothing is asserted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CODE_TARGET = 32 * 1024
UTILISATION_TARGET = 0.98


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench/code_size.py", description=__doc__.split("\n\n")[1].strip())
    p.add_argument("--models", nargs="+", default=sorted(str(m) for m in (ROOT / "models").glob("*.yaml")))
    p.add_argument("--lanes", default="1,2,4,8,16")
    args = p.parse_args(argv)

    from compiler import companion_config, load_model, quantise_cached
    from compiler.lower.network import compile_network
    from npu_model.arch.config import NpuConfig

    imem = NpuConfig().imem_bytes
    lanes_list = [int(x) for x in args.lanes.split(",")]
    print(f"code size with hardware loops (default imem {imem // 1024} KiB); target at 8 lanes: "
          f"<= {CODE_TARGET // 1024} KiB and >= {100 * UTILISATION_TARGET:.0f} % MAC utilisation")
    print(f"{'model':<16} {'lanes':>5} {'words':>6} {'KiB':>6} {'fits':>5} {'executed':>9} {'cycles':>11} {'util':>6}")
    for path in args.models:
        model = load_model(path)
        qnet = quantise_cached(model)
        name = Path(path).stem
        for lanes in lanes_list:
            _, _, s = compile_network(qnet, companion_config(path, lanes=lanes), model=model, with_listing=False)
            size = s.code_words * 32
            mark = ""
            if lanes == 8:
                ok = size <= CODE_TARGET and s.utilisation >= UTILISATION_TARGET
                mark = "  target " + ("met" if ok else "NOT met")
            print(f"{name:<16} {lanes:>5} {s.code_words:>6,} {size / 1024:>6.1f} {'yes' if size <= imem else 'NO':>5} "
                  f"{s.instructions:>9,} {s.cycles:>11,} {100 * s.utilisation:>5.1f}%{mark}")
        if 8 in lanes_list:
            config = companion_config(path, lanes=8)
            _, _, loops = compile_network(qnet, config, model=model, with_listing=False)
            _, _, flat = compile_network(qnet, config.replace(imem_bytes=1 << 24), model=model,
                                         with_listing=False, code="unrolled")
            print(f"{'':<16} unrolled at 8 lanes: {flat.code_words * 32 / 1024:,.1f} KiB, "
                  f"{flat.code_words * 32 / (loops.code_words * 32):.0f} x the code with loops, which costs "
                  f"{loops.cycles - flat.cycles:,} cycles more ({100 * (loops.cycles / flat.cycles - 1):.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
