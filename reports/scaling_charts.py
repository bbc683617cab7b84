"""Charts for autoscaled servers: serving replicas over time beside the p99, scaling steps marked."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .charts import PALETTE, result_events, shade_faults, plt, save
from .registries import chart_makers


@chart_makers.register("replicas")
def replicas_over_time(result: Any, out: Path) -> list[Path]:
    """One chart per autoscaled server (a component reporting `replica_hours` and a `.replicas` series)."""
    ts = result.timeseries
    paths = []
    for name, st in result.component_stats.items():
        if "replica_hours" not in st or f"{name}.replicas" not in ts:
            continue
        fig, ax = plt.subplots(figsize=(9, 6.5))
        ax.step(ts["end_s"], ts[f"{name}.replicas"], where="pre", color=PALETTE[0], lw=2,
                label="serving replicas (mean in bucket)")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("replicas")
        lat = ax.twinx()  # the trade-off on one chart: fleet size against the tail
        lat.plot(ts["end_s"], ts["latency_p99_s"] * 1000.0, color=PALETTE[3], marker=".", alpha=0.8,
                 label="p99 ok (ms, right axis)")
        lat.set_ylabel("p99 latency (ms)")
        lat.set_ylim(bottom=0)
        shade_faults(ax, result.fault_windows, result_events(result))
        ax.set_title(f"{name}: replicas and p99 over time (scaling steps marked)")
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        h2, l2 = lat.get_legend_handles_labels()
        ax.legend(handles + h2, labels + l2, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="small",
                  frameon=False)  # below the plot: the right axis is taken by the p99
        fig.tight_layout()
        paths.append(save(fig, out / f"replicas_{name}.png"))
    return paths
