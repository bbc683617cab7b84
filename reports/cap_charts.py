"""The CAP chart of a comparison whose runs check consistency (`check:`): one point per variant,
availability against consistency violations, with 95% intervals both ways; beside it the PACELC
panel, read and write p99 per variant without a partition (successful requests that ran entirely
outside every fault window: what consistency costs when nothing fails)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.statistics.inference import mean_interval
from simulator.study.comparison import Comparison

from .charts import PALETTE, literal_text, plt
from .comparison_charts import MARKERS, axis_names, labels, save_chart


def _checks(study: Comparison) -> list[str]:
    """The declared checks, from the first record that has a consistency section (none: not a CAP study)."""
    for rec in study.records.values():
        if rec.get("consistency"):
            return list(rec["consistency"].get("checks") or {})
    return []


def _interval(study: Comparison, v: int, metric: str, scale: float = 1.0) -> tuple[float, float]:
    iv = mean_interval(study.values(v, metric))
    return iv.mean * scale, float(np.nan_to_num(iv.half_width)) * scale


@literal_text()
def cap_chart(study: Comparison, out: Path) -> list[Path]:
    checks = _checks(study)
    if not checks:
        return []
    # x: availability during the fault windows when the runs had any, else over the whole run (said on the axis)
    during = any(np.isfinite(study.values(v.index, "cap.fault_availability")).any() for v in study.variants)
    x_metric = "cap.fault_availability" if during else "availability"
    # y: stale reads are counted one by one; linearizability only says pass or fail (its verdict is marked)
    y_check = "stale_reads" if "stale_reads" in checks else checks[0]
    names = labels(study)
    fig, (ax, ax_lat) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    for var in study.variants:
        i = var.index
        x, xe = _interval(study, i, x_metric, 100.0)
        y, ye = _interval(study, i, f"consistency.{y_check}.violations")
        label = names[i]
        failed = study.values(i, "consistency.linearizable.failed")
        if "linearizable" in checks and np.isfinite(failed).any():
            label += f" (not linearizable in {int(np.nansum(failed))}/{int(np.isfinite(failed).sum())} runs)"
        ax.errorbar([x], [y], xerr=[xe], yerr=[ye], fmt=MARKERS[i % len(MARKERS)], color=PALETTE[i % len(PALETTE)],
                    capsize=4, markersize=8, label=label)
        ax.annotate(names[i], (x, y), textcoords="offset points", xytext=(6, 6), fontsize="small")
    ax.set_xlabel("availability during the partition (% of requests finished in the fault windows)" if during
                  else "availability over the whole run (%)")
    ax.set_ylabel(f"{y_check} violations per run")
    ax.set_title(f"CAP: availability against consistency {('per ' + axis_names(study)) if study.axes else ''}"
                 "\n(bars: 95% CI over replications)")
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    n = len(study.variants)
    width = 0.38
    xs = np.arange(n)
    for j, (op, hatch) in enumerate((("read", ""), ("write", "//"))):
        ivs = [_interval(study, v.index, f"cap.{op}_p99_s", 1000.0) for v in study.variants]
        ax_lat.bar(xs + (j - 0.5) * width, [m for m, _ in ivs], width, yerr=[h for _, h in ivs], capsize=3,
                   color=PALETTE[j], hatch=hatch, edgecolor="black", linewidth=0.5, label=f"{op} p99")
    ax_lat.set_xticks(xs, [names[v.index] for v in study.variants], rotation=20 if n > 3 else 0)
    ax_lat.set_ylabel("p99 latency (ms, successful operations,\n" +
                      ("outside the fault windows)" if during else "whole run)"))
    ax_lat.set_title("PACELC: read and write p99 per variant" + (" without a partition" if during else "")
                     + "\n(error bars: 95% CI)")
    ax_lat.grid(True, axis="y", alpha=0.3)
    ax_lat.legend(loc="best", fontsize="small")
    fig.suptitle(f"{study.scenario_name}: consistency against availability and latency")
    return save_chart(fig, out, "compare_cap")
