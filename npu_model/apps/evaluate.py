"""`python -m npu_model evaluate MODEL --set DIR -o PREFIX`: speech quality through the NPU.

For every clip of an evaluation set (npu_model.apps.evalset) three signals go through the same
host pipeline (STFT, features, mask op, inverse STFT) and are scored against the clean speech:

    noisy   the input itself
    float   the float model (compiler.FloatModel): what the network computes
    npu     the golden model running the compiled program: exact integer arithmetic

MODEL is a model file, an ONNX graph (imported as `python -m compiler` does) or the name of a
trained network (`nsnet2`: compiler.trained); it is quantised and compiled for the configuration it
names beside itself (`<model>.npu.json`, for a trained network `models/<name>.npu.json`), --config
or the defaults, with --lanes. Clips run on every core (--jobs processes), and in each process in
groups of --streams clips whose frames go through the golden model in lockstep; a progress bar
follows them. Written (each atomically):

    PREFIX.csv           one row per clip: id, noise, snr_db, then <metric>_<signal> for every metric
    PREFIX.md            per input SNR and overall: the mean and 95 % interval of each metric and
                         signal, and of NPU minus float
    PREFIX.json          the same summary
    PREFIX.png           each metric against the input SNR for noisy, float and NPU, and NPU - float

With `--activations int8,int16` each precision is evaluated in turn (PREFIX-int8.*, PREFIX-int16.*)
and PREFIX-precisions.md sets each one's abuf bytes and cycles beside its distance from the float
model (TOLERANCE: 0.05 PESQ, 0.005 STOI, 0.3 dB SI-SDR per input SNR).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from compiler import FloatModel, companion_config, load_model, quantise_cached
from compiler.quant import QuantConfig
from compiler.cli import add_calibration_arguments, calibration_of
from compiler.quant.calibrate import with_audio
from compiler.trained import TRAINED, trained_onnx
from compiler.lower.network import compile_network

from ..arch.config import NpuConfig
from ..arch.errors import NpuError
from ..arch.files import check_output, write_bytes, write_text
from ..host import read_wav
from .arguments import bounded, precisions
from .enhance import HostSide, enhance_many, float_enhance
from .evalset import read_manifest
from .metrics import METRICS, missing, score
from .plots import quality_figure

__all__ = ["SIGNALS", "evaluate", "summarise", "add_arguments", "main_evaluate"]

SIGNALS = ("noisy", "float", "npu")
#: Clips a process runs through the golden model in lockstep (`enhance_many`): the batches'
#: fixed cost is shared; each stream holds a copy of the configuration's buffers (0.9 MB by default).
STREAMS = 8


class _Pipeline:
    """The compiled model and both enhancement paths for one process."""

    def __init__(self, model_path, config: NpuConfig, activations: str | None = None, calibration: tuple = (),
                 calibration_frames: int | None = None, weights=None):
        self.model = load_model(model_path, weights=weights)
        quant = with_audio(QuantConfig.from_spec(self.model.spec), calibration, calibration_frames)
        self.qnet = quantise_cached(self.model, replace(quant, activations=activations) if activations else quant)
        self.program, _, self.summary = compile_network(self.qnet, config, model=self.model, with_listing=False)
        self.host = HostSide.from_quantised(self.model, self.qnet, self.program, str(model_path))
        self.float = FloatModel(self.model)

    def float_path(self, x):
        return float_enhance(self.model, x, self.float)

    def npu_paths(self, xs):
        return [y for y, _ in enhance_many(self.program, self.host, xs, check_frames=0)]


_WORKER: dict = {}


def _init_worker(model_path, config_json, activations=None, calibration=(), calibration_frames=None, weights=None):
    _WORKER["pipe"] = _Pipeline(model_path, NpuConfig.from_json(config_json), activations, calibration,
                                calibration_frames, weights)


def _figures():
    """The compiled program's cost: peak abuf bytes and cycles per frame."""
    summary = _WORKER["pipe"].summary
    return {"abuf_bytes": summary.buffers["abuf"]["used"], "cycles": summary.cycles}


def _score_clips(args):
    """Rows of a group of clips, whose NPU paths run in lockstep (`enhance_many`)."""
    folder, rows = args
    pipe = _WORKER["pipe"]
    rate = pipe.model.spec.input.sample_rate
    clean = [read_wav(Path(folder) / "clean" / f"{row['id']}.wav", sample_rate=rate)[0] for row in rows]
    noisy = [read_wav(Path(folder) / "noisy" / f"{row['id']}.wav", sample_rate=rate)[0] for row in rows]
    out = []
    for row, c, x, y in zip(rows, clean, noisy, pipe.npu_paths(noisy)):
        r = {"id": row["id"], "noise": row["noise"], "snr_db": int(row["snr_db"])}
        for signal, s in (("noisy", x), ("float", pipe.float_path(x)), ("npu", y)):
            for metric, value in score(c, s, rate).items():
                r[f"{metric}_{signal}"] = value
        out.append(r)
    return out


def evaluate(model_path, folder, config: NpuConfig, *, limit: int | None = None, jobs: int = 1,
             streams: int = STREAMS, progress: bool = False, activations: str | None = None,
             calibration: tuple = (), calibration_frames: int | None = None,
             weights=None) -> tuple[list[dict], dict]:
    """(per-clip rows (see the module docstring) of the set in `folder`, the program's cost
    (`_figures`)); `activations` overrides the model's quantisation (int8 or int16 activations),
    `calibration` (wav paths) the audio its ranges are measured on (`calibration_frames` frames of it),
    `weights` an `.npz` used instead of the model file's weights. Each of `jobs` processes runs
    groups of up to `streams` clips through the golden model in lockstep (fewer when that leaves
    a process without work)."""
    rows = read_manifest(folder)[:limit]
    if not rows:
        raise NpuError(f"{folder}: the manifest lists no clips")
    size = max(1, min(streams, -(-len(rows) // max(jobs, 1))))
    work = [(str(folder), rows[i:i + size]) for i in range(0, len(rows), size)]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(rows), desc="evaluate", unit="clip", leave=False, disable=None)
    out = []
    if jobs <= 1:
        _init_worker(model_path, config.to_json(), activations, calibration, calibration_frames, weights)
        figures = _figures()
        for w in work:
            out += _score_clips(w)
            if bar is not None:
                bar.update(len(w[1]))
    else:
        with ProcessPoolExecutor(jobs, initializer=_init_worker,
                                 initargs=(str(model_path), config.to_json(), activations, calibration,
                                           calibration_frames, weights)) as ex:
            figures = ex.submit(_figures).result()
            for w, r in zip(work, ex.map(_score_clips, work)):
                out += r
                if bar is not None:
                    bar.update(len(w[1]))
    if bar is not None:
        bar.close()
    return out, figures


def _interval(values) -> tuple[float, float, int]:
    """(mean, half-width of the 95 % interval (normal approximation), count) of the finite values."""
    v = np.asarray([x for x in values if np.isfinite(x)], np.float64)
    if not len(v):
        return float("nan"), float("nan"), 0
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(half), len(v)


def summarise(rows: list[dict]) -> dict:
    """Mean and 95 % interval per SNR and overall: {snr or 'all': {metric: {signal or 'npu-float': ...}}}."""
    groups = {str(s): [r for r in rows if r["snr_db"] == s] for s in sorted({r["snr_db"] for r in rows})}
    groups["all"] = rows
    out = {}
    for key, members in groups.items():
        out[key] = {}
        for metric in METRICS:
            entry = {}
            for signal in SIGNALS:
                m, h, n = _interval(r[f"{metric}_{signal}"] for r in members)
                entry[signal] = {"mean": m, "ci95": h, "n": n}
            m, h, n = _interval(r[f"{metric}_npu"] - r[f"{metric}_float"] for r in members)
            entry["npu-float"] = {"mean": m, "ci95": h, "n": n}
            out[key][metric] = entry
    return out


def _markdown(summary: dict, title: str) -> str:
    lines = [f"# {title}", "",
             "Mean and 95 % interval per input SNR (dB) and over all clips; `npu - float` is the NPU's output "
             "minus the float model's, clip by clip.", ""]
    for metric in METRICS:
        lines += [f"## {metric}", "", "| SNR | clips | noisy | float | npu | npu - float |", "|---|---|---|---|---|---|"]
        for key, entry in summary.items():
            e = entry[metric]
            cells = [f"{e[s]['mean']:.3f}" + (f" ± {e[s]['ci95']:.3f}" if np.isfinite(e[s]["ci95"]) else "")
                     for s in (*SIGNALS, "npu-float")]
            lines.append(f"| {key} | {e['noisy']['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (YAML), ONNX graph, or the name of a trained network whose wheel "
                                 f"`make setup` fetched ({', '.join(TRAINED)}; its configuration: models/<name>.npu.json)")
    p.add_argument("--set", required=True, dest="folder", metavar="DIR",
                   help="evaluation set (python -m npu_model evalset -o DIR)")
    p.add_argument("-o", "--output", required=True, metavar="PREFIX",
                   help="write PREFIX.csv, PREFIX.md, PREFIX.json and PREFIX.png")
    p.add_argument("--lanes", type=int, help="MAC lanes (default: the model's configuration, else 8)")
    p.add_argument("--config", metavar="NPU.JSON", help="NPU configuration (default: <model>.npu.json beside "
                                                        "the model, else the defaults)")
    p.add_argument("--limit", type=bounded(int, 1, 1_000_000), metavar="N", help="only the first N clips")
    p.add_argument("--jobs", type=bounded(int, 1, 256), default=os.cpu_count() or 1, metavar="N",
                   help="processes (default: every core)")
    p.add_argument("--streams", type=bounded(int, 1, 256), default=STREAMS, metavar="N",
                   help=f"clips each process runs through the golden model in lockstep (default {STREAMS})")
    p.add_argument("--activations", type=precisions, metavar="LIST",
                   help="compare activation precisions, e.g. int8,int16: one evaluation each (PREFIX-int8.*, ...) and "
                        "PREFIX-precisions.md with each one's abuf bytes, cycles and distance from the float model")
    add_calibration_arguments(p, what="(e.g. the noisy clips of a set made with another seed) ")
    p.add_argument("--weights", metavar="NPZ", help="weights instead of the model file's (e.g. a checkpoint "
                                                   "written by `python -m training`: docs/training.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


#: NPU minus float, averaged per input SNR, that counts as following the float model (issue 14;
#: DNSMOS is reported beside, without a tolerance).
TOLERANCE = {"pesq": 0.05, "stoi": 0.005, "si_sdr": 0.3}


def _write(prefix: Path, rows: list[dict], title: str) -> dict:
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_text(prefix.with_name(prefix.name + ".csv"), text.getvalue())
    summary = summarise(rows)
    md = _markdown(summary, title)
    write_text(prefix.with_name(prefix.name + ".md"), md + "\n")
    write_text(prefix.with_name(prefix.name + ".json"), json.dumps({"title": title, "summary": summary}, indent=1) + "\n")
    write_bytes(prefix.with_name(prefix.name + ".png"), quality_figure(summary, SIGNALS, METRICS, title))
    print(md)
    return summary


def _precision_table(results: list, title: str) -> str:
    """Each activation precision's cost (abuf bytes, cycles) and its distance from the float model."""
    lines = [f"# {title}: activation precisions", "",
             "NPU minus float: the mean over all clips, and the largest mean of one input SNR (in absolute "
             f"value); within: every SNR's mean inside {', '.join(f'{k} {v}' for k, v in TOLERANCE.items())}.", "",
             "| activations | abuf bytes | cycles/frame | " + " | ".join(f"{m}: all / worst SNR" for m in METRICS)
             + " | within |", "|---|---|---|" + "---|" * (len(METRICS) + 1)]
    for act, cost, q in results:
        cells, ok = [], True
        for m in METRICS:
            per = [q[k][m]["npu-float"]["mean"] for k in q if k != "all"]
            worst = max(per, key=abs)
            ok &= m not in TOLERANCE or all(abs(v) <= TOLERANCE[m] for v in per)
            cells.append(f"{q['all'][m]['npu-float']['mean']:+.3f} / {worst:+.3f}")
        lines.append(f"| {act} | {cost['abuf_bytes']:,} | {cost['cycles']:,} | " + " | ".join(cells)
                     + f" | {'yes' if ok else 'no'} |")
    return "\n".join(lines)


def main_evaluate(args) -> int:
    prefix = Path(args.output)
    precisions = args.activations or [None]
    prefixes = [prefix if a is None else prefix.with_name(f"{prefix.name}-{a}") for a in precisions]
    for pfx in prefixes:
        for ext in (".csv", ".md", ".json", ".png"):
            check_output(pfx.with_name(pfx.name + ext))
    if args.activations:
        check_output(prefix.with_name(prefix.name + "-precisions.md"))
    need = missing()
    if need:
        raise NpuError(f"the metrics need {', '.join(need)} (pip install {' '.join(need)})")
    read_manifest(args.folder)
    calibration, calibration_frames = calibration_of(args)
    model_path, side = Path(args.model), Path(args.model)
    if args.model in TRAINED and not model_path.exists():        # a trained network by name: its cached wheel
        model_path = trained_onnx(args.model)
        side = Path(__file__).resolve().parents[2] / "models" / f"{args.model}.yaml"
    config = NpuConfig.load(args.config) if args.config else companion_config(side)
    if args.lanes is not None:
        config = config.replace(lanes=args.lanes)
    results = []
    for act, pfx in zip(precisions, prefixes):
        rows, cost = evaluate(model_path, Path(args.folder), config, limit=args.limit, jobs=args.jobs,
                              streams=args.streams,
                              progress=not args.no_progress, activations=act, calibration=calibration,
                              calibration_frames=calibration_frames, weights=args.weights)
        title = (f"{Path(args.model).name}{f' ({act} activations)' if act else ''} at {config.lanes} lanes on "
                 f"{Path(args.folder).name} ({len(rows)} clips)")
        summary = _write(pfx, rows, title)
        if act:
            results.append((act, cost, summary))
    written = [f"{p}.{{csv,md,json,png}}" for p in prefixes]
    if results:
        table = _precision_table(results, f"{Path(args.model).name} at {config.lanes} lanes")
        write_text(prefix.with_name(prefix.name + "-precisions.md"), table + "\n")
        print(table)
        written.append(f"{prefix}-precisions.md")
    print(f"wrote {', '.join(written)}")
    return 0
