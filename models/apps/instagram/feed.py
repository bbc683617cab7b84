"""Instagram's news feed: users who post and read, a follower graph with celebrities, and fan-out on
write (push), on read (pull) or both (hybrid: push for regular accounts, pull for celebrities).

A post is written to the posts store, then (push) split into batches of followers and put on the
fan-out queue (`fanout_workers`), whose workers insert the post id into each follower's feed in the
feed cache (`feed_cache`, capped at `max_entries`). A feed read asks the feed cache for the user's
ranked feed (cached `ranked_ttl`); on a miss it gathers the candidates in parallel (the user's
feed-cache entries, the recent posts of the followed accounts it pulls from the posts store, and the
recommendations), calls the ranking service, and caches the ranked feed. A feed the cache no longer
holds (flushed, crashed, never built) is rebuilt from the posts store: fan-out on read for that user,
then written back to the cache. Every step is a call over the network from the feed service, so a
crash, a partition or a slow component reaches it.

The posts store's rows (who posted which id when) live in the application, as the follower graph
does; the `database` component models the store's timing and availability.
"""
from __future__ import annotations

import heapq
from collections import deque
from itertools import chain
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from models.apps.behaviour import AppConfig, Application, distribution
from models.apps.instagram.graph import FollowerGraph
from models.apps.instagram.stores import Batch, Box
from simulator.engine.request import ERROR, OK
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import Duration, PositiveDuration
from simulator.sampling.distributions import DurationDist, NumberDist

STRATEGIES = ("push", "pull", "hybrid")


class CelebrityPosts(StrictModel):
    """A burst of posts by one account (by default the most followed: the celebrity)."""

    at: PositiveDuration = Field(description="When the first post is made.")
    author: int | None = Field(None, ge=0, description="The posting user (default: the account with most followers).")
    posts: PositiveInt = Field(1, le=10000, description="Posts in the burst.")
    every: PositiveDuration = Field(1.0, description="Time between two posts of the burst.")


class Post:
    __slots__ = ("id", "author", "t0", "durable_t")

    def __init__(self, pid: int, author: int, t0: float, durable_t: float) -> None:
        self.id, self.author, self.t0, self.durable_t = pid, author, t0, durable_t


class InstagramConfig(AppConfig):
    type: Literal["instagram"] = "instagram"
    # At most 50,000: drawing the graph costs users^2 random numbers (a few seconds at 20,000).
    users: PositiveInt = Field(5000, le=50000, description="Users simulated (the slice of the user base).")
    following: NumberDist = distribution("lognormal(mean=100, std=100)", "Accounts each user follows "
                                         "(rounded, at most users - 1).", kind="number")
    popularity_exponent: float = Field(1.0, ge=0.0, le=5.0, description="Zipf exponent of an account's chance to be "
                                       "followed, by popularity rank: follower counts follow a power law.")
    follows: dict[int, list[int]] | None = Field(None, description="An explicit graph instead (user -> the accounts it "
                                                 "follows), for small worked examples.")
    strategy: Literal["push", "pull", "hybrid"] = Field(
        "hybrid", description="push: fan-out on write to every follower; pull: fan-out on read from every followed "
        "account; hybrid: push for regular accounts, pull for celebrities.")
    celebrity_threshold: int = Field(
        10000, ge=0, le=1000000000, description="hybrid: an account with more followers than this is a celebrity "
        "(pulled, not pushed); the guide: 10,000. Counted in the simulated graph's followers. 0: every account with "
        "a follower is pulled (as pull); at least `users`: nobody is (as push).")
    read_interval: DurationDist = distribution("exponential(mean=60s)", "Time between two feed reads of a user.")
    post_interval: DurationDist = distribution("exponential(mean=3h)", "Time between two posts of a user.")
    history: Duration = Field(604800.0, description="Posting before the run starts: each account has made "
                              "Poisson(history / mean post_interval) posts, and the feeds start holding them "
                              "(capped), as in a steady state. 0: every feed starts empty.")
    batch_size: PositiveInt = Field(100, le=1000000, description="Followers per fan-out batch (one queue message).")
    fanout_retry: PositiveDuration = Field(1.0, description="Wait before a failed fan-out batch is sent again "
                                           "(at-least-once; the feed cache ignores a batch already written).")
    celebrity_posts: list[CelebrityPosts] = Field(default_factory=list, description="Bursts of posts by one account.")
    latency_target: PositiveDuration = Field(0.2, description="Target p99 of a feed read (the guide: 200 ms).")
    service: str = Field(description="The feed service (a server): every call to the stores leaves from it.")
    feed_cache: str = Field(description="The feed cache (a feed_cache).")
    fanout: str = Field(description="The fan-out workers (fanout_workers); push only.")
    posts: str = Field(description="The posts store (a database): post writes and pulls.")
    ranking: str = Field(description="The ranking service (a server).")
    recommendations: str | None = Field(None, description="The recommendation service (a server), called on each "
                                        "feed built; unset: no recommended posts.")

    @model_validator(mode="after")
    def _graph(self) -> "InstagramConfig":
        for key in ("read_interval", "post_interval"):
            if not getattr(self, key).mean > 0:  # zero gaps would keep the clock at one instant forever
                raise ValueError(f"{key}: the mean time between two must be positive")
        for u, fs in (self.follows or {}).items():
            bad = [a for a in [u, *fs] if not 0 <= a < self.users]
            if bad:
                raise ValueError(f"follows: user id {bad[0]} is outside 0..{self.users - 1} (users: {self.users})")
        for b in self.celebrity_posts:
            if b.author is not None and b.author >= self.users:
                raise ValueError(f"celebrity_posts: author {b.author} is outside 0..{self.users - 1}")
        return self

    def refs(self):
        names = [("service", self.service), ("feed_cache", self.feed_cache), ("fanout", self.fanout),
                 ("posts", self.posts), ("ranking", self.ranking)]
        if self.recommendations is not None:
            names.append(("recommendations", self.recommendations))
        return [((key,), name) for key, name in names]

    def cross_check(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        want = {"feed_cache": "feed_cache", "fanout": "fanout_workers"}
        out = []
        for key, kind in want.items():
            cfg = scenario.components.get(getattr(self, key))
            if cfg is not None and cfg.type != kind:
                out.append((("components", name, key), f"'{getattr(self, key)}' is a {cfg.type}, not a {kind}"))
        return out


@registry.components.register("instagram")
class Instagram(Application):
    """News feed: posts fanned out on write, on read or both; feeds ranked, cached and read."""

    Config = InstagramConfig

    # --- building ---------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        cfg = self.config
        svc = cfg.service
        self.api = self.caller(system, svc, op="read")
        self.cache = self.caller(system, cfg.feed_cache, src=svc, op="get_ranked")
        self.store = self.caller(system, cfg.posts, src=svc, op="read")
        self.rank = self.caller(system, cfg.ranking, src=svc, op="rank")
        self.recs = self.caller(system, cfg.recommendations, src=svc, op="recommend") if cfg.recommendations else None
        self.queue = self.caller(system, cfg.fanout, src=svc, op="insert")
        self.fc = system.get(cfg.feed_cache)  # read for the metrics only (memory, when a ranked feed expires)
        self.fanout_station = system.get(cfg.fanout)
        self._graph()
        self.recent: list[deque] = [deque(maxlen=self.fc.max_entries) for _ in range(cfg.users)]  # the posts table
        self.next_id = 0
        self.pending = 0  # feed-cache inserts on the fan-out queue or in a worker's hands
        self._declare_metrics()

    def _graph(self) -> None:
        cfg = self.config
        if cfg.follows is not None:
            self.graph = FollowerGraph.explicit(cfg.users, cfg.follows)
        else:
            rng = self.stream("graph")
            k = np.rint(cfg.following.sample_block(rng, cfg.users))
            self.graph = FollowerGraph.power_law(cfg.users, k, cfg.popularity_exponent, rng)
        g = self.graph
        counts = [len(f) for f in g.followers]
        self.celebrity = [self.pulled_author(c) for c in counts]
        # Per reader: the accounts pulled at read time, and those whose posts were pushed to its feed.
        self.pull_from = [[a for a in fs if self.celebrity[a]] for fs in g.followees]
        self.pushed_from = [[a for a in fs if not self.celebrity[a]] for fs in g.followees]
        self.top = int(np.argmax(counts))
        mean_gap = cfg.post_interval.mean
        # Past posts beyond a million per account could never show in a feed (at most max_entries).
        self.old_posts = (self.stream("history").poisson(min(cfg.history / mean_gap, 1e6), cfg.users).tolist()
                          if cfg.history > 0 and mean_gap > 0 else [0] * cfg.users)

    def pulled_author(self, followers: int) -> bool:
        """Whether an account with `followers` is read by pull (its posts are not fanned out)."""
        s = self.config.strategy
        return s == "pull" or (s == "hybrid" and followers > self.config.celebrity_threshold)

    def _declare_metrics(self) -> None:
        m = self.metrics
        self.read_s = m.observe("feed_read_s", "feed read latency, user to ranked feed (successful reads)")
        self.post_s = m.observe("post_s", "post latency, user to stored (successful posts)")
        self.to_feed = m.observe("post_to_feed_s", "post -> in a follower's feed source (its feed-cache entry "
                                 "written, or the post stored for a pulled author), per follower")
        self.to_visible = m.observe("post_to_visible_s", "post -> visible in a follower's feed read (also waiting "
                                    "out the follower's cached ranked feed), per follower")
        self.build_s = m.observe("feed_build_s", "latency of the reads that built their feed (ranked feed "
                                 "missing or expired): the fan-out-on-read path")
        self.age = m.observe("feed_age_s", "freshness: age of the ranked feed a read showed (0: built for it)")
        self.pulls = m.observe("pulls_per_build", "posts-store reads per feed built (fan-out on read)", unit="")
        self.n_reads = m.counter("reads", "feed reads answered")
        self.n_posts = m.counter("posts", "posts stored")
        self.hits = m.counter("ranked_hits", "reads served from the cached ranked feed")
        self.builds = m.counter("feeds_built", "reads that built the feed (ranked feed missing or expired)")
        self.rebuilds = m.counter("cold_rebuilds", "feeds rebuilt from the posts store (not in the feed cache)")
        self.inserts = m.counter("fanout_inserts", "feed-cache inserts sent by fan-out (one per follower per pushed post)")
        self.retries = m.counter("fanout_retries", "fan-out batches sent again after a failure")
        self.failed_reads = m.counter("failed_reads", "feed reads that failed")
        self.failed_posts = m.counter("failed_posts", "posts that failed (not stored)")
        self.partial = m.counter("partial_feeds", "feeds built with a source missing (a pull, the cache, ranking failed)")
        m.gauge("fanout_backlog", lambda: self.pending, "feed-cache inserts waiting on the fan-out queue", "inserts")
        m.gauge("feed_cache_memory", self.fc.memory_bytes, "feed-cache memory held", "bytes")
        m.value("write_amplification", lambda: self.inserts.n / self.n_posts.n if self.n_posts.n else None,
                "feed-cache inserts per post (fanout_inserts / posts)")
        m.value("ranked_hit_ratio", lambda: self.hits.n / self.n_reads.n if self.n_reads.n else None,
                "share of reads served from the cached ranked feed (ratio)")
        m.value("read_p99_s", lambda: self._pct(self.read_s, 99), "p99 of feed_read_s (s)")
        m.value("build_p99_s", lambda: self._pct(self.build_s, 99), "p99 of feed_build_s (s)")
        m.value("latency_target_met", lambda: None if not len(self.read_s.values) else
                float(self._pct(self.read_s, 99) < self.config.latency_target),
                "1 if the p99 feed read is below latency_target (the guide: 200 ms), else 0")
        m.value("visible_p50_s", lambda: self._pct(self.to_visible, 50), "median of post_to_visible_s (s)")
        m.value("celebrities", lambda: sum(self.celebrity) if self.config.strategy == "hybrid" else 0,
                "accounts pulled rather than pushed (hybrid: above celebrity_threshold)")
        m.value("top_account_followers", lambda: self.graph.follower_count(self.top), "followers of the most followed account")

    @staticmethod
    def _pct(obs: Any, q: float) -> float | None:
        return float(np.percentile(np.frombuffer(obs.values, dtype=np.float64), q)) if len(obs.values) else None

    def start(self) -> None:
        cfg = self.config
        if cfg.strategy != "pull":  # pull keeps no feeds: only the ranked feeds are cached
            old = self.old_posts
            self.fc.warm({u: sum(old[a] for a in authors) for u, authors in enumerate(self.pushed_from)})
        if cfg.history > 0:  # steady state: each ranked feed was built at some time in the last TTL
            ages = self.stream("history").random(cfg.users) * min(cfg.history, self.fc.ttl)
            self.fc.ranked.update((u, -float(a)) for u, a in enumerate(ages))
        read_gap = self.sampler("read", cfg.read_interval)
        post_gap = self.sampler("post", cfg.post_interval)
        for u in range(cfg.users):
            self.spawn(self.reader(u, read_gap))
            self._next_post(u, post_gap)
        for b in cfg.celebrity_posts:
            author = self.top if b.author is None else b.author
            for i in range(b.posts):
                self.after(b.at + i * b.every, lambda a=author: self.spawn(self.post(a)))
            self.after(b.at, lambda a=author, n=b.posts: self.event(
                "celebrity_posts", f"user {a} ({self.graph.follower_count(a):,} followers) posts {n}x"))

    def reset_stats(self) -> None:
        super().reset_stats()
        self.t_reset = self.now

    # --- posting ----------------------------------------------------------------------------------
    def _next_post(self, u: int, gap: Any) -> None:
        def go() -> None:
            self.spawn(self.post(u))
            self._next_post(u, gap)
        self.after(gap(), go)

    def post(self, u: int):
        req = self.begin("post", key=u, user=u)
        outcome = yield self.api(op="post", req=req)
        if outcome == OK:
            outcome = yield self.store(op="write", key=u, req=req)
        self.finish(req, outcome)
        if outcome != OK:
            self.failed_posts.add()
            return
        now = self.now
        post = Post(self.next_id, u, req.t0, now)
        self.next_id += 1
        self.recent[u].append(post.id)
        self.n_posts.add()
        self.post_s.add(now - req.t0)
        followers = self.graph.followers[u]
        if self.celebrity[u]:  # pulled: in every follower's feed source as soon as it is stored
            self._reached(post, followers, now)
            return
        size = self.config.batch_size
        for i in range(0, len(followers), size):
            batch = Batch(post, followers[i:i + size])
            self.pending += len(batch.followers)
            self.inserts.add(len(batch.followers))
            self._send(batch)

    def _send(self, batch: Batch) -> None:
        batch.sent += 1
        self.queue.notify(op="insert", key=batch.post.author, data=batch,
                          done=lambda outcome: self._written(batch, outcome))

    def _written(self, batch: Batch, outcome: int) -> None:
        if outcome != OK:
            self.retries.add()
            self.after(self.config.fanout_retry, lambda: self._send(batch))
            return
        self.pending -= len(batch.followers)
        self._reached(batch.post, batch.followers, batch.applied_t)

    def _reached(self, post: Post, followers: list[int], t: float) -> None:
        """`post` is in these followers' feed sources from `t`: visible at their next feed built,
        so after their cached ranked feed expires if it was built before `t` (one built since
        includes it: the answer of a retried batch can come long after the batch was written)."""
        ranked, ttl = self.fc.ranked, self.fc.ttl
        delay = t - post.t0
        add_feed, add_visible = self.to_feed.add, self.to_visible.add
        for f in followers:
            add_feed(delay)
            at = ranked.get(f)
            add_visible(at + ttl - post.t0 if at is not None and at <= t < at + ttl else delay)

    # --- reading ----------------------------------------------------------------------------------
    def reader(self, u: int, gap: Any):
        while True:
            yield self.sleep(gap())
            yield from self.read(u)

    def read(self, u: int):
        req = self.begin("read_feed", key=u, user=u)
        outcome = yield self.api(op="read", req=req)
        if outcome != OK:
            self._read_failed(req, outcome)
            return
        box = Box()
        got = yield self.cache(op="get_ranked", key=u, data=box, req=req)
        if got == OK and box.value is not None:
            self.hits.add()
            self.age.add(self.now - box.value)
        else:
            built = yield from self.build(u, req)
            if not built:
                self._read_failed(req, ERROR)
                return
            self.age.add(0.0)
            self.build_s.add(self.now - req.t0)
        self.finish(req, OK)
        self.n_reads.add()
        self.read_s.add(self.now - req.t0)

    def _read_failed(self, req: Any, outcome: int) -> None:
        self.finish(req, outcome)
        self.failed_reads.add()

    def build(self, u: int, req: Any):
        """Gather the candidates, rank them, cache the ranked feed; False if nothing could be gathered."""
        self.builds.add()
        t_gather = self.now
        pull = self.pull_from[u]
        feed = Box()
        calls = [self.store(op="read", key=a, req=req) for a in pull]
        if self.config.strategy != "pull":
            calls.append(self.cache(op="get_feed", key=u, data=feed, req=req))
        if self.recs is not None:
            calls.append(self.recs(op="recommend", req=req))
        n_pulls = len(pull)
        done = yield self.env.all_of(calls)
        outcomes = [done[ev] for ev in calls]
        ok_pulls = sum(1 for o in outcomes[:n_pulls] if o == OK)
        partial = ok_pulls < n_pulls
        sources = ok_pulls
        if self.config.strategy != "pull":
            cache_ok = outcomes[n_pulls] == OK
            if cache_ok and feed.value is not None:
                sources += 1
            else:  # the feed is not cached (flushed, crashed, lost): rebuild it from the posts store
                self.rebuilds.add()
                authors = self.pushed_from[u]
                more = [self.store(op="read", key=a, req=req) for a in authors]
                if more:
                    done = yield self.env.all_of(more)
                ok = sum(1 for ev in more if done[ev] == OK)
                n_pulls += len(more)
                sources += ok + (1 if not authors else 0)
                partial = partial or ok < len(more)
                if cache_ok and ok == len(more):  # write the rebuilt feed back (newest max_entries post ids)
                    ids = sorted(heapq.nlargest(self.fc.max_entries, chain.from_iterable(self.recent[a] for a in authors)))
                    self.cache.notify(op="fill", key=u, data=(ids, sum(self.old_posts[a] for a in authors)))
        elif not pull:
            sources += 1  # follows nobody: an empty feed, rightly
        self.pulls.add(n_pulls)
        if sources == 0:
            return False
        ranked = yield self.rank(op="rank", req=req)
        partial = partial or ranked != OK
        if partial:
            self.partial.add()
        else:  # a complete feed is cached (a partial one is not: the next read tries again)
            self.cache.notify(op="set_ranked", key=u, data=t_gather)
        return True

    # --- the full system --------------------------------------------------------------------------
    def extrapolate(self) -> list[str]:
        span = max(self.now - getattr(self, "t_reset", 0.0), 1e-9)
        cfg = self.config
        lines = [f"{self.full(cfg.users):,.0f} users read {self.full(self.n_reads.n / span):,.0f} feeds/s and store "
                 f"{self.full(self.n_posts.n / span):,.0f} posts/s"]
        if self.n_posts.n:
            wa = self.inserts.n / self.n_posts.n
            lines.append(f"fan-out ({cfg.strategy}): {wa:,.1f} feed-cache inserts per post, "
                         f"{self.full(self.inserts.n / span):,.0f} inserts/s in all")
        st = self.fanout_station
        busy = (st.stats(span)["utilization"] or 0.0) * st.workers  # mean busy workers over the measured time
        if busy:
            lines.append(f"at this load per fan-out worker, the full system needs ~{self.full(busy) / 0.7:,.0f} "
                         f"fan-out workers (busy {busy:.2f} of {st.workers} here, sized for 70% utilisation)")
        mem = self.fc.memory_bytes()
        lines.append(f"feed cache: {mem / 1e6:,.1f} MB here -> ~{self.full(mem) / 1e9:,.0f} GB for the full system "
                     f"(~{self.full(mem) / 64e9:,.0f} cache servers of 64 GB)")
        p99 = self._pct(self.read_s, 99)
        if p99 is not None:
            verdict = "meets" if p99 < cfg.latency_target else "misses"
            lines.append(f"feed read p99 {p99 * 1e3:,.0f} ms {verdict} the {cfg.latency_target * 1e3:,.0f} ms target")
        return lines
