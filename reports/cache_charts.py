"""Charts for caches and CDNs: hit ratio over time, one line per cache level."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .charts import PALETTE, result_events, shade_faults, plt, save
from .registries import chart_makers
from .timeline import legend_beside

MARKERS = "osD^v<>px"


def _caches(result: Any) -> list[str]:
    return [n for n, st in result.component_stats.items() if st.get("type") == "cache"]


@chart_makers.register("cache_hit_ratio")
def hit_ratio_over_time(result: Any, out: Path) -> list[Path]:
    caches = _caches(result)
    ts = result.timeseries
    if not caches or ts.empty:
        return []
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, name in enumerate(caches):
        col = f"{name}.hit_ratio"
        if col in ts:
            ax.plot(ts["end_s"], ts[col] * 100.0, color=PALETTE[i % len(PALETTE)],
                    marker=MARKERS[i % len(MARKERS)], markersize=3, label=name)
    shade_faults(ax, result.fault_windows, result_events(result))
    ax.set_ylim(0, 100)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("hit ratio (%)")
    ax.set_title(f"{result.scenario_name}: hit ratio over time per cache")
    ax.grid(True, alpha=0.3)
    legend_beside(ax)
    return [save(fig, out / "cache_hit_ratio.png")]
