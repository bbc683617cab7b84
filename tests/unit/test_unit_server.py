"""A server's queue, workers, capacity, timeout, crash and slowdown, as exact event logs.

Every server here has constant service times and every link zero latency, so each time in an
expected log follows from the arrival times by hand (worked out in the comments).
"""
from tests.unit.eventlog import Probe

SERVER = """
    name: server
    duration: 100s
    components:
      app: {{type: server, workers: {workers}, service_time: 1s{extra}}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: app}}
    {faults}
"""


def probe(workers=1, extra="", faults=""):
    p = Probe(SERVER.format(workers=workers, extra=extra, faults=faults))
    p.watch_service("app")
    return p


def test_one_worker_serves_in_fifo_order():
    p = probe()
    for t, label in [(0.0, "r1"), (0.5, "r2"), (0.6, "r3")]:
        p.send(t, label)
    # r1 starts at 0 -> done at 1; r2 waits until 1 -> done at 2; r3 waits until 2 -> done at 3.
    assert p.run() == [
        (1.0, "app served r1"), (1.0, "r1 ok"),
        (2.0, "app served r2"), (2.0, "r2 ok"),
        (3.0, "app served r3"), (3.0, "r3 ok"),
    ]


def test_two_workers_serve_in_parallel():
    p = probe(workers=2)
    for t, label in [(0.0, "r1"), (0.5, "r2"), (0.6, "r3")]:
        p.send(t, label)
    # r1 on worker A 0 -> 1; r2 on worker B 0.5 -> 1.5; r3 waits for A, freed at 1 -> done at 2.
    assert p.run() == [
        (1.0, "app served r1"), (1.0, "r1 ok"),
        (1.5, "app served r2"), (1.5, "r2 ok"),
        (2.0, "app served r3"), (2.0, "r3 ok"),
    ]


def test_full_queue_rejects_at_once():
    p = probe(extra=", queue_capacity: 1")
    for t, label in [(0.0, "r1"), (0.5, "r2"), (0.6, "r3")]:
        p.send(t, label)
    # r1 in service, r2 fills the one waiting place, r3 finds it full: rejected at its arrival.
    assert p.run() == [
        (0.6, "r3 rejected"),
        (1.0, "app served r1"), (1.0, "r1 ok"),
        (2.0, "app served r2"), (2.0, "r2 ok"),
    ]


def test_queue_capacity_zero_means_no_waiting():
    p = probe(extra=", queue_capacity: 0")
    for t, label in [(0.0, "r1"), (0.5, "r2"), (1.5, "r3")]:
        p.send(t, label)
    # r2 arrives while the only worker is busy and there is no waiting room; r3 finds it free.
    assert p.run() == [
        (0.5, "r2 rejected"),
        (1.0, "app served r1"), (1.0, "r1 ok"),
        (2.5, "app served r3"), (2.5, "r3 ok"),
    ]


def test_server_timeout_fails_late_requests_and_skips_expired_queued_work():
    p = probe(extra=", timeout: 1500ms")
    for t, label in [(0.0, "r1"), (0.6, "r2"), (0.7, "r3"), (0.8, "r4")]:
        p.send(t, label)
    # Deadlines are arrival + 1.5s: r1 1.5, r2 2.1, r3 2.2, r4 2.3.
    # r1 0 -> 1 ok. r2 starts at 1 -> 2 ok (before 2.1). r3 starts at 2, would end at 3: it times
    # out at 2.2, but the worker is not interrupted and still finishes it at 3 (its reply is dropped).
    # r4 times out at 2.3 while queued, so at 3 it is skipped: it is never served.
    assert p.run() == [
        (1.0, "app served r1"), (1.0, "r1 ok"),
        (2.0, "app served r2"), (2.0, "r2 ok"),
        (2.2, "r3 timed_out"),
        (2.3, "r4 timed_out"),
        (3.0, "app served r3"),
    ]


def test_crash_fails_in_flight_and_queued_work_refuses_new_and_recovers():
    p = probe(faults="faults: [{type: crash, target: app, at: 1.5s, duration: 500ms}]")
    for t, label in [(0.0, "r1"), (1.2, "r2"), (1.3, "r3"), (1.8, "r4"), (2.1, "r5")]:
        p.send(t, label)
    # r1 0 -> 1 ok. r2 in service from 1.2 (would end 2.2), r3 queued behind it: the crash at 1.5
    # fails both at once (in-service work first, then the queue). r4 arrives while down: refused.
    # Recovery at 2.0; r5 starts at 2.1 and ends at 3.1. The stale completion of r2 at 2.2 (while r5
    # holds the worker) must neither reply nor free the worker.
    assert p.run() == [
        (1.0, "app served r1"), (1.0, "r1 ok"),
        (1.5, "r2 error"), (1.5, "r3 error"),
        (1.8, "r4 error"),
        (3.1, "app served r5"), (3.1, "r5 ok"),
    ]


def test_crash_stale_completion_does_not_free_the_worker():
    p = probe(faults="faults: [{type: crash, target: app, at: 1.5s, duration: 500ms}]")
    for t, label in [(1.2, "r1"), (2.1, "r2"), (2.3, "r3")]:
        p.send(t, label)
    # r1 is lost at 1.5 (its timer still fires at 2.2). r2 takes the worker 2.1 -> 3.1. r3 at 2.3
    # must queue behind r2 (if the stale 2.2 timer had freed a worker, r3 would start at once and
    # end at 3.3): it starts at 3.1 and ends at 4.1.
    assert p.run() == [
        (1.5, "r1 error"),
        (3.1, "app served r2"), (3.1, "r2 ok"),
        (4.1, "app served r3"), (4.1, "r3 ok"),
    ]


def test_slow_multiplies_service_times_started_while_it_is_on():
    p = probe(faults="faults: [{type: slow, target: app, factor: 4, at: 10s, duration: 10s}]")
    for t, label in [(5.0, "r1"), (9.5, "r2"), (12.0, "r3"), (19.0, "r4"), (25.0, "r5")]:
        p.send(t, label)
    # The factor applies to a service when it starts: r2 started at 9.5 keeps 1s (-> 10.5);
    # r3 at 12 takes 4s (-> 16); r4 starts at 19, before the end at 20, so 4s (-> 23); r5 1s.
    assert p.run() == [
        (6.0, "app served r1"), (6.0, "r1 ok"),
        (10.5, "app served r2"), (10.5, "r2 ok"),
        (16.0, "app served r3"), (16.0, "r3 ok"),
        (23.0, "app served r4"), (23.0, "r4 ok"),
        (26.0, "app served r5"), (26.0, "r5 ok"),
    ]
