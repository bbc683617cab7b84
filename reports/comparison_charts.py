"""Charts of a comparison (PNG and SVG): latency CDFs, percentile bars, time series per variant,
curves over a numeric sweep with confidence bands, and a heatmap for two numeric axes.

Colours are Okabe-Ito and every series also differs by line style or marker, so the charts read
in greyscale print and for colour-blind readers.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from simulator.study.comparison import QUANTILES, Comparison, mean_curve, metric_info
from simulator.statistics.inference import mean_interval

from .charts import PALETTE, dress_cdf, literal_text, log_scalable, plt, shade_faults
from .timeline import in_window, legend_beside, plain_ms_axis, plain_number

STYLES = ["-", "--", "-.", ":"]
LOG_BARS_RATIO = 100.0  # percentile bars get a log axis when the largest is this many times the smallest
MARKERS = "osD^v<>pXh*"


def _style(i: int, points: int = 0) -> dict[str, Any]:
    """Colour, line style and marker of series i (markers every tenth point of a long series)."""
    return {"color": PALETTE[i % len(PALETTE)], "ls": STYLES[(i // len(PALETTE) + i) % len(STYLES)],
            "marker": MARKERS[i % len(MARKERS)], "markevery": max(1, points // 10), "markersize": 4}


def _plot(ax: Any, x: Any, y: Any, i: int, label: str, scale: float = 1.0) -> None:
    """One series, unless it has nothing to show (no successful request in any replication)."""
    y = np.asarray(y, dtype=float)
    if y.size and np.isfinite(y).any():
        ax.plot(np.asarray(x)[: y.size], y * scale, label=label, **_style(i, y.size))


def save_chart(fig: Any, out: Path, stem: str) -> list[Path]:
    """Write a comparison chart as STEM.png and STEM.svg in `out` and close it."""
    fig.tight_layout()
    paths = []
    for ext in ("png", "svg"):
        p = out / f"{stem}.{ext}"
        # bbox "tight" keeps a legend placed beside the plot; no date, so the same input gives the same file
        fig.savefig(p, dpi=110, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths.append(p)
    plt.close(fig)
    return paths


def _records(study: Comparison, v: int) -> list[dict[str, Any]]:
    return [study.records[(v, r)] for r in range(study.replications) if (v, r) in study.records]


def _legend(ax: Any, n: int, beside: bool = True) -> None:
    """Beside the plot, where it hides no line (nothing drawn, no successful request anywhere: none).
    Panels side by side have no room beside them: there, where matplotlib finds the least overlap."""
    if beside:
        legend_beside(ax, ncol=2 if n > 16 else 1)
    elif ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")


def axis_names(study: Comparison) -> str:
    """The varied settings' short names (`algorithm`, `algorithm, rate`): said once in a title."""
    return ", ".join(a.path.rsplit(".", 1)[-1] for a in study.axes)


def labels(study: Comparison) -> dict[int, str]:
    """Each variant's label on a chart: its values only (`least_connections, 200/s`), without the
    `algorithm=` the table repeats on every row; the title names the settings once (`axis_names`)."""
    if len(study.axes) < 2:
        return {v.index: v.label for v in study.variants}
    return {v.index: ", ".join(a.show(c) for a, c in zip(study.axes, v.coords)) for v in study.variants}


def _per(study: Comparison) -> str:
    names = axis_names(study)
    return f"per {names}" if names else "per variant"


def latency_cdf(study: Comparison, out: Path) -> list[Path]:
    """The CDF per variant and, beside it, its tail (1 - F on a log axis): variants that differ only in
    the last percents look the same on a CDF and apart on the tail."""
    wide = len(study.variants) > 6
    fig, (ax, ax_tail) = plt.subplots(1, 2, figsize=(13 + (3 if wide else 0), 4.6))
    names = labels(study)
    for var in study.variants:
        q = mean_curve([r["latency_quantiles_s"] for r in _records(study, var.index)])
        if q.size and np.isfinite(q).any():
            ax.plot(q * 1000.0, QUANTILES[: q.size], label=names[var.index], **_style(var.index, q.size))
            tail = 1.0 - QUANTILES[: q.size]
            keep = tail > 0  # the maximum (F = 1) has no place on a log axis
            ax_tail.plot(q[keep] * 1000.0, tail[keep], label=names[var.index], **_style(var.index, int(keep.sum())))
    dress_cdf(ax, f"latency CDF {_per(study)}")
    dress_cdf(ax_tail, "tail: fraction slower than x (1 - F, log)")
    if log_scalable(ax_tail, "y"):
        ax_tail.set_yscale("log")
        ax_tail.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: plain_number(v)))  # 0.01, not 10^-2
        ax_tail.yaxis.set_minor_formatter(NullFormatter())
    ax_tail.set_ylabel("fraction of successful requests slower (log)")
    fig.suptitle(f"{study.scenario_name}: latency {_per(study)} (quantiles averaged over replications)")
    _legend(ax_tail, len(study.variants))
    return save_chart(fig, out, "compare_latency_cdf")


def percentile_bars(study: Comparison, out: Path) -> list[Path]:
    metrics = [("latency_p50_s", "p50"), ("latency_p90_s", "p90"), ("latency_p99_s", "p99")]
    tab = study.table
    n = len(study.variants)
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * n + 3), 4.6))
    width = 0.8 / len(metrics)
    x = np.arange(n)
    hatches = ["", "//", ".."]
    drawn = []
    for j, (m, label) in enumerate(metrics):
        means = tab[m].to_numpy(dtype=float) * 1000.0
        err = np.nan_to_num(tab[f"{m}_ci"].to_numpy(dtype=float) * 1000.0)
        ax.bar(x + (j - 1) * width, means, width, yerr=err, capsize=3, color=PALETTE[j], hatch=hatches[j],
               edgecolor="black", linewidth=0.5, label=label)
        drawn.append(means)
    names = labels(study)
    ax.set_xticks(x, [names[v.index] for v in study.variants], rotation=20 if n > 3 else 0,
                  ha="right" if n > 3 else "center")
    values = np.concatenate(drawn)
    values = values[np.isfinite(values) & (values > 0)]
    # When variants differ by orders of magnitude (one overloaded), a linear axis flattens the rest.
    log = values.size > 1 and values.max() / values.min() > LOG_BARS_RATIO
    if log:
        ax.set_yscale("log")
        plain_ms_axis(ax, "y")
    ax.set_ylabel("latency (ms, log scale)" if log else "latency (ms)")
    ax.set_title(f"{study.scenario_name}: latency percentiles {_per(study)} (error bars: 95% CI)")
    ax.grid(True, axis="y", alpha=0.3)
    _legend(ax, len(metrics))
    return save_chart(fig, out, "compare_percentiles")


def time_series(study: Comparison, out: Path) -> list[Path]:
    """Throughput, failed share and p99 over time per variant, with the faults and instant events of
    the first replication that has them (numbered, described in the legend)."""
    wide = len(study.variants) > 6
    fig, (ax1, ax_err, ax2) = plt.subplots(3, 1, figsize=(11 + (3 if wide else 0), 8), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 2, 3]})
    faults: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    names = labels(study)
    t_lo, t_hi = math.inf, -math.inf
    for var in study.variants:
        recs = [r for r in _records(study, var.index) if r["timeseries"]]
        if not recs:
            continue
        faults = faults or recs[0]["faults"]
        events = events or recs[0].get("events", [])  # records cached before events were kept have none
        keys = ("throughput_rps", "latency_p99_s") + (("error_rate",) if "error_rate" in recs[0]["timeseries"] else ())
        t, series = aligned_means(recs, keys)
        if t.size:
            t_lo, t_hi = min(t_lo, recs[0]["warmup_s"]), max(t_hi, float(t[-1]))
        _plot(ax1, t, series[0], var.index, names[var.index])
        _plot(ax2, t, series[1], var.index, names[var.index], 1000.0)
        if len(series) > 2:
            _plot(ax_err, t, series[2], var.index, names[var.index], 100.0)
    events = in_window(events, t_lo, t_hi)
    for ax in (ax1, ax_err, ax2):
        shade_faults(ax, faults, events, legend=ax is ax1)
        ax.grid(True, alpha=0.3)
    ax_err.set_ylim(0.0, max(ax_err.get_ylim()[1], 1.0))  # no failure: a flat line at 0, not noise around it
    ax1.set_ylabel("throughput (requests/s)")
    ax_err.set_ylabel("failed (% of finished)")
    ax2.set_ylabel("p99 latency (ms, successful)")
    ax2.set_xlabel("simulated time (s)")
    ax1.set_title(f"{study.scenario_name}: throughput, failures and p99 over time {_per(study)} (mean of replications)")
    _legend(ax1, len(study.variants) + len(faults) + len(events))
    return save_chart(fig, out, "compare_timeseries")


def aligned_means(recs: list[dict[str, Any]], keys: tuple[str, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per-bucket means over replications, on the buckets of the replication whose measurement
    starts last. Replications can have different buckets (with `warmup: auto` each chooses its own
    warm-up), so each value is taken from the bucket of that replication covering the same time."""
    grid_rec = max(recs, key=lambda r: (r["timeseries"]["end_s"] or [0.0])[0])
    t = np.asarray(grid_rec["timeseries"]["end_s"], dtype=float)
    means = []
    for key in keys:
        rows = []
        for r in recs:
            edges = np.asarray(r["timeseries"]["end_s"], dtype=float)
            values = np.asarray([math.nan if v is None else v for v in r["timeseries"][key]], dtype=float)
            idx = np.searchsorted(edges, t - 1e-9 * max(1.0, float(t[-1]) if t.size else 1.0), side="left")
            rows.append(np.where(idx < edges.size, values[np.minimum(idx, edges.size - 1)], math.nan).tolist())
        means.append(mean_curve(rows))
    return t, means


def _knee(x: np.ndarray, p99: np.ndarray) -> int | None:
    """The first point whose p99 exceeds twice the p99 at the lowest value of the axis."""
    finite = np.isfinite(p99)
    if finite.sum() < 3:
        return None
    base = p99[finite][0]
    over = np.nonzero(finite & (p99 > 2.0 * base))[0]
    return int(over[0]) if over.size else None


def sweep_curves(study: Comparison, out: Path) -> list[Path]:
    numeric = [i for i, a in enumerate(study.axes) if a.numeric]
    if len(numeric) != 1 or len(study.axes) > 2:
        return []
    k = numeric[0]
    axis = study.axes[k]
    other = next((i for i in range(len(study.axes)) if i != k), None)
    groups: dict[Any, list] = {}
    for var in study.variants:
        key = var.coords[other] if other is not None else None
        groups.setdefault(key, []).append(var)
    extra = study.extra_metrics[:3]  # component figures asked for get a panel each
    rows = 1 if not extra else 2
    fig, grid_axes = plt.subplots(rows, 3, figsize=(15, 4.6 * rows), squeeze=False)
    axes = list(grid_axes.flat)[: 3 + len(extra)]
    for unused in list(grid_axes.flat)[3 + len(extra):]:
        unused.set_visible(False)
    ax_lat, ax_thr, ax_err = axes[:3]
    scales = {"ms": 1000.0, "%": 100.0}
    for g, (key, members) in enumerate(groups.items()):
        members.sort(key=lambda v: v.coords[k])
        x = np.array([axis.numbers[v.coords[k]] for v in members])
        name = "" if key is None else f"{study.axes[other].show(key)} "  # the key is said once, in the title
        style = _style(g, len(members))
        for metric, label, ls in (("latency_p50_s", "p50", ":"), ("latency_p99_s", "p99", "-")):
            ivs = [mean_interval(study.values(v.index, metric)) for v in members]
            y = np.array([iv.mean for iv in ivs]) * 1000.0
            h = np.nan_to_num(np.array([iv.half_width for iv in ivs]) * 1000.0)
            ax_lat.plot(x, y, color=style["color"], ls=ls, marker=style["marker"], label=f"{name}{label}")
            ax_lat.fill_between(x, y - h, y + h, color=style["color"], alpha=0.15, lw=0)
            if metric == "latency_p99_s":
                knee = _knee(x, y)
                if knee is not None:
                    ax_lat.axvline(x[knee], color=style["color"], ls="--", lw=1, alpha=0.7)
                    ax_lat.annotate("knee", (x[knee], y[knee]), textcoords="offset points", xytext=(4, 4),
                                    fontsize="small", color=style["color"])
        panels = [(ax_thr, "throughput_rps", 1.0), (ax_err, "error_rate", 100.0)]
        panels += [(ax, m, scales.get(metric_info(m)[0], 1.0)) for ax, m in zip(axes[3:], extra)]
        for ax, metric, scale in panels:
            ivs = [mean_interval(study.values(v.index, metric)) for v in members]
            y = np.array([iv.mean for iv in ivs]) * scale
            h = np.nan_to_num(np.array([iv.half_width for iv in ivs]) * scale)
            ax.plot(x, y, label=(name or "mean").strip(), **{**style, "markevery": 1})  # few points: mark all
            ax.fill_between(x, y - h, y + h, color=style["color"], alpha=0.15, lw=0)
    if axis.kind == "rate":
        lo, hi = min(axis.numbers), max(axis.numbers)
        ax_thr.plot([lo, hi], [lo, hi], color="#777777", ls=(0, (1, 2)), label="throughput = offered")
    if log_scalable(ax_lat, "y"):
        ax_lat.set_yscale("log")
        plain_ms_axis(ax_lat, "y")
    ax_lat.set_ylabel("latency (ms, log scale)")
    ax_lat.set_title("latency percentiles (band: 95% CI)")
    ax_thr.set_ylabel("throughput (requests/s)")
    ax_thr.set_title("throughput" + (" vs offered load" if axis.kind == "rate" else ""))
    # Error rates are never negative (a band can dip below 0): the axis starts at 0 and shows at least 1%,
    # so a run without errors reads as a flat line at 0 rather than as noise around it.
    ax_err.set_ylim(0.0, max(ax_err.get_ylim()[1], 1.0))
    ax_err.set_ylabel("error rate (%)")
    ax_err.set_title("error rate (failed / finished)")
    for ax, m in zip(axes[3:], extra):
        unit = metric_info(m)[0]
        ax.set_ylabel(f"{m} ({unit})" if unit else m)
        ax.set_title(f"{m} (band: 95% CI)")
    for ax in axes:
        ax.set_xlabel(axis.label)
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, 5, beside=False)
    per = f", one curve per {study.axes[other].path.rsplit('.', 1)[-1]}" if other is not None else ""
    fig.suptitle(f"{study.scenario_name}: sweep over {axis.path}{per}")
    return save_chart(fig, out, "compare_sweep")


def heatmap(study: Comparison, out: Path, metric: str = "latency_p99_s") -> list[Path]:
    if len(study.axes) != 2 or not all(a.numeric for a in study.axes):
        return []
    ax_x, ax_y = study.axes
    grid = np.full((len(ax_y.values), len(ax_x.values)), np.nan)
    for var in study.variants:
        grid[var.coords[1], var.coords[0]] = mean_interval(study.values(var.index, metric)).mean * 1000.0
    fig, ax = plt.subplots(figsize=(1.1 * len(ax_x.values) + 3, 0.6 * len(ax_y.values) + 2.5))
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(ax_x.values)), [str(v) for v in ax_x.values], rotation=30)
    ax.set_yticks(range(len(ax_y.values)), [str(v) for v in ax_y.values])
    ax.set_xlabel(ax_x.label)
    ax.set_ylabel(ax_y.label)
    for (i, j), value in np.ndenumerate(grid):
        if math.isfinite(value):
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize="x-small",
                    color="white" if value < np.nanmean(grid) else "black")
    fig.colorbar(im, ax=ax, label=f"{metric.removesuffix('_s').replace('latency_', '')} latency (ms)")
    ax.set_title(f"{study.scenario_name}: mean {metric.removesuffix('_s').replace('latency_', '')} latency (ms)")
    return save_chart(fig, out, "compare_heatmap")


@literal_text()
def comparison_charts(study: Comparison, out: Path) -> list[Path]:
    paths = latency_cdf(study, out) + percentile_bars(study, out) + time_series(study, out)
    return paths + sweep_curves(study, out) + heatmap(study, out)
