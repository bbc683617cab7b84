"""Load balancer health: active probes over the network, passive outlier ejection, panic.

Deterministic latencies and service times throughout, so every time below is exact: the theory
tests compute when a backend is ejected and when it returns from (interval, timeout,
unhealthy_after, healthy_after, latency, network timeout) and the fault's window; the others are
hand-written traces with overlapping faults. No workload runs by itself (`Probe` sends requests
by hand), so the only traffic is the probes and the requests a test sends.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

import simulator
from tests.unit.eventlog import Probe

BASE = """
    name: hc
    duration: {duration}
    components:
      lb: {{type: load_balancer, algorithm: round_robin, backends: [{backends}]{lb}}}
      a: {{type: server, workers: 1, service_time: {a_service}{a}}}
      b: {{type: server, workers: 1, service_time: 10ms{b}}}
      c: {{type: server, workers: 1, service_time: 10ms{b}}}
      db: {{type: server, workers: 4, service_time: 1ms}}
    network: {{default_latency: {latency}, timeout: {net_timeout}}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: lb}}
    faults:
{faults}
"""


ACTIVE = ", health_check: {active: {interval: 1s, timeout: 500ms, unhealthy_after: 2, healthy_after: 2}}"


def build(lb: str, faults: list[str], *, latency: str = "5ms", net_timeout: str = "1s", backends: str = "a, b",
          a: str = "", b: str = "", duration: str = "100s", a_service: str = "10ms") -> Probe:
    text = BASE.format(lb=lb, faults="\n".join(f"      - {f}" for f in faults) or "      []",
                       latency=latency, net_timeout=net_timeout, backends=backends, a=a, b=b, duration=duration,
                       a_service=a_service)
    return Probe(text)


def events(p: Probe, run: bool = True) -> list[tuple[float, str, str]]:
    if run:
        p.run()
    st = p.system.get("lb").stats(p.env.now)
    return [(round(e["at_s"], 9), e["kind"], e["description"].split()[0]) for e in st.get("events", [])]


def first_probe(t: float, interval: float) -> float:
    """The first probe sent at or after `t` (probes go at 0, interval, 2 x interval, ...)."""
    return math.ceil(t / interval - 1e-9) * interval


# --- theory: time to eject and to return --------------------------------------------------------
# One-way latency L on every hop, zero service time for a probe.
# - crash at t_f: a probe sent at s reaches the backend at s + L and is refused there if s + L >= t_f;
#   the refusal comes back at s + 2L. After the crash ends at t_h, a probe with s + L >= t_h passes.
# - partition LB|backend at t_f: a probe sent at s >= t_f - L is cut (the request if s >= t_f, else
#   the reply); it fails at s + min(timeout, network timeout). After t_h, a probe sent at s >= t_h passes.
# - pause at t_f: a probe reaching it at s + L >= t_f is held until t_h; with the timeout shorter
#   than what is left of the pause it fails at s + timeout. A probe with s + L >= t_h passes.
# Ejection: the unhealthy_after-th failing probe in a row, the first being the first probe sent at
# or after the threshold time; return likewise with healthy_after passing probes, at s + 2L.
CASES = [
    # kind, interval, timeout, unhealthy_after, healthy_after, L, network timeout, t_f, t_h
    ("crash", 1.0, 0.5, 3, 2, 0.005, 1.0, 10.3, 30.3),
    ("crash", 2.0, 0.5, 1, 4, 0.02, 1.0, 10.9, 50.1),
    ("partition", 2.0, 0.3, 2, 3, 0.005, 1.0, 10.3, 30.3),
    ("partition", 5.0, 3.0, 2, 1, 0.005, 1.0, 10.3, 40.3),  # the network timeout comes first
    ("pause", 1.0, 0.25, 4, 2, 0.01, 1.0, 10.5, 30.5),
]


@pytest.mark.parametrize("kind,interval,timeout,n_bad,n_good,lat,net_timeout,t_f,t_h", CASES)
def test_time_to_eject_and_to_return_follow_the_probe_schedule(kind, interval, timeout, n_bad, n_good, lat,
                                                               net_timeout, t_f, t_h):
    if kind == "crash":
        fail_from, fail_after, pass_from = t_f - lat, 2 * lat, t_h - lat
    elif kind == "partition":
        fail_from, fail_after, pass_from = t_f - lat, min(timeout, net_timeout), t_h
    else:
        fail_from, fail_after, pass_from = t_f - lat, timeout, t_h - lat
    eject = first_probe(fail_from, interval) + (n_bad - 1) * interval + fail_after
    back = first_probe(pass_from, interval) + (n_good - 1) * interval + 2 * lat
    fault = (f"{{type: partition, groups: [[lb], [a]], at: {t_f}s, duration: {t_h - t_f:.6g}s}}" if kind == "partition"
             else f"{{type: {kind}, target: a, at: {t_f}s, duration: {t_h - t_f:.6g}s}}")
    p = build(f", health_check: {{active: {{interval: {interval}s, timeout: {timeout}s, unhealthy_after: {n_bad}, "
              f"healthy_after: {n_good}}}}}", [fault], latency=f"{lat}s", net_timeout=f"{net_timeout}s")
    assert events(p) == [(pytest.approx(eject, abs=1e-9), "ejection", "a"),
                         (pytest.approx(back, abs=1e-9), "return", "a")]
    st = p.system.get("lb").stats(p.env.now)
    # Every failing probe counts: from the first failing one to the last before the first passing one.
    first_bad, first_good = first_probe(fail_from, interval), first_probe(pass_from, interval)
    assert st["probes_failed"] == round((first_good - first_bad) / interval)
    assert st["probes_sent"] == 2 * (round(100 / interval))  # two backends, rounds at 0 .. < 100 s


def test_an_ejected_backend_gets_no_requests_and_the_oracle_shorthand_still_works():
    p = build(", health_check: {active: {interval: 1s, timeout: 500ms, unhealthy_after: 2, healthy_after: 2}}",
              ["{type: partition, groups: [[lb], [a]], at: 10.3s, duration: 20s}"], latency="0s")
    p.watch_service("a", "b")
    # Ejected at 12.5 (probes at 11 and 12 time out after 500 ms); healthy again at 32 (probes at 31, 32).
    for t, label in [(12.7, "r1"), (13.7, "r2"), (14.7, "r3"), (32.2, "r4"), (33.2, "r5")]:
        p.send(t, label)
    log = p.run()
    assert [w for _t, w in log if "served" in w] == [
        "b served r1", "b served r2", "b served r3", "b served r4", "a served r5"]
    assert all(w.endswith("ok") for _t, w in log if "served" not in w)
    # `health_check: 1s` and `{oracle: 1s}` are the same thing.
    a = simulator.run(simulator.loads_scenario(LB_RUN.format(hc="1s")), seed=3)
    b = simulator.run(simulator.loads_scenario(LB_RUN.format(hc="{oracle: 1s}")), seed=3)
    assert a.summary == b.summary


LB_RUN = """
name: hc-run
duration: 60s
components:
  lb: {{type: load_balancer, algorithm: least_connections, backends: [a, b, c], health_check: {hc}}}
  a: {{type: server, workers: 2, service_time: exponential(mean=20ms)}}
  b: {{type: server, workers: 2, service_time: exponential(mean=20ms)}}
  c: {{type: server, workers: 2, service_time: exponential(mean=20ms)}}
network: {{default_latency: exponential(mean=1ms)}}
workloads:
  web: {{arrivals: poisson(rate=100/s), target: lb}}
faults:
  - {{type: crash, target: b, at: 20s, duration: 10s}}
"""


def test_probes_change_no_request_when_no_backend_fails():
    """Shallow probes take no worker time and draw from streams of their own: without faults, every
    request is served exactly as without them (common random numbers across the variants)."""
    text = LB_RUN.replace("  - {{type: crash, target: b, at: 20s, duration: 10s}}", "  []")
    plain = simulator.run(simulator.loads_scenario(text.format(hc="null")), seed=5)
    probed = simulator.run(simulator.loads_scenario(
        text.format(hc="{active: {interval: 100ms, timeout: 50ms}}")), seed=5)
    pd.testing.assert_frame_equal(plain.requests, probed.requests)
    assert probed.summary["components"]["lb"]["ejections"] == 0  # (a few probes wait out their 50 ms behind requests)
    # Rounds at 0, 0.1 .. 59.9 s; the one at 0 s comes before the counters are reset as the measured
    # window opens (at the end of the zero warm-up, also at 0 s).
    assert probed.summary["components"]["lb"]["probes_sent"] == 3 * 599


# --- probes queue behind requests ---------------------------------------------------------------
def test_a_probe_waits_behind_queued_requests_on_the_same_workers():
    """One backend, one worker, 1 s of work. Requests at 0.1 .. 0.4 s are served 0.1-1.1, 1.1-2.1,
    2.1-3.1, 3.1-4.1. Probes at 1 s and 2 s wait behind them and time out (500 ms): ejected at
    2.5 s, although the backend is up. The probe at 3 s waits for the worker until 4.1 s (too late);
    the one at 4 s too, but only 100 ms: it passes, and so does the one at 5 s: healthy again at
    5 s. Panic meanwhile: it is the only backend."""
    p = build(ACTIVE, [], latency="0s", backends="a", a_service="1s", duration="10s")
    for t, label in [(0.1, "r1"), (0.2, "r2"), (0.3, "r3"), (0.4, "r4")]:
        p.send(t, label)
    assert events(p) == [(2.5, "ejection", "a"), (2.5, "panic", "panic:"), (5.0, "return", "a"),
                         (5.0, "panic_end", "panic")]
    assert [w for _t, w in p.log] == ["r1 ok", "r2 ok", "r3 ok", "r4 ok"]
    st = p.system.get("a").stats(10.0)
    assert st["served"] == 4 and st["failed"] == 0  # probes are not requests


def test_a_probe_at_a_lifo_server_is_answered_by_the_lifo_queue():
    """The same backend with `queue_discipline: lifo` (models/shedding.py owns its queue): each probe
    is the newest entry when the worker frees (1.1, 2.1, 3.1, 4.1 s), so it is answered at once and
    the worker goes on newest-first: r4, r3, r2. No ejection; probes are not requests or shed work."""
    p = build(ACTIVE, [], latency="0s", backends="a", a_service="1s", duration="10s", a=", queue_discipline: lifo")
    for t, label in [(0.1, "r1"), (0.2, "r2"), (0.3, "r3"), (0.4, "r4")]:
        p.send(t, label)
    assert events(p) == []
    assert [w for _t, w in p.log] == ["r1 ok", "r4 ok", "r3 ok", "r2 ok"]
    st = p.system.get("a").stats(10.0)
    assert st["served"] == 4 and st["failed"] == 0 and st.get("shed", 0) == 0
    assert p.system.get("lb").stats(10.0)["probes_failed"] == 0


# --- deep probes and panic -----------------------------------------------------------------------
def test_a_deep_probe_ejects_every_backend_when_their_database_dies_and_the_balancer_panics():
    """a, b, c all call db. db crashes 10.3-30.3 s. Deep probes (each backend probes db) fail from
    the probe at 11 s: at 12 s + 2 x 5 ms ... every backend is out, so the balancer sends to all
    (panic). They come back together when db does. Shallow probes see nothing."""
    calls = ", calls: [db]"
    hc = ", health_check: {{active: {{interval: 1s, timeout: 500ms, unhealthy_after: 2, healthy_after: 2, path: {path}}}}}"
    fault = ["{type: crash, target: db, at: 10.3s, duration: 20s}"]
    p = build(hc.format(path="deep"), fault, backends="a, b, c", a=calls, b=calls)
    # A deep probe sent at s: LB -> backend (5 ms), backend -> db (5 ms) refused, back (5 + 5 ms).
    eject, back = 12 + 0.02, 32 + 0.02
    assert events(p) == [(eject, "ejection", "a"), (eject, "ejection", "b"), (eject, "ejection", "c"),
                         (eject, "panic", "panic:"), (back, "return", "a"), (back, "panic_end", "panic"),
                         (back, "return", "b"), (back, "return", "c")]
    p = build(hc.format(path="shallow"), fault, backends="a, b, c", a=calls, b=calls)
    assert events(p) == []


def test_panic_threshold_sends_to_all_below_the_share():
    """panic_threshold 50% over three backends: one out leaves 2/3 (no panic), two out leave 1/3
    (panic: all three get traffic again) until one of them is back."""
    hc = (", health_check: {active: {interval: 1s, timeout: 500ms, unhealthy_after: 1, healthy_after: 1}, "
          "panic_threshold: 50%}")
    p = build(hc, ["{type: crash, target: a, at: 10.3s, duration: 20s}",
                   "{type: crash, target: b, at: 15.3s, duration: 20s}"], backends="a, b, c", latency="0s")
    assert events(p) == [(11.0, "ejection", "a"), (16.0, "ejection", "b"), (16.0, "panic", "panic:"),
                         (31.0, "return", "a"), (31.0, "panic_end", "panic"), (36.0, "return", "b")]


# --- overlapping faults --------------------------------------------------------------------------
def test_a_pause_inside_a_partition_keeps_the_backend_out_until_both_end():
    """Partition LB|a 10.3-30.3 s, pause of a 20.3-40.3 s: ejected once (12.5 s: probes at 11 and 12
    cut, failing at their 500 ms timeout); the partition heals at 30.3 but a is paused, so probes
    are held and time out; back once: the probe at 40 s is held until the pause ends at 40.3 and
    answered within its timeout (40.305 < 40.5), then the one at 41 s passes: back at 41.01."""
    p = build(ACTIVE, ["{type: partition, groups: [[lb], [a]], at: 10.3s, duration: 20s}",
                       "{type: pause, target: a, at: 20.3s, duration: 20s}"])
    assert events(p) == [(12.5, "ejection", "a"), (41.01, "return", "a")]


def test_a_crash_during_an_active_ejection_delays_the_return_to_after_the_crash():
    p = build(ACTIVE, ["{type: partition, groups: [[lb], [a]], at: 10.3s, duration: 10s}",
                       "{type: crash, target: a, at: 15.3s, duration: 10s}"])
    # Crash ends at 25.3: the probe at 26 (reaching a at 26.005) is the first to pass; then 27.
    assert events(p) == [(12.5, "ejection", "a"), (27.01, "return", "a")]


OUTLIER = ", outlier_ejection: {{consecutive_errors: {k}, eject_for: 5100ms, max_ejected: 50%}}{extra}"


def send_every_second(p: Probe, start: float, stop: float) -> None:
    t, n = start, 1
    while t < stop:
        p.send(t, f"r{n}")
        t += 1.0
        n += 1


def test_outlier_ejection_with_a_crash_that_outlasts_the_ejection():
    """Round robin over a, b; a request each second from 0.25 s; a crashed 10.2-30.2 s; ejected after
    2 errors in a row for 5.1 s. a's turns: 10.25 (error), 12.25 (error: ejected, back at 17.35).
    Then b alone; from 18.25 the turns alternate again (b, a): 19.25 a error, 21.25 a error (ejected
    again, back at 26.35); 28.25 a error; 30.25 a is up: ok, the streak is reset."""
    p = build(OUTLIER.format(k=2, extra=""), ["{type: crash, target: a, at: 10.2s, duration: 20s}"], latency="0s")
    send_every_second(p, 0.25, 40)
    ev = events(p)
    assert ev == [(12.25, "ejection", "a"), (17.35, "return", "a"), (21.25, "ejection", "a"), (26.35, "return", "a")]
    errors = [t for t, w in p.log if w.endswith("error")]
    assert errors == [10.25, 12.25, 19.25, 21.25, 28.25]


def test_outlier_ejection_counts_each_attempt_when_the_balancer_retries_elsewhere():
    """With `resilience: retry` on the balancer, a retry goes to a backend the request has not tried:
    each request whose turn is the crashed a fails there once (an attempt's error, counted by the
    outlier detector) and succeeds on b. Three of a's turns (10.25, 12.25, 14.25) make 3 errors in a
    row: ejected at 14.25 s; no request fails."""
    retry = ", resilience: {retry: {max_attempts: 3, retry_on: [error], backoff: constant, base: 0s}}"
    p = build(OUTLIER.format(k=3, extra=retry), ["{type: crash, target: a, at: 10.2s, duration: 20s}"],
              latency="0s")
    send_every_second(p, 0.25, 20)
    assert events(p)[0] == (14.25, "ejection", "a")
    assert all(w.endswith(" ok") for _t, w in p.log)
    assert p.system.get("lb").stats(20.0)["rerouted"] == 3


def test_max_ejected_keeps_the_rest_in_the_pool():
    """a and b crash (10.2-30.2 s) among a, b, c; one error ejects, but at most 34% of 3 = 1 backend
    may be out. b fails first (10.25 s) and is ejected; a keeps failing (11.25, 13.25, 15.25 s) but
    stays in, the pool's one ejection being taken. Each time b comes back (5.1 s later) round robin
    gives it the next request, which fails, so b is ejected again and a never is."""
    lb = ", outlier_ejection: {consecutive_errors: 1, eject_for: 5100ms, max_ejected: 34%}"
    p = build(lb, ["{type: crash, target: a, at: 10.2s, duration: 20s}",
                   "{type: crash, target: b, at: 10.2s, duration: 20s}"], latency="0s", backends="a, b, c")
    send_every_second(p, 0.25, 40)
    ev = events(p)
    out = 0
    for _t, kind, _who in ev:
        out += 1 if kind == "ejection" else -1 if kind == "return" else 0
        assert out <= 1
    assert ev == [(10.25, "ejection", "b"), (15.35, "return", "b"), (16.25, "ejection", "b"), (21.35, "return", "b"),
                  (22.25, "ejection", "b"), (27.35, "return", "b"), (28.25, "ejection", "b"), (33.35, "return", "b")]
    assert [t for t, w in p.log if w.endswith("error")][:5] == [10.25, 11.25, 13.25, 15.25, 16.25]
    st = p.system.get("lb").stats(p.env.now)
    assert st["ejections"] == st["returns"] and st["unusable_at_end"] == 0


def test_a_deep_probe_ejects_only_the_backend_cut_off_from_the_database():
    """A partition between b and db (b stays reachable from the balancer): only b's deep probes fail."""
    calls = ", calls: [db]"
    hc = ", health_check: {active: {interval: 1s, timeout: 500ms, unhealthy_after: 2, healthy_after: 2, path: deep}}"
    p = build(hc, ["{type: partition, groups: [[b], [db]], at: 10.3s, duration: 20s}"], backends="a, b, c",
              a=calls, b=calls)
    # b's probe of db sent at s + 5 ms is cut: the probe fails at its own 500 ms timeout (s + 0.5).
    # Back: the probe at 31 s reaches db at 31.01 (the partition ended at 30.3): back at 32 + 4 x 5 ms.
    assert events(p) == [(12.5, "ejection", "b"), (32.02, "return", "b")]


def test_oracle_with_outlier_ejection_shares_one_state_and_fails_open():
    """The oracle (1 s) with outlier ejection: a crashes at 10.2 s, b at 12.2 s (20 s each). The oracle
    takes a out at 11.2, b at 13.2: none left, so the balancer panics and sends to both (no 'never the
    last' rule in the shared state). a is up at 30.2 and serves its turn at 30.25 even before the
    oracle says so (31.2: panic over, a alone); b is listed again at 33.2."""
    lb = ", health_check: 1s, outlier_ejection: {consecutive_errors: 100, eject_for: 1s, max_ejected: 50%}"
    p = build(lb, ["{type: crash, target: a, at: 10.2s, duration: 20s}",
                   "{type: crash, target: b, at: 12.2s, duration: 20s}"], latency="0s")
    p.watch_service("a", "b")
    send_every_second(p, 0.25, 40)
    assert events(p) == [(13.2, "panic", "panic:"), (31.2, "panic_end", "panic")]
    served = [(round(t - 0.01, 2), w.split()[0]) for t, w in p.log if "served" in w and 10 < t < 36]
    assert served == [(11.25, "b"), (30.25, "a"), (31.25, "a"), (32.25, "a"), (33.25, "b"), (34.25, "a"), (35.25, "b")]
    assert [t for t, w in p.log if w.endswith("error")] == [10.25] + [12.25 + k for k in range(18)]


def test_a_backend_behind_an_open_breaker_is_skipped_not_counted_as_failing():
    """A circuit breaker on the balancer (per backend, opens after 1 failure, for 100 s): after a's
    first error its breaker is open, so the balancer skips a and sends every later call to b: the
    breaker's refusals never reach the outlier detector (`consecutive_errors: 2`): a is never
    ejected, one call fails, every other succeeds."""
    lb = (", resilience: {circuit_breaker: {failure_threshold: 1, open_for: 100s}}"
          ", outlier_ejection: {consecutive_errors: 2, eject_for: 5s, max_ejected: 50%}")
    p = build(lb, ["{type: crash, target: a, at: 10.2s, duration: 20s}"], latency="0s")
    send_every_second(p, 0.25, 40)
    assert events(p) == []
    outcomes = [w.split()[1] for _t, w in p.log]
    assert outcomes.count("error") == 1 and outcomes.count("short_circuited") == 0
    assert outcomes.count("ok") == len(outcomes) - 1
    st = p.system.get("lb").stats(p.env.now)
    assert st["ejections"] == 0 and st["skipped_open"] > 5


def test_ejections_reach_result_events_for_the_charts():
    scenario = simulator.load_scenario("scenarios/health-checks.yaml", overrides=["duration=100s"])
    result = simulator.run(scenario, seed=1)
    kinds = [(e["kind"], e["component"]) for e in result.events]
    assert kinds == [("ejection", "lb"), ("return", "lb")]
    assert 30 < result.events[0]["at_s"] < 32 and 90 < result.events[1]["at_s"] < 92
    lb = result.summary["components"]["lb"]
    assert lb["ejections"] == lb["returns"] == 1 and lb["probes_failed"] >= 60
    ts = result.timeseries
    assert ts["lb.probes_failed"].sum() == lb["probes_failed"]  # per bucket, adding up to the run's count
    assert ts["lb.usable_backends"].min() == 3 and ts["lb.usable_backends"].iloc[-1] == 4
