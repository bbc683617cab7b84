"""Message queues under stress: invariants under faults, exact timings, edge cases of retention and retries.

`tests/test_message_queue.py` covers each feature once; these tests check what must hold whatever
happens: nothing lost (produced = consumed + dead-lettered + lost to retention + backlog), never
two messages of one partition in processing at once for a group, never out of order, same seed
same figures.
"""
import textwrap

import numpy as np
import pytest

import models.message_queue  # noqa: F401  (registers `queue`)
import simulator
from simulator.simulation import runner
from simulator.sampling.rng import mix64
from tests.helpers import run

SCENARIO = """
name: q
seed: {seed}
duration: {duration}
warmup: {warmup}
network: {{default_latency: {latency}}}
components:
  orders:
    type: queue
    partitions: {partitions}
    ack: {ack}
{queue_extra}
    consumer_groups:
      billing: {{workers: {workers}, process_time: {process}, target: svc{group_extra}}}
{groups}
  svc: {{type: server, workers: 64, service_time: {service}}}
{more}
workloads:
  shop: {{arrivals: {arrivals}, target: orders, keys: uniform(n=1000)}}
{faults}
"""

DEFAULTS = dict(seed=1, duration="60s", warmup="0s", latency="1ms", partitions=4, ack="on_enqueue", queue_extra="",
                workers=4, process="1ms", group_extra="", groups="", service="exponential(mean=20ms)", more="",
                arrivals="poisson(rate=100/s)", faults="")


def _scenario(**kw) -> simulator.Scenario:
    return simulator.loads_scenario(textwrap.dedent(SCENARIO).format(**{**DEFAULTS, **kw}))


class Watch:
    """Watches the calls the consumers make to `svc`: per partition, how many are in processing at
    once and whether they arrive in produce order (request ids grow with time)."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.now = {}
        self.most_at_once = 0
        self.backwards = 0  # a message of a partition processed after a later one of the same partition
        self.last = {}
        self.calls = 0

    def wrap(self, comp) -> None:
        inner = comp.handle

        def handle(req, reply):
            p = mix64(req.key) % self.partitions
            self.calls += 1
            self.now[p] = self.now.get(p, 0) + 1
            self.most_at_once = max(self.most_at_once, self.now[p])
            if req.id < self.last.get(p, -1):
                self.backwards += 1
            self.last[p] = max(req.id, self.last.get(p, -1))

            def done(outcome):
                self.now[p] -= 1
                reply(outcome)

            inner(req, done)

        comp.handle = handle  # the links to svc have latency: they look `handle` up at each call


def _watched(monkeypatch, **kw):
    sc = _scenario(**kw)
    env, system = runner.build(sc)
    watch = Watch(sc.components["orders"].partitions)
    watch.wrap(system.components["svc"])
    monkeypatch.setattr(runner, "build", lambda _sc, _seed=None: (env, system))
    return runner.run(sc), watch


def _conserved(res, group="billing"):
    q = res.summary["components"]["orders"]
    g = q["consumer_groups"][group]
    assert g["consumed"] + g["dead_lettered"] + g["lost_to_retention"] + g["backlog"] == q["produced"]
    return q, g


LOSS = """faults:
  - {type: packet_loss, groups: [[orders], [orders.billing]], probability: 0.2, at: 10s, duration: 20s}"""
CRASHES = """faults:
  - {type: crash, target: orders.billing, at: 10s, duration: 5s}
  - {type: crash, target: orders, at: 12s, duration: 6s}
  - {type: crash, target: orders.billing, at: 30s, duration: 1s}
  - {type: crash, target: orders, at: 30.5s, duration: 1s}
  - {type: partition, groups: [[orders.billing], [svc]], at: 40s, duration: 3s}"""


@pytest.mark.parametrize("faults", [LOSS, CRASHES], ids=["packet-loss", "crashes-and-partition"])
def test_faults_lose_nothing_and_keep_each_partition_in_order(monkeypatch, faults):
    res, watch = _watched(monkeypatch, faults=faults, group_extra=", retry_delay: 50ms")
    q, g = _conserved(res)
    assert g["redeliveries"] > 0
    assert watch.most_at_once == 1
    assert watch.backwards == 0
    # every call the target got is a message consumed, a duplicate, or one whose answer was lost
    # (failed by the partition or still in hand at the end)
    assert watch.calls >= g["consumed"] + g["duplicates"]
    assert q["backlog"] < 50  # it caught up after the faults


def test_lost_acknowledgements_make_duplicates():
    # The replies from the consumers to the broker are lost, the deliveries are not: every
    # message processed in that window is processed again.
    res = run(SCENARIO, **{**DEFAULTS, "faults": """faults:
  - {type: partition, groups: [[orders.billing], [orders]], one_way: true, at: 10s, duration: 0.5s}"""})
    q, g = _conserved(res)
    assert g["duplicates"] > 0
    assert q["duplicates"] == g["duplicates"]


def test_same_seed_same_figures():
    a = run(SCENARIO, **{**DEFAULTS, "faults": LOSS}).summary["components"]["orders"]
    b = run(SCENARIO, **{**DEFAULTS, "faults": LOSS}).summary["components"]["orders"]
    assert a == b
    c = run(SCENARIO, **{**DEFAULTS, "faults": LOSS, "seed": 2}).summary["components"]["orders"]
    assert c["produced"] != a["produced"]


def test_exact_timings_of_the_asynchronous_pattern():
    # one hop = 1 ms; publish 2 ms; consumer 3 ms then the target (5 ms) and back
    res = run(SCENARIO, **{**DEFAULTS, "queue_extra": "    publish_time: 2ms", "process": "3ms", "service": "5ms",
                           "arrivals": "constant(rate=2/s)", "duration": "10s"})
    lat = res.requests["latency_s"].to_numpy()
    np.testing.assert_allclose(lat, 0.001 + 0.002 + 0.001)  # producer -> broker, store, ack back
    q = res.summary["components"]["orders"]
    # from the request: 1 + 2 (stored), 1 (to the consumer), 3 + 1 + 5 + 1 (processed), 1 (ack)
    assert q["completion_latency_s"]["p50"] == pytest.approx(0.015)
    assert q["completion_latency_s"]["max"] == pytest.approx(0.015)
    # produce-to-consume lag counts from the message being stored
    assert q["consumer_groups"]["billing"]["lag_s"]["max"] == pytest.approx(0.012)


def test_on_complete_the_producer_waits_for_processing():
    res = run(SCENARIO, **{**DEFAULTS, "ack": "on_complete", "process": "3ms", "service": "5ms",
                           "arrivals": "constant(rate=2/s)", "duration": "10s"})
    # 1 (to the broker), 1 (to the consumer), 3 + 1 + 5 + 1 (processed), 1 (ack), 1 (answer)
    np.testing.assert_allclose(res.requests["latency_s"].to_numpy(), 0.014)


def test_complete_when_names_the_group_that_completes_a_message():
    more = "      audit: {workers: 1, process_time: 500ms}"
    base = {**DEFAULTS, "process": "3ms", "service": "5ms", "arrivals": "constant(rate=1/s)", "duration": "10s",
            "latency": "0s", "groups": more}
    every = run(SCENARIO, **base).summary["components"]["orders"]
    billing = run(SCENARIO, **{**base, "queue_extra": "    complete_when: billing"}).summary["components"]["orders"]
    assert every["completion_latency_s"]["max"] == pytest.approx(0.5)
    assert billing["completion_latency_s"]["max"] == pytest.approx(0.008)


def test_without_keys_messages_go_round_robin():
    text = SCENARIO.replace(", keys: uniform(n=1000)", "")
    res = run(text, **{**DEFAULTS, "partitions": 3, "workers": 3, "process": "10s", "arrivals": "constant(rate=3/s)",
                       "duration": "10s"})
    q = res.summary["components"]["orders"]
    # nothing is processed in 10 s: each partition keeps what it got, a third of the messages
    assert sum(q["backlog_max_per_partition"]) == q["produced"] == 29
    assert sorted(q["backlog_max_per_partition"]) == [9, 10, 10]


def test_retention_waits_for_the_message_in_processing(monkeypatch):
    # One slow worker and room for 3 messages: retention deletes most messages, but not the one the
    # worker holds. It is processed and acknowledged, never two at a time.
    res, watch = _watched(monkeypatch, partitions=1, workers=1, queue_extra="    retention: 3", process="1s",
                          service="1ms", arrivals="constant(rate=5/s)", duration="30s")
    q, g = _conserved(res)
    assert watch.most_at_once == 1
    assert 28 <= g["consumed"] <= 29  # one per 1.004 s from 0.2 s
    assert g["utilization"] > 0.95
    assert q["dropped_retention"] == g["lost_to_retention"] == q["produced"] - g["consumed"] - g["backlog"]
    assert g["backlog"] <= 4  # 3 stored and the one in processing


def test_retention_time_deletes_old_messages_even_when_nothing_is_produced():
    # The consumers are down for the whole run: every message waits for retention_time, then its
    # producer (ack: on_complete) learns it was deleted, exactly 2 s after it was stored.
    res = run(SCENARIO, **{**DEFAULTS, "ack": "on_complete", "queue_extra": "    retention_time: 2s",
                           "arrivals": "constant(rate=2/s)", "duration": "20s",
                           "faults": "faults:\n  - {type: crash, target: orders.billing, at: 0s}"})
    q, g = _conserved(res)
    req = res.requests
    done = req[req["end_s"] < 20]
    assert len(done) == 35 and (done["outcome"] == "error").all()
    np.testing.assert_allclose(done["latency_s"].to_numpy(), 2.002)
    assert q["dropped_retention"] == 35 and g["backlog"] == 4


def test_messages_are_never_delivered_older_than_retention_time():
    res = run(SCENARIO, **{**DEFAULTS, "partitions": 2, "workers": 1, "process": "1s", "service": "1ms",
                           "queue_extra": "    retention_time: 2s", "arrivals": "constant(rate=4/s)",
                           "duration": "30s"})
    q, g = _conserved(res)
    assert q["dropped_retention"] > 0
    # delivered before it is 2 s old, then 1 hop + 1 s + 3 hops + 1 ms
    assert g["lag_s"]["max"] <= 2.0 + 1.005 + 1e-9
    assert g["backlog"] <= 2 * 8 + 1


def test_a_consumer_crash_redelivers_only_what_it_held():
    # one message every second, 500 ms of work: at 10.25 s the consumer holds the message of 10 s.
    # While it is down the broker keeps offering the next ones; refusals are not redeliveries.
    res = run(SCENARIO, **{**DEFAULTS, "partitions": 1, "workers": 1, "process": "500ms", "service": "1ms",
                           "arrivals": "constant(rate=1/s)", "duration": "30s",
                           "faults": "faults:\n  - {type: crash, target: orders.billing, at: 10.25s, duration: 5s}"})
    q, g = _conserved(res)
    assert g["redeliveries"] == 1
    assert g["duplicates"] == 0  # it had not called the target yet
    assert g["backlog"] <= 1


def test_backlog_peak_counts_what_the_warm_up_left():
    # 20 messages in the first 10 s (the warm-up), one processed per second: 10 left at its end,
    # and the backlog only shrinks afterwards.
    res = run(SCENARIO, **{**DEFAULTS, "partitions": 1, "workers": 1, "process": "1s", "service": "1ms",
                           "latency": "0s", "warmup": "10s", "duration": "30s",
                           "arrivals": "constant(rate=2/s), stop: 10s"})
    q = res.summary["components"]["orders"]
    assert q["produced"] == 0
    assert q["backlog_max"] == q["backlog_max_per_partition"][0] >= 9
    assert q["backlog"] == 0


def test_bad_retry_delay(tmp_path):
    from tests.helpers import assert_bad

    text = textwrap.dedent(SCENARIO).format(**{**DEFAULTS, "group_extra": ", retry_delay: 0s"})
    assert_bad(tmp_path, text, "consumer_groups.billing.retry_delay", "greater than 0")


# --- property-based: random queues under random faults ----------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FAULTS = {
    "consumer": "{type: crash, target: orders.billing, at: %ss, duration: %ss}",
    "broker": "{type: crash, target: orders, at: %ss, duration: %ss}",
    "target": "{type: crash, target: svc, at: %ss, duration: %ss}",
    "loss": "{type: packet_loss, groups: [[orders], [orders.billing]], probability: 0.3, at: %ss, duration: %ss}",
}


@st.composite
def queues(draw):
    ms = lambda lo, hi: f"{draw(st.integers(lo, hi))}ms"  # noqa: E731
    queue_extra = []
    if draw(st.booleans()):
        queue_extra.append(f"    retention: {draw(st.integers(1, 20))}")
    if draw(st.booleans()):
        queue_extra.append(f"    retention_time: {ms(300, 3000)}")
    group_extra = f", retry_delay: {ms(10, 200)}"
    if draw(st.booleans()):
        group_extra += f", max_attempts: {draw(st.integers(1, 3))}"
        if draw(st.booleans()):
            group_extra += ", dead_letter: dlq"
    groups = "      audit: {workers: 1, process_time: exponential(mean=%s)}" % ms(1, 30) if draw(st.booleans()) else ""
    if groups and draw(st.booleans()):
        queue_extra.append("    complete_when: billing")
    faults = [FAULTS[k] % (draw(st.integers(0, 8)), draw(st.integers(1, 4)))
              for k in draw(st.lists(st.sampled_from(sorted(FAULTS)), max_size=3))]
    capacity = draw(st.sampled_from(["", ", queue_capacity: 2"]))
    return dict(
        seed=draw(st.integers(0, 1000)), duration="10s", partitions=draw(st.integers(1, 4)),
        workers=draw(st.integers(1, 5)), ack=draw(st.sampled_from(["on_enqueue", "on_complete"])),
        queue_extra="\n".join(queue_extra), group_extra=group_extra, groups=groups,
        process=f"exponential(mean={ms(1, 20)})" if draw(st.booleans()) else "0s",
        service=f"exponential(mean={ms(1, 50)}){capacity}",
        arrivals=f"poisson(rate={draw(st.integers(10, 150))}/s)",
        more="  dlq: {type: server, workers: 1, service_time: 1ms}",
        faults="faults:\n" + "\n".join(f"  - {f}" for f in faults) if faults else "",
    ), faults


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queues())
def test_invariants_of_random_queues_under_random_faults(case):
    kw, faults = case
    with pytest.MonkeyPatch.context() as mp:
        res, watch = _watched(mp, **kw)
    q = res.summary["components"]["orders"]
    backlogs = []
    for name in q["consumer_groups"]:
        _, g = _conserved(res, name)
        backlogs.append(g["backlog"])
        assert g["duplicates"] <= g["redeliveries"]  # processing twice needs a second delivery
    # per partition, the slowest group's backlog (not always the same group in every partition)
    assert max(backlogs) <= q["backlog"] <= sum(backlogs)
    assert q["dropped_retention"] <= q["produced"]
    assert watch.backwards == 0
    if not any("orders.billing" in f and "crash" in f for f in faults):
        # (after a consumer crash, calls it had made may still be running when the message comes again)
        assert watch.most_at_once == 1
    if kw["ack"] == "on_complete":
        assert res.summary["requests"]["ok"] <= q["produced"]
