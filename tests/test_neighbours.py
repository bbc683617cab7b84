"""Features built apart, tested together: each new fault type against the policy meant to absorb it
(a load spike against autoscaling, an error fault against outlier ejection, chaos crashes against
active health checks, duplicated messages against a rate limit). Each test names what must hold
whatever the random draws, so none is tuned to a seed."""
from __future__ import annotations

from tests.helpers import run

SPIKE = """
name: spike-vs-autoscale
seed: 1
duration: 300s
network: {default_latency: 1ms, timeout: 1s}
components:
  app:
    type: server
    workers: 2
    service_time: exponential(mean=20ms)
    autoscale: {metric: utilization, target: 60%, min_replicas: 1, max_replicas: 6, interval: 10s,
                provision_delay: 5s, cooldown: {up: 10s, down: 60s}}
workloads:
  web: {target: app, arrivals: poisson(rate=40/s)}
faults:
  - {type: load_spike, target: web, at: 100s, duration: 100s, factor: 4}
"""


def test_a_load_spike_scales_the_server_up_within_one_interval_and_back_down_after_it():
    """Before the spike 40/s x 20 ms = 0.8 busy workers of 2: 40% < 60%, no step. The spike makes it
    160/s: 3.2 busy workers need ceil(3.2 / (0.6 x 2)) = 3 replicas; the first evaluation after 100 s
    (at 110 s) scales up. After the spike the load fits one replica again: back to the minimum."""
    r = run(SPIKE)
    steps = [(e["at_s"], e["description"]) for e in r.events if e["kind"] == "scale"]
    assert steps and steps[0][0] == 110.0 and "1 -> " in steps[0][1]
    counts = [int(d.split("-> ")[1].split()[0]) for _t, d in steps]
    assert max(counts) >= 3
    assert r.summary["components"]["app"]["replicas_final"] == 1
    assert all(t > 100 for t, _d in steps)


OUTLIER = """
name: error-vs-ejection
seed: 2
duration: 120s
network: {default_latency: 1ms, timeout: 1s}
components:
  lb: {type: load_balancer, algorithm: round_robin, backends: [a, b, c],
       outlier_ejection: {consecutive_errors: 3, eject_for: 10s, max_ejected: 34%}}
  a: {type: server, workers: 4, service_time: exponential(mean=10ms)}
  b: {type: server, workers: 4, service_time: exponential(mean=10ms)}
  c: {type: server, workers: 4, service_time: exponential(mean=10ms)}
workloads:
  web: {target: lb, arrivals: poisson(rate=100/s)}
faults:
  - {type: error, target: b, at: 30s, duration: 20s, probability: 0.5}
  - {type: error, target: b, at: 40s, duration: 20s, probability: 0.8}
"""


def test_overlapping_error_faults_get_a_backend_ejected_only_inside_their_windows():
    """Two overlapping error faults on b (30-50 s at 50%, 40-60 s at 80%: 90% where they overlap).
    Only b is ever ejected, only while a fault is on (its failures are the only ones), and it is back
    for good once the last window ends; the errors clients see are b's, inside 30-60 s."""
    r = run(OUTLIER)
    ev = [(e["at_s"], e["kind"], e["description"].removeprefix("lb: ")) for e in r.events if e["component"] == "lb"]
    ejections = [t for t, kind, d in ev if kind == "ejection"]
    assert ejections and all(d.startswith("b ") for _t, _k, d in ev)
    assert all(30 < t < 60 for t in ejections)
    assert ev[-1][1] == "return" and ev[-1][0] <= 60 + 10 + 1e-9
    req = r.requests
    errors = req[req["outcome"] == "error"]
    assert len(errors) > 0 and errors["start_s"].between(30, 60).all()
    # At 90% a run of 3 errors in a row is likely (0.73): b gets ejected more often in the overlap.
    assert any(40 < t < 50 for t in ejections)


CHAOS = """
name: chaos-vs-probes
seed: 5
duration: 600s
network: {default_latency: 1ms, timeout: 1s}
components:
  lb:
    type: load_balancer
    algorithm: round_robin
    backends: [app-1, app-2, app-3]
    health_check: {active: {interval: 1s, timeout: 500ms, unhealthy_after: 2, healthy_after: 2}}
  app-1: &app {type: server, workers: 4, service_time: exponential(mean=10ms)}
  app-2: *app
  app-3: *app
workloads:
  web: {target: lb, arrivals: poisson(rate=50/s)}
faults:
  - {type: chaos, target: [app-1, app-2, app-3], fault: crash, mtbf: exponential(mean=120s), mttr: constant(value=20s)}
"""


def test_active_probes_eject_exactly_the_backends_chaos_crashes_and_only_while_down():
    """Every drawn crash lasts 20 s, far longer than detection (2 probes 1 s apart + 2 ms): each
    crash window of a backend gets one ejection of that backend between its start and start + 3 s,
    and its return within 3 s after the window ends; no ejection happens outside a crash."""
    r = run(CHAOS)
    windows = [(f["start_s"], f["end_s"], f["description"].removesuffix(" (chaos)").split()[-1])
               for f in r.fault_windows]
    assert len(windows) >= 3  # 600 s / 120 s MTBF x 3 backends: about 15 drawn
    ev = [(e["at_s"], e["kind"], e["description"].removeprefix("lb: ").split()[0]) for e in r.events
          if e["component"] == "lb"]
    for t, kind, who in ev:
        if kind == "ejection":
            assert any(s <= t <= s + 3 for s, _e, w in windows if w == who), (t, who)
        elif kind == "return":
            assert any(e_ <= t <= e_ + 3 for _s, e_, w in windows if w == who), (t, who)
    merged: dict[str, list[tuple[float, float]]] = {}
    for s, e_, w in sorted(windows):
        spans = merged.setdefault(w, [])
        if spans and s <= spans[-1][1] + 3:  # crashes closer than detection: one ejection
            spans[-1] = (spans[-1][0], max(spans[-1][1], e_))
        else:
            spans.append((s, e_))
    ejected = sum(1 for _t, kind, _w in ev if kind == "ejection")
    assert ejected == sum(len(v) for v in merged.values() if True)


DUP = """
name: dup-vs-limit
seed: 3
duration: 60s
network: {default_latency: 1ms, timeout: 1s}
components:
  app: {type: server, workers: 8, service_time: 1ms,
        rate_limit: {algorithm: sliding_log, limit: 50, window: 1s}}
workloads:
  web: {target: app, arrivals: poisson(rate=40/s)}
faults:
  - {type: duplicate, groups: [[web], [app]], at: 20s, duration: 20s, probability: 0.5}
"""


def test_duplicated_messages_count_against_a_rate_limit():
    """40/s against a limit of 50 in any 1 s: Poisson bursts are refused now and then without the fault.
    Duplicates (each request twice with probability 0.5) make 60 deliveries a second in 20-40 s: the
    limiter sees them all, so it refuses many more there, and the same requests as without the fault
    outside it (the arrivals are the same draws; the sliding log forgets a duplicate after 1 s)."""
    with_dup = run(DUP).requests
    without = run(DUP.split("faults:")[0] + "faults: []\n").requests
    assert list(with_dup["start_s"]) == list(without["start_s"])  # common random numbers

    def limited(req, inside: bool):
        rows = req[req["outcome"] == "rate_limited"]
        during = rows["start_s"].between(20, 41)
        return set(rows[during if inside else ~during]["id"])

    assert limited(with_dup, False) == limited(without, False)
    assert len(limited(with_dup, True)) > 3 * max(1, len(limited(without, True)))
    lim = run(DUP).summary["rate_limits"]["app"]
    assert lim["admitted"] + lim["rate_limited"] > len(with_dup)  # the duplicates were seen too
