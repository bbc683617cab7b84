"""Exact event logs for the fault types error, duplicate, cache_flush, clock_skew, bridge partitions
and latency drawn from a distribution: each alone, overlapping itself, and overlapping other faults
(windows that overlap, a recovery inside a window).

As in test_unit_fault_overlap.py: `app` has one worker and a constant 1s service time; links have no
latency unless a fault adds some; the network timeout is 1s. A probability of 100% makes a fault
act on every message, so the logs are exact whatever the random streams draw.
"""
import pytest

from tests.unit.eventlog import Probe

SERVER = """
    name: faults2
    duration: 100s
    network: {{timeout: 1s}}
    components:
      app: {{type: server, workers: 1, service_time: 1s, zone: dc}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: app, zone: edge}}
    faults:
{faults}
"""


def server(*faults):
    p = Probe(SERVER.format(faults="\n".join(f"      - {f}" for f in faults)))
    p.watch_service("app")
    return p


# --- error ----------------------------------------------------------------------------------------
def test_error_fails_calls_only_within_its_window():
    p = server("{type: error, target: app, probability: 100%, at: 10s, duration: 10s}")
    for t, label in [(5.0, "r1"), (15.0, "r2"), (25.0, "r3")]:
        p.send(t, label)
    # r2 fails on arrival (no service); before and after the window app serves normally.
    assert p.run() == [(6.0, "app served r1"), (6.0, "r1 ok"), (15.0, "r2 error"),
                       (26.0, "app served r3"), (26.0, "r3 ok")]
    assert p.system.get("app").failed == 1  # reported with the component's failures


def test_error_and_a_pause_inside_its_window():
    # error 10-17, pause 12-18 (resumes after the error window closed).
    p = server("{type: error, target: app, probability: 100%, at: 10s, duration: 7s}",
               "{type: pause, target: app, at: 12s, duration: 6s}")
    for t, label in [(11.0, "r1"), (14.0, "r2"), (20.0, "r3")]:
        p.send(t, label)
    # r1 arrives during the error only: error at once. r2 arrives during both: held by the pause, and
    # handled when app resumes at 18, when the error window is over: served 18 -> 19.
    assert p.run() == [(11.0, "r1 error"), (19.0, "app served r2"), (19.0, "r2 ok"),
                       (21.0, "app served r3"), (21.0, "r3 ok")]


def test_error_during_a_crash_and_after_the_recovery_inside_it():
    # error 10-30; crash 15-20 inside it: refused while down, failed by the error fault after.
    p = server("{type: error, target: app, probability: 100%, at: 10s, duration: 20s}",
               "{type: crash, target: app, at: 15s, duration: 5s}")
    for t, label in [(16.0, "r1"), (25.0, "r2"), (35.0, "r3")]:
        p.send(t, label)
    assert p.run() == [(16.0, "r1 error"), (25.0, "r2 error"), (36.0, "app served r3"), (36.0, "r3 ok")]
    assert p.system.get("app").error_p == 0.0


def test_overlapping_errors_combine_as_independent_chances_and_unwind_exactly():
    p = server("{type: error, target: app, probability: 50%, at: 10s, duration: 20s}",   # 10-30
               "{type: error, target: app, probability: 20%, at: 20s, duration: 20s}")   # 20-40
    app = p.system.get("app")
    seen = []
    for t in (5.0, 15.0, 25.0, 35.0, 45.0):
        p.env.run(until=t)
        seen.append(app.error_p)
    # recomputed from the active ones: 1 - (1 - 0.2) is 0.2 to the last bit of the float arithmetic
    assert seen == [0.0, 1.0 - (1.0 - 0.5), 1.0 - (1.0 - 0.5) * (1.0 - 0.2), 1.0 - (1.0 - 0.2), 0.0]


# --- duplicate ------------------------------------------------------------------------------------
def test_duplicate_delivers_twice_and_the_caller_gets_one_reply():
    p = server("{type: duplicate, groups: [[clients], [app]], probability: 100%, at: 10s, duration: 10s}")
    for t, label in [(5.0, "r1"), (15.0, "r2"), (25.0, "r3")]:
        p.send(t, label)
    # r2 reaches app twice: the copy queues behind it and is served too (15-16, 16-17); one reply.
    assert p.run() == [(6.0, "app served r1"), (6.0, "r1 ok"),
                       (16.0, "app served r2"), (16.0, "r2 ok"), (17.0, "app served r2"),
                       (26.0, "app served r3"), (26.0, "r3 ok")]


def test_duplicate_with_a_partition_and_latency_inside_its_window():
    # duplicate 10-30; a partition 12-14 and a latency of 0.5s 18-22 inside it.
    p = server("{type: duplicate, groups: [[edge], [dc]], probability: 100%, at: 10s, duration: 20s}",
               "{type: partition, groups: [[clients], [app]], at: 12s, duration: 2s}",
               "{type: latency, groups: [[clients], [app]], add: 500ms, at: 18s, duration: 4s}")
    for t, label in [(13.0, "r1"), (19.0, "r2"), (31.0, "r3")]:
        p.send(t, label)
    # r1 is cut: nothing arrives, the caller times out. r2 arrives twice at 19.5; the reply comes back
    # 0.5s after the first service (20.5 -> 21.0). r3 after every window: once.
    assert p.run() == [(14.0, "r1 timed_out"),
                       (20.5, "app served r2"), (21.0, "r2 ok"), (21.5, "app served r2"),
                       (32.0, "app served r3"), (32.0, "r3 ok")]


def test_overlapping_duplicates_one_way_only():
    # one_way from the clients: requests duplicated. Two overlapping faults: chance 1 - 0.5 * 0.5.
    p = server("{type: duplicate, groups: [[clients], [app]], probability: 50%, one_way: true, at: 10s, duration: 20s}",
               "{type: duplicate, groups: [[edge], [dc]], probability: 50%, at: 20s, duration: 20s}")
    link = p.workload().link
    seen = []
    for t in (5.0, 15.0, 25.0, 35.0, 45.0):
        p.env.run(until=t)
        seen.append(link.dup)
    assert seen == [0.0, 0.5, 0.75, 0.5, 0.0]


# --- latency drawn from a distribution ----------------------------------------------------------------
def test_latency_distribution_adds_each_draw_and_stacks_with_a_constant_latency():
    # A distribution that always draws 0.25s (constant) takes the per-message path; 0.1s constant
    # latency overlaps it from 15s to 25s.
    p = server("{type: latency, groups: [[clients], [app]], add: 'constant(value=250ms)', at: 10s, duration: 10s}",
               "{type: latency, groups: [[edge], [dc]], add: 100ms, at: 15s, duration: 10s}")
    for t, label in [(5.0, "r1"), (12.0, "r2"), (17.0, "r3"), (22.0, "r4"), (30.0, "r5")]:
        p.send(t, label)
    assert p.run() == [(6.0, "app served r1"), (6.0, "r1 ok"),
                       (13.25, "app served r2"), (13.5, "r2 ok"),
                       (18.35, "app served r3"), (18.7, "r3 ok"),
                       (23.1, "app served r4"), (23.2, "r4 ok"),
                       (31.0, "app served r5"), (31.0, "r5 ok")]


# --- bridge partition ---------------------------------------------------------------------------------
BRIDGED = """
    name: bridge
    duration: 100s
    network: {{timeout: 1s}}
    components:
      front-eu: {{type: server, workers: 1, service_time: 0s, zone: eu, calls: [db-us]}}
      bridge: {{type: server, workers: 1, service_time: 0s, zone: eu, calls: [db-us]}}
      db-us: {{type: server, workers: 1, service_time: 1s, zone: us}}
    workloads:
      via-front: {{arrivals: constant(rate=1/s), target: front-eu, zone: eu}}
      via-bridge: {{arrivals: constant(rate=1/s), target: bridge, zone: eu}}
    faults:
{faults}
"""


def bridged(*faults):
    p = Probe(BRIDGED.format(faults="\n".join(f"      - {f}" for f in faults)))
    p.watch_service("db-us")
    return p


def test_bridge_sees_both_sides_of_a_partition_that_names_its_zone():
    p = bridged("{type: partition, groups: [[eu], [us]], bridge: [bridge], at: 10s, duration: 10s}")
    for t, label, via in [(5.0, "r1", "via-front"), (12.0, "r2", "via-front"), (14.0, "r3", "via-bridge"),
                          (25.0, "r4", "via-front")]:
        p.send(t, label, via=via)
    # front-eu (in eu) is cut off from db-us; the bridge, also in eu, still reaches it.
    assert p.run() == [(6.0, "db-us served r1"), (6.0, "r1 ok"),
                       (13.0, "r2 timed_out"),
                       (15.0, "db-us served r3"), (15.0, "r3 ok"),
                       (26.0, "db-us served r4"), (26.0, "r4 ok")]


def test_a_second_partition_without_bridge_cuts_the_bridge_until_it_ends():
    # Bridged 10-30; a plain partition 15-20 cuts everything in eu, the bridge included.
    p = bridged("{type: partition, groups: [[eu], [us]], bridge: [bridge], at: 10s, duration: 20s}",
                "{type: partition, groups: [[eu], [us]], at: 15s, duration: 5s}")
    for t, label in [(12.0, "r1"), (17.0, "r2"), (22.0, "r3")]:
        p.send(t, label, via="via-bridge")
    assert p.run() == [(13.0, "db-us served r1"), (13.0, "r1 ok"), (18.0, "r2 timed_out"),
                       (23.0, "db-us served r3"), (23.0, "r3 ok")]


# --- caches: cache_flush and clock_skew ---------------------------------------------------------------
CACHE = """
    name: cache
    duration: 200s
    components:
      c: {{type: cache, capacity: 100, backing: db, ttl: 10s}}
      db: {{type: server, workers: 4, service_time: 1s}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: c}}
    faults:
{faults}
"""


def cache(*faults):
    p = Probe(CACHE.format(faults="\n".join(f"      - {f}" for f in faults) or "      []"))
    p.watch_cache("c")
    return p


def test_cache_flush_loses_every_key_at_its_instant():
    p = cache("{type: cache_flush, target: c, at: 4s}")
    for t, label in [(1.0, "r1"), (3.0, "r2"), (5.0, "r3"), (7.0, "r4")]:
        p.send(t, label, key=1)
    assert p.run() == [(1.0, "c miss r1"), (2.0, "r1 ok"), (3.0, "c hit r2"), (3.0, "r2 ok"),
                       (5.0, "c miss r3"), (6.0, "r3 ok"), (7.0, "c hit r4"), (7.0, "r4 ok")]
    assert p.system.get("c").stats(200.0)["events"] == [
        {"at_s": 4.0, "kind": "cache_flush", "description": "cache flush"}]


def test_two_flushes_and_a_flush_inside_a_crash():
    # flush at 4s, crash 5-8 (restarts cold), a flush at 6 inside it (nothing to lose), a flush at 12.
    p = cache("{type: cache_flush, target: c, at: 4s}", "{type: crash, target: c, at: 5s, duration: 3s}",
              "{type: cache_flush, target: c, at: 6s}", "{type: cache_flush, target: c, at: 12s}")
    for t, label in [(1.0, "r1"), (3.0, "r2"), (4.5, "r3"), (7.0, "r4"), (9.0, "r5"), (11.0, "r6"),
                     (13.0, "r7")]:
        p.send(t, label, key=1)
    assert p.run() == [(1.0, "c miss r1"), (2.0, "r1 ok"), (3.0, "c hit r2"), (3.0, "r2 ok"),
                       (4.5, "c miss r3"), (5.0, "r3 error"),  # the crash fails the fetch it waits on
                       (8.0, "r4 ok"),  # down: the caller reads the store itself (cache_aside)
                       (9.0, "c miss r5"), (10.0, "r5 ok"), (11.0, "c hit r6"), (11.0, "r6 ok"),
                       (13.0, "c miss r7"), (14.0, "r7 ok")]
    assert [e["at_s"] for e in p.system.get("c").stats(200.0)["events"]] == [4.0, 6.0, 12.0]


def test_a_clock_ahead_expires_entries_early_and_behind_late():
    # ttl 10s. Fetched at 1-2 (expires at clock 12). A clock 5s ahead from 5s to 9s reads 12 at 7s.
    p = cache("{type: clock_skew, target: c, offset: 5s, at: 5s, duration: 4s}")
    for t, label in [(1.0, "r1"), (6.0, "r2"), (7.0, "r3")]:
        p.send(t, label, key=1)
    assert p.run() == [(1.0, "c miss r1"), (2.0, "r1 ok"), (6.0, "c hit r2"), (6.0, "r2 ok"),
                       (7.0, "c miss r3"), (8.0, "r3 ok")]
    p = cache("{type: clock_skew, target: c, offset: -5s, at: 5s, duration: 20s}")
    for t, label in [(1.0, "r1"), (15.0, "r2"), (18.0, "r3")]:
        p.send(t, label, key=1)
    # behind: at 15s it reads 10 (< 12: a hit the true clock would have expired); at 18s 13: expired.
    assert p.run() == [(1.0, "c miss r1"), (2.0, "r1 ok"), (15.0, "c hit r2"), (15.0, "r2 ok"),
                       (18.0, "c miss r3"), (19.0, "r3 ok")]


def test_overlapping_clock_skews_add_and_unwind_to_the_true_clock():
    # offset +2s from 10s to 40s; drift +0.5 (and offset -1s) from 20s to 30s.
    p = cache("{type: clock_skew, target: c, offset: 2s, at: 10s, duration: 30s}",
              "{type: clock_skew, target: c, offset: -1s, drift: 0.5, at: 20s, duration: 10s}")
    c = p.system.get("c")
    seen = []
    for t in (5.0, 15.0, 24.0, 35.0, 45.0):
        p.env.run(until=t)
        seen.append(c.clock())
    # 24s: 24 + 2 - 1 + 0.5 * (24 - 20) = 27.
    assert seen == [5.0, 17.0, pytest.approx(27.0, abs=1e-12), 37.0, 45.0]
    assert c.skew is None


def test_drift_makes_entries_expire_early_and_a_flush_inside_the_skew():
    # drift +0.5 from 0s: clock = 1.5 t. Fetched at 2-3: clock 4.5, expires at clock 14.5 (t = 9.67).
    p = cache("{type: clock_skew, target: c, drift: 0.5, at: 0s, duration: 50s}",
              "{type: cache_flush, target: c, at: 20s}")
    for t, label in [(2.0, "r1"), (9.0, "r2"), (10.0, "r3"), (15.0, "r4"), (21.0, "r5")]:
        p.send(t, label, key=1)
    # r3 refetches (10-11: expires at clock 16.5 + 10 = 26.5, t = 17.67); r4 hits; the flush at 20s
    # empties it: r5 misses.
    assert p.run() == [(2.0, "c miss r1"), (3.0, "r1 ok"), (9.0, "c hit r2"), (9.0, "r2 ok"),
                       (10.0, "c miss r3"), (11.0, "r3 ok"), (15.0, "c hit r4"), (15.0, "r4 ok"),
                       (21.0, "c miss r5"), (22.0, "r5 ok")]
