"""Caches: hit ratios against theory, eviction policies, TTL, access modes, hierarchies, crashes."""
import numpy as np
import pytest

from models.eviction import FIFO, LFU, LRU, Random
from tests.helpers import run
from tests.theory import batch_means_ci, che_lru_hit_ratio, fifo_hit_ratio

IRM = """
name: irm
seed: {seed}
duration: 400s
warmup: 40s
components:
  cache: {{type: cache, capacity: {c}, eviction: {policy}, backing: db}}
  db: {{type: database, connections: 1000, read_time: 0s, write_time: 0s}}
workloads:
  web:
    arrivals: poisson(rate=1000/s)
    target: cache
    keys: zipf(n={n}, s={s})
"""


def _hit_ratio_ci(policy: str, c: int = 100, n: int = 1000, s: float = 0.8, seed: int = 3):
    res = run(IRM, seed=seed, policy=policy, c=c, n=n, s=s)
    per_bucket = res.timeseries["cache.hit_ratio"].to_numpy()
    return batch_means_ci(per_bucket, batches=20)


def _zipf(n, s):
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


# The characteristic-time approximations are not exact: for n=1000 and c=100 their error is far below
# 0.005 (Fricker, Robert & Roberts 2012, fig. 1), which is added to the run's own 99% interval.
APPROX = 0.005


def test_lru_hit_ratio_agrees_with_che_approximation():
    mean, half = _hit_ratio_ci("lru")
    expected = che_lru_hit_ratio(_zipf(1000, 0.8), 100)
    assert abs(mean - expected) <= half + APPROX, (mean, half, expected)


@pytest.mark.parametrize("policy", ["fifo", "random"])
def test_fifo_and_random_agree_with_their_approximation(policy):
    mean, half = _hit_ratio_ci(policy)
    expected = fifo_hit_ratio(_zipf(1000, 0.8), 100)
    assert abs(mean - expected) <= half + APPROX, (policy, mean, half, expected)


def test_lfu_beats_lru_beats_fifo_on_static_zipf():
    (lfu, h1), (lru, h2), (fifo, h3) = (_hit_ratio_ci(p) for p in ("lfu", "lru", "fifo"))
    assert lfu - h1 > lru + h2
    assert lru - h2 > fifo + h3
    # LFU on a static popularity keeps (nearly) the top-c keys: their total probability bounds it.
    top = _zipf(1000, 0.8)[:100].sum()
    assert lfu <= top + h1


@pytest.mark.parametrize("cls", [LRU, FIFO, LFU, Random])
def test_policies_keep_their_bookkeeping_consistent(cls):
    rng = np.random.default_rng(0)
    pol = cls(rng)
    held = set()
    for step in range(5000):
        k = int(rng.integers(0, 50))
        if k in held:
            if step % 7 == 0:
                pol.remove(k)
                held.discard(k)
            else:
                pol.touch(k)
        else:
            if len(held) >= 20:
                v = pol.victim()
                assert v in held
                held.discard(v)
            pol.insert(k)
            held.add(k)
        assert len(pol) == len(held)


def test_lru_lfu_fifo_victims_on_a_known_sequence():
    lru, lfu, fifo = LRU(None), LFU(None), FIFO(None)
    for p in (lru, lfu, fifo):
        for k in "abc":
            p.insert(k)
        p.touch("a")
        p.touch("a")
        p.touch("b")
    assert lru.victim() == "c"
    assert lfu.victim() == "c"
    assert fifo.victim() == "a"
    assert lfu.victim() == "b"  # b was used twice (insert + 1), a three times


def test_a_policy_derived_from_lru_keeps_its_own_methods():
    # LRU binds the OrderedDict's methods in place of its own for speed; a subclass's overrides win.
    calls = []

    class Counting(LRU):
        def insert(self, key):
            calls.append(("insert", key))
            super().insert(key)

        def touch(self, key):
            calls.append(("touch", key))
            super().touch(key)

    p = Counting(None)
    p.insert("a")
    p.insert("b")
    p.touch("a")
    p.remove("b")
    assert calls == [("insert", "a"), ("insert", "b"), ("touch", "a")]
    assert p.victim() == "a" and len(p) == 0


def test_lru_and_fifo_offer_their_order_as_the_entries_unless_a_subclass_keeps_its_own_books():
    assert LRU(None).holds_entries and FIFO(None).holds_entries
    assert not LFU(None).holds_entries and not Random(np.random.default_rng(1)).holds_entries

    class Victims(LRU):
        def victim(self):
            return super().victim()

    assert not Victims(None).holds_entries


HELD = """
name: held
duration: 30s
network: {{default_latency: 1ms}}
components:
  cache: {{type: cache, capacity: 100, eviction: {eviction}, ttl: 300ms, backing: db, mode: {mode}}}
  db: {{type: database, connections: 8, read_time: exponential(mean=2ms), write_time: 4ms}}
workloads:
  web: {{arrivals: poisson(rate=400/s), target: cache, keys: zipf(n=400, s=0.8), mix: {{read: 0.8, write: 0.2}}}}
faults:
  - {{type: crash, target: cache, at: 10s, duration: 2s}}
  - {{type: cache_flush, target: cache, at: 20s}}
"""


@pytest.mark.parametrize("eviction", ["lru", "fifo"])
@pytest.mark.parametrize("mode", ["read_through", "write_behind"])
def test_a_cache_keeping_entries_in_its_policys_order_runs_as_one_keeping_two_tables(monkeypatch, eviction, mode):
    # evictions (of dirty keys too, written back), TTL expiries, a crash and a flush: the same run
    shared = run(HELD, eviction=eviction, mode=mode)
    monkeypatch.setattr(LRU, "holds_entries", False)
    separate = run(HELD, eviction=eviction, mode=mode)
    assert shared.summary == separate.summary
    cache = shared.summary["components"]["cache"]
    assert cache["evictions"] > 1000 and cache["expired_entries"] > 100


ONE_KEY = """
name: one-key
duration: {duration}
network: {{default_latency: 1ms}}
components:
  cache: {{type: cache, capacity: 10, backing: db, mode: {mode}{extra}}}
  db: {{type: database, connections: 10, read_time: 10ms, write_time: 20ms}}
workloads:
  reads: {{arrivals: constant(rate=1/s), target: cache, keys: uniform(n=1)}}
{writes}
"""


def _one_key(mode="cache_aside", extra="", writes="", duration="10s"):
    return run(ONE_KEY, mode=mode, extra=extra, writes=writes, duration=duration)


def test_first_read_misses_then_hits_with_exact_latencies():
    res = _one_key()
    lat = res.requests.sort_values("start_s")["latency_s"].to_numpy()
    # miss: 1ms to the cache, 1ms to the db, 10ms read, 1ms back, 1ms back; hit: 1ms + 1ms
    np.testing.assert_allclose(lat[0], 0.014, atol=1e-9)
    np.testing.assert_allclose(lat[1:], 0.002, atol=1e-9)
    c = res.summary["components"]["cache"]
    assert (c["hits"], c["misses"]) == (len(lat) - 1, 1)


def test_ttl_expires_entries():
    res = _one_key(extra=", ttl: 2.5s")
    c = res.summary["components"]["cache"]
    # reads at 1, 2, ..., 9 s: fetched at 1, 4 and 7 (each entry lives 2.5 s)
    assert c["misses"] == 3 and c["expired_entries"] == 2


WRITES = """  writes: {arrivals: constant(rate=1/s), start: 0.5s, target: cache, keys: uniform(n=1), mix: {write: 1}}"""


def test_cache_aside_write_invalidates_so_next_read_misses():
    res = _one_key(writes=WRITES)
    c = res.summary["components"]["cache"]
    # reads at 1, 2, ..., 9 s, writes at 1.5, 2.5, ..., 9.5 s
    assert c["invalidations"] == 9
    assert c["misses"] == 9 and c["hits"] == 0


def test_write_through_updates_entry_so_reads_hit_fresh():
    res = _one_key(mode="write_through", writes=WRITES)
    c = res.summary["components"]["cache"]
    assert c["misses"] == 1 and c["hits"] == 8
    assert c["stale_reads"] == 0
    writes = res.requests[res.requests["operation"] == "write"]
    np.testing.assert_allclose(writes["latency_s"], 0.024, atol=1e-9)  # synchronous store write


def test_write_behind_acknowledges_at_once_and_flushes_later():
    res = _one_key(mode="write_behind", writes=WRITES, extra=", flush_interval: 2s")
    c = res.summary["components"]["cache"]
    writes = res.requests[res.requests["operation"] == "write"]
    np.testing.assert_allclose(writes["latency_s"], 0.002, atol=1e-9)  # acknowledged by the cache
    assert c["flushed_writes"] + c["unflushed_writes"] == 9
    assert res.summary["components"]["db"]["writes"] < 9  # repeated writes to a key are coalesced
    assert c["lost_writes"] == 0


def test_write_behind_crash_loses_unflushed_writes_and_restarts_cold():
    res = run("""
        name: wb-crash
        duration: 20s
        components:
          cache: {type: cache, capacity: 100, backing: db, mode: write_behind, flush_interval: 10s}
          db: {type: database, connections: 10, read_time: 10ms, write_time: 20ms}
        workloads:
          writes: {arrivals: constant(rate=10/s), target: cache, keys: uniform(n=5), mix: {write: 1}}
        faults:
          - {type: crash, target: cache, at: 5.05s, duration: 1s}
    """)
    c = res.summary["components"]["cache"]
    assert c["lost_writes"] == 50  # writes at 0.1 .. 5.0 s were buffered, the flush was due at 10 s
    assert c["flushed_writes"] + c["unflushed_writes"] + c["lost_writes"] == c["writes"]


def test_read_through_coalesces_concurrent_misses_cache_aside_does_not():
    text = """
        name: herd
        duration: 30s
        components:
          cache: {{type: cache, capacity: 100, backing: db, mode: {mode}, ttl: 1s}}
          db: {{type: database, connections: 100, read_time: 200ms, write_time: 200ms}}
        workloads:
          hot: {{arrivals: poisson(rate=200/s), target: cache, keys: uniform(n=1)}}
    """
    aside = run(text, mode="cache_aside").summary["components"]
    through = run(text, mode="read_through").summary["components"]
    assert through["cache"]["coalesced_misses"] > 0
    # the herd: every miss during a 200 ms fetch goes to the store itself
    assert aside["db"]["reads"] > 10 * through["db"]["reads"]


def test_refresh_ahead_keeps_hot_keys_from_expiring():
    text = """
        name: refresh
        duration: 60s
        components:
          cache: {{type: cache, capacity: 100, backing: db, mode: {mode}, ttl: 2s}}
          db: {{type: database, connections: 10, read_time: 50ms, write_time: 50ms}}
        workloads:
          hot: {{arrivals: poisson(rate=50/s), target: cache, keys: uniform(n=5)}}
    """
    through = run(text, mode="read_through").summary["components"]["cache"]
    ahead = run(text, mode="refresh_ahead").summary["components"]["cache"]
    assert ahead["refreshes"] > 0
    assert ahead["misses"] < through["misses"] / 5


def test_capacity_in_bytes_bounds_what_is_held():
    res = run("""
        name: bytes
        duration: 100s
        components:
          cache: {type: cache, capacity: 64KB, item_size: uniform(min=1KB, max=7KB), backing: db}
          db: {type: database, connections: 10, read_time: 1ms, write_time: 1ms}
        workloads:
          w: {arrivals: poisson(rate=100/s), target: cache, keys: zipf(n=500, s=0.9)}
    """)
    c = res.summary["components"]["cache"]
    assert c["capacity_unit"] == "bytes" and c["capacity"] == 64_000
    assert 0.8 < c["fill_ratio"] <= 1.0
    assert 4 < c["items"] < 64
    assert 0 < c["byte_hit_ratio"] < c["hit_ratio"]  # big items are evicted more, so hit less


HIERARCHY = """
name: hierarchy
duration: 200s
warmup: 20s
components:
  edge: {type: cache, capacity: 50, backing: app-cache, ttl: 30s}
  app-cache: {type: cache, capacity: 500, backing: db}
  db: {type: database, connections: 50, read_time: 5ms, write_time: 10ms}
workloads:
  reads: {arrivals: poisson(rate=500/s), target: edge, keys: zipf(n=5000, s=1.0)}
  # writes reach the application cache directly, as from a back-office service: the edge never sees them
  writes: {arrivals: poisson(rate=10/s), target: app-cache, mix: {write: 1}, keys: zipf(n=5000, s=1.0)}
"""


def test_hierarchy_levels_report_their_own_hit_ratio_and_upper_levels_serve_stale():
    res = run(HIERARCHY)
    comps = res.summary["components"]
    edge, app = comps["edge"], comps["app-cache"]
    assert edge["hit_ratio"] > 0.3 and app["hit_ratio"] > 0.1
    assert app["hits"] + app["misses"] == edge["misses"]  # the lower level sees the upper's misses
    assert app["stale_reads"] == 0
    assert 0 <= app["misses"] - comps["db"]["reads"] <= 50  # fetches still in flight at the end
    # Writes invalidate the application cache; the edge keeps stale copies until their TTL.
    assert edge["stale_reads"] > 0
    assert 0 < edge["staleness_s"]["max"] <= 30.0 + 1e-9


def test_crashed_cache_errors_then_restarts_cold():
    # when_down: fail: the callers do not read the database themselves (the cache-aside default;
    # see tests/test_fallback.py), so every call during the crash fails.
    res = run("""
        name: crash
        duration: 40s
        components:
          cache: {type: cache, capacity: 1000, backing: db, when_down: fail}
          db: {type: database, connections: 10, read_time: 1ms, write_time: 1ms}
        workloads:
          w: {arrivals: constant(rate=100/s), target: cache, keys: uniform(n=10)}
        faults:
          - {type: crash, target: cache, at: 20s, duration: 5s}
    """)
    ts = res.timeseries
    after = ts[(ts["start_s"] >= 25.0) & (ts["end_s"] <= 25.8)]
    assert res.summary["requests"]["errors"] == pytest.approx(500, abs=1)
    assert res.summary["components"]["cache"]["misses"] == 20  # ten keys, cold twice
    assert (after["cache.hit_ratio"] < 1.0).any()


def test_hit_ratio_time_series_is_reported_per_cache():
    res = run(HIERARCHY)
    for col in ("edge.hit_ratio", "app-cache.hit_ratio", "edge.items"):
        assert col in res.timeseries
    assert res.timeseries["edge.hit_ratio"].dropna().between(0, 1).all()


def test_cache_over_a_sharded_store_knows_when_its_entries_are_stale():
    # The cache is declared (and connected) before the store it asks about versions.
    res = run("""
        name: cache-over-shards
        duration: 60s
        components:
          cache: {type: cache, capacity: 100, backing: store}
          store: {type: sharded, shards: [a, b]}
          a: {type: database, read_time: 1ms, write_time: 1ms}
          b: {type: database, read_time: 1ms, write_time: 1ms}
        workloads:
          reads: {arrivals: poisson(rate=200/s), target: cache, keys: zipf(n=200, s=1.0)}
          writes: {arrivals: poisson(rate=20/s), target: store, keys: zipf(n=200, s=1.0), mix: {write: 1}}
    """)
    c = res.summary["components"]["cache"]
    assert c["stale_reads"] > 0 and c["staleness_s"]["max"] <= 60.0
