"""`dsim explore`: find a fault timeline that breaks a system, then shrink it to the smallest one.

    from simulator import load_scenario
    from simulator.study.explore import explore
    from simulator.study.explore_draw import Budget
    from simulator.study.slo import parse_slo

    found = explore(load_scenario("scenarios/three-tier.yaml"), runs=50, slos=[parse_slo("p99<500ms")],
                    budget=Budget(kinds=("crash", "partition")), explore_seed=1)
    found.shrunk        # the smallest failing timeline: a list of `faults:` entries
    found.violations    # what fails with it, e.g. ["availability>99%: 97.1%"]
    write_found(found, "found.yaml")   # a ready scenario with a comment block explaining it

The scenario runs with its own seed under timeline i, drawn from the explore seed (explore_draw.py),
in batches on the executors `dsim compare` uses, until one run fails the property (`violations`: a
declared SLO fails, or a `consistency` check of the summary is not ok). That timeline is shrunk
(ddmin over its faults, then shorter windows and earlier starts by bisection, then simpler shapes
and smaller magnitudes), each candidate a full run of the scenario, cached, at most `shrink_runs`
of them. Everything is deterministic: the same scenario, seeds and budget give the same result.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.language.errors import DsimError, ScenarioError
from simulator.language.yamlio import dump_yaml
from simulator.results.metrics import METRICS
from simulator.scenario.schema import Scenario, validate
from simulator.study.explore_draw import Budget, Places, as_entries, describe, draw_timeline, places_of, timeline_rng
from simulator.study.run_cache import ResultCache, code_fingerprint, file_digests, named_files, run_key
from simulator.study.run_figures import is_record, run_record
from simulator.study.shrink import bisect_down, ddmin
from simulator.study.slo import SLO

Timeline = list[dict[str, Any]]
StepFn = Callable[[str], None]

MAX_RUNS = 100_000


# --- the property ----------------------------------------------------------------------------------
def _shown(metric: str, value: float | None) -> str:
    if value is None:
        return "no value"
    unit = METRICS[metric][1]
    if unit == "ms":
        return f"{value * 1000:.4g}ms"
    if unit == "%":
        return f"{value * 100:.4g}%"
    return f"{value:.4g}{unit}"


def violations(record: dict[str, Any], slos: list[SLO]) -> list[str]:
    """What a run breaks, one line each: every declared SLO its figures miss, and every check of its
    summary's `consistency` section (`checks: {name: {verdict: pass|fail|unknown, first_violation,
    ...}}`, or `{ok: bool}`) that failed. Empty: the run passes. The one predicate of exploration
    and shrinking."""
    out = [f"{s.text}: {_shown(s.metric, record['metrics'].get(s.metric))}"
           for s in slos if not s.met(record["metrics"].get(s.metric))]
    checks = (record.get("consistency") or {}).get("checks") or {}
    for name, verdict in checks.items():
        # a check's verdict: `verdict: fail` (pass / fail / unknown: an undecided search is no
        # failure), or `ok: false`
        if isinstance(verdict, dict) and (verdict.get("ok") is False or verdict.get("verdict") == "fail"):
            detail = verdict.get("first_violation") or "violated"
            out.append(f"check {name}: {detail if isinstance(detail, str) else json.dumps(detail)[:200]}")
    return out


def declares_checks(scenario: Scenario) -> bool:
    """Whether the scenario declares consistency checks (`check:`, where the schema has it)."""
    return bool(getattr(scenario, "check", None))


# --- running timelines -----------------------------------------------------------------------------
class Runner:
    """Runs the scenario under timelines on an executor, caching every verdict by the timeline
    (in memory, and in the run cache when one is given) and counting the runs actually made."""

    def __init__(self, scenario: Scenario, slos: list[SLO], executor: Any, cache: ResultCache | None) -> None:
        from simulator.study.executors import InProcess
        from simulator.version import __version__

        self.scenario, self.slos = scenario, slos
        self.executor = executor or InProcess()
        self.cache = cache
        self.base = scenario.model_dump(mode="json", exclude={"compare", "description"})
        self.base_dir = str(scenario.base_dir) if scenario.base_dir else None
        contents = named_files(self.base, self.base_dir)
        self.digests = file_digests(contents)
        self.files = {n: c for n, c in contents.items() if c is not None}
        self.code = f"{__version__}+{code_fingerprint()}"
        self.known: dict[str, dict[str, Any]] = {}  # timeline key -> record
        self.runs = 0  # runs made (not found in either cache)

    def data(self, timeline: Timeline) -> dict[str, Any]:
        data = copy.deepcopy(self.base)
        data["faults"] = as_entries(timeline)
        return data

    @staticmethod
    def key(timeline: Timeline) -> str:
        return json.dumps(timeline, sort_keys=True)

    def records(self, timelines: list[Timeline], label: str = "explore") -> list[dict[str, Any]]:
        """The record of a run under each timeline (in order), running those not yet known as one batch."""
        todo, keys, where = [], [], []
        seed = self.scenario.seed
        for tl in timelines:
            k = self.key(tl)
            if k in self.known or k in where:
                continue
            data = self.data(tl)
            try:
                validate(data, file=label, base_dir=self.scenario.base_dir)
            except ScenarioError as exc:  # a drawn fault the scenario refuses is a bug of the drawing
                raise DsimError(f"explore drew a fault the scenario refuses ({exc}); please report it") from None
            ck = run_key(data, seed, self.code, self.digests)
            hit = self.cache.get(ck, lambda rec: is_record(rec, seed)) if self.cache is not None else None
            if hit is not None:
                self.known[k] = hit
                continue
            todo.append({"scenario": data, "base_dir": self.base_dir, "files": self.files, "seed": seed,
                         "label": label, "variant": 0, "replication": 0})
            keys.append(ck)
            where.append(k)
        for i, record in self.executor.run(run_record, todo):
            if self.cache is not None:
                self.cache.put(keys[i], record)
            self.known[where[i]] = record
            self.runs += 1
        return [self.known[self.key(tl)] for tl in timelines]

    def fails(self, timelines: list[Timeline]) -> list[bool]:
        return [bool(violations(r, self.slos)) for r in self.records(timelines)]


# --- shrinking -------------------------------------------------------------------------------------
class _Budgeted:
    """The shrinking predicate with a budget of candidates: those beyond it are not tried. Every
    new candidate counts, whether it is run or found in a cache, so the result does not depend on
    what the caches hold."""

    def __init__(self, runner: Runner, limit: int, step: StepFn | None) -> None:
        self.runner, self.limit, self.step = runner, limit, step
        self.seen: set[str] = set()

    @property
    def used(self) -> int:
        return len(self.seen)

    def left(self) -> int:
        return self.limit - self.used

    def batch(self, timelines: list[Timeline]) -> list[bool]:
        usable: list[Timeline] = []
        room = self.left()
        fresh: set[str] = set()
        for tl in timelines:  # stop at the first candidate the budget does not cover (keeps the order)
            k = Runner.key(tl)
            if k not in self.seen and k not in fresh:
                if room <= 0:
                    break
                fresh.add(k)
                room -= 1
            usable.append(tl)
        self.seen |= fresh
        return self.runner.fails(usable) if usable else []

    def one(self, timeline: Timeline) -> bool | None:
        got = self.batch([timeline])
        return got[0] if got else None


def _with(timeline: Timeline, i: int, **changes: Any) -> Timeline:
    out = [dict(f) for f in timeline]
    out[i].update(changes)
    return out


def _resolution(hi: float) -> float:
    """How close a bisection gets: 2% of the value found, at least a millisecond."""
    return max(0.001, 0.02 * hi)


def shrink(timeline: Timeline, runner: Runner, places: Places, shrink_runs: int = 200,
           step: StepFn | None = None) -> tuple[Timeline, int]:
    """The smallest timeline found that still fails (see the module's docstring) and the candidate
    runs it took (each distinct candidate once, run or found in a cache)."""
    say = step or (lambda _s: None)
    pred = _Budgeted(runner, shrink_runs, step)

    # 1. Fewer faults: ddmin over the set.
    before = len(timeline)
    current = ddmin(timeline, pred.batch) if len(timeline) > 1 else list(timeline)
    if len(current) < before:
        say(f"ddmin: {before} -> {len(current)} fault{'s' if len(current) != 1 else ''} "
            f"({pred.used} runs so far)")

    # 2. Shorter windows, then earlier starts (bisection towards the window's start).
    for i in range(len(current)):
        f = current[i]
        d = f.get("duration") or (places.end_s - f["at"])
        found = round(bisect_down(d, lambda x: pred.one(_with(current, i, duration=max(0.001, round(x, 3)))),
                                  resolution=_resolution), 3)
        if found < d:
            current = _with(current, i, duration=max(0.001, found))
            say(f"shorter: {describe(current[i])} ({pred.used} runs so far)")
        at = current[i]["at"]
        shift = bisect_down(at - places.start_s, lambda x: pred.one(_with(current, i, at=round(places.start_s + x, 3))),
                            resolution=_resolution)
        new_at = round(places.start_s + shift, 3)  # as tried (or the start it had)
        if new_at < at:
            # bisect_down never tries "at the very start"; try it once, it is the simplest start
            earliest = round(places.start_s, 3)
            if pred.one(_with(current, i, at=earliest)):
                new_at = earliest
            current = _with(current, i, at=new_at)
            say(f"earlier: {describe(current[i])} ({pred.used} runs so far)")

    # 3. Simpler shapes and smaller magnitudes.
    for i in range(len(current)):
        progress = True
        while progress and pred.left() > 0:  # each success gives new candidates (from the simpler fault)
            progress = False
            for simpler in _simplifications(current[i]):
                if pred.left() <= 0:
                    break
                if pred.one(_with(current, i, **simpler)):
                    current = _with(current, i, **simpler)
                    say(f"simpler: {describe(current[i])} ({pred.used} runs so far)")
                    progress = True
                    break
        for name, lowest, unit in (("add", 0.0, "s"), ("probability", 0.0, ""), ("offset", 0.0, "s")):
            if name not in current[i] or pred.left() <= 0:
                continue
            raw = current[i][name]
            value = float(str(raw).rstrip("s")) if unit else float(raw)
            sign = -1.0 if value < 0 else 1.0
            # never 0: a latency or clock skew of 0 is refused, and a loss of 0 is no fault at all
            text = (lambda x: f"{max(0.001, round(x, 3)):g}s") if unit else (lambda x: max(0.0001, round(x, 4)))
            found = bisect_down(abs(value), lambda x: pred.one(_with(current, i, **{name: text(sign * x)})),
                                low=lowest, resolution=_resolution)
            if found < abs(value) and pred.one(_with(current, i, **{name: text(sign * found)})):
                current = _with(current, i, **{name: text(sign * found)})
                say(f"smaller: {describe(current[i])} ({pred.used} runs so far)")
    if pred.left() <= 0:
        say(f"shrinking stopped: --shrink-runs {shrink_runs} used")
    return current, pred.used


def _simplifications(fault: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidate simpler versions of one fault: no bridge, two-way, fewer places in each group."""
    out: list[dict[str, Any]] = []
    if fault.get("bridge"):
        out.append({"bridge": []})
    groups = fault.get("groups")
    if groups:
        for g, members in enumerate(groups):
            for m in members:
                if len(members) > 1:
                    smaller = [list(x) for x in groups]
                    smaller[g] = [x for x in members if x != m]
                    out.append({"groups": smaller})
    return out


# --- the search ------------------------------------------------------------------------------------
@dataclass
class Exploration:
    scenario_name: str
    seed: int
    explore_seed: int
    slos: list[str]
    runs: int = 0  # timelines tried
    runs_made: int = 0  # simulations run (others came from the cache)
    failing: list[int] = field(default_factory=list)  # indices of failing timelines
    original: Timeline | None = None
    shrunk: Timeline | None = None
    violations: list[str] = field(default_factory=list)
    shrink_runs: int = 0
    steps: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.shrunk is not None

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario_name, "seed": self.seed, "explore_seed": self.explore_seed,
            "slos": self.slos, "timelines_tried": self.runs, "runs_made": self.runs_made,
            "failing_timelines": self.failing, "found": self.found,
            "first_failing": None if self.original is None else as_entries(self.original),
            "shrunk": None if self.shrunk is None else as_entries(self.shrunk),
            "violations": self.violations, "shrink_runs": self.shrink_runs, "steps": self.steps,
        }


def explore(scenario: Scenario, runs: int, slos: list[SLO], budget: Budget = Budget(), explore_seed: int = 1,
            executor: Any = None, cache: ResultCache | None = None, batch: int | None = None,
            keep_going: bool = False, shrink_runs: int = 200, step: StepFn | None = None) -> Exploration:
    """Search `runs` random timelines for one that fails the property; shrink the first that does.
    `batch` timelines are run at a time (give the executor's workers); `step` gets each line of
    progress (the failing timeline, each shrinking step)."""
    if not 1 <= runs <= MAX_RUNS:
        raise ScenarioError(f"must be between 1 and {MAX_RUNS:,}, got {runs:,}", file="--runs")
    if not slos and not declares_checks(scenario):
        raise ScenarioError("nothing to break: give an --slo (e.g. --slo 'p99<500ms') or declare consistency "
                            "checks in the scenario", file="--slo")
    if budget.max_faults < 1:
        raise ScenarioError(f"must be at least 1, got {budget.max_faults}", file="--max-faults")
    if not 0 <= shrink_runs <= MAX_RUNS:
        raise ScenarioError(f"must be between 0 and {MAX_RUNS:,}, got {shrink_runs:,}", file="--shrink-runs")
    places = places_of(scenario, budget)
    if not places.components:
        raise ScenarioError("no component to put faults on", file="--targets")
    if places.end_s - places.start_s < 0.002:
        raise ScenarioError("the measured window (duration minus warm-up) is too short for faults", file="--duration")
    say = step or (lambda _s: None)
    result = Exploration(scenario.name, scenario.seed, explore_seed, [s.text for s in slos])
    runner = Runner(scenario, slos, executor, cache)

    def log(text: str) -> None:
        result.steps.append(text)
        say(text)

    base = runner.records([[]])[0]
    if violations(base, slos):
        raise DsimError(f"the scenario fails without any fault ({'; '.join(violations(base, slos))}): "
                        f"nothing to explore; relax the SLO or fix the scenario", )
    size = max(1, batch or 1)  # timelines per batch: the CLI gives one per worker
    i = 0
    while i < runs:
        timelines = [draw_timeline(places, budget, timeline_rng(explore_seed, j)) for j in range(i, min(runs, i + size))]
        verdicts = runner.fails(timelines)
        for j, bad in enumerate(verdicts):
            if bad:
                result.failing.append(i + j)
                if result.original is None:
                    result.original = timelines[j]
        i += len(timelines)
        result.runs = i
        if result.failing and not keep_going:
            break
    if result.original is None:
        result.runs_made = runner.runs
        return result
    first = result.failing[0]
    log(f"timeline {first} fails ({'; '.join(violations(runner.records([result.original])[0], slos))}): "
        f"{len(result.original)} fault{'s' if len(result.original) != 1 else ''}")
    for f in result.original:
        log(f"  {describe(f)}")
    result.shrunk, result.shrink_runs = shrink(result.original, runner, places, shrink_runs, log)
    result.violations = violations(runner.records([result.shrunk])[0], slos)
    result.runs_made = runner.runs
    return result


def found_scenario(scenario: Scenario, result: Exploration, command: str | None = None,
                   source: dict[str, Any] | None = None, path: str = "THIS_FILE") -> str:
    """The scenario with its faults replaced by the shrunk timeline, as YAML text opening with a
    comment block: what fails, the figures, the seeds, how to reproduce. `source`: the scenario
    file's own data, used when nothing overrode it (shorter than every default written out)."""
    if result.shrunk is None:
        raise DsimError("no failing timeline to write")
    if source is not None:
        data = {k: v for k, v in copy.deepcopy(source).items() if k != "compare"}
    else:
        data = scenario.model_dump(mode="json", exclude_none=True, exclude={"compare"})
    data["faults"] = as_entries(result.shrunk)
    lines = [
        f"{scenario.name}: a fault timeline that breaks it, found by dsim explore and shrunk.",
        "",
        "What fails with the faults below (scenario seed "
        f"{result.seed}):",
        *[f"  {v}" for v in result.violations],
        "",
        f"Found: timeline {result.failing[0]} of the explore seed {result.explore_seed} "
        f"(after {result.runs} timeline{'s' if result.runs != 1 else ''}); it had "
        f"{len(result.original or [])} fault{'s' if len(result.original or []) != 1 else ''}:",
        *[f"  {describe(f)}" for f in result.original or []],
        f"Shrunk in {result.shrink_runs} runs to the {len(result.shrunk)} below (delta debugging, then bisection",
        "of windows, starts and magnitudes to ~2%): without any one of them, or with a window ~2%",
        "shorter, the run passes.",
        "",
        f"Reproduce: dsim run {path}   (the seed below gives the same run)",
    ]
    if command:
        lines.append(f"Found with: {command}")
    lines += ["Assumptions: the scenario as explored, its own faults replaced by these (docs/faults.md).",
              "What to try: change one setting and run it again (does it still fail?), or explore",
              "again with another --explore-seed for another way to break it."]
    header = "".join(f"# {line}".rstrip() + "\n" for line in lines)
    return header + dump_yaml(data)


def write_found(scenario: Scenario, result: Exploration, path: str | Path, command: str | None = None,
                source: dict[str, Any] | None = None) -> None:
    """Write `found_scenario` to `path` (whole or not at all)."""
    text = found_scenario(scenario, result, command, source, str(path))
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
