"""Admission on the callee's side, at the server: load shedding (queue discipline, max_queue_wait,
CoDel) and concurrency-dependent service time (concurrency_slowdown). Rate limiters: test_rate_limit.py."""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

import simulator
from tests.unit.eventlog import Probe


def _probe(extra: str, faults: str = "", workers: int = 1) -> Probe:
    return Probe(f"""
        name: t
        duration: 20s
        components:
          app: {{type: server, workers: {workers}, service_time: 1s, {extra}}}
        workloads:
          web: {{target: app, arrivals: constant(rate=1/s)}}
        {faults}
    """)


def _run(p: Probe, sends) -> list:
    for t, label in sends:
        p.send(t, label)
    return p.run()


# --- exact traces ----------------------------------------------------------------------------------

def test_lifo_serves_the_newest_waiting_request_first():
    p = _probe("queue_discipline: lifo")
    assert _run(p, [(0, "r1"), (0.1, "r2"), (0.2, "r3"), (0.3, "r4")]) == [
        (1.0, "r1 ok"), (2.0, "r4 ok"), (3.0, "r3 ok"), (4.0, "r2 ok")]
    assert p.system.get("app").stats(4.0)["taken_lifo"] == 3


def test_max_queue_wait_sheds_at_the_limit_apart_from_rejected():
    p = _probe("max_queue_wait: 1500ms")
    # r3 queued at 0.2 would start at 2.0: it is shed at 0.2 + 1.5 = 1.7; r4 waits 0.1 s only
    assert _run(p, [(0, "r1"), (0.1, "r2"), (0.2, "r3"), (1.9, "r4")]) == [
        (1.0, "r1 ok"), (1.7, "r3 shed"), (2.0, "r2 ok"), (3.0, "r4 ok")]
    st = p.system.get("app").stats(3.0)
    assert (st["shed"], st["shed_max_queue_wait"], st["rejected"]) == (1, 1, 0)


def test_max_queue_wait_is_frozen_by_overlapping_pauses_and_sheds_when_the_last_ends():
    # pauses [0.5, 2.5] and [1.0, 3.0]: r2's limit (1.7) passes while frozen; it is shed at 3.0, when
    # the server runs again; r1 had 0.5 s of service left; r3, held by the pause, queues at 3.0
    p = _probe("max_queue_wait: 1500ms", """faults:
          - {type: pause, target: app, at: 0.5s, duration: 2s}
          - {type: pause, target: app, at: 1s, duration: 2s}""")
    assert _run(p, [(0, "r1"), (0.2, "r2"), (1.2, "r3")]) == [(3.0, "r2 shed"), (3.5, "r1 ok"), (4.5, "r3 ok")]


def test_max_queue_wait_after_a_crash_and_recovery_inside_the_wait():
    # the crash at 0.5 fails r1 (in service) and r2 (queued, its limit 1.6 still pending); the timer
    # armed for r2 finds r4 (limit 2.8) at the front and waits for it; r5 (limit 2.9) is shed
    p = _probe("max_queue_wait: 1500ms", "faults: [{type: crash, target: app, at: 0.5s, duration: 0.5s}]")
    assert _run(p, [(0, "r1"), (0.1, "r2"), (1.2, "r3"), (1.3, "r4"), (1.4, "r5")]) == [
        (0.5, "r1 error"), (0.5, "r2 error"), (2.2, "r3 ok"), (2.9, "r5 shed"), (3.2, "r4 ok")]


def test_codel_drops_only_while_the_queue_has_not_been_empty_for_an_interval():
    # the queue is non-empty from 0.1. At 2.0 (1.9 s < interval 2 s): not congested, r3 is taken after
    # waiting 1.8 s. At 3.0 (2.9 s): congested, r4 (waited 1.5 s) and r5 (1.4 s) exceed target 0.5 s
    p = _probe("codel: {target: 500ms, interval: 2s}")
    assert _run(p, [(0, "r1"), (0.1, "r2"), (0.2, "r3"), (1.5, "r4"), (1.6, "r5")]) == [
        (1.0, "r1 ok"), (2.0, "r2 ok"), (3.0, "r4 shed"), (3.0, "r5 shed"), (3.0, "r3 ok")]


def test_adaptive_lifo_takes_the_newest_while_congested_and_codel_drops_the_stale():
    p = _probe("queue_discipline: adaptive_lifo, codel: {target: 500ms, interval: 2s}")
    # as above until 3.0, where the congested queue is taken newest-first: r6 (waited 0.1 s) starts;
    # at 4.0 r5 and r4 have waited too long
    assert _run(p, [(0, "r1"), (0.1, "r2"), (0.2, "r3"), (1.5, "r4"), (1.6, "r5"), (2.9, "r6")]) == [
        (1.0, "r1 ok"), (2.0, "r2 ok"), (3.0, "r3 ok"), (4.0, "r5 shed"), (4.0, "r4 shed"), (4.0, "r6 ok")]
    st = p.system.get("app").stats(4.0)
    assert (st["shed_codel"], st["taken_lifo"], st["queue_discipline"]) == (2, 1, "adaptive_lifo")


def test_adaptive_lifo_without_codel_only_reorders():
    p = _probe("queue_discipline: adaptive_lifo")  # congestion after the default interval, 100 ms
    assert _run(p, [(0, "r1"), (0.1, "r2"), (0.2, "r3"), (0.3, "r4")]) == [
        (1.0, "r1 ok"), (2.0, "r4 ok"), (3.0, "r3 ok"), (4.0, "r2 ok")]


def test_usl_slowdown_multiplies_each_service_by_the_concurrency_factor_with_a_slow_fault():
    # f(N) = 1 + 0.1 (N-1) + 0.05 N (N-1): f(1) = 1, f(2) = 1.2, f(3) = 1.5; the slow fault (x2,
    # from 0.15 s) multiplies r3's service as well: 3 s
    p = _probe("concurrency_slowdown: {usl: {sigma: 0.1, kappa: 0.05}}",
               "faults: [{type: slow, target: app, at: 0.15s, duration: 1s, factor: 2}]", workers=4)
    assert _run(p, [(0, "r1"), (0.1, "r2"), (0.2, "r3")]) == [(1.0, "r1 ok"), (1.3, "r2 ok"), (3.2, "r3 ok")]


@pytest.mark.parametrize("law, factors", [
    ("{linear: 0.5}", [1.0, 1.5, 2.0]),
    ("{exponential: 1}", [1.0, 2.0, 4.0]),
])
def test_linear_and_exponential_slowdown_factors(law, factors):
    p = _probe(f"concurrency_slowdown: {law}", workers=3)
    log = _run(p, [(0, "r1"), (0.01, "r2"), (0.02, "r3")])
    assert log == [(round(t + f, 9), f"{r} ok") for (t, r), f in zip(((0, "r1"), (0.01, "r2"), (0.02, "r3")), factors)]


def test_a_server_without_these_settings_keeps_the_stations_own_code():
    p = _probe("queue_capacity: 3")
    app = p.system.get("app")
    assert "handle" not in vars(app) and "release" not in vars(app) and "service_time" not in vars(app)
    assert "shed" not in app.stats(1.0)


# --- against theory --------------------------------------------------------------------------------

CLOSED = """
name: usl
duration: {t}s
warmup: 1s
seed: {seed}
components:
  app: {{type: server, workers: 64, service_time: exponential(mean=10ms),
        concurrency_slowdown: {{usl: {{sigma: {sigma}, kappa: {kappa}}}}}}}
workloads:
  users: {{target: app, users: {n}}}
"""


def test_closed_system_throughput_follows_the_usl_curve():
    """N users with no think time and N <= workers keep N requests in service, each started at
    concurrency N: service Exp(S f(N)) with f(N) = N / C(N). Each user completes a Poisson process of
    rate 1 / (S f(N)) (exponential services back to back), so completions in T are Poisson with
    mean X T, X = C(N) / S: 4 sd = 4 sqrt(X T). The curve rises, peaks near
    N* = sqrt((1 - sigma) / kappa) = 30.8, and falls (retrograde): checked at 1, 8, 31 and 64."""
    sigma, kappa, s_mean, t = 0.05, 0.001, 0.01, 40.0
    measured = {}
    for n in (1, 8, 31, 64):
        res = simulator.run(simulator.loads_scenario(CLOSED.format(t=t + 1, seed=n, sigma=sigma, kappa=kappa, n=n)))
        x = (n / (1 + sigma * (n - 1) + kappa * n * (n - 1))) / s_mean
        done = res.summary["requests"]["ok"]
        assert abs(done - x * t) < 4 * math.sqrt(x * t) + n, (n, done, x * t)  # + n: in flight at the ends
        measured[n] = done / t
    assert measured[31] > measured[8] > measured[1] and measured[64] < measured[31]


def test_max_queue_wait_bounds_the_wait_of_every_served_request_under_overload():
    """Deterministic 10 ms service, no network: an ok request's latency is its wait plus 10 ms, and no
    request is served after waiting more than max_queue_wait, whatever the discipline."""
    for discipline in ("fifo", "lifo", "adaptive_lifo"):
        res = simulator.run(simulator.loads_scenario(textwrap.dedent(f"""
            name: t
            duration: 30s
            seed: 3
            components:
              app: {{type: server, workers: 2, service_time: 10ms, queue_discipline: {discipline},
                    max_queue_wait: 100ms}}
            workloads:
              web: {{target: app, arrivals: poisson(rate=300/s)}}
        """)))
        req = res.requests
        ok = req.loc[req["outcome"] == "ok", "latency_s"].to_numpy()
        assert ok.max() <= 0.1 + 0.01 + 1e-9
        s = res.summary
        # 300/s offered to 200/s of capacity: about a third is shed
        assert 0.25 < s["requests"]["shed"] / s["requests"]["generated"] < 0.4
        assert s["requests"]["rejected"] == 0


def test_lifo_and_shedding_keep_goodput_where_fifo_collapses_under_a_client_timeout():
    """Overload (110%) with clients that give up after 500 ms: FIFO serves requests that waited too
    long (the backlog grows without bound) so nearly all time out; LIFO serves the newest, in time;
    CoDel with adaptive LIFO sheds the stale ones. (The network's latency keeps the server from
    seeing the clients' own timeouts, as a real server does not.)"""
    def ok_share(extra: str) -> float:
        s = simulator.run(simulator.loads_scenario(textwrap.dedent(f"""
            name: t
            duration: 60s
            seed: 2
            network: {{default_latency: 1ms}}
            components:
              app: {{type: server, workers: 4, service_time: exponential(mean=20ms){extra}}}
            workloads:
              web: {{target: app, arrivals: poisson(rate=220/s), timeout: 500ms}}
        """))).summary
        return s["requests"]["ok"] / s["requests"]["generated"]
    fifo, lifo = ok_share(""), ok_share(", queue_discipline: lifo")
    codel = ok_share(", queue_discipline: adaptive_lifo, codel: {target: 20ms, interval: 100ms}")
    # at most capacity / offered = 200 / 220 = 0.91 can succeed; CoDel sheds a little more than needed
    assert fifo < 0.5 and 0.85 < lifo < 0.91 and 0.8 < codel < 0.91


def test_reports_show_the_shedding_table_and_the_shed_outcome_only_when_there_is_shedding():
    from reports.table import summary_tables

    def tables(extra: str) -> list:
        return summary_tables(simulator.run(simulator.loads_scenario(textwrap.dedent(f"""
            name: t
            duration: 5s
            components:
              app: {{type: server, workers: 1, service_time: 20ms{extra}}}
            workloads:
              web: {{target: app, arrivals: poisson(rate=80/s)}}
        """))).summary)

    shed = tables(", max_queue_wait: 30ms")
    assert "Load shedding" in [str(t.title) for t in shed] and "shed by load shedding" in str(shed[0].caption)
    plain = tables("")
    assert "Load shedding" not in [str(t.title) for t in plain] and "shed" not in str(plain[0].caption)


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, expect", [
    ("queue_discipline: lifu", "did you mean 'lifo'"),
    ("queue_discipline: adaptive", "did you mean 'adaptive_lifo'"),
    ("max_queue_wait: -1s", "max_queue_wait"),
    ("max_queue_wait: 10", "max_queue_wait"),
    ("codel: {target: 200ms, interval: 100ms}", "'target' (0.2s) must be at most 'interval'"),
    ("codel: {taget: 5ms}", "did you mean 'target'"),
    ("concurrency_slowdown: {usl: {sigma: 0.1, kappa: -0.01}}", "kappa"),
    ("concurrency_slowdown: {usl: {sigma: -1}}", "sigma"),
    ("concurrency_slowdown: {linear: 0.1, exponential: 0.1}", "exactly one"),
    ("concurrency_slowdown: {}", "exactly one"),
    ("concurrency_slowdown: {quadratic: 1}", "unknown key 'quadratic'"),
])
def test_bad_shedding_and_slowdown_input_is_one_located_line(extra, expect):
    text = f"""
        name: t
        duration: 10s
        components:
          app: {{type: server, service_time: 1ms, {extra}}}
        workloads:
          web: {{target: app, arrivals: poisson(rate=1/s)}}
    """
    with pytest.raises(simulator.ScenarioError) as e:
        simulator.loads_scenario(textwrap.dedent(text))
    msg = str(e.value)
    assert "\n" not in msg and "components.app" in msg and expect in msg, msg


def test_capacity_estimates_use_the_peak_of_the_slowdown_law():
    """The overload warnings read each station's capacity: with the USL it is the curve's peak at
    <= workers busy (sigma 0.03, kappa 0.002, 64 workers: the peak is at N = 22, sqrt(0.97 / 0.002)
    = 22.0), C(22) / S, not workers / S."""
    p = _probe("concurrency_slowdown: {usl: {sigma: 0.03, kappa: 0.002}}", workers=64)
    app = p.system.get("app")
    x = 22 / (1 + 0.03 * 21 + 0.002 * 22 * 21) / 1.0  # service_time: 1s in _probe
    assert app.capacity_per_s() == pytest.approx(x)
    assert _probe("", workers=64).system.get("app").capacity_per_s() == 64.0
