"""The terminal table of a comparison: one row per variant, mean ± 95% half-width per metric."""
from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from reports.formatting import duration, significant
from reports.layout import print_fitted
from simulator.study.comparison import TABLE_METRICS, Comparison, metric_info

HEADERS = {
    "latency_mean_s": "mean ms", "latency_p50_s": "p50 ms", "latency_p90_s": "p90 ms", "latency_p95_s": "p95 ms",
    "latency_p99_s": "p99 ms", "latency_p999_s": "p99.9 ms", "throughput_rps": "throughput/s",
    "offered_rps": "offered/s", "availability": "availability %", "error_rate": "error rate %",
}


def header(metric: str) -> str:
    """A column's header names its unit once; its cells are bare figures (one unit per column)."""
    unit = metric_info(metric)[0]
    return HEADERS.get(metric) or (f"{metric} ({unit})" if unit else metric)


_SCALES = {"ms": (1000.0, 3), "%": (100.0, 3), "/s": (1.0, 4), "": (1.0, 4)}  # shown unit: factor, sig. digits
MAX_DECIMALS = 6


def _decimals(half: float) -> int:
    """Decimal places that show a half-width to two significant digits (negative: round to tens...)."""
    return min(MAX_DECIMALS, 1 - math.floor(math.log10(half)))


def _fixed(x: float, decimals: int) -> str:
    return f"{round(x, decimals) + 0.0:,.{max(decimals, 0)}f}"  # + 0.0: no "-0.0"


def fmt(metric: str, value: float, half: float | None = None) -> str:
    """`mean ± half-width` in the metric's shown unit (named by the column's header, not repeated in
    the cell). The half-width has two significant digits and the mean is rounded to the same decimal
    place (more digits would be noise), so a column reads alike whatever the scale of its figures."""
    if value is None or not math.isfinite(value):
        return "-"
    unit = metric_info(metric)[0]
    scale, digits = _SCALES[unit]
    v = value * scale
    h = half * scale if half is not None and math.isfinite(half) else None
    if h is not None and h <= 1e-9 * abs(v):
        h = 0.0  # rounding noise of identical values (a constant service time), not an interval
    if h is not None and h > 0:
        d = _decimals(h)
        return f"{_fixed(v, d)} ± {_fixed(h, d)}"
    text = _fixed(v, 3) if unit == "%" else significant(v, digits)
    return text + (" ± 0" if h == 0 else "")


def estimate(metric: str, value: float, half: float | None = None) -> str:
    """`fmt` with the unit written after the figures, for text outside a table: "52.4 ± 3.2 ms"."""
    unit = metric_info(metric)[0]
    text = fmt(metric, value, half)
    return text if text == "-" or not unit else f"{text}{'' if unit.startswith(('%', '/')) else ' '}{unit}"


def fmt_half(metric: str, half: float | None) -> str:
    """A half-width alone, two significant digits, in the metric's shown unit."""
    if half is None or not math.isfinite(half):
        return "-"
    unit = metric_info(metric)[0]
    h = half * _SCALES[unit][0]
    return "0" if h == 0 else _fixed(h, _decimals(h))


def fewer(n: int, replications: int) -> str:
    """A note on a figure resting on fewer replications than the others (runs without a value)."""
    return f" (n={n})" if 0 < n < replications else ""


def comparison_table(study: Comparison, metrics: list[str] | None = None) -> Table:
    metrics = metrics or TABLE_METRICS
    tab = study.table
    reps = sorted({int(n) for m in metrics for n in tab[f"{m}_n"]})
    rests = f"{reps[0]}" if len(reps) == 1 else f"{reps[0]}-{reps[-1]}"
    if study.replications == 1:
        what = "one run each: no confidence interval without replications (-r 2 or more)"
    else:
        what = f"mean ± 95% CI over {rests} replications each"
    t = Table(title=f"{study.scenario_name}: {len(study.variants)} variants x {study.replications} "
                    f"replication{'s' if study.replications != 1 else ''} ({what})", title_justify="left")
    t.add_column("variant")
    for m in metrics:
        t.add_column(header(m), justify="right")
    for var in study.variants:
        row = tab.iloc[var.index]
        cells = [var.label + (" (baseline)" if study.baseline_of(var.index) == var.index else "")]
        for m in metrics:
            text = fmt(m, row[m], row[f"{m}_ci"]) + fewer(int(row[f"{m}_n"]), study.replications)
            mark = study.mark(var.index, m)
            if mark == "best":
                text = f"[bold green]★ {text}[/]"
            elif mark == "tied":
                text = f"≈ {text}"
            cells.append(text)
        t.add_row(*cells)
    same = "" if len(study.axes) < 2 else " at the same " + ", ".join(
        a.path.rsplit(".", 1)[-1] for i, a in enumerate(study.axes) if i != study.compared_axis)
    t.caption = (f"★ best{same}; ≈ not significantly different from it (paired 95% CI of the difference "
                 "contains 0); unmarked: significantly worse")
    if any(0 < tab[f"{m}_n"].min() < study.replications for m in metrics) or \
            any(tab[f"{m}_n"].min() == 0 for m in metrics):
        t.caption += f"; (n=k): from k of the {study.replications} replications (the others have no value)"
    return t


def differences_table(study: Comparison, metrics: list[str] | None = None) -> Table | None:
    diffs = study.differences
    if diffs.empty:
        return None
    metrics = metrics or TABLE_METRICS
    k = study.compared_axis
    base = study.variants[study.baseline].label
    if k is not None and len(study.axes) > 1:
        axis = study.axes[k]
        base = f"{axis.path.rsplit('.', 1)[-1]}={axis.values[study.variants[study.baseline].coords[k]]} at the same " \
               + ", ".join(a.path.rsplit(".", 1)[-1] for i, a in enumerate(study.axes) if i != k)
    t = Table(title=f"Differences against {base} (paired by replication seed; unpaired CI for contrast)",
              title_justify="left")
    t.add_column("variant")
    for m in metrics:
        t.add_column(header(m), justify="right")
    for label, grp in diffs.groupby("variant", sort=False):
        cells = [str(label)]
        for m in metrics:
            r = grp[grp["metric"] == m].iloc[0]
            text = fmt(m, r["difference"], r["paired_ci"])
            if math.isfinite(r["unpaired_ci"]):
                text += f" (±{fmt_half(m, r['unpaired_ci'])})"
            cells.append(f"[bold]{text} *[/]" if r["significant"] else text)
        t.add_row(*cells)
    t.caption = "* significant: the paired 95% CI excludes 0; in brackets the half-width without pairing"
    return t


def warmup_line(chosen: dict) -> str:
    """How `warmup: auto` chose the warm-ups of a comparison's runs (one line)."""
    spread = (duration(chosen["min_s"]) if chosen["min_s"] == chosen["max_s"] else
              f"{duration(chosen['min_s'])} to {duration(chosen['max_s'])} (mean {duration(chosen['mean_s'])})")
    return (f"warm-up chosen by {chosen['method']} for each of the {chosen['runs']} runs: {spread}; "
            "each run's in replications.csv")


def print_comparison(study: Comparison, metrics: list[str] | None = None, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    tables = [comparison_table(study, metrics)]
    d = differences_table(study, metrics)
    if d is not None:
        tables.append(d)
    print_fitted(tables, console)
    chosen = study.chosen_warmups()
    if chosen:
        console.print(warmup_line(chosen))
    for w in study.summary()["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")
