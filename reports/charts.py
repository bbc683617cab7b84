"""Charts of one run (matplotlib, PNG). Reads result data only, never the model."""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .registries import chart_makers  # noqa: E402
from .timeline import legend_beside, mark_timeline, plain_ms_axis  # noqa: E402

# Okabe-Ito: distinguishable by colour-blind readers and in greyscale print with markers.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


class MissingGlyphs(UserWarning):
    """Characters of a name (an emoji, say) that no chart font can draw: shown as a placeholder."""


_GLYPH_WARNING = re.compile(r"Glyph (\d+) .*missing from (?:current )?font")


@contextmanager
def literal_text() -> Iterator[None]:
    """Draw names as the user wrote them, with no warning per character: a `$` is a dollar sign,
    not matplotlib's mathtext (whose parser fails on `$\\frac{x^$`; log axes are labelled in
    plain numbers by `timeline.plain_ms_axis`), and characters the font lacks (most emoji) are drawn as empty boxes with one
    `MissingGlyphs` warning naming them, instead of matplotlib's warning at every draw. (A
    fallback font such as matplotlib's Last Resort is no better: its tall glyphs break the layout
    of small charts.) Wraps each entry point that makes and saves figures (a decorator too)."""
    rc: dict[str, Any] = {"text.parse_math": False}
    missing: set[str] = set()
    others, caught = [], []
    try:
        with matplotlib.rc_context(rc), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for w in caught:
            glyph = _GLYPH_WARNING.search(str(w.message))
            if glyph:
                missing.add(chr(int(glyph.group(1))))
            else:
                others.append(w)
        for w in others:  # outside the recording: the caller's filters decide
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        chars = ", ".join(f"{c} (U+{ord(c):04X})" for c in sorted(missing))
        warnings.warn(MissingGlyphs(f"the chart fonts cannot draw {chars}: shown as empty boxes"), stacklevel=3)


def save(fig: Any, path: Path) -> Path:
    """Lay out, write and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight": a legend beside the plot stays in the file
    plt.close(fig)
    return path


def log_scalable(ax: Any, which: str) -> bool:
    """Whether the drawn lines have a positive value on axis `which` (else a log scale fails)."""
    values = [np.asarray(ln.get_xdata() if which == "x" else ln.get_ydata(), dtype=float) for ln in ax.lines]
    return any(((v > 0) & np.isfinite(v)).any() for v in values)


def dress_cdf(ax: Any, title: str) -> None:
    """Axes of a latency CDF: log latency (when anything was drawn), labels, title, grid."""
    if log_scalable(ax, "x"):
        ax.set_xscale("log")
        plain_ms_axis(ax, "x")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of successful requests")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)


def shade_faults(ax: Any, faults: list[dict[str, Any]], events: list[dict[str, Any]] = (),
                 legend: bool = True) -> None:
    """Mark each fault's window (numbered, with its description in the legend) and each instant event."""
    mark_timeline(ax, faults, events, legend=legend)


def latency_cdf(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """`curves`: per workload, (latency in seconds, fraction at or below it), from `Result.latency_cdf()`."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (name, (lat, y)) in enumerate(curves.items()):
        if lat.size:
            ax.plot(lat * 1000.0, y, color=PALETTE[i % len(PALETTE)], label=str(name))
    dress_cdf(ax, f"{title}: latency CDF")
    if ax.get_legend_handles_labels()[0]:  # no successful request: an empty chart, no legend
        legend_beside(ax)
    return save(fig, path)


# Said on the latency panel of the run chart, so nobody reads one line as the other.
LATENCY_NOTE = ("solid: successful requests only; dashed: every finished request, failed ones included "
                "(a failure's latency is how long it took to fail)")


def throughput_over_time(ts: pd.DataFrame, faults: list[dict[str, Any]], path: Path, title: str,
                         events: list[dict[str, Any]] = (), breakers: list[dict[str, Any]] = ()) -> Path:
    """Three panels on one time axis: throughput (ok and offered; rate limiters' refusals per second),
    failed and timed-out share of the finished requests (circuit breakers' open and half-open
    intervals as bands along its foot), and p50/p99 latency of successful requests beside those of
    every finished request; fault windows and instant events marked on each."""
    return save(run_timeline_figure(ts, faults, title, events, breakers), path)


# Breaker bands: a strip along the foot of the failure panel, darker while open.
BREAKER_STYLE = {"open": ("#CC0000", 0.55, "circuit breaker open"), "half_open": ("#E69F00", 0.45, "half-open")}
BREAKER_STRIP = 0.08  # its height, as a fraction of the panel
MAX_NAMED_CALLS = 3  # a legend entry names at most this many calls


def breaker_bands(ax: Any, breakers: list[dict[str, Any]]) -> None:
    """One legend entry per state, naming the calls whose breaker was in it."""
    for state, (colour, alpha, what) in BREAKER_STYLE.items():
        bands = [b for b in breakers if b["state"] == state]
        calls = list(dict.fromkeys(b["call"] for b in bands))
        more = len(calls) - MAX_NAMED_CALLS
        named = ", ".join(calls[:MAX_NAMED_CALLS]) + (f" +{more}" if more > 0 else "")
        for i, b in enumerate(bands):
            ax.axvspan(b["start_s"], b["end_s"], ymin=0.0, ymax=BREAKER_STRIP, color=colour, alpha=alpha, lw=0,
                       label=f"{what} ({named})" if i == 0 else None)


def run_timeline_figure(ts: pd.DataFrame, faults: list[dict[str, Any]], title: str,
                        events: list[dict[str, Any]] = (), breakers: list[dict[str, Any]] = ()) -> Any:
    fig, (ax1, ax_err, ax2) = plt.subplots(3, 1, figsize=(10, 8), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 2, 3]})
    ax1.plot(ts["end_s"], ts["throughput_rps"], color=PALETTE[0], label="ok throughput")
    ax1.plot(ts["end_s"], ts["offered_rps"], color=PALETTE[1], ls="--", label="offered")
    width = (ts["end_s"] - ts["start_s"]).to_numpy(dtype=float) if "start_s" in ts else None
    for i, col in enumerate(c for c in ts.columns if c.endswith(".rate_limited")):
        if width is not None and ts[col].sum() > 0:  # a limiter that refused nothing adds no line
            ax1.plot(ts["end_s"], ts[col] / width, color=PALETTE[(5 + i) % len(PALETTE)], ls=":", marker="v",
                     markersize=3, label=f"rate limited/s ({col.rsplit('.', 1)[0]})")
    ax1.set_ylabel("requests/s")
    ax1.set_title(f"{title}: throughput, failures and latency over time")
    if "error_rate" in ts:
        ax_err.plot(ts["end_s"], ts["error_rate"] * 100.0, color=PALETTE[3], marker=".", label="failed (any cause)")
    if "timeout_rate" in ts:
        ax_err.plot(ts["end_s"], ts["timeout_rate"] * 100.0, color=PALETTE[4], ls="--", marker="x", markersize=4,
                    label="timed out")
    ax_err.set_ylabel("% of finished")
    breaker_bands(ax_err, list(breakers))
    ax_err.set_ylim(0.0, max(1.0, float(np.nanmax(ts["error_rate"].to_numpy(dtype=float) * 100.0, initial=0.0)) * 1.1)
                    if "error_rate" in ts else 1.0)
    ax2.plot(ts["end_s"], ts["latency_p99_s"] * 1000.0, color=PALETTE[3], marker=".", label="p99 ok")
    ax2.plot(ts["end_s"], ts["latency_p50_s"] * 1000.0, color=PALETTE[2], marker=".", label="p50 ok")
    if "latency_all_p99_s" in ts:
        ax2.plot(ts["end_s"], ts["latency_all_p99_s"] * 1000.0, color=PALETTE[3], ls="--", alpha=0.8,
                 label="p99 all finished")
        ax2.plot(ts["end_s"], ts["latency_all_p50_s"] * 1000.0, color=PALETTE[2], ls="--", alpha=0.8,
                 label="p50 all finished")
    ax2.set_ylabel("latency (ms)")
    ax2.set_xlabel("simulated time (s)")
    ax2.set_title(LATENCY_NOTE, fontsize="small", loc="left")
    for ax in (ax1, ax_err, ax2):
        shade_faults(ax, faults, events, legend=ax is ax1)  # described once, numbered on every panel
        ax.grid(True, alpha=0.3)
        legend_beside(ax)
    return fig


def utilisation(components: pd.DataFrame, path: Path, title: str) -> Path:
    data = components.dropna(subset=["utilization"]) if "utilization" in components else components.iloc[0:0]
    # At least 1.6 in: room for a title with tall glyphs (emoji) above a single bar.
    fig, ax = plt.subplots(figsize=(7, max(1.6, 0.5 + 0.45 * len(data))))
    ax.barh(data["component"], data["utilization"] * 100.0 if len(data) else [], color=PALETTE[0])
    ax.set_xlim(0, 100)
    ax.set_xlabel("utilisation (%)")
    ax.set_title(f"{title}: utilisation per component")
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.3)
    return save(fig, path)


def result_events(result: Any) -> list[dict[str, Any]]:
    """The run's instant events within its measured window (a Result without `events`: none)."""
    from .timeline import in_window

    return in_window(getattr(result, "events", []), result.warmup_s, result.duration_s)


# Modules that register charts (in `chart_makers`) for particular component types.
_CHART_MODULES = ("reports.cache_charts", "reports.data_charts", "reports.queue_charts", "reports.scaling_charts",
                  "reports.violation_charts", "reports.app_charts")


@literal_text()
def run_charts(result: Any, out: Path) -> list[Path]:
    import importlib
    import importlib.util

    for mod in _CHART_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
    title = result.scenario_name
    paths = [
        latency_cdf(result.latency_cdf(), out / "latency_cdf.png", title),
        throughput_over_time(result.timeseries, result.fault_windows, out / "throughput_p99.png", title,
                             result_events(result), getattr(result, "breaker_states", [])),
        utilisation(result.components, out / "utilization.png", title),
    ]
    for _name, fn in chart_makers.in_registration_order():
        paths += fn(result, out)
    return paths
