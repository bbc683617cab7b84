"""The `pause` fault (a stop-the-world GC, a frozen VM): work in service freezes and goes on where it
stopped, calls that arrive wait and are taken in order at the end, a crash inside a pause loses what
it held, and overlapping pauses last until the last one ends.

`app` has one worker and a constant 1s service time; links have no latency; the client has no timeout.
"""
from tests.unit.eventlog import Probe

PAUSED = """
    name: pause
    duration: 100s
    components:
      app: {{type: server, workers: 1, service_time: 1s}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: app}}
    faults:
{faults}
"""


def probe(*faults):
    p = Probe(PAUSED.format(faults="\n".join(f"      - {f}" for f in faults)))
    p.watch_service("app")
    return p


def test_a_pause_freezes_service_and_holds_calls():
    p = probe("{type: pause, target: app, at: 0.4s, duration: 2s}")  # 0.4s - 2.4s
    p.send(0.0, "r1")
    p.send(0.5, "r2")
    p.send(5.0, "r3")
    # r1 starts at 0 and has done 0.4s of its 1s when the pause begins; the remaining 0.6s runs from
    # 2.4: done at 3.0. r2 arrives during the pause, waits, then queues behind r1: 3.0 -> 4.0.
    # r3, after everything: 5 -> 6.
    assert p.run() == [(3.0, "app served r1"), (3.0, "r1 ok"), (4.0, "app served r2"), (4.0, "r2 ok"),
                       (6.0, "app served r3"), (6.0, "r3 ok")]


def test_a_crash_inside_a_pause_loses_what_the_pause_held():
    p = probe("{type: pause, target: app, at: 0.4s, duration: 2s}",  # 0.4s - 2.4s
              "{type: crash, target: app, at: 1s, duration: 0.5s}")  # 1.0s - 1.5s
    p.send(0.0, "r1")
    p.send(0.5, "r2")
    p.send(1.2, "r3")
    p.send(2.0, "r4")
    # At 1.0 the crash fails r1 (frozen in service) and r2 (held). r3 arrives while down: refused.
    # The crash ends at 1.5 but the pause still runs: r4 at 2.0 waits, then is served 2.4 -> 3.4.
    assert p.run() == [(1.0, "r1 error"), (1.0, "r2 error"), (1.2, "r3 error"),
                       (3.4, "app served r4"), (3.4, "r4 ok")]


def test_overlapping_pauses_last_until_the_last_ends():
    p = probe("{type: pause, target: app, at: 1s, duration: 4s}",   # 1s - 5s
              "{type: pause, target: app, at: 3s, duration: 4s}")   # 3s - 7s
    p.send(0.5, "r1")
    p.send(6.0, "r2")
    # r1 has 0.5s done at 1; frozen until the second pause ends at 7: done at 7.5. r2 arrives at 6
    # (still paused), queues behind r1: 7.5 -> 8.5.
    assert p.run() == [(7.5, "app served r1"), (7.5, "r1 ok"), (8.5, "app served r2"), (8.5, "r2 ok")]


def test_a_worker_freed_during_a_pause_does_not_start_work():
    """A server holding its worker while it waits on a downstream call gets the answer during its
    pause and frees the worker: the next queued request must still wait for the pause to end. (The
    answer itself is passed on at once: a pause freezes service and incoming calls, not replies.)"""
    p = Probe("""
        name: pause-release
        duration: 100s
        components:
          app: {type: server, workers: 1, service_time: 1s, calls: [db]}
          db: {type: server, workers: 1, service_time: 1s}
        workloads:
          clients: {arrivals: constant(rate=1/s), target: app}
        faults:
          - {type: pause, target: app, at: 1.5s, duration: 2s}
    """)
    p.watch_service("app", "db")
    p.send(0.0, "r1")
    p.send(0.1, "r2")
    # app serves r1 0 -> 1 and holds its worker while db serves it 1 -> 2; r2 queues at app.
    # At 2 (app paused since 1.5) the answer frees the worker: r2 takes it but its service waits for
    # the pause to end: 3.5 -> 4.5, then db 4.5 -> 5.5.
    assert p.run() == [(1.0, "app served r1"), (2.0, "db served r1"), (2.0, "r1 ok"),
                       (4.5, "app served r2"), (5.5, "db served r2"), (5.5, "r2 ok")]


def test_calls_held_by_a_paused_client_library_go_on_through_its_proxy():
    """A sharded store's router runs inside its caller (a proxy per caller): calls held while it is
    paused are routed when it resumes, through the proxy they came in by."""
    p = Probe("""
        name: pause-proxy
        duration: 100s
        components:
          store: {type: sharded, shards: [s1, s2], strategy: hash}
          s1: {type: database, read_time: 1s, write_time: 1s}
          s2: {type: database, read_time: 1s, write_time: 1s}
        workloads:
          clients: {arrivals: constant(rate=1/s), target: store, mix: {read: 1}}
        faults:
          - {type: pause, target: store, at: 1s, duration: 2s}
    """)
    p.send(0.0, "r1", key=7, op="read")
    p.send(1.5, "r2", key=7, op="read")
    # r1: routed at 0, read 0 -> 1. r2 arrives at 1.5 while the router is paused: routed at 3, read 3 -> 4.
    assert p.run() == [(1.0, "r1 ok"), (4.0, "r2 ok")]
