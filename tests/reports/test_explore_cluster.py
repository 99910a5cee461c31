"""`explore` on Dask and with its point cache: a sweep on a distributed cluster of two workers
gives the rows a run in one process gives, and a rerun or an extended sweep computes only new points."""
from __future__ import annotations

import csv
import dataclasses
import logging

import pytest

from npu_model.apps.cli import main
from npu_model.apps.explore import MEASURED, sweep
from npu_model.arch.config import NpuConfig


def _design(rows):
    """The rows without the fields that measure the machine (compile and simulation times)."""
    return [{k: v for k, v in dataclasses.asdict(r).items() if k not in MEASURED} for r in rows]


def test_distributed_cluster_gives_the_local_rows(tiny_model, tmp_path):
    from distributed import LocalCluster

    configs = [NpuConfig(lanes=lanes, abuf_bytes=abuf) for lanes in (1, 4) for abuf in (256, 4096)]
    clocks = [10.0, 50.0]
    local = sweep(tiny_model, configs, clocks, jobs=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        remote = sweep(tiny_model, configs, clocks, scheduler=cluster.scheduler_address, progress=False)
    assert remote.computed == local.computed == 4 and remote.cached == 0
    assert [r.status for r in local.rows].count("does not fit") == 4           # abuf 256 B, both clocks
    assert _design(remote.rows) == _design(local.rows)


def _rows(path):
    return list(csv.DictReader(path.read_text().splitlines()))


def _explore(model, out, capsys, *extra):
    assert main(["explore", str(model), "-o", str(out), "--jobs", "1", "--no-progress", *extra]) == 0
    return capsys.readouterr().out


def test_rerun_and_extended_sweep_compute_only_new_points(tiny_model, tmp_path, capsys):
    model = tmp_path / "tiny.yaml"
    model.write_text(tiny_model.read_text())
    out = tmp_path / "exp"
    text = _explore(model, out, capsys, "--lanes", "1,4")
    assert "(2 computed, 0 from the cache)" in text
    first = _rows(out / "sweep.csv")
    assert len(list((out / "cache").glob("*.json"))) == 2
    text = _explore(model, out, capsys, "--lanes", "1,4")
    assert "(0 computed, 2 from the cache)" in text
    assert _rows(out / "sweep.csv") == first                   # the cache holds the whole point
    text = _explore(model, out, capsys, "--lanes", "1,4,8")
    assert "(1 computed, 2 from the cache)" in text
    assert _rows(out / "sweep.csv")[:2] == first
    # Another clock is not another point; another configuration field, or a changed model, is.
    assert "(0 computed, 3 from the cache)" in _explore(model, out, capsys, "--lanes", "1,4,8", "--clock-mhz", "7")
    assert "(1 computed, 0 from the cache)" in _explore(model, out, capsys, "--lanes", "4", "--org", "row")
    model.write_text(model.read_text() + "\n# edited\n")
    assert "(1 computed, 0 from the cache)" in _explore(model, out, capsys, "--lanes", "4")
    assert "(1 computed, 0 from the cache)" in _explore(model, out, capsys, "--lanes", "4", "--no-cache")


def test_a_scheduler_that_cannot_be_reached_is_one_line(tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("npu_model.apps.cluster.CONNECT_TIMEOUT_S", 1)
    assert main(["explore", str(tiny_model), "-o", str(tmp_path / "o"), "--lanes", "4", "--no-progress",
                 "--no-cache", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1:9: cannot reach the Dask scheduler" in err and err.count("\n") == 1
