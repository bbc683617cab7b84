"""The fault impact table (summary["fault_impact"]): for the terminal and report.html.

One block of rows per fault (error rate, p99, goodput; attempts per request when the run has
retries), so the table stays narrow enough for
80 columns whatever the number of faults; the fault's number (F1 …, as on the charts), description
and window fill the first column of its block.
"""
from __future__ import annotations

from typing import Any

from rich.table import Table

from reports.formatting import duration, pct, rate

_STATUS = {"did_not_recover": "did not recover", "interrupted": "next fault first",
           "lasts_to_end": "lasts to the end", "no_baseline": "no baseline"}


def recovery_text(recovery: dict[str, Any]) -> str:
    """`4.5 s`, `did not recover`, …"""
    if recovery["status"] == "recovered":
        return duration(recovery["recovery_s"]) if recovery["recovery_s"] else "at once"
    if recovery["status"] == "interrupted" and recovery.get("by"):
        return f"{recovery['by']} came first"
    return _STATUS.get(recovery["status"], recovery["status"])


def _cell(phase: dict[str, Any] | None, key: str) -> str:
    if phase is None:
        return "-"
    v = phase.get(key)
    if key == "error_rate":
        return pct(v, 2)
    if key == "p99_s":
        return duration(v)
    if key == "attempts_per_request":
        return "-" if v is None else f"{v:.2f}"
    return rate(v)


def impact_tables(summary: dict[str, Any]) -> list[Table]:
    """The fault impact table, only when the run has faults."""
    impact = summary.get("fault_impact")
    if not impact or not impact.get("faults"):
        return []
    table = Table(title="Fault impact (requests by finish time, failed ones included)", title_justify="left")
    for col, just in (("fault", "left"), ("figure", "left"), ("before", "right"), ("during", "right"),
                      ("after", "right"), ("recovered", "right")):
        table.add_column(col, justify=just)
    for f in impact["faults"]:
        window = f"{f['start_s']:g}-{f['end_s']:g} s"
        rows = [("error_rate", "errors"), ("p99_s", "p99"), ("goodput_rps", "goodput")]
        if any(f[p] and "attempts_per_request" in f[p] for p in ("before", "during", "after")):
            rows.append(("attempts_per_request", "attempts/req"))  # a run with retries: amplification
        names = [f"{f['fault']} {f.get('description') or ''}".strip(), window] + [""] * (len(rows) - 2)
        for n, (key, label) in enumerate(rows):
            table.add_row(names[n], label, *(_cell(f[p], key) for p in ("before", "during", "after")),
                          recovery_text(f["recovery"]) if n == 0 else "", end_section=n == len(rows) - 1)
    table.caption = ("before: the baseline before the fault; after: as long after its end; recovered: time from "
                     "the fault's end until error rate and p99 stay near the baseline (docs/outputs.md)")
    table.caption_justify = "left"
    return [table]
