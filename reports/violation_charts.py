"""Consistency charts of a run.

- `linearizability_violation.png`: the first linearizability violation of a run whose
  `check: [linearizable]` failed, drawn as a per-process timeline (as Porcupine and Knossos draw
  theirs): one row per process, a bar from each operation's invocation to its completion (to the end
  of the window for one that never completed), the operation that cannot be linearized marked.
- `consistency_timeline.png`: errors, stale reads and the checker's violations over time on one time
  axis, fault windows shaded (runs with a replicated store or a checked history).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .charts import PALETTE, plt, result_events, save, shade_faults
from .registries import chart_makers
from .timeline import legend_beside

# bar colour by outcome (Jepsen's types); the blocked operation is drawn over in vermillion
_TYPE_COLOUR = {"ok": PALETTE[0], "fail": "#999999", "info": PALETTE[1]}
BLOCKED_COLOUR = "#D55E00"


def _text(op: dict[str, Any]) -> str:
    value = op["value"]
    return f"{op['f']} {value if value is not None else 'nil'}"


@chart_makers.register("linearizability_violation")
def violation_timeline(result: Any, out: Path) -> list[Path]:
    cx = getattr(result, "counterexample", None)
    if not cx or not cx.get("window"):
        return []
    ops = cx["window"]
    blocked = cx["blocked"]
    processes = sorted({op["process"] for op in ops}, key=str)
    row = {p: i for i, p in enumerate(processes)}
    starts = [op["invoke_time"] for op in ops]
    ends = [op["complete_time"] for op in ops if op["complete_time"] is not None]
    t0 = min(starts)
    t_end = max(ends + starts)
    span = max(t_end - t0, 1e-9)
    open_end = t_end + 0.1 * span  # an operation that never completed runs off the window's right edge
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(processes) + 1.8))
    for op in ops:
        lo = (op["invoke_time"] - t0) * 1000.0
        hi = ((op["complete_time"] if op["complete_time"] is not None else open_end) - t0) * 1000.0
        is_blocked = op == blocked
        ax.barh(row[op["process"]], max(hi - lo, 1e-6), left=lo, height=0.6,
                color=BLOCKED_COLOUR if is_blocked else _TYPE_COLOUR.get(op["type"], PALETTE[2]),
                edgecolor="black", linewidth=1.6 if is_blocked else 0.5,
                hatch="//" if op["complete_time"] is None else "", label=op["type"] if not is_blocked else "cannot be linearized")
        # the text just above its bar (the y axis is inverted: a smaller y is higher)
        ax.text(lo, row[op["process"]] - 0.33, _text(op) + (" (cannot be linearized)" if is_blocked else ""),
                fontsize="x-small", va="bottom")
    ax.set_yticks(range(len(processes)), [f"process {p}" for p in processes])
    ax.invert_yaxis()
    ax.set_ylim(len(processes) - 0.4, -0.9)
    ax.set_xlim(0.0, (open_end - t0) * 1000.0 * 1.25)  # room for the last operation's text
    ax.set_xlabel(f"ms after {t0:.4f} s (simulated time)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              title="outcome")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"{result.scenario_name}: first linearizability violation, key {cx['key']} "
                 f"(state before: {cx['state']})")
    return [save(fig, out / "linearizability_violation.png")]


# The checker's anomaly kinds drawn on the violations panel (stale reads have a panel of their own).
_KIND_STYLE = {"lost-write": (PALETTE[0], "o"), "read-your-writes": (PALETTE[4], "s"),
               "monotonic-reads": (PALETTE[5 % len(PALETTE)], "^"), "garbage-read": ("#999999", "x")}


@chart_makers.register("consistency_timeline")
def consistency_timeline(result: Any, out: Path) -> list[Path]:
    """Three panels on one time axis: the share of finished requests that failed (and timed out);
    stale reads per second, each replicated store's own count (`NAME.stale_reads`) beside the
    checker's stale-read anomalies; the checker's other anomalies per second by kind, and the first
    linearizability violation as a vertical line. Fault windows shaded and numbered on each."""
    ts = result.timeseries
    # the replicated stores that served reads (a store no workload reads from would add a flat line)
    stores = [f"{n}.stale_reads" for n, st in result.component_stats.items()
              if st.get("reads_checked") and f"{n}.stale_reads" in ts]
    found = result.anomalies_over_time() if getattr(result, "anomaly_times", None) is not None else None
    if ts.empty or (not stores and found is None):
        return []
    width = (ts["end_s"] - ts["start_s"]).to_numpy(dtype=float)
    per_s = np.where(width > 0, width, np.nan)
    fig, (ax_err, ax_stale, ax_viol) = plt.subplots(3, 1, figsize=(10, 7.5), sharex=True,
                                                    gridspec_kw={"height_ratios": [2, 3, 3]})
    ax_err.plot(ts["end_s"], ts["error_rate"] * 100.0, color=PALETTE[3], marker=".", label="failed (any cause)")
    ax_err.plot(ts["end_s"], ts["timeout_rate"] * 100.0, color=PALETTE[4], ls="--", marker="x", markersize=4,
                label="timed out")
    ax_err.set_ylabel("% of finished")
    ax_err.set_ylim(bottom=0.0)
    ax_err.set_title(f"{result.scenario_name}: errors, stale reads and consistency violations over time")
    for i, col in enumerate(stores):
        ax_stale.plot(ts["end_s"], ts[col].to_numpy(dtype=float) / per_s, color=PALETTE[i % len(PALETTE)],
                      marker=".", label=f"stale reads, {col[:-len('.stale_reads')]} (the store's count)")
    if found is not None and not found.empty:
        if "stale-read" in found:
            ax_stale.plot(found["end_s"], found["stale-read"].to_numpy(dtype=float) / per_s, color="black",
                          ls="--", marker="+", label="stale reads found by the checker")
        for kind in (k for k in found.columns if k not in ("start_s", "end_s", "stale-read")):
            colour, marker = _KIND_STYLE.get(kind, (PALETTE[2], "d"))
            ax_viol.plot(found["end_s"], found[kind].to_numpy(dtype=float) / per_s, color=colour, marker=marker,
                         markersize=4, label=kind)
    ax_stale.set_ylabel("stale reads per second")
    ax_stale.set_ylim(bottom=0.0)
    cx = getattr(result, "counterexample", None)
    if cx and cx.get("blocked") and cx["blocked"].get("invoke_time") is not None:
        at = cx["blocked"]["invoke_time"]
        for ax in (ax_stale, ax_viol):
            ax.axvline(at, color=BLOCKED_COLOUR, lw=1.5, label=f"first operation that cannot be linearized "
                                                                f"({at:.3f} s)" if ax is ax_viol else None)
    ax_viol.set_ylabel("anomalies per second\n(the checker's)")
    ax_viol.set_ylim(bottom=0.0)
    ax_viol.set_xlabel("simulated time (s)")
    if found is None:
        ax_viol.text(0.5, 0.5, "no checked history (history: true with check:)", transform=ax_viol.transAxes,
                     ha="center", va="center", fontsize="small", color="#666666")
    events = result_events(result)
    for ax in (ax_err, ax_stale, ax_viol):
        shade_faults(ax, result.fault_windows, events, legend=ax is ax_err)
        ax.grid(True, alpha=0.3)
        legend_beside(ax)
    return [save(fig, out / "consistency_timeline.png")]
