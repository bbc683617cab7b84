"""Eventual consistency (`mode: eventual`): divergence under a partition, anti-entropy convergence,
last-writer-wins on each replica's own clock (lost updates under clock skew), version vectors
(siblings counted as conflicts), overlapping partitions, a crash during anti-entropy, session
guarantees.

Hand traces: two replicas, `db-eu` (zone eu) and `db-us` (zone us), 40 ms apart, 1 ms within a
zone, constant service times (write 5 ms, read 2 ms: anti-entropy is served as a read), so every
instant below is exact. A client in a zone writes to the nearest replica: a write issued at t is
applied there at t + 1 ms + 5 ms and pushed to the other replica, where it is applied 40 ms + 5 ms
later. Anti-entropy runs every second (at 1 s, 2 s, ...); with two replicas each syncs with the
other every round: the snapshot crosses in 40 ms and is merged after the 2 ms service.
"""
from __future__ import annotations

import pytest

import simulator
from simulator.engine.request import ERROR, OK, TIMED_OUT, Request
from simulator.simulation.runner import schedule_faults

SCENARIO = """
name: ev
seed: 1
duration: {duration}
network:
  default_latency: 1ms
  links:
    - {{between: [eu, us], latency: 40ms}}
components:
  store: {{type: replicated, replicas: [db-eu, db-us], mode: eventual, resolve: {resolve}{extra}}}
  db-eu: {{type: database, zone: eu, connections: 16, read_time: 2ms, write_time: 5ms}}
  db-us: {{type: database, zone: us, connections: 16, read_time: 2ms, write_time: 5ms}}
workloads:
  idle: {{arrivals: constant(rate=1/s), target: store}}  # never started: the trace issues its own requests
faults:
{faults}
"""
CUT = "  - {{type: partition, groups: [[eu], [us]], at: {at}, duration: {duration}}}\n"
AE = ", anti_entropy: {interval: 1s}"


class _Caller:
    def __init__(self, zone: str) -> None:
        self.name, self.zone = f"client-{zone}", zone


class Trace:
    """A scenario built by hand; `write(t, zone)` and `read(t, zone)` issue one operation on key 1
    from a client in `zone` at time t; `at(t, fn)` calls fn(store) at t and keeps the result."""

    def __init__(self, resolve: str = "lww", extra: str = AE, faults: str = "", duration: str = "40s",
                 text: str | None = None) -> None:
        if text is None:
            text = SCENARIO.format(resolve=resolve, extra=extra, faults=faults or "  []\n", duration=duration)
            if not faults:
                text = text.replace("faults:\n  []\n", "")
        self.scenario = simulator.loads_scenario(text)
        self.env, self.system = simulator.build(self.scenario)
        schedule_faults(self.env, self.system)
        self.store = self.system.get("store")
        self.mode = self.store.replication
        self.proxies = {}
        self.outcomes: list[tuple[float, str, str, int, object]] = []
        self.seen: dict[float, object] = {}
        self._id = 0

    def proxy(self, zone: str):
        if zone not in self.proxies:
            self.proxies[zone] = self.store.route(_Caller(zone))
        return self.proxies[zone]

    def _issue(self, t: float, zone: str, op: str, replica: int | None = None) -> None:
        def go(_timer):
            self._id += 1
            req = Request(self._id, t, 0, op, 1)
            proxy = self.proxy(zone)
            done = lambda outcome: self.outcomes.append((round(self.env.now, 9), zone, op, outcome, req.meta))  # noqa: E731
            if replica is None:
                proxy.handle(req, done)
            else:  # a read sent to a chosen replica, as `read_from: any` might draw it
                self.mode.read_at(replica, proxy, req, done, self.store.acked.latest.get(1, 0), False)
        self.env.call_later(t, go)

    def write(self, t: float, zone: str) -> None:
        self._issue(t, zone, "write")

    def read(self, t: float, zone: str, replica: int | None = None) -> None:
        self._issue(t, zone, "read", replica)

    def at(self, t: float, fn) -> None:
        self.env.call_later(t, lambda _timer: self.seen.__setitem__(t, fn(self.mode)))

    def run(self) -> dict:
        self.env.run(until=self.scenario.duration)
        return self.store.stats(self.scenario.duration)


def held(mode, replica: int) -> list[int]:
    """The write ids replica `replica` holds for key 1 (siblings in id order)."""
    return [v.wid for v in mode.state[replica].get(1, ())]


def test_a_partition_with_writes_on_both_sides_diverges_and_converges_after_heal():
    tr = Trace(faults=CUT.format(at="10s", duration="10.25s"))
    tr.write(12.0, "eu")  # id 1, applied on db-eu at 12.006; its push to db-us is cut
    tr.write(13.0, "us")  # id 2, applied on db-us at 13.006
    tr.read(15.0, "eu")
    tr.read(15.0, "us")
    tr.at(15.5, lambda m: (len(m.divergent), held(m, 0), held(m, 1)))
    tr.at(21.041, lambda m: (held(m, 0), held(m, 1)))
    tr.at(21.0425, lambda m: (len(m.divergent), held(m, 0), held(m, 1)))
    st = tr.run()
    # Both sides answered during the partition, each with its own side's write.
    assert [(t, z, op, o, v) for t, z, op, o, v in tr.outcomes] == [
        (12.007, "eu", "write", OK, 1), (13.007, "us", "write", OK, 2),
        (15.004, "eu", "read", OK, 1), (15.004, "us", "read", OK, 2)]
    assert tr.seen[15.5] == (1, [1], [2])
    # Heal at 20.25; the anti-entropy round at 21 s: each snapshot crosses (40 ms) and is merged after
    # the 2 ms service, at 21.042 on both replicas. LWW: id 2 has the later stamp (13.006 > 12.006).
    assert tr.seen[21.041] == ([1], [2])
    assert tr.seen[21.0425] == (0, [2], [2])
    assert st["convergence"] == [{"heal_at_s": 20.25, "converged_after_s": pytest.approx(21.042 - 20.25)}]
    # within the bound: two full rounds of anti-entropy after the heal (n = 2: 2 s) plus a round trip
    assert st["convergence"][0]["converged_after_s"] <= 2 * 1.0 + 0.084
    assert st["lost_updates"] == 1  # the eu write: concurrent, and its stamp was smaller
    assert st["divergent_keys"] == 0 and st["conflicts"] == 0
    assert st["pushes_failed"] == 2  # each side's push across the cut
    assert st["stale_reads"] == 1  # the eu read at 15 s: id 2 had been acknowledged at 13.007


def test_without_anti_entropy_a_missed_push_stays_divergent():
    tr = Trace(extra="", faults=CUT.format(at="10s", duration="10.25s"))
    tr.write(12.0, "eu")
    tr.write(13.0, "us")
    st = tr.run()
    assert st["divergent_keys"] == 1
    assert st["convergence"] == [{"heal_at_s": 20.25, "converged_after_s": None}]


@pytest.mark.parametrize("skew,winner,lost", [
    ("", 2, 1),  # true clocks: the us write (stamped 1.016) beats the eu write (1.006)
    ("  - {type: clock_skew, target: db-us, offset: -10s, at: 0s}\n", 1, 1),  # db-us 10 s behind: its write loses
])
def test_lww_on_each_replicas_own_clock_loses_the_skewed_behind_nodes_concurrent_write(skew, winner, lost):
    tr = Trace(faults=skew)
    tr.write(1.0, "eu")   # id 1 at db-eu 1.006; reaches db-us at 1.051
    tr.write(1.01, "us")  # id 2 at db-us 1.016: concurrent (db-us had not seen id 1 yet)
    tr.at(5.0, lambda m: (held(m, 0), held(m, 1), sorted(w for _k, w in m.lost)))
    st = tr.run()
    assert tr.seen[5.0] == ([winner], [winner], [3 - winner])
    assert st["lost_updates"] == lost


def test_lww_with_a_clock_behind_loses_even_a_later_write_that_saw_the_earlier_one():
    tr = Trace(faults="  - {type: clock_skew, target: db-us, offset: -10s, at: 0s}\n")
    tr.write(1.0, "eu")  # id 1, on db-us at 1.051
    tr.write(2.0, "us")  # id 2: after id 1 (its vector dominates), stamped 2.006 - 10 = -7.994: dropped
    tr.read(3.0, "us")
    st = tr.run()
    assert held(tr.mode, 0) == held(tr.mode, 1) == [1]
    assert st["lost_updates"] == 1
    assert tr.outcomes[-1][2:] == ("read", OK, 1)  # the client wrote id 2 and reads id 1 back
    assert st["stale_reads"] == 1


def test_version_vectors_keep_concurrent_writes_as_siblings_and_count_one_conflict():
    tr = Trace(resolve="version_vectors", faults=CUT.format(at="10s", duration="10.25s"))
    tr.write(12.0, "eu")  # id 1
    tr.write(12.5, "eu")  # id 2 supersedes id 1 (same replica: it saw it)
    tr.write(13.0, "us")  # id 3, concurrent with both
    tr.read(22.0, "eu")
    tr.at(21.5, lambda m: (held(m, 0), held(m, 1), len(m.divergent)))
    tr.write(25.0, "us")  # id 4: db-us holds both siblings, so it supersedes them
    tr.at(26.0, lambda m: (held(m, 0), held(m, 1)))
    st = tr.run()
    assert tr.seen[21.5] == ([2, 3], [2, 3], 0)
    assert tr.seen[26.0] == ([4], [4])
    assert st["conflicts"] == 1  # the sibling set {2, 3}, counted once although both replicas formed it
    assert st["max_siblings"] == 2
    assert st["lost_updates"] == 0
    # A read of siblings answers the newest id among them (a multi-value answer would carry both).
    assert tr.outcomes[-2][2:] == ("read", OK, 3)


def test_overlapping_partitions_converge_only_after_the_last_heal():
    tr = Trace(faults=CUT.format(at="10s", duration="10.25s") + CUT.format(at="15s", duration="10.25s"))
    tr.write(12.0, "eu")
    tr.write(13.0, "us")
    st = tr.run()
    # heal of the first at 20.25 (still cut by the second), of the second at 25.25; the round at 26 s
    # merges both at 26.042
    assert st["convergence"] == [
        {"heal_at_s": 20.25, "converged_after_s": pytest.approx(26.042 - 20.25)},
        {"heal_at_s": 25.25, "converged_after_s": pytest.approx(26.042 - 25.25)},
    ]


def test_a_crash_during_anti_entropy_delays_convergence_to_the_next_round():
    faults = CUT.format(at="10s", duration="10.25s") + "  - {type: crash, target: db-eu, at: 21.01s, duration: 0.5s}\n"
    tr = Trace(faults=faults)
    tr.write(12.0, "eu")
    tr.write(13.0, "us")
    tr.at(21.5, lambda m: (held(m, 0), held(m, 1)))
    st = tr.run()
    # Round at 21 s: db-eu's snapshot (sent before the crash) is merged on db-us at 21.042 (it keeps id 2),
    # but db-us's snapshot reaches db-eu at 21.040 while it is down (refused) and db-us's answer to db-eu's
    # sync comes back at 21.082 to a crashed db-eu (lost with the connection). db-eu keeps what it held
    # through the crash (id 1) and converges in the round at 22 s: merged at 22.042.
    assert tr.seen[21.5] == ([1], [2])
    # 2 syncs a round fail across the cut in the rounds at 10 s ... 20 s (22), plus the refused one
    assert st["anti_entropy_failures"] == 22 + 1
    assert st["convergence"] == [{"heal_at_s": 20.25, "converged_after_s": pytest.approx(22.042 - 20.25)}]
    assert held(tr.mode, 0) == held(tr.mode, 1) == [2]


SESSION = """
name: sess
seed: 3
duration: 60s
network:
  default_latency: 1ms
  links:
    - {{between: [eu, us], latency: 40ms}}
components:
  store: {{type: replicated, replicas: [db-eu, db-us], mode: eventual, read_from: any, anti_entropy: {{interval: 1s}}{session}}}
  db-eu: {{type: database, zone: eu, connections: 16, read_time: 2ms, write_time: 5ms}}
  db-us: {{type: database, zone: us, connections: 16, read_time: 2ms, write_time: 5ms}}
workloads:
  web: {{arrivals: constant(rate=4/s), target: store, keys: uniform(n=1), mix: {{read: 0.5, write: 0.5}}, attributes: {{region: {{eu: 1}}}}}}
faults:
  - {{type: latency, groups: [[db-eu], [db-us]], add: 1s, at: 0s}}
"""


def _session(session: str) -> dict:
    extra = f", session: {session}" if session else ""
    return simulator.run(simulator.loads_scenario(SESSION.format(session=extra))).summary["components"]["store"]


def test_session_guarantees_remove_their_violations():
    # One session (the eu clients: one workload, no user ids) writes to db-eu, the nearest, and reads
    # from either replica (read_from: any). Replication from db-eu to db-us is 1 s late (a latency
    # fault between the replicas only), so a read at db-us within ~1 s of the session's write misses
    # it (read-your-writes), and a read at db-us after one at db-eu can go back in time (monotonic).
    off = _session("")
    ryw = _session("read_your_writes")
    mono = _session("monotonic_reads")
    assert off["read_your_writes_violations"] > 0 and off["monotonic_read_violations"] > 0
    assert ryw["read_your_writes_violations"] == 0
    # The replica each read goes to is drawn the same in every run, and a redirect draws nothing:
    # each read that would have violated was sent on to the replica holding the write instead.
    assert ryw["session_redirects"] == off["read_your_writes_violations"]
    assert mono["monotonic_read_violations"] == 0 and mono["session_redirects"] > 0
    # Redirected reads return the session's own writes: fewer stale reads than without a session.
    assert ryw["stale_reads"] < off["stale_reads"]


@pytest.mark.parametrize("session", ["none", "read_your_writes"])
def test_read_your_writes_across_a_replica_partition_redirects_or_fails_never_violates(session):
    # The replicas cannot reach each other (a partition naming them, 0-30 s); the eu client reaches both.
    faults = ("  - {type: partition, groups: [[db-eu], [db-us]], at: 0s, duration: 30s}\n"
              "  - {type: crash, target: db-eu, at: 3s, duration: 7s}\n")
    tr = Trace(extra=f"{AE}, session: {session}", faults=faults)
    tr.write(1.0, "eu")              # id 1 on db-eu (acknowledged at 1.007); never pushed to db-us
    tr.read(2.0, "eu", replica=1)    # db-us has not seen it
    tr.read(5.0, "eu", replica=1)    # again, while db-eu (the token's replica) is down
    st = tr.run()
    reads = [o for o in tr.outcomes if o[2] == "read"]
    if session == "none":
        # served by db-us (40 ms away) with nothing, back at 2.082 and 5.082: two violations
        assert reads == [(2.082, "eu", "read", OK, 0), (5.082, "eu", "read", OK, 0)]
        assert (st["read_your_writes_violations"], st["session_redirects"]) == (2, 0)
    else:
        # back from db-us at 2.082, sent on to db-eu: 1 ms, 2 ms read, 1 ms back; at 5.082 db-eu refuses
        # (down) when the redirect arrives 1 ms later, and the refusal is back 1 ms after: the read fails
        assert reads == [(2.086, "eu", "read", OK, 1), (5.084, "eu", "read", ERROR, None)]
        assert (st["read_your_writes_violations"], st["session_redirects"]) == (0, 2)


QUORUM = """
name: sloppy
seed: 1
duration: 40s
network:
  default_latency: 1ms
  timeout: 1s
  links:
    - {{between: [eu, us], latency: 40ms}}
components:
  store: {{type: replicated, replicas: {replicas}, mode: quorum, write_quorum: 2, read_quorum: 2{extra}}}
  a: {{type: database, zone: eu, connections: 16, read_time: 2ms, write_time: 5ms}}
  b: {{type: database, zone: us, connections: 16, read_time: 2ms, write_time: 5ms}}
  c: {{type: database, zone: us, connections: 16, read_time: 2ms, write_time: 5ms}}
  d: {{type: database, zone: eu, connections: 16, read_time: 2ms, write_time: 5ms}}
  e: {{type: database, zone: eu, connections: 16, read_time: 2ms, write_time: 5ms}}
workloads:
  idle: {{arrivals: constant(rate=1/s), target: store}}  # never started: the trace issues its own requests
faults:
  - {{type: partition, groups: [[eu], [us]], at: 10s, duration: 10.25s}}
"""


def _quorum(replicas: str, extra: str = "") -> Trace:
    tr = Trace(text=QUORUM.format(replicas=replicas, extra=extra))
    tr.write(12.0, "eu")  # home a answers; b and c are across the cut
    tr.read(15.0, "us")   # asks the home replicas; b and c answer, a is across the cut
    tr.read(30.0, "us")   # after the heal and the handoffs
    return tr


def test_strict_quorums_with_r_plus_w_over_n_refuse_rather_than_go_stale():
    tr = _quorum("[a, b, c]")
    st = tr.run()
    # the write reaches only a: 1 of the W = 2 it needs, once b and c time out (1 s)
    assert tr.outcomes == [(13.0, "eu", "write", TIMED_OUT, None), (15.004, "us", "read", OK, 0),
                           (30.004, "us", "read", OK, 0)]  # a's lone copy is not in the read quorum b, c
    assert st["writes_failed"] == 1
    assert st["stale_reads"] == 0


def test_a_sloppy_quorum_stays_writable_hands_off_and_can_return_a_stale_read():
    tr = _quorum("[a, b, c, d, e]", ", sloppy: true, home: 3")
    tr.at(29.0, lambda m: [tr.system.get(n).latest_version(1) for n in "abcde"])
    st = tr.run()
    writes = [o for o in tr.outcomes if o[2] == "write"]
    # b and c time out at 13 s; the write goes to d for b and to e for c, stored at 13.007: W = 2 met
    # (a and d's hint), acknowledged then.
    assert writes == [(13.007, "eu", "write", OK, None)]
    assert st["hinted_writes"] == 2
    # The read at 15 s from us meets only b and c: neither has the write. R + W = 4 > 3 home replicas,
    # and still stale.
    reads = [o for o in tr.outcomes if o[2] == "read"]
    assert reads == [(15.004, "us", "read", OK, 0), (30.004, "us", "read", OK, 1)]
    assert st["stale_reads"] == 1
    # After the heal (20.25 s) d and e hand their hints to b and c (tried every retry_interval, 1 s).
    assert st["handoffs"] == 2 and st["hints_pending"] == 0
    assert tr.seen[29.0] == [1, 1, 1, 1, 1]
    assert st["reads_checked"] == 2


# The ready scenario, shortened past both faults (partition 30-50.5 s, db-us 5 s behind from 60 s) and
# with a third of its clients, to stay quick.
SHORT = ["duration=80s", "warmup=5s", "workloads.eu.arrivals.rate=40/s", "workloads.us.arrivals.rate=40/s",
         "workloads.ap.arrivals.rate=40/s"]


def _ready(*more: str):
    return simulator.run(simulator.load_scenario("scenarios/eventual.yaml", overrides=SHORT + list(more)))


def test_the_ready_scenario_stays_available_diverges_converges_and_loses_updates_to_skew(tmp_path):
    from reports.files import write_run

    res = _ready()
    s = res.summary
    st = s["components"]["users"]
    assert s["availability"] == 1.0  # AP: nobody refused during the partition
    ts = res.timeseries
    during = ts[(ts["end_s"] > 40) & (ts["end_s"] <= 50)]["users.divergent_keys"]
    before = ts[(ts["end_s"] > 10) & (ts["end_s"] <= 30)]["users.divergent_keys"]
    assert during.min() > 10 * before.max()  # divergence grows through the partition
    # one heal, converged within the bound 2 (n - 1) x interval (+ the last exchange's round trip)
    [heal] = st["convergence"]
    assert heal["heal_at_s"] == 50.5 and 0 < heal["converged_after_s"] <= 2 * 2 * 1.0 + 0.5
    # The clock skew's share of lost updates: the same run with a negligible skew. Both runs draw the same
    # numbers at the same instants (a skew changes stamps, not timings or draws), so the difference is
    # exactly the skew's doing, no sampling noise to allow for: 89 against 72 with this seed.
    unskewed = _ready("faults.1.offset=1us").summary["components"]["users"]
    assert st["lost_updates"] > unskewed["lost_updates"] > 0
    vv = _ready("components.users.resolve=version_vectors").summary["components"]["users"]
    assert vv["lost_updates"] == 0 and vv["conflicts"] > 0 and vv["max_siblings"] >= 2
    paths = write_run(res, tmp_path)
    assert tmp_path / "divergence_users.png" in paths


def test_hints_wait_out_a_crashed_home_and_a_crashed_fallback():
    text = QUORUM.format(replicas="[a, b, c, d, e]", extra=", sloppy: true, home: 3").replace(
        "  - {type: partition, groups: [[eu], [us]], at: 10s, duration: 10.25s}\n",
        "  - {type: crash, target: b, at: 10s, duration: 10.25s}\n"
        "  - {type: crash, target: c, at: 10s, duration: 10.25s}\n"
        "  - {type: crash, target: d, at: 15s, duration: 10s}\n")
    tr = Trace(text=text)
    tr.write(12.0, "eu")  # b and c refuse (down) when the write reaches them; d and e take it with hints
    tr.at(24.0, lambda m: [tr.system.get(n).latest_version(1) for n in "abcde"])
    tr.at(24.1, lambda m: m.sloppy.handoffs)
    st = tr.run()
    assert [o[3] for o in tr.outcomes] == [OK]
    assert st["hinted_writes"] == 2
    # e hands its hint to c at the first try after c is back (20.25 s); d is down until 25 s and keeps its
    # hint for b meanwhile, then hands it off too.
    assert tr.seen[24.0] == [1, 0, 1, 1, 1]
    assert tr.seen[24.1] == 1
    assert st["handoffs"] == 2 and st["hints_pending"] == 0
