"""How numbers read in tables: milliseconds, percentages, counts."""
from __future__ import annotations

from typing import Any


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    v = seconds * 1000.0
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100.0 * x:.{digits}f}%"


def num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"
