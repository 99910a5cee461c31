"""Interface signatures and component parameters: keyword-only, validated with a clear message,
compared by what they are (amaranth-soc style)."""
from __future__ import annotations

import gc
import warnings

import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.lib import wiring

from npu_model.arch.config import NpuConfig
from rtl.counters import CountersSignature, PerfCounters
from rtl.decoder import DecodedSignature
from rtl.frontend import InstructionStreamSignature
from rtl.imem import FetchSignature, InstructionMemory
from rtl.lut import LutReadSignature, LutUnit
from rtl.npu import HostBusSignature, Npu
from rtl.sequencer import BeatSignature, ReadRequestsSignature
from npu_model.arch.memory import bank_org
from rtl.databuf import DataBuffer, ElementReadSignature, HostPortSignature
from rtl.loops import LoopUnit
from rtl.macro import SramArray, SramMacro, SramSignature
from rtl.params import ParamMemory, RecordsSignature
from rtl.trace import TraceMemory

CFG = NpuConfig(lanes=4)
ORG = bank_org("lane", 4, writable=True)


def databuf(**changes):
    kw = dict(size=64, org=ORG, lanes=4, macro_words=16, host_addr_bits=4, host_row_bytes=8)
    return DataBuffer(**{**kw, **changes})


def refused(make, exc, message=None):
    """`make()` raises `exc`; the half-made component it leaves (Amaranth tracks an elaboratable
    from `__new__`) is collected here, without its "created but never used" warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(exc, match=message):
            make()
        gc.collect()


@pytest.mark.parametrize("make, text", [
    (lambda: HostPortSignature(addr_bits=9), "HostPortSignature(addr_bits=9)"),
    (lambda: HostBusSignature(addr_bits=3), "HostBusSignature(addr_bits=3)"),
    (lambda: FetchSignature(pc_bits=12), "FetchSignature(pc_bits=12)"),
    (lambda: LutReadSignature(entries=256), "LutReadSignature(entries=256)"),
    (lambda: ElementReadSignature(), "ElementReadSignature()"),
    (lambda: CountersSignature(), "CountersSignature()"),
    (lambda: RecordsSignature(lanes=4), "RecordsSignature(lanes=4)"),
    (lambda: SramSignature(kind="1rw", width=16, depth=64, granularity=8),
     "SramSignature(kind='1rw', width=16, depth=64, granularity=8)"),
])
def test_signatures_compare_by_parameters(make, text):
    assert make() == make() and repr(make()) == text


def test_config_signatures():
    for cls in (DecodedSignature, BeatSignature, ReadRequestsSignature, InstructionStreamSignature):
        assert cls(config=CFG) == cls(config=CFG) != cls(config=CFG.replace(lanes=8))
        assert cls(config=CFG).config is CFG
    assert HostPortSignature(addr_bits=4) != HostPortSignature(addr_bits=5)
    stream = InstructionStreamSignature(config=CFG)
    assert stream.members["ready"].flow is wiring.In and stream.members["payload"].signature == DecodedSignature(
        config=CFG)


@pytest.mark.parametrize("make, message", [
    (lambda: HostPortSignature(addr_bits=0), r"^Address width must be a positive integer, not 0$"),
    (lambda: HostBusSignature(addr_bits="8"), r"^Address width must be a positive integer, not '8'$"),
    (lambda: FetchSignature(pc_bits=True), r"^PC width must be a positive integer, not True$"),
    (lambda: LutReadSignature(entries=-1), r"^Entries must be a positive integer, not -1$"),
    (lambda: DecodedSignature(config={"lanes": 4}), r"^config must be an NpuConfig, not \{'lanes': 4\}$"),
    (lambda: databuf(size=0), r"^Size must be a positive integer, not 0$"),
    (lambda: databuf(lanes=0), r"^Lanes must be a positive integer, not 0$"),
    (lambda: databuf(org="lane"), r"^Organisation must be a BankOrg, not 'lane'$"),
    (lambda: databuf(size=63), r"^Size must be a multiple of the 2-byte word, not 63$"),
    (lambda: databuf(host_row_bytes=3), r"^A host row of 3 bytes is not whole words of a stripe"),
    (lambda: LutUnit(entries=16, lanes=4, macro_words=16, host_addr_bits=0),
     r"^Address width must be a positive integer, not 0$"),
    (lambda: SramMacro(kind="2rw", width=8, depth=4, granularity=8), r"^Macro kind must be one of 1rw, 1r1w, not '2rw'$"),
    (lambda: SramMacro(kind="1rw", width=12, depth=4, granularity=8), r"^Width 12 is not a multiple of the granularity 8$"),
    (lambda: SramArray(kind="1rw", width=8, depth=4, granularity=8, macro_words=0),
     r"^Macro words must be a positive integer, not 0$"),
    (lambda: ParamMemory(size=20, lanes=4, macro_words=16, host_addr_bits=4, host_row_bytes=32),
     r"^Size must be a multiple of the 8-byte record, not 20$"),
    (lambda: TraceMemory(depth=0, host_addr_bits=4), r"^Depth must be a positive integer, not 0$"),
    (lambda: LoopUnit(pc_bits=0), r"^PC width must be a positive integer, not 0$"),
    (lambda: PerfCounters(config=None), r"^config must be an NpuConfig, not None$"),
    (lambda: Npu(config=CFG, trace_depth=-1), r"^Trace depth must be 0 \(no trace\) or a positive integer, not -1$"),
])
def test_bad_parameters_are_type_errors(make, message):
    refused(make, TypeError, message)


def test_bad_values_are_value_errors():
    refused(lambda: InstructionMemory(words=17, pc_bits=4, macro_words=16, host_addr_bits=4), ValueError,
            r"^17 words need more than 4 PC bits$")


def test_parameters_are_keyword_only():
    refused(lambda: DataBuffer(64, ORG, 4, macro_words=16, host_addr_bits=4, host_row_bytes=8), TypeError,
            "positional")
    refused(lambda: Npu(CFG), TypeError, "positional")
    refused(lambda: HostPortSignature(8), TypeError, "positional")
