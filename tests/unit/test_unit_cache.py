"""A cache-aside cache in front of a database: hits, misses, LRU eviction, TTL expiry and write
invalidation, as exact logs.

Every hop takes 10ms; the cache looks up instantly (no workers, zero service time); a database
read or write takes 50ms. So a hit replies 20ms after it is sent (there and back), and a miss
90ms after: 10ms to the cache, 10ms to the database, 50ms of work, 10ms back to the cache (which
fills the entry), 10ms back to the client. The `cache hit/miss` line is logged at the lookup.
"""
from tests.unit.eventlog import Probe

CACHE = """
    name: cache
    duration: 100s
    network: {{default_latency: 10ms}}
    components:
      cache: {{type: cache, mode: cache_aside, eviction: lru, backing: db, {options}}}
      db: {{type: database, read_time: 50ms, write_time: 50ms}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: cache}}
"""


def probe(options):
    p = Probe(CACHE.format(options=options))
    p.watch_cache("cache")
    p.watch_service("db")
    return p


def hit(t, label):
    """Log of a hit sent at t."""
    return [(t + 0.01, f"cache hit {label}"), (t + 0.02, f"{label} ok")]


def miss(t, label):
    """Log of a miss sent at t (fetched from the database)."""
    return [(t + 0.01, f"cache miss {label}"), (t + 0.07, f"db served {label}"), (t + 0.09, f"{label} ok")]


def rounded(log):
    return [(round(t, 9), what) for t, what in log]


def test_hits_misses_and_lru_eviction():
    p = probe("capacity: 2")
    sends = [(0, "r1", 1), (1, "r2", 1), (2, "r3", 2), (3, "r4", 1), (4, "r5", 3),
             (5, "r6", 1), (6, "r7", 2), (7, "r8", 3), (8, "r9", 2)]
    for t, label, key in sends:
        p.send(t, label, key=key)
    # Entries in LRU order (least recent first) after each request:
    # r1 miss k1 [1]; r2 hit k1 [1]; r3 miss k2 [1 2]; r4 hit k1 [2 1];
    # r5 miss k3: full, evicts k2 (least recent; FIFO would evict k1) [1 3]; r6 hit k1 [3 1];
    # r7 miss k2 (evicted), evicts k3 [1 2]; r8 miss k3, evicts k1 [2 3]; r9 hit k2 [3 2].
    expected = (miss(0, "r1") + hit(1, "r2") + miss(2, "r3") + hit(3, "r4") + miss(4, "r5")
                + hit(5, "r6") + miss(6, "r7") + miss(7, "r8") + hit(8, "r9"))
    assert p.run() == rounded(expected)
    cache = p.system.get("cache")
    assert (cache.hits, cache.misses, cache.evictions) == (4, 5, 3)
    assert list(cache.entries) == [3, 2]  # least recent first: an LRU order is the entries' own mapping


def test_ttl_expiry():
    p = probe("capacity: 100, ttl: 10s")
    for t, label in [(0, "r1"), (10.0, "r2"), (10.1, "r3"), (11, "r4")]:
        p.send(t, label, key=7)
    # r1 fills k7 at 0.08 (when the database's answer reaches the cache): it expires at 10.08.
    # r2 looks up at 10.01 < 10.08: hit. r3 looks up at 10.11 >= 10.08: expired, so a miss, which
    # refills it at 10.18 (expires 20.18). r4 at 11.01: hit.
    assert p.run() == rounded(miss(0, "r1") + hit(10.0, "r2") + miss(10.1, "r3") + hit(11, "r4"))
    assert p.system.get("cache").expired_entries == 1


def test_cache_aside_write_goes_to_the_store_and_invalidates():
    p = probe("capacity: 100")
    p.send(0, "r1", key=7)
    p.send(1, "r2", key=7, op="write")
    p.send(2, "r3", key=7)
    # r2 is a write: no lookup; it goes to the database (served at 1.07) and, when its answer
    # reaches the cache at 1.08, the entry is dropped; the client hears at 1.09. r3 then misses.
    assert p.run() == rounded(miss(0, "r1") + [(1.07, "db served r2"), (1.09, "r2 ok")] + miss(2, "r3"))
    assert p.system.get("cache").invalidations == 1


def test_a_crash_fails_a_fetch_in_flight_at_once_in_every_mode():
    """r1 misses at 1.01 and its fetch is in flight (the database serves it at 1.07) when the cache
    crashes at 1.03: the caller loses its connection then, as a caller waiting in a queue does, in
    cache_aside as in read_through, and the failure is counted. The fetch's late answer is dropped.
    (`when_down: fail`: a cache-aside caller would otherwise read the database itself, see
    tests/test_fallback.py.)"""
    for mode in ("cache_aside", "read_through"):
        p = Probe(CACHE.format(options="capacity: 2, when_down: fail").replace("cache_aside", mode) + """
    faults:
      - {type: crash, target: cache, at: 1.03s, duration: 10s}
""")
        p.watch_cache("cache")
        p.watch_service("db")
        p.send(1.0, "r1", key=1)
        # the failure travels back over the 10ms hop: the caller sees it at 1.04
        assert p.run() == [(1.01, "cache miss r1"), (1.04, "r1 error"), (1.07, "db served r1")], mode
        assert p.system.get("cache").failed == 1, mode
