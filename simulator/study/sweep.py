"""What a comparison varies: axes (`--vary PATH=VALUES`) and the grid of variants they make.

VALUES is a comma-separated list (`round_robin,least_connections`, `2,4,8`, `10/s,20/s`; commas inside
brackets belong to a value: `exponential(mean=10ms),lognormal(median=8ms, p99=40ms)`) or a range
`START..STOP:N` — N evenly spaced values from START to STOP inclusive (`10/s..100/s:10` gives 10/s,
20/s, ..., 100/s) — or `START..STOP:+STEP` with a step in the same unit (`10/s..100/s:+30/s`).
Values keep the units they are written with; an axis whose values are all numbers (with or
without a unit) is numeric, and its charts become curves over it.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from simulator.language.errors import ScenarioError
from simulator.language.units import OutOfRange, UnitError, fmt_duration, fmt_rate, fmt_size, parse_duration, parse_rate, parse_size
from simulator.language.yamlio import parse_scalar

MAX_POINTS = 1000
_RANGE = re.compile(r"^\s*(?P<start>[^.\s][^\s]*?)\s*\.\.\s*(?P<stop>[^:\s]+)\s*(?::\s*(?P<n>\+?[^\s]+))?\s*$")
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_KINDS = (("rate", parse_rate, fmt_rate), ("duration", parse_duration, fmt_duration), ("size", parse_size, fmt_size))


def quantity(text: str) -> tuple[str, float] | None:
    """(kind, value in base units) of a number written with or without a unit; None if not a number."""
    text = text.strip()
    if _PLAIN.match(text) or (text.endswith("%") and _PLAIN.match(text[:-1])):
        x = float(text.rstrip("%"))
        if not math.isfinite(x):
            raise OutOfRange(f"{text!r} is too large")
        return ("percent" if text.endswith("%") else "number"), x
    for kind, parse, _fmt in _KINDS:
        try:
            return kind, parse(text)
        except OutOfRange:
            raise
        except UnitError:
            continue
    return None


def format_value(kind: str, value: float) -> Any:
    """`value` (in base units, of a `quantity` kind) as it is written in YAML: an int when whole,
    a percent with its sign, a rate, duration or size with its unit and no needless `.0`."""
    if kind == "number":
        return int(value) if float(value).is_integer() else value
    if kind == "percent":
        return f"{value:g}%"
    fmt = dict((k, f) for k, _p, f in _KINDS)[kind]
    return fmt(value).replace(".0/", "/").replace(".0s", "s").replace(".0B", "B")


@dataclass
class Axis:
    """One varied setting: a dotted path and the values it takes."""

    path: str
    values: list[Any]  # as written in YAML (units kept), ready to be an override
    numbers: list[float] | None = None  # base-unit values when the axis is numeric
    kind: str | None = None  # number, percent, rate, duration or size
    where: str = "--vary"  # where it was written (the flag, or a file's compare.vary), for errors

    @property
    def numeric(self) -> bool:
        return self.numbers is not None

    @property
    def label(self) -> str:
        unit = {"rate": " (/s)", "duration": " (s)", "size": " (B)", "percent": " (%)"}.get(self.kind or "", "")
        return self.path + unit

    def show(self, i: int) -> str:
        return str(self.values[i])


def split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, so a value may itself hold commas:
    `exponential(mean=10ms),lognormal(median=8ms, p99=40ms)` is two values, `[a, b],[c]` two lists."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_axis(spec: str, where: str = "--vary") -> Axis:
    """`PATH=VALUES` -> an Axis (errors name the flag and say what is expected)."""
    if "=" not in spec:
        raise ScenarioError(f"expected PATH=VALUES (e.g. components.lb.algorithm=round_robin,random), got {spec!r}",
                            file=where)
    path, raw = (x.strip() for x in spec.split("=", 1))
    return make_axis(path, raw, where)


def make_axis(path: str, raw: Any, where: str = "--vary") -> Axis:
    if not path or any(not p for p in path.split(".")):
        raise ScenarioError(f"invalid path {path!r}", file=where)
    origin, where = where, f"{where} {path}"
    if isinstance(raw, list):
        items = [str(v) if not isinstance(v, str) else v for v in raw]
        values = list(raw)
    else:
        raw = str(raw).strip()
        if not raw:
            raise ScenarioError("no values given; write a list (a,b,c) or a range (10/s..100/s:10)", file=where)
        m = _RANGE.match(raw)
        if m and ".." in raw:
            return _range_axis(path, m, where, origin)
        items = [x.strip() for x in split_top_level(raw)]
        if any(not x for x in items):
            raise ScenarioError(f"empty value in the list {raw!r}", file=where)
        try:
            values = [parse_scalar(x) for x in items]
        except ScenarioError as exc:
            raise ScenarioError(exc.message, file=where) from None
    if not values:
        raise ScenarioError("the list of values is empty", file=where)
    if len(set(map(str, values))) != len(values):
        raise ScenarioError(f"a value is listed twice in {values}", file=where)
    quantities = [_end(str(v), where) if not isinstance(v, bool) else None for v in values]
    if all(q is not None for q in quantities) and len({q[0] for q in quantities}) == 1:
        return Axis(path, values, [q[1] for q in quantities], quantities[0][0], origin)
    return Axis(path, values, where=origin)


def _range_axis(path: str, m: re.Match, where: str, origin: str) -> Axis:
    start, stop, n = m.group("start"), m.group("stop"), m.group("n")
    qa, qb = _end(start, where), _end(stop, where)
    if qa is None or qb is None:
        raise ScenarioError(f"a range needs numbers at both ends, got {start!r} and {stop!r}", file=where)
    if qa[0] != qb[0]:
        raise ScenarioError(f"the two ends of a range must have the same unit, got {start!r} and {stop!r}", file=where)
    kind, a, b = qa[0], qa[1], qb[1]
    if n is None:
        raise ScenarioError(f"say how many points: {start}..{stop}:N (N values) or {start}..{stop}:+STEP", file=where)
    if n.startswith("+"):
        qs = _end(n[1:], where)
        if qs is None or qs[0] != kind or not qs[1] > 0:
            raise ScenarioError(f"the step {n[1:]!r} must be a positive value in the same unit as {start!r}", file=where)
        steps = (b - a) / qs[1]  # counted before anything is built: a tiny step makes billions of points
        count = int(math.floor(steps + 1e-9)) + 1 if math.isfinite(steps) and steps < MAX_POINTS else MAX_POINTS + 1
    else:
        if not n.isdigit() or int(n) < 1:
            raise ScenarioError(f"the number of points must be a whole number >= 1, got {n!r}", file=where)
        count = int(n) if len(n) < 10 else MAX_POINTS + 1
    if b < a:
        raise ScenarioError(f"a range goes up: {start!r} is above {stop!r}", file=where)
    if not 1 <= count <= MAX_POINTS:
        shown = f"{count:,}" if count <= MAX_POINTS else "more"
        raise ScenarioError(f"a range gives between 1 and {MAX_POINTS} points, this one {shown}", file=where)
    if n.startswith("+"):
        numbers = [a + i * qs[1] for i in range(count)]
    else:
        numbers = [a] if count == 1 else [a + (b - a) * i / (count - 1) for i in range(count)]
    numbers = [round(x, 12) for x in numbers]
    return Axis(path, [format_value(kind, x) for x in numbers], numbers, kind, origin)


def _end(text: str, where: str) -> tuple[str, float] | None:
    """`quantity(text)`, with a number too large for its unit told as such (not as a missing number)."""
    try:
        return quantity(text)
    except OutOfRange as exc:
        raise ScenarioError(str(exc), file=where) from None


@dataclass
class Variant:
    """One point of the grid: a value for every axis."""

    index: int
    coords: tuple[int, ...]  # index of the value on each axis
    overrides: list[tuple[str, Any]] = field(default_factory=list)
    label: str = ""


def shown(value: Any) -> str:
    """A varied value as YAML writes it, for a variant's label: `none`, `true`, `{ratio: 10%}`
    (Python's `None`, `True` and `{'ratio': '10%'}` are not what the user wrote)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


def grid(axes: list[Axis]) -> list[Variant]:
    """The cartesian product of the axes (no axis: one variant, the scenario as written)."""
    if not axes:
        return [Variant(0, (), [], "as written")]
    variants = []
    for i, coords in enumerate(itertools.product(*(range(len(a.values)) for a in axes))):
        overrides = [(a.path, a.values[c]) for a, c in zip(axes, coords)]
        if len(axes) == 1:
            label = shown(axes[0].values[coords[0]])
        else:
            label = ", ".join(f"{a.path.rsplit('.', 1)[-1]}={shown(a.values[c])}" for a, c in zip(axes, coords))
        variants.append(Variant(i, coords, overrides, label))
    return variants
