"""Charts for sharded and replicated stores: load per shard over time, replication lag and stale
reads over time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .charts import PALETTE, log_scalable, result_events, shade_faults, plt, save
from .registries import chart_makers
from .timeline import legend_beside, plain_ms_axis

LINESTYLES = ["-", "--", "-.", ":"]


def _of_type(result: Any, kind: str) -> list[str]:
    return [n for n, st in result.component_stats.items() if st.get("type") == kind]


@chart_makers.register("shard_load")
def shard_load(result: Any, out: Path) -> list[Path]:
    ts = result.timeseries
    paths = []
    for name in _of_type(result, "sharded"):
        cols = [c for c in ts.columns if c.startswith(f"{name}.load_rps.")]
        if not cols:
            continue
        shards = result.component_stats[name]["shards"]
        # Tall enough that one bar label per shard never collides with the next (~0.3 inch each).
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, max(4.2, 1.2 + 0.3 * len(shards))),
                                       gridspec_kw={"width_ratios": [3, 2]})
        for i, col in enumerate(cols):
            ax1.plot(ts["end_s"], ts[col], color=PALETTE[i % len(PALETTE)], ls=LINESTYLES[i // len(PALETTE) % 4],
                     label=col[len(f"{name}.load_rps."):])
        stats = result.component_stats[name]
        shade_faults(ax1, result.fault_windows, result_events(result))  # reshards and faults, numbered
        ax1.set_xlabel("simulated time (s)")
        ax1.set_ylabel("requests/s")
        ax1.set_title(f"{name}: load per shard over time")
        ax1.grid(True, alpha=0.3)
        legend_beside(ax1, ncol=2 if len(ax1.get_legend_handles_labels()[0]) > 14 else 1)
        names = list(shards)
        counts = [shards[s]["requests"] for s in names]
        bars = ax2.barh(names, counts, color=PALETTE[0])
        ax2.invert_yaxis()
        # Each count at the end of its own bar (one row per shard, so labels cannot overlap), with room.
        ax2.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=3, fontsize="small")
        ax2.set_xlim(0, max(counts + [1]) * 1.3)
        skew = stats.get("skew")
        ax2.set_title(f"requests per shard (skew max/mean {skew:.2f})" if skew else "requests per shard")
        ax2.set_xlabel("requests")
        ax2.grid(True, axis="x", alpha=0.3)
        paths.append(save(fig, out / f"shard_load_{name}.png"))
    return paths


@chart_makers.register("replication_lag")
def replication_lag(result: Any, out: Path) -> list[Path]:
    """Lag percentiles per time bucket on a log axis (a partition's lag of seconds does not flatten the
    normal milliseconds), and stale reads per second below."""
    ts = result.timeseries
    paths = []
    events = result_events(result)
    for name in _of_type(result, "replicated"):
        if f"{name}.lag_p99_s" not in ts:
            continue
        fig, (ax, ax_stale) = plt.subplots(2, 1, figsize=(10, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
        for i, (q, label) in enumerate((("lag_p50_s", "p50"), ("lag_p99_s", "p99"), ("lag_max_s", "max"))):
            ax.plot(ts["end_s"], ts[f"{name}.{q}"] * 1000.0, color=PALETTE[i], marker="osD"[i], markersize=3,
                    ls=LINESTYLES[i], label=f"lag {label}")
        if log_scalable(ax, "y"):
            ax.set_yscale("log")
            plain_ms_axis(ax, "y")
            ax.set_ylabel("replication lag (ms, log scale)")
        else:
            ax.set_ylim(bottom=0)
            ax.set_ylabel("replication lag (ms)")
        ax.set_title(f"{name}: replication lag over time ({result.component_stats[name]['mode']})")
        stale_col = f"{name}.stale_reads"
        if stale_col in ts:
            width = (ts["end_s"] - ts["start_s"]).to_numpy(dtype=float)
            rate = ts[stale_col].to_numpy(dtype=float) / np.where(width > 0, width, np.nan)
            ax_stale.plot(ts["end_s"], rate, color=PALETTE[3], marker=".", label="stale reads")
        ax_stale.set_ylim(bottom=0)
        ax_stale.set_ylabel("stale reads per second")
        ax_stale.set_xlabel("simulated time (s)")
        for a in (ax, ax_stale):
            shade_faults(a, result.fault_windows, events, legend=a is ax)
            a.grid(True, which="both", alpha=0.3)
            legend_beside(a)
        paths.append(save(fig, out / f"replication_lag_{name}.png"))
    return paths


@chart_makers.register("divergence")
def divergence(result: Any, out: Path) -> list[Path]:
    """Eventual stores: keys not identical on every replica at each bucket's end, faults shaded, and a
    dotted line where each heal's keys had all converged (docs/data-tier.md, "Convergence")."""
    ts = result.timeseries
    paths = []
    for name in _of_type(result, "replicated"):
        col = f"{name}.divergent_keys"
        if col not in ts:
            continue
        fig, ax = plt.subplots(figsize=(10, 4.2))
        ax.plot(ts["end_s"], ts[col], color=PALETTE[0], marker=".", label="divergent keys")
        for i, heal in enumerate(result.component_stats[name].get("convergence", [])):
            after = heal["converged_after_s"]
            if after is not None:
                ax.axvline(heal["heal_at_s"] + after, color=PALETTE[2], ls=":",
                           label=f"converged {after:.3g} s after the heal at {heal['heal_at_s']:g} s")
        shade_faults(ax, result.fault_windows, result_events(result))
        ax.set_ylim(bottom=0)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("keys")
        stats = result.component_stats[name]
        ax.set_title(f"{name}: divergent keys ({stats.get('resolve')}; lost updates {stats.get('lost_updates', 0):,}, "
                     f"conflicts {stats.get('conflicts', 0):,})")
        ax.grid(True, alpha=0.3)
        legend_beside(ax)
        paths.append(save(fig, out / f"divergence_{name}.png"))
    return paths
