"""Automatic failover of a replicated store: heartbeat detection, promotion, lost writes, split brain, fencing.

Latencies are constant unless a test says otherwise, so every time below is exact: with a one-way
latency L, a heartbeat sent at t arrives at t + L; a follower that last heard the leader at h declares
it dead at h + timeout; the new leader takes writes `promotion_delay` later.
"""
import math

import numpy as np
import pytest

import simulator
from simulator.engine.request import ERROR
from tests.helpers import run, scenario

L = 0.001  # one-way latency everywhere

THREE = """
name: failover
seed: {seed}
duration: {duration}
network: {{default_latency: {latency}, timeout: 500ms}}
components:
  store: {{type: replicated, replicas: [a, b, c], mode: {mode}{extra},
          failover: {{interval: {interval}, timeout: {timeout}, promotion_delay: {delay}{fo}}}}}
  a: {{type: database, zone: eu, connections: 64, read_time: 1ms, write_time: 2ms}}
  b: {{type: database, zone: {bzone}, connections: 64, read_time: 1ms, write_time: 2ms}}
  c: {{type: database, zone: {czone}, connections: 64, read_time: 1ms, write_time: 2ms}}
workloads:
{workloads}
faults:
{faults}
"""

WRITES = "  w: {{arrivals: constant(rate={rate}/s), target: store, keys: uniform(n=1000), mix: {{write: 1}}, zone: {zone}}}"


def three(faults, mode="async", extra="", interval="1s", timeout="3s", delay="2s", fo="", rate=100,
          workloads=None, latency="1ms", bzone="eu", czone="eu", seed=0, duration="60s", zone="eu"):
    workloads = workloads or WRITES.format(rate=rate, zone=zone)
    return run(THREE, mode=mode, extra=extra, interval=interval, timeout=timeout, delay=delay, fo=fo,
               workloads=workloads, faults=faults, latency=latency, bzone=bzone, czone=czone, seed=seed,
               duration=duration)


def store(res):
    return res.summary["components"]["store"]


def failover_events(res):
    return [e for e in res.events if e["kind"] == "failover"]


# --- detection ------------------------------------------------------------------------------------
@pytest.mark.parametrize("interval,timeout,delay,crash_at", [
    (1.0, 3.0, 2.0, 20.5),
    (0.5, 1.2, 0.0, 20.3),
    (2.0, 5.0, 1.0, 21.0),
    (0.25, 0.6, 0.1, 20.9),
])
def test_detection_time_is_exactly_a_function_of_interval_and_timeout(interval, timeout, delay, crash_at):
    # The last heartbeat leaves at the last multiple of `interval` before the crash and arrives L
    # later; both followers declare the leader dead `timeout` after that, and the best of them
    # leads `promotion_delay` later.
    res = three(f"  - {{type: crash, target: a, at: {crash_at}s, duration: 100s}}",
                interval=f"{interval}s", timeout=f"{timeout}s", delay=f"{delay}s")
    last_beat = math.floor(crash_at / interval) * interval
    detected = last_beat + L + timeout
    fo = store(res)["failover"]
    (record,) = fo["failovers"]
    assert record["detected_at_s"] == pytest.approx(detected, abs=1e-9)
    assert record["detection_s"] == pytest.approx(detected - crash_at, abs=1e-9)
    assert record["at_s"] == pytest.approx(detected + delay, abs=1e-9)
    assert record["unavailable_s"] == pytest.approx(detected + delay - crash_at, abs=1e-9)
    assert (record["old_leader"], record["new_leader"], record["epoch"]) == ("a", "b", 1)
    (event,) = failover_events(res)
    assert event["at_s"] == pytest.approx(detected + delay, abs=1e-9)
    assert "b promoted to leader (epoch 1" in event["description"]
    assert store(res)["leader"] == "b"


def test_a_partition_is_detected_from_the_first_heartbeat_that_did_not_arrive():
    # The leader is up but cut off: its onset is the first missing heartbeat (21 s), not the cut (20.5 s).
    res = three("  - {type: partition, groups: [[a], [b, c]], at: 20.5s, duration: 100s}", zone="us",
                bzone="us", czone="us")
    (record,) = store(res)["failover"]["failovers"]
    assert record["detected_at_s"] == pytest.approx(20.0 + L + 3.0, abs=1e-9)
    assert record["detection_s"] == pytest.approx(20.0 + L + 3.0 - 21.0, abs=1e-9)


def test_no_fault_no_failover_and_the_same_requests_as_without_failover():
    # Heartbeats use no database worker and with constant latencies the write path costs the same.
    text = THREE.replace(",\n          failover: {{interval: {interval}, timeout: {timeout}, promotion_delay: {delay}{fo}}}", "")
    kw = dict(mode="async", extra="", interval="1s", timeout="3s", delay="0s", fo="", latency="1ms", bzone="eu",
              czone="eu", seed=0, duration="30s", faults="  []", workloads=WRITES.format(rate=100, zone="eu"))
    plain = run(text, **kw)
    with_fo = run(THREE, **kw)
    assert failover_events(with_fo) == [] and store(with_fo)["failover"]["epoch"] == 0
    for col in ("start", "end", "outcome"):
        np.testing.assert_array_equal(plain.columns[col], with_fo.columns[col])


def test_a_crash_shorter_than_the_timeout_causes_no_failover():
    # back at 21.7 s: the heartbeat of 22 s arrives before the timeout (23.001 s)
    res = three("  - {type: crash, target: a, at: 20.5s, duration: 1.2s}")
    assert failover_events(res) == [] and store(res)["leader"] == "a"


# --- writes during the failover -------------------------------------------------------------------
def _outcomes_by_start(res):
    """Start times and outcomes of the requests answered before the end (the last may be in flight)."""
    c = res.columns
    done = c["start"] < res.summary["duration_s"] - 0.1
    return c["start"][done], c["outcome"][done]


def test_writes_fail_until_the_promotion_then_reach_the_new_leader():
    res = three("  - {type: crash, target: a, at: 20.5s, duration: 100s}")
    start, outcome = _outcomes_by_start(res)
    promoted = 20.0 + L + 3.0 + 2.0
    assert (outcome[start < 20.49] == 0).all()
    assert not (outcome[(start > 20.5) & (start < promoted - 0.01)] == 0).any()
    assert (outcome[start > promoted + 0.01] == 0).all()
    fo = store(res)["failover"]
    # refused by the client library during the 2 s promotion (100 writes/s), the rest by the dead leader
    assert fo["writes_refused_during_failover"] == pytest.approx(200, abs=1)
    assert store(res)["replicas"]["b"]["writes_led"] == pytest.approx(100 * (60 - promoted), abs=2)


def test_writes_during_the_promotion_can_wait_for_the_new_leader():
    res = three("  - {type: crash, target: a, at: 20.5s, duration: 100s}", fo=", writes_during_failover: wait")
    start, outcome = _outcomes_by_start(res)
    promoted = 20.0 + L + 3.0 + 2.0
    waiting = (start > 20.0 + L + 3.0 + 0.01) & (start < promoted - 0.01)
    assert (outcome[waiting] == 0).all() and np.count_nonzero(waiting) > 190
    lat = (res.columns["end"][:len(start)] - start)[waiting]
    # each waited at the client library until the promotion, then went on as usual: 1 ms to b, its
    # 2 ms write, 1 ms back to the library and 1 ms back to the client; the ~200 released at once
    # queue for b's 64 connections: 2 ms more per batch of 64, in the order they came
    extra = lat - (promoted - start[waiting] + 3 * L + 0.002)
    batches = np.round(extra / 0.002)
    np.testing.assert_allclose(extra, batches * 0.002, atol=1e-9)
    assert batches[0] == 0 and batches[-1] == 3 and (np.diff(batches) >= 0).all()
    assert store(res)["failover"]["writes_refused_during_failover"] == 0


# --- lost writes ----------------------------------------------------------------------------------
def test_async_failover_loses_writes_in_proportion_to_replication_lag():
    # A write committed on the leader at t is acknowledged at t + L (the reply to the client) and
    # shipped then; it reaches the follower D later. A crash at c loses the writes committed in
    # (c - L - D, c): those in flight to the followers or not yet shipped. Commits are Poisson at
    # rate r, so the count is Poisson with mean r (L + D). Summed over k seeds the mean is k r (L + D)
    # and the standard deviation its square root; we allow 4 of them (a false failure about 1 in 15,000).
    workloads = "  w: {arrivals: poisson(rate=2000/s), target: store, keys: uniform(n=1000000), mix: {write: 1}, zone: eu}"
    seeds = range(3)
    totals = {}
    for d_ms in (20, 80):
        lost = 0
        for seed in seeds:
            res = run(THREE.replace("network: {{", "network: {{links: [{{between: [eu, us], latency: "
                                    + f"{d_ms}ms" + "}}], "),
                      mode="async", extra="", interval="1s", timeout="3s", delay="0s", fo="", latency="1ms",
                      bzone="us", czone="us", seed=seed, duration="5s", workloads=workloads,
                      faults="  - {type: crash, target: a, at: 1.5s, duration: 100s}")
            st = store(res)
            assert st["failover"]["failovers"][0]["lost_writes"] == st["lost_writes"]
            lost += st["lost_writes"]
        mean = len(seeds) * 2000 * (L + d_ms / 1000)
        assert abs(lost - mean) < 4 * math.sqrt(mean), (d_ms, lost, mean)
        totals[d_ms] = lost
    assert totals[80] > 2.5 * totals[20]  # (1 + 80) / (1 + 20) = 3.9 times the lag, about as many lost


@pytest.mark.parametrize("mode,extra", [("sync", ""), ("semi_sync", ", acks: 1")])
def test_sync_and_semi_sync_failovers_lose_no_acknowledged_write(mode, extra):
    # The same crash under a load where async loses writes: a write is acknowledged only once a
    # follower applied it, and the promotion picks the follower holding the most acknowledged writes.
    links = "network: {{links: [{{between: [eu, us], latency: 40ms}}], "
    workloads = "  w: {arrivals: poisson(rate=2000/s), target: store, keys: uniform(n=1000000), mix: {write: 1}, zone: eu}"
    kw = dict(extra=extra, interval="1s", timeout="3s", delay="0s", fo="", latency="1ms", bzone="eu", czone="us",
              seed=1, duration="5s", workloads=workloads, faults="  - {type: crash, target: a, at: 1.5s, duration: 100s}")
    safe = run(THREE.replace("network: {{", links), mode=mode, **kw)
    unsafe = run(THREE.replace("network: {{", links), mode="async", **kw)
    assert store(unsafe)["lost_writes"] > 0
    st = store(safe)
    assert st["failover"]["failovers"][0]["new_leader"] == "b"  # the nearer follower: it has everything
    assert st["lost_writes"] == 0 and st["lost_write_keys"] == []


# --- split brain and fencing ----------------------------------------------------------------------
SPLIT_WORKLOADS = """\
  eu: {arrivals: constant(rate=50/s), target: store, keys: uniform(n=100000), mix: {write: 1}, zone: eu}
  us: {arrivals: constant(rate=50/s), start: 0.005s, target: store, keys: uniform(n=100000), mix: {write: 1}, zone: us}"""
PARTITION = "  - {type: partition, groups: [[eu], [us]], at: 20.5s, duration: 20s}"


def _split(fencing):
    return three(PARTITION, workloads=SPLIT_WORKLOADS, bzone="us", czone="us", delay="1s",
                 fo=f", fencing: {str(fencing).lower()}")


def _ok_writes(res, workload, lo, hi):
    c = res.columns
    wl = res.requests["workload"].to_numpy() == workload
    return np.count_nonzero(wl & (c["outcome"] == 0) & (c["start"] > lo) & (c["start"] < hi))


def test_without_fencing_a_partitioned_leader_keeps_acknowledging_writes_then_loses_them():
    res = _split(False)
    st = store(res)
    fo = st["failover"]
    promoted = 20.0 + L + 3.0 + 1.0
    (record,) = fo["failovers"]
    assert record["at_s"] == pytest.approx(promoted, abs=1e-9)
    # eu clients cannot reach b: they keep writing to a, which acknowledges every write (split brain)
    assert _ok_writes(res, "eu", 20.5, 40.5) == pytest.approx(50 * 20, abs=1)
    assert fo["split_brain_writes"] == pytest.approx(50 * (40.5 - promoted), abs=2)
    # at the promotion b lacks a's writes since the cut; after the heal a learns of epoch 1 and is
    # demoted, discarding its split-brain writes: every eu write acknowledged in the partition is lost
    assert record["lost_writes"] == pytest.approx(50 * (promoted - 20.5), abs=2)
    assert st["lost_writes"] == record["lost_writes"] + fo["split_brain_writes"]
    assert fo["unreconciled_writes"] == 0
    rejoin = [e for e in failover_events(res) if "rejoined" in e["description"]]
    assert len(rejoin) == 1 and 40.5 < rejoin[0]["at_s"] < 41.6
    assert f"{fo['split_brain_writes']} split-brain writes discarded" in rejoin[0]["description"]


def test_with_fencing_the_old_leader_refuses_writes_once_its_lease_expires():
    res = _split(True)
    st = store(res)
    fo = st["failover"]
    lease_end = 20.0 + 3.0  # the last round a quorum acknowledged was sent at 20 s
    promoted = 20.0 + L + 3.0 + 1.0
    assert fo["split_brain_writes"] == 0
    # eu writes are acknowledged until the lease ends, refused after (fenced) until the heal
    assert _ok_writes(res, "eu", 20.5, lease_end - 0.01) == pytest.approx(50 * (lease_end - 20.5), abs=1)
    assert _ok_writes(res, "eu", lease_end + 0.01, 40.5) == 0
    assert fo["writes_fenced"] == pytest.approx(50 * (40.5 - lease_end), abs=2)
    # the only writes lost are the ones acknowledged before the lease ended (asynchronous lag)
    assert st["lost_writes"] == fo["failovers"][0]["lost_writes"] == pytest.approx(50 * (lease_end - 20.5), abs=2)
    # never two leaders: the last write a acknowledged started before b took any
    c, wl = res.columns, res.requests["workload"].to_numpy()
    a_last = c["end"][(wl == "eu") & (c["outcome"] == 0) & (c["start"] > 20.5) & (c["start"] < 40.5)].max()
    assert a_last < promoted
    assert _ok_writes(res, "us", promoted + 0.01, 60) == pytest.approx(50 * (60 - promoted), abs=2)


# --- overlapping faults ---------------------------------------------------------------------------
def test_the_candidate_crashing_during_its_promotion_aborts_it_and_the_next_best_is_promoted():
    # a crashes at 20.5 s; b and c agree at 23.001 s and b is chosen; b crashes at 24 s, before its
    # promotion (25.001 s): c is promoted 2 s later. b recovers at 34 s as a follower and catches up.
    res = three("  - {type: crash, target: a, at: 20.5s, duration: 100s}\n"
                "  - {type: crash, target: b, at: 24s, duration: 10s}")
    st = store(res)
    fo = st["failover"]
    assert fo["aborted_promotions"] == 1
    (record,) = fo["failovers"]
    assert (record["new_leader"], record["at_s"]) == ("c", pytest.approx(26.0, abs=1e-9))
    aborted = [e for e in failover_events(res) if "aborted" in e["description"]]
    assert len(aborted) == 1 and aborted[0]["at_s"] == pytest.approx(24.0)
    start, outcome = _outcomes_by_start(res)
    assert (outcome[start > 26.01] == 0).all()
    assert st["leader"] == "c" and st["replicas"]["b"]["backlog"] == 0  # b caught up from c


def test_the_new_leader_crashing_after_its_promotion_causes_a_second_failover():
    # Overlapping crashes: a (20.5-60 s), then b (30-60 s) once it leads: c is promoted at epoch 2.
    res = three("  - {type: crash, target: a, at: 20.5s, duration: 39.5s}\n"
                "  - {type: crash, target: b, at: 30.5s, duration: 29.5s}",
                fo=", quorum: 1", duration="70s")
    fo = store(res)["failover"]
    first, second = fo["failovers"]
    assert (first["new_leader"], first["epoch"]) == ("b", 1)
    # b's heartbeats started at its promotion (25.001 s), so the last before its crash left at 30.001 s
    assert (second["old_leader"], second["new_leader"], second["epoch"]) == ("b", "c", 2)
    assert second["detected_at_s"] == pytest.approx(30.001 + L + 3.0, abs=1e-9)
    # both old leaders come back at 60 s and are demoted by the heartbeats of epoch 2
    rejoined = sorted(e["description"].split()[1] for e in failover_events(res) if "rejoined" in e["description"])
    assert rejoined == ["a", "b"]
    assert store(res)["leader"] == "c"


@pytest.mark.parametrize("fencing", [False, True])
def test_a_paused_leader_wakes_up_stale(fencing):
    # a pauses 20.5-30.5 s: b is promoted at 25.001 s. Writes that reached a during the pause were
    # held, and so were b's heartbeats; a resumes believing it leads and takes what waited in the
    # order it came: first the writes (without fencing it accepts them: split brain, acknowledged and
    # then lost; with fencing its lease ended at 23 s and it refuses them), then b's heartbeat of
    # epoch 1, which demotes it at once.
    res = three("  - {type: pause, target: a, at: 20.5s, duration: 10s}", fo=f", fencing: {str(fencing).lower()}")
    st = store(res)
    fo = st["failover"]
    held = 100 * (20.0 + L + 3.0 - 20.5)  # writes sent to a until the declaration (then the clients wait for b)
    rejoin = [e for e in failover_events(res) if "rejoined" in e["description"]]
    assert len(rejoin) == 1 and rejoin[0]["at_s"] == pytest.approx(30.5, abs=1e-9)
    start, outcome = _outcomes_by_start(res)
    during = (start > 20.51) & (start < 23.0)
    if fencing:
        assert fo["split_brain_writes"] == 0 and fo["writes_fenced"] == pytest.approx(held, abs=2)
        assert not (outcome[during] == 0).any()
        assert st["lost_writes"] == 0
    else:
        assert fo["split_brain_writes"] == pytest.approx(held, abs=2)
        assert (outcome[during] == 0).all()  # acknowledged ~10 s late, by a stale leader
        assert st["lost_writes"] == fo["split_brain_writes"]
    assert (outcome[start > 25.01] == 0).all()


def test_failover_is_deterministic_with_random_latencies():
    kw = dict(latency="exponential(mean=2ms)", faults="  - {type: crash, target: a, at: 20.5s, duration: 10s}\n"
                                                     "  - {type: partition, groups: [[a, b], [c]], at: 40s, duration: 10s}")
    one, two = three(**kw), three(**kw)
    assert store(one) == store(two) and one.events == two.events
    assert store(one)["failover"]["failovers"]


def test_two_replicas_fail_over_on_the_follower_alone_and_a_warmup_keeps_only_later_figures():
    # With two replicas the follower cannot ask anyone: it promotes itself (quorum 1 by default).
    # The first failover (a crashes at 10.5 s) is in the warm-up; the second (b, leading, crashes
    # at 40.5 s while a is back) is measured.
    res = run("""
        name: two
        duration: 60s
        warmup: 30s
        network: {default_latency: 1ms}
        components:
          store: {type: replicated, replicas: [a, b], mode: async, failover: {interval: 1s, timeout: 3s}}
          a: {type: database, connections: 8, read_time: 1ms, write_time: 2ms}
          b: {type: database, connections: 8, read_time: 1ms, write_time: 2ms}
        workloads:
          w: {arrivals: constant(rate=100/s), target: store, keys: uniform(n=1000), mix: {write: 1}}
        faults:
          - {type: crash, target: a, at: 10.5s, duration: 10s}
          - {type: crash, target: b, at: 40.5s, duration: 100s}
    """)
    st = store(res)
    (record,) = st["failover"]["failovers"]  # the warm-up's is not reported
    assert (record["old_leader"], record["new_leader"], record["epoch"]) == ("b", "a", 2)
    # b's heartbeats started at its promotion (13.001 s): the last before its crash left at 40.001 s
    assert record["at_s"] == pytest.approx(40.001 + L + 3.0, abs=1e-9)
    assert st["leader"] == "a"
    # the timeline keeps every instant event, warm-up included (as the charts draw the whole run)
    assert [e["description"].split(", ")[1].split(" (")[0] if "promoted" in e["description"] else "rejoined"
            for e in failover_events(res)] == ["b promoted to leader", "rejoined", "a promoted to leader"]


def test_an_old_leader_back_during_the_promotion_is_demoted_on_contact():
    # a is down 20.5-24.5 s, inside the promotion (declared 23.001 s, b leads at 25.001 s). Its
    # heartbeat of 25 s reaches b and c, which adopted epoch 1 at the declaration: answered "stale"
    # at 25.002 s, it steps down; meanwhile the clients (who reach b) were told to wait.
    res = three("  - {type: crash, target: a, at: 20.5s, duration: 4s}")
    st = store(res)
    (record,) = st["failover"]["failovers"]
    assert (record["new_leader"], record["at_s"]) == ("b", pytest.approx(25.001, abs=1e-9))
    (rejoin,) = [e for e in failover_events(res) if "rejoined" in e["description"]]
    assert rejoin["at_s"] == pytest.approx(25.002, abs=1e-9)
    assert "0 split-brain writes discarded" in rejoin["description"]
    assert st["lost_writes"] == 0 and st["failover"]["split_brain_writes"] == 0
    start, outcome = _outcomes_by_start(res)
    assert (outcome[start > 25.01] == 0).all()
    assert st["replicas"]["a"]["backlog"] == 0  # a caught up from b


# --- lease reads ----------------------------------------------------------------------------------
# Readers on both sides of a partition that isolates the leader's zone (eu: a; us: b, c). The eu
# readers and the us writers are checkable (so the checker sees every eu read against every write);
# the us and eur readers are plain open-loop reads (the other side keeps reading; the records of a
# checkable workload's requests carry no failure cause, the eur ones do). Only eu processes read in
# the history, so every stale read the checker finds is an eu read.
LEASE_WORKLOADS = """\
  eu: {target: store, zone: eu, users: 3, think_time: exponential(mean=10ms), timeout: 1s, checkable: true,
       keys: uniform(n=4), mix: {read: 1}}
  usw: {target: store, zone: us, users: 2, think_time: exponential(mean=10ms), timeout: 1s, checkable: true,
        keys: uniform(n=4), mix: {write: 1}}
  usr: {arrivals: constant(rate=50/s), target: store, keys: uniform(n=4), mix: {read: 1}, zone: us}
  eur: {arrivals: constant(rate=50/s), target: store, keys: uniform(n=4), mix: {read: 1}, zone: eu}"""


LEASE_THREE = THREE.replace("duration: {duration}\n", "duration: {duration}\nhistory: true\n")


def _lease_run(lease_reads, faults=PARTITION):
    return run(LEASE_THREE, mode="async", extra=", read_from: leader", interval="1s", timeout="3s", delay="1s",
               fo=f", fencing: true, lease_reads: {str(lease_reads).lower()}", workloads=LEASE_WORKLOADS,
               faults=faults, latency="1ms", bzone="us", czone="us", seed=0, duration="60s")


def _stale_read_times(res):
    from simulator.consistency.anomalies import find
    from simulator.consistency.models import model
    found = find(model("register"), res.op_history, limit=100000)
    return np.array([a.ops[-1].invoke_time for a in found.found if a.kind == "stale-read"])


def _reads(res, workload, lo, hi):
    """Outcomes of `workload`'s reads that started in (lo, hi)."""
    c = res.columns
    sel = (res.requests["workload"].to_numpy() == workload) & (c["start"] > lo) & (c["start"] < hi)
    return c["outcome"][sel]


@pytest.mark.parametrize("lease_reads", [False, True])
def test_lease_reads_refuse_the_deposed_leaders_reads_instead_of_serving_stale_ones(lease_reads):
    res = _lease_run(lease_reads)
    fo = store(res)["failover"]
    lease_end = 20.0 + 3.0  # the last heartbeat round a quorum acknowledged was sent at 20 s
    promoted = 20.0 + L + 3.0 + 1.0
    heal = 40.5
    (record,) = fo["failovers"]
    assert record["at_s"] == pytest.approx(promoted, abs=1e-9)
    stale = _stale_read_times(res)
    eu_during = _reads(res, "eu", lease_end + 0.01, heal - 0.01)
    eu_before = _reads(res, "eu", 20.5, lease_end - 0.01)
    # the eu side reads a's data alike until the lease ends (a still holds it, no newer leader yet)
    assert len(eu_before) > 100 and (eu_before == 0).all()
    # the us readers reach b once it leads, with or without the option
    assert (_reads(res, "usr", promoted + 0.01, 59.9) == 0).all()
    if not lease_reads:
        # a answers every eu read; once b acknowledges us writes they are stale (4 keys, ~200 us
        # writes/s: each key is overwritten within milliseconds, so nearly every read after the first
        # us writes is stale; 1,000 is far below the ~17 s x ~300 reads/s of the window)
        assert (eu_during == 0).all() and len(eu_during) > 3000
        assert np.count_nonzero((stale > promoted) & (stale < heal)) > 1000
        assert "reads_fenced" not in fo  # the figures appear only with the option
    else:
        # a refuses every eu read from its lease's end to the heal: failed, none stale
        assert len(eu_during) > 3000 and not (eu_during == 0).any()
        assert np.count_nonzero((stale > lease_end) & (stale < heal)) == 0
        # every eu read that failed from just before the lease's end on was refused by a's lease check
        # (none cut: the eu clients and a are on the same side; after the heal they read at b)
        assert fo["reads_fenced"] == sum(np.count_nonzero(_reads(res, w, lease_end - 0.01, 60) == ERROR)
                                         for w in ("eu", "eur"))
        r = res.requests
        during = (r["workload"] == "eur") & (r["start_s"] > lease_end + 0.01) & (r["start_s"] < heal - 0.01)
        assert during.sum() == pytest.approx(50 * (heal - lease_end), abs=2)
        assert set(r["cause"][during].astype(str)) == {"fenced"} and set(r["component"][during].astype(str)) == {"a"}
        assert fo["reads_refused_not_leader"] == 0
        # the history calls them definite failures (a read that failed had no effect)
        h = res.history
        eu_fails = h[(h["f"] == "read") & (h["type"] == "fail") & (h["invoke_s"] > lease_end + 0.01)
                     & (h["invoke_s"] < heal - 0.01)]
        assert len(eu_fails) == len(eu_during)
        # after the heal eu clients reach b and read fresh data again
        assert (_reads(res, "eu", heal + 1.2, 59.9) == 0).all()  # (the last ones are in flight at the end)


def test_lease_reads_with_overlapping_partitions_and_a_pause_of_the_deposed_leader():
    # The second partition (30-45 s) overlaps the first (20.5-40.5 s): the sides stay apart until
    # 45 s. a pauses 35-38 s inside both: the eu reads that reach it meanwhile are held and, at its
    # resume, refused by the lease check (or time out at the client first). No eu read is answered
    # from the lease's end (23 s) to the heal, so none is stale; after it eu reads at b again.
    faults = PARTITION + """
  - {type: partition, groups: [[eu], [us]], at: 30s, duration: 15s}
  - {type: pause, target: a, at: 35s, duration: 3s}"""
    res = _lease_run(True, faults)
    lease_end, heal = 23.0, 45.0
    (record,) = store(res)["failover"]["failovers"]
    assert record["new_leader"] == "b"
    stale = _stale_read_times(res)
    assert np.count_nonzero((stale > lease_end) & (stale < heal)) == 0
    assert not (_reads(res, "eu", lease_end + 0.01, heal - 0.01) == 0).any()
    assert not (_reads(res, "eur", lease_end + 0.01, heal - 0.01) == 0).any()
    assert (_reads(res, "eu", heal + 1.2, 59.9) == 0).all() and len(_reads(res, "eu", heal + 1.2, 59.9)) > 1000
    r = res.requests
    held = (r["workload"] == "eur") & (r["start_s"] > 35.01) & (r["start_s"] < 37.9)
    assert set(r["outcome"][held].astype(str)) <= {"error", "timed_out"} and held.sum() > 100
