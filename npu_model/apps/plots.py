"""Matplotlib figures of the reports (`report`) and of the exploration (`explore`), as PNG bytes.

Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot, no GUI backend, no global
state), so this works the same in worker processes, in tests and on a headless machine.
"""
from __future__ import annotations

import io

import numpy as np

from ..host import stft_frames

__all__ = ["report_plots", "explore_plots", "quality_figure", "spectrogram_figure", "png"]

_BUF_COLOURS = {"wbuf": "tab:blue", "abuf": "tab:orange", "sbuf": "tab:green", "pbuf": "tab:purple", "code": "tab:gray"}


def _figure(w, h):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _legend(ax, **kw):
    """A legend only when something is labelled (an empty legend is a matplotlib warning)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kw)


def png(fig, fmt="png") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buf.getvalue()


# Report ---------------------------------------------------------------------------------------------
def report_plots(rep) -> dict:
    """{title: (file name, PNG bytes)} for cycles per layer, utilisation per layer, memory over the frame."""
    rows = rep.rows
    s = rep.summary
    lanes = s.config.lanes
    names = [r["layer"] for r in rows]
    y = np.arange(len(rows))
    h = max(2.5, 0.22 * len(rows) + 1.2)
    out = {}

    fig = _figure(8, h)
    ax = fig.add_subplot()
    busy = np.array([r["cycles"] - r["stall_cycles"] for r in rows])
    stall = np.array([r["stall_cycles"] for r in rows])
    bound = np.array([np.ceil(r["macs"] / lanes) for r in rows])
    ax.barh(y, busy, color="tab:blue", label="issuing (occupancy)")
    ax.barh(y, stall, left=busy, color="tab:red", label="stalled (hazards, fences)")
    ax.scatter(bound, y, marker="|", s=120, color="black", zorder=3, label="bound: MACs / lanes")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("cycles per frame")
    rt = s.real_time
    budget = rt.hop_us * rt.clock_mhz if rt.hop_us else None
    if budget:
        # The frame budget: the cycles of one hop at the clock; a layer's share of what real time allows.
        top = ax.secondary_xaxis("top", functions=(lambda c: 100.0 * c / budget, lambda p: p * budget / 100.0))
        top.set_xlabel(f"% of the frame budget ({budget:,.0f} cycles: one {rt.hop_us:,.0f} us hop at "
                       f"{rt.clock_mhz:g} MHz)", fontsize=8)
        ax.set_title(f"Cycles per layer ({lanes} lanes; the frame takes {100 * s.frame.cycles / budget:.0f} % "
                     "of its budget)")
    else:
        ax.set_title(f"Cycles per layer ({lanes} lanes, {s.frame.cycles:,} cycles per frame)")
    _legend(ax, fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    out["Cycles per layer"] = ("cycles_per_layer.png", png(fig))

    fig = _figure(8, h)
    ax = fig.add_subplot()
    util = [r["utilisation_pct"] for r in rows]
    ax.barh(y, util, color="tab:purple")
    ax.axvline(s.frame.utilisation_pct, color="black", ls="--", lw=1,
               label=f"frame: {s.frame.utilisation_pct:.1f} %")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("MAC utilisation, % of lanes x cycles")
    ax.set_title("MAC utilisation per layer")
    _legend(ax, fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    out["MAC utilisation per layer"] = ("utilisation_per_layer.png", png(fig))

    fig = _figure(8, 6.5)
    axes = fig.subplots(3, 1, sharex=True)
    cycles = s.frame.cycles
    for ax, name in zip(axes, ("wbuf", "abuf", "sbuf")):
        t, live = rep.timeline[name]
        m = s.memory[name]
        ax.step(t, np.asarray(live) / 1024, where="post", color=_BUF_COLOURS[name], label="live bytes")
        ax.axhline(m.hwm_bytes / 1024, color="black", ls="--", lw=1, label=f"high-water mark {m.hwm_bytes / 1024:,.1f} KiB")
        ax.set_ylabel(f"{name}, KiB")
        ax.set_ylim(0, max(m.hwm_bytes, int(np.max(live)) if len(live) else 0, 1) / 1024 * 1.15)
        _legend(ax, fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    spans = [(r["start_cycle"], r["cycles"], r["layer"]) for r in rows if r["start_cycle"] != "" and r["cycles"]]
    for start, _, _ in spans:
        for ax in axes:
            ax.axvline(start, color="gray", lw=0.3, alpha=0.5)
    axes[-1].set_xlim(0, cycles)
    axes[-1].set_xlabel("cycle of the frame (thin lines: layer starts)")
    # The layers by name under the time axis, at their middles (the longest ones when they crowd).
    room = 60
    named = sorted(sorted(spans, key=lambda x: -x[1])[:room])
    names_ax = axes[0].secondary_xaxis("top")
    names_ax.set_xticks([start + length / 2 for start, length, _ in named], [n for _, _, n in named], rotation=90,
                        fontsize=5)
    axes[0].set_title("Memory per buffer over the frame (layers by name above)")
    out["Memory per buffer over the frame"] = ("memory_over_frame.png", png(fig))
    return out


# Exploration ----------------------------------------------------------------------------------------
def pareto_front(points):
    """Indices of the points not dominated in (smaller x, smaller y), sorted by x: the designs for
    which no other is both smaller and faster (a lower real-time factor)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], np.inf
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def explore_plots(rows: list, clocks: list, fmt: str = "png", *, series: dict | None = None) -> dict:
    """{title: (file name, bytes)} from the sweep's rows (`explore.SweepPoint`s, status 'ok' only).

    series: the configuration columns the sweep varies besides the lanes, column -> its label
    ({"abuf_kib": "abuf KiB", "org": "memory"}): one curve per combination of their values.
    Default: abuf only."""
    series = series or {"abuf_kib": "abuf KiB"}
    ok = [r for r in rows if r.status == "ok"]
    out = {}
    if not ok:
        return out
    ext = fmt
    clock0 = clocks[0]

    def config_of(r):
        return tuple(getattr(r, d) for d in series)

    def label_of(config):
        return ", ".join(f"{head} {v if isinstance(v, str) else f'{v:g}'}" for head, v in zip(series.values(), config))

    def lanes_label(r):
        """`8 lanes`, and the point's configuration when the sweep has several."""
        return f"{r.lanes} lanes" + (f" ({label_of(config_of(r))})" if len(configs) > 1 else "")

    # One row per compiled point: the first clock's rows carry everything that does not depend on it.
    points = []
    seen = set()
    for r in ok:
        if r.clock_mhz == clock0 and (r.lanes,) + config_of(r) not in seen:
            seen.add((r.lanes,) + config_of(r))
            points.append(r)
    configs = sorted({config_of(r) for r in points}, key=lambda c: tuple(str(v) for v in c))
    lanes_all = sorted({r.lanes for r in points})
    # Per lane count, one point for the per-lane plots: the fastest, then the least SRAM.
    per_lanes = {}
    for r in sorted(points, key=lambda r: (-r.cycles, -r.sram_bytes)):
        per_lanes[r.lanes] = r
    per_lanes = [per_lanes[l] for l in lanes_all]

    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    for config in configs:
        pts = sorted((r for r in points if config_of(r) == config), key=lambda r: r.lanes)
        ax.plot([r.lanes for r in pts], [r.cycles for r in pts], "o-",
                label=f"compiled, {label_of(config)}" if len(configs) > 1 else "compiled program")
    for r in per_lanes:
        if r.bound_ratio is not None:
            ax.annotate(f"{float(r.bound_ratio):.3f}x bound", (r.lanes, r.cycles), fontsize=7,
                        xytext=(6, 4), textcoords="offset points")
    bound = {}
    for r in points:
        bound[r.lanes] = r.bound_cycles
    ax.plot(lanes_all, [bound[l] for l in lanes_all], "k--", label="bound: MACs / lanes")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(lanes_all, [str(l) for l in lanes_all])
    ax.set_xlabel("MAC lanes")
    ax.set_ylabel("cycles per frame")
    ax.set_title("Cycles per frame against lanes")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, fontsize=8)
    out["Cycles per frame against lanes"] = (f"cycles_vs_lanes.{ext}", png(fig, fmt))

    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    swept = sorted(clocks)
    for r in per_lanes:
        if r.hop_us is None:
            continue
        ax.plot(swept, [r.cycles / (float(r.hop_us) * c) for c in swept], "o-", label=lanes_label(r), ms=4)
    ax.axhline(1.0, color="black", ls="--", lw=1, label="real time")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("clock, MHz")
    ax.set_ylabel("real-time factor (frame time / hop time)")
    ax.set_title("Real-time factor against clock (swept clocks)")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, fontsize=8)
    out["Real-time factor against clock"] = (f"rtf_vs_clock.{ext}", png(fig, fmt))

    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    pts = per_lanes
    x = np.arange(len(pts))
    keys = [("wbuf_hwm", "wbuf"), ("abuf_hwm", "abuf"), ("sbuf_hwm", "sbuf"), ("pbuf_hwm", "pbuf"),
            ("code_bytes", "code")]
    w = 0.8 / len(keys)
    capacity = {"wbuf": "wbuf_kib", "abuf": "abuf_kib", "sbuf": "sbuf_kib", "code": "imem_kib"}
    for i, (k, label) in enumerate(keys):
        xs = x + (i - (len(keys) - 1) / 2) * w
        ax.bar(xs, [getattr(r, k) / 1024 for r in pts], w, label=label, color=_BUF_COLOURS[label])
        if label in capacity:
            ax.hlines([getattr(r, capacity[label]) for r in pts], xs - w / 2, xs + w / 2, colors="black", lw=1.2,
                      label="configured capacity" if i == 0 else None)
    ax.set_xticks(x, [f"{r.lanes}" for r in pts])
    ax.set_xlabel("MAC lanes")
    ax.set_ylabel("KiB (high-water mark; code: instruction bytes)")
    ax.set_title("Memory per frame per buffer" + (" (each lane count's fastest point)" if len(configs) > 1 else ""))
    ax.grid(axis="y", alpha=0.3, which="both")
    _legend(ax, fontsize=8)
    out["Memory per frame per buffer"] = (f"memory_vs_lanes.{ext}", png(fig, fmt))

    # Power against area: every design point (power does not depend on the clock at one supply),
    # filled where some swept clock runs it in real time, with the real-time Pareto front.
    design = [r for r in points if r.power_mw is not None and r.area_mm2 is not None]
    if len({(r.area_mm2, r.power_mw) for r in design}) > 1:
        fig = _figure(6.5, 4.2)
        ax = fig.add_subplot()
        slowest = {}
        for r in ok:
            if r.real_time == "yes":
                key = (r.lanes,) + config_of(r)
                slowest[key] = min(slowest.get(key, r.clock_mhz), r.clock_mhz)
        live = [r for r in design if (r.lanes,) + config_of(r) in slowest]
        dead = [r for r in design if (r.lanes,) + config_of(r) not in slowest]
        if dead:
            ax.scatter([r.area_mm2 for r in dead], [r.power_mw for r in dead], s=22, facecolors="none",
                       edgecolors="0.5", label="not real time at any swept clock")
        if live:
            ax.scatter([r.area_mm2 for r in live], [r.power_mw for r in live], s=22, color="C0",
                       label="real time (label: lowest swept real-time clock)")
            xy = [(r.area_mm2, r.power_mw) for r in live]
            front = pareto_front(xy)
            ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "-", color="C3", label="real-time Pareto front")
        for r in design:
            key = (r.lanes,) + config_of(r)
            names = [v if isinstance(v, str) else f"{v:g}" for v in config_of(r)] if len(configs) > 1 else []
            clock = f" @{slowest[key]:g} MHz" if key in slowest else ""
            ax.annotate(" ".join([f"{r.lanes}L"] + names) + clock, (r.area_mm2, r.power_mw), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("area, mm² (45 nm: logic + SRAM macros)")
        ax.set_ylabel("power in real time, mW")
        ax.set_title("Power against area")
        ax.grid(alpha=0.3)
        _legend(ax, fontsize=8)
        out["Power against area"] = (f"power_vs_area.{ext}", png(fig, fmt))
    return out


# Speech quality ---------------------------------------------------------------------------------------
def quality_figure(summary: dict, signals, metrics, title: str) -> bytes:
    """Each metric against the input SNR for every signal (top row) and the NPU's difference from
    the float model (bottom row), with 95 % intervals (npu_model.apps.evaluate)."""
    snrs = [k for k in summary if k != "all"]
    x = [float(s) for s in snrs]
    fig = _figure(4.2 * len(metrics), 6.4)
    axes = fig.subplots(2, len(metrics), squeeze=False)
    for j, metric in enumerate(metrics):
        ax = axes[0][j]
        for signal in signals:
            ax.errorbar(x, [summary[s][metric][signal]["mean"] for s in snrs],
                        yerr=[summary[s][metric][signal]["ci95"] for s in snrs], marker="o", capsize=3, label=signal)
        ax.set_title(metric)
        ax.set_xlabel("input SNR (dB)")
        _legend(ax)
        ax = axes[1][j]
        ax.errorbar(x, [summary[s][metric]["npu-float"]["mean"] for s in snrs],
                    yerr=[summary[s][metric]["npu-float"]["ci95"] for s in snrs], marker="o", capsize=3, color="C2")
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_title(f"{metric}: npu - float")
        ax.set_xlabel("input SNR (dB)")
    fig.suptitle(title)
    return png(fig)


def spectrogram_figure(signals: dict, rate: int, title: str) -> bytes:
    """Log-magnitude spectrograms of `signals` ({name: samples}) one above the other, one colour
    scale (dB re the loudest bin of all), time and frequency axes in s and kHz."""
    n, hop = 512, 128
    specs = {}
    for name, x in signals.items():
        x = np.pad(np.asarray(x, np.float64), (0, max(0, n - len(x))))
        specs[name] = 20 * np.log10(np.abs(stft_frames(x, n, hop, n // 2 + 1)).T + 1e-9)
    top = max(s.max() for s in specs.values())
    fig = _figure(8, 2.2 * len(specs))
    axes = fig.subplots(len(specs), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, s) in zip(axes, specs.items()):
        im = ax.imshow(s - top, origin="lower", aspect="auto", vmin=-80, vmax=0, cmap="magma",
                       extent=(0, s.shape[1] * hop / rate, 0, rate / 2000))
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(im, ax=list(axes), label="dB")
    fig.suptitle(title, fontsize=10)
    return png(fig)
