"""A cache's `stale_if_error` (RFC 5861): an expired entry answers, as `degraded`, when fetching it again
fails, for as long as the setting says after its expiry; exact traces with deterministic latencies,
with overlapping crashes of the backing store and a pause of the cache."""
from __future__ import annotations

import pytest

import simulator
from tests.helpers import assert_bad
from tests.unit.eventlog import Probe

SYSTEM = """
name: stale
duration: 40s
network: {{default_latency: 1ms, timeout: 100ms}}
components:
  cache: {{type: cache, capacity: 100, ttl: 1s, backing: db{extra}}}
  db: {{type: database, connections: 2, read_time: 1ms, write_time: 1ms}}
workloads:
  web: {{arrivals: constant(rate=1/s), target: cache, keys: uniform(n=1)}}
faults:
  - {{type: crash, target: db, at: 2s, duration: 3s}}
  - {{type: crash, target: db, at: 4s, duration: 2s}}     # overlaps: down 2 s .. 6 s
  - {{type: crash, target: db, at: 14s, duration: 2s}}
  - {{type: pause, target: cache, at: 20s, duration: 1s}}
  - {{type: crash, target: db, at: 20.5s, duration: 1s}}  # inside the cache's pause
"""


def trace(extra: str) -> list[tuple[float, str]]:
    p = Probe(SYSTEM.format(extra=extra))
    # k fetched at 0.5 s (expires at 1.5 s); read again while db is down (2-6 s), after it is back (7 s:
    # refetched, expires 8 s), while it is down again beyond the window (15 s: expired 7 s earlier),
    # and while the cache is paused and db down (held until 21 s, when db is still down).
    for t, label in [(0.5, "a"), (3.0, "b"), (5.5, "c"), (7.0, "d"), (15.0, "e"), (20.2, "f")]:
        p.send(t, label, key=7, op="read")
    return [(t, w) for t, w in p.run()]


def test_without_the_setting_a_failed_refetch_fails_the_read():
    log = trace("")
    assert [w for _t, w in log] == ["a ok", "b error", "c error", "d ok", "e error", "f error"]


def test_an_expired_entry_answers_degraded_within_the_window_and_not_beyond():
    """Window 10 s: b (3 s) and c (5.5 s) get the entry expired at 1.5 s, degraded; d refetches (ok,
    expires 8 s); e at 15 s is 7 s past that: degraded; f, held by the pause until 21 s with db down
    until 21.5 s, is 13 s past the expiry: beyond the window, it fails."""
    log = trace(", stale_if_error: 10s")
    assert [w for _t, w in log] == ["a ok", "b degraded", "c degraded", "d ok", "e degraded", "f error"]
    # Four hops of 1 ms, plus the db's 1 ms read for a; b and c are refused by the crashed db at once,
    # then answered from the cache with no wait.
    assert [t for t, _w in log][:3] == [pytest.approx(0.505), pytest.approx(3.004), pytest.approx(5.504)]


def test_a_shorter_window_drops_the_entry_once_it_has_passed():
    log = trace(", stale_if_error: 2s")
    # b is 1.5 s past the expiry (served); c 4 s past (dropped, fails); e 7 s past (fails)
    assert [w for _t, w in log] == ["a ok", "b degraded", "c error", "d ok", "e error", "f error"]


def test_the_summary_counts_stale_answers_and_bad_input_is_one_line(tmp_path):
    r = simulator.run(simulator.loads_scenario(SYSTEM.format(extra=", stale_if_error: 10s")))
    cache = r.summary["components"]["cache"]
    assert cache["stale_served"] > 0
    assert (r.requests.outcome == "degraded").sum() == cache["stale_served"]
    plain = simulator.run(simulator.loads_scenario(SYSTEM.format(extra="")))
    assert "stale_served" not in plain.summary["components"]["cache"]
    bad = SYSTEM.format(extra=", stale_if_error: 10s").replace("ttl: 1s, ", "")
    assert_bad(tmp_path, bad, "components.cache", "'stale_if_error' needs a 'ttl'")
