"""A cache in front of a backing component (a store, another cache, a shard or replica set).

The hit ratio is not configured: it emerges from the workload's keys, the capacity, the eviction
policy and TTLs. Modes differ in what happens on a miss and on a write:

- cache_aside: a miss fetches from the backing store; concurrent misses on one key each fetch
  (the thundering herd); a write goes to the store and then invalidates the entry.
- read_through: as cache_aside, but concurrent misses on one key share one fetch.
- write_through: a write goes to the store and, once stored, updates the entry.
- write_behind: a write is acknowledged from the cache and flushed to the store every
  `flush_interval`; a crash before the flush loses it (counted as `lost_writes`).
- refresh_ahead: read_through, plus a hit on an entry older than `refresh_ahead` x `ttl`
  refreshes it in the background, so popular keys rarely expire.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator.language import registry
from simulator.sampling.distributions import Constant, DurationDist, Sampler, SizeDist, parse_distribution
from simulator.engine.faultable import count
from simulator.engine.request import (CAUSE_CRASHED, DEGRADED, ERROR, OK, Reply, Request, failure_of, note_failure,
                                      share_failure)
from simulator.language.units import Fraction, PositiveDuration, PositiveSize, parse_size, UnitError

from . import cache_modes  # noqa: F401  (registers the access modes)
from simulator.resilience import ResilienceConfig, guard

from .database import WRITE_OPERATIONS
from .station import Station, StationConfig
from .versions import UNKNOWN, StaleReads, sub_request

# The names of `registry.cache_modes`, in the order the docs and validation messages list them (a
# test checks they match the registry).
MODES = ("cache_aside", "read_through", "write_through", "write_behind", "refresh_ahead")
Mode = Literal["cache_aside", "read_through", "write_through", "write_behind", "refresh_ahead"]

_new = object.__new__

# Entry fields (a list per cached key: cheaper than an object, mutable in place).
VERSION, EXPIRES, FETCHED, SIZE = range(4)


class CacheConfig(StationConfig):
    type: Literal["cache"] = "cache"
    capacity: PositiveInt | None = Field(
        None, description="How many items fit; or a size such as 64MB to bound the bytes held instead."
    )
    capacity_bytes: PositiveSize | None = Field(
        None, description="Bytes that fit (set by writing `capacity` with a size unit)."
    )
    item_size: SizeDist = Field(
        default_factory=lambda: parse_distribution("1KB", "size"),
        description="Size of an item (drawn once per key); counts against a capacity in bytes.",
    )
    eviction: registry.name_in(registry.eviction_policies) = Field("lru", description="Eviction policy (see the list of policies).")
    ttl: PositiveDuration | None = Field(None, description="Entries expire this long after they were fetched.")
    stale_if_error: PositiveDuration | None = Field(
        None, description="Serve an expired entry, answered `degraded`, when fetching it again fails, up to this long "
        "after it expired (RFC 5861 stale-if-error); unset: an expired entry is dropped when it is read.")
    mode: Mode = Field("cache_aside", description="Access pattern: " + ", ".join(MODES) + ".")
    backing: str = Field(description="Component a miss is fetched from and writes go to.")
    workers: PositiveInt | None = Field(
        None, description="Lookups served at once (e.g. 1 for Redis); unset: no queueing at the cache."
    )
    service_time: DurationDist = Field(
        default_factory=lambda: parse_distribution("0s"), description="Time of one lookup at the cache."
    )
    write_operations: list[str] = Field(
        default_factory=lambda: list(WRITE_OPERATIONS),
        description="Operation names treated as writes; every other operation is a read.",
    )
    refresh_ahead: Fraction = Field(
        0.8, description="refresh_ahead mode: refresh a hit entry older than this fraction of its TTL."
    )
    flush_interval: PositiveDuration = Field(1.0, description="write_behind mode: how often dirty entries are flushed.")
    resilience: ResilienceConfig | None = Field(
        None, description="Policies on the cache's calls to its backing store (fetches, writes, flushes).")
    when_down: Literal["go_to_backing", "fail"] | None = Field(
        None, description="cache_aside mode: when a caller cannot reach the cache (down, paused, cut off), it "
        "reads the backing store itself (go_to_backing, the default) or fails (fail). Other modes: fail.")

    @model_validator(mode="before")
    @classmethod
    def _capacity_in_bytes(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("capacity"), str):
            raw = data["capacity"].strip()
            if not raw.isdigit():
                try:
                    parse_size(raw)
                except UnitError:
                    raise ValueError(f"capacity: expected a number of items (e.g. 10000) or a size "
                                     f"(e.g. 64MB), got {raw!r}") from None
                data = {**data, "capacity_bytes": raw}
                del data["capacity"]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "CacheConfig":
        if (self.capacity is None) == (self.capacity_bytes is None):
            raise ValueError("a cache needs a 'capacity': a number of items (e.g. 10000) or a size (e.g. 64MB)")
        if self.stale_if_error is not None and self.ttl is None:
            raise ValueError("'stale_if_error' needs a 'ttl' (without one no entry ever expires)")
        if self.mode == "refresh_ahead" and self.ttl is None:
            raise ValueError("mode 'refresh_ahead' needs a 'ttl' (entries are refreshed before they expire)")
        if self.when_down == "go_to_backing" and self.mode != "cache_aside":
            raise ValueError(f"'when_down: go_to_backing' needs mode cache_aside (in mode {self.mode} the "
                             "application does not talk to the backing store itself)")
        if self.mode == "refresh_ahead" and not 0.0 < self.refresh_ahead < 1.0:
            raise ValueError("'refresh_ahead' must be strictly between 0 and 1 (a fraction of the TTL)")
        return self

    def refs(self):
        return [(("backing",), self.backing)]

    @property
    def goes_to_backing_when_down(self) -> bool:
        """Callers read the backing store themselves when they cannot reach the cache (cache_aside default)."""
        return self.mode == "cache_aside" and self.when_down != "fail"


class _Fetch:
    """Reply of a fetch from the backing store: fills the cache, then answers the waiting callers."""

    __slots__ = ("cache", "key", "sub", "req", "reply", "epoch")

    def __init__(self, cache: "Cache", key: Any, sub: Request, req: Request | None, reply: Reply | None) -> None:
        self.cache, self.key, self.sub, self.req, self.reply = cache, key, sub, req, reply
        self.epoch = cache.epoch
        if reply is not None and cache.calls is not None:
            cache.calls[self] = None

    def __call__(self, outcome: int) -> None:
        cache = self.cache
        if cache.epoch != self.epoch:  # the cache crashed meanwhile: its callers were failed then
            return
        if cache.calls is not None:
            cache.calls.pop(self, None)
        version = self.sub.meta
        if outcome == OK:
            cache.fill(self.key, version)
        elif cache.stale_s is not None and cache.can_serve_stale(self.key):
            e = cache.entries[self.key]
            # stale-if-error: the expired entry kept for this answers instead (or, if another fetch has
            # refreshed it meanwhile, the fresh entry: a hit)
            outcome = DEGRADED if e[EXPIRES] <= cache.clock() else OK
            version = e[VERSION]
            cache.stale_served += 1 if self.reply is not None else len(cache.pending.get(self.key, ()))
        if self.reply is None:  # coalesced: every caller waiting on this key
            # the fetch's failure is theirs, and so is its cause (read before the first caller's
            # answer takes it into that caller's record)
            why = failure_of(cache.env, self.sub.id) if outcome != OK and outcome != DEGRADED else None
            for req, reply in cache.pending.pop(self.key, ()):
                if why is not None:
                    share_failure(cache.env, why, req)
                req.meta = version
                reply(outcome)
        else:
            self.req.meta = version
            reply = self.reply  # (see network.py `_hop_back`)
            reply(outcome)


class _Write:
    """Reply of a write forwarded to the backing store (cache_aside, read_through, write_through)."""

    __slots__ = ("cache", "key", "sub", "req", "reply", "epoch")

    def __init__(self, cache: "Cache", key: Any, sub: Request, req: Request, reply: Reply) -> None:
        self.cache, self.key, self.sub, self.req, self.reply = cache, key, sub, req, reply
        self.epoch = cache.epoch
        if cache.calls is not None:
            cache.calls[self] = None

    def __call__(self, outcome: int) -> None:
        cache = self.cache
        if cache.epoch != self.epoch:  # the cache crashed meanwhile: its caller was failed then
            return
        if cache.calls is not None:
            cache.calls.pop(self, None)
        if outcome == OK:
            if cache.update_on_write:
                cache.fill(self.key, self.sub.meta)
            elif self.key in cache.entries:
                cache.invalidations += 1
                cache.remove(self.key)
        self.req.meta = self.sub.meta
        self.reply(outcome)


class _Seen:
    """Histories only: the reply of a checkable read, which records the value of the version the
    cache answered with (a hit, a coalesced wait, a fill) before answering."""

    __slots__ = ("cache", "row", "req", "reply")

    def __init__(self, cache: "Cache", row: int, req: Request, reply: Reply) -> None:
        self.cache, self.row, self.req, self.reply = cache, row, req, reply

    def __call__(self, outcome: int) -> None:
        if outcome == OK:
            self.cache.report_value(self.row, self.req.key, self.req.meta)
        self.reply(outcome)


class _Flush:
    __slots__ = ("cache", "key", "count", "sub", "epoch")

    def __init__(self, cache: "Cache", key: Any, count: int, sub: Request) -> None:
        self.cache, self.key, self.count, self.sub = cache, key, count, sub
        self.epoch = cache.epoch

    def __call__(self, outcome: int) -> None:
        cache = self.cache
        cache.flushing -= self.count
        if cache.epoch != self.epoch:
            cache.lost_writes += self.count  # the flush failed and the buffer that held it is gone
            return
        if outcome == OK:
            cache.flushed += self.count
            e = cache.entries.get(self.key)
            if e is not None and self.key not in cache.dirty:
                cache.entries[self.key] = (self.sub.meta, e[EXPIRES], e[FETCHED], e[SIZE])
        else:
            cache.flush_failures += 1
            cache.mark_dirty(self.key, self.count)  # retried at the next flush


@registry.components.register("cache")
class Cache(Station):
    """Cache: capacity in items or bytes, lru/lfu/fifo/random eviction, TTL, five access modes."""

    Config = CacheConfig
    __slots__ = ("entries", "policy", "shared_order", "used", "limit", "ttl", "sizes", "by_bytes", "track_bytes",
                 "pending", "coalesce", "calls", "dirty", "link", "source", "_latest_version", "_service",
                 "_draw_size", "refresh_after", "stale_s", "stale", "update_on_write", "write_ops", "hits",
                 "misses", "evictions", "expired_entries", "stale_served", "invalidations", "coalesced",
                 "refreshes", "bypassed", "writes", "hit_bytes", "miss_bytes", "fetched_bytes")

    def __init__(self, env: Any, name: str, config: CacheConfig) -> None:
        super().__init__(env, name, config)
        self.unlimited = config.workers is None
        self.workers = sys.maxsize if self.unlimited else config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self.instant = self.unlimited and isinstance(config.service_time, Constant) and config.service_time.mean == 0
        self._service = self.draw_service = self.service_sampler(config.service_time, "service")
        self.policy = registry.eviction_policies.get(config.eviction)(env.streams.get(f"{name}/eviction"))
        self.by_bytes = config.capacity_bytes is not None
        self.track_bytes = self.by_bytes  # hit/miss/fetched bytes (also turned on by a CDN)
        self.limit = config.capacity_bytes if self.by_bytes else config.capacity
        self.ttl = config.ttl if config.ttl is not None else math.inf
        self.mode = config.mode
        # The access mode is chosen once; its per-request decisions are hoisted into plain attributes.
        self.access = registry.cache_modes.get(config.mode)(self)
        self.coalesce = self.access.coalesce
        self.update_on_write = self.access.update_on_write
        self.refresh_after = self.access.refresh_after(self.ttl)
        self.stale_s = config.stale_if_error  # keep expired entries this long, for failed fetches
        self.write_ops = frozenset(config.write_operations)
        self._draw_size = Sampler(config.item_size, env.streams.get(f"{name}/item_size")).next
        self.sizes: dict = {}  # key -> bytes, drawn once per key
        self.entries: dict = {}  # key -> (version, expires_at, fetched_at, size)
        # An LRU or FIFO order is the entries' own mapping (see `EvictionPolicy`): no second table
        self.shared_order = self.policy.holds_entries
        if self.shared_order:
            self.entries = self.policy.order
        self.used = 0.0  # items or bytes held
        self.pending: dict = {}  # key -> callers waiting on one fetch (coalescing modes)
        self.calls: dict | None = None  # fetches and writes in flight for a caller, tracked if it may crash
        self.dirty: dict = {}  # write_behind: key -> writes acknowledged but not yet flushed
        self.flushing = 0
        self._flush_timer = False
        self.link: Any = None
        self.source: Any = None
        self.events: list[dict[str, Any]] = []  # cache flushes, for the charts (Result.events)
        # Histories (`history: true`): a read answered from an entry reports the value of the entry's
        # version (docs/consistency.md, "How a store reports what a read saw"). A run without
        # histories keeps the plain `process`.
        self.history = getattr(env, "history", None)
        if self.history is not None:
            self.process = self._process_values
        if self.instant:
            # Nothing queues here: a call is its lookup, entered with no frame of `handle` in front
            # (`served` is then the count of lookups: see `stats`)
            self.handle = self.process

    def reset_stats(self) -> None:
        super().reset_stats()
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expired_entries = 0
        self.stale_served = 0
        self.invalidations = 0
        self.coalesced = 0
        self.refreshes = 0
        self.bypassed = 0
        self.writes = 0
        self.flushed = 0
        self.flush_failures = 0
        self.lost_writes = 0
        self.flushed_keys = 0
        self.hit_bytes = 0.0
        self.miss_bytes = 0.0
        self.fetched_bytes = 0.0
        self.stale = StaleReads()
        self._sample_hits = 0
        self._sample_lookups = 0

    def connect(self, system: Any) -> None:
        backing = system.get(self.config.backing)
        self.link = system.network.link(self, backing)
        policies = self.config.resilience
        if policies is not None and policies.active():  # the fetches from (and writes to) the store
            self.link = guard(self.link, policies, f"{self.name}->{backing.name}", system)
        self.source = self.version_source(system)
        if self.source is not None:  # bound once: read on every hit
            self._latest_version = self.source.latest_version

    def version_source(self, system: Any) -> Any:
        """The component that knows the latest committed version of every key behind this cache."""
        backing = system.get(self.config.backing)
        return backing.version_source(system)

    # --- entries --------------------------------------------------------------------------------
    def size_of(self, key: Any) -> float:
        size = self.sizes.get(key)
        if size is None:
            size = self.sizes[key] = self._draw_size()
        return size

    def fill(self, key: Any, version: Any) -> None:
        """Store (or refresh) `key` as fetched now, evicting as needed (times by the cache's own clock,
        which a clock_skew fault moves: see `Component.clock`)."""
        now = self.env._now if self.skew is None else self.clock()
        entries = self.entries
        e = entries.get(key)
        if e is not None:  # (replaced, not moved: a refresh keeps the entry's place in the order)
            entries[key] = (version, now + self.ttl, now, e[SIZE])
            return
        size = self.size_of(key) if self.by_bytes else 1
        limit = self.limit
        if size > limit:
            return  # larger than the whole cache: never admitted
        used = self.used + size
        if used > limit:  # self.evict() until it fits, inline: a full cache evicts on most fills
            shared = self.shared_order
            victim = self.policy.victim
            dirty = self.dirty
            while used > limit:
                if shared:  # the oldest entry goes
                    old, e = entries.popitem(False)
                else:
                    old = victim()
                    e = entries.pop(old)
                used -= e[SIZE]
                self.evictions += 1
                if old in dirty:  # write-back on eviction (see `evict`)
                    self.used = used - size
                    self.flush_key(old)
        entries[key] = (version, now + self.ttl, now, size)
        if not self.shared_order:
            self.policy.insert(key)
        self.used = used

    def evict(self) -> None:
        if self.shared_order:
            key, e = self.entries.popitem(False)
        else:
            key = self.policy.victim()
            e = self.entries.pop(key)
        self.used -= e[SIZE]
        self.evictions += 1
        if key in self.dirty:  # write-back on eviction: the only copy must reach the store
            self.flush_key(key)

    def remove(self, key: Any) -> None:
        e = self.entries.pop(key)
        if not self.shared_order:
            self.policy.remove(key)
        self.used -= e[SIZE]

    # --- requests -------------------------------------------------------------------------------
    # A lookup that queues enters the station's `handle` (this class's copy of it: Station.HOT_METHODS);
    # a cache with no queue is entered at `process` (bound over `handle` in `__init__`).

    def service_time(self, req: Request) -> float:
        return self._service()

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        self.release()
        self.process(req, reply)

    def process(self, req: Request, reply: Reply) -> None:
        key = req.key
        if key is None:  # nothing to look up: pass through
            self.bypassed += 1
            self.link.send(req, reply)
            return
        if req.op in self.write_ops:
            self.write(req, reply)
            return
        now = self.env._now
        clock = now if self.skew is None else self.clock()  # TTLs read the cache's own clock
        e = self.entries.get(key)
        if e is not None and e[EXPIRES] <= clock:
            self.expired_entries += 1
            if self.stale_s is None or clock - e[EXPIRES] > self.stale_s:
                self.remove(key)  # (kept within stale_if_error: refetched below, or served if that fails)
        elif e is not None:
            self.hits += 1
            self.policy.touch(key)
            if self.track_bytes:
                self.hit_bytes += self.size_of(key)
            version = e[VERSION]
            source = self.source
            if source is not None and version is not None:
                latest = self._latest_version(key)
                if version < latest:
                    self.stale.record(version, latest, source.stale_since(key, version), now)
                else:  # self.stale.record(version, latest, None, now), inline: the usual case
                    self.stale.reads += 1
            if clock - e[FETCHED] > self.refresh_after and key not in self.pending:
                self.refreshes += 1
                self.pending[key] = []
                sub = sub_request(req)
                self.link.send(sub, _Fetch(self, key, sub, None, None))
            req.meta = version
            reply(OK)
            return
        self.misses += 1
        if self.track_bytes:
            self.miss_bytes += self.size_of(key)
        if self.coalesce:
            pending = self.pending
            waiting = pending.get(key)
            if waiting is not None:
                self.coalesced += 1
                waiting.append((req, reply))
                return
            pending[key] = [(req, reply)]
            caller = reply = None  # the fetch answers every caller waiting on the key
        else:
            caller = req
        if self.track_bytes:
            self.fetched_bytes += self.size_of(key)
        sub = sub_request(req)
        fetch = _new(_Fetch)  # _Fetch(self, key, sub, caller, reply), without an __init__ frame: once per miss
        fetch.cache = self
        fetch.key = key
        fetch.sub = sub
        fetch.req = caller
        fetch.reply = reply
        fetch.epoch = self.epoch
        if reply is not None and self.calls is not None:
            self.calls[fetch] = None
        self.link.send(sub, fetch.__call__)  # bound: a cheaper call (see network.py `_hop_arrive`)

    def _process_values(self, req: Request, reply: Reply) -> None:
        """`process` in a run that records histories: a checkable read's reply notes its value."""
        if req.key is not None and req.id >= 0 and req.op not in self.write_ops:
            row = self.history.ops.get(req.id)
            if row is not None:
                reply = _Seen(self, row, req, reply)
        Cache.process(self, req, reply)

    def report_value(self, row: int, key: Any, version: Any) -> None:
        """The read in history row `row` returned `version` of `key` from this cache: its value, from
        the store behind (`value_at`), is what the read saw. Final, so a refresh-ahead fetch of the
        same request cannot replace it with the store's newer value. A version whose value is not
        known (a write-back entry: the cache's own write; no store that keeps values) leaves the
        read unknown (`info`)."""
        history = self.history
        source = self.source
        if history.final[row] or version is None or source is None:
            return
        value = source.value_at(key, version)
        if value is not UNKNOWN:
            history.read[row] = value
            history.final[row] = 1

    def can_serve_stale(self, key: Any) -> bool:
        """stale-if-error: the cache still holds `key`, expired less than `stale_if_error` ago."""
        e = self.entries.get(key)
        return e is not None and self.clock() - e[EXPIRES] <= self.stale_s

    def write(self, req: Request, reply: Reply) -> None:
        self.writes += 1
        self.access.write(req, reply)

    def write_to_store(self, req: Request, reply: Reply) -> None:
        """Forward a write to the backing store; its reply updates or invalidates the entry."""
        sub = sub_request(req)
        self.link.send(sub, _Write(self, req.key, sub, req, reply))

    def write_back(self, req: Request, reply: Reply) -> None:
        """Acknowledge a write from the cache; the next flush takes it to the store."""
        key = req.key
        self.fill(key, None)  # newer than anything committed: never counted stale
        self.mark_dirty(key, 1)
        req.meta = None
        reply(OK)

    # --- write-behind ---------------------------------------------------------------------------
    def mark_dirty(self, key: Any, count: int) -> None:
        self.dirty[key] = self.dirty.get(key, 0) + count
        if not self._flush_timer:
            self._flush_timer = True
            self.env.call_later(self.config.flush_interval, self._flush_all)

    def _flush_all(self, _timer: Any) -> None:
        self._flush_timer = False
        if self.down:
            return
        for key in list(self.dirty):
            self.flush_key(key)

    def flush_key(self, key: Any) -> None:
        count = self.dirty.pop(key)
        self.flushing += count
        # Repeated writes to one key between flushes reach the store as one write.
        sub = Request(-1, self.env._now, -1, self.config.write_operations[0], key)
        self.link.send(sub, _Flush(self, key, count, sub))

    # --- faults ---------------------------------------------------------------------------------
    # A cache_flush fault is instant: each adds one contribution for good, and each new one flushes.
    FAULT_KINDS = {**Station.FAULT_KINDS, "flush": ("flushes", count)}
    flushes = 0

    def fault_changed(self, kind: str, before: Any, after: Any) -> None:
        if kind == "flush":
            self.flush_keys()
        else:
            super().fault_changed(kind, before, after)

    def flush_keys(self) -> None:
        """Lose every key (a cache_flush): entries go, fetches in flight still fill when they return;
        writes acknowledged but not flushed (write_behind) stay to be flushed."""
        self.flushed_keys += len(self.entries)
        for key in list(self.entries):
            if key not in self.dirty:
                self.remove(key)
        # (Result.events puts the component's name in front)
        self.events.append({"at_s": self.env.now, "kind": "cache_flush",
                            "description": f"cache flush, {len(self.entries)} dirty keys kept"
                            if self.entries else "cache flush"})

    def prepare_for_crash(self) -> None:
        super().prepare_for_crash()
        self.calls = {}

    def crash(self) -> None:
        self.lost_writes += sum(self.dirty.values())
        self.dirty.clear()
        waiting = [w for ws in self.pending.values() for w in ws]
        self.pending.clear()
        if self.calls:  # a caller waiting on a store call loses it now, as one waiting in the queue does
            waiting.extend((call.req, call.reply) for call in self.calls)
            self.calls.clear()
        self.entries.clear()  # restarts cold
        self.policy.clear()
        self.used = 0.0
        super().crash()  # bumps the epoch: fetches in flight are ignored when they return
        self.failed += len(waiting)
        fault = self.fault_token("crash")
        for req, reply in waiting:
            note_failure(self.env, req, CAUSE_CRASHED, self.name, fault)
            reply(ERROR)

    # --- metrics --------------------------------------------------------------------------------
    def stats(self, elapsed_s: float) -> dict[str, Any]:
        out = super().stats(elapsed_s)
        if self.unlimited:
            out["workers"] = None
            out["utilization"] = None
        if self.instant:  # every call was one lookup, each counted once by what it was
            out["served"] = self.hits + self.misses + self.bypassed + self.writes
        lookups = self.hits + self.misses
        out.update(
            mode=self.mode,
            eviction=self.config.eviction,
            hits=self.hits,
            misses=self.misses,
            hit_ratio=self.hits / lookups if lookups else None,
            evictions=self.evictions,
            expired_entries=self.expired_entries,
            items=len(self.entries),
            capacity=self.limit,
            capacity_unit="bytes" if self.by_bytes else "items",
            fill_ratio=self.used / self.limit,
            invalidations=self.invalidations,
            coalesced_misses=self.coalesced,
            refreshes=self.refreshes,
            writes=self.writes,
        )
        if self.track_bytes:
            out["byte_hit_ratio"] = (self.hit_bytes / (self.hit_bytes + self.miss_bytes)
                                     if self.hit_bytes + self.miss_bytes else None)
        out.update(self.access.extra_stats())
        if self.stale_s is not None:
            out["stale_served"] = self.stale_served
        if self.events:  # only a run with a cache_flush reports them (others' summaries stay as they were)
            out["flushed_keys"] = self.flushed_keys
            out["events"] = self.events
        if self.source is not None:
            out.update(self.stale.stats())
        return out

    def sample(self) -> dict[str, float]:
        out = {} if self.instant else super().sample()
        lookups = self.hits + self.misses
        d_lookups = lookups - self._sample_lookups
        out["hit_ratio"] = (self.hits - self._sample_hits) / d_lookups if d_lookups else math.nan
        out["items"] = float(len(self.entries))
        self._sample_hits, self._sample_lookups = self.hits, lookups
        return out

    def offered(self, rate_per_s: float, system: Any) -> None:
        # What passes to the backing store depends on the hit ratio, known only after the run.
        if not self.unlimited:
            system.load_estimate[self.name] = system.load_estimate.get(self.name, 0.0) + rate_per_s

    def capacity_per_s(self) -> float:
        mean = self.config.service_time.mean / self.config.speed
        slowdown = self.config.concurrency_slowdown
        if slowdown is not None and mean > 0:  # the peak of the law's curve, at <= workers busy
            return slowdown.peak(self.workers, mean)
        return self.workers / mean if mean > 0 else float("inf")
