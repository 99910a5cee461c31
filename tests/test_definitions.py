"""Every hardware fact is defined once in npu_model.arch, and the golden model, compiler and RTL
read the same definition: these tests hold the derived views against their source."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth.utils import ceil_log2

from compiler.quant.intmath import DTYPE_RANGE
from npu_model.arch.config import BUFFER_NAMES, NpuConfig
from npu_model.arch.errors import NpuFault
from npu_model.arch.faults import FAULT_BITS, FAULT_CAUSES, Fault
from npu_model.arch.isa import DATA_BUFFERS, DTYPES, FIELD_BY_NAME, LUT_LOG2_MAX, MAX_STEPS, Buffer, DType
from npu_model.arch.record import PARAM_RECORD, RECORD_BYTES, RECORD_FIELDS, SHIFT_BITS, field_offset, out_of_range
from rtl.layout import data_buffers, record_layout


def test_record_layout_is_the_rtl_struct():
    layout = record_layout()
    assert layout.size == 8 * RECORD_BYTES == 8 * PARAM_RECORD.itemsize == 64
    for f in RECORD_FIELDS:
        member = layout[f.name]
        assert member.offset == 8 * field_offset(f.name)
        assert member.shape.width == f.bits and member.shape.signed == f.signed


def test_record_ranges():
    assert out_of_range(bias=[0, 1], mult=-(1 << 15), shift=(1 << SHIFT_BITS) - 1) is None
    assert out_of_range(shift=64) == ("shift", 0, 63)
    assert out_of_range(mult=np.array([1 << 15])) == ("mult", -(1 << 15), (1 << 15) - 1)
    assert out_of_range(bias=[]) is None


def test_faults():
    assert [(int(f), f.label) for f in Fault] == [
        (0, "none"), (1, "illegal"), (2, "write_protect"), (3, "address"), (4, "lut_range"), (5, "overlap")]
    assert list(FAULT_CAUSES) == list(Fault)[1:]
    assert (1 << FAULT_BITS) > max(Fault) >= 1 << (FAULT_BITS - 1)
    exc = NpuFault(7, "nop", "why", fault=3)
    assert (exc.code, exc.kind, exc.fault) == (3, "address", Fault.ADDRESS)


def test_element_types():
    assert [(d.label, d.long_name, d.size, d.min, d.max, d.numpy) for d in DType] == [
        ("i8", "int8", 1, -128, 127, np.dtype(np.int8)), ("i16", "int16", 2, -32768, 32767, np.dtype(np.int16))]
    assert DTYPES == {"i8": DType.I8, "i16": DType.I16}
    assert DTYPE_RANGE == {"int8": (-128, 127), "int16": (-32768, 32767)}
    assert DType.parse("int16") is DType.parse("i16") is DType.I16
    assert DType.of_numpy(np.int8) is DType.I8
    with pytest.raises(ValueError, match=r"unknown element type 'f32' \(one of i8, i16\)"):
        DType.parse("f32")
    with pytest.raises(ValueError, match="numpy type uint8 is not an element type"):
        DType.of_numpy(np.uint8)


def test_buffers():
    assert BUFFER_NAMES == ("wbuf", "abuf", "sbuf") == tuple(b.label for b in DATA_BUFFERS)
    assert [name for _, name in data_buffers()] == list(BUFFER_NAMES)
    cfg = NpuConfig(wbuf_bytes=1024, abuf_bytes=512, sbuf_bytes=256, imem_bytes=64)
    assert cfg.flat_offsets == {"wbuf": 0, "abuf": 1024, "sbuf": 1536}
    assert cfg.buffer_sizes[Buffer.IMEM] == 64 and cfg.buffer_sizes[Buffer.SBUF] == 256


@pytest.mark.parametrize("words", [1, 2, 3, 4, 5, 1000, 1024, 1025, 131072])
def test_pc_bits(words):
    assert NpuConfig(imem_bytes=32 * words).pc_bits == max(1, ceil_log2(words))


def test_field_derived_limits():
    assert MAX_STEPS == (1 << FIELD_BY_NAME["r"].bits) - 1 == 65535
    assert LUT_LOG2_MAX == 14 and LUT_LOG2_MAX < 1 << FIELD_BY_NAME["lut_log2"].bits
