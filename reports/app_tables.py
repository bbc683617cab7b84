"""Terminal tables of applications' own metrics (models/apps/): one table of measured distributions
and one of figures per application, with the extrapolation to the full system as its caption. They
read the summary's `metrics` and `about` only, so a new application needs no table of its own."""
from __future__ import annotations

import re
from typing import Any

from rich.table import Table

from reports.formatting import duration, num, pct

_DIST_KEYS = ("count", "mean", "p50", "p90", "p99", "max")


def _unit_of(about: str) -> str:
    """The unit a metric's meaning names: its last "(unit)", a short word (`(s)`, `(Mbps)`, `(ratio)`)."""
    units = re.findall(r"\(([^\s()]{1,12})\)", about)
    return units[-1] if units else ""


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return duration(value)
    if unit in ("ratio", "share", "fraction"):
        return pct(value, 2)
    return num(value)


def _figure(value: Any, unit: str) -> str:
    if isinstance(value, dict):
        if "labels" in value:  # a gauge group: its busiest label
            means = value.get("mean") or []
            if not means:
                return "-"
            i = max(range(len(means)), key=means.__getitem__)
            return f"highest mean {_fmt(means[i], unit)} ({value['labels'][i]})"
        return f"mean {_fmt(value.get('mean'), unit)}, max {_fmt(value.get('max'), unit)}"
    return _fmt(value, unit)


def app_tables(components: dict[str, dict[str, Any]]) -> list[Table]:
    tables: list[Table] = []
    for name, c in components.items():
        if not c.get("app"):
            continue
        metrics, about = c.get("metrics", {}), c.get("about", {})
        dists = {k: v for k, v in metrics.items() if isinstance(v, dict) and "count" in v}
        if dists:
            t = Table(title=f"{name}: measured", title_justify="left")
            t.add_column("metric")
            for k in _DIST_KEYS:
                t.add_column(k, justify="right")
            for k, v in dists.items():
                unit = _unit_of(about.get(k, ""))
                t.add_row(k, num(v["count"]), *(_fmt(v.get(x), unit) for x in _DIST_KEYS[1:]))
            tables.append(t)
        rest = {k: v for k, v in metrics.items() if k not in dists}
        if rest:
            t = Table(title=f"{name}: figures", title_justify="left")
            t.add_column("metric")
            t.add_column("value", justify="right")
            t.add_column("meaning", overflow="fold")
            for k, v in rest.items():
                text = about.get(k, "")
                t.add_row(k, _figure(v, _unit_of(text)), text)
            tables.append(t)
        lines = c.get("extrapolation")
        if lines and tables:
            scale = c.get("scale")
            head = f"Full system (this run simulates {_share(scale)} of it):" if scale else "Full system:"
            tables[-1].caption = "\n".join([head, *(f"- {line}" for line in lines)])
            tables[-1].caption_justify = "left"
    return tables


def _share(scale: float) -> str:
    if scale >= 0.01:
        return f"{100 * scale:g}%"
    return f"1/{round(1 / scale):,}"
