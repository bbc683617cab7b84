"""Invariants that hold on every run: conservation, determinism, common random numbers."""
import json

import numpy as np
import pytest

import simulator
from tests.helpers import BASIC, assert_conserved, run, scenario

THREE_TIER = "scenarios/three-tier.yaml"


def _conserved(summary):
    r = summary["requests"]
    # the policies' outcomes appear only when they happened
    extra = sum(r.get(k, 0) for k in ("short_circuited", "rate_limited", "degraded", "shed"))
    assert r["generated"] == r["ok"] + r["rejected"] + r["timed_out"] + r["errors"] + r["in_flight"] + extra
    assert r["generated"] > 0


def test_conservation_without_faults():
    res = run(BASIC, seed=1, duration="200s", warmup="10s")
    _conserved(res.summary)
    assert res.summary["requests"]["errors"] == 0


def test_conservation_with_crash_partition_and_timeouts():
    sc = simulator.load_scenario(THREE_TIER, duration="400s")
    res = simulator.run(sc)
    s = res.summary
    _conserved(s)
    # the crash fails requests and the partition makes calls time out
    assert s["requests"]["errors"] > 0
    assert s["requests"]["timed_out"] > 0
    # every request row has exactly one outcome; ok rows have a finite latency
    req = res.requests
    assert len(req) == s["requests"]["generated"]
    assert np.isfinite(req.loc[req["outcome"] == "ok", "latency_s"]).all()
    assert req.loc[req["outcome"] == "in_flight", "end_s"].isna().all()


def test_conservation_with_bounded_queue_and_client_timeout():
    res = run("""
        name: overload
        duration: 100s
        components:
          app: {type: server, workers: 1, queue_capacity: 5, service_time: exponential(mean=100ms)}
        workloads:
          clients: {arrivals: poisson(rate=20/s), target: app, timeout: 300ms}
    """)
    s = res.summary
    _conserved(s)
    assert s["requests"]["rejected"] > 0 and s["requests"]["timed_out"] > 0


@pytest.mark.parametrize("discipline", ["fifo", "lifo", "adaptive_lifo"])
def test_conservation_with_shedding_rate_limits_and_faults(discipline):
    """Every request ends with exactly one outcome when shedding, a limiter, a bounded queue, client
    timeouts, a crash and overlapping pauses all act on the same server."""
    res = run(f"""
        name: shed
        duration: 60s
        components:
          app: {{type: server, workers: 2, queue_capacity: 50, service_time: exponential(mean=100ms),
                queue_discipline: {discipline}, max_queue_wait: 400ms, codel: {{target: 50ms, interval: 200ms}},
                concurrency_slowdown: {{usl: {{sigma: 0.1, kappa: 0.01}}}}, rate_limit: {{rate: 30/s, burst: 10}}}}
        workloads:
          clients: {{arrivals: poisson(rate=35/s), target: app, timeout: 1s}}
        faults:
          - {{type: crash, target: app, at: 10s, duration: 3s}}
          - {{type: pause, target: app, at: 20s, duration: 2s}}
          - {{type: pause, target: app, at: 21s, duration: 2s}}
    """)
    s = res.summary
    _conserved(s)
    r = s["requests"]
    assert r["shed"] > 0 and r["rate_limited"] > 0 and r["errors"] > 0
    app = s["components"]["app"]
    assert app["shed"] == app["shed_max_queue_wait"] + app["shed_codel"]
    # the server sheds, at the pauses' end, requests whose clients gave up during the 3 s pause: those
    # end timed_out for the client, so the server's count may exceed the requests' outcome count
    assert r["shed"] <= app["shed"]
    assert len(res.requests) == r["generated"]


def test_same_seed_gives_byte_identical_summary(tmp_path):
    sc = simulator.load_scenario(THREE_TIER, duration="200s")
    a = simulator.run(sc).to_json()
    b = simulator.run(sc).to_json()
    assert a == b
    c = simulator.run(sc, seed=sc.seed + 1).to_json()
    assert c != a
    assert json.loads(c)["seed"] == sc.seed + 1


def test_cli_summary_json_is_byte_identical(tmp_path):
    from click.testing import CliRunner

    from cli import main

    runner = CliRunner()
    for d in ("a", "b"):
        r = runner.invoke(main, ["run", "scenarios/lb-basic.yaml", "--duration", "100s", "--out", str(tmp_path / d),
                                 "--no-charts", "--format", "json"])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "a" / "summary.json").read_bytes() == (tmp_path / "b" / "summary.json").read_bytes()


def test_unrelated_component_does_not_change_other_random_numbers():
    base = """
        name: crn
        seed: 5
        duration: 300s
        components:
          app: {type: server, workers: 2, service_time: exponential(mean=100ms)}
          %s
        workloads:
          clients: {arrivals: poisson(rate=12/s), target: app, mix: {read: 0.7, write: 0.3}, keys: zipf(n=1000, s=1.1)}
          %s
    """
    plain = run(base % ("", ""))
    extra = run(base % ("other: {type: server, workers: 1, service_time: lognormal(mean=5ms, std=2ms)}",
                        "batch: {arrivals: poisson(rate=3/s), target: other}"))
    a = plain.requests
    b = extra.requests[extra.requests["workload"] == "clients"].reset_index(drop=True)
    # same arrivals, same operations, same latencies: app's streams are untouched by 'other'
    assert len(a) == len(b)
    np.testing.assert_array_equal(a["start_s"].to_numpy(), b["start_s"].to_numpy())
    np.testing.assert_array_equal(a["operation"].astype(str).to_numpy(), b["operation"].astype(str).to_numpy())
    np.testing.assert_allclose(a["latency_s"].to_numpy(), b["latency_s"].to_numpy(), rtol=0, atol=1e-12)


def test_warmup_excludes_early_requests():
    res = run(BASIC, duration="100s", warmup="40s", seed=3)
    assert res.requests["start_s"].min() >= 40.0
    assert res.summary["warmup_s"] == 40.0


def test_timeseries_and_components_frames():
    res = run(BASIC, duration="100s", warmup="0s", seed=3)
    ts = res.timeseries
    assert len(ts) == 100
    assert {"throughput_rps", "error_rate", "latency_p50_s", "latency_p99_s", "app.utilization",
            "app.queue_length"} <= set(ts.columns)
    # the time-series throughput integrates to the ok count (requests finishing inside the run)
    width = ts["end_s"] - ts["start_s"]
    assert (ts["throughput_rps"] * width).sum() == pytest.approx(res.summary["requests"]["ok"], abs=0.5)
    comp = res.components.set_index("component")
    assert comp.loc["app", "type"] == "server"
    assert 0.6 < comp.loc["app", "utilization"] < 0.9  # 15/s * 0.1s / 2 = 0.75


def test_replicas_shorthand_spreads_load():
    res = run("""
        name: replicas
        duration: 200s
        components:
          app: {type: server, workers: 1, replicas: 3, service_time: exponential(mean=100ms)}
        workloads:
          clients: {arrivals: poisson(rate=15/s), target: app}
    """)
    comps = res.summary["components"]
    served = [comps[f"app[{i}]"]["served"] for i in (1, 2, 3)]
    assert sum(served) == comps["app"]["served"]  # the front answers exactly what the replicas served
    # round robin: equal shares, up to the requests still in service when the run ended
    assert max(served) - min(served) <= 3


def test_speed_scales_service_time():
    slow = run(BASIC, duration="200s", warmup="0s", seed=9)
    fast = simulator.run(scenario(BASIC.format(seed=9, duration="200s", warmup="0s")), seed=9)
    fast2 = simulator.run(simulator.with_overrides(scenario(BASIC.format(seed=9, duration="200s", warmup="0s")),
                                                   ["components.app.speed=2"]))
    assert fast.summary == slow.summary
    u1 = slow.summary["components"]["app"]["utilization"]
    u2 = fast2.summary["components"]["app"]["utilization"]
    assert u2 == pytest.approx(u1 / 2, rel=0.01)  # same draws, halved: exactly half the busy time (edges aside)


def test_conservation_with_breaker_fallback_retries_and_overlapping_faults():
    """short_circuited and degraded (a breaker refusing, a fallback answering) are outcomes of their own:
    every request still ends exactly once, while error and pause windows overlap and a breaker opens,
    half-opens and closes inside them."""
    text = """
    name: degrade
    seed: 4
    duration: 40s
    components:
      app: {type: server, workers: 4, service_time: exponential(mean=10ms)}
      api:
        type: server
        workers: 16
        service_time: 1ms
        operations:
          page:
            calls:
              - target: app
                resilience:
                  timeout: 100ms
                  circuit_breaker: {failure_threshold: 5, open_for: 1s}
                  fallback: {degraded: true, on: [error]}
    workloads:
      web:
        target: api
        arrivals: poisson(rate=150/s)
        mix: {page: 1}
        resilience:
          timeout: 500ms
          retry: {max_attempts: 2, retry_on: [timed_out, error], backoff: constant, base: 0s, jitter: none}
    faults:
      - {type: error, target: app, at: 5s, duration: 10s, probability: 60%}
      - {type: pause, target: app, at: 8s, duration: 2s}
      - {type: error, target: app, at: 12s, duration: 8s, probability: 100%}
      - {type: crash, target: api, at: 25s, duration: 1s}
    """
    res = run(text)
    r = assert_conserved(res)
    assert r["degraded"] > 0 and r["short_circuited"] > 0 and r["errors"] > 0
    breaker = res.summary["resilience"]["api/operations/page/calls/0->app"]["circuit_breaker"]
    assert breaker["opened"] > 1 and breaker["closed"] > 0  # it recovered inside the windows and reopened
