"""Replicated stores: acknowledgement modes, read routing, stale reads, lag, multi-leader conflicts."""
import numpy as np
import pytest

from tests.helpers import run

ONE_KEY = """
name: repl
duration: 10s
network:
  default_latency: 1ms
  links:
    - {{between: [leader, far], latency: 50ms}}
components:
  store: {{type: replicated, replicas: [leader, near, far], mode: {mode}, read_from: {read_from}{extra}}}
  leader: {{type: database, connections: 10, read_time: 2ms, write_time: 10ms}}
  near: {{type: database, connections: 10, read_time: 2ms, write_time: 10ms}}
  far: {{type: database, connections: 10, read_time: 2ms, write_time: 10ms}}
workloads:
  writes: {{arrivals: constant(rate=1/s), target: store, keys: uniform(n=1), mix: {{write: 1}}}}
  reads: {{arrivals: constant(rate=1/s), start: {read_offset}, target: store, keys: uniform(n=1)}}
"""


def _one_key(mode="async", read_from="leader", extra="", read_offset="0.05s"):
    return run(ONE_KEY, mode=mode, read_from=read_from, extra=extra, read_offset=read_offset)


def _latency(res, workload):
    req = res.requests
    return req.loc[req["workload"] == workload, "latency_s"].to_numpy()


@pytest.mark.parametrize("mode,extra,expected", [
    ("async", "", 0.014),  # 1ms to the router, 1ms to the leader, 10ms write, 1ms + 1ms back
    ("semi_sync", ", acks: 1", 0.026),  # + the nearer follower: 1ms, 10ms, 1ms
    ("sync", "", 0.124),  # + the far follower: 50ms, 10ms, 50ms
])
def test_write_latency_follows_the_acknowledgement_mode(mode, extra, expected):
    lat = _latency(_one_key(mode=mode, extra=extra), "writes")
    np.testing.assert_allclose(lat, expected, atol=1e-9)


def test_replication_lag_is_commit_to_follower_acknowledgement():
    st = _one_key().summary["components"]["store"]
    lag = st["replication_lag_s"]
    assert lag["max"] == pytest.approx(0.110)  # 50ms + 10ms + 50ms to the far follower
    assert lag["mean"] == pytest.approx((0.012 + 0.110) / 2)


def test_async_reads_from_any_replica_can_be_stale_sync_reads_never():
    # A write issued at t is acknowledged at the router at t+13ms (async); a read issued at t+17ms
    # reaches the router at t+18ms. The far follower applies the write only at t+72ms, so a read
    # served there is stale; under sync the write is not acknowledged before t+123ms.
    async_ = _one_key(mode="async", read_from="any", read_offset="0.017s").summary["components"]["store"]
    sync = _one_key(mode="sync", read_from="any", read_offset="0.017s").summary["components"]["store"]
    assert async_["stale_reads"] > 0
    assert async_["staleness_versions"]["max"] == 1
    # stale since t+13ms; the read is served at t+21ms and its answer is back at the router at t+22ms
    assert async_["staleness_s"]["max"] == pytest.approx(0.009, abs=1e-9)
    assert sync["stale_reads"] == 0


def test_leader_reads_are_never_stale():
    st = _one_key(read_from="leader", read_offset="0.013s").summary["components"]["store"]
    assert st["reads_checked"] == 9 and st["stale_reads"] == 0


GEO = """
name: geo-repl
duration: 60s
network:
  default_latency: 1ms
  links:
    - {{between: [eu, us], latency: normal(mean=40ms, std=5ms)}}
components:
  store: {{type: replicated, replicas: [db-eu, db-us], mode: {mode}, read_from: {read_from}}}
  db-eu: {{type: database, zone: eu, connections: 16, read_time: exponential(mean=2ms), write_time: exponential(mean=5ms)}}
  db-us: {{type: database, zone: us, connections: 16, read_time: exponential(mean=2ms), write_time: exponential(mean=5ms)}}
workloads:
  web:
    arrivals: poisson(rate=400/s)
    target: store
    mix: {{read: 0.7, write: 0.3}}
    keys: zipf(n=200, s=1.0)
    attributes: {{region: {{eu: 0.5, us: 0.5}}}}
"""


def test_nearest_reads_are_faster_but_stale_under_async():
    leader = run(GEO, mode="async", read_from="leader").summary
    nearest = run(GEO, mode="async", read_from="nearest").summary
    assert nearest["operations"]["read"]["latency_s"]["mean"] < leader["operations"]["read"]["latency_s"]["mean"]
    assert leader["components"]["store"]["stale_reads"] == 0
    assert nearest["components"]["store"]["stale_ratio"] > 0.01
    reads = nearest["components"]["store"]["replicas"]
    assert reads["db-eu"]["reads"] == pytest.approx(reads["db-us"]["reads"], rel=0.1)


def test_multi_leader_writes_locally_and_counts_lww_conflicts():
    single = run(GEO, mode="async", read_from="nearest").summary
    multi = run(GEO, mode="multi_leader", read_from="nearest").summary
    st = multi["components"]["store"]
    assert st["conflicts"] > 0
    assert st["replicas"]["db-us"]["writes_led"] > 0 and st["replicas"]["db-eu"]["writes_led"] > 0
    w_single = single["operations"]["write"]["latency_s"]["mean"]
    w_multi = multi["operations"]["write"]["latency_s"]["mean"]
    assert w_multi < w_single / 2  # no cross-region round trip for half of the writes


def test_crashed_follower_fails_sync_writes_then_catches_up():
    res = run("""
        name: catch-up
        duration: 40s
        components:
          store: {type: replicated, replicas: [a, b], mode: sync, retry_interval: 500ms}
          a: {type: database, connections: 4, read_time: 1ms, write_time: 1ms}
          b: {type: database, connections: 4, read_time: 1ms, write_time: 1ms}
        workloads:
          w: {arrivals: constant(rate=10/s), target: store, keys: uniform(n=50), mix: {write: 1}}
        faults:
          - {type: crash, target: b, at: 10s, duration: 10s}
    """)
    st = res.summary["components"]["store"]
    assert res.summary["requests"]["errors"] == pytest.approx(100, abs=6)  # 10 s of writes at 10/s
    assert st["writes_failed"] == res.summary["requests"]["errors"]
    assert st["replicas"]["b"]["backlog"] == 0  # caught up after the recovery
    assert st["replication_lag_s"]["max"] >= 10.0 - 0.5  # the oldest missed write waited the outage


def test_promote_moves_writes_and_replication_to_the_new_leader():
    import simulator
    from tests.helpers import scenario

    sc = scenario("""
        name: failover
        duration: 20s
        components:
          store: {type: replicated, replicas: [a, b], mode: sync}
          a: {type: database, connections: 4, read_time: 1ms, write_time: 1ms}
          b: {type: database, connections: 4, read_time: 1ms, write_time: 1ms}
        workloads:
          w: {arrivals: constant(rate=10/s), target: store, keys: uniform(n=5), mix: {write: 1}}
    """)
    env, system = simulator.build(sc)
    store = system.components["store"]
    env.call_later(10.0, lambda _t: store.promote("b"))
    for wl in system.workloads:
        wl.start()
    env.run(until=20.0)
    st = store.stats(20.0)
    assert st["leader"] == "b"
    assert st["replicas"]["a"]["writes_led"] == 100 and st["replicas"]["b"]["writes_led"] == 99
    assert system.components["a"].writes == system.components["b"].writes == 199  # sync: both have all


QUORUM = """
name: quorum
seed: 2
duration: 60s
network:
  default_latency: 1ms
  links:
    - {{between: [eu, us], latency: 40ms}}
components:
  store: {{type: replicated, replicas: [a, b, c], mode: quorum{extra}}}
  a: {{type: database, zone: eu, connections: 16, read_time: 2ms, write_time: 5ms}}
  b: {{type: database, zone: eu, connections: 16, read_time: 2ms, write_time: 5ms}}
  c: {{type: database, zone: us, connections: 16, read_time: 2ms, write_time: 5ms}}
workloads:
  web:
    arrivals: poisson(rate=300/s)
    target: store
    {where}
    mix: {{read: 0.7, write: 0.3}}
    keys: zipf(n=50, s=1.0)
{faults}
"""


BOTH = "attributes: {region: {eu: 0.5, us: 0.5}}"


def _quorum(extra="", where="zone: us", faults=""):
    return run(QUORUM, extra=extra, where=where, faults=faults).summary


def test_quorum_write_waits_for_the_w_th_replica():
    # clients in us, 1 ms from their client library: c stores after 1+5+1 ms, a and b after 40+5+40 ms
    for w, expected in ((1, 0.009), (2, 0.087), (3, 0.087)):
        lat = _quorum(f", write_quorum: {w}, read_quorum: 1")["operations"]["write"]["latency_s"]
        assert lat["p50"] == pytest.approx(expected, abs=1e-9) and lat["max"] == pytest.approx(expected, abs=1e-9)


def test_overlapping_quorums_are_never_stale_small_ones_are():
    # clients on both sides: a write acknowledged by its local replica is read on the other side
    strong = _quorum(", write_quorum: 2, read_quorum: 2", where=BOTH)["components"]["store"]
    weak = _quorum(", write_quorum: 1, read_quorum: 1", where=BOTH)["components"]["store"]
    assert strong["stale_reads"] == 0 and strong["reads_checked"] > 1000
    assert weak["stale_reads"] > 0
    assert weak["read_repairs"] > 0  # the replicas that answered with an old version were fixed


def test_losing_a_majority_costs_availability_unless_quorums_are_one():
    down = "faults:\n  - {type: crash, target: a, at: 20s, duration: 20s}\n  - {type: crash, target: b, at: 20s, duration: 20s}"
    majority = _quorum(faults=down)
    one = _quorum(", write_quorum: 1, read_quorum: 1", faults=down)
    assert majority["requests"]["errors"] == pytest.approx(300 * 20, rel=0.1)  # every request for 20 s
    assert one["requests"]["errors"] == 0 and one["availability"] == 1.0


def test_replication_streams_made_by_a_failover_during_a_partition_are_cut_too():
    """The promoted leader's streams to the others are made during the run; a partition already on
    reaches them: sync writes (which wait for every follower) fail until it heals."""
    import numpy as np

    import simulator
    from simulator.simulation.runner import schedule_faults
    from tests.helpers import scenario

    sc = scenario("""
        name: failover-partition
        duration: 30s
        network: {default_latency: 1ms, timeout: 500ms}
        components:
          store: {type: replicated, replicas: [a, b], mode: sync}
          a: {type: database, connections: 4, read_time: 1ms, write_time: 1ms, zone: eu}
          b: {type: database, connections: 4, read_time: 1ms, write_time: 1ms, zone: us}
        workloads:
          w: {arrivals: constant(rate=10/s), target: store, keys: uniform(n=5), mix: {write: 1}, zone: us}
        faults:
          - {type: partition, groups: [[eu], [us]], at: 5s, duration: 15s}
    """)
    env, system = simulator.build(sc)
    schedule_faults(env, system)
    store = system.components["store"]
    env.call_later(10.0, lambda _t: store.promote("b"))  # during the partition
    for wl in system.workloads:
        wl.start()
    env.run(until=30.0)
    c = env.recorder.columns(0.0)
    start, ok = c["start"], c["outcome"] == 0
    # Before 5 s: fine. 5-20 s: a in eu is cut off from the us client, then (after the failover at
    # 10 s) b's stream to a is cut: no write can be acknowledged by both. After 20.5 s: fine again.
    assert ok[start < 4.9].all()
    assert not ok[(start > 5.0) & (start < 19.4)].any()
    assert ok[start > 20.6].all()
    assert np.count_nonzero(start > 20.6) > 80
