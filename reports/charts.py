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

# Okabe-Ito: distinguishable by colour-blind readers and in greyscale print with markers.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


class MissingGlyphs(UserWarning):
    """Characters of a name (an emoji, say) that no chart font can draw: shown as a placeholder."""


_GLYPH_WARNING = re.compile(r"Glyph (\d+) .*missing from (?:current )?font")


@contextmanager
def literal_text() -> Iterator[None]:
    """Draw names as the user wrote them, with no warning per character: a `$` is a dollar sign,
    not matplotlib's mathtext (whose parser fails on `$\\frac{x^$`; log axes are labelled by
    `log_scale`), and characters the font lacks (most emoji) are drawn as empty boxes with one
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def log_scalable(ax: Any, which: str) -> bool:
    """Whether the drawn lines have a positive value on axis `which` (else a log scale fails)."""
    values = [np.asarray(ln.get_xdata() if which == "x" else ln.get_ydata(), dtype=float) for ln in ax.lines]
    return any(((v > 0) & np.isfinite(v)).any() for v in values)


def log_scale(ax: Any, which: str) -> None:
    """A log axis labelled in plain numbers (10, 20, 100): its default labels are mathtext
    (10 with a superscript), which `literal_text` turns off for every text."""
    from matplotlib.ticker import LogFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(minor_thresholds=(1, 0.4)))


def dress_cdf(ax: Any, title: str) -> None:
    """Axes of a latency CDF: log latency (when anything was drawn), labels, title, grid."""
    if log_scalable(ax, "x"):
        log_scale(ax, "x")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of successful requests")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)


def shade_faults(ax: Any, faults: list[dict[str, Any]]) -> None:
    """Shade each fault's window on a time chart."""
    for i, f in enumerate(faults):
        ax.axvspan(f["start_s"], f["end_s"], color="#D55E00", alpha=0.12, lw=0,
                   label="fault" if i == 0 else None)


def latency_cdf(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """`curves`: per workload, (latency in seconds, fraction at or below it), from `Result.latency_cdf()`."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (name, (lat, y)) in enumerate(curves.items()):
        if lat.size:
            ax.plot(lat * 1000.0, y, color=PALETTE[i % len(PALETTE)], label=str(name))
    dress_cdf(ax, f"{title}: latency CDF")
    if ax.get_legend_handles_labels()[0]:  # no successful request: an empty chart, no legend
        ax.legend(loc="lower right")
    return save(fig, path)


def throughput_over_time(ts: pd.DataFrame, faults: list[dict[str, Any]], path: Path, title: str) -> Path:
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    ax1.plot(ts["end_s"], ts["throughput_rps"], color=PALETTE[0], label="ok throughput")
    ax1.plot(ts["end_s"], ts["offered_rps"], color=PALETTE[1], ls="--", label="offered")
    ax1.set_ylabel("requests/s")
    ax1.set_title(f"{title}: throughput and p99 latency over time")
    shade_faults(ax1, faults)
    ax1.legend(loc="best")
    ax1.grid(True, alpha=0.3)
    ax2.plot(ts["end_s"], ts["latency_p99_s"] * 1000.0, color=PALETTE[3], marker=".", label="p99")
    ax2.plot(ts["end_s"], ts["latency_p50_s"] * 1000.0, color=PALETTE[2], marker=".", label="p50")
    ax2.set_ylabel("latency (ms)")
    ax2.set_xlabel("simulated time (s)")
    shade_faults(ax2, faults)
    ax2.legend(loc="best")
    ax2.grid(True, alpha=0.3)
    return save(fig, path)


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


# Modules that register charts (in `chart_makers`) for particular component types.
_CHART_MODULES = ("reports.cache_charts", "reports.data_charts", "reports.queue_charts")


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
        throughput_over_time(result.timeseries, result.fault_windows, out / "throughput_p99.png", title),
        utilisation(result.components, out / "utilization.png", title),
    ]
    for _name, fn in chart_makers.in_registration_order():
        paths += fn(result, out)
    return paths
