"""The news feed's two pieces of infrastructure that hold domain state: the feed cache (each user's
list of post ids, capped, and each user's ranked feed, cached with a TTL) and the fan-out workers
(a queue of fan-out batches and the workers that write them into the feed cache).

Both are queueing stations (`models/station.py`): their service times depend on the work a call
carries (the entries it touches), their workers queue, and faults crash, pause or slow them like
any server. The data travels in the call's `data` (an `AppRequest`), so it crosses the network.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import Field, PositiveInt

from models.station import Station, StationConfig
from simulator.engine.faultable import count
from simulator.engine.request import ERROR, OK, Reply, Request
from simulator.language import registry
from simulator.language.units import Duration, PositiveDuration, PositiveSize
from simulator.sampling.distributions import DurationDist, parse_distribution


class Box:
    """Where a store puts what a read found (the call's answer beyond its outcome)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


class Batch:
    """One fan-out batch: a post to insert into the feeds of some followers."""

    __slots__ = ("post", "followers", "applied_t", "sent")

    def __init__(self, post: Any, followers: list[int]) -> None:
        self.post, self.followers = post, followers
        self.applied_t: float | None = None  # when the feed cache wrote it (first time)
        self.sent = 0  # attempts (a failed attempt is sent again: at-least-once)


class FeedCacheConfig(StationConfig):
    type: Literal["feed_cache"] = "feed_cache"
    workers: PositiveInt = Field(8, le=100000, description="Operations served at once (cache shards x threads).")
    op_time: DurationDist = Field(default_factory=lambda: parse_distribution("exponential(mean=0.2ms)"),
                                  description="Time of one operation, before the per-entry work.")
    entry_time: Duration = Field(2e-6, description="Extra time per feed entry an operation writes or reads.")
    max_entries: PositiveInt = Field(500, le=1000000, description="Post ids kept per user's feed (the guide: 500); "
                                     "inserting into a full feed drops its oldest entry.")
    ranked_ttl: PositiveDuration = Field(300.0, description="How long a ranked feed stays cached (the guide: 300 s).")
    entry_size: PositiveSize = Field(64.0, description="Memory per feed entry (post id, author, time, list overhead).")
    ranked_size: PositiveSize = Field(1024.0, description="Memory per cached ranked feed (one page of post ids and scores).")
    persistent: bool = Field(False, description="Keep the data across a crash (an append-only file); "
                             "false: a crashed cache comes back empty, like a cache_flush.")


@registry.components.register("feed_cache")
class FeedCache(Station):
    """News-feed cache: each user's post ids (capped, oldest dropped) and ranked feed (TTL); flushable."""

    Config = FeedCacheConfig
    # A cache_flush fault is instant: each adds one contribution for good, and each new one flushes.
    FAULT_KINDS = {**Station.FAULT_KINDS, "flush": ("flushes", count)}
    flushes = 0

    def __init__(self, env: Any, name: str, config: FeedCacheConfig) -> None:
        super().__init__(env, name, config)
        self.workers = config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self._op = self.service_sampler(config.op_time, "op")
        self.entry_s = config.entry_time / config.speed
        self.max_entries = config.max_entries
        self.ttl = config.ranked_ttl
        self.feeds: dict[int, deque] = {}  # user -> post ids, newest last; absent: cold (never built or lost)
        # user -> entries older than the run (posts made before it), kept as a count: the oldest go first
        self.old: dict[int, int] = {}
        self.ranked: dict[int, float] = {}  # user -> when its cached ranked feed was computed
        self.entries = 0  # feed entries held (sum of the feeds' lengths)
        self.events: list[dict[str, Any]] = []  # flushes, for the charts

    def reset_stats(self) -> None:
        super().reset_stats()
        self.inserts = 0
        self.cold_inserts = 0
        self.duplicate_batches = 0
        self.lost_entries = 0

    # --- the data -------------------------------------------------------------------------------
    def memory_bytes(self) -> float:
        return self.entries * self.config.entry_size + len(self.ranked) * self.config.ranked_size

    def ranked_at(self, user: int) -> float | None:
        """When `user`'s cached ranked feed was computed, if it is still valid now."""
        at = self.ranked.get(user)
        if at is not None and at + self.ttl <= self.clock():
            del self.ranked[user]
            return None
        return at

    def warm(self, old: dict[int, int]) -> None:
        """The feeds cached at the start (user -> entries from before the run): a cache in steady
        state, not a cold one."""
        cap = self.max_entries
        for u, n in old.items():
            self.feeds[u] = deque(maxlen=cap)
            self.old[u] = n = min(n, cap)
            self.entries += n

    def feed_length(self, user: int) -> int | None:
        feed = self.feeds.get(user)
        return None if feed is None else len(feed) + self.old.get(user, 0)

    def _insert(self, batch: Batch) -> None:
        if batch.applied_t is not None:
            self.duplicate_batches += 1  # a retried batch already written: inserts are idempotent (by post id)
            return
        batch.applied_t = self.env._now
        pid = batch.post.id
        feeds, old, cap = self.feeds, self.old, self.max_entries
        for f in batch.followers:
            feed = feeds.get(f)
            if feed is None:
                self.cold_inserts += 1  # not cached: the feed is rebuilt from the posts when next read
                continue
            n_old = old.get(f, 0)
            if len(feed) + n_old < cap:
                self.entries += 1
            elif n_old:
                old[f] = n_old - 1  # full: the oldest entry (from before the run) goes
            feed.append(pid)
        self.inserts += len(batch.followers)

    def _fill(self, user: int, ids: list[int], n_old: int) -> None:
        """Write a rebuilt feed: post ids of the run, newest last, and entries from before it."""
        before = self.feed_length(user)
        if before is not None:
            self.entries -= before
        cap = self.max_entries
        feed = self.feeds[user] = deque(ids[-cap:], maxlen=cap)
        self.old[user] = n_old = min(n_old, cap - len(feed))
        self.entries += len(feed) + n_old

    def work_of(self, req: Request) -> int:
        """Feed entries the call touches (its per-entry work)."""
        op, data = req.op, req.data
        if op == "insert":
            return len(data.followers)
        if op == "fill":
            return len(data[0]) + data[1]
        if op == "get_feed":
            return self.feed_length(req.key) or 0
        return 0

    # --- the station ----------------------------------------------------------------------------
    def service_time(self, req: Request) -> float:
        return self._op() + self.entry_s * self.work_of(req)

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        op, key = req.op, req.key
        outcome = OK
        if op == "get_ranked":
            req.data.value = self.ranked_at(key)
        elif op == "get_feed":
            req.data.value = self.feed_length(key)
        elif op == "insert":
            self._insert(req.data)
        elif op == "set_ranked":
            self.ranked[key] = req.data
        elif op == "fill":
            self._fill(key, *req.data)
        else:
            outcome = ERROR
        self.release()
        reply(outcome)

    # --- faults ---------------------------------------------------------------------------------
    def fault_changed(self, kind: str, before: Any, after: Any) -> None:
        if kind == "flush":
            self.flush()
            self.events.append({"at_s": self.env._now, "kind": "cache_flush", "description": "feed cache flush"})
        else:
            super().fault_changed(kind, before, after)

    def flush(self) -> None:
        """Lose every feed and ranked feed: reads find the feeds cold and rebuild them."""
        self.lost_entries += self.entries
        self.feeds.clear()
        self.old.clear()
        self.ranked.clear()
        self.entries = 0

    def crash(self) -> None:
        super().crash()
        if not self.config.persistent:
            self.flush()

    # --- metrics --------------------------------------------------------------------------------
    def sample(self) -> dict[str, float]:
        now = self.clock()
        ttl = self.ttl
        expired = [u for u, at in self.ranked.items() if at + ttl <= now]
        for u in expired:  # expiry of keys nobody reads (as Redis's active expiry does)
            del self.ranked[u]
        return super().sample() | {"memory_bytes": self.memory_bytes()}

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        return super().stats(elapsed_s) | {
            "feeds_cached": len(self.feeds), "entries": self.entries, "ranked_cached": len(self.ranked),
            "memory_bytes": self.memory_bytes(), "inserts": self.inserts, "cold_inserts": self.cold_inserts,
            "duplicate_batches": self.duplicate_batches, "lost_entries": self.lost_entries} | (
            {"events": self.events} if self.events else {})


class FanoutConfig(StationConfig):
    type: Literal["fanout_workers"] = "fanout_workers"
    workers: PositiveInt = Field(2, le=100000, description="Fan-out workers (each takes one batch at a time).")
    batch_time: DurationDist = Field(default_factory=lambda: parse_distribution("1ms"),
                                     description="A worker's work per batch (reading the batch's page of followers).")
    insert_time: Duration = Field(1e-3, description="A worker's work per follower of the batch (one feed write).")
    feed_cache: str = Field(description="The feed cache the batches are written to.")

    def refs(self):
        return [(("feed_cache",), self.feed_cache)]

    def cross_check(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        cfg = scenario.components.get(self.feed_cache)
        if cfg is not None and cfg.type != "feed_cache":
            return [(("components", name, "feed_cache"), f"'{self.feed_cache}' is a {cfg.type}, not a feed_cache")]
        return []


@registry.components.register("fanout_workers")
class FanoutWorkers(Station):
    """Fan-out workers: a FIFO of fan-out batches (the fan-out queue) written into a feed cache."""

    Config = FanoutConfig

    def __init__(self, env: Any, name: str, config: FanoutConfig) -> None:
        super().__init__(env, name, config)
        self.workers = config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self._batch = self.service_sampler(config.batch_time, "batch")
        self.insert_s = config.insert_time / config.speed
        self.link: Any = None

    def connect(self, system: Any) -> None:
        self.link = system.network.link(self, system.get(self.config.feed_cache))

    def dependencies(self) -> list[str]:
        return [self.config.feed_cache]

    def service_time(self, req: Request) -> float:
        return self._batch() + self.insert_s * len(req.data.followers)

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        # The worker waits for the feed cache's answer before taking the next batch.
        epoch = self.epoch

        def written(outcome: int) -> None:
            if self.epoch != epoch:
                return  # this worker's batch was failed by a crash meanwhile
            self.release()
            reply(outcome)

        if self._active is not None:  # a crash while waiting fails the batch (sent again by its producer)
            self._waiting[written] = reply
        self.link.send(req, written if self._active is None else self._forget(written))

    def _forget(self, written: Any) -> Any:
        def answer(outcome: int) -> None:
            if self._waiting.pop(written, None) is not None:
                written(outcome)
        return answer

    def prepare_for_crash(self) -> None:
        super().prepare_for_crash()
        self._waiting: dict[Any, Reply] = {}

    def crash(self) -> None:
        waiting, self._waiting = self._waiting, {}
        super().crash()
        for reply in waiting.values():
            reply(ERROR)

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        return super().stats(elapsed_s) | {"queue_now": len(self.queue)}
