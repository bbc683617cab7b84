"""A round-robin load balancer over two one-worker backends (1s of work, no network latency),
with one backend crashed for a while. The log shows which backend served each request."""
from tests.unit.eventlog import Probe

LB = """
    name: lb
    duration: 100s
    components:
      lb: {{type: load_balancer, algorithm: round_robin, backends: [b1, b2]{health}}}
      b1: {{type: server, workers: 1, service_time: 1s}}
      b2: {{type: server, workers: 1, service_time: 1s}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: lb}}
    faults:
      - {{type: crash, target: b1, at: 10s, duration: 20s}}
"""


def probe(health=""):
    p = Probe(LB.format(health=health))
    p.watch_service("b1", "b2")
    return p


def test_health_check_skips_a_crashed_backend_then_round_robin_resumes():
    p = probe(", health_check: 1s")
    for t, label in [(0, "r1"), (2, "r2"), (10.5, "r3"), (12, "r4"), (14, "r5"),
                     (30.5, "r6"), (32, "r7"), (34, "r8"), (36, "r9")]:
        p.send(t, label)
    # The balancer learns of a change 1s after it happens: b1 is dropped at 11, back at 31.
    # Round robin keeps a counter i, and picks healthy[(i + 1) % len(healthy)]:
    # r1 -> b1, r2 -> b2. r3 at 10.5: b1 is down but still listed, its turn: refused at once.
    # r4, r5: only b2 is listed. r6 at 30.5: b1 is up but not yet listed again: b2.
    # From 31 both are listed; the counter is at 0, so r7 -> healthy[1] = b2, r8 -> b1, r9 -> b2.
    assert p.run() == [
        (1.0, "b1 served r1"), (1.0, "r1 ok"),
        (3.0, "b2 served r2"), (3.0, "r2 ok"),
        (10.5, "r3 error"),
        (13.0, "b2 served r4"), (13.0, "r4 ok"),
        (15.0, "b2 served r5"), (15.0, "r5 ok"),
        (31.5, "b2 served r6"), (31.5, "r6 ok"),
        (33.0, "b2 served r7"), (33.0, "r7 ok"),
        (35.0, "b1 served r8"), (35.0, "r8 ok"),
        (37.0, "b2 served r9"), (37.0, "r9 ok"),
    ]


def test_without_health_check_every_other_request_hits_the_crashed_backend():
    p = probe()
    for t, label in [(0, "r1"), (2, "r2"), (12, "r3"), (14, "r4"), (16, "r5"), (32, "r6")]:
        p.send(t, label)
    # Strict alternation b1, b2, b1, ...: r3 and r5 go to the crashed b1 and are refused.
    assert p.run() == [
        (1.0, "b1 served r1"), (1.0, "r1 ok"),
        (3.0, "b2 served r2"), (3.0, "r2 ok"),
        (12.0, "r3 error"),
        (15.0, "b2 served r4"), (15.0, "r4 ok"),
        (16.0, "r5 error"),
        (33.0, "b2 served r6"), (33.0, "r6 ok"),
    ]


def test_health_check_skips_a_paused_backend_too():
    """A paused backend answers no health check either: dropped 1s after its pause begins, listed
    again 1s after it ends. The request it took before being dropped waits out the pause."""
    p = Probe(LB.format(health=", health_check: 1s").replace("type: crash", "type: pause"))
    p.watch_service("b1", "b2")
    for t, label in [(0, "r1"), (2, "r2"), (10.5, "r3"), (12, "r4"), (14, "r5"),
                     (30.5, "r6"), (32, "r7"), (34, "r8"), (36, "r9")]:
        p.send(t, label)
    # As with the crash above, r3 at 10.5 goes to b1 (still listed, its turn), but it is held, not
    # refused: b1 serves it when the pause ends, 30 -> 31. The rest follows the same turns.
    assert p.run() == [
        (1.0, "b1 served r1"), (1.0, "r1 ok"),
        (3.0, "b2 served r2"), (3.0, "r2 ok"),
        (13.0, "b2 served r4"), (13.0, "r4 ok"),
        (15.0, "b2 served r5"), (15.0, "r5 ok"),
        (31.0, "b1 served r3"), (31.0, "r3 ok"),
        (31.5, "b2 served r6"), (31.5, "r6 ok"),
        (33.0, "b2 served r7"), (33.0, "r7 ok"),
        (35.0, "b1 served r8"), (35.0, "r8 ok"),
        (37.0, "b2 served r9"), (37.0, "r9 ok"),
    ]
