"""Histories through caches: a read answered from a cache entry reports the value of the entry's version
(from the store behind), so it is `ok` with a value rather than `info`, and a stale cache shows up in
the checkers (docs/consistency.md, "How a store reports what a read saw")."""
from __future__ import annotations

import textwrap

import pytest

import simulator

CACHED = """
name: cached
seed: {seed}
duration: 4s
check: [linearizable, stale_reads]
network: {{default_latency: 1ms}}
components:
  cache: {{type: cache, backing: db, capacity: 100, ttl: {ttl}, mode: {mode}}}
  db: {{type: database, connections: 4, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}}
workloads:
{workloads}
faults:
{faults}
"""

# The database crashes twice, overlapping (down 1.0-2.0 s); the cache crashes (losing its entries)
# inside that window and comes back before the database does; a flush empties it at 3 s.
FAULTS = """  - {type: crash, target: db, at: 1s, duration: 0.6s}
  - {type: crash, target: db, at: 1.3s, duration: 0.7s}
  - {type: crash, target: cache, at: 1.5s, duration: 0.2s}
  - {type: cache_flush, target: cache, at: 3s}"""

THROUGH_THE_CACHE = """\
  clients:
    target: cache
    users: 6
    think_time: exponential(mean=5ms)
    timeout: 1s
    checkable: true
    keys: uniform(n=3)
    mix: {read: 0.7, write: 0.3}"""

# Writers go to the database directly; readers read through the cache, which is never told of the
# writes: its entries hold a version until their TTL ends.
AROUND_THE_CACHE = """\
  writers:
    target: db
    users: 2
    think_time: exponential(mean=20ms)
    timeout: 1s
    checkable: true
    keys: uniform(n=3)
    mix: {write: 1.0}
  readers:
    target: cache
    users: 4
    think_time: exponential(mean=5ms)
    timeout: 1s
    checkable: true
    keys: uniform(n=3)
    mix: {read: 1.0}"""


def run(mode="cache_aside", ttl="2s", workloads=THROUGH_THE_CACHE, seed=1, faults=None):
    text = CACHED.format(seed=seed, mode=mode, ttl=ttl, workloads=workloads, faults=faults or "  []")
    return simulator.run(simulator.loads_scenario(textwrap.dedent(text)))


@pytest.mark.parametrize("mode", ["cache_aside", "read_through", "write_through", "refresh_ahead"])
def test_reads_answered_by_the_cache_have_values(mode):
    result = run(mode)
    c = result.summary["consistency"]
    hits = result.summary["components"]["cache"]["hits"]
    assert hits > 1000
    # every read completed ok with a value: only operations still in flight at the end (at most one
    # per user) are info
    assert c["info"] <= 6, c
    reads = [op for op in result.op_history.ops if op.f == "read" and op.type == "ok"]
    assert len(reads) > hits
    written = {op.value for op in result.op_history.ops if op.f == "write"}
    assert all(op.value is None or op.value in written for op in reads)
    assert c["checks"]["linearizable"]["verdict"] == "pass", c


@pytest.mark.parametrize("mode", ["cache_aside", "write_through"])
def test_cache_values_with_overlapping_crashes_and_a_flush(mode):
    """Crashes refuse operations (fail) or leave them unknown (info); the reads the cache answers
    keep the values of their versions, and the history stays linearizable."""
    result = run(mode, faults=FAULTS)
    c = result.summary["consistency"]
    assert c["fail"] > 0
    assert c["checks"]["linearizable"]["verdict"] == "pass", c
    reads = [op for op in result.op_history.ops if op.f == "read" and op.type == "ok"]
    assert len(reads) > result.summary["components"]["cache"]["hits"] > 500


def test_a_cache_that_misses_writes_serves_stale_reads_the_checker_finds():
    """Writes that bypass the cache leave its entries old for up to the TTL: hits return overwritten
    values. Recorded as `info` (unknown) they were invisible; with their values the checker finds them."""
    result = run("cache_aside", ttl="500ms", workloads=AROUND_THE_CACHE)
    c = result.summary["consistency"]
    assert c["checks"]["linearizable"]["verdict"] == "fail"
    assert c["checks"]["stale_reads"]["violations"] > 100
    cache = result.summary["components"]["cache"]
    # the cache's own count (a hit older than the version the database had committed) sees them too,
    # and more: it counts hits older than a write committed but not yet acknowledged to its client
    assert cache["stale_reads"] >= c["checks"]["stale_reads"]["violations"]
    # with a TTL shorter than the writers' think time, almost every hit is fresh
    short = run("cache_aside", ttl="5ms", workloads=AROUND_THE_CACHE)
    assert short.summary["consistency"]["checks"]["stale_reads"]["violations"] < \
        c["checks"]["stale_reads"]["violations"] / 5


def test_write_behind_hits_on_the_caches_own_writes_stay_unknown():
    """A write-behind cache acknowledges writes before any store has them: an entry holding such a
    write has no store version, so a hit on it stays `info` (its value is not the store's to give)."""
    result = run("write_behind")
    c = result.summary["consistency"]
    assert c["info"] > 1000
    # reads with values are still the values some operation wrote
    written = {op.value for op in result.op_history.ops if op.f == "write"}
    assert all(op.value is None or op.value in written
               for op in result.op_history.ops if op.f == "read" and op.type == "ok")
