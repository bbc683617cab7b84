"""Deadline propagation: downstream components learn when the caller gave up; the work done for
such requests is counted as wasted; `abandoned_requests: drop` skips it. Exact traces with a pause
and a crash, the deadline crossing a server that does not propagate it, and bad input."""
from __future__ import annotations

import math
import textwrap

import pytest

import simulator
from simulator.engine.request import OUTCOME_NAMES, Request
from simulator.language.errors import ScenarioError
from simulator.resilience.deadline import Propagated
from tests.unit.eventlog import Probe


def _send(p: Probe, t: float, label: str) -> None:
    """As `Probe.send`, under the workload's own deadline (its `timeout`)."""
    wl = p.workload()
    rid = len(p._labels) + 1
    p._labels[rid] = label

    def fire(_timer) -> None:
        req = Request(rid, p.env.now, wl.index, "request")
        wl.link.send(req, wl.deadlines.wrap(lambda o: p.record(f"{label} {OUTCOME_NAMES[o]}")))

    p.env.call_later(t - p.env.now, fire)


ONE = """
name: t
duration: 30s
components:
  app: {{type: server, workers: 1, service_time: 600ms{extra}}}
workloads:
  web: {{target: app, arrivals: constant(rate=1/s), timeout: 1s, resilience: {{propagate_deadline: true}}}}
faults:
  - {fault}
"""


def _probe(extra: str = "", fault: str = "{type: crash, target: app, at: 100s}") -> Probe:
    p = Probe(ONE.format(extra=extra, fault=fault))
    p.watch_service("app")
    return p


def test_served_after_the_caller_gave_up_is_wasted_work():
    p = _probe()
    for t, label in ((0.0, "r1"), (0.1, "r2"), (0.15, "r3")):
        _send(p, t, label)
    assert p.run(5) == [(0.6, "app served r1"), (0.6, "r1 ok"), (1.1, "r2 timed_out"), (1.15, "r3 timed_out"),
                        (1.2, "app served r2"), (1.8, "app served r3")]
    w = p.system.wasted["app"]
    assert w.requests == 2 and w.service_s == pytest.approx(1.2)


def test_drop_skips_queued_work_whose_caller_gave_up():
    p = _probe(extra=", abandoned_requests: drop")
    for t, label in ((0.0, "r1"), (0.1, "r2"), (0.15, "r3")):
        _send(p, t, label)
    # r2 started at 0.6, before its deadline (1.1): finished (wasted); r3 waited past 1.15: skipped.
    assert p.run(5) == [(0.6, "app served r1"), (0.6, "r1 ok"), (1.1, "r2 timed_out"), (1.15, "r3 timed_out"),
                        (1.2, "app served r2")]
    w = p.system.wasted["app"]
    assert w.requests == 1 and w.service_s == pytest.approx(0.6)
    assert p.system.get("app").expired == 1


def test_calls_held_by_a_pause_are_dropped_when_it_ends():
    fault = "{type: pause, target: app, at: 1s, duration: 4s}"
    serve, drop = _probe(fault=fault), _probe(extra=", abandoned_requests: drop", fault=fault)
    for p in (serve, drop):
        _send(p, 2.0, "r1")  # held; its caller gives up at 3.0
        _send(p, 4.9, "r2")  # held; its caller gives up at 5.9
    # serve: r1 is served first when the pause ends (wasted), so r2 finishes too late (wasted too).
    assert serve.run(10) == [(3.0, "r1 timed_out"), (5.6, "app served r1"), (5.9, "r2 timed_out"), (6.2, "app served r2")]
    assert serve.system.wasted["app"].requests == 2
    # drop: r1 is dropped as it is taken back, r2 is served in time.
    assert drop.run(10) == [(3.0, "r1 timed_out"), (5.6, "app served r2"), (5.6, "r2 ok")]
    assert drop.system.dropping["app"].dropped == 1 and drop.system.wasted["app"].requests == 0


def test_work_lost_to_a_crash_is_not_wasted_work():
    p = _probe(fault="{type: crash, target: app, at: 0.3s, duration: 1s}")
    _send(p, 0.0, "r1")
    assert p.run(5) == [(0.3, "r1 error")]
    assert p.system.wasted["app"].requests == 0


def test_the_deadline_crosses_a_server_that_does_not_propagate_it():
    p = Probe("""
        name: t
        duration: 30s
        components:
          front: {type: server, workers: 10, service_time: 0s, calls: [back]}
          back: {type: server, workers: 1, service_time: 800ms, abandoned_requests: drop}
        workloads:
          web: {target: front, arrivals: constant(rate=1/s), timeout: 1s, resilience: {propagate_deadline: true}}
    """)
    p.watch_service("back")
    for t, label in ((0.0, "r1"), (0.1, "r2"), (0.2, "r3")):
        _send(p, t, label)
    assert p.run(5) == [(0.8, "back served r1"), (0.8, "r1 ok"), (1.1, "r2 timed_out"), (1.2, "r3 timed_out"),
                        (1.6, "back served r2")]
    assert p.system.get("back").expired == 1
    assert p.system.wasted["back"].requests == 1


def test_without_a_deadline_nothing_is_copied_and_the_summary_counts_wasted_work():
    res = simulator.run(simulator.loads_scenario(textwrap.dedent("""
        name: t
        duration: 20s
        components:
          app: {type: server, workers: 1, service_time: 600ms}
        workloads:
          web: {target: app, arrivals: constant(rate=2/s), timeout: 1s, resilience: {propagate_deadline: true}}
    """)))
    ww = res.summary["wasted_work"]
    assert ww["components"]["app"]["requests"] > 0
    assert ww["service_s"] == pytest.approx(0.6 * ww["components"]["app"]["requests"])
    assert res.summary["resilience"]["web->app"]["deadline"]["propagated"] == res.summary["requests"]["generated"]
    from reports.resilience_table import resilience_tables
    assert resilience_tables(res.summary)[-1].title.startswith("Wasted work")


def test_bad_abandoned_requests_is_one_located_line():
    with pytest.raises(ScenarioError) as e:
        simulator.loads_scenario(textwrap.dedent(ONE.format(extra=", abandoned_requests: discard",
                                                            fault="{type: crash, target: app, at: 1s}")))
    assert "components.app.abandoned_requests" in str(e.value) and "\n" not in str(e.value)


def test_wasted_share_follows_the_service_time_tail():
    """No queueing (many workers), exponential service of mean S, client timeout T, no network
    delay: a request is wasted iff its service exceeds T, with probability exp(-T/S), and its
    wasted service has mean T + S. Tolerances from the binomial and exponential variances."""
    s_mean, t_out, lam, dur = 0.1, 0.15, 200.0, 60.0
    res = simulator.run(simulator.loads_scenario(textwrap.dedent(f"""
        name: tail
        duration: {dur:g}s
        components:
          app: {{type: server, workers: 1000, service_time: exponential(mean={s_mean * 1000:g}ms)}}
        workloads:
          web: {{target: app, arrivals: poisson(rate={lam:g}/s), timeout: {t_out * 1000:g}ms,
                resilience: {{propagate_deadline: true}}}}
    """)), seed=11)
    req = res.summary["requests"]
    w = res.summary["wasted_work"]["components"]["app"]
    finished = req["generated"] - req["in_flight"]
    p = math.exp(-t_out / s_mean)
    assert w["requests"] == pytest.approx(finished * p, abs=4 * math.sqrt(finished * p * (1 - p)))
    assert req["timed_out"] >= w["requests"]  # each wasted request timed out (the last may still be in service)
    # Given X > T, X = T + Exp(S) (memorylessness): mean T + S, standard deviation S.
    assert w["service_s"] / w["requests"] == pytest.approx(t_out + s_mean, abs=4 * s_mean / math.sqrt(w["requests"]))
