"""The first linearizability violation of a run whose `check: [linearizable]` failed, drawn as a
per-process timeline (as Porcupine and Knossos draw theirs): one row per process, a bar from each
operation's invocation to its completion (to the end of the window for one that never completed),
the operation that cannot be linearized marked."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .charts import PALETTE, plt, save
from .registries import chart_makers

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
