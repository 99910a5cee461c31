"""The paper model's summary reproduces TRU-Net's layer table row by row, and the totals."""
from __future__ import annotations

import pytest

from compiler import parse_model, summarise

from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "models"

# /work/shared/reference/trunet-paper-layers.md: layer, in, out, params, MACs/frame
PAPER_TABLE = """
enc1 4x256 64x128 1344 163840
enc2.pw 64x128 128x128 8576 1048576
enc2.dw 128x128 128x128 768 49152
enc3.pw 128x128 128x128 16768 2097152
enc3.dw 128x128 128x64 1024 40960
enc4.pw 128x64 128x64 16768 1048576
enc4.dw 128x64 128x64 768 24576
enc5.pw 128x64 128x64 16768 1048576
enc5.dw 128x64 128x32 1024 20480
enc6.pw 128x32 128x32 16768 524288
enc6.dw 128x32 128x16 768 6144
fgru 128x16 128x16 74496 1179648
fgru.pw 128x16 64x16 8384 131072
tgru 64x16 128x16 74496 1179648
tgru.pw 128x16 64x16 8384 131072
dec1.pw 64x16 64x16 4288 65536
dec1.up 64x16 64x32 12480 196608
dec2.pw 192x32 64x32 12480 393216
dec2.up 64x32 64x64 20672 655360
dec3.pw 192x64 64x64 12480 786432
dec3.up 64x64 64x64 12480 786432
dec4.pw 192x64 64x64 12480 786432
dec4.up 64x64 64x128 20672 1310720
dec5.pw 192x128 64x128 12480 1572864
dec5.up 64x128 64x128 12480 1572864
dec6.pw 128x128 5x128 655 81920
dec6.up 5x128 5x256 130 16000
"""
ROWS = [line.split() for line in PAPER_TABLE.strip().splitlines()]


@pytest.fixture(scope="module")
def paper_summary():
    return summarise(parse_model(MODELS / "trunet_paper.yaml"))


def _shape(text):
    return tuple(int(v) for v in text.split("x"))


@pytest.mark.parametrize("name,shape_in,shape_out,params,macs", ROWS, ids=[r[0] for r in ROWS])
def test_paper_row(paper_summary, name, shape_in, shape_out, params, macs):
    row = paper_summary.row(name)
    assert row.in_shape == _shape(shape_in)
    assert row.out_shape == _shape(shape_out)
    assert row.params == int(params)
    assert row.macs == int(macs)


def test_paper_totals(paper_summary):
    assert paper_summary.params == 380_881
    assert paper_summary.params_folded == 376_775
    assert paper_summary.macs == 16_918_144
    named = {r[0] for r in ROWS}
    for row in paper_summary.layers:  # layers not in the table (concats, the mask head) cost nothing
        if row.name not in named:
            assert row.op in ("concat", "slice", "sigmoid", "mask_reconstruct") and row.params == 0 and row.macs == 0


def test_trunet_summary_names_host_work():
    s = summarise(parse_model(MODELS / "trunet.yaml"))
    assert s.row("mea").where == "host"
    assert all(r.where == "npu" for r in s.layers if r.name != "mea")
    text = s.format()
    assert "compressed_complex" in text and "atan2" not in text.split("host:")[0]
    assert s.row("pe.conv").macs == 4 * 4 * 1 * 3 * 256
    assert s.row("tgru").params == 3 * 128 * (128 + 128) + 6 * 128
    assert s.params_folded == s.params - sum(2 * r.out_shape[0] for r in s.layers
                                             if r.name.endswith((".pw", ".dw", ".up")) and r.name not in
                                             ("dec6.up",))
