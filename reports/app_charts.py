"""Charts of applications' own metrics (models/apps/): their gauges over time, one panel each, with
the fault windows shaded and instant events marked, and a heat map (time x label) per gauge group
(surge per area, load per shard). Generic: they read the summary's `metrics`/`about` and the time series."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .charts import PALETTE, plt, result_events, save, shade_faults
from .registries import chart_makers

MAX_PANELS = 6


def _apps(result: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(n, c) for n, c in result.component_stats.items() if c.get("app")]


@chart_makers.register("app_gauges")
def app_gauges(result: Any, out: Path) -> list[Path]:
    ts = result.timeseries
    paths = []
    for name, c in _apps(result):
        about = c.get("about", {})
        gauges = [k for k, v in c.get("metrics", {}).items()
                  if isinstance(v, dict) and "mean" in v and "labels" not in v and "count" not in v
                  and f"{name}.{k}" in ts][:MAX_PANELS]
        if not gauges:
            continue
        fig, axes = plt.subplots(len(gauges), 1, figsize=(8, 1.0 + 2.0 * len(gauges)), sharex=True, squeeze=False)
        for i, (ax, g) in enumerate(zip(axes[:, 0], gauges)):
            ax.plot(ts["end_s"], ts[f"{name}.{g}"], color=PALETTE[i % len(PALETTE)], lw=1.6)
            shade_faults(ax, result.fault_windows, result_events(result), legend=(i == 0))
            ax.set_ylabel(g, fontsize=8)
            ax.set_title(about.get(g, g), fontsize=9, loc="left")
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
        axes[-1, 0].set_xlabel("simulated time (s)")
        fig.suptitle(f"{name}: over time", fontsize=11)
        paths.append(save(fig, out / f"app_{name}_over_time.png"))
    return paths


@chart_makers.register("app_heatmaps")
def app_heatmaps(result: Any, out: Path) -> list[Path]:
    ts = result.timeseries
    paths = []
    for name, c in _apps(result):
        about = c.get("about", {})
        for g, v in c.get("metrics", {}).items():
            if not (isinstance(v, dict) and "labels" in v):
                continue
            cols = [f"{name}.{g}.{label}" for label in v["labels"]]
            if not cols or any(col not in ts for col in cols):
                continue
            grid = np.asarray([ts[col].to_numpy(dtype=float) for col in cols])
            t = ts["end_s"].to_numpy(dtype=float)
            fig, ax = plt.subplots(figsize=(8.5, 1.6 + 0.28 * min(len(cols), 40)))
            step = t[1] - t[0] if t.size > 1 else 1.0
            mesh = ax.imshow(grid, aspect="auto", origin="lower", interpolation="nearest", cmap="magma",
                             extent=(t[0] - step, t[-1], -0.5, len(cols) - 0.5))
            shown = range(0, len(cols), max(1, len(cols) // 20))
            ax.set_yticks(list(shown), [v["labels"][i] for i in shown], fontsize=7)
            ax.set_xlabel("simulated time (s)")
            ax.set_title(f"{name}: {about.get(g, g)}", fontsize=10, loc="left")
            for f in result.fault_windows:  # outlined, not shaded: the colours are the data
                ax.axvspan(f["start_s"], f["end_s"], fill=False, ec="#2b8cbe", lw=1.5, ls="--")
            fig.colorbar(mesh, ax=ax, pad=0.01).set_label(g)
            paths.append(save(fig, out / f"app_{name}_{g}_heatmap.png"))
    return paths
