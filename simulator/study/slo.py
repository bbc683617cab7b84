"""Service-level objectives and the capacity search: the highest load that meets every SLO.

An SLO is written `METRIC OP VALUE`: `p99<200ms`, `mean<=50ms`, `availability>99.9%`,
`error_rate<1%`, `throughput>=400/s`. Latency metrics are mean, p50, p90, p95, p99, p999; each
metric may also be written with the name `--metric` uses (`latency_p99_s<200ms`), which is the one
the outputs show.

The search varies one numeric setting (usually a workload's rate): starting from the scenario's
value it doubles until some SLO fails (or halves until all pass), then bisects the bracket until
it is narrower than `tolerance` (relative). Each point is judged on the mean over `replications`
runs (shared seeds, so neighbouring points see the same randomness); the answer is the highest
passing value, with the bracket [highest pass, lowest fail] as its uncertainty, and each SLO's
confidence interval at that point.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from simulator.results.metrics import METRICS, NAMES, canonical_metric, metric_hint
from simulator.study.comparison import Comparison, compare
from simulator.language.errors import ScenarioError, did_you_mean
from simulator.statistics.inference import mean_interval
from simulator.scenario.schema import Scenario, suggest_path
from simulator.study.sweep import Axis, format_value, quantity
from simulator.language.units import UnitError, parse_duration, parse_fraction, parse_rate

_SLO = re.compile(r"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op><=|>=|<|>)\s*(?P<value>\S+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                    ">=": operator.ge}


@dataclass(frozen=True)
class SLO:
    text: str
    metric: str  # a comparison metric name (latency_p99_s, availability, ...)
    op: str
    threshold: float

    def met(self, value: float | None) -> bool:
        return value is not None and math.isfinite(value) and _OPS[self.op](value, self.threshold)


def parse_slo(text: str) -> SLO:
    m = _SLO.match(text)
    if not m:
        raise ScenarioError(f"cannot read {text!r}: write METRIC OP VALUE, e.g. p99<200ms or availability>99.9%",
                            file="--slo")
    name, op, raw = m.group("metric"), m.group("op"), m.group("value")
    metric = canonical_metric(name)  # p99 and latency_p99_s are the same figure
    if metric is None or metric == "offered_rps":
        raise ScenarioError(f"unknown metric '{name}' in {text!r}{metric_hint(name, NAMES)}; one of: "
                            f"{', '.join(n for n in NAMES if n not in ('offered', 'offered_rps'))}", file="--slo")
    unit = METRICS[metric][1]
    try:
        threshold = parse_duration(raw) if unit == "ms" else parse_fraction(raw) if unit == "%" else parse_rate(raw)
    except UnitError as exc:
        raise ScenarioError(f"{text!r}: {exc}", file="--slo") from None
    slo = SLO(f"{metric}{op}{raw}", metric, op, threshold)  # shown with the metric's one (long) name
    if slo.threshold < 0:
        raise ScenarioError(f"{text!r}: the threshold cannot be negative", file="--slo")
    # Objectives no run can meet, or that every run meets, would only send the search to its limits.
    top = 1.0 if unit == "%" else math.inf  # the figure lies in [0, top]
    t = slo.threshold
    possible = {"<": t > 0, "<=": True, ">": t < top, ">=": t <= top}[op]
    certain = {"<": t > top, "<=": t >= top, ">": False, ">=": t == 0}[op]
    if not possible:
        raise ScenarioError(f"{text!r} can never hold", file="--slo")
    if certain:
        raise ScenarioError(f"{text!r} always holds: it limits nothing", file="--slo")
    return slo


@dataclass
class Point:
    value: float
    passed: bool
    figures: dict[str, tuple[float, float]]  # metric -> (mean, 95% half-width)


@dataclass
class Capacity:
    path: str
    kind: str
    slos: list[SLO]
    replications: int
    points: list[Point] = field(default_factory=list)
    highest_pass: float | None = None
    lowest_fail: float | None = None

    def show(self, value: float | None) -> str:
        return "-" if value is None else str(format_value(self.kind, value))

    def summary(self) -> dict[str, Any]:
        best = next((p for p in self.points if p.value == self.highest_pass), None)
        return {
            "path": self.path,
            "slos": [s.text for s in self.slos],
            "replications": self.replications,
            "capacity": self.show(self.highest_pass),
            "capacity_value": self.highest_pass,
            "first_failing": self.show(self.lowest_fail),
            "first_failing_value": self.lowest_fail,
            "uncertainty": None if self.highest_pass is None or self.lowest_fail is None
            else (self.lowest_fail - self.highest_pass) / 2,
            "at_capacity": None if best is None else {
                s.text: {"mean": best.figures[s.metric][0], "ci": best.figures[s.metric][1],
                         "margin_is_significant": _significant(s, *best.figures[s.metric])} for s in self.slos},
            "evaluated": [{"value": p.value, "passed": p.passed,
                           "figures": {k: {"mean": m, "ci": h} for k, (m, h) in p.figures.items()}}
                          for p in sorted(self.points, key=lambda p: p.value)],
        }


def _significant(slo: SLO, mean: float, half: float) -> bool:
    """The SLO holds with 95% confidence (its threshold is outside the mean's interval)."""
    if not math.isfinite(half):
        return False
    return slo.met(mean + half) and slo.met(mean - half)


def _setting(scenario: Scenario, path: str) -> Any:
    data = scenario.model_dump(mode="json")
    node: Any = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            keys = list(node) if isinstance(node, dict) else []
            hint = did_you_mean(part, keys) or suggest_path(data, path)
            raise ScenarioError(f"no '{part}' in the scenario at {path}{hint}", file="--vary")
    return node


def current_value(scenario: Scenario, path: str) -> tuple[str, float]:
    """(kind, value in base units) of the numeric setting at `path`."""
    node = _setting(scenario, path)
    q = quantity(str(node))
    if q is None:
        shown = f"a {'mapping' if isinstance(node, dict) else 'list'}" if isinstance(node, (dict, list)) else repr(node)
        raise ScenarioError(f"{path} is {shown}, not a number: the capacity search needs a numeric setting "
                            f"such as workloads.NAME.arrivals.rate", file="--vary")
    return q


MAX_DOUBLINGS = 20
MIN_TOLERANCE = 0.001  # relative width of the final bracket; finer needs more points than a search makes


def find_capacity(scenario: Scenario, path: str, slos: list[SLO], replications: int = 5, executor: Any = None,
                  cache: Any = None, low: float | None = None, high: float | None = None,
                  tolerance: float = 0.02, max_points: int = 30,
                  progress: Callable[[Point], None] | None = None,
                  check: Callable[[Scenario, str], Any] | None = None) -> Capacity:
    """The highest value of `path` at which every SLO holds (see the module's docstring); `check` is
    called on each point's scenario before it runs (the CLI refuses runaway runs)."""
    if not slos:
        raise ScenarioError("give at least one --slo, e.g. --slo 'p99<200ms'", file="--slo")
    if not MIN_TOLERANCE <= tolerance < 1:
        raise ScenarioError(f"must be between {MIN_TOLERANCE:.1%} and 100% (relative), got {tolerance:g}",
                            file="--tolerance")
    kind, start = current_value(scenario, path)
    if start <= 0 and low is None:
        raise ScenarioError(f"{path} is {start:g}: give --low, a positive value to start from", file="--vary")
    if high is not None and high <= (low if low is not None else start):
        which = "--low" if low is not None else f"the scenario's value of {path}"
        raise ScenarioError(f"must be above {which} ({format_value(kind, low if low is not None else start)}), "
                            f"got {format_value(kind, high)}", file="--high")
    # A whole-number setting (workers, connections, replicas) is searched over whole numbers only.
    whole = isinstance(_setting(scenario, path), int) and (low is None or float(low).is_integer())
    result = Capacity(path, kind, slos, replications)
    seen: dict[float, Point] = {}

    def evaluate(x: float) -> bool:
        if x in seen:
            return seen[x].passed
        if len(seen) >= max_points:
            raise ScenarioError(f"no answer within {max_points} points; narrow it with --low and --high, or "
                                f"give a larger --tolerance", file="--vary")
        axis = Axis(path, [format_value(kind, x)], [x], kind)
        study: Comparison = compare(scenario, [axis], replications, executor, cache, check=check)
        figures = {}
        for s in slos:
            iv = mean_interval(study.values(0, s.metric))
            figures[s.metric] = (iv.mean, iv.half_width)
        passed = all(s.met(figures[s.metric][0]) for s in slos)
        point = seen[x] = Point(x, passed, figures)
        result.points.append(point)
        if progress:
            progress(point)
        return passed

    lo = low if low is not None else start
    if not evaluate(lo):
        if low is not None:
            raise ScenarioError(f"the SLOs already fail at --low {format_value(kind, lo)}", file="--low")
        for _ in range(12):
            if whole and lo <= 1:
                raise ScenarioError(f"the SLOs fail even at {format_value(kind, lo)}", file="--vary")
            hi, lo = lo, (lo // 2 if whole else lo / 2)
            if evaluate(lo):
                break
        else:
            raise ScenarioError(f"the SLOs fail even at {format_value(kind, lo)}", file="--vary")
    else:
        hi = high if high is not None else lo * 2
        doublings = 0
        while evaluate(hi):
            if high is not None:
                result.highest_pass, result.lowest_fail = hi, None
                return result  # every load up to --high meets the SLOs
            doublings += 1
            if doublings >= MAX_DOUBLINGS:
                raise ScenarioError(
                    f"the SLOs still hold at {format_value(kind, hi)}, {2 ** doublings:,} times the start: a higher "
                    f"{path} does not make them harder to meet (the search looks for the most load a system "
                    f"takes), or give --high", file="--vary")
            lo, hi = hi, hi * 2
    while hi - lo > tolerance * lo and not (whole and hi - lo <= 1):
        mid = (lo + hi) // 2 if whole else (lo + hi) / 2
        if evaluate(mid):
            lo = mid
        else:
            hi = mid
    result.highest_pass, result.lowest_fail = lo, hi
    return result
