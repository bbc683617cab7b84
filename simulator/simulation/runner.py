"""Running a scenario: build the system, schedule workloads, faults and metric sampling, run, collect."""
from __future__ import annotations

import math
from typing import Any, Callable

from simulator.engine.env import SimEnv
from simulator.engine.profile import Profile
from simulator.simulation.system import System
from simulator.engine.recorder import Recorder
from simulator.results.result import Result
from simulator.resilience import deadline, ratelimit, reset_all as reset_policies, stats_of as policy_stats
from simulator.scenario.schema import Scenario
from simulator.language.errors import ScenarioError
from simulator.results.cost import SECONDS_PER_HOUR, cost_summary
from simulator.engine.request import IN_FLIGHT
from simulator.consistency import History, check as check_history
from simulator.workload.history import HistoryLog, model_for

DEFAULT_CHECK_BUDGET_S = 10.0
# `check:` names -> the anomaly kinds of simulator/consistency/anomalies.py
CHECK_KINDS = {"stale_reads": "stale-read", "read_your_writes": "read-your-writes", "monotonic_reads": "monotonic-reads",
               "lost_writes": "lost-write", "garbage_reads": "garbage-read", "G0": "G0", "G1a": "G1a", "G1c": "G1c",
               "G2": "G2"}

ProgressFn = Callable[[float], None]
DEFAULT_BUCKETS = 100
PROGRESS_STEPS = 50


def build(scenario: Scenario, seed: int | None = None) -> tuple[SimEnv, System]:
    """Elaborate a scenario into a ready-to-run environment and system (nothing scheduled yet)."""
    seed = scenario.seed if seed is None else int(seed)
    env = SimEnv(seed, warmup_s=scenario.warmup, end_s=scenario.duration)
    env.recorder = Recorder(list(scenario.workloads))
    if scenario.records_history:  # only then: stores and workloads look for it when they are built
        env.history = HistoryLog()
    try:
        system = System(env, scenario)
    except ScenarioError as exc:  # found while elaborating (a boundary beyond the key space): name the file
        raise exc.located(scenario.source) from None
    return env, system


def schedule_faults(env: SimEnv, system: System) -> list[dict[str, Any]]:
    """Schedule every fault's start and stop; returns their windows (for reports)."""
    windows = []
    # what each fault is, by token: a failure's record names the fault behind it (requests' `fault` column)
    env.recorder.fault_names = [f.describe() + (f" ({system.drawn_by[t]})" if t in system.drawn_by else "")
                                for t, f in enumerate(system.faults)]
    for token, fault in enumerate(system.faults):
        if fault.at >= env.end_s:
            continue  # reported as a warning by the system
        end = fault.at + fault.duration if fault.duration is not None else math.inf
        env.call_later(fault.at, lambda _t, f=fault, k=token: f.start(system, k))
        if end < env.end_s:
            env.call_later(end, lambda _t, f=fault, k=token: f.stop(system, k))
        if fault.instant:  # no window: the component lists what it did among its instant events
            continue
        drawn = system.drawn_by.get(token)  # "crash app-1 (chaos)": drawn, not declared
        windows.append({"type": fault.type, "start_s": fault.at, "end_s": min(end, env.end_s),
                        "description": fault.describe() + (f" ({drawn})" if drawn else "")})
    return windows


class _Sampler:
    """Collects per-component figures at every time-series bucket boundary."""

    def __init__(self, env: SimEnv, system: System, bucket_s: float) -> None:
        self.env, self.system, self.bucket_s = env, system, bucket_s
        self.data: dict[str, list] = {"time_s": []}
        self._series: dict[str, tuple[tuple, list]] = {}  # component -> (its sample's keys, their lists)
        self.refused: dict[str, int] = {}  # each rate limiter's refusals at the last sample

    def start(self) -> None:
        self.env.call_later(self.env.warmup_s, self._reset)

    def _reset(self, _timer: Any) -> None:
        for comp in self.system.components.values():
            comp.reset_stats()
            comp.sample()
        reset_policies(self.system)
        ratelimit.reset_all(self.system)
        self.refused = {}
        deadline.reset_all(self.system)
        self._schedule_next()

    def _schedule_next(self) -> None:
        env = self.env
        nxt = env.now + self.bucket_s
        if nxt > env.end_s - 1e-6 * self.bucket_s:
            # The last bucket ends exactly at end_s (summed widths drift by rounding: without this a
            # sliver of a bucket, nearly empty, would follow).
            nxt = env.end_s
        env.call_later(nxt - env.now, self._sample)

    def _sample(self, _timer: Any) -> None:
        env = self.env
        data = self.data
        data["time_s"].append(env.now)
        # Each component's series, found once: with the same keys as last time (the usual case) its
        # values go straight to its lists, with no name built or looked up per value (a system of
        # 10,000 components takes 100 samples of each).
        series = self._series
        for name, comp in self.system.components.items():
            out = comp.sample()
            known = series.get(name)
            if known is not None and known[0] == tuple(out):
                for column, value in zip(known[1], out.values()):
                    column.append(value)
                continue
            for key, value in out.items():
                data.setdefault(f"{name}.{key}", []).append(value)
            series[name] = (tuple(out), [data[f"{name}.{key}"] for key in out])
        for name, lim in self.system.limited.items():  # `NAME.rate_limited`: refusals in the bucket
            data.setdefault(f"{name}.rate_limited", []).append(float(lim.refused - self.refused.get(name, 0)))
            self.refused[name] = lim.refused
        if env.now < env.end_s - 1e-6 * self.bucket_s:
            self._schedule_next()


def run(scenario: Scenario, seed: int | None = None, progress: ProgressFn | None = None,
        profile: bool = False) -> Result:
    """Simulate `scenario` once and return its `Result` (same scenario and seed: same result).

    With `warmup: auto` the run is made twice: a pilot with no warm-up, whose latencies (in order
    of arrival) give the end of the initial transient by MSER-5, then the run itself with that
    warm-up. The same seed makes both runs follow the same trajectory.
    """
    if scenario.warmup == "auto":
        return _run_auto_warmup(scenario, seed, progress, profile)
    return _run(scenario, seed, progress, profile)


def _run_auto_warmup(scenario: Scenario, seed: int | None, progress: ProgressFn | None, profile: bool) -> Result:
    from simulator.scenario.schema import with_overrides
    from simulator.statistics.warmup import BATCH, mser

    half = (lambda f: progress(f / 2)) if progress else None
    pilot = _run(with_overrides(scenario, {"warmup": "0s"}), seed, half)  # not profiled: the run itself is
    starts, latencies = pilot.ok_latencies()
    pilot_events = pilot.extras["events"]
    pilot.records.close()
    del pilot
    cut = mser(latencies)
    chosen = float(starts[cut.observations]) if cut.observations and cut.observations < starts.size else 0.0
    rest = (lambda f: progress(0.5 + f / 2)) if progress else None
    result = _run(with_overrides(scenario, {"warmup": f"{chosen!r}s"}), seed, rest, profile)
    result.extras["events"] += pilot_events  # the work of both runs
    result.extras["warmup_auto"] = {
        "method": f"MSER-{BATCH} on the latency of successful requests in order of arrival",
        "chosen_s": chosen, "requests_truncated": cut.observations, "steady_state": cut.steady,
    }
    if not cut.steady:
        result.warnings.append("warmup: auto found no steady state (the series keeps drifting): the system may be "
                               "overloaded or the run too short; figures describe a transient")
    return result


def _run(scenario: Scenario, seed: int | None = None, progress: ProgressFn | None = None,
         profile: bool = False) -> Result:
    env, system = build(scenario, seed)
    if profile:
        env.profile = Profile()
    warnings = system.warnings()
    windows = schedule_faults(env, system)
    bucket = scenario.metrics.bucket or (scenario.duration - scenario.warmup) / DEFAULT_BUCKETS
    sampler = _Sampler(env, system, bucket)
    sampler.start()
    for wl in system.workloads:
        wl.start()
    for comp in system.starters:  # applications: their actors
        comp.start()
    end = scenario.duration
    if progress is None:
        env.run(until=end)
    else:
        for i in range(1, PROGRESS_STEPS + 1):
            env.run(until=end * i / PROGRESS_STEPS)
            progress(i / PROGRESS_STEPS)
    # Time-series samples land at `end`; `run(until=end)` stops before events at `end`, so take the last one.
    if not sampler.data["time_s"] or sampler.data["time_s"][-1] < end:
        sampler._sample(None)
    elapsed = end - scenario.warmup
    stats = {name: comp.stats(elapsed) for name, comp in system.components.items()}
    rec = env.recorder
    extras = {}
    resilience = policy_stats(system)
    if resilience is not None:  # only runs with policies get the section
        extras["resilience"] = resilience
    limits = ratelimit.stats_of(system)
    if limits is not None:
        extras["rate_limits"] = limits
    wasted = deadline.stats_of(system)
    if wasted is not None:  # only runs where some call propagates its deadline
        extras["wasted_work"] = wasted
    extras["events"] = env.events
    result = Result(
        scenario_name=scenario.name,
        seed=env.seed,
        duration_s=end,
        warmup_s=scenario.warmup,
        records=rec,
        workload_names=list(rec.workloads),
        operation_names=list(rec.operations),
        component_stats=stats,
        samples=sampler.data,
        fault_windows=windows,
        bucket_s=bucket,
        warnings=warnings,
        effective_config=scenario.effective(),
        extras=extras,
    )
    if scenario.cost is not None:  # only runs with prices get the section
        result.extras["cost"] = _cost(scenario, result)
    log = getattr(env, "history", None)
    if log is not None:  # only runs that record histories get them (and the section)
        result.op_history = log.history(f"{scenario.name} (seed {env.seed})")
        result.extras["consistency"] = consistency_section(result.op_history, scenario, result)
    if profile:
        result.profile = env.profile.rows()
    if system.tracer is not None:  # only runs with `trace:` get spans
        result.traces = system.tracer.spans(end)
    return result


def consistency_section(history: History, scenario: Scenario, result: Result | None = None) -> dict[str, Any]:
    """The summary's `consistency`: the recorded operations and, for each declared check, its verdict
    (pass, fail or unknown when the search ran out of its budget), violations and the first one.
    With `result`: a linearizability counterexample is also kept on it (`Result.counterexample`)."""
    types = {"ok": 0, "fail": 0, "info": 0}
    for op in history.ops:
        types[op.type] += 1
    model = model_for({op.f for op in history.ops}) or "register"
    out: dict[str, Any] = {"model": model, "operations": len(history.ops), **types}
    if not scenario.check:
        return out
    budget = scenario.check_budget if scenario.check_budget is not None else DEFAULT_CHECK_BUDGET_S
    report = check_history(history, model, budget)
    counts = report.anomalies.counts()
    if result is not None:  # every anomaly's time, for the consistency timeline (not in the summary)
        result.anomaly_times = report.anomalies.times
    checks: dict[str, Any] = {}
    for name in scenario.check:
        if name == "linearizable":
            lin = report.linearizability
            verdict = {True: "pass", False: "fail", None: "unknown"}[report.valid]
            first = None
            if lin.counterexample is not None:
                first = f"key {lin.counterexample.key}: {lin.counterexample.blocked.describe()} cannot be linearized"
                if result is not None:
                    result.counterexample = lin.counterexample.to_dict()
            elif report.valid is False and report.anomalies.found:
                first = report.anomalies.found[0].text
            checks[name] = {"verdict": verdict, "violations": 0 if report.valid else int(report.valid is False),
                            "operations_checked": lin.ops, "first_violation": first}
        else:
            kind = CHECK_KINDS[name]
            found = [a for a in report.anomalies.found if a.kind == kind]
            checks[name] = {"verdict": "fail" if found else "pass", "violations": counts.get(kind, 0),
                            "first_violation": found[0].text if found else None}
    out["checks"] = checks
    verdicts = [c["verdict"] for c in checks.values()]
    out["passed"] = False if "fail" in verdicts else None if "unknown" in verdicts else True
    return out


def _cost(scenario: Scenario, result: Result) -> dict[str, Any]:
    """The summary's `cost`: each YAML component's replica-hours over the measured window (an autoscaled
    server's billed hours, else its instance count × the hours), the requests generated and finished."""
    hours_measured = result.measured_s / SECONDS_PER_HOUR
    usage = {}
    for name, cfg in scenario.components.items():
        st = result.component_stats.get(name, {})
        if "replica_hours" in st:
            usage[name] = (cfg.type, st["replica_hours"])
        else:
            usage[name] = (cfg.type, getattr(cfg, "replicas", 1) * hours_measured)
    generated = finished = 0
    for c in result.chunks():
        generated += int(c["outcome"].size)
        finished += int((c["outcome"] != IN_FLIGHT).sum())
    return cost_summary(scenario.cost, usage, generated, finished)
