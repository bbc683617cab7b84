"""Hedged requests: exact traces (cancelled or running losers), the percentile delay and its
warm-up, with faults, and against theory (the response time of min(X1, d + X2))."""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

import simulator
from tests.helpers import policy_error
from simulator.engine.request import ERROR, OK
from simulator.resilience.config import HedgeConfig
from simulator.resilience.hedge import Hedge
from tests.unit.eventlog import Probe


def _run(text: str, seed: int | None = None):
    return simulator.run(simulator.loads_scenario(textwrap.dedent(text)), seed=seed)


ONE_WORKER = """
    name: t
    duration: 10s
    components:
      app: {{type: server, workers: 1, service_time: 100ms}}
    workloads:
      web:
        target: app
        arrivals: constant(rate=1/s)
        resilience: {{hedge: {{after: 50ms, cancel_losers: {cancel}}}}}
"""


def _trace(cancel: bool):
    p = Probe(ONE_WORKER.format(cancel=str(cancel).lower()))
    p.watch_service("app")
    p.send(1.0, "r1")
    p.send(1.01, "r2")
    return p, p.run(5)


def test_exact_trace_losers_cancelled():
    """Queue at 1.06: [r2 first, r1 hedge, r2 hedge]. r1 wins at 1.1 (its hedge, queued, is cancelled
    and never served); r2's first attempt wins at 1.2, its hedge already took the worker at 1.2
    (a worker is freed before the reply goes out), so it is served anyway: wasted."""
    p, log = _trace(True)
    assert log == [(1.1, "app served r1"), (1.1, "r1 ok"), (1.2, "app served r2"), (1.2, "r2 ok"),
                   (1.3, "app served r2")]
    h = p.system.guarded[0].policies["hedge"].stats()
    assert (h["calls"], h["attempts"], h["hedges"], h["won_by_extra"]) == (2, 4, 2, 0)
    assert h["cancelled"] == 2 and h["wasted_requests"] == 1 and h["wasted_service_s"] == pytest.approx(0.1)
    assert p.system.get("app").expired == 1  # the cancelled one, skipped in the queue


def test_exact_trace_losers_left_to_run():
    p, log = _trace(False)
    assert log == [(1.1, "app served r1"), (1.1, "r1 ok"), (1.2, "app served r2"), (1.2, "r2 ok"),
                   (1.3, "app served r1"), (1.4, "app served r2")]
    h = p.system.guarded[0].policies["hedge"].stats()
    assert h["cancelled"] == 0 and h["wasted_requests"] == 2 and h["wasted_service_s"] == pytest.approx(0.2)


def test_the_hedge_wins_and_a_failed_attempt_sends_the_next_at_once():
    """Two backends behind a round-robin LB, one of them slow: the hedge (sent to the other) wins.
    A crashed backend answers `error` at once: the hedge goes at once, not after the delay."""
    p = Probe("""
        name: t
        duration: 10s
        components:
          lb: {type: load_balancer, backends: [a, b]}
          a: {type: server, workers: 4, service_time: 1s}
          b: {type: server, workers: 4, service_time: 10ms}
        workloads:
          web: {target: lb, arrivals: constant(rate=1/s), resilience: {hedge: {after: 100ms, max_extra: 2}}}
        faults:
          - {type: crash, target: a, at: 3s, duration: 1s}
    """)
    p.watch_service("a", "b")
    p.send(1.0, "r1")  # a (slow) at 1.0; hedge to b at 1.1, ok at 1.11; a finishes at 2.0 (wasted)
    p.send(3.5, "r2")  # round robin: a (crashed: error at once), the next attempt at once to b
    assert p.run(5) == [(1.11, "b served r1"), (1.11, "r1 ok"), (2.0, "a served r1"),
                        (3.51, "b served r2"), (3.51, "r2 ok")]
    h = p.system.guarded[0].policies["hedge"]
    assert (h.calls, h.attempts, h.won_by_extra, h.wasted_requests) == (2, 4, 2, 1)


def test_a_call_fails_only_when_every_attempt_failed():
    sent = []
    env = _Env()
    h = Hedge(HedgeConfig(after="1s", max_extra=2), lambda req, reply: sent.append(reply), env, "x")
    got = []
    h.send(_req(), got.append)
    sent[0](ERROR)  # next attempt at once
    sent[1](ERROR)  # and the last
    assert got == [] and len(sent) == 3
    sent[2](ERROR)
    assert got == [ERROR] and h.stats()["call_outcomes"] == {"error": 1}


class _Env:
    def __init__(self) -> None:
        self._now = 0.0
        self.later: list = []

    def call_later(self, delay, fn, value=None):
        self.later.append((self._now + delay, fn, value))


def _req():
    from simulator.engine.request import Request
    return Request(1, 0.0, 0, "request")


def test_percentile_delay_warm_up_and_nearest_rank():
    """No hedge before `min_samples` successful calls; then the nearest-rank percentile of the window."""
    sent = []
    env = _Env()
    h = Hedge(HedgeConfig(after="p80", min_samples=5), lambda req, reply: sent.append(reply), env, "x")
    for i, latency in enumerate([0.5, 0.1, 0.4, 0.2, 0.3]):
        env._now = 10.0 * i
        h.send(_req(), lambda outcome: None)
        assert env.later == []  # warming up: no hedge timer
        env._now += latency
        sent[-1](OK)
    assert h.estimate == pytest.approx(0.4)  # ceil(0.8 x 5) = 4th smallest of {.1 .2 .3 .4 .5}
    env._now = 100.0
    h.send(_req(), lambda outcome: None)
    assert env.later[0][0] == pytest.approx(100.4)


@pytest.mark.parametrize("after, expect", [
    ("p101", "p100"), ("p0", "p0"), ("p", "percentile"), ("-5ms", "after"), ("0s", "positive"), ("0", "positive"),
])
def test_bad_hedge_input_is_one_located_line(after, expect):
    msg = policy_error(f"hedge: {{after: {after}}}")
    assert "workloads.web.resilience.hedge.after" in msg and expect in msg


# --- theory -----------------------------------------------------------------------------------
INFINITE = """
name: t
duration: 50s
seed: 11
components:
  app: {type: server, workers: 100000, service_time: exponential(mean=10ms)}
workloads:
  web: {target: app, arrivals: poisson(rate=200/s), resilience: {hedge: {after: 8ms, cancel_losers: false}}}
"""


def test_response_time_is_min_of_first_and_delayed_hedge():
    """Infinite servers, no network latency, X1, X2 i.i.d. exponential (mean m): the response time
    R = min(X1, d + X2) has P(R > t) = e^(-t/m) for t < d and e^(-t/m) e^(-(t-d)/m) after.
    The empirical CDF of n i.i.d. responses is within eps of the exact one everywhere with
    probability 1 - alpha, eps = sqrt(ln(2/alpha) / 2n) (Dvoretzky-Kiefer-Wolfowitz); alpha = 1e-4."""
    res = simulator.run(simulator.loads_scenario(INFINITE))
    c = res.columns
    lat = np.sort((c["end"] - c["start"])[c["outcome"] == OK])
    n = len(lat)
    m, d = 0.010, 0.008
    surv = np.where(lat < d, np.exp(-lat / m), np.exp(-lat / m) * np.exp(-(lat - d) / m))
    exact = 1.0 - surv
    emp_hi = np.arange(1, n + 1) / n
    emp_lo = np.arange(0, n) / n
    ks = max(np.max(np.abs(emp_hi - exact)), np.max(np.abs(emp_lo - exact)))
    eps = math.sqrt(math.log(2 / 1e-4) / (2 * n))
    assert ks < eps
    # Not the unhedged distribution: there the distance is the gap at t = 2d, e^(-2d/m)(1 - e^(-d/m)).
    plain = 1.0 - np.exp(-lat / m)
    assert max(np.max(np.abs(emp_hi - plain)), np.max(np.abs(emp_lo - plain))) > 3 * eps
    h = res.summary["resilience"]["web->app"]["hedge"]
    # A hedge is sent when X1 > d: probability e^(-d/m); binomial tolerance, 4 standard deviations.
    p = math.exp(-d / m)
    assert abs(h["hedges"] / h["calls"] - p) < 4 * math.sqrt(p * (1 - p) / h["calls"])


# --- with faults ------------------------------------------------------------------------------
OVERLAP = """
name: t
duration: 40s
seed: 4
components:
  lb: {type: load_balancer, backends: [a, b, c]}
  a: {type: server, workers: 8, service_time: exponential(mean=5ms)}
  b: {type: server, workers: 8, service_time: exponential(mean=5ms)}
  c: {type: server, workers: 8, service_time: exponential(mean=5ms)}
workloads:
  web: {target: lb, arrivals: poisson(rate=100/s), resilience: {hedge: {after: 50ms}}}
faults:
  - {type: crash, target: a, at: 10s, duration: 10s}
  - {type: crash, target: a, at: 15s, duration: 10s}
  - {type: slow, target: b, factor: 20, at: 30s, duration: 6s}
  - {type: slow, target: b, factor: 1.5, at: 33s, duration: 5s}
"""


def test_overlapping_crashes_and_a_slow_backend_hedged_calls_all_succeed():
    """a is down from 10s to 25s (two overlapping crashes: the first recovery, at 20s, does not bring it
    back); b is 20x slower from 30s to 36s (30x from 33s, when a second slow fault overlaps). Every
    call still succeeds: a crashed backend's error sends the next attempt at once (round robin: to
    another backend), a slow one's is overtaken 50ms after it was sent."""
    s = _run(OVERLAP).summary
    h = s["resilience"]["web->lb"]["hedge"]
    req = s["requests"]
    assert req["ok"] == req["generated"] - req["in_flight"] and h["call_outcomes"] == {"ok": req["ok"]}
    failed_a = s["components"]["a"]["failed"]
    # Attempts reaching a during its 15 s down: a third of 100/s (+ hedges), Poisson: at least 4 sd below.
    assert failed_a > 500 - 4 * math.sqrt(500)
    # Crash-driven extra attempts are one per attempt refused by a; the rest were sent after 50ms
    # by calls stuck on the slow b: ~33/s x 6 s, of which P(X > 50ms) = e^(-50/100) at least (x20).
    timed = h["hedges"] - failed_a
    assert 0.6 * 200 * math.exp(-0.5) < timed < 300
    assert s["components"]["a"]["served"] + s["components"]["b"]["served"] + s["components"]["c"]["served"] \
        == h["attempts"] - failed_a - (h["cancelled"] - h["wasted_requests"])
    # (every attempt was served, refused by a, or cancelled before service; no queues here, so the
    # cancelled losers were all in service and finished: wasted)
    assert h["cancelled"] == h["wasted_requests"] == h["hedges"] - failed_a
    no_hedge = _run(OVERLAP.replace(", resilience: {hedge: {after: 50ms}}", "")).summary
    assert no_hedge["requests"]["errors"] > 400
    assert s["latency_s"]["p99"] < no_hedge["latency_s"]["p99"]


# --- with its neighbours: a propagated deadline, retries, a breaker and a bulkhead inside -----------
NEIGHBOURS = """
name: t
duration: 30s
seed: 8
components:
  app: {type: server, workers: 4, service_time: exponential(mean=20ms), abandoned_requests: drop, calls: [db]}
  db: {type: database, connections: 4, read_time: exponential(mean=10ms), write_time: 10ms}
workloads:
  web:
    target: app
    arrivals: poisson(rate=120/s)
    timeout: 300ms
    resilience:
      propagate_deadline: true
      hedge: {after: 60ms}
      retry: {max_attempts: 2, backoff: constant, base: 0s}
      circuit_breaker: {failure_threshold: 20, open_for: 1s}
      bulkhead: {max_concurrent: 16}
      timeout: 250ms
faults:
  - {type: pause, target: db, at: 10s, duration: 3s}
  - {type: slow, target: app, factor: 2, at: 11s, duration: 5s}
"""


def test_hedge_with_a_propagated_deadline_and_the_inner_policies():
    """The hedge's attempts carry the caller's deadline (dropped downstream once it passed), each goes
    through its own retry, breaker verdict and bulkhead slot; every request is accounted for."""
    s = _run(NEIGHBOURS).summary
    req = s["requests"]
    pol = s["resilience"]["web->app"]
    h, r = pol["hedge"], pol["retry"]
    assert list(pol) == ["deadline", "hedge", "retry", "circuit_breaker", "bulkhead", "timeout"]
    assert pol["deadline"]["propagated"] == h["calls"] == r["requests"] - h["hedges"] == req["generated"]
    assert r["requests"] == h["attempts"]  # each hedge attempt is one call to the retry
    finished = sum(v for k, v in req.items() if k not in ("generated", "in_flight"))
    assert finished + req["in_flight"] == req["generated"]
    # The db pause makes calls outlive their deadline: the deadline's wasted work is counted, and the
    # hedge's (losers served anyway) beside it.
    assert s["wasted_work"]["service_s"] > 0 and h["wasted_service_s"] > 0
    # Every attempt the retry sent was answered by the breaker (let through or refused) exactly once.
    assert r["attempts"] == pol["circuit_breaker"]["calls"] + pol["circuit_breaker"]["short_circuited"]
    assert pol["circuit_breaker"]["opened"] >= 1 and pol["bulkhead"]["in_use"] <= 16
