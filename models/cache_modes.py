"""Cache access modes: pluggable strategy objects deciding what a cache does on a miss and on a write.

A mode is built once with its cache. What it decides on every request is read from it at build
time: `coalesce` (concurrent misses on one key share one fetch), `update_on_write` (a stored
write refreshes the entry instead of invalidating it) and `refresh_after(ttl)` (a hit on an entry
older than this refreshes it in the background); `write(req, reply)` is called for every write.
The mechanics (entries, fetches, flushes) stay in `models.cache.Cache`.
"""
from __future__ import annotations

import math
from typing import Any

from simulator.engine.request import Reply, Request
from simulator.language import registry


class CacheMode:
    """Base: a write goes to the backing store; once stored, the entry is invalidated."""

    coalesce = False
    update_on_write = False

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def refresh_after(self, ttl: float) -> float:
        """Age after which a hit refreshes its entry in the background (never, by default)."""
        return math.inf

    def write(self, req: Request, reply: Reply) -> None:
        self.cache.write_to_store(req, reply)

    def extra_stats(self) -> dict[str, Any]:
        return {}


@registry.cache_modes.register("cache_aside")
class CacheAside(CacheMode):
    """A miss fetches from the store (concurrent misses each fetch); a write invalidates the entry."""


@registry.cache_modes.register("read_through")
class ReadThrough(CacheMode):
    """As cache_aside, but concurrent misses on one key share one fetch."""

    coalesce = True


@registry.cache_modes.register("write_through")
class WriteThrough(CacheMode):
    """A write goes to the store and, once stored, updates the entry."""

    coalesce = True
    update_on_write = True


@registry.cache_modes.register("write_behind")
class WriteBehind(CacheMode):
    """A write is acknowledged from the cache and flushed to the store every `flush_interval`."""

    coalesce = True

    def write(self, req, reply):
        self.cache.write_back(req, reply)

    def extra_stats(self):
        cache = self.cache
        return {"flushed_writes": cache.flushed, "unflushed_writes": sum(cache.dirty.values()) + cache.flushing,
                "flush_failures": cache.flush_failures, "lost_writes": cache.lost_writes}


@registry.cache_modes.register("refresh_ahead")
class RefreshAhead(CacheMode):
    """read_through, plus a hit on an entry older than `refresh_ahead` x `ttl` refreshes it."""

    coalesce = True

    def refresh_after(self, ttl):
        return self.cache.config.refresh_ahead * ttl
