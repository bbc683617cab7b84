"""How numbers read in tables and lines of text: one function per kind of quantity, used everywhere.

Never scientific notation: a figure is written in fixed point with a few significant digits, in a
unit chosen so that it reads naturally (a duration of 0.000021 s is "21 µs"). A cell holds one unit.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

MAX_DECIMALS = 4  # below this a figure is "<0.0001": smaller would be noise in a table


def significant(x: float, digits: int = 3, max_decimals: int = MAX_DECIMALS) -> str:
    """`x` in fixed point with `digits` significant digits (more when it has more integer digits),
    thousands separated: 0.0523 -> "0.0523", 1234.5 -> "1,235", 5.19e-07 -> "<0.0001"."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = min(max(digits - 1 - mag, 0), max_decimals)
    if decimals and abs(round(x, decimals)) >= 10 ** (mag + 1):  # 0.9996 rounds up to 1.00, not 1.000
        decimals -= 1
    if round(abs(x), decimals) == 0:
        return ("-" if x < 0 else "") + "<0." + "0" * (max_decimals - 1) + "1"
    return f"{round(x, decimals) + 0.0:,.{decimals}f}"  # + 0.0: no "-0.0"


_DURATION_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"))


def duration(seconds: float | None) -> str:
    """A duration in s, ms or µs, whichever keeps the figure between 1 and 1,000 (s above that):
    0.0524 -> "52.4 ms", 2.5 -> "2.5 s", 2.18e-05 -> "21.8 µs", 0 -> "0"."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "-"
    if seconds == 0:
        return "0"
    for scale, unit in _DURATION_UNITS:
        if abs(seconds) >= scale * 0.9995:  # 0.9996 s reads "1 s", not "1,000 ms"
            return f"{significant(seconds / scale)} {unit}"
    return f"{significant(seconds / 1e-6)} µs"


def ms(seconds: float | None) -> str:
    """Milliseconds, for columns whose header names the unit."""
    return "-" if seconds is None else significant(seconds * 1000.0)


def pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100.0 * x:.{digits}f}%"


def num(x: Any) -> str:
    """A count (exact, thousands separated) or any other plain figure (three significant digits)."""
    if x is None:
        return "-"
    if isinstance(x, (bool, str)):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    return significant(float(x))


def rate(per_s: float | None) -> str:
    """Events per second, unit in the cell: 40 -> "40/s"."""
    return "-" if per_s is None else f"{significant(per_s)}/s"


def gigabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:,.2f}"


def by_start(faults: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fault windows in the order they start (a stable sort: declaration order breaks ties). Charts,
    their legends and every fault table number them in this order (F1 starts first), whatever order
    the scenario declared them in or a chaos generator drew them."""
    return sorted(faults, key=lambda f: f["start_s"])


def secs(t: float, decimals: int = 1) -> str:
    """A time for a label: to a tenth of a second, without trailing zeros (`30`, `23.6`), not `23.5519`."""
    return f"{t:.{decimals}f}".rstrip("0").rstrip(".") if math.isfinite(t) else str(t)


def window(fault: dict[str, Any]) -> str:
    """`23.6-24.9 s`; to the millisecond only where tenths would make a short window look empty."""
    start, end = fault["start_s"], fault["end_s"]
    if end is None:
        return f"{secs(start)} s-end"
    d = 1 if secs(start) != secs(end) else 3
    return f"{secs(start, d)}-{secs(end, d)} s"
