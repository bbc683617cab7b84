"""mode consensus: a Raft-like log under crashes, partitions and pauses (models/consensus.py).

Latencies are constant (L one way) unless a test says otherwise, so message times are exact: a
heartbeat round leaves every 50 ms, a follower that last heard the leader at h times out at h + T
(T drawn from the election-timeout range), asks for pre-votes (one round trip) and then votes (one
more round trip).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator
from tests.helpers import run, scenario

L = 0.001  # one-way latency everywhere

RAFT = """
name: raft
seed: {seed}
duration: {duration}
network: {{default_latency: {latency}, timeout: 200ms}}
components:
  store: {{type: replicated, replicas: {replicas}, mode: consensus,
          consensus: {{election_timeout: [{lo}, {hi}], heartbeat: 50ms{extra}}}}}
{databases}
workloads:
{workloads}
faults:
{faults}
"""

DB = "  {name}: {{type: database, zone: {zone}, connections: 64, read_time: 1ms, write_time: 2ms}}"
MIX = ("  w{zone}: {{arrivals: poisson(rate={rate}/s), target: store, keys: uniform(n=50), "
       "mix: {{write: 0.5, read: 0.5}}, zone: {zone}, timeout: 1s}}")


def raft(faults="  []", names=("a", "b", "c"), zones=("x", "x", "x"), lo="150ms", hi="300ms", extra="",
         rate=100, client_zones=("x",), seed=0, duration="10s", latency="1ms", workloads=None):
    dbs = "\n".join(DB.format(name=n, zone=z) for n, z in zip(names, zones))
    workloads = workloads or "\n".join(MIX.format(zone=z, rate=rate) for z in client_zones)
    text = RAFT.format(seed=seed, duration=duration, latency=latency, replicas="[" + ", ".join(names) + "]",
                       lo=lo, hi=hi, extra=extra, databases=dbs, workloads=workloads, faults=faults)
    return simulator.run(scenario(text))


def cons(res):
    return res.summary["components"]["store"]["consensus"]


def store(res):
    return res.summary["components"]["store"]


def assert_safe(res):
    """The invariants that hold under every fault timeline."""
    s = store(res)
    c = s["consensus"]
    assert c["safety_violations"] == 0  # never two leaders in one term
    assert s["lost_writes"] == 0  # every elected leader held every write acknowledged before
    assert c["acknowledged_not_on_majority"] == 0  # acknowledged writes are on a majority at the end
    assert s["stale_reads"] == 0  # reads are linearizable: never older than an acknowledged write
    # and, from the timeline itself rather than the model's counter: one leader per term
    leads = {}
    for e in res.events:
        if e["kind"] == "leader" and " leads term " in e["description"]:
            who, term = e["description"].split(": ", 1)[-1].split(" leads term ")
            assert leads.setdefault(int(term), who) == who, f"two leaders in term {term}"


# --- the steady state -------------------------------------------------------------------------------
def test_no_faults_one_leader_commit_takes_one_round_trip():
    res = raft()
    c = cons(res)
    assert c["term"] == 1 and c["elections"] == 0 and c["leaders_elected"] == 0
    assert c["roles"] == {"a": "leader", "b": "follower", "c": "follower"}
    assert c["commit_latency_s"]["max"] == pytest.approx(2 * L, abs=1e-9)  # append out, answer back
    assert c["time_without_leader_s"] == 0.0
    assert res.summary["availability"] == 1.0
    assert store(res)["reads_checked"] > 300
    assert_safe(res)
    # every replica applies every committed entry to its database, through the VersionedWrite path;
    # followers learn the last commits with the next append, so they may trail by the final few
    writes = [res.summary["components"][n]["writes"] for n in "abc"]
    assert writes[0] > 300 and 0 <= writes[0] - min(writes) <= 5


def test_a_store_in_another_mode_is_unchanged_by_this_module():
    # the same scenario in async mode has no consensus section and no consensus streams
    text = RAFT.replace("mode: consensus,\n          consensus: {{election_timeout: [{lo}, {hi}], heartbeat: 50ms{extra}}}",
                        "mode: async")
    dbs = "\n".join(DB.format(name=n, zone="x") for n in "abc")
    res = simulator.run(scenario(text, seed=0, duration="5s", latency="1ms", replicas="[a, b, c]", databases=dbs,
                                 workloads=MIX.format(zone="x", rate=50), faults="  []"))
    assert "consensus" not in store(res)


# --- a leader crash -----------------------------------------------------------------------------------
def test_leader_crash_elects_a_follower_and_keeps_every_acknowledged_write():
    res = raft("  - {type: crash, target: a, at: 3.001s, duration: 3s}", rate=200)
    c = cons(res)
    assert c["leaders_elected"] == 1 and c["term"] == 2
    (outage,) = c["outages_s"]
    # last heartbeat left at 3.0 s and arrived at 3.001; the first follower times out T later (T in
    # [150, 300] ms), then a pre-vote and a vote round trip: leader at 3.001 + T + 4L
    assert 0.150 + 4 * L - 1e-9 <= outage <= 0.300 + 4 * L + 1e-9
    assert c["roles"]["a"] == "follower" and c["terms"]["a"] == 2  # rejoined as a follower
    kinds = [e["kind"] for e in res.events]
    assert "election" in kinds and "leader" in kinds
    assert res.summary["availability"] < 1.0  # the outage was visible to clients
    assert_safe(res)


def test_election_time_follows_the_timeout_range():
    # Raft paper, section 9.3: after a leader crash the first follower to time out wins. With two
    # followers, the outage is min(T1, T2) + 4L - 1 ms (the crash comes 1 ms after the last
    # heartbeat left; see the test above) with T uniform on [lo, hi]: E[min] = lo + w/3 and
    # Var[min] = w^2/18 (the minimum of two uniforms). Over N independent seeds the mean's standard
    # error is w/sqrt(18 N); the tolerance is 4 standard errors (a fixed-seed test that would fail by
    # chance with probability < 1e-4). Runs with a split vote (|T1 - T2| under a few L, a few %) take
    # another round and are left out; that shifts the conditional mean by well under 1 ms.
    lo, hi, n = 0.150, 0.300, 120
    outages = []
    for seed in range(n):
        res = raft("  - {type: crash, target: a, at: 1.001s, duration: 5s}", duration="2s", rate=5, seed=seed)
        c = cons(res)
        assert c["leaders_elected"] >= 1
        if c["split_votes"] == 0:
            outages.append(c["outages_s"][0])
    outages = np.array(outages) - (4 * L - 0.001)
    w = hi - lo
    assert len(outages) > 0.85 * n
    assert outages.min() >= lo - 1e-9 and outages.max() <= hi + 1e-9
    tol = 4 * w / np.sqrt(18 * len(outages))
    assert abs(outages.mean() - (lo + w / 3)) < tol
    # and the spread: the standard deviation of the min of two uniforms is w / sqrt(18) (within 25 %)
    assert outages.std() == pytest.approx(w / np.sqrt(18), rel=0.25)


def test_no_randomness_splits_votes_for_ever_and_a_range_breaks_the_tie():
    # [150ms, 150ms]: both followers time out at the same instant, vote for themselves, and draw the
    # same timeout again: split vote after split vote (Raft paper, figure 16's top curve). With
    # constant latencies nothing breaks the symmetry.
    crash = "  - {type: crash, target: a, at: 1.001s, duration: 10s}"
    fixed = cons(raft(crash, lo="150ms", hi="150ms", duration="4s", rate=5))
    assert fixed["split_votes"] >= 10
    assert fixed["leaders_elected"] == 0
    assert fixed["time_without_leader_s"] == pytest.approx(4 - 1.001, abs=1e-6)
    ranged = cons(raft(crash, lo="150ms", hi="155ms", duration="4s", rate=5))
    assert ranged["leaders_elected"] == 1
    assert ranged["time_without_leader_s"] < 0.5


def test_a_wider_range_splits_fewer_votes():
    # Benchmark-like, over 30 seeds and five replicas (four followers race): a split needs two
    # timeouts within a few L of each other, likelier in a 5 ms range than in a 150 ms one.
    def splits(hi):
        total, outage = 0, 0.0
        for seed in range(30):
            c = cons(raft("  - {type: crash, target: a, at: 1.001s, duration: 5s}", names="abcde", zones="xxxxx",
                          lo="150ms", hi=hi, duration="2.5s", rate=5, seed=seed))
            total += c["split_votes"]
            outage += c["time_without_leader_s"]
        return total, outage / 30

    narrow, narrow_outage = splits("155ms")
    wide, wide_outage = splits("300ms")
    assert narrow > wide
    assert narrow >= 5
    assert wide_outage < 0.300 + 0.02  # at most one timeout range plus the rounds


# --- partitions and pauses --------------------------------------------------------------------------
def test_leader_in_the_minority_steps_down_after_its_lease_and_the_majority_elects():
    # a alone in zone e, b and c in w; clients on both sides. At 3.02 s e is cut off from w.
    res = raft("  - {type: partition, groups: [[e], [w]], at: 3.02s, duration: 4s}", zones=("e", "w", "w"),
               client_zones=("e", "w"), rate=100)
    c = cons(res)
    assert c["step_downs"] == 1
    (down,) = [e for e in res.events if "steps down" in e["description"]]
    # the last round a majority acknowledged left at 3.00 s: lease (150 ms, the timeout min) later the
    # next heartbeat tick finds it expired
    assert 3.00 + 0.150 - 1e-6 <= down["at_s"] <= 3.00 + 0.150 + 0.050 + 1e-6
    assert c["leaders_elected"] >= 1
    assert c["roles"]["a"] == "follower"
    assert max(c["terms"].values()) == c["terms"]["a"]  # it learned of the newer term after the heal
    assert c["writes_rejected"] > 100  # the minority side refused (definite failures)
    # old leader's writes between the cut and its step-down: appended, never committed, answered error
    assert 0 < c["writes_uncertain"] < 0.2 * 50
    assert_safe(res)
    by_outcome = res.requests.groupby(["workload", "outcome"]).size()
    assert by_outcome[("we", "rejected")] > 100
    assert by_outcome[("ww", "ok")] > 0.9 * by_outcome[("ww",)].sum()


def test_a_paused_leader_wakes_as_a_follower_of_a_newer_term():
    res = raft("  - {type: pause, target: a, at: 2.001s, duration: 1s}", rate=100)
    c = cons(res)
    assert c["leaders_elected"] == 1
    assert c["roles"]["a"] == "follower"
    assert c["terms"]["a"] == c["term"] == 2
    assert_safe(res)


def test_overlapping_partitions_and_a_crash_inside_them():
    faults = """  - {type: partition, groups: [[a], [b, c]], at: 2s, duration: 3s}
  - {type: partition, groups: [[b], [a, c]], at: 3s, duration: 3s}
  - {type: crash, target: c, at: 4s, duration: 0.5s}"""
    res = raft(faults, rate=150, duration="10s")
    c = cons(res)
    assert c["leaders_elected"] >= 1
    assert sum(1 for r in c["roles"].values() if r == "leader") == 1  # healed: one leader again
    assert_safe(res)


def test_read_lease_and_wait_settings_keep_the_invariants():
    faults = """  - {type: partition, groups: [[e], [w]], at: 2s, duration: 2s}
  - {type: crash, target: b, at: 5s, duration: 1s}"""
    for extra in (", reads: lease", ", unavailable: wait", ", pre_vote: false"):
        res = raft(faults, zones=("e", "w", "w"), client_zones=("e", "w"), extra=extra, duration="8s")
        assert_safe(res)
        assert cons(res)["leaders_elected"] >= 1


def test_wait_holds_calls_during_an_election_instead_of_refusing():
    crash = "  - {type: crash, target: a, at: 2.001s, duration: 3s}"
    fail = cons(raft(crash, rate=300, seed=1))
    wait = cons(raft(crash, rate=300, seed=1, extra=", unavailable: wait"))
    assert fail["writes_rejected"] + fail["reads_rejected"] > 0
    assert wait["writes_rejected"] + wait["reads_rejected"] < fail["writes_rejected"] + fail["reads_rejected"]


def test_same_seed_same_result_and_streams_are_per_replica():
    faults = "  - {type: crash, target: a, at: 1.001s, duration: 2s}"
    a = raft(faults, duration="3s", seed=4)
    b = raft(faults, duration="3s", seed=4)
    assert a.summary == b.summary


# --- random fault timelines -------------------------------------------------------------------------
FAULT = st.tuples(
    st.sampled_from(["crash", "pause", "partition", "latency"]),
    st.sampled_from(["a", "b", "c"]),
    st.integers(5, 50),  # start, tenths of a second
    st.integers(1, 30),  # duration, tenths of a second
)


def _fault(kind, target, at, dur):
    at_s, dur_s = at / 10, dur / 10
    if kind == "partition":
        others = [x for x in "abc" if x != target]
        return f"  - {{type: partition, groups: [[{target}], [{', '.join(others)}]], at: {at_s}s, duration: {dur_s}s}}"
    if kind == "latency":
        others = [x for x in "abc" if x != target]
        return (f"  - {{type: latency, groups: [[{target}], [{', '.join(others)}]], at: {at_s}s, "
                f"duration: {dur_s}s, add: 200ms}}")
    return f"  - {{type: {kind}, target: {target}, at: {at_s}s, duration: {dur_s}s}}"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faults=st.lists(FAULT, min_size=1, max_size=4), seed=st.integers(0, 1000))
def test_random_fault_timelines_never_break_safety(faults, seed):
    text = "\n".join(_fault(*f) for f in faults)
    res = raft(text, rate=100, duration="8s", seed=seed, latency="exponential(mean=2ms)")
    assert_safe(res)


# --- neighbours ---------------------------------------------------------------------------------------
def test_database_errors_on_a_follower_are_applied_again_and_lose_nothing():
    # an error fault on b's database fails half of what it is asked to apply for 2 s, overlapping a
    # leader crash: b applies those entries again (after a heartbeat) and catches up
    faults = """  - {type: error, target: b, probability: 0.5, at: 1s, duration: 2s}
  - {type: crash, target: a, at: 2.001s, duration: 1s}"""
    res = raft(faults, rate=200, duration="6s")
    assert_safe(res)
    comps = res.summary["components"]
    c = cons(res)
    assert c["commit_index"]["b"] == c["commit_index"]["c"] > 400
    # every committed write reached b's database in the end (re-applied; versions are idempotent)
    assert comps["b"]["writes"] >= comps["c"]["writes"] > 400


def test_a_cache_in_front_of_a_consensus_store():
    workloads = ("  w: {arrivals: poisson(rate=200/s), target: front, keys: uniform(n=50), "
                 "mix: {write: 0.3, read: 0.7}, zone: x, timeout: 1s}")
    text = RAFT.replace("{databases}", "{databases}\n  front: {{type: cache, capacity: 20, backing: store, "
                                       "mode: write_through}}")
    dbs = "\n".join(DB.format(name=n, zone="x") for n in "abc")
    res = simulator.run(scenario(text, seed=2, duration="6s", latency="1ms", replicas="[a, b, c]", lo="150ms",
                                 hi="300ms", extra="", databases=dbs, workloads=workloads,
                                 faults="  - {type: crash, target: a, at: 2.001s, duration: 2s}"))
    assert_safe(res)
    assert cons(res)["leaders_elected"] == 1
    assert res.summary["components"]["front"]["hit_ratio"] > 0
