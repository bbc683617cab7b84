"""Failure causes everywhere (docs/outputs.md): the data tier's, the queues' and the caches' own failures
have causes, and a failure decided by a fault's effect (a crashed, partitioned, lossy or erroring
component or link) names that fault in the `fault` and `fault_description` columns."""
import numpy as np
import pandas as pd

import simulator
from simulator.engine.request import CAUSE_NAMES
from tests.helpers import run, scenario
from tests.test_consensus import raft
from tests.test_failover import PARTITION, SPLIT_WORKLOADS, three
from tests.test_message_queue import QUEUE


def _failed(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df.outcome != "ok") & (df.outcome != "in_flight")]


def _by(df: pd.DataFrame, *cols: str) -> dict:
    counts = _failed(df).groupby(list(cols), observed=True, dropna=False).size()
    return {k: int(v) for k, v in counts.items()}


OVERLAP = """
name: overlap
seed: 5
duration: 70s
warmup: 0s
network: {default_latency: 1ms, timeout: 300ms}
components:
  lb: {type: load_balancer, backends: [app]}
  app: {type: server, replicas: 2, workers: 8, service_time: exponential(mean=5ms), calls: [db]}
  db: {type: server, workers: 8, service_time: exponential(mean=2ms)}
workloads:
  web: {arrivals: poisson(rate=100/s), target: lb}
faults:
  - {type: partition, groups: [[app], [db]], at: 20s, duration: 20s}
  - {type: crash, target: db, at: 30s, duration: 20s}
  - {type: crash, target: db, at: 45s, duration: 15s}
  - {type: error, target: app, probability: 30%, at: 5s, duration: 10s}
  - {type: packet_loss, groups: [[app], [db]], probability: 20%, at: 62s, duration: 6s}
  - {type: packet_loss, groups: [[app], [db]], probability: 20%, at: 64s, duration: 6s}
"""


def test_overlapping_faults_each_name_the_fault_that_failed_the_request():
    r = simulator.run(scenario(OVERLAP))
    df = r.requests
    f = _failed(df)
    assert (df[df.outcome == "ok"].fault == -1).all() and df[df.outcome == "ok"].fault_description.isna().all()

    def faults(cause: str, lo: float, hi: float) -> set:
        rows = f[(f.cause == cause) & (f.start_s >= lo) & (f.start_s < hi)]
        assert len(rows) > 0, (cause, lo, hi)
        return set(zip(rows.fault, rows.fault_description))

    # the error fault alone (5-15 s): every injected error names it
    assert faults("injected_error", 0, 70) == {(3, "error 30% app")}
    # the partition alone (20-30 s), then overlapping the first crash (30-40 s): calls are cut before
    # they reach the crashed db, so the cut is what failed them, and it names the partition
    assert faults("cut", 20, 30) == faults("cut", 30, 39.7) == {(0, "partition app | db")}
    # the partition healed: the db is down, held by crash 1 alone (40-45 s), by both crashes (45-50 s:
    # the one that started first is named), then by crash 2 alone (50-60 s): each names its own
    assert faults("down", 40.01, 45) == faults("down", 45, 49.99) == {(1, "crash db")}
    assert faults("down", 50.01, 60) == {(2, "crash db")}
    # two losses on the same link (62-68 and 64-70 s): a lost message names the first still active
    # (requests that start before 67 s reach the db before 68 s: the queue at app is shorter than 1 s)
    assert faults("lost", 62, 63.9) == faults("lost", 64, 67) == {(4, "packet loss 20% app | db")}
    assert faults("lost", 68.01, 69.6) == {(5, "packet loss 20% app | db")}
    # no failure outside the windows, and every failure inside one names a fault
    assert len(f[f.end_s < 5]) == 0 and (f.fault >= 0).all()
    assert {c for c in f.cause} <= {"injected_error", "cut", "down", "crashed", "lost"}


def test_the_fault_columns_survive_the_parquet_file(tmp_path):
    r = simulator.run(scenario(OVERLAP))
    path = tmp_path / "requests.parquet"
    r.write_requests(path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, r.requests)
    assert set(back.fault.unique()) == {-1, 0, 1, 2, 3, 4, 5}


def test_a_quorum_missed_because_replicas_crashed_is_no_quorum_and_names_a_crash():
    text = """
    name: qq
    duration: 40s
    network: {default_latency: 1ms, timeout: 500ms}
    components:
      store: {type: replicated, replicas: [a, b, c], mode: quorum}
      a: {type: database, connections: 64, read_time: 1ms, write_time: 2ms}
      b: {type: database, connections: 64, read_time: 1ms, write_time: 2ms}
      c: {type: database, connections: 64, read_time: 1ms, write_time: 2ms}
    workloads:
      w: {arrivals: constant(rate=100/s), target: store, keys: uniform(n=1000), mix: {write: 0.5, read: 0.5}}
    faults:
      - {type: crash, target: b, at: 20s, duration: 10s}
      - {type: crash, target: c, at: 25s, duration: 10s}
    """
    df = simulator.run(scenario(text)).requests
    # b alone down: a majority (a, c) still answers; b and c down (25-30 s): every read and write fails
    assert _by(df, "outcome", "cause", "component") == {("error", "no_quorum", "store"): 500}
    f = _failed(df)
    assert f.start_s.min() >= 25 and f.start_s.max() < 30
    # the quorum was missed because of a crash: the fault of the last replica failure is kept
    assert set(f.fault) <= {0, 1} and set(f.fault_description) == {"crash b", "crash c"} & set(f.fault_description)


def test_failover_writes_refused_by_a_fenced_leader_or_while_no_leader_is_known():
    df = three(PARTITION, workloads=SPLIT_WORKLOADS, bzone="us", czone="us", delay="1s", fo=", fencing: true").requests
    causes = _by(df, "workload", "cause", "component")
    # eu writes reach the old leader a, fenced once its lease expired (test_failover checks the count)
    assert causes[("eu", "fenced", "a")] == 875
    # us writes: cut from a by the partition, then refused while b is being promoted
    assert causes[("us", "cut", "a")] > 0 and causes[("us", "no_leader", "store")] > 0
    assert set(causes) == {("eu", "fenced", "a"), ("us", "cut", "a"), ("us", "no_leader", "store")}
    f = _failed(df)
    assert (f[f.cause == "cut"].fault == 0).all()  # the partition is fault 0
    assert (f[f.cause != "cut"].fault == -1).all()  # a protocol's refusal names no fault


def test_consensus_without_a_majority_refuses_and_abandons_with_their_causes():
    faults = "  - {type: crash, target: b, at: 3s, duration: 5s}\n  - {type: crash, target: c, at: 3s, duration: 5s}"
    df = raft(faults=faults, rate=400).requests
    causes = _by(df, "outcome", "cause", "component")
    assert causes[("rejected", "no_leader", "a")] > 1000  # a steps down: no leader anywhere
    assert causes[("error", "leader_lost", "a")] > 0 or causes[("rejected", "leader_lost", "a")] > 0
    f = _failed(df)
    down = f[f.cause == "down"]
    assert set(zip(down.component, down.fault)) <= {("b", 0), ("c", 1)} and len(down) > 0


def test_message_queue_dead_letters_and_retention_have_causes():
    more = """  billing-svc: {type: server, workers: 1, service_time: 1ms}
  dlq: {type: server, workers: 1, service_time: 1ms}"""
    down = "faults:\n  - {type: crash, target: billing-svc, at: 0s, duration: 30s}"
    df = run(QUEUE, duration="60s", partitions=1, ack="on_complete", workers=1, process="1ms",
             extra=", target: billing-svc, max_attempts: 3, dead_letter: dlq, retry_delay: 10ms", more=more,
             arrivals="constant(rate=10/s)", faults=down).requests
    # every message of the first 30 s is dead-lettered (test_message_queue); its producer learns why, and
    # which fault made its processing fail (the crash of the consumer's target)
    assert _by(df, "cause", "component", "fault") == {("dead_letter", "orders", 0): 299}
    df = run(QUEUE.replace("ack: {ack}", "ack: {ack}\n    retention: 10"), duration="60s", partitions=1,
             ack="on_complete", workers=1, process="1s", extra="", more="", arrivals="constant(rate=5/s)",
             faults="").requests
    assert _by(df, "cause", "component", "fault") == {("retention", "orders", -1): 229}


def test_a_cache_crash_fails_its_waiting_callers_as_crashed_and_an_error_fault_as_injected():
    text = """
    name: cc
    seed: 2
    duration: 30s
    warmup: 0s
    network: {default_latency: 1ms}
    components:
      cache: {type: cache, mode: read_through, capacity: 100, backing: db, ttl: 1s}
      db: {type: database, connections: 4, read_time: 50ms, write_time: 50ms}
    workloads:
      w: {arrivals: poisson(rate=50/s), target: cache, keys: uniform(n=10000)}
    faults:
      - {type: crash, target: cache, at: 10s, duration: 1s}
      - {type: error, target: db, probability: 50%, at: 20s, duration: 2s}
    """
    df = simulator.run(scenario(text)).requests
    causes = _by(df, "cause", "component", "fault")
    # callers waiting on the database (each fetch takes 50 ms: ~2.5 in flight) when the cache crashed
    assert causes[("crashed", "cache", 0)] > 0
    assert causes[("down", "cache", 0)] > 0
    assert causes[("injected_error", "db", 1)] > 0
    assert set(causes) == {("crashed", "cache", 0), ("down", "cache", 0), ("injected_error", "db", 1)}


def test_callers_coalesced_on_a_failed_fetch_share_its_cause():
    """Three hot keys, a 10 ms TTL: most misses wait on a fetch already in flight (coalesced). While
    the database fails every call (fault 0), every failed caller, not only the one whose request made
    the fetch, has the fetch's cause."""
    text = """
    name: co
    seed: 2
    duration: 10s
    warmup: 0s
    network: {default_latency: 1ms}
    components:
      cache: {type: cache, mode: read_through, capacity: 100, backing: db, ttl: 10ms}
      db: {type: database, connections: 4, read_time: 50ms, write_time: 50ms}
    workloads:
      w: {arrivals: poisson(rate=200/s), target: cache, keys: uniform(n=3)}
    faults:
      - {type: error, target: db, probability: 100%, at: 5s, duration: 2s}
    """
    r = simulator.run(scenario(text))
    causes = _by(r.requests, "outcome", "cause", "component", "fault")
    assert set(causes) == {("error", "injected_error", "db", 0)}
    # ~400 failures from only ~40 fetches (2 s / 50 ms per fetch, 3 keys, 4 connections)
    assert causes[("error", "injected_error", "db", 0)] > 300
    assert r.summary["components"]["cache"]["coalesced_misses"] > 300


def test_every_cause_is_documented():
    from pathlib import Path
    doc = (Path(__file__).parent.parent / "docs" / "outputs.md").read_text()
    for name in CAUSE_NAMES:
        assert f"| `{name}` |" in doc, name


CHECKED = """
name: checked-causes
seed: 2
duration: 30s
components:
  db: {type: database, connections: 4, read_time: 1ms, write_time: 2ms}
workloads:
  clients: {target: db, users: 3, think_time: exponential(mean=20ms), timeout: 1s, checkable: true,
            keys: uniform(n=3), mix: {read: 0.5, write: 0.5}}
history: true
faults:
  - {type: crash, target: db, at: 10s, duration: 5s}
"""


def test_a_checkable_workloads_failures_carry_their_cause_and_fault():
    df = run(CHECKED).requests
    failed = _failed(df)
    assert len(failed) > 0
    # every failure is a refusal by the crashed database, inside the crash's window
    assert set(failed["cause"].astype(str)) == {"down"} and set(failed["component"].astype(str)) == {"db"}
    assert set(failed["fault"]) == {0} and ((failed.start_s >= 10) & (failed.start_s < 15)).all()
