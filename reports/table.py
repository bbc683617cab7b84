"""The terminal summary of a run (rich tables). Reads a result summary dict only."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from reports.data_tables import data_tables
from reports.registries import type_tables
from reports.resilience_table import resilience_tables
from reports.impact_table import impact_tables
from reports.formatting import by_start, duration, ms, num, pct, secs, significant
from reports.layout import print_fitted


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    req = summary["requests"]
    auto = " chosen by MSER-5" if summary.get("warmup_auto") else ""
    head = Table(title=f"{summary['scenario']}  (seed {summary['seed']}, "
                       f"{duration(summary['duration_s'] - summary['warmup_s'])} measured after "
                       f"{duration(summary['warmup_s'])} warm-up{auto})",
                 title_justify="left", show_header=True)
    for col in ("generated", "ok", "rejected", "timed out", "errors", "throughput/s", "availability"):
        head.add_column(col, justify="right")
    head.add_row(num(req["generated"]), num(req["ok"]), num(req["rejected"]), num(req["timed_out"]),
                 num(req["errors"]), num(summary["throughput_rps"]), pct(summary["availability"], 3))
    # A caption rather than a column: the row then fits 80 columns with room to spare.
    head.caption = f"{num(req['in_flight'])} still in flight at the end"
    for key, what in (("short_circuited", "short-circuited by a breaker"), ("rate_limited", "rate limited"),
                      ("degraded", "answered degraded by a fallback"), ("shed", "shed by load shedding")):
        if req.get(key):  # outcomes of the resilience policies, shown only when they happened
            head.caption += f"; {num(req[key])} {what}"
    head.caption_justify = "left"

    lat = Table(title="Latency of successful requests (ms)", title_justify="left")
    lat.add_column("scope")
    keys = ("mean", "p50", "p90", "p95", "p99", "p999", "max")
    for k in keys:
        lat.add_column(k, justify="right")
    lat.add_row("all", *(ms(summary["latency_s"][k]) for k in keys))
    if len(summary.get("workloads", {})) > 1:
        for name, w in summary["workloads"].items():
            lat.add_row(f"workload {name}", *(ms(w["latency_s"][k]) for k in keys))
    if len(summary.get("operations", {})) > 1:
        for name, o in summary["operations"].items():
            lat.add_row(f"operation {name}", *(ms(o["latency_s"][k]) for k in keys))

    comp = Table(title="Components", title_justify="left")
    for col, just in (("component", "left"), ("type", "left"), ("utilisation", "right"), ("queue mean", "right"),
                      ("queue max", "right"), ("wait mean", "right"), ("served", "right"),
                      ("rejected", "right"), ("failed", "right")):
        comp.add_column(col, justify=just)
    for name, c in summary["components"].items():
        comp.add_row(name, c.get("type", ""), pct(c.get("utilization"), 1), num(c.get("queue_length_mean")),
                     num(c.get("queue_length_max")), duration(c.get("wait_s_mean")), num(c.get("served")),
                     num(c.get("rejected")), num(c.get("failed")))
    tables = [head, lat, comp]

    tables += data_tables(summary["components"])
    details = details_table({n: c for n, c in summary["components"].items() if c.get("type") not in type_tables})
    if details is not None:
        tables.append(details)
    tables += resilience_tables(summary)
    tables += cost_tables(summary)
    tables += consistency_tables(summary)
    if summary.get("faults"):
        ft = Table(title="Fault timeline", title_justify="left")
        for col in ("from s", "to s", "fault"):
            ft.add_column(col)
        for f in by_start(summary["faults"]):  # numbered and ordered as on the charts
            ft.add_row(secs(f["start_s"]), secs(f["end_s"]) if f["end_s"] is not None else "end", f["description"])
        tables.append(ft)
        tables += impact_tables(summary)
    events = sorted(((ev["at_s"], name, ev.get("description", ev.get("kind", "")))
                     for name, c in summary["components"].items() if c.get("type") not in type_tables
                     for ev in c.get("events") or []), key=lambda e: e[0])
    if events:  # instant events of components without a table of their own (a balancer's ejections)
        et = Table(title="Event timeline", title_justify="left")
        for col in ("at s", "component", "event"):
            et.add_column(col)
        for at, name, what in events[:20]:
            et.add_row(num(at), name, what)
        if len(events) > 20:  # a flapping backend: the charts and summary.json have them all
            et.caption, et.caption_justify = f"... and {len(events) - 20} more (summary.json, charts)", "left"
        tables.append(et)
    return tables


STANDARD_KEYS = {"type", "workers", "utilization", "queue_length_mean", "queue_length_max", "wait_s_mean",
                 "served", "rejected", "failed", "expired", "algorithm", "share", "forwarded"}


def _fmt_detail(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt_detail(key, v)}" for k, v in value.items())
    if key.endswith("_s") and isinstance(value, (int, float)):
        return duration(value)
    if ("ratio" in key or key.endswith("_fraction")) and isinstance(value, float):
        return pct(value, 1)
    return num(value) if isinstance(value, (int, float)) else str(value)


def details_table(components: dict[str, Any]) -> Table | None:
    """Figures particular to some component types (hit ratio, replication lag, backlog, ...)."""
    rows = []
    for name, c in components.items():
        if c.get("app"):  # an application's metrics have tables of their own (reports/app_tables.py)
            continue
        extra = {k: v for k, v in c.items() if k not in STANDARD_KEYS and v is not None}
        if isinstance(extra.get("events"), list):  # listed in the event timeline instead
            extra["events"] = f"{len(extra['events'])} (event timeline)"
        if extra:
            rows.append((name, "; ".join(f"{k}: {_fmt_detail(k, v)}" for k, v in extra.items())))
    if not rows:
        return None
    table = Table(title="Component details", title_justify="left")
    table.add_column("component")
    table.add_column("figures", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def money(x: float) -> str:
    """A price: four significant digits, down to a millionth (no e-notation)."""
    return significant(x, 4, max_decimals=6)


def cost_tables(summary: dict[str, Any]) -> list[Table]:
    """The cost section, when the scenario prices the run (scaling steps are in the event timeline)."""
    tables = []
    cost = summary.get("cost")
    if cost:
        t = Table(title=f"Cost ({cost['currency']}, measured window)", title_justify="left")
        for col, just in (("part", "left"), ("quantity", "right"), ("cost", "right")):
            t.add_column(col, justify=just)
        for name, c in cost["by_component"].items():
            t.add_row(f"replicas of {name}", f"{num(cost['replica_hours'][name])} replica-h", money(c))
        t.add_row("egress", f"{num(cost['egress_gb'])} GB", money(cost["egress"]))
        t.add_row("requests", "", money(cost["requests"]))
        t.add_row("total", "", money(cost["total"]))
        tables.append(t)
    return tables


def consistency_tables(summary: dict[str, Any]) -> list[Table]:
    """The `consistency` section (`history: true`, `check:`): the recorded operations and each check."""
    c = summary.get("consistency")
    if not c:
        return []
    t = Table(title=f"Consistency ({c['model']} model: {num(c['operations'])} operations, {num(c['ok'])} ok, "
                    f"{num(c['fail'])} fail, {num(c['info'])} info)", title_justify="left")
    for col, just in (("check", "left"), ("verdict", "left"), ("violations", "right"), ("first violation", "left")):
        t.add_column(col, justify=just)
    for name, chk in (c.get("checks") or {}).items():
        t.add_row(name, chk["verdict"], num(chk["violations"]), chk["first_violation"] or "")
    if not c.get("checks"):
        t.caption = "no check declared (check: [linearizable, ...]); the history is in history.jsonl with --out"
        t.caption_justify = "left"
    return [t]


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)  # piped output: wide enough that no column is cut
    print_fitted(summary_tables(summary), console)
    for w in summary.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {w}")
