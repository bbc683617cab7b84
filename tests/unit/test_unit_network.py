"""Network hops and link faults (partition, latency, packet loss), one at a time, as exact logs.

The clients are the (never started) workload `clients`; the server `app` answers in 100ms.
"""
from tests.unit.eventlog import Probe

NET = """
    name: net
    duration: 100s
    network: {{default_latency: {latency}, timeout: 1s}}
    components:
      app: {{type: server, workers: 4, service_time: 100ms}}
    workloads:
      clients: {{arrivals: constant(rate=1/s), target: app}}
    faults: [{fault}]
"""


def probe(fault="", latency="10ms"):
    p = Probe(NET.format(fault=fault, latency=latency))
    p.watch_service("app")
    return p


def test_round_trip_is_two_hops_plus_service():
    p = probe()
    p.send(1.0, "r1")
    # 1.0 + 10ms there -> service 1.01..1.11 -> 10ms back -> 1.12
    assert p.run() == [(1.11, "app served r1"), (1.12, "r1 ok")]


def test_partition_times_out_after_the_network_timeout_and_heals():
    p = probe("{type: partition, groups: [[clients], [app]], at: 5s, duration: 5s}")
    for t, label in [(1.0, "r1"), (4.95, "r2"), (6.0, "r3"), (9.5, "r4"), (11.0, "r5")]:
        p.send(t, label)
    # r1: 1.0 + 0.01 + 0.1 + 0.01 = 1.12, before the cut.
    # r2: sent at 4.95, arrives 4.96, served at 5.06, but the reply is cut at 5.06: the caller
    #     times out 1s after it sent, at 5.95.
    # r3: sent into the cut at 6.0: times out at 7.0.
    # r4: sent into the cut at 9.5: lost although the cut heals at 10; times out at 10.5.
    # r5: after the heal, 11.0 + 0.12 = 11.12.
    assert p.run() == [
        (1.11, "app served r1"), (1.12, "r1 ok"),
        (5.06, "app served r2"), (5.95, "r2 timed_out"),
        (7.0, "r3 timed_out"),
        (10.5, "r4 timed_out"),
        (11.11, "app served r5"), (11.12, "r5 ok"),
    ]


def test_one_way_partition_drops_requests_but_not_replies():
    p = probe("{type: partition, groups: [[app], [clients]], one_way: true, at: 5s, duration: 5s}")
    for t, label in [(4.95, "r1"), (6.0, "r2")]:
        p.send(t, label)
    # Only traffic from app to clients is cut, i.e. the replies of calls clients -> app.
    # r1: arrives 4.96, served 5.06, its reply is cut: timed out at 4.95 + 1 = 5.95.
    # r2: the request gets through (arrives 6.01, served 6.11), the reply is cut: timed out at 7.0.
    assert p.run() == [
        (5.06, "app served r1"), (5.95, "r1 timed_out"),
        (6.11, "app served r2"), (7.0, "r2 timed_out"),
    ]


def test_latency_fault_adds_to_each_hop_while_on():
    p = probe("{type: latency, groups: [[clients], [app]], add: 50ms, at: 5s, duration: 5s}")
    for t, label in [(1.0, "r1"), (6.0, "r2"), (11.0, "r3")]:
        p.send(t, label)
    # r2: 10 + 50ms there, 100ms work, 10 + 50ms back: 6.0 + 0.06 + 0.1 + 0.06 = 6.22.
    assert p.run() == [
        (1.11, "app served r1"), (1.12, "r1 ok"),
        (6.16, "app served r2"), (6.22, "r2 ok"),
        (11.11, "app served r3"), (11.12, "r3 ok"),
    ]


def test_total_packet_loss_times_out_calls_until_it_ends():
    p = probe("{type: packet_loss, groups: [[clients], [app]], probability: 1.0, at: 5s, duration: 5s}")
    for t, label in [(1.0, "r1"), (6.0, "r2"), (11.0, "r3")]:
        p.send(t, label)
    # r2's request is lost: it times out at 7.0 and app never sees it.
    assert p.run() == [
        (1.11, "app served r1"), (1.12, "r1 ok"),
        (7.0, "r2 timed_out"),
        (11.11, "app served r3"), (11.12, "r3 ok"),
    ]
