"""SRAM macros: every memory of the NPU is built from these two kinds (npu_model.arch.memory).

    1rw    single-port: one address; in a cycle either a read (`ce` and not `we`: `rdata` the
           next cycle) or a write of the granules `wmask` enables (`ce` and `we`);
    1r1w   two-port: a read port (`re`, `raddr`, `rdata` the next cycle) and a write port
           (`wmask`, `waddr`, `wdata`) used in the same cycle.

`rdata` keeps its value until the next read (the output latch every compiled macro has). A read
and a write of one row in the same cycle (1r1w) returns the old row; nothing in the NPU relies on
it. `SramMacro` is one macro: under a platform that supplies macros (`get_sram_macro`, as
`rtl.verilog.MacroPlatform` does) it is an instance of a module of the macro's own name
(`sram_1rw_w16_d4096_g8`), which a synthesis flow black-boxes and an integrator replaces by the
memory compiler's macro; in simulation (amaranth.sim) it is an Amaranth `Memory`, the behavioural
model. `SramArray` stacks macros of at most `macro_words` words to any depth, as a memory
compiler's output would be tiled.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from npu_model.arch.memory import MACRO_KINDS

from .layout import ParamSignature, check_positive

__all__ = ["SramSignature", "SramMacro", "SramArray", "macro_name"]


def _check_kind(kind):
    if kind not in MACRO_KINDS:
        raise TypeError(f"Macro kind must be one of {', '.join(MACRO_KINDS)}, not {kind!r}")


class SramSignature(ParamSignature):
    """A macro's ports, seen from its user (1rw: ce, we, addr; 1r1w: re, raddr, waddr; both:
    wmask (one bit per granule), wdata, rdata)."""

    def __init__(self, *, kind, width, depth, granularity):
        _check_kind(kind)
        for name, value in (("Width", width), ("Depth", depth), ("Granularity", granularity)):
            check_positive(name, value)
        if width % granularity:
            raise TypeError(f"Width {width} is not a multiple of the granularity {granularity}")
        aw = max(1, ceil_log2(depth))
        members = {"wmask": Out(width // granularity), "wdata": Out(width), "rdata": In(width)}
        if kind == "1rw":
            members.update(ce=Out(1), we=Out(1), addr=Out(aw))
        else:
            members.update(re=Out(1), raddr=Out(aw), waddr=Out(aw))
        super().__init__(members, kind=kind, width=width, depth=depth, granularity=granularity)


def macro_name(kind, width, depth, granularity) -> str:
    return f"sram_{kind}_w{width}_d{depth}_g{granularity}"


class SramMacro(wiring.Component):
    def __init__(self, *, kind, width, depth, granularity):
        sig = SramSignature(kind=kind, width=width, depth=depth, granularity=granularity)
        self.kind, self.width, self.depth, self.granularity = kind, width, depth, granularity
        super().__init__(sig.flip())

    @property
    def name(self) -> str:
        return macro_name(self.kind, self.width, self.depth, self.granularity)

    def elaborate(self, platform):
        if platform is not None and hasattr(platform, "get_sram_macro"):
            return platform.get_sram_macro(self)
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=self.width, depth=self.depth, init=[])
        rd = mem.read_port()
        wr = mem.write_port(granularity=self.granularity)
        if self.kind == "1rw":
            m.d.comb += [rd.addr.eq(self.addr), rd.en.eq(self.ce & ~self.we),
                         wr.addr.eq(self.addr), wr.en.eq(Mux(self.ce & self.we, self.wmask, 0))]
        else:
            m.d.comb += [rd.addr.eq(self.raddr), rd.en.eq(self.re), wr.addr.eq(self.waddr), wr.en.eq(self.wmask)]
        m.d.comb += [wr.data.eq(self.wdata), self.rdata.eq(rd.data)]
        return m


class SramArray(wiring.Component):
    """A memory of `depth` words of one macro kind, tiled from macros of at most `macro_words`
    words (the upper address bits pick the macro; the read data comes from the macro read last)."""

    def __init__(self, *, kind, width, depth, granularity, macro_words):
        check_positive("Macro words", macro_words)
        sig = SramSignature(kind=kind, width=width, depth=depth, granularity=granularity)
        self.kind, self.width, self.depth, self.granularity = kind, width, depth, granularity
        self.macro_words = min(macro_words, depth)
        self.count = -(-depth // self.macro_words)
        super().__init__(sig.flip())

    @property
    def macros(self) -> list[tuple[str, int]]:
        """(macro name, words) of every macro of the array."""
        out = []
        for i in range(self.count):
            words = min(self.macro_words, self.depth - i * self.macro_words)
            out.append((macro_name(self.kind, self.width, words, self.granularity), words))
        return out

    def elaborate(self, platform):
        m = Module()
        low = ceil_log2(self.macro_words) if self.count > 1 else max(1, ceil_log2(self.depth))
        macros = []
        for i, (_name, words) in enumerate(self.macros):
            m.submodules[f"macro{i}"] = mac = SramMacro(kind=self.kind, width=self.width, depth=words,
                                                       granularity=self.granularity)
            macros.append(mac)
        one = self.count == 1
        if self.kind == "1rw":
            sel = Signal(range(self.count), name="arr_sel") if not one else 0
            if not one:
                m.d.comb += sel.eq(self.addr[low:])
            rsel = Signal(range(self.count), name="arr_rsel") if not one else 0
            if not one:
                with m.If(self.ce & ~self.we):
                    m.d.sync += rsel.eq(sel)
            for i, mac in enumerate(macros):
                here = 1 if one else sel == i
                m.d.comb += [mac.ce.eq(self.ce & here), mac.we.eq(self.we), mac.addr.eq(self.addr[:low] if not one
                                                                                        else self.addr),
                             mac.wmask.eq(self.wmask), mac.wdata.eq(self.wdata)]
        else:
            rs = Signal(range(self.count), name="arr_rs") if not one else 0
            ws = Signal(range(self.count), name="arr_ws") if not one else 0
            if not one:
                m.d.comb += [rs.eq(self.raddr[low:]), ws.eq(self.waddr[low:])]
            rsel = Signal(range(self.count), name="arr_rsel") if not one else 0
            if not one:
                with m.If(self.re):
                    m.d.sync += rsel.eq(rs)
            for i, mac in enumerate(macros):
                rhere, where = (1, 1) if one else (rs == i, ws == i)
                m.d.comb += [mac.re.eq(self.re & rhere), mac.raddr.eq(self.raddr if one else self.raddr[:low]),
                             mac.waddr.eq(self.waddr if one else self.waddr[:low]),
                             mac.wmask.eq(Mux(where, self.wmask, 0)), mac.wdata.eq(self.wdata)]
        data = macros[0].rdata
        for i, mac in enumerate(macros[1:], start=1):
            data = Mux(rsel == i, mac.rdata, data)
        m.d.comb += self.rdata.eq(data)
        return m
