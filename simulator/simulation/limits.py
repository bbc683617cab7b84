"""Before a run: how big will it be? An estimate of the requests, heap events, time-series samples and
request-record bytes, from the workloads' mean rates × their active time and the call fan-out
(the offered-load estimate, simulator/simulation/traffic.py), checked against documented limits.

A run above a limit is refused with one line naming the estimate and the flag that lifts it, before
anything is allocated: `duration: 1e30s`, `poisson(rate=1e12/s)` or `renewal(interarrival=0s)`
would otherwise run for ever while memory (and the spill file) grows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from simulator.engine.recorder import ROW_BYTES
from simulator.language.errors import ScenarioError
from simulator.simulation.traffic import Traffic

DEFAULT_MAX_REQUESTS = 50_000_000  # ~1.1 GB of request records (mostly spilled to disk), hours of simulation
EVENTS_PER_REQUEST_LIMIT = 20  # heap events allowed per allowed request (three-tier takes 9)
MAX_SAMPLES = 10_000_000  # time-series buckets × (components + 1): each sample is a heap event and a float
EVENTS_PER_VISIT = 3  # a service and a hop each way, for each call a component receives


@dataclass(frozen=True)
class RunEstimate:
    """What one run will take, from mean rates (an estimate: bursts and losses change it)."""

    requests: float
    events: float
    buckets: float
    samples: float
    # Client attempts at the worst case of the workloads' own retries and hedges (= requests without
    # them): what the servers may have to serve. The request limit applies to it.
    attempts: float = 0.0

    @property
    def record_bytes(self) -> float:
        return self.requests * ROW_BYTES


def _closed_loop_rate(system: Any, wl: Any) -> float:
    """Throughput bound of N users (asymptotic bound analysis): X <= N / (Z + D) and X <= cap_c / v_c
    for every component c a request visits v_c times; D >= sum v_c / cap_c plus one network round trip."""
    cfg = wl.config
    visits = system.traffic.estimate([(cfg.target, 1.0, dict(cfg.mix))])
    think = cfg.think_time.mean if cfg.think_time else 0.0
    net = system.scenario.network
    hop = min([net.default_latency.mean] + [link.latency.mean for link in net.links])
    demand = 2.0 * hop
    bottleneck = math.inf
    for name, v in visits.items():
        cap = system.components[name].capacity_per_s()
        if math.isinf(v):
            return 0.0  # an unbounded loop: requests are never answered, users wait for ever
        if v > 0 and cap < math.inf:
            demand += v / cap if cap > 0 else math.inf
            bottleneck = min(bottleneck, cap / v if cap > 0 else 0.0)
    per_user = 1.0 / (think + demand) if think + demand > 0 else math.inf
    return min(cfg.users * per_user, bottleneck)


def _spiked_span(system: Any, name: str, lo: float, hi: float) -> float:
    """The integral from lo to hi of the product of the rate factors of the load_spike faults active."""
    windows = [w for w in (f.rate_window(name) for f in system.faults) if w is not None]
    if not windows:
        return hi - lo
    edges = sorted({lo, hi} | {min(max(t, lo), hi) for a, b, _f in windows for t in (a, b)})
    return sum((b - a) * math.prod(f for s, e, f in windows if s <= a and b <= e) for a, b in zip(edges, edges[1:]))


def amplification(retry: Any, hedge: Any) -> float:
    """Worst-case sends per call with a retry and a hedge config (either None): every attempt of
    `retry.max_attempts` failing and each hedged (`1 + hedge.max_extra` sends). A fallback's one
    extra call is left out."""
    return float(retry.max_attempts if retry is not None else 1) * (1 + hedge.max_extra if hedge is not None else 1)


def _inner_retry_calls(system: Any, load: dict[str, float], per_s: float) -> float:
    """Extra calls (over the run) from retries and hedges on calls that components make (a server's call
    step, a load balancer's backends, a cache's store): each guarded call may be sent (f - 1) more
    times, each reaching its target's whole call tree. The call's own rate is bounded by its target's
    whole offered load, so this is an over-estimate; nested policies add up rather than multiply."""
    extra = 0.0
    clients = {id(g) for wl in system.workloads for g in getattr(wl, "links", {}).values()}  # counted already
    for g in system.guarded:
        dst = getattr(g.link, "dst", None)
        if id(g) in clients or dst is None or dst.name not in load:
            continue
        f = amplification(getattr(g.policies.get("retry"), "cfg", None), getattr(g.policies.get("hedge"), "cfg", None))
        if f > 1.0:
            subtree = sum(Traffic(system).estimate([(dst.name, 1.0, None)]).values()) or 1.0
            extra += (f - 1.0) * load[dst.name] * per_s * subtree
    return extra


def estimate_run(system: Any) -> RunEstimate:
    """Requests, heap events and time-series samples one run of `system`'s scenario will take."""
    sc = system.scenario
    requests = attempts = 0.0
    entries = []
    for wl in system.workloads:
        cfg = wl.config
        span = max(0.0, min(cfg.stop if cfg.stop is not None else sc.duration, sc.duration) - cfg.start)
        rate = cfg.arrivals.mean_rate() if cfg.arrivals is not None else _closed_loop_rate(system, wl)
        if span > 0:  # load_spike faults: the time the workload is active, weighted by its rate factor
            span = _spiked_span(system, wl.name, cfg.start, cfg.start + span)
        n = rate * span if rate > 0 and span > 0 else 0.0  # inf * 0 is not a number
        requests += n
        res = cfg.resilience  # a retry storm sends every attempt (the worst case)
        f = amplification(res.retry, res.hedge) if res is not None else 1.0
        attempts += n * f
        if n > 0:
            entries.append((cfg.target, n * f, dict(cfg.mix)))
    calls = sum(system.traffic.estimate(entries).values()) if entries else 0.0
    if system.guarded and entries and math.isfinite(calls):
        load_per_s = system.estimate_load()  # unamplified: bounds each inner call's rate
        span = sc.duration if sc.duration > 0 else 0.0
        calls += _inner_retry_calls(system, load_per_s, span)
    measured = sc.duration - sc.warmup if isinstance(sc.warmup, float) else sc.duration
    bucket = sc.metrics.bucket or measured / 100
    buckets = measured / bucket if measured > 0 else 0.0
    system.estimate_load()  # leave the per-second estimate in place for the warnings
    return RunEstimate(requests=requests, events=requests + EVENTS_PER_VISIT * calls, buckets=buckets,
                       samples=buckets * (len(system.components) + 1), attempts=attempts)


def _fmt(n: float) -> str:
    return "unbounded" if math.isinf(n) or math.isnan(n) else f"~{n:,.0f}" if n < 1e6 else f"~{n:.3g}"


def _size(n_bytes: float) -> str:
    if math.isinf(n_bytes) or math.isnan(n_bytes):
        return "unbounded"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"~{n_bytes / scale:.3g} {unit}"
    return f"~{n_bytes / 1e3:.3g} kB"


def check_run(system: Any, max_requests: int | None = None, force: bool = False, what: str = "the run") -> RunEstimate:
    """Refuse (ScenarioError, exit 2) a run whose estimate is above the limits, unless `force`."""
    est = estimate_run(system)
    if force:
        return est
    limit = DEFAULT_MAX_REQUESTS if max_requests is None else max_requests
    file = system.scenario.source or "<scenario>"
    if not est.requests <= limit:  # also true for NaN
        if not math.isfinite(est.requests):
            raise ScenarioError(
                f"{what} would make an unbounded number of requests (a workload's mean rate is infinite, e.g. a zero "
                f"interarrival time, or closed-loop users that never wait): it would never end (--force runs it anyway)",
                file=file)
        raise ScenarioError(
            f"{what} would make {_fmt(est.requests)} requests ({_size(est.record_bytes)} of request records), "
            f"above the limit of {limit:,}: shorten the duration or lower the rate, or raise the limit with "
            f"--max-requests N (or --force)", file=file)
    if not est.attempts <= limit:  # a retry storm: every request tried max_attempts times (and hedged)
        raise ScenarioError(
            f"{what} would make {_fmt(est.requests)} requests but up to {_fmt(est.attempts)} attempts with the "
            f"workloads' retries and hedges at their worst case (max_attempts x (1 + hedge max_extra)), above "
            f"the limit of {limit:,}: shorten the duration, lower the rate or max_attempts, or raise the limit "
            f"with --max-requests N (or --force)", file=file)
    if not est.events <= EVENTS_PER_REQUEST_LIMIT * limit:
        raise ScenarioError(
            f"{what} would schedule {_fmt(est.events)} events ({_fmt(est.requests)} requests and their calls), "
            f"above the limit of {EVENTS_PER_REQUEST_LIMIT * limit:,} ({EVENTS_PER_REQUEST_LIMIT} per allowed "
            f"request): raise it with --max-requests N (or --force)", file=file)
    if not est.samples <= MAX_SAMPLES:
        raise ScenarioError(
            f"metrics.bucket gives {_fmt(est.buckets)} time-series buckets × {len(system.components) + 1} series "
            f"= {_fmt(est.samples)} samples, above the limit of {MAX_SAMPLES:,}: use a wider bucket "
            f"(or --force)", file=file)
    return est


def preflight(scenario: Any, max_requests: int | None = None, force: bool = False,
              what: str = "the run") -> list[str]:
    """Build `scenario` (nothing runs), refuse it if its estimate is above the limits (unless `force`)
    and return the warnings `dsim validate` prints (overload, loops, faults after the end)."""
    from simulator.simulation.runner import build

    _env, system = build(scenario)
    check_run(system, max_requests, force, what)
    return system.warnings()
