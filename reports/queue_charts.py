"""Charts for message queues: backlog over time, per partition."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .charts import PALETTE, result_events, shade_faults, plt, save
from .registries import chart_makers
from .timeline import legend_beside

LINESTYLES = ["-", "--", "-.", ":"]


@chart_makers.register("queue_backlog")
def queue_backlog(result: Any, out: Path) -> list[Path]:
    ts = result.timeseries
    paths = []
    for name, st in result.component_stats.items():
        if st.get("type") != "queue" or f"{name}.backlog" not in ts:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for p in range(st["partitions"]):
            ax.plot(ts["end_s"], ts[f"{name}.backlog.p{p}"], color=PALETTE[p % (len(PALETTE) - 1)],
                    ls=LINESTYLES[p // (len(PALETTE) - 1) % 4], label=f"partition {p}")
        if st["partitions"] > 1:
            ax.plot(ts["end_s"], ts[f"{name}.backlog"], color="#555555", lw=2.5, ls=(0, (1, 1)), label="total")
        shade_faults(ax, result.fault_windows, result_events(result))
        ax.set_ylim(bottom=0)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("messages not yet processed")
        ax.set_title(f"{name}: backlog over time (slowest consumer group)")
        ax.grid(True, alpha=0.3)
        legend_beside(ax, ncol=2 if st["partitions"] > 6 else 1)
        paths.append(save(fig, out / f"queue_backlog_{name}.png"))
    return paths
