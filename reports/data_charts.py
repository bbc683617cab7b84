"""Charts for sharded and replicated stores: load per shard over time, replication lag over time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .charts import PALETTE, shade_faults, plt, save
from .registries import chart_makers

LINESTYLES = ["-", "--", "-.", ":"]


def _of_type(result: Any, kind: str) -> list[str]:
    return [n for n, st in result.component_stats.items() if st.get("type") == kind]


def _reshard_marks(ax: Any, events: list[dict[str, Any]]) -> None:
    for i, ev in enumerate(events):
        ax.axvline(ev["at_s"], color="#000000", ls=":", lw=1, label="reshard" if i == 0 else None)


@chart_makers.register("shard_load")
def shard_load(result: Any, out: Path) -> list[Path]:
    ts = result.timeseries
    paths = []
    for name in _of_type(result, "sharded"):
        cols = [c for c in ts.columns if c.startswith(f"{name}.load_rps.")]
        if not cols:
            continue
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
        for i, col in enumerate(cols):
            ax1.plot(ts["end_s"], ts[col], color=PALETTE[i % len(PALETTE)], ls=LINESTYLES[i // len(PALETTE) % 4],
                     label=col[len(f"{name}.load_rps."):])
        stats = result.component_stats[name]
        _reshard_marks(ax1, stats.get("reshards", []))
        shade_faults(ax1, result.fault_windows)
        ax1.set_xlabel("simulated time (s)")
        ax1.set_ylabel("requests/s")
        ax1.set_title(f"{name}: load per shard over time")
        ax1.grid(True, alpha=0.3)
        ax1.legend(loc="best", fontsize="small")
        shards = stats["shards"]
        names = list(shards)
        ax2.barh(names, [shards[s]["requests"] for s in names], color=PALETTE[0])
        ax2.invert_yaxis()
        skew = stats.get("skew")
        ax2.set_title(f"requests per shard (skew max/mean {skew:.2f})" if skew else "requests per shard")
        ax2.set_xlabel("requests")
        ax2.grid(True, axis="x", alpha=0.3)
        paths.append(save(fig, out / f"shard_load_{name}.png"))
    return paths


@chart_makers.register("replication_lag")
def replication_lag(result: Any, out: Path) -> list[Path]:
    ts = result.timeseries
    paths = []
    for name in _of_type(result, "replicated"):
        if f"{name}.lag_p99_s" not in ts:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for i, (q, label) in enumerate((("lag_p50_s", "p50"), ("lag_p99_s", "p99"), ("lag_max_s", "max"))):
            ax.plot(ts["end_s"], ts[f"{name}.{q}"] * 1000.0, color=PALETTE[i], marker="osD"[i], markersize=3,
                    ls=LINESTYLES[i], label=f"lag {label}")
        shade_faults(ax, result.fault_windows)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("replication lag (ms)")
        ax.set_title(f"{name}: replication lag over time ({result.component_stats[name]['mode']})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best")
        paths.append(save(fig, out / f"replication_lag_{name}.png"))
    return paths
