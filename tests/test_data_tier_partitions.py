"""Partitions reach every data-tier type: caches, sharded and replicated stores (every mode), queues
and CDN edges, whether the fault names zones, the workload or the store's components.

Every scenario has two zones, `eu` and `us`, 40 ms apart (constant latencies: no draws), 1 ms within
a zone, and clients in `eu` at a constant 10 requests/s at x.x5 s (so no request starts on a fault
boundary). The data lives in `us` unless said otherwise; a partition `[[eu], [us]]` cuts 10s-20s.
A request's fate is read from its own record (start, outcome), counted per window:

- before: started in [0, 9.5s): done long before the cut (a round trip is well under 0.5 s);
- during: started in [10s, 20s): anything that needs the other side fails (timed out / error);
- after:  started in [21.5s, 29s): the cut healed and any replication stream it broke has been
  probed again (retry_interval 1s), so everything succeeds.
Requests started in [9.5, 10) and [20, 21.5) straddle a boundary and are not counted.
"""
from __future__ import annotations

import textwrap
from collections import Counter

import numpy as np
import pytest

import simulator
from simulator.engine.request import OUTCOME_NAMES
from simulator.simulation.runner import schedule_faults

NET = """
name: dt
seed: 1
duration: {duration}
network:
  default_latency: 1ms
  links:
    - {{between: [eu, us], latency: 40ms}}
"""
CUT = "  - {{type: partition, groups: {groups}, at: 10s, duration: 10s}}\n"
EU_US = "[[eu], [us]]"
DB = "{{type: database, zone: {zone}, connections: 16, read_time: 2ms, write_time: 5ms}}"
BEFORE, DURING, AFTER = (0.0, 9.5), (10.0, 20.0), (21.5, 29.0)
# requests of one client in each window: at 0.15..9.45 s, 10.05..19.95 s, 21.55..28.95 s
COUNT = {BEFORE: 94, DURING: 100, AFTER: 75}
FAILED = {"timed_out", "error"}


def db(zone: str) -> str:
    return DB.format(zone=zone).replace("{{", "{").replace("}}", "}")


def scenario_text(components: str, workloads: str, faults: str = CUT.format(groups=EU_US), duration: str = "30s") -> str:
    out = NET.format(duration=duration) + "components:\n" + textwrap.indent(textwrap.dedent(components).strip(), "  ")
    out += "\nworkloads:\n" + textwrap.indent(textwrap.dedent(workloads).strip(), "  ") + "\n"
    if faults:
        out += "faults:\n" + faults
    return out


class Run:
    """A scenario run by hand: faults scheduled as `simulator.run` does, workloads started, and
    `probe(system)` called at chosen instants; then one record per request."""

    def __init__(self, text: str, at: tuple[float, ...] = (), probe=None) -> None:
        self.scenario = simulator.loads_scenario(text)
        self.env, self.system = simulator.build(self.scenario)
        schedule_faults(self.env, self.system)
        for wl in self.system.workloads:
            wl.start()
        self.seen = {}
        for t in at:
            self.env.run(until=t)
            self.seen[t] = probe(self.system)
        self.env.run(until=self.scenario.duration)
        rec = self.env.recorder
        cols = rec.columns()
        self.workload = np.array([rec.workloads[i] for i in cols["wl"]], dtype=object)
        self.op = np.array([rec.operations[i] for i in cols["op"]], dtype=object)
        self.start = cols["start"]
        self.outcome = np.array([OUTCOME_NAMES[o] for o in cols["outcome"]], dtype=object)

    def outcomes(self, window: tuple[float, float], workload: str | None = None, op: str | None = None) -> Counter:
        keep = (self.start >= window[0]) & (self.start < window[1])
        if workload is not None:
            keep &= self.workload == workload
        if op is not None:
            keep &= self.op == op
        return Counter(self.outcome[keep].tolist())

    def stats(self, name: str) -> dict:
        return self.system.components[name].stats(self.scenario.duration)


def all_ok(c: Counter, n: int | None = None) -> bool:
    return set(c) == {"ok"} and (n is None or c["ok"] == n)


def all_failed(c: Counter, n: int | None = None) -> bool:
    return bool(c) and set(c) <= FAILED and (n is None or sum(c.values()) == n)


def client(name: str, target: str, zone: str = "eu", mix: str = "{read: 0.5, write: 0.5}", keys: str = "uniform(n=20)",
           start: str = "0.05s") -> str:
    return (f"{name}: {{arrivals: constant(rate=10/s), start: {start}, stop: 29s, zone: {zone}, target: {target}, "
            f"keys: {keys}, mix: {mix}}}\n")


def assert_cut(r: Run, workload: str | None = None, op: str | None = None, counted: bool = True) -> None:
    """Every request before and after succeeds, every request during the cut fails (with `counted`:
    all of one client's requests, so none is missing)."""
    before, during, after = (r.outcomes(w, workload, op) for w in (BEFORE, DURING, AFTER))
    assert all_ok(before, COUNT[BEFORE] if counted else None), before
    assert all_failed(during, COUNT[DURING] if counted else None), during
    assert all_ok(after, COUNT[AFTER] if counted else None), after


# --- caches ------------------------------------------------------------------------------------
CACHE = f"""
cache: {{type: cache, zone: eu, capacity: 1000, mode: {{mode}}, backing: db}}
db: {db("us")}
"""


@pytest.mark.parametrize("mode", ["cache_aside", "read_through"])
def test_cache_in_eu_serves_hits_and_fails_misses_while_its_database_is_cut_off(mode):
    # `hot` reads 5 keys, all cached long before the cut; `cold` reads fresh keys: every read misses.
    r = Run(scenario_text(CACHE.replace("{mode}", mode),
                          client("hot", "cache", mix="{read: 1}", keys="uniform(n=5)")
                          + client("cold", "cache", mix="{read: 1}", keys="uniform(n=50000000)")))
    for w in (BEFORE, DURING, AFTER):
        assert all_ok(r.outcomes(w, "hot"))
    assert r.outcomes(DURING, "hot")["ok"] == 100  # hits are served in eu through the whole cut
    assert_cut(r, "cold")
    st = r.stats("cache")
    assert st["misses"] == r.outcomes((0, 30), "cold").total() + 5  # every cold read missed, hot ones once each


# --- sharded stores ----------------------------------------------------------------------------
SHARDED = f"""
users: {{type: sharded, strategy: hash, shards: [db-1, db-2]}}
db-1: {db("us")}
db-2: {db("us")}
"""


def test_sharded_store_in_us_is_unreachable_from_eu_during_the_cut():
    r = Run(scenario_text(SHARDED, client("web", "users")))
    assert_cut(r)
    shards = r.stats("users")["shards"]
    assert shards["db-1"]["requests"] > 0 and shards["db-2"]["requests"] > 0  # both shards were cut


# --- replicated stores -------------------------------------------------------------------------
def replicated(mode: str, replicas: dict[str, str], read_from: str = "leader", extra: str = "") -> str:
    out = f"users: {{type: replicated, replicas: [{', '.join(replicas)}], mode: {mode}, read_from: {read_from}{extra}}}\n"
    return out + "".join(f"{name}: {db(zone)}\n" for name, zone in replicas.items())


US3 = {"db-us": "us", "db-us-2": "us", "db-eu": "eu"}  # leader db-us; a follower in eu


@pytest.mark.parametrize("mode,extra", [("sync", ""), ("semi_sync", ", acks: 1"), ("async", "")])
def test_leader_in_us_reads_and_writes_from_eu_fail_during_the_cut(mode, extra):
    r = Run(scenario_text(replicated(mode, US3, "leader", extra), client("web", "users")))
    assert_cut(r)
    assert_cut(r, op="write", counted=False)
    assert_cut(r, op="read", counted=False)


@pytest.mark.parametrize("mode,extra", [("sync", ""), ("semi_sync", ", acks: 1"), ("async", "")])
def test_leader_in_us_with_nearest_reads_eu_reads_stay_available_writes_fail(mode, extra):
    r = Run(scenario_text(replicated(mode, US3, "nearest", extra), client("web", "users")))
    for w in (BEFORE, DURING, AFTER):
        assert all_ok(r.outcomes(w, op="read"))  # served by the follower in eu
    assert_cut(r, op="write", counted=False)
    assert r.stats("users")["replicas"]["db-eu"]["reads"] == r.outcomes((0, 30), op="read")["ok"]


def test_async_follower_in_eu_serves_stale_reads_during_the_cut_and_fresh_ones_after():
    # A writer in us writes key 0 at x.x1 s (acknowledged 7 ms later: async, leader db-us); a reader
    # in eu reads key 0 at x.x9 s from the eu follower. Without the cut, a write is applied in eu
    # 51 ms after it was issued, before the next read (80 ms later): no read is stale. During the
    # cut the eu follower keeps the version of 9.91 s, so each of the 100 reads at 10.09..19.99 s
    # is stale; so is the read at 20.09 s (the write of 20.01 s joins the backlog of the broken
    # stream, whose probe at 20.016 s brings it back: replayed by 20.19 s, the next read is fresh).
    repl = replicated("async", {"db-us": "us", "db-eu": "eu"}, "nearest")
    wls = (client("writer", "users", zone="us", mix="{write: 1}", keys="uniform(n=1)", start="0.01s")
           + client("reader", "users", zone="eu", mix="{read: 1}", keys="uniform(n=1)", start="0.09s"))
    cut = Run(scenario_text(repl, wls))
    calm = Run(scenario_text(repl, wls, faults=""))
    assert calm.stats("users")["stale_reads"] == 0
    for w in (BEFORE, DURING, AFTER):
        assert all_ok(cut.outcomes(w, "reader"), COUNT[w])  # eu reads stay available
        assert all_ok(cut.outcomes(w, "writer"))  # the writer is on the leader's side
    st = cut.stats("users")
    assert st["stale_reads"] == 100 + 1  # the window's reads, and the first one after the heal
    assert st["staleness_s"]["max"] > 9.0  # the last read of the cut saw a version ~10 s old
    assert st["replicas"]["db-eu"]["backlog"] == 0


def test_multi_leader_eu_writes_and_reads_stay_local_replication_catches_up():
    r = Run(scenario_text(replicated("multi_leader", {"db-eu": "eu", "db-us": "us"}, "nearest"),
                          client("web", "users")
                          + client("us-web", "users", zone="us", keys="uniform(n=20)", start="0.02s")))
    for wl in ("web", "us-web"):
        for w in (BEFORE, DURING, AFTER):
            assert all_ok(r.outcomes(w, wl))  # each side writes to its own leader
    st = r.stats("users")
    assert st["replication_lag_s"]["max"] > 9.0  # writes of the cut reached the other side only after it
    assert st["replicas"]["db-eu"]["backlog"] == st["replicas"]["db-us"]["backlog"] == 0
    assert st["conflicts"] > 0  # both sides wrote the same keys while they could not see each other
    a, b = r.system.components["db-eu"], r.system.components["db-us"]
    assert a.versions.latest == b.versions.latest  # last-writer-wins converged


@pytest.mark.parametrize("replicas,available", [
    ({"a": "eu", "b": "eu", "c": "us"}, True),  # eu still reaches a majority (2 of 3)
    ({"a": "eu", "b": "us", "c": "us"}, False),  # eu reaches 1 of 3: no quorum
])
def test_quorum_stays_available_only_on_the_majority_side(replicas, available):
    r = Run(scenario_text(replicated("quorum", replicas), client("web", "users")))
    if available:
        for w in (BEFORE, DURING, AFTER):
            assert all_ok(r.outcomes(w), COUNT[w])
        assert r.outcomes(DURING)["ok"] == 100
    else:
        assert_cut(r)


def test_partition_between_replica_zones_cuts_replication_which_catches_up_after():
    # Leader in eu with the clients, follower in us: clients never notice; the follower applies
    # nothing during the cut and everything after it.
    writes_at = lambda system: system.components["db-us"].writes  # noqa: E731
    r = Run(scenario_text(replicated("async", {"db-eu": "eu", "db-us": "us"}), client("web", "users")),
            at=(10.5, 19.9), probe=writes_at)
    for w in (BEFORE, DURING, AFTER):
        assert all_ok(r.outcomes(w))
    assert r.seen[10.5] == r.seen[19.9]  # no write reached the follower during the cut
    st = r.stats("users")
    assert st["replicas"]["db-us"]["backlog"] == 0
    assert 9.9 < st["replication_lag_s"]["max"] < 11.1  # the first write of the cut waited it out
    leader, follower = r.system.components["db-eu"], r.system.components["db-us"]
    assert follower.writes == leader.writes and follower.versions.latest == leader.versions.latest


# --- message queues ----------------------------------------------------------------------------
QUEUE = """
orders:
  type: queue
  zone: us
  partitions: 1
  consumer_groups:
    billing: {workers: 1, process_time: 250ms}
    audit: {workers: 1, zone: eu}
"""


def test_queue_in_us_refuses_eu_publishes_while_us_consumers_keep_consuming():
    # 10 messages/s produced, billing (in us) consumes 4/s: a backlog is there when the cut starts.
    # audit consumes in eu: the broker cannot reach it during the cut, then it catches up.
    def consumed(system):
        q = system.components["orders"]
        return q.produced, q.groups["billing"].consumed, q.groups["audit"].consumed

    r = Run(scenario_text(QUEUE, client("shop", "orders", mix="{publish: 1}", keys="uniform(n=100)")),
            at=(10.5, 19.9), probe=consumed)
    assert_cut(r)
    (p0, b0, a0), (p1, b1, a1) = r.seen[10.5], r.seen[19.9]
    assert p1 == p0  # nothing published during the cut
    assert b1 - b0 == 38  # billing went on at its own pace (4/s, 250 ms each) for those 9.4 s
    assert a1 == a0  # audit (across the cut) got nothing
    q = r.stats("orders")
    assert q["consumer_groups"]["audit"]["consumed"] == q["produced"]  # audit caught up after the heal


# --- CDN ---------------------------------------------------------------------------------------
CDN = """
cdn: {type: cdn, origin: origin, regions: [eu], capacity: 1000}
origin: {type: server, zone: us, workers: 16, service_time: 5ms}
"""


def test_cdn_edge_in_eu_serves_hits_and_fails_misses_while_the_origin_is_cut_off():
    r = Run(scenario_text(CDN, client("hot", "cdn", mix="{get: 1}", keys="uniform(n=5)")
                          + client("cold", "cdn", mix="{get: 1}", keys="uniform(n=50000000)")))
    for w in (BEFORE, DURING, AFTER):
        assert all_ok(r.outcomes(w, "hot"))
    assert r.outcomes(DURING, "hot")["ok"] == 100
    assert_cut(r, "cold")


# --- what the groups name ----------------------------------------------------------------------
STORES = {
    "sharded": SHARDED,
    "replicated": replicated("sync", {"db-1": "us", "db-2": "us"}),
}
REACHES = [
    "[[eu], [us]]",  # zones
    "[[web], [us]]",  # the workload, and the store's zone
    "[[eu], [db-1, db-2]]",  # the store's members
    "[[web], [db-1, db-2]]",  # the workload and the members
]


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("groups", REACHES)
def test_partition_reaches_the_client_library_whatever_the_groups_name(store, groups):
    r = Run(scenario_text(STORES[store], client("web", "users"), faults=CUT.format(groups=groups)))
    assert_cut(r)


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("groups", ["[[web], [users]]", "[[eu], [users]]"])
def test_partition_naming_the_store_itself_cuts_its_clients_off(store, groups):
    r = Run(scenario_text(STORES[store], client("web", "users"), faults=CUT.format(groups=groups)))
    assert_cut(r)


def test_partition_naming_the_cdn_and_its_origin_cuts_the_edges_misses():
    r = Run(scenario_text(CDN, client("hot", "cdn", mix="{get: 1}", keys="uniform(n=5)")
                          + client("cold", "cdn", mix="{get: 1}", keys="uniform(n=50000000)"),
                          faults=CUT.format(groups="[[cdn], [origin]]")))
    assert r.outcomes(DURING, "hot")["ok"] == 100
    assert_cut(r, "cold")


# --- overlapping partitions --------------------------------------------------------------------
def test_overlapping_partitions_of_one_link_cut_until_the_last_one_ends():
    faults = ("  - {type: partition, groups: [[eu], [us]], at: 10s, duration: 40s}\n"
              "  - {type: partition, groups: [[us], [eu]], at: 30s, duration: 50s}\n")
    r = Run(scenario_text(replicated("sync", US3), client("web", "users").replace("stop: 29s", "stop: 99s"),
                          faults=faults, duration="100s"))
    assert all_ok(r.outcomes((0, 9.5)), 94)
    assert all_failed(r.outcomes((10, 80)), 700)  # not only until 50s
    assert all_failed(r.outcomes((50, 80)), 300)
    assert all_ok(r.outcomes((81.5, 99)), 175)


# --- resharding across the cut -----------------------------------------------------------------
def test_migration_copies_between_shards_across_the_cut_wait_for_the_heal():
    # One shard in eu; at 10.5 s (inside the cut) a shard in us is added and ~half the keys move to
    # it, copied at 20 keys/s: each copy reads on db-eu and writes on db-us, across the cut.
    comps = f"""
    users: {{type: sharded, strategy: hash, key_space: 2000, shards: [db-eu], migration_rate: 20/s,
            reshard: [{{at: 10.5s, add: db-us}}]}}
    db-eu: {db("eu")}
    db-us: {db("us")}
    """

    def copied(system):
        return system.components["users"].keys_copied

    r = Run(scenario_text(comps, client("web", "users", mix="{read: 1}", keys="uniform(n=2000)")),
            at=(19.9, 29.9), probe=copied)
    assert r.seen[19.9] == 0  # nothing crossed the cut
    assert r.seen[29.9] > 0  # the copies resumed after the heal
