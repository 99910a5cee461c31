"""`explore` on a tiny model: every point compiled and simulated, a point that does not fit is a row."""
from __future__ import annotations

import csv

import pytest

from npu_model.apps.cli import main
from npu_model.apps.explore import SWEEP_COLUMNS
from npu_model.arch.config import NpuConfig
from npu_model.arch.technology import NAND2_UM2, logic_ge_estimate, sram_area_um2
from npu_model.apps.plots import pareto_front


def _rows(path):
    return list(csv.DictReader(path.read_text().splitlines()))


def test_sweep_with_a_point_that_does_not_fit(tiny_model, tmp_path, capsys):
    out = tmp_path / "exp"
    # abuf 0.25 KiB is less than the 320 bytes the tiny model needs at its peak.
    assert main(["explore", str(tiny_model), "--lanes", "1,4", "--act-kib", "0.25,4", "--clock-mhz", "1,50",
                 "-o", str(out), "--jobs", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "4 point(s), 2 built, 2 not built" in text
    rows = _rows(out / "sweep.csv")
    assert list(rows[0]) == SWEEP_COLUMNS
    assert len(rows) == 4 * 2                                  # every point at every clock
    bad = [r for r in rows if r["status"] != "ok"]
    assert {(r["lanes"], r["abuf_kib"]) for r in bad} == {("1", "0.25"), ("4", "0.25")}
    assert all(r["status"] == "does not fit" and "abuf" in r["message"] and r["cycles"] == "" for r in bad)
    # What the program needs is known where it does not fit too, and is what a built point needs.
    need = {r["lanes"]: int(r["abuf_need"]) for r in rows if r["status"] == "ok"}
    assert all(int(r["abuf_need"]) == need[r["lanes"]] > 256 for r in bad)
    assert all(int(r["imem_need"]) == int(r["code_bytes"]) for r in rows if r["status"] == "ok")
    assert "smallest buffers that fit:" in text
    assert f"   4 lanes: wbuf " in text and f"abuf {need['4'] / 1024:,.1f} KiB" in text
    ok = {(int(r["lanes"]), float(r["clock_mhz"])): r for r in rows if r["status"] == "ok"}
    for lanes in (1, 4):
        slow, fast = ok[(lanes, 1.0)], ok[(lanes, 50.0)]
        cycles = int(slow["cycles"])
        assert slow["cycles"] == fast["cycles"]                # the clock does not change the program
        assert int(slow["bound_cycles"]) == -(-int(slow["model_macs"]) // lanes)
        assert float(slow["bound_ratio"]) == pytest.approx(cycles / int(slow["bound_cycles"]), rel=1e-3)
        hop_us = 1e6 * 16 / 16000                                # the tiny model's hop: 16 samples at 16 kHz
        assert float(slow["hop_us"]) == pytest.approx(hop_us)
        assert float(fast["real_time_factor"]) == pytest.approx(cycles / (hop_us * 50), rel=1e-3)
        assert float(slow["min_clock_mhz"]) == pytest.approx(cycles / hop_us, rel=1e-3)
        config = NpuConfig(lanes=lanes, abuf_bytes=4096)
        assert float(slow["sram_mm2"]) == pytest.approx(sum(sram_area_um2(config).values()) * 1e-6, abs=1e-4)
        assert float(slow["logic_mm2"]) == pytest.approx(logic_ge_estimate(lanes) * NAND2_UM2 * 1e-6, abs=1e-4)
        assert float(slow["area_mm2"]) == pytest.approx(float(slow["logic_mm2"]) + float(slow["sram_mm2"]), abs=2e-4)
        sized = config.replace(**{f"{b}_bytes": max(32, -(-int(slow[f"{b}_need"]) // 32) * 32)
                                  for b in ("wbuf", "sbuf", "pbuf", "abuf", "imem")})
        assert float(slow["sized_mm2"]) == pytest.approx(
            float(slow["logic_mm2"]) + sum(sram_area_um2(sized).values()) * 1e-6, abs=2e-4)
        assert float(slow["sized_mm2"]) < float(slow["area_mm2"])
        # Power of real-time operation: (dynamic energy + leakage over a hop) / hop, whatever the clock.
        assert slow["power_mw"] == fast["power_mw"]
        assert float(slow["power_mw"]) == pytest.approx(
            (float(slow["energy_uj"]) + float(slow["leakage_uw"]) * 1e-6 * hop_us) / hop_us * 1e3, rel=1e-3)
        used = sum(int(slow[f"{b}_hwm"]) for b in ("wbuf", "abuf", "sbuf", "pbuf"))
        assert int(slow["pbuf_hwm"]) > 0                       # the parameter records count too
        assert int(slow["sram_bytes"]) == used + int(slow["code_bytes"]) + 2 * int(slow["lut_entries"])
    assert int(ok[(4, 1.0)]["cycles"]) < int(ok[(1, 1.0)]["cycles"])
    md = (out / "exploration.md").read_text()
    assert "**does not fit**" in md and "does not fit: the program needs abuf" in md
    assert "does not fit: model does not fit" not in md                 # said once
    assert "## Answers" in md and "Smallest area with RTF <= 1:" in md and "Lowest power with RTF <= 1:" in md
    real = [r for r in rows if r["status"] == "ok" and float(r["real_time_factor"]) <= 1]
    best = min(real, key=lambda r: (float(r["area_mm2"]), float(r["clock_mhz"])))
    assert f"Smallest area with RTF <= 1: {best['lanes']} lanes" in text and f"{float(best['clock_mhz']):g} MHz" in text
    for png in ("cycles_vs_lanes.png", "rtf_vs_clock.png", "memory_vs_lanes.png", "power_vs_area.png"):
        assert f"]({png})" in md and (out / png).read_bytes()[:4] == b"\x89PNG"


def test_parallel_workers_and_doc_block(tiny_model, tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\nintro\n\n<!-- BEGIN GENERATED: explore -->\nold\n<!-- END GENERATED: explore -->\n\nend\n")
    out = tmp_path / "img" / "exp"
    assert main(["explore", str(tiny_model), "--lanes", "2,8", "-o", str(out), "--jobs", "2", "--no-progress",
                 "--doc", str(doc), "--plot-format", "svg"]) == 0
    rows = _rows(out / "sweep.csv")
    assert [r["status"] for r in rows] == ["ok", "ok"] and [r["clock_mhz"] for r in rows] == ["200.0", "200.0"]
    text = doc.read_text()
    assert text.startswith("# Title\n\nintro\n") and text.endswith("end\n") and "old" not in text
    assert "](img/exp/cycles_vs_lanes.svg)" in text and (out / "cycles_vs_lanes.svg").exists()


def test_pareto_front():
    pts = [(1.0, 1.0), (2.0, 0.5), (2.0, 3.0), (3.0, 2.0), (4.0, 5.0)]
    assert pareto_front(pts) == [0, 1]        # smaller area and lower real-time factor


@pytest.mark.parametrize("args,words", [
    (["explore", "nowhere.yaml", "-o", "{out}"], "nowhere.yaml: no such model file"),
    (["explore", "{model}", "-o", "{out}", "--lanes", "3"], "lanes: must be one of"),
    (["explore", "{model}", "-o", "{out}", "--act-kib", "0.001"], "abuf_bytes: must be a multiple of 16"),
])
def test_errors_are_one_line(tiny_model, tmp_path, capsys, args, words):
    args = [a.format(model=tiny_model, out=tmp_path / "o") for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_cli_compiler_path(tiny_model, tmp_path, capsys):
    """--use-cli: every point through `python -m compiler ... -o` in a subprocess."""
    out = tmp_path / "cli"
    assert main(["explore", str(tiny_model), "--lanes", "4", "--act-kib", "0.25,4", "-o", str(out), "--jobs", "1",
                 "--no-progress", "--use-cli", "--timeout", "120"]) == 0
    rows = _rows(out / "sweep.csv")
    assert [r["status"] for r in rows] == ["does not fit", "ok"]
    assert "needs abuf" in rows[0]["message"] and not rows[0]["message"].startswith("error")
    assert int(rows[1]["cycles"]) > 0


def test_organisation_and_code_are_swept(tiny_model, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["explore", str(tiny_model), "--lanes", "4", "--org", "lane,row", "--code", "loops,unrolled",
                 "-o", str(out), "--jobs", "1", "--no-progress"]) == 0
    rows = _rows(out / "sweep.csv")
    assert sorted((r["org"], r["code"]) for r in rows) == [("lane", "loops"), ("lane", "unrolled"),
                                                            ("row", "loops"), ("row", "unrolled")]
    assert all(r["status"] == "ok" for r in rows)
    by = {(r["org"], r["code"]): r for r in rows}
    for org in ("lane", "row"):
        loops, flat = by[(org, "loops")], by[(org, "unrolled")]
        assert int(loops["code_bytes"]) < int(flat["code_bytes"])          # the loops fold the code
        assert int(flat["cycles"]) <= int(loops["cycles"])                 # and cost their issue cycles
    md = (out / "exploration.md").read_text()
    assert "| lanes | abuf KiB | memory | code | status |" in md
    assert (out / "cycles_vs_lanes.png").read_bytes()[:4] == b"\x89PNG"


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path):
    """A log (or CI) gets no carriage-return redraws: the bar switches itself off."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "npu_model", "explore", str(root / "models" / "trunet_paper.yaml"),
                        "--lanes", "16", "-o", str(tmp_path / "ex")], cwd=root, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "point/s" not in r.stderr


def test_activation_precision_is_swept(tiny_model, tmp_path, capsys):
    """--activations int8,int16: the model quantised once per precision; int16 activations need
    more abuf; the model file's own precision is the default (and the same cached point)."""
    out = tmp_path / "exp"
    assert main(["explore", str(tiny_model), "--lanes", "4", "--activations", "int8,int16", "-o", str(out),
                 "--jobs", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    rows = {r["activations"]: r for r in _rows(out / "sweep.csv")}
    assert set(rows) == {"int8", "int16"} and all(r["status"] == "ok" for r in rows.values())
    assert int(rows["int16"]["abuf_need"]) > int(rows["int8"]["abuf_need"])
    assert "4 lanes int16: wbuf" in text and "| activations |" in (out / "exploration.md").read_text()
    assert main(["explore", str(tiny_model), "--lanes", "4", "-o", str(out), "--jobs", "1", "--no-progress"]) == 0
    assert "(0 computed, 1 from the cache)" in capsys.readouterr().out           # the tiny model asks for int8
    assert _rows(out / "sweep.csv")[0]["activations"] == "int8"


def test_area_from_synthesis_failure_is_a_row(tiny_model, tmp_path, capsys, monkeypatch):
    """--area synth runs `python -m rtl synth` per point; a Yosys that cannot run makes the point an
    "error" row naming it, not a crash."""
    monkeypatch.setenv("YOSYS", "no-such-yosys")
    out = tmp_path / "exp"
    assert main(["explore", str(tiny_model), "--lanes", "4", "--area", "synth", "-o", str(out), "--jobs", "1",
                 "--no-progress", "--no-cache"]) == 0
    row = _rows(out / "sweep.csv")[0]
    assert row["status"] == "error" and row["area_mm2"] == ""
    assert row["message"] == "area: synthesis failed: error: YOSYS=no-such-yosys: no such command"
