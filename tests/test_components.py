"""Exact behaviour of components, network and faults on small deterministic scenarios."""
import numpy as np
import pytest

from tests.helpers import run


def _one(text):
    res = run(text)
    return res, res.requests


def test_latency_adds_network_hops_and_service():
    res, req = _one("""
        name: hops
        duration: 10s
        network:
          default_latency: 10ms
        components:
          app: {type: server, workers: 1, service_time: 5ms}
        workloads:
          c: {arrivals: constant(rate=1/s), target: app}
    """)
    ok = req[req["outcome"] == "ok"]
    np.testing.assert_allclose(ok["latency_s"], 0.025, atol=1e-12)  # 10ms there, 5ms work, 10ms back


def test_call_path_sequence_and_fan_out_first_k():
    res, req = _one("""
        name: tree
        duration: 10s
        components:
          front: {type: server, workers: 4, service_time: 1ms, calls: [a, {parallel: [b, c, d], wait_for: 2}]}
          a: {type: server, workers: 4, service_time: 10ms}
          b: {type: server, workers: 4, service_time: 5ms}
          c: {type: server, workers: 4, service_time: 20ms}
          d: {type: server, workers: 4, service_time: 40ms}
        workloads:
          clients: {arrivals: constant(rate=1/s), target: front}
    """)
    ok = req[req["outcome"] == "ok"]
    # 1ms own work + 10ms a + the 2nd fastest of (5, 20, 40) ms
    np.testing.assert_allclose(ok["latency_s"], 0.031, atol=1e-12)
    assert res.summary["components"]["d"]["served"] == res.summary["components"]["b"]["served"]


def test_per_operation_service_and_calls():
    res, req = _one("""
        name: ops
        duration: 20s
        components:
          app:
            type: server
            service_time: 2ms
            operations:
              write: {service_time: 8ms, calls: [db]}
          db: {type: database, read_time: 1ms, write_time: 4ms}
        workloads:
          c: {arrivals: constant(rate=2/s), target: app, mix: {read: 0.5, write: 0.5}}
    """)
    lat = req.groupby("operation", observed=True)["latency_s"].agg(["min", "max"])
    assert lat.loc["read", "min"] == pytest.approx(0.002) and lat.loc["read", "max"] == pytest.approx(0.002)
    assert lat.loc["write", "min"] == pytest.approx(0.012) and lat.loc["write", "max"] == pytest.approx(0.012)
    db = res.summary["components"]["db"]
    assert db["writes"] == (req["operation"] == "write").sum() and db["reads"] == 0


def test_partition_makes_calls_fail_after_network_timeout():
    res, req = _one("""
        name: cut
        duration: 20s
        network: {timeout: 500ms}
        components:
          app: {type: server, workers: 8, service_time: 1ms, calls: [db]}
          db: {type: database, read_time: 1ms, write_time: 1ms}
        workloads:
          c: {arrivals: constant(rate=10/s), target: app}
        faults:
          - {type: partition, groups: [[app], [db]], at: 5s, duration: 5s}
    """)
    during = req[(req["start_s"] >= 5.0) & (req["start_s"] < 10.0 - 0.01)]
    outside = req[(req["start_s"] < 5.0 - 0.01) | (req["start_s"] >= 10.0)]
    assert (during["outcome"] == "timed_out").all() and len(during) > 40
    np.testing.assert_allclose(during["latency_s"], 0.501, atol=1e-9)  # 1ms work, then the 500ms timeout
    assert (outside["outcome"] == "ok").all()


def test_one_way_partition_cuts_only_one_direction():
    res, req = _one("""
        name: oneway
        duration: 10s
        components:
          a: {type: server, service_time: 1ms, calls: [b]}
          b: {type: server, service_time: 1ms}
        workloads:
          to_a: {arrivals: constant(rate=10/s), target: a}
          to_b: {arrivals: constant(rate=10/s), target: b}
        faults:
          - {type: partition, groups: [[to_b], [b]], one_way: true, at: 0s}
    """)
    req = req[req["outcome"] != "in_flight"]
    by = req.groupby("workload", observed=True)["outcome"].agg(lambda s: set(s.astype(str)))
    assert by["to_b"] == {"timed_out"} and by["to_a"] == {"ok"}


def test_crash_fails_in_flight_and_queued_then_recovers():
    res, req = _one("""
        name: crash
        duration: 30s
        components:
          app: {type: server, workers: 1, service_time: 2s}
        workloads:
          c: {arrivals: constant(rate=1/s), target: app}
        faults:
          - {type: crash, target: app, at: 10.5s, duration: 5s}
    """)
    err = req[req["outcome"] == "error"]
    # everything queued or in service at 10.5s fails at that instant; arrivals while down fail at once
    at_crash = err[err["start_s"] < 10.5]
    assert len(at_crash) > 1 and np.allclose(at_crash["end_s"], 10.5)
    while_down = err[(err["start_s"] >= 10.5) & (err["start_s"] < 15.5)]
    assert len(while_down) == 5 and np.allclose(while_down["latency_s"], 0.0)
    assert (req[req["start_s"] >= 15.5]["outcome"].isin(["ok", "in_flight"])).all()
    s = res.summary
    assert s["components"]["app"]["failed"] == s["requests"]["errors"]


def test_health_check_routes_around_crashed_backend():
    res, req = _one("""
        name: hc
        duration: 60s
        components:
          lb: {type: load_balancer, algorithm: round_robin, backends: [a, b], health_check: 1s}
          a: {type: server, workers: 4, service_time: 10ms}
          b: {type: server, workers: 4, service_time: 10ms}
        workloads:
          c: {arrivals: constant(rate=10/s), target: lb}
        faults:
          - {type: crash, target: a, at: 20s, duration: 20s}
    """)
    err = req[req["outcome"] == "error"]
    # only the requests sent to 'a' during the 1s before the LB noticed fail
    assert len(err) == 5 and err["start_s"].between(20, 21).all()


def test_server_timeout_and_client_timeout():
    res, req = _one("""
        name: timeouts
        duration: 20s
        components:
          app: {type: server, workers: 1, service_time: 1s, timeout: 1.5s}
        workloads:
          c: {arrivals: constant(rate=2/s), target: app}
    """)
    timed = req[req["outcome"] == "timed_out"]
    assert len(timed) > 0 and np.allclose(timed["latency_s"], 1.5)
    # expired requests are dropped from the queue without being served
    comp = res.summary["components"]["app"]
    assert comp["expired"] > 0 and comp["served"] < len(req)


def test_queue_capacity_zero_is_a_loss_system():
    res, req = _one("""
        name: loss
        duration: 10s
        components:
          app: {type: server, workers: 1, queue_capacity: 0, service_time: 1.5s}
        workloads:
          c: {arrivals: constant(rate=1/s), target: app}
    """)
    # arrivals at 1, 2, 3...: the one at 2 finds the worker busy (until 2.5) and is rejected
    assert list(req["outcome"].astype(str))[:4] == ["ok", "rejected", "ok", "rejected"]


def test_closed_loop_follows_the_response_time_law():
    res, req = _one("""
        name: closed
        duration: 2000s
        warmup: 100s
        components:
          app: {type: server, workers: 1, service_time: exponential(mean=100ms)}
        workloads:
          users: {users: 5, think_time: 1s, target: app}
    """)
    s = res.summary
    x = s["throughput_rps"]
    r = s["latency_s"]["mean"]
    # interactive response time law: N = X (R + Z); with a constant think time Z it holds on every
    # sample path, up to the at most N requests cut by the window's edges (~5 of ~8,000 here)
    assert 5 == pytest.approx(x * (r + 1.0), rel=0.005)


def test_rate_schedule_changes_the_rate():
    res, req = _one("""
        name: sched
        duration: 200s
        components:
          app: {type: server, workers: 50, service_time: 1ms}
        workloads:
          c:
            target: app
            arrivals: {process: schedule, steps: [{at: 0s, rate: 10/s}, {at: 100s, rate: 40/s}]}
    """)
    first = (req["start_s"] < 100).sum()
    second = (req["start_s"] >= 100).sum()
    # Poisson counts: mean 1000 and 4000, sd ~32 and ~63
    assert abs(first - 1000) < 5 * 32 and abs(second - 4000) < 5 * 63


def test_regions_pick_links_by_zone():
    res, req = _one("""
        name: regions
        duration: 50s
        network:
          links:
            - {between: [eu, dc], latency: 40ms}
            - {between: [us, dc], latency: 5ms}
        components:
          app: {type: server, workers: 10, service_time: 1ms, zone: dc}
        workloads:
          c: {arrivals: poisson(rate=20/s), target: app, attributes: {region: {eu: 0.5, us: 0.5}}}
    """)
    lat = np.round(req.loc[req["outcome"] == "ok", "latency_s"].to_numpy(), 6)
    assert set(lat) == {0.081, 0.011}


def test_latency_fault_adds_delay_each_way_while_it_lasts():
    res, req = _one("""
        name: spike
        duration: 30s
        components:
          app: {type: server, workers: 4, service_time: 2ms, calls: [db]}
          db: {type: database, read_time: 3ms, write_time: 3ms}
        workloads:
          clients: {arrivals: constant(rate=5/s), target: app}
        faults:
          - {type: latency, groups: [[app], [db]], add: 40ms, at: 10s, duration: 10s}
    """)
    lat = req.set_index("start_s")["latency_s"]
    during = lat[(lat.index >= 10.0) & (lat.index < 20.0 - 0.1)]
    outside = lat[(lat.index < 10.0 - 0.1) | (lat.index >= 20.0)]
    np.testing.assert_allclose(during, 0.085, atol=1e-9)  # 2ms + 40ms there + 3ms + 40ms back
    np.testing.assert_allclose(outside.dropna(), 0.005, atol=1e-9)


def test_packet_loss_fails_the_expected_fraction():
    res, req = _one("""
        name: loss
        duration: 2000s
        network: {timeout: 100ms}
        components:
          app: {type: server, workers: 50, service_time: 1ms}
        workloads:
          clients: {arrivals: poisson(rate=5/s), target: app}
        faults:
          - {type: packet_loss, groups: [[clients], [app]], probability: 10%, at: 0s}
    """)
    done = req[req["outcome"] != "in_flight"]
    lost = (done["outcome"] == "timed_out").mean()
    # a request survives only if both its message and the reply do: 1 - 0.9^2 = 0.19
    n = len(done)
    assert abs(lost - 0.19) < 5 * (0.19 * 0.81 / n) ** 0.5


def test_slow_fault_multiplies_service_times():
    res, req = _one("""
        name: slow
        duration: 30s
        components:
          app: {type: server, workers: 4, service_time: 10ms}
        workloads:
          clients: {arrivals: constant(rate=2/s), target: app}
        faults:
          - {type: slow, target: app, factor: 5, at: 10s, duration: 10s}
    """)
    lat = req.set_index("start_s")["latency_s"]
    assert np.allclose(lat[(lat.index >= 10.0) & (lat.index < 20.0)], 0.05)
    assert np.allclose(lat[lat.index >= 20.0].dropna(), 0.01)
