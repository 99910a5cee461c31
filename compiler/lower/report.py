"""The compiler's reports: the per-layer table, the summary (text and JSON) and the listing.

Cycles come from the golden model's timing rules (`npu_model.golden.schedule`, the same numbers
the golden model and the RTL report), so the utilisation printed per layer is the one the
hardware achieves. A layer's cycles run from the issue of its first instruction to the issue of
the first instruction after it (the last layer: to the end of the frame), so the layers' cycles
add up to the frame's.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from npu_model.arch.config import BUFFER_NAMES
from npu_model.arch.isa import INSTRUCTION_BYTES
from npu_model.golden.analysis import analyse
from npu_model.golden.asm import disassemble
from npu_model.golden.costs import instruction_costs as golden_costs
from npu_model.golden.loops import executed
from npu_model.golden.schedule import schedule

from ..quant.qnet import Epilogue
from ..summary import summarise

__all__ = ["LayerRecord", "CompileSummary", "summarise_program", "listing"]

@dataclass
class LayerRecord:
    """One row of the layer table."""
    name: str
    op: str
    pc_start: int
    pc_end: int
    macs: int
    wbuf_bytes: int = 0          # weights and constants this layer placed
    pbuf_bytes: int = 0          # parameter records this layer placed
    sbuf_bytes: int = 0          # state / scratch this layer placed in sbuf
    abuf_bytes: int = 0          # abuf extent (highest live byte + 1) while the layer runs
    abuf_live_bytes: int = 0     # abuf bytes live while the layer runs (its tensors, the skips...)
    mapping: str = ""            # lane mapping and lowering notes
    instructions: int = 0        # executed per frame (a loop body's once per iteration)
    cycles: int | None = None
    stall_cycles: int | None = None
    conflict_cycles: int | None = None

    @property
    def code_words(self) -> int:
        """Instruction words of the layer in imem."""
        return self.pc_end - self.pc_start

    def utilisation(self, lanes: int) -> float | None:
        if not self.cycles:
            return None
        return self.macs / (lanes * self.cycles)


@dataclass
class CompileSummary:
    model: str
    lanes: int
    config: dict
    code: str                                       # npu_model.arch.meta.CODE_FORMS
    code_words: int                                 # instruction words in imem
    instructions: int                               # instructions executed per frame
    macs: int                                       # MACs the program does per frame (sum n*r)
    buffers: dict                                   # name -> {"used": bytes, "capacity": bytes}
    layers: list
    host: list
    inputs: list
    outputs: list
    params: dict = field(default_factory=dict)      # model and stored parameter counts
    model_macs: int | None = None                   # MACs of the model description
    cycles: int | None = None
    stall_cycles: int | None = None
    conflict_cycles: int | None = None
    frame_ms: float | None = None                   # real time available per frame (hop / rate)

    @property
    def utilisation(self) -> float | None:
        return None if not self.cycles else self.macs / (self.lanes * self.cycles)

    @property
    def time_us(self) -> float | None:
        return None if self.cycles is None else self.cycles / self.config["clock_mhz"]

    def meta_figures(self) -> dict:
        """The figures stored in the program's META section."""
        out = {"instructions": self.instructions, "code_words": self.code_words, "macs_per_frame": self.macs,
               "params": self.params,
               "buffers": {k: v["used"] for k, v in self.buffers.items()}}
        if self.cycles is not None:
            out.update(cycles_per_frame=self.cycles, utilisation=round(self.utilisation, 6))
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = []
        for l in self.layers:
            row = asdict(l)
            row["code_words"] = l.code_words
            u = l.utilisation(self.lanes)
            row["utilisation"] = None if u is None else round(u, 6)
            d["layers"].append(row)
        d["utilisation"] = None if self.utilisation is None else round(self.utilisation, 6)
        d["time_us"] = self.time_us
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    def layer(self, name: str) -> LayerRecord:
        return next(l for l in self.layers if l.name == name)

    # Text ---------------------------------------------------------------------------------------
    def format(self) -> str:
        lines = [f"model {self.model}: {self.lanes} lanes"]
        p = self.params
        if "model" in p:
            lines.append(f"parameters: {p['model']:,} ({p['model_folded']:,} after batch-norm folding); "
                         f"stored on the NPU: {p['weights']:,} int8 weights + {p['biases']:,} int32 biases")
        else:
            lines.append(f"parameters stored on the NPU: {p['weights']:,} int8 weights + {p['biases']:,} int32 biases")
        macs = f"MACs per frame: {self.macs:,} on the NPU"
        if self.model_macs is not None:
            macs += f" (model: {self.model_macs:,})"
        lines.append(macs)
        form = "with hardware loops" if self.code == "loops" else "unrolled"
        lines.append(f"code: {self.code_words:,} instruction words {form} (imem {self.code_words * INSTRUCTION_BYTES:,} "
                     f"of {self.config['imem_bytes']:,} bytes); instructions executed per frame: {self.instructions:,}")
        if self.cycles is not None:
            line = (f"cycles per frame: {self.cycles:,} = {self.time_us:,.1f} us at {self.config['clock_mhz']:g} MHz; "
                    f"MAC-lane utilisation {100 * self.utilisation:.1f} %; stalls {self.stall_cycles:,}, "
                    f"memory conflicts {self.conflict_cycles:,} cycles")
            if self.frame_ms:
                line += (f"; real-time load {self.time_us / 10 / self.frame_ms:.1f} % "
                         f"(frame time / the {self.frame_ms:g} ms hop)")
            lines.append(line)
        lines.append("buffers: " + ", ".join(
            f"{k} {v['used']:,} of {v['capacity']:,} bytes" for k, v in self.buffers.items()))
        lines.append("inputs: " + ", ".join(f"{q['name']} ({q['buf']} {q['dtype']} {'x'.join(map(str, q['shape']))})"
                                            for q in self.inputs))
        lines.append("outputs: " + ", ".join(f"{q['name']} ({q['buf']} {q['dtype']} {'x'.join(map(str, q['shape']))})"
                                             for q in self.outputs))
        lines.append("host: " + ("; ".join(self.host) if self.host else "nothing"))
        lines.append("")
        lines.append(self.format_layers())
        return "\n".join(lines)

    def format_layers(self) -> str:
        head = (f"{'layer':<12} {'op':<17} {'pc':>13} {'code':>5} {'instr':>7} {'MACs':>11} {'cycles':>10} {'util':>6} "
                f"{'stalls':>7} {'wbuf':>7} {'sbuf':>6} {'abuf':>7}  mapping")
        rows = [head, "-" * len(head)]
        for l in self.layers:
            u = l.utilisation(self.lanes)
            rows.append(f"{l.name:<12} {l.op:<17} {f'{l.pc_start}..{l.pc_end}':>13} {l.code_words:>5,} {l.instructions:>7,} "
                        f"{l.macs:>11,} {'' if l.cycles is None else f'{l.cycles:,}':>10} "
                        f"{'' if u is None else f'{100 * u:.1f}%':>6} "
                        f"{'' if l.stall_cycles is None else f'{l.stall_cycles:,}':>7} "
                        f"{l.wbuf_bytes:>7,} {l.sbuf_bytes:>6,} {l.abuf_bytes:>7,}  {l.mapping}")
        rows.append("-" * len(head))
        u = self.utilisation
        rows.append(f"{'total':<12} {'':<17} {'':>13} {self.code_words:>5,} {self.instructions:>7,} {self.macs:>11,} "
                    f"{'' if self.cycles is None else f'{self.cycles:,}':>10} "
                    f"{'' if u is None else f'{100 * u:.1f}%':>6} "
                    f"{'' if self.stall_cycles is None else f'{self.stall_cycles:,}':>7} "
                    f"{self.buffers['wbuf']['used']:>7,} {self.buffers['sbuf']['used']:>6,} "
                    f"{self.buffers['abuf']['used']:>7,}")
        rows.append("code: instruction words in imem; instr: instructions executed per frame; wbuf/sbuf: bytes the "
                    "layer placed; abuf: extent of the live tensors while it runs (the allocation's high-water mark "
                    "is the total)")
        return "\n".join(rows)


def _qnet_params(qnet) -> dict:
    """int8 weights and per-channel int32 biases stored for the network (folded, real form; of a
    grouped GRU's block-diagonal matrices only the blocks, which are all the NPU stores)."""
    count = {"weights": 0, "biases": 0}
    blocks = 1

    def walk(v):
        if isinstance(v, np.ndarray):
            if v.dtype == np.int8:
                count["weights"] += int(v.size) // blocks
        elif isinstance(v, Epilogue):
            if np.ndim(v.bias) > 0:
                count["biases"] += int(np.size(v.bias))
        elif isinstance(v, tuple):
            for item in v:
                walk(item)
        elif hasattr(v, "__dataclass_fields__"):
            for item in vars(v).values():
                walk(item)

    for layer in qnet.layers:
        blocks = getattr(layer, "groups", 1) if layer.op == "gru" else 1
        walk(layer)
    return count


def summarise_program(program, qnet, records, builder, *, model=None, schedule: bool = True) -> CompileSummary:
    cfg = program.config
    params = _qnet_params(qnet)
    host = [f"{fl.name} ({fl.op})" for fl in qnet.host_layers]
    model_macs = frame_ms = None
    if model is not None:
        ms = summarise(model.spec)
        params = {"model": ms.params, "model_folded": ms.params_folded, **params}
        host = list(ms.host)
        model_macs = ms.macs
        inp = model.spec.input
        frame_ms = 1000.0 * inp.hop / inp.sample_rate
    else:
        host.append("int8 quantisation of the input, dequantisation of the outputs")
    buffers = {
        "wbuf": {"used": len(program.wbuf), "capacity": cfg.wbuf_bytes},
        "abuf": {"used": builder.abuf.peak, "capacity": cfg.abuf_bytes},
        "sbuf": {"used": len(program.sbuf), "capacity": cfg.sbuf_bytes},
        "pbuf": {"used": len(program.pbuf), "capacity": cfg.pbuf_bytes},
        "imem": {"used": program.n_instructions * INSTRUCTION_BYTES, "capacity": cfg.imem_bytes},
        "lut": {"used": 2 * len(program.lut), "capacity": 2 * cfg.lut_entries},
    }
    pcs = executed(program.code).pc
    for rec in records:
        rec.instructions = int(((pcs >= rec.pc_start) & (pcs < rec.pc_end)).sum())
    summary = CompileSummary(
        model=qnet.name, lanes=cfg.lanes, config=cfg.to_dict(), code=builder.code_form,
        code_words=program.n_instructions, instructions=len(pcs),
        macs=int(sum(r.macs for r in records)), buffers=buffers, layers=list(records), host=host,
        inputs=[p.to_dict() for p in program.inputs], outputs=[p.to_dict() for p in program.outputs],
        params=params, model_macs=model_macs, frame_ms=frame_ms)
    if schedule:
        _add_timing(program, summary)
    return summary


def _add_timing(program, summary: CompileSummary) -> None:
    """Cycles of the frame and of every layer; a layer's instructions are consecutive in the
    executed stream (the compiler's loops never span two layers)."""
    an = analyse(program, source="compiled program")
    sched = schedule(an)
    st = sched.stats
    summary.cycles, summary.stall_cycles, summary.conflict_cycles = st.cycles, st.stall_cycles, st.conflict_cycles
    issue = np.append(sched.issue, st.cycles)
    stall = np.concatenate([[0], np.cumsum(sched.stall)])
    conflict = np.concatenate([[0], np.cumsum(golden_costs(an)["conflict"])])
    for rec in summary.layers:
        k0, k1 = an.span(rec.pc_start, rec.pc_end)
        start = 0 if rec is summary.layers[0] else int(issue[k0])   # the fetch latency: the frame start
        rec.cycles = int(issue[k1]) - start
        rec.stall_cycles = int(stall[k1] - stall[k0])
        rec.conflict_cycles = int(conflict[k1] - conflict[k0])


def listing(program, summary: CompileSummary) -> str:
    """The readable listing: summary, layer table, memory map and the annotated disassembly."""
    out = [f"# listing of the program compiled from model {summary.model} for {summary.lanes} lanes", "#"]
    out += ["# " + line if line else "#" for line in summary.format().splitlines()]
    out.append("#")
    out.append("# memory map (per-frame tensors in abuf share space by liveness; sbuf persists):")
    for buf in BUFFER_NAMES:
        syms = [s for s in program.symbols if s.buf == buf]
        if buf == "wbuf":
            per_layer = {}
            for s in syms:
                per_layer[s.layer] = per_layer.get(s.layer, 0) + s.nbytes
            for layer, n in per_layer.items():
                out.append(f"#   wbuf  weights of {layer:<14} {n:>9,} bytes")
            continue
        for s in syms:
            out.append(f"#   {buf}  {s.offset:#08x} {s.nbytes:>8,} bytes  {s.name:<28} "
                       f"{s.dtype} {'x'.join(map(str, s.shape))}  ({s.layer})")
    out.append("#")
    return "\n".join(out) + "\n" + disassemble(program)
