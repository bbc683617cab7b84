"""Message queues: ordering, at-least-once delivery, dead letters, retention, the async pattern."""
import numpy as np
import pytest

from simulator.sampling.rng import mix64
from tests.helpers import run
from tests.helpers import assert_bad
from tests.theory import batch_means_ci

QUEUE = """
name: q
duration: {duration}
components:
  orders:
    type: queue
    partitions: {partitions}
    ack: {ack}
    consumer_groups:
      billing: {{workers: {workers}, process_time: {process}{extra}}}
{more}
workloads:
  shop: {{arrivals: {arrivals}, target: orders, keys: uniform(n=1000)}}
{faults}
"""


def _q(duration="20s", partitions=1, ack="on_enqueue", workers=1, process="100ms", extra="", more="",
       arrivals="constant(rate=1/s)", faults=""):
    return run(QUEUE, duration=duration, partitions=partitions, ack=ack, workers=workers, process=process,
               extra=extra, more=more, arrivals=arrivals, faults=faults)


def test_async_ack_is_immediate_and_completion_is_reported_apart():
    res = _q()
    lat = res.requests["latency_s"].to_numpy()
    np.testing.assert_allclose(lat, 0.0)  # acknowledged once stored
    q = res.summary["components"]["orders"]
    assert q["completion_latency_s"]["mean"] == pytest.approx(0.1)
    assert q["consumer_groups"]["billing"]["lag_s"]["max"] == pytest.approx(0.1)


def test_ack_on_complete_answers_after_processing():
    res = _q(ack="on_complete")
    np.testing.assert_allclose(res.requests["latency_s"].to_numpy(), 0.1)


def test_each_partition_is_processed_in_order():
    res = _q(duration="60s", partitions=4, workers=4, ack="on_complete", process="exponential(mean=50ms)",
             arrivals="poisson(rate=60/s)")
    req = res.requests[res.requests["outcome"] == "ok"]
    # keys are not in the requests table: rebuild them from the workload's own stream
    import simulator
    from tests.helpers import scenario

    env, system = simulator.build(scenario(QUEUE, duration="60s", partitions=4, ack="on_complete", workers=4,
                                          process="exponential(mean=50ms)", extra="", more="",
                                          arrivals="poisson(rate=60/s)", faults=""))
    keys = [system.workloads[0].keys.next() for _ in range(int(req["id"].max()) + 1)]
    part = np.array([mix64(keys[i]) % 4 for i in req["id"]])
    reordered = 0
    for p in range(4):
        sel = req[part == p].sort_values("start_s")
        assert len(sel) > 100
        reordered += int((np.diff(sel["end_s"].to_numpy()) < 0).sum())
    assert reordered == 0


def test_one_partition_one_worker_is_an_mm1_queue():
    lam, mean = 60.0, 0.01
    res = _q(duration="2000s", ack="on_complete", process=f"exponential(mean={mean}s)",
             arrivals=f"poisson(rate={lam}/s)")
    req = res.requests.sort_values("start_s")
    got, half = batch_means_ci(req["latency_s"].to_numpy())
    assert abs(got - 1.0 / (1.0 / mean - lam)) <= half


def test_extra_workers_beyond_partitions_stay_idle():
    g = _q(partitions=2, workers=5).summary["components"]["orders"]["consumer_groups"]["billing"]
    assert g["idle_workers"] == 3


CRASH = """
faults:
  - {type: crash, target: orders.billing, at: 30s, duration: 5s}
"""
WORKER = """  billing-svc: {type: server, workers: 8, service_time: exponential(mean=40ms)}"""


def test_consumer_crash_redelivers_unacknowledged_messages_and_counts_duplicates():
    res = _q(duration="60s", partitions=4, workers=4, process="1ms", extra=", target: billing-svc", more=WORKER,
             arrivals="poisson(rate=50/s)", faults=CRASH)
    q = res.summary["components"]["orders"]
    g = q["consumer_groups"]["billing"]
    assert g["redeliveries"] > 0
    assert q["duplicates"] == g["duplicates"] > 0  # processed by the target, acknowledgement lost in the crash
    # at least once: nothing lost
    assert g["consumed"] + g["backlog"] == q["produced"]
    assert res.summary["components"]["billing-svc"]["served"] >= g["consumed"] + g["duplicates"] - 8


def test_messages_that_keep_failing_go_to_the_dead_letter_component():
    more = """  billing-svc: {type: server, workers: 1, service_time: 1ms}
  dlq: {type: server, workers: 1, service_time: 1ms}"""
    down = "faults:\n  - {type: crash, target: billing-svc, at: 0s, duration: 30s}"
    res = _q(duration="60s", extra=", target: billing-svc, max_attempts: 3, dead_letter: dlq, retry_delay: 10ms",
             more=more, arrivals="constant(rate=10/s)", process="1ms", faults=down)
    q = res.summary["components"]["orders"]
    g = q["consumer_groups"]["billing"]
    assert g["dead_lettered"] == 299  # every message of the first 30 s (at 0.1 s, ..., 29.9 s)
    assert g["failures"] == 3 * g["dead_lettered"]
    assert g["consumed"] == 300  # the rest, once the target is back
    assert res.summary["components"]["dlq"]["served"] == g["dead_lettered"]
    assert g["consumed"] + g["dead_lettered"] + g["backlog"] == q["produced"]


def test_retention_deletes_messages_a_slow_group_has_not_read():
    kept = _q(duration="60s", extra="", process="1s", arrivals="constant(rate=5/s)").summary["components"]["orders"]
    assert kept["dropped_retention"] == 0
    res = run(QUEUE.replace("ack: {ack}", "ack: {ack}\n    retention: 10"), duration="60s", partitions=1,
              ack="on_complete", workers=1, process="1s", extra="", more="", arrivals="constant(rate=5/s)",
              faults="")
    q = res.summary["components"]["orders"]
    g = q["consumer_groups"]["billing"]
    assert q["dropped_retention"] == g["lost_to_retention"] > 200
    assert q["backlog_max"] <= 11
    assert res.summary["requests"]["errors"] == q["dropped_retention"]  # on_complete producers learn it
    assert g["consumed"] + g["lost_to_retention"] + g["backlog"] == q["produced"]


def test_backlog_per_partition_is_in_the_time_series():
    res = _q(duration="20s", partitions=3, workers=1, process="50ms", arrivals="poisson(rate=30/s)")
    for col in ("orders.backlog", "orders.backlog.p0", "orders.backlog.p2", "orders.billing.utilization"):
        assert col in res.timeseries
    assert res.timeseries["orders.backlog"].max() > 0


BAD = """\
name: q
duration: 10s
components:
  orders: {type: queue, consumer_groups: {billing: GROUP}}
  svc: {type: server, service_time: 1ms}
workloads:
  w: {arrivals: poisson(rate=1/s), target: orders}
"""


@pytest.mark.parametrize("group,fragments", [
    ("{workers: 0, target: svc}", ["consumer_groups.billing", "at least one worker"]),
    ("{workers: 2, target: svx}", ["consumer_groups.billing.target", "unknown component 'svx'", "did you mean 'svc'"]),
    ("{workers: 2, dead_letter: svc}", ["needs 'max_attempts'"]),
    ("{workers: 2, max_attempts: 0}", ["max_attempts"]),
    ("{workers: 2, speed: 3}", ["unknown key 'speed'"]),
])
def test_bad_consumer_groups(tmp_path, group, fragments):
    assert_bad(tmp_path, BAD.replace("GROUP", group), *fragments, line=4)


def test_bad_queue_keys(tmp_path):
    assert_bad(tmp_path, BAD.replace("GROUP", "{workers: 1}").replace("type: queue,", "type: queue, complete_when: mail,"),
         "complete_when", "'mail' is not one of the consumer groups")
    assert_bad(tmp_path, BAD.replace("consumer_groups: {billing: GROUP}", "consumer_groups: {}"), "consumer_groups")


def test_a_broker_crash_refuses_producers_and_delivery_resumes_from_committed_offsets():
    broker_down = "faults:\n  - {type: crash, target: orders, at: 20s, duration: 5s}"
    res = _q(duration="60s", partitions=2, workers=2, process="20ms", extra=", target: billing-svc", more=WORKER,
             arrivals="constant(rate=20/s)", faults=broker_down)
    q = res.summary["components"]["orders"]
    g = q["consumer_groups"]["billing"]
    assert res.summary["requests"]["errors"] == 100  # 5 s of producers at 20/s refused
    assert g["consumed"] + g["backlog"] == q["produced"] == res.summary["requests"]["ok"]
    ts = res.timeseries
    during = ts[(ts["start_s"] >= 20.5) & (ts["end_s"] <= 24.5)]
    assert (during["orders.billing.utilization"] == 0).all()  # nothing delivered while the broker is down
