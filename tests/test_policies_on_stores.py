"""`resilience:` on the other callers: a cache's calls to its backing store, and the client-side
routers of the data tier (sharded, replicated), whose policies run inside each caller."""
from __future__ import annotations

import simulator
from simulator.engine.network import Link
from simulator.resilience.chain import Guarded
from tests.unit.eventlog import Probe

CACHE = """
    name: t
    duration: 20s
    components:
      cache: {{type: cache, backing: db, mode: read_through, capacity: 100{res}}}
      db: {{type: database, read_time: 100ms, write_time: 100ms}}
    workloads:
      web: {{target: cache, arrivals: constant(rate=1/s), keys: uniform(n=10)}}
    faults:
      - {{type: crash, target: db, at: 0.5s, duration: 2s}}
"""


def test_a_cache_retries_its_backing_store():
    """db down from 0.5s to 2.5s. r1 misses at 1.0: fetch refused at once, retried at 2.0 (refused),
    at 3.0: fetched at 3.1. Without the policy r1 fails at once."""
    p = Probe(CACHE.format(res=", resilience: {retry: {max_attempts: 3, backoff: constant, base: 1s}}"))
    p.watch_service("db")
    p.send(1.0, "r1", key=1)
    p.send(4.0, "r2", key=1)  # a hit
    assert p.run(6) == [(3.1, "db served r1"), (3.1, "r1 ok"), (4.0, "r2 ok")]
    g = p.system.get("cache").link
    assert isinstance(g, Guarded) and g.label == "cache->db"
    assert g.policies["retry"].stats()["retries"] == 2
    bare = Probe(CACHE.format(res=""))
    assert type(bare.system.get("cache").link) is Link
    bare.send(1.0, "r1", key=1)
    assert bare.run(6) == [(1.0, "r1 error")]


SHARDED = """
    name: t
    duration: 20s
    components:
      store: {{type: sharded, shards: [s1, s2], strategy: range, key_space: 100, boundaries: [50]{res}}}
      s1: {{type: database, read_time: 100ms, write_time: 100ms}}
      s2: {{type: database, read_time: 100ms, write_time: 100ms}}
    workloads:
      web: {{target: store, arrivals: constant(rate=1/s), keys: uniform(n=100)}}
    faults:
      - {{type: crash, target: s1, at: 0.5s, duration: 10s}}
"""


def test_a_sharded_router_has_a_breaker_per_shard_in_each_caller():
    """s1 down from 0.5s: keys below 50 fail; the breaker of s1 (threshold 2) opens on the second
    failure and refuses r3 at once, while s2's breaker, closed, lets key 60 through."""
    p = Probe(SHARDED.format(res=", resilience: {circuit_breaker: {failure_threshold: 2, open_for: 30s}}"))
    p.watch_service("s1", "s2")
    p.send(1.0, "r1", key=10)
    p.send(2.0, "r2", key=20)
    p.send(3.0, "r3", key=30)
    p.send(4.0, "r4", key=60)
    assert p.run(6) == [(1.0, "r1 error"), (2.0, "r2 error"), (3.0, "r3 short_circuited"),
                        (4.1, "s2 served r4"), (4.1, "r4 ok")]
    labels = sorted(g.label for g in p.system.guarded)
    assert labels == ["store@web->s1", "store@web->s2"]
    s = {g.label: g.policies["circuit_breaker"].stats() for g in p.system.guarded}
    assert s["store@web->s1"]["opened"] == 1 and s["store@web->s2"]["calls"] == 1


REPLICATED = """
name: t
duration: 30s
seed: 2
components:
  api: {type: server, workers: 8, service_time: 1ms, calls: [store]}
  store: {type: replicated, replicas: [r1, r2], mode: async, read_from: any,
          resilience: {timeout: 200ms, retry: {max_attempts: 3, backoff: constant, base: 0s}}}
  r1: {type: database, read_time: exponential(mean=5ms), write_time: 5ms}
  r2: {type: database, read_time: exponential(mean=5ms), write_time: 5ms}
workloads:
  web: {target: api, arrivals: poisson(rate=50/s), mix: {read: 1.0}}
faults:
  - {type: pause, target: r2, at: 10s, duration: 5s}
"""


def test_a_replicated_router_times_out_and_retries_a_paused_replica():
    """read_from: any; r2 paused from 10s to 15s. The policies are per replica (in each caller), so a
    read sent to r2 times out after 200ms and is retried on r2, three attempts in all: those sent
    during the pause fail `timed_out` (the only failures of the run); r1's calls never retry."""
    s = simulator.run(simulator.loads_scenario(REPLICATED)).summary
    r2 = s["resilience"]["store@api->r2"]["retry"]
    assert s["resilience"]["store@api->r1"]["retry"]["retries"] == 0
    assert r2["exhausted"] == s["requests"]["timed_out"] > 0
    assert s["requests"]["ok"] + s["requests"]["timed_out"] == s["requests"]["generated"]
    # Two retries per failed read; a few more for reads whose retry came after the pause ended
    # (sent in its last 400ms: at most ~25/s x 0.4 s, twice).
    assert 2 * r2["exhausted"] <= r2["retries"] <= 2 * r2["exhausted"] + 40
