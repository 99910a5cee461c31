"""`report` on a hand-assembled program: every figure derived by hand from docs/timing.md.

Schedule of HAND (FETCH_LATENCY 2, PIPELINE_LATENCY 4, PORT_CONFLICT_FACTOR 2), pc: e / t / retire:
  0 sync_in        2 /  2 /  2
  1 mac r=8       3 /  3 / 14   occ 8 (A abuf, B wbuf)
  2 add (A=B abuf) 11 / 15 / 20  occ 2 (k=2), waits for pc 1 (h = 14 + 1), stall 4
  3 mov           17 / 21 / 25   waits for pc 2's write of y, stall 4
  4 add            22 / 26 / 30  waits for pc 3's write of t, stall 4
  5 sync_out      27 / 31 / 31   fence: retire(4) + 1, stall 4
  6 sync_out      32 / 32 / 32
  7 eof           33 / 33 / 33   -> 34 cycles per frame
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from npu_model.apps.cli import main
from npu_model.apps.report import LAYER_COLUMNS, OTHER_ROW, build_report, symbol_lifetimes, timebase
from npu_model.arch.meta import InputSpec, ProgramMeta
from npu_model.golden.machine import Npu

from .conftest import ROOT

EXPECTED = {
    # layer: cycles, stall, conflict, instructions, npu_macs, util %, start
    "fc": dict(cycles=9, stall_cycles=0, conflict_cycles=0, instructions=2, npu_macs=32, macs=32,
               utilisation_pct=round(100 * 32 / (4 * 9), 3), start_cycle=2, mac_cycles=8, weight_bytes=32,
               wbuf_read_bytes=32, pbuf_read_bytes=8, abuf_read_bytes=8, sbuf_read_bytes=0,
               wbuf_write_bytes=0, abuf_write_bytes=4, sbuf_write_bytes=0,
               wbuf_live_bytes=96, abuf_live_bytes=8 + 4, sbuf_live_bytes=8),
    "out": dict(cycles=6, stall_cycles=4, conflict_cycles=1, instructions=1, npu_macs=0, macs=0,
                utilisation_pct=0.0, start_cycle=11, mac_cycles=0, weight_bytes=0,
                wbuf_read_bytes=0, pbuf_read_bytes=8, abuf_read_bytes=8, sbuf_read_bytes=0,
                wbuf_write_bytes=0, abuf_write_bytes=4, sbuf_write_bytes=0,
                wbuf_live_bytes=96, abuf_live_bytes=4 + 4, sbuf_live_bytes=8),
    "acc": dict(cycles=10, stall_cycles=8, conflict_cycles=0, instructions=2, npu_macs=0, macs=0,
                utilisation_pct=0.0, start_cycle=17, mac_cycles=0, weight_bytes=0,
                wbuf_read_bytes=0, pbuf_read_bytes=16, abuf_read_bytes=4 + 4, sbuf_read_bytes=8,
                wbuf_write_bytes=0, abuf_write_bytes=4, sbuf_write_bytes=8,
                wbuf_live_bytes=96, abuf_live_bytes=4 + 4, sbuf_live_bytes=8),
    OTHER_ROW: dict(cycles=2 + 5 + 1 + 1, stall_cycles=4, conflict_cycles=0, instructions=3, npu_macs=0,
                    macs=0, utilisation_pct=0.0, mac_cycles=0, weight_bytes=0,
                    wbuf_read_bytes=0, abuf_read_bytes=0, sbuf_read_bytes=0,
                    wbuf_write_bytes=0, abuf_write_bytes=0, sbuf_write_bytes=0,
                    wbuf_live_bytes=96, abuf_live_bytes=4, sbuf_live_bytes=8),
}


def _report(hand_program, meta="", **kw):
    _, program = hand_program(meta)
    return build_report(Npu(program), program_path="hand.bin", **kw)


def test_rows_match_the_hand_derivation(hand_program):
    rep = _report(hand_program)
    rows = {r["layer"]: r for r in rep.rows}
    assert list(rows) == ["fc", "out", "acc", OTHER_ROW]
    for layer, want in EXPECTED.items():
        for key, value in want.items():
            assert rows[layer][key] == value, (layer, key)


def test_rows_add_up_to_the_frame_counters(hand_program):
    rep = _report(hand_program)
    f = rep.summary.frame
    assert f.cycles == 34 and f.stall_cycles == 16 and f.npu_macs == 32 and f.instructions == 8
    for key, total in (("cycles", f.cycles), ("stall_cycles", f.stall_cycles), ("npu_macs", f.npu_macs),
                       ("instructions", f.instructions), ("conflict_cycles", f.conflict_cycles)):
        assert sum(r[key] for r in rep.rows) == total, key
    for b, m in rep.summary.memory.items():
        assert sum(r[f"{b}_read_bytes"] for r in rep.rows) == m.read_bytes, b
        assert sum(r[f"{b}_write_bytes"] for r in rep.rows) == m.write_bytes, b


def test_lifetimes(hand_program):
    _, program = hand_program()
    life = {l.name: (l.birth, l.death) for l in symbol_lifetimes(Npu(program))}
    assert life["x"] == (0, 1)          # input port: from the frame start to the MAC that reads it
    assert life["h"] == (1, 2)          # written by the MAC, last read before t takes its bytes
    assert life["y"] == (2, 7)          # output port: until the end of the frame
    assert life["t"] == (3, 4)
    assert life["W"] == (0, 7) and life["s"] == (0, 7)


def test_memory_summary_and_timeline(hand_program):
    rep = _report(hand_program)
    m = rep.summary.memory
    assert (m["wbuf"].hwm_bytes, m["abuf"].hwm_bytes, m["sbuf"].hwm_bytes) == (96, 0x44, 8)
    # abuf live: x from cycle 2 (e of pc 0) to 14 (retire of pc 1), h from 3 to 20, y from 11 to the end,
    # t from 17 to 30: the peak is x + h + y = 16 bytes in cycles 11..14.
    assert m["abuf"].peak_live_bytes == 16
    t, live = rep.timeline["abuf"]
    assert dict(zip(t.tolist(), live.tolist())) == {0: 0, 2: 8, 3: 12, 11: 16, 15: 8, 17: 12, 21: 8, 31: 4, 34: 0}
    assert rep.summary.instruction_bytes == 8 * 32
    assert rep.summary.weight_bytes == 96


def test_bound_and_real_time(hand_program):
    rep = _report(hand_program, '{"sample_rate": 16000, "hop": 128}', clock_mhz=0.002)
    b, rt = rep.summary.bound, rep.summary.real_time
    assert b.model_macs == 32 and b.bound_cycles == 8 and b.ratio == pytest.approx(34 / 8)
    assert rt.hop_us == pytest.approx(8000.0) and rt.source == "META"
    assert rt.frame_us == pytest.approx(34 / 0.002)                      # 17 ms per frame at 2 kHz
    assert rt.real_time_factor == pytest.approx(17000 / 8000)
    assert rt.min_clock_mhz == pytest.approx(34 / 8000)                  # 4.25 kHz
    assert rt.real_time is False
    fast = _report(hand_program, '{"sample_rate": 16000, "hop": 128}', clock_mhz=0.005).summary.real_time
    assert fast.real_time is True and fast.real_time_factor == pytest.approx(34 / (8000 * 0.005))


def test_timebase_precedence():
    assert timebase(ProgramMeta()).source == "none"
    inp = InputSpec(name="x", bins=4, channels=1, sample_rate=16000, fft_size=256, hop=128, features=("log_power",))
    assert timebase(ProgramMeta(input=inp, hop=64)).hop_us == pytest.approx(8000)     # a model's input wins
    tb = timebase(ProgramMeta(hop=128, sample_rate=16000), hop=256)
    assert (tb.hop, tb.sample_rate, tb.source) == (256, 16000, "flags and META")
    tb = timebase(ProgramMeta(), fallback=(160, 16000, "m.yaml"))
    assert (tb.hop_us, tb.source) == (pytest.approx(10000), "m.yaml")


def test_cli_writes_csv_json_markdown_and_plots(hand_program, tmp_path, capsys):
    path, _ = hand_program()
    out = tmp_path / "rep"
    assert main(["report", str(path), "-o", str(out), "--frames", "2", "--hop", "128", "--sample-rate", "16000",
                 "--clock-mhz", "0.002"]) == 0
    text = capsys.readouterr().out
    assert "cycles per frame     34" in text and "min real-time clock  0.00425 MHz" in text
    with open(out / "layers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == LAYER_COLUMNS
    assert [r["layer"] for r in rows] == ["fc", "out", "acc", OTHER_ROW]
    assert rows[0]["cycles"] == "9" and rows[0]["utilisation_pct"] == "88.889"
    doc = json.loads((out / "summary.json").read_text())
    assert doc["frame"]["cycles"] == 34 and doc["frames_run"] == 2 and len(doc["layer_rows"]) == 4
    assert doc["real_time"]["source"] == "flags"
    md = (out / "report.md").read_text()
    for png in ("cycles_per_layer.png", "utilisation_per_layer.png", "memory_over_frame.png"):
        assert f"]({png})" in md
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| cycles / bound | 4.25 |" in md
    assert len(list(csv.DictReader((out / "frames.csv").read_text().splitlines()))) == 2
    assert not [p for p in out.iterdir() if p.name.startswith(".")]      # no temporary files left


def test_a_figure_made_elsewhere_is_linked_from_the_report(hand_program, tmp_path):
    """make demo links enhance's spectrograms: by their path from the report folder."""
    path, _ = hand_program()
    (tmp_path / "speech_spectrograms.png").write_bytes(b"png")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "speech_spectrograms.png").write_bytes(b"png")
    assert main(["report", str(path), "-o", str(tmp_path / "r"), "--frames", "0", "--no-plots",
                 "--figure", str(tmp_path / "speech_spectrograms.png"),
                 "--figure", str(tmp_path / "other" / "speech_spectrograms.png")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "![speech spectrograms](../speech_spectrograms.png)" in md
    assert "![../other/speech_spectrograms.png](../other/speech_spectrograms.png)" in md


def test_without_hop_the_real_time_figures_are_not_available(hand_program, tmp_path, capsys):
    path, _ = hand_program()
    assert main(["report", str(path), "-o", str(tmp_path / "r"), "--frames", "0", "--no-plots"]) == 0
    assert "give --hop and --sample-rate" in capsys.readouterr().out
    doc = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert doc["real_time"]["real_time_factor"] is None and doc["frames_run"] == 0
    assert "| real-time factor (frame time / hop time; <= 1 is real time) | n/a |" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize("args,words", [
    (["report", "missing.bin", "-o", "x"], "missing.bin: cannot read"),
    (["report", "{prog}", "-o", "{out}", "--lanes", "8"], "compiled for another configuration"),
    (["report", "{prog}", "-o", "{prog}/sub"], "is not a directory"),
    (["report", "{prog}", "-o", "{out}", "--figure", "{out}.png"], "o.png: --figure: no such file"),
])
def test_errors_are_one_line(hand_program, tmp_path, capsys, args, words):
    path, _ = hand_program()
    args = [a.format(prog=path, out=tmp_path / "o") for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_help_lists_the_new_commands():
    out = subprocess.run([sys.executable, "-m", "npu_model", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for cmd in ("report", "explore", "enhance", "run", "asm", "disasm"):
        assert cmd in out.stdout
