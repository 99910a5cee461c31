"""Verilog generation: `Npu` through `amaranth.back.verilog`, SRAM macros as modules of their own.

Every SRAM of the NPU is an `rtl.macro.SramMacro`; under `MacroPlatform` each is an instance of
a module named for its kind and shape (`sram_1rw_w16_d4096_g8`), written once at the end of the
Verilog with a behavioural body: a plain array with the macro's ports (1rw: one address, read or
write; 1r1w: a read and a write port), synchronous, non-transparent reads whose output holds.
A synthesis flow black-boxes these modules (`read_verilog -lib` in Yosys, as `rtl.synth` does) and an
integrator replaces them by the memory compiler's macros; Verilator simulates the bodies.
Amaranth would also write every memory's all-zero initial contents into the Verilog (minutes
and hundreds of MB for a large memory); the macro modules have none. The debug trace, a
verification aid left out of silicon, is the one Amaranth `Memory` left: `get_memory` writes it
as a plain array too. Simulation with amaranth.sim keeps Amaranth's memories; the behaviour is
the same.
"""
from __future__ import annotations

from amaranth.back import rtlil, verilog
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Shape, Value
from amaranth.utils import ceil_log2

from npu_model.arch.config import NpuConfig

from .npu import Npu

__all__ = ["MacroPlatform", "generate_verilog", "generate_rtlil", "waiver_text", "WAIVED_RULES", "MACRO_PREFIX"]

#: Every SRAM macro module's name starts with this (what a synthesis flow black-boxes).
MACRO_PREFIX = "sram_"

#: Verilator lint rules the Amaranth/Yosys output trips (width-changing assignments are
#: intended truncations and extensions; case statements are written without defaults).
WAIVED_RULES = ("WIDTH", "CASEINCOMPLETE")


class MacroPlatform:
    """A minimal Amaranth platform that supplies the SRAM macros and plain-array memories (see
    the module docstring)."""

    def __init__(self):
        self.modules: dict[str, str] = {}

    def get_sram_macro(self, macro):
        name = macro.name
        if name not in self.modules:
            self.modules[name] = _macro_module(name, macro.kind, macro.width, macro.depth, macro.granularity)
        ports = {"i_clk": ClockSignal("sync"), "i_wmask": macro.wmask, "i_wdata": macro.wdata, "o_rdata": macro.rdata}
        if macro.kind == "1rw":
            ports.update(i_ce=macro.ce, i_we=macro.we, i_addr=macro.addr)
        else:
            ports.update(i_re=macro.re, i_raddr=macro.raddr, i_waddr=macro.waddr)
        m = Module()
        m.submodules.macro = Instance(name, **ports)
        return m

    def get_memory(self, memory):
        width = Shape.cast(memory.shape).width
        depth = memory.depth
        aw = max(1, ceil_log2(depth))
        reads = memory.read_ports
        writes = memory.write_ports
        domains = {p.domain for p in reads} | {p.domain for p in writes}
        assert domains <= {"sync"}, "the NPU's memories are all in the sync domain"
        assert all(not p.transparent_for for p in reads), "the NPU's read ports are not transparent"
        grans = {p.signature.granularity or width for p in writes}
        assert len(grans) <= 1, "one write granularity per memory"
        gran = grans.pop() if grans else width
        name = f"npu_mem_w{width}_d{depth}_r{len(reads)}_w{len(writes)}_g{gran}"
        if name not in self.modules:
            self.modules[name] = _memory_module(name, width, depth, aw, len(reads), len(writes), gran)
        m = Module()
        # One Verilog port per memory port signal: concatenating them into vectors would make
        # Verilator assemble wide words with shifts and masks on every evaluation.
        ports = {"i_clk": ClockSignal("sync")}
        for i, p in enumerate(reads):
            ports[f"i_r{i}_en"] = p.en
            ports[f"i_r{i}_addr"] = p.addr
            ports[f"o_r{i}_data"] = p.data
        for i, p in enumerate(writes):
            ports[f"i_w{i}_en"] = p.en
            ports[f"i_w{i}_addr"] = p.addr
            ports[f"i_w{i}_data"] = p.data
        m.submodules.array = Instance(name, **ports)
        return m

    def verilog_modules(self) -> str:
        return "\n".join(self.modules[name] for name in sorted(self.modules))


def _macro_module(name, kind, width, depth, gran) -> str:
    """The behavioural model of one SRAM macro (rtl.macro): the array, its ports, nothing else.

    Written for a cycle-based simulator, which evaluates every process on every clock edge: the
    write's byte mask is formed inside the branch that writes, not as a wire of its own that a
    design with a hundred macros would compute for each of them on every cycle, and under
    Verilator the store is blocking (Yosys would turn such an array into registers, so other tools
    read a non-blocking one). Measured at 8 lanes on TRU-Net: 0.43 -> 0.57 M cycles/s."""
    aw = max(1, ceil_log2(depth))
    granules = width // gran
    common = [f"input wire [{granules - 1}:0] wmask", f"input wire [{width - 1}:0] wdata",
              f"output reg [{width - 1}:0] rdata"]
    if kind == "1rw":
        decls = ["input wire clk", "input wire ce", "input wire we", f"input wire [{aw - 1}:0] addr"] + common
    else:
        decls = ["input wire clk", "input wire re", f"input wire [{aw - 1}:0] raddr",
                 f"input wire [{aw - 1}:0] waddr"] + common
    mask = (f"{{{width}{{wmask}}}}" if granules == 1 else
            "{ " + ", ".join(f"{{{gran}{{wmask[{j}]}}}}" for j in reversed(range(granules))) + " }")
    waddr = "addr" if kind == "1rw" else "waddr"
    value = f"(mem[{waddr}] & ~{mask}) | (wdata & {mask});"
    # Verilator: a blocking store (the array is read only here, after its read has sampled it:
    # the non-blocking semantics without a delayed store's bookkeeping on every edge); any other
    # tool: the non-blocking store from which Yosys infers a memory.
    def store(pad):
        return ["`ifdef VERILATOR", f"{pad}mem[{waddr}] = {value}", "`else", f"{pad}mem[{waddr}] <= {value}", "`endif"]
    lines = [f"// SRAM macro, {kind}: {depth} words x {width} bits, {gran}-bit write enables; "
             "behavioural model (black-box it for synthesis).",
             f"module {name} ("] + [f"  {d}," for d in decls[:-1]] + [f"  {decls[-1]}", ");",
                                                                     f"  reg [{width - 1}:0] mem [0:{depth - 1}];",
                                                                     "  always @(posedge clk) begin"]
    if kind == "1rw":
        lines += ["    if (ce) begin",
                  "      if (!we) rdata <= mem[addr];",
                  "      else begin"] + store(" " * 8) + [
                  "      end",
                  "    end"]
    else:
        lines += ["    if (re) rdata <= mem[raddr];",
                  "    if (|wmask) begin"] + store(" " * 6) + [
                  "    end"]
    lines += ["  end", "endmodule", ""]
    return "\n".join(lines)


def _memory_module(name, width, depth, aw, n_read, n_write, gran) -> str:
    """A memory as a plain array. Reads are non-blocking (they see the array as it was before
    the clock edge). Writes merge their enabled granules into the row with blocking assignments,
    in port order, after every read has been sampled: the same semantics as Amaranth's memory
    (reads not transparent; ports writing different bytes of one row in the same cycle all take
    effect), with one array store per write port instead of one delayed store per byte, which
    Verilator would otherwise pay for on every cycle."""
    lanes = width // gran
    decls = ["input wire clk"]
    for i in range(n_read):
        decls += [f"input wire r{i}_en", f"input wire [{aw - 1}:0] r{i}_addr",
                  f"output reg [{width - 1}:0] r{i}_data"]
    for i in range(n_write):
        decls += [f"input wire [{lanes - 1}:0] w{i}_en", f"input wire [{aw - 1}:0] w{i}_addr",
                  f"input wire [{width - 1}:0] w{i}_data"]
    lines = [f"// {depth} x {width} bits, {n_read} synchronous read ports (not transparent), "
             f"{n_write} write ports with {gran}-bit enables.",
             f"module {name} ("]
    lines += [f"  {d}," for d in decls[:-1]] + [f"  {decls[-1]}", ");"]
    lines.append(f"  reg [{width - 1}:0] mem [0:{depth - 1}];")
    for i in range(n_write):
        if lanes == 1:
            lines.append(f"  wire [{width - 1}:0] w{i}_mask = {{{width}{{w{i}_en}}}};")
        else:
            parts = ", ".join(f"{{{gran}{{w{i}_en[{j}]}}}}" for j in reversed(range(lanes)))
            lines.append(f"  wire [{width - 1}:0] w{i}_mask = {{ {parts} }};")
    lines.append("  always @(posedge clk) begin")
    for i in range(n_read):
        lines.append(f"    if (r{i}_en) r{i}_data <= mem[r{i}_addr];")
    for i in range(n_write):
        lines.append(f"    if (|w{i}_en) mem[w{i}_addr] = (mem[w{i}_addr] & ~w{i}_mask) | (w{i}_data & w{i}_mask);")
    lines += ["  end", "endmodule", ""]
    return "\n".join(lines)


def compress_replications(text: str) -> str:
    """Rewrite runs of identical items in Yosys concatenations as replications.

    Amaranth sign-extends by concatenating copies of the sign bit, which Yosys prints as
    `{ x[15], x[15], ..., x[15], x }`; Verilator compiles such a concatenation bit by bit
    (dozens of shifts and masks per extension), while `{ {16{x[15]}}, x }` becomes a negate and
    a shift. The rewrite is purely syntactic: N copies of an item are its N-fold replication.
    """
    out = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("{ ", i):
            end = _matching_brace(text, i)
            if end is not None and text[end - 1] == " ":
                items = _split_items(text[i + 2:end - 1])
                items = [compress_replications(item) for item in items]
                merged = []
                k = 0
                while k < len(items):
                    j = k
                    while j + 1 < len(items) and items[j + 1] == items[k]:
                        j += 1
                    count = j - k + 1
                    merged.append(f"{{{count}{{{items[k]}}}}}" if count > 1 else items[k])
                    k = j + 1
                out.append("{ " + ", ".join(merged) + " }")
                i = end + 1
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _matching_brace(text, start):
    depth = 0
    for k in range(start, len(text)):
        c = text[k]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return k
        elif c in ";\n":
            return None
    return None


def _split_items(body):
    items, depth, cur = [], 0, []
    k = 0
    while k < len(body):
        c = body[k]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if depth == 0 and body.startswith(", ", k):
            items.append("".join(cur))
            cur = []
            k += 2
            continue
        cur.append(c)
        k += 1
    items.append("".join(cur))
    return items


def generate_verilog(config: NpuConfig, *, trace_depth=0, name="npu") -> str:
    """Verilog text of a freshly built `Npu` (a component's memories elaborate only once)."""
    platform = MacroPlatform()
    npu = Npu(config=config, trace_depth=trace_depth)
    top = _ResetlessTop(npu)
    text = verilog.convert(top, name=name, platform=platform,
                           ports=[("clk", top.clk, None)] + top_ports(npu), emit_src=False)
    return compress_replications(text) + "\n" + platform.verilog_modules()


def generate_rtlil(config: NpuConfig, *, trace_depth=0, name="npu") -> tuple[str, str]:
    """(RTLIL of a freshly built `Npu`, Verilog of its SRAM macro and memory modules): what the
    bundled Yosys reads (`read_rtlil`); the macros stay cells of modules the RTLIL does not define,
    for a flow to black-box or to read from the Verilog beside it."""
    platform = MacroPlatform()
    npu = Npu(config=config, trace_depth=trace_depth)
    top = _ResetlessTop(npu)
    text = rtlil.convert(top, name=name, platform=platform, ports=[("clk", top.clk, None)] + top_ports(npu),
                         emit_src=False)
    return text, platform.verilog_modules()


class _ResetlessTop(Elaboratable):
    """Puts the NPU in a `sync` domain without reset. Registers start at their initial values
    (Verilog initialisers) and every frame start re-initialises the state a frame depends on,
    so a reset input would only add a mux to every register, all of it combinationally
    downstream of a top-level input, which Verilator re-evaluates on every eval() call."""

    def __init__(self, npu):
        self.npu = npu
        self.domain = ClockDomain("sync", reset_less=True)
        self.clk = self.domain.clk

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules.npu = self.npu
        return m


def top_ports(component) -> list:
    """Top-level port names: a signature path joined by single underscores (`host_wdata`,
    `counters_cycles`): Amaranth's default double underscore is mangled by Verilator's C++.
    Directions are inferred from the design."""
    return [("_".join(map(str, path)), Value.cast(value), None)
            for path, _member, value in component.signature.flatten(component)]


def waiver_text(verilog_name: str) -> str:
    lines = ["`verilator_config",
             f"// Lint waivers for {verilog_name} (generated by `python -m rtl generate`)."]
    lines += [f"lint_off -rule {rule}" for rule in WAIVED_RULES]
    return "\n".join(lines) + "\n"
