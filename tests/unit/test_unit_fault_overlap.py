"""Faults whose windows overlap on one component or one link: each must end only its own effect.

The correct behaviour: a fault's `stop` undoes its own effect and no other fault's. These tests
are written for that behaviour; on the `unit-tests` branch (before the fix) the crash/slow,
partition/partition, crash/crash and loss/loss cases fail (see each test's comment).

`app` has one worker and a constant 1s service time; links have no latency unless a fault adds
some; the network timeout is 1s.
"""
from tests.unit.eventlog import Probe

OVERLAP = """
    name: overlap
    duration: 100s
    network: {{timeout: 1s}}
    components:
      app: {{type: server, workers: 1, service_time: {service}, zone: dc}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: app, zone: edge}}
    faults:
{faults}
"""


def probe(*faults, service="1s"):
    text = OVERLAP.format(service=service, faults="\n".join(f"      - {f}" for f in faults))
    p = Probe(text)
    p.watch_service("app")
    return p


def test_slow_survives_a_crash_within_it():
    p = probe("{type: slow, target: app, factor: 4, at: 10s, duration: 40s}",   # 10s - 50s
              "{type: crash, target: app, at: 20s, duration: 10s}")            # 20s - 30s
    for t, label in [(5.0, "r1"), (15.0, "r2"), (25.0, "r3"), (35.0, "r4"), (55.0, "r5")]:
        p.send(t, label)
    # r1 before any fault: 1s. r2 slowed: 4s (-> 19). r3 during the crash: refused.
    # r4 at 35: the crash is over but the slow fault still runs until 50: 4s (-> 39).
    # r5 at 55: both are over: 1s (-> 56).
    # Before the fix: recovery resets the slowdown to 1 (r4 ends at 36) and the slow fault's end
    # then divides it by 4 (r5 takes 0.25s, ends at 55.25).
    assert p.run() == [
        (6.0, "app served r1"), (6.0, "r1 ok"),
        (19.0, "app served r2"), (19.0, "r2 ok"),
        (25.0, "r3 error"),
        (39.0, "app served r4"), (39.0, "r4 ok"),
        (56.0, "app served r5"), (56.0, "r5 ok"),
    ]


def test_two_partitions_of_one_link_heal_when_the_last_ends():
    # The first cuts the link by zone names, the second by component and workload names.
    p = probe("{type: partition, groups: [[edge], [dc]], at: 10s, duration: 40s}",        # 10s - 50s
              "{type: partition, groups: [[clients], [app]], at: 30s, duration: 50s}")     # 30s - 80s
    for t, label in [(5.0, "r1"), (20.0, "r2"), (40.0, "r3"), (60.0, "r4"), (85.0, "r5")]:
        p.send(t, label)
    # r2, r3, r4 are sent while at least one partition cuts the link: each times out 1s later.
    # Before the fix: the first partition's end at 50 heals the link although the second still
    # cuts it, so r4 is served (60 -> 61 ok).
    assert p.run() == [
        (6.0, "app served r1"), (6.0, "r1 ok"),
        (21.0, "r2 timed_out"),
        (41.0, "r3 timed_out"),
        (61.0, "r4 timed_out"),
        (86.0, "app served r5"), (86.0, "r5 ok"),
    ]


def test_two_overlapping_crashes_recover_when_the_last_ends():
    p = probe("{type: crash, target: app, at: 10s, duration: 30s}",   # 10s - 40s
              "{type: crash, target: app, at: 20s, duration: 40s}")   # 20s - 60s
    for t, label in [(5.0, "r1"), (15.0, "r2"), (25.0, "r3"), (45.0, "r4"), (65.0, "r5")]:
        p.send(t, label)
    # Down from 10 to 60. Before the fix: the first crash's end at 40 recovers app (r4 is served
    # 45 -> 46 ok) and the second's end does nothing.
    assert p.run() == [
        (6.0, "app served r1"), (6.0, "r1 ok"),
        (15.0, "r2 error"),
        (25.0, "r3 error"),
        (45.0, "r4 error"),
        (66.0, "app served r5"), (66.0, "r5 ok"),
    ]


def test_two_overlapping_latency_faults_add_up():
    p = probe("{type: latency, groups: [[clients], [app]], add: 100ms, at: 10s, duration: 40s}",   # 10s - 50s
              "{type: latency, groups: [[clients], [app]], add: 200ms, at: 30s, duration: 50s}",   # 30s - 80s
              service="500ms")
    for t, label in [(5.0, "r1"), (20.0, "r2"), (40.0, "r3"), (60.0, "r4"), (90.0, "r5")]:
        p.send(t, label)
    # Extra one-way delay: 0 before 10, 100ms in 10-30, 300ms in 30-50, 200ms in 50-80, 0 after.
    # r1 5 -> served 5.5 -> 5.5.  r2: 20 + 0.1 -> served 20.6 -> ok 20.7.
    # r3: 40 + 0.3 -> served 40.8 -> ok 41.1.  r4: 60 + 0.2 -> served 60.7 -> ok 60.9.
    # r5: 90 -> served 90.5 -> ok 90.5.
    assert p.run() == [
        (5.5, "app served r1"), (5.5, "r1 ok"),
        (20.6, "app served r2"), (20.7, "r2 ok"),
        (40.8, "app served r3"), (41.1, "r3 ok"),
        (60.7, "app served r4"), (60.9, "r4 ok"),
        (90.5, "app served r5"), (90.5, "r5 ok"),
    ]


def test_two_overlapping_packet_losses_last_until_the_last_ends():
    p = probe("{type: packet_loss, groups: [[clients], [app]], probability: 1.0, at: 10s, duration: 40s}",
              "{type: packet_loss, groups: [[clients], [app]], probability: 1.0, at: 30s, duration: 50s}",
              service="500ms")
    for t, label in [(5.0, "r1"), (20.0, "r2"), (40.0, "r3"), (60.0, "r4"), (90.0, "r5")]:
        p.send(t, label)
    # Every message is lost from 10 to 80: r2, r3, r4 time out 1s after they are sent.
    # Before the fix: the first fault's end at 50 sets the loss to 0, so r4 is served (60.5 ok).
    assert p.run() == [
        (5.5, "app served r1"), (5.5, "r1 ok"),
        (21.0, "r2 timed_out"),
        (41.0, "r3 timed_out"),
        (61.0, "r4 timed_out"),
        (90.5, "app served r5"), (90.5, "r5 ok"),
    ]


def test_a_fault_naming_one_component_twice_acts_on_it_once():
    """`[app, app]` (or a replicated name next to one of its replicas) is one contribution: the crash
    ends with its window, and a slow fault's factor is applied once."""
    p = probe("{type: crash, target: [app, app], at: 10s, duration: 5s}",
              "{type: slow, target: [app, app], factor: 2, at: 20s, duration: 10s}")
    for t, label in [(12.0, "r1"), (16.0, "r2"), (22.0, "r3")]:
        p.send(t, label)
    # r1 refused during the crash; r2 after it: 1s; r3 slowed x2 (not x4): 2s.
    assert p.run() == [(12.0, "r1 error"), (17.0, "app served r2"), (17.0, "r2 ok"),
                       (24.0, "app served r3"), (24.0, "r3 ok")]
