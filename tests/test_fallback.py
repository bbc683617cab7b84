"""Fallback (graceful degradation): another target or a degraded answer on failure, and the
cache-aside application that reads the database itself when its cache is down (crash, partition,
pause): exact traces, and the database load spike with tolerances from counts."""
from __future__ import annotations

import math
import textwrap

import pytest

import simulator
from simulator.engine.network import Link
from simulator.language.errors import ScenarioError
from simulator.resilience.chain import Guarded
from simulator.simulation.runner import schedule_faults
from tests.unit.eventlog import Probe

CACHE_ASIDE = """
name: t
duration: 30s
components:
  cache: {{type: cache, capacity: 10, backing: db{cache_extra}}}
  db: {{type: database, connections: 1, read_time: 100ms, write_time: 100ms}}
workloads:
  web: {{target: cache, arrivals: constant(rate=1/s){wl_extra}}}
faults:
  - {fault}
"""


def _probe(fault: str, cache_extra: str = "", wl_extra: str = "") -> Probe:
    p = Probe(CACHE_ASIDE.format(fault=fault, cache_extra=cache_extra, wl_extra=wl_extra))
    p.watch_service("db")
    p.watch_cache("cache")
    return p


# --- cache-aside: the application goes to the database when the cache is down ------------------
def test_crashed_cache_aside_cache_the_application_reads_the_database():
    p = _probe("{type: crash, target: cache, at: 2s, duration: 3s}")
    p.send(1.0, "r1", key=1, op="read")  # a miss, fetched by the cache
    p.send(3.0, "r2", key=1, op="read")  # the cache is down: refused, then read from the db directly
    p.send(6.0, "r3", key=1, op="read")  # the cache restarted empty: a miss again
    p.send(7.0, "r4", key=1, op="read")
    assert p.run(10) == [
        (1.0, "cache miss r1"), (1.1, "db served r1"), (1.1, "r1 ok"),
        (3.1, "db served r2"), (3.1, "r2 ok"),
        (6.0, "cache miss r3"), (6.1, "db served r3"), (6.1, "r3 ok"),
        (7.0, "cache hit r4"), (7.0, "r4 ok")]
    fb = p.system.guarded[0].policies["fallback"]
    assert (fb.calls, fb.fallbacks, fb.passed) == (4, 1, 0)


def test_when_down_fail_keeps_the_outage():
    p = _probe("{type: crash, target: cache, at: 2s, duration: 3s}", cache_extra=", when_down: fail")
    p.send(3.0, "r2", key=1, op="read")
    assert p.run(10) == [(3.0, "r2 error")]
    assert p.system.guarded == [] and type(p.workload().link) is Link


def test_partitioned_cache_times_out_then_the_database_answers():
    # The network gives up on a call lost in a partition after `network.timeout` (1 s by default).
    p = _probe("{type: partition, groups: [[web], [cache]], at: 2s, duration: 3s}")
    p.send(3.0, "r2", key=1, op="read")
    assert p.run(10) == [(4.1, "db served r2"), (4.1, "r2 ok")]


def test_paused_cache_falls_back_after_the_attempt_timeout():
    # A paused cache holds the call: only a per-attempt timeout lets the application move on. The
    # held lookup is still done when the pause ends (its answer is dropped).
    p = _probe("{type: pause, target: cache, at: 2s, duration: 3s}", wl_extra=", resilience: {timeout: 500ms}")
    p.send(3.0, "r2", key=1, op="read")
    assert p.run(10) == [(3.6, "db served r2"), (3.6, "r2 ok"), (5.0, "cache miss r2"), (5.1, "db served r2")]


def test_paused_cache_without_a_timeout_is_waited_for():
    p = _probe("{type: pause, target: cache, at: 2s, duration: 3s}")
    p.send(3.0, "r2", key=1, op="read")
    assert p.run(10) == [(5.0, "cache miss r2"), (5.1, "db served r2"), (5.1, "r2 ok")]


def test_a_database_failure_passed_on_by_the_cache_is_not_sent_to_the_database_again():
    # (the cache crashes later: its callers keep the fallback)
    p = _probe("{type: crash, target: db, at: 2s, duration: 3s}\n  - {type: crash, target: cache, at: 20s}")
    p.send(3.0, "r2", key=1, op="read")  # a miss; the cache's fetch is refused by the crashed db
    assert p.run(10) == [(3.0, "cache miss r2"), (3.0, "r2 error")]
    fb = p.system.guarded[0].policies["fallback"]
    assert (fb.fallbacks, fb.passed) == (0, 1)


def test_a_cache_no_fault_touches_keeps_the_bare_link():
    """No fault can make the cache unreachable: the implicit fallback is dropped, the caller's send
    is the link's own (no extra layer on the hot path), and the summary has no `resilience`."""
    text = CACHE_ASIDE.format(fault="{type: crash, target: db, at: 2s, duration: 1s}", cache_extra="", wl_extra="")
    env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(text)))
    link = system.workloads[0].link
    assert isinstance(link, Guarded) and link.send == link.link.send and system.guarded == []
    assert link.link.sink  # an open-loop workload's reply is only recorded, as over a bare link
    res = simulator.run(simulator.loads_scenario(textwrap.dedent(text)))
    assert "resilience" not in res.summary


SPIKE = """
name: spike
duration: 60s
components:
  cache: {type: cache, capacity: 50, backing: db}
  db: {type: database, connections: 50, read_time: 1ms, write_time: 1ms}
workloads:
  web: {target: cache, arrivals: poisson(rate=200/s), keys: uniform(n=100), mix: {read: 1.0}}
faults:
  - {type: crash, target: cache, at: 20s, duration: 10s}
"""


def test_cache_crash_moves_its_hits_to_the_database_then_back():
    """LRU over 100 equally likely keys with room for 50 hits with probability 1/2. While the cache
    is down every read goes to the database: its load rises by the cache's hits, then drops back."""
    env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(SPIKE)), seed=7)
    schedule_faults(env, system)
    for wl in system.workloads:
        wl.start()
    cache, db, fb = system.get("cache"), system.get("db"), system.guarded[0].policies["fallback"]
    marks = []
    for t in (10.0, 20.0, 30.0, 40.0, 50.0):
        env.run(until=t)
        marks.append((fb.calls, cache.hits, db.reads))
    (n0, h0, d0), (n1, h1, d1), (n2, _h2, d2), (n3, h3, d3), (n4, h4, d4) = marks
    before_n, before_hits, before_db = n1 - n0, h1 - h0, d1 - d0
    during_n, during_db = n2 - n1, d2 - d1
    after_n, after_db = n4 - n3, d4 - d3
    assert abs(fb.fallbacks - during_n) <= 3  # every call during the crash, read from the db
    # Each request reads the database at most once: its misses before, every request during.
    assert abs(before_db - (before_n - before_hits)) <= 3  # reads still in flight at a boundary
    assert abs(during_db - during_n) <= 3
    # The rise is the share the cache used to absorb, 1/2: db_during - db_before ~ lambda T / 2,
    # with a variance from the counts (Poisson arrivals, thinned misses).
    rise = during_db - before_db
    assert rise == pytest.approx(200 * 10 / 2, abs=4 * math.sqrt(during_db + before_db))
    assert before_hits / before_n == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / before_n))
    # After recovery (the cache restarted empty and refilled in 50 misses) the load is back.
    assert abs(after_db - before_db) <= 4 * math.sqrt(after_db + before_db)
    assert (h4 - h3) / after_n == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / after_n))


def test_cache_crash_keeps_availability_at_100_percent():
    res = simulator.run(simulator.loads_scenario(textwrap.dedent(SPIKE)), seed=7)
    req = res.summary["requests"]
    assert req["errors"] == 0 and req["timed_out"] == 0 and res.summary["availability"] == 1.0
    fb = res.summary["resilience"]["web->cache"]["fallback"]
    assert fb["cache_aside"] and fb["fallbacks"] == fb["fallback_outcomes"]["ok"] > 1500
    # Without the fallback the same crash fails every call in the window.
    failing = simulator.run(simulator.loads_scenario(textwrap.dedent(
        SPIKE.replace("backing: db}", "backing: db, when_down: fail}"))), seed=7)
    assert failing.summary["requests"]["errors"] == pytest.approx(2000, abs=4 * math.sqrt(2000))


# --- fallback policy ---------------------------------------------------------------------------
POLICY = """
name: t
duration: 30s
components:
  app: {{type: server, workers: 1, service_time: 100ms}}
  backup: {{type: server, workers: 1, service_time: 300ms}}
workloads:
  web: {{target: app, arrivals: constant(rate=1/s), resilience: {{{policies}}}}}
faults:
  - {fault}
"""


def test_fallback_to_another_target_during_a_crash():
    p = Probe(POLICY.format(policies="fallback: {target: backup}",
                            fault="{type: crash, target: app, at: 2s, duration: 3s}"))
    p.watch_service("app", "backup")
    for t in (1.0, 3.0, 6.0):
        p.send(t, f"r{int(t)}")
    assert p.run(10) == [(1.1, "app served r1"), (1.1, "r1 ok"), (3.3, "backup served r3"), (3.3, "r3 ok"),
                         (6.1, "app served r6"), (6.1, "r6 ok")]


def test_degraded_answer_during_a_partition_and_its_own_outcome():
    p = Probe(POLICY.format(policies="fallback: {degraded: true}",
                            fault="{type: partition, groups: [[web], [app]], at: 2s, duration: 3s}"))
    p.send(3.0, "r3")
    assert p.run(10) == [(4.0, "r3 degraded")]  # the network gives up after 1 s
    res = simulator.run(simulator.loads_scenario(textwrap.dedent(POLICY.format(
        policies="fallback: {degraded: true}", fault="{type: crash, target: app, at: 10s, duration: 5s}"))))
    req = res.summary["requests"]
    assert req["degraded"] == 5 and req["errors"] == 0
    assert req["generated"] == req["ok"] + req["degraded"] + req["in_flight"]
    assert res.summary["availability"] == pytest.approx(req["ok"] / (req["generated"] - req["in_flight"]))


def test_fallback_after_retries_and_on_an_open_breaker():
    p = Probe(POLICY.format(
        policies="retry: {max_attempts: 2, backoff: constant, base: 1s}, "
                 "circuit_breaker: {failure_threshold: 2, open_for: 100s}, fallback: {degraded: true}",
        fault="{type: crash, target: app, at: 0.5s, duration: 20s}"))
    p.send(1.0, "r1")  # error at 1, retried at 2: error, the breaker opens: degraded at 2
    p.send(3.0, "r3")  # short-circuited twice (no retry of short_circuited): degraded at once
    assert p.run(10) == [(2.0, "r1 degraded"), (3.0, "r3 degraded")]
    fb = p.system.guarded[0].policies["fallback"]
    assert fb.fallbacks == 2


def test_fallback_only_on_listed_outcomes():
    p = Probe(POLICY.format(policies="fallback: {degraded: true, on: [timed_out]}",
                            fault="{type: crash, target: app, at: 2s, duration: 3s}"))
    p.send(3.0, "r3")
    assert p.run(10) == [(3.0, "r3 error")]


def test_server_step_fallback_and_the_summary():
    res = simulator.run(simulator.loads_scenario(textwrap.dedent("""
        name: t
        duration: 30s
        components:
          app:
            type: server
            service_time: 1ms
            calls: [{target: primary, resilience: {fallback: {target: replica}}}]
          primary: {type: server, service_time: 1ms}
          replica: {type: server, service_time: 1ms}
        workloads:
          web: {target: app, arrivals: constant(rate=10/s)}
        faults:
          - {type: crash, target: primary, at: 10s, duration: 5s}
    """)))
    assert res.summary["requests"]["errors"] == 0
    fb = res.summary["resilience"]["app/calls/0->primary"]["fallback"]
    assert fb["fallbacks"] == 50 and fb["target"] == "replica"
    assert res.summary["components"]["replica"]["served"] == 50


@pytest.mark.parametrize("policies, expected", [
    ("fallback: {}", "exactly one of 'target'"),
    ("fallback: {target: backup, degraded: true}", "exactly one of 'target'"),
    ("fallback: {degraded: true, on: [ok]}", "on"),
    ("fallback: {degraded: true, on: []}", "at least one outcome"),
])
def test_bad_fallback_is_one_located_line(policies, expected):
    with pytest.raises(ScenarioError) as e:
        simulator.loads_scenario(textwrap.dedent(POLICY.format(policies=policies, fault="{type: crash, target: app, at: 2s}")))
    msg = str(e.value)
    assert "\n" not in msg and "workloads.web.resilience.fallback" in msg and expected in msg


def test_unknown_fallback_target_names_the_call():
    with pytest.raises(ScenarioError) as e:
        simulator.build(simulator.loads_scenario(textwrap.dedent(POLICY.format(
            policies="fallback: {target: bakup}", fault="{type: crash, target: app, at: 2s}"))))
    assert "web->app: resilience.fallback.target: unknown component 'bakup'" in str(e.value)
    assert "backup" in str(e.value)


def test_go_to_backing_needs_cache_aside():
    with pytest.raises(ScenarioError) as e:
        simulator.loads_scenario(textwrap.dedent(CACHE_ASIDE.format(
            fault="{type: crash, target: cache, at: 2s}", cache_extra=", mode: read_through, when_down: go_to_backing",
            wl_extra="")))
    assert "components.cache" in str(e.value) and "needs mode cache_aside" in str(e.value)


def test_a_degraded_step_answers_the_server_degraded_and_ends_its_steps():
    res = simulator.run(simulator.loads_scenario(textwrap.dedent("""
        name: t
        duration: 30s
        components:
          app:
            type: server
            service_time: 1ms
            calls: [{target: primary, resilience: {fallback: {degraded: true}}}, other]
          primary: {type: server, service_time: 1ms}
          other: {type: server, service_time: 1ms}
        workloads:
          web: {target: app, arrivals: constant(rate=10/s)}
        faults:
          - {type: crash, target: primary, at: 10s, duration: 5s}
    """)))
    req = res.summary["requests"]
    assert (req["degraded"], req["ok"], req["errors"]) == (50, 249, 0)
    assert res.summary["components"]["other"]["served"] == 249  # not called after a degraded step
    from reports.table import summary_tables
    from reports.resilience_table import resilience_tables
    assert "50 answered degraded by a fallback" in summary_tables(res.summary)[0].caption
    assert [c.header for c in resilience_tables(res.summary)[-1].columns][-1] == "fallbacks"


def test_a_fetch_in_flight_when_the_cache_crashes_is_read_again_by_the_caller():
    """With 10 ms hops: r1 misses at 1.01, the cache's fetch is in flight when it crashes at 1.03;
    the caller hears the failure at 1.04, reads the database itself (there at 1.05, served at 1.10)
    and has its answer at 1.11. The cache's own fetch is still served (1.07), its answer dropped."""
    from tests.unit.test_unit_cache import CACHE as UNIT_CACHE
    p = Probe(UNIT_CACHE.format(options="capacity: 2") + """
    faults:
      - {type: crash, target: cache, at: 1.03s, duration: 10s}
""")
    p.watch_cache("cache")
    p.watch_service("db")
    p.send(1.0, "r1", key=1)
    assert p.run() == [(1.01, "cache miss r1"), (1.07, "db served r1"), (1.1, "db served r1"), (1.11, "r1 ok")]
