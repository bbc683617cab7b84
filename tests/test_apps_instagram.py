"""Instagram's news feed (models/apps/instagram): exact fan-out figures on small written-out graphs,
the feed cap, cold starts after a flush, fan-out workers that crash and slow down (overlapping),
determinism, the scenario end to end at a small scale, and bad input."""
from __future__ import annotations

import textwrap

import pytest

import simulator
from tests.helpers import assert_bad

# Four users: 1, 2 and 3 follow 0; 2 also follows 1. Account 0 has 3 followers, account 1 has 1.
# Random posting and reading are made negligible (a mean gap of 1000 h: the chance of one random
# post in the run is about 4 x 60 s / 3.6e6 s = 7e-5, and the fixed seed decides it once: the
# tests assert the post count), so the posts are exactly the scheduled bursts.
SMALL = """
name: ig-small
seed: 3
duration: 60s
network: {default_latency: 1ms}
components:
  feed:
    type: instagram
    users: 4
    follows: {1: [0], 2: [0, 1], 3: [0]}
    strategy: {strategy}
    celebrity_threshold: 2
    history: 0s
    read_interval: exponential(mean=1000h)
    post_interval: exponential(mean=1000h)
    batch_size: 2
    celebrity_posts:
      - {at: 5s, author: 0, posts: 2, every: 1s}
      - {at: 8s, author: 1}
    service: svc
    feed_cache: fc
    fanout: fan
    posts: db
    ranking: rank
  svc: {type: server, workers: 8, service_time: 1ms}
  fc: {type: feed_cache, workers: 2, max_entries: {cap}, op_time: 0.2ms}
  fan: {type: fanout_workers, workers: 1, insert_time: 1ms, feed_cache: fc}
  db: {type: database, connections: 4, read_time: 2ms, write_time: 3ms}
  rank: {type: server, workers: 4, service_time: 10ms}
faults: []
"""


def small(strategy: str = "push", cap: int = 500, faults: str = "[]", extra: dict | None = None) -> simulator.Result:
    text = SMALL.replace("{strategy}", strategy).replace("{cap}", str(cap)).replace("faults: []", f"faults: {faults}")
    sc = simulator.loads_scenario(text)
    if extra:
        sc = simulator.with_overrides(sc, extra)
    return simulator.run(sc)


def feed_metrics(r: simulator.Result) -> dict:
    return r.summary["components"]["feed"]["metrics"]


@pytest.mark.parametrize("strategy, inserts", [
    ("push", 2 * 3 + 1 * 1),  # every post to every follower: the sum of the authors' follower counts
    ("hybrid", 1 * 1),  # account 0 has 3 > 2 followers: a celebrity, pulled; only account 1's post is pushed
    ("pull", 0),  # nothing is fanned out on write
])
def test_write_amplification_is_the_pushed_authors_follower_counts(strategy, inserts):
    r = small(strategy)
    m = feed_metrics(r)
    assert m["posts"] == 3
    assert m["fanout_inserts"] == inserts
    assert m["write_amplification"] == pytest.approx(inserts / 3)
    fc = r.summary["components"]["fc"]
    assert fc["inserts"] == inserts  # every insert sent reached the feed cache
    assert m["fanout_backlog"]["max"] <= inserts
    # Each post reaches each follower's feed source once: pushed or pulled, 3 + 3 + 1 follower-posts.
    assert m["post_to_feed_s"]["count"] == 7


def test_fanout_delay_is_the_fifo_of_batches_exactly():
    """Every time in SMALL is constant, so the fan-out delays can be worked out by hand (ms; each hop
    1 ms one way). A post is stored 8 ms after it is made (1 + 1 + 1 at the service, 1 + 3 + 1 at the
    posts store). Account 0's post (followers 1, 2, 3; batches of 2) puts two batches on the queue,
    which reach the single worker at 9: batch [1, 2] takes 1 + 2 x 1 = 3 (done at 12), reaches the
    cache at 13 and is written after 0.2 + 2 x 0.002 = 0.204: 13.204. The worker waits for the
    answer (back at 14.204), then batch [3] takes 2 (16.204), reaches the cache at 17.204 and is
    written at 17.406. Account 1's post (one follower): 9 + 2 + 1 + 0.202 = 12.202."""
    m = feed_metrics(small("push"))
    assert m["post_s"]["max"] == pytest.approx(0.008)
    assert m["post_to_feed_s"]["max"] == pytest.approx(0.017406)
    # the seven (post, follower) delays: 12.202, four of 13.204, two of 17.406
    assert m["post_to_feed_s"]["p50"] == pytest.approx(0.013204)
    assert m["post_to_feed_s"]["mean"] == pytest.approx((12.202 + 4 * 13.204 + 2 * 17.406) / 7 / 1000)
    # hybrid: account 0 is pulled (in its followers' feed sources when stored, at 8); account 1 as before
    m = feed_metrics(small("hybrid"))
    assert m["post_to_feed_s"]["max"] == pytest.approx(0.012202)
    assert m["post_to_feed_s"]["mean"] == pytest.approx((6 * 8 + 12.202) / 7 / 1000)


def test_post_is_visible_when_the_followers_ranked_feed_expires():
    """Every user reads every 2 s from t=2 s, so each builds and caches its ranked feed at 2 s (plus
    a few ms of calls), valid for `ranked_ttl`. A post reaching a follower's feed at 5-8 s is visible
    at that follower's next build, when the cached feed expires: at 2 + 20 s for a TTL of 20 s."""
    m = feed_metrics(small("push", extra={"components.feed.read_interval": "2s", "components.fc.ranked_ttl": "20s"}))
    # account 0 posts at 5 and 6 s (followers 1, 2, 3), account 1 at 8 s (follower 2)
    assert m["post_to_visible_s"]["count"] == 7
    assert m["post_to_visible_s"]["max"] == pytest.approx(22.0 - 5.0, abs=0.02)
    assert m["post_to_visible_s"]["p50"] == pytest.approx(22.0 - 6.0, abs=0.02)  # 17, 17, 17, 16, 16, 16, 14
    assert m["post_to_visible_s"]["mean"] == pytest.approx((3 * 17 + 3 * 16 + 14) / 7, abs=0.02)
    assert m["feed_age_s"]["max"] <= 20.0


def test_pulled_post_is_in_the_feed_source_when_stored():
    """Under pull nothing waits for fan-out: a post is in its followers' feed sources the moment it
    is stored, so post -> feed equals the post's own latency, per follower."""
    m = feed_metrics(small("pull"))
    assert m["post_to_feed_s"]["max"] == pytest.approx(m["post_s"]["max"])
    assert m["post_to_feed_s"]["p50"] == pytest.approx(m["post_s"]["p50"])
    assert m["fanout_backlog"]["max"] == 0


def test_feed_is_capped_at_max_entries():
    # Account 0 posts 2 and account 1 posts 1: user 2 (follows both) gets 3 entries, users 1 and 3 get 2.
    # With a cap of 2, user 2's feed keeps 2: 6 entries held, 64 B each (the default entry size).
    fc = small("push", cap=2).summary["components"]["fc"]
    assert fc["entries"] == 2 + 2 + 2
    assert fc["memory_bytes"] == 6 * 64
    fc = small("push", cap=500).summary["components"]["fc"]
    assert fc["entries"] == 2 + 3 + 2


def test_fanout_crash_and_slowdown_overlapping_lose_no_insert():
    """The fan-out workers crash while slowed down (the crash ends inside the slow window): batches
    in hand fail and are sent again (at-least-once), the feed cache writes each once."""
    faults = ("[{type: slow, target: fan, factor: 50, at: 4s, duration: 20s}, "
              "{type: crash, target: fan, at: 5.05s, duration: 2s}]")
    r = small("push", faults=faults)
    m = feed_metrics(r)
    fc = r.summary["components"]["fc"]
    assert m["fanout_retries"] > 0
    assert m["fanout_inserts"] == 7
    assert fc["inserts"] == 7  # no insert lost, none doubled
    assert m["post_to_feed_s"]["count"] == 7
    # The slowdown (50 x 1 ms per insert) and the crash make the fan-out lag by seconds, not milliseconds.
    assert m["post_to_feed_s"]["max"] > 1.0


def test_flush_makes_feeds_cold_and_reads_rebuild_them():
    """A cache_flush empties the feed cache: the next read of each user finds its feed cold and
    rebuilds it from the posts store (pulling every account it follows), then writes it back."""
    reads = {"components.feed.read_interval": "exponential(mean=5s)"}
    calm = feed_metrics(small("push", extra=reads))
    assert calm["cold_rebuilds"] == 0
    r = small("push", faults="[{type: cache_flush, target: fc, at: 20s}]", extra=reads)
    m = feed_metrics(r)
    assert m["failed_reads"] == 0
    assert 1 <= m["cold_rebuilds"] <= 4  # at most once per user: the rebuilt feed is written back
    assert r.summary["components"]["fc"]["feeds_cached"] == 4  # all four read again after the flush
    assert any(e["kind"] == "cache_flush" for e in r.summary["components"]["fc"]["events"])


def test_ranked_feed_is_served_within_its_ttl():
    m = feed_metrics(small("hybrid", extra={"components.feed.read_interval": "exponential(mean=5s)",
                                            "components.fc.ranked_ttl": "20s"}))
    assert m["ranked_hits"] > 0
    assert m["feed_age_s"]["max"] <= 20.0
    assert m["reads"] == m["ranked_hits"] + m["feeds_built"]


def test_same_seed_same_summary():
    a = small("hybrid", extra={"components.feed.read_interval": "exponential(mean=5s)"}).summary
    b = small("hybrid", extra={"components.feed.read_interval": "exponential(mean=5s)"}).summary
    assert a == b


def test_scenario_end_to_end_small():
    sc = simulator.load_scenario("scenarios/instagram.yaml")
    sc = simulator.with_overrides(sc, {"duration": "120s", "warmup": "10s", "components.feed.users": 400,
                                       "components.feed.celebrity_threshold": 100,
                                       "components.feed.post_interval": "exponential(mean=10m)",
                                       "faults.0.at": "30s", "faults.0.duration": "20s",
                                       "components.feed.celebrity_posts.0.at": "30s", "faults.1.at": "60s"})
    r = simulator.run(sc)
    feed = r.summary["components"]["feed"]
    m = feed["metrics"]
    assert feed["app"] is True and feed["scale"] == pytest.approx(1e-4)
    assert m["reads"] > 0 and m["failed_reads"] == 0
    assert m["cold_rebuilds"] > 0  # the flush at 60 s
    assert 0 < m["celebrities"] < 400
    assert m["write_amplification"] > 0
    assert any("fan-out" in line for line in feed["extrapolation"])
    assert any("cache servers" in line for line in feed["extrapolation"])


BAD = """
name: bad
duration: 10s
components:
  feed: {type: instagram, users: 4, service: svc, feed_cache: fc, fanout: fan, posts: db, ranking: svc}
  svc: {type: server, service_time: 1ms}
  fc: {type: feed_cache}
  fan: {type: fanout_workers, feed_cache: fc}
  db: {type: database, read_time: 1ms, write_time: 1ms}
"""


def test_bad_strategy(tmp_path):
    assert_bad(tmp_path, BAD.replace("users: 4,", "users: 4, strategy: sideways,"),
               "components.feed.strategy", "push", line=5)


def test_bad_follows_id(tmp_path):
    assert_bad(tmp_path, BAD.replace("users: 4,", "users: 4, follows: {1: [7]},"),
               "components.feed", "user id 7 is outside 0..3", line=5)


def test_zero_post_interval_is_refused(tmp_path):
    # zero gaps would keep the clock at one instant forever
    assert_bad(tmp_path, BAD.replace("users: 4,", "users: 4, post_interval: 0s,"),
               "components.feed", "post_interval: the mean time between two must be positive", line=5)


def test_feed_cache_of_the_wrong_type(tmp_path):
    assert_bad(tmp_path, BAD.replace("feed_cache: fc, fanout", "feed_cache: db, fanout"),
               "components.feed.feed_cache", "'db' is a database, not a feed_cache")


def test_fanout_into_something_else_than_a_feed_cache(tmp_path):
    assert_bad(tmp_path, BAD.replace("fan: {type: fanout_workers, feed_cache: fc}", "fan: {type: fanout_workers, feed_cache: svc}"),
               "components.fan.feed_cache", "'svc' is a server, not a feed_cache", line=8)


def test_flush_of_a_server_is_refused(tmp_path):
    assert_bad(tmp_path, BAD + "faults: [{type: cache_flush, target: svc, at: 1s}]\n",
               "faults[0].target[0]", "only caches can be flushed")
