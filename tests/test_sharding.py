"""Sharded stores: placement strategies, resharding (keys moved, migration load), skew."""
import numpy as np
import pytest

from models.sharding import ConsistentHash, HashMod, Range
from models.sharded import ShardedConfig
from tests.helpers import run

DB = "{type: database, connections: 8, read_time: exponential(mean=2ms), write_time: exponential(mean=4ms)}"


def _cfg(**kw):
    return ShardedConfig(type="sharded", shards=[f"s{i}" for i in range(kw.pop("n", 4))], **kw)


def _moved(strategy_cls, n, key_space=100_000, **kw):
    cfg = _cfg(n=n, **kw)
    before = strategy_cls(cfg.shards, cfg, key_space)
    after = before.resized(cfg.shards + ["new"], {})
    keys = np.arange(key_space)
    return np.mean(np.asarray(before.shards)[before.owners(keys)] != np.asarray(after.shards)[after.owners(keys)])


def test_vectorised_placement_matches_the_hot_path():
    keys = np.arange(5000)
    for cls, kw in ((HashMod, {}), (ConsistentHash, {"virtual_nodes": 50}), (Range, {"strategy": "range"})):
        cfg = _cfg(n=5, **kw)
        s = cls(cfg.shards, cfg, 5000)
        assert s.owners(keys).tolist() == [s.owner(int(k), None) for k in keys]


def test_mod_n_moves_most_keys_consistent_hashing_about_one_in_n():
    for n in (4, 8):
        mod = _moved(HashMod, n)
        ring = _moved(ConsistentHash, n, virtual_nodes=200)
        assert mod == pytest.approx(n / (n + 1), abs=0.01)  # a key stays only if h mod n == h mod n+1
        # With v virtual nodes the new shard's share has relative spread ~ 1/sqrt(v): allow 3 of them.
        assert ring == pytest.approx(1 / (n + 1), rel=3 / np.sqrt(200))


def test_range_split_takes_half_of_the_busiest_range():
    cfg = _cfg(n=4, strategy="range", boundaries=[100, 200, 300], key_space=400)
    r = Range(cfg.shards, cfg, 400)
    new = r.resized(cfg.shards + ["s4"], {"s0": 10, "s1": 50, "s2": 5, "s3": 5})
    assert new.shards == ["s0", "s1", "s4", "s2", "s3"]
    assert new.boundaries == [100, 150, 200, 300]
    assert new.owner(149, None) == 1 and new.owner(150, None) == 2


def test_range_remove_merges_into_the_previous_range():
    cfg = _cfg(n=3, strategy="range", boundaries=[10, 20], key_space=30)
    new = Range(cfg.shards, cfg, 30).resized(["s0", "s2"], {})
    assert new.boundaries == [20] and new.owner(15, None) == 0


SHARDED = """
name: sharded
duration: 60s
components:
  store:
    type: sharded
    strategy: {strategy}
    shards: [a, b, c, d]
{extra}
  a: {db}
  b: {db}
  c: {db}
  d: {db}
  e: {db}
workloads:
  w: {{arrivals: poisson(rate=400/s), target: store, mix: {{read: 0.9, write: 0.1}}, keys: {keys}}}
"""


def _run(strategy="hash", extra="", keys="uniform(n=10000)"):
    return run(SHARDED, strategy=strategy, extra=extra, db=DB, keys=keys)


def test_every_request_reaches_exactly_one_shard_and_skew_is_reported():
    res = _run()
    st = res.summary["components"]["store"]
    routed = sum(s["requests"] for s in st["shards"].values())
    assert routed == res.summary["requests"]["generated"] + st["migration_misses"]
    served = sum(res.summary["components"][s]["served"] for s in "abcd")
    assert routed - served <= 4 * 8  # at most what was in service at the end
    assert 1.0 <= st["skew"] < 1.1  # uniform keys, hash placement


def test_hot_keys_skew_range_shards():
    st = _run(strategy="range", keys="zipf(n=10000, s=1.1)").summary["components"]["store"]
    # key 0..2499 on the first shard: under zipf(1.1) most of the traffic
    assert st["shards"]["a"]["share"] > 0.7
    assert st["skew"] > 2.5


def test_geo_strategy_routes_by_region_with_a_default():
    res = run("""
        name: geo
        duration: 20s
        components:
          store: {{type: sharded, strategy: geo, shards: [a, b, c], regions: {{eu: a, us: b}}, default: c}}
          a: {db}
          b: {db}
          c: {db}
        workloads:
          w: {{arrivals: poisson(rate=100/s), target: store, keys: uniform(n=100),
              attributes: {{region: {{eu: 0.5, us: 0.3, ap: 0.2}}}}}}
    """, db=DB)
    shares = {k: v["share"] for k, v in res.summary["components"]["store"]["shards"].items()}
    assert shares["a"] == pytest.approx(0.5, abs=0.05)
    assert shares["b"] == pytest.approx(0.3, abs=0.05)
    assert shares["c"] == pytest.approx(0.2, abs=0.05)


RESHARD = """
    key_space: 10000
    reshard:
      - {{at: 30s, add: e}}
{migration}"""


@pytest.mark.parametrize("strategy,expected", [("hash", 0.8), ("consistent_hash", 0.2)])
def test_reshard_reports_keys_moved(strategy, expected):
    st = _run(strategy, RESHARD.format(migration="")).summary["components"]["store"]
    ev = st["reshards"][0]
    assert ev["at_s"] == 30.0 and ev["shards_before"] == 4 and ev["shards_after"] == 5
    tol = 0.01 if strategy == "hash" else 3 * expected / np.sqrt(100)  # 100 virtual nodes per shard
    assert ev["fraction_moved"] == pytest.approx(expected, abs=tol)
    assert st["shards"]["e"]["requests"] > 0


def test_migration_copies_moved_keys_and_reads_of_uncopied_keys_miss():
    res = _run("consistent_hash", RESHARD.format(migration="    migration_rate: 200/s"))
    st = res.summary["components"]["store"]
    ev = st["reshards"][0]
    assert ev["migration_nominal_s"] == pytest.approx(ev["keys_moved"] / 200)
    assert st["keys_copied"] + st["keys_waiting_copy"] <= ev["keys_moved"]
    assert st["keys_copied"] > 0.8 * ev["keys_moved"]  # the rest were superseded by writes
    assert st["migration_misses"] > 0
    # the copy load lands on the new shard: one write per copied key besides client traffic
    assert res.summary["components"]["e"]["writes"] >= st["keys_copied"]
    ts = res.timeseries
    assert (ts.loc[ts["end_s"] <= 30, "store.load_rps.e"] == 0).all()
    assert (ts.loc[ts["start_s"] >= 31, "store.load_rps.e"] > 0).all()
