"""An application's own metrics: what a domain measures (send -> deliver latency, match rate, rebuffer
ratio, write amplification), kept compactly and reported in the summary, the terminal, charts and
report.html without the reports knowing the domain.

Four kinds, each declared once by name with a one-line meaning:
- `Observations` (`metrics.observe("deliver_s", "send -> deliver, online receivers")`): values in an
  `array('d')` (8 bytes each); the summary gives count, mean, p50, p90, p99 and max.
- `Counter` (`metrics.counter("lost", ...)`): an integer that only grows.
- `Gauge` (`metrics.gauge("backlog", fn, ...)`): `fn()` read at every time-series bucket: a time series
  (`<app>.<name>` in `Result.timeseries`) plus its mean and max in the summary.
- `GaugeGroup` (`metrics.gauges("surge", labels, fn, ...)`): `fn()` gives one value per label at every
  bucket (`<app>.<name>.<label>` series): drawn as a heat map (time x label).
And `metrics.value("qoe", fn, ...)`: a figure computed once at the end of the run from the others.

Everything before the end of the warm-up is forgotten (`reset`), as for the components' own figures.
A study marks the lowest value of a figure best unless its name says otherwise (`hit_ratio`,
`throughput`, ...) or the module declared it with `prefer_higher("match_rate", ...)` when imported.
"""
from __future__ import annotations

import math
from array import array
from typing import Any, Callable, Sequence

import numpy as np

from simulator.results.metrics import prefer_higher  # noqa: F401  (part of the API: studies' "best" direction)


class Observations:
    """Values of one measured quantity (a latency, a delay, a size), one `add` per observation."""

    __slots__ = ("name", "about", "unit", "values", "add")

    def __init__(self, name: str, about: str, unit: str) -> None:
        self.name, self.about, self.unit = name, about, unit
        self.values = array("d")
        self.add: Callable[[float], None] = self.values.append

    def reset(self) -> None:
        self.values = array("d")
        self.add = self.values.append

    def summary(self) -> dict[str, Any]:
        v = np.frombuffer(self.values, dtype=np.float64) if len(self.values) else np.empty(0)
        if v.size == 0:  # the same keys, so a study can name them whatever a run observed
            return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
        p50, p90, p99 = np.percentile(v, [50, 90, 99]).tolist()
        return {"count": int(v.size), "mean": float(v.mean()), "p50": p50, "p90": p90, "p99": p99,
                "max": float(v.max())}


class Counter:
    """An event count (`n += 1` or `add(k)`)."""

    __slots__ = ("name", "about", "n")

    def __init__(self, name: str, about: str) -> None:
        self.name, self.about, self.n = name, about, 0

    def add(self, k: int = 1) -> None:
        self.n += k

    def reset(self) -> None:
        self.n = 0


class Gauge:
    """A level read at every time-series bucket (a backlog, users online, memory held)."""

    __slots__ = ("name", "about", "unit", "read", "seen")

    def __init__(self, name: str, read: Callable[[], float], about: str, unit: str) -> None:
        self.name, self.read, self.about, self.unit = name, read, about, unit
        self.seen: list[float] = []

    def reset(self) -> None:
        self.seen = []


class GaugeGroup:
    """One level per label (an area, a shard, a region), read together at every bucket."""

    __slots__ = ("name", "about", "unit", "labels", "read", "seen")

    def __init__(self, name: str, labels: Sequence[str], read: Callable[[], Sequence[float]], about: str,
                 unit: str) -> None:
        self.name, self.labels, self.read, self.about, self.unit = name, list(labels), read, about, unit
        self.seen: list[Sequence[float]] = []

    def reset(self) -> None:
        self.seen = []


class AppMetrics:
    """The metrics one application declared, by name, in the order declared (the order of the tables)."""

    def __init__(self) -> None:
        self.observed: dict[str, Observations] = {}
        self.counters: dict[str, Counter] = {}
        self.gauge_list: dict[str, Gauge] = {}
        self.groups: dict[str, GaugeGroup] = {}
        self.values: dict[str, tuple[Callable[[], Any], str]] = {}

    def _new(self, name: str) -> None:
        taken = {**self.observed, **self.counters, **self.gauge_list, **self.groups, **self.values}
        if name in taken:
            raise ValueError(f"metric {name!r} is declared twice")

    def observe(self, name: str, about: str, unit: str = "s") -> Observations:
        self._new(name)
        obs = self.observed[name] = Observations(name, about, unit)
        return obs

    def counter(self, name: str, about: str) -> Counter:
        self._new(name)
        c = self.counters[name] = Counter(name, about)
        return c

    def gauge(self, name: str, read: Callable[[], float], about: str, unit: str = "") -> Gauge:
        self._new(name)
        g = self.gauge_list[name] = Gauge(name, read, about, unit)
        return g

    def gauges(self, name: str, labels: Sequence[str], read: Callable[[], Sequence[float]], about: str,
               unit: str = "") -> GaugeGroup:
        self._new(name)
        g = self.groups[name] = GaugeGroup(name, labels, read, about, unit)
        return g

    def value(self, name: str, compute: Callable[[], Any], about: str) -> None:
        """A figure computed once, at the end (a ratio of counters, a score)."""
        self._new(name)
        self.values[name] = (compute, about)

    def reset(self) -> None:
        for group in (self.observed, self.counters, self.gauge_list, self.groups):
            for m in group.values():
                m.reset()

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, g in self.gauge_list.items():
            v = float(g.read())
            g.seen.append(v)
            out[name] = v
        for name, grp in self.groups.items():
            vals = [float(x) for x in grp.read()]
            grp.seen.append(vals)
            for label, v in zip(grp.labels, vals):
                out[f"{name}.{label}"] = v
        return out

    def summary(self) -> dict[str, Any]:
        """`metrics` (the figures) and `about` (each one's meaning and unit) for the summary."""
        figures: dict[str, Any] = {}
        about: dict[str, str] = {}
        for name, o in self.observed.items():
            figures[name] = o.summary()
            about[name] = f"{o.about} ({o.unit})" if o.unit else o.about
        for name, c in self.counters.items():
            figures[name] = c.n
            about[name] = c.about
        for name, g in self.gauge_list.items():
            figures[name] = {"mean": float(np.mean(g.seen)) if g.seen else None,
                             "max": float(np.max(g.seen)) if g.seen else None}
            about[name] = f"{g.about} ({g.unit}), over time" if g.unit else f"{g.about}, over time"
        for name, grp in self.groups.items():
            seen = np.asarray(grp.seen, dtype=float) if grp.seen else np.empty((0, len(grp.labels)))
            figures[name] = {"labels": grp.labels,
                             "mean": [float(x) for x in seen.mean(axis=0)] if len(seen) else None,
                             "max": [float(x) for x in seen.max(axis=0)] if len(seen) else None}
            about[name] = f"{grp.about} ({grp.unit}), per label over time" if grp.unit else \
                f"{grp.about}, per label over time"
        for name, (compute, text) in self.values.items():
            v = compute()
            figures[name] = None if isinstance(v, float) and not math.isfinite(v) else v
            about[name] = text
        return {"metrics": figures, "about": about}
