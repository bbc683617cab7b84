"""A database: a connection-limited store with separate read and write service times.

Caches, shards and replicas (the data tier) are built on top of stores like this one; it keeps
each key's version so that replication and consistency models can ask what a read saw.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt

from simulator.language import registry
from simulator.sampling.distributions import DurationDist
from simulator.engine.request import Request

from .station import Station, StationConfig
from simulator.workload.history import APPEND, CAS

from .versions import UNKNOWN, VERSIONED, VersionedWrite, VersionLog

WRITE_OPERATIONS = ("write", "update", "insert", "delete", "cas", "append")
_MISSING = object()


class DatabaseConfig(StationConfig):
    type: Literal["database"] = "database"
    connections: PositiveInt = Field(10, description="Queries executed at once (connection pool size).")
    read_time: DurationDist = Field(description="Service time of a read query.")
    write_time: DurationDist = Field(description="Service time of a write query.")
    write_operations: list[str] = Field(
        default_factory=lambda: list(WRITE_OPERATIONS),
        description="Operation names treated as writes; every other operation is a read.",
    )


@registry.components.register("database")
class Database(Station):
    """Database: connection pool, read and write service times, per-key versions."""

    Config = DatabaseConfig
    __slots__ = ("writes_ops", "versions", "reads", "writes", "_read", "_write")

    def __init__(self, env: Any, name: str, config: DatabaseConfig) -> None:
        super().__init__(env, name, config)
        self.workers = config.connections
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self._read = self.service_sampler(config.read_time, "read")
        self._write = self.service_sampler(config.write_time, "write")
        self.writes_ops = frozenset(config.write_operations)
        self.versions = VersionLog()
        self.reads = 0
        self.writes = 0
        # Values (only in a run that records histories: `history: true`): the value of the version
        # this store holds per key, and the book of key -> {version: value} it shares with the other
        # replicas of a replicated store (`share_values`), so a replica applying a version it was
        # shipped installs the value the first replica computed. A run without histories keeps the
        # plain `after_service` below.
        self.history = getattr(env, "history", None)
        if self.history is not None:
            self.values: dict[Any, Any] = {}
            self.book: dict[Any, dict[int, Any]] = {}  # (nested, not keyed by tuples: no object per write)
            self.after_service = self._after_service_values

    def share_values(self, book: dict) -> None:
        """Use `book` (a replicated store's) for the values of shipped versions."""
        if self.history is not None:
            self.book = book

    def value_at(self, key: Any, version: int) -> Any:
        """The value of `key` at `version` (None: the initial nil; UNKNOWN without histories, or a
        version whose value nobody recorded)."""
        if self.history is None:
            return UNKNOWN
        if not version:
            return None
        return self.book.get(key, {}).get(version, UNKNOWN)

    def service_time(self, req: Request) -> float:
        if req.op in self.writes_ops:
            return self._write()
        return self._read()

    def version_source(self, system: Any) -> "Database":
        """This store is the authority on its keys' versions (caches in front ask it)."""
        self.versions.track_times()
        return self

    def latest_version(self, key: Any) -> int:
        return self.versions.latest.get(key, 0)

    def stale_since(self, key: Any, version: int) -> float | None:
        return self.versions.stale_since(key, version)

    def after_service(self, req: Request, reply: Any, t_start: float) -> None:
        key = req.key
        if req.op in self.writes_ops:
            self.writes += 1
            if key is not None:
                log = self.versions
                if type(req) in VERSIONED:
                    v = req.version
                    if v is None:  # a NumberedWrite: the leader numbers it now, as it applies it
                        v = req.version = req.numbering(key)
                else:
                    v = log.latest.get(key, 0) + 1
                log.commit(key, v, self.env._now)
                req.meta = log.latest.get(key, 0)
        else:
            self.reads += 1
            if key is not None:
                req.meta = self.versions.latest.get(key, 0)
        self.release()
        reply(0)

    def _after_service_values(self, req: Request, reply: Any, t_start: float) -> None:
        """`after_service` with values: the operation's effect on this replica, reported to its row
        of the history (simulator/workload/history.py)."""
        key = req.key
        history = self.history
        row = history.ops.get(req.id) if req.id >= 0 else None
        if req.op in self.writes_ops:
            self.writes += 1
            if key is not None:
                log = self.versions
                if type(req) in VERSIONED:
                    v = req.version
                    if v is None:  # a NumberedWrite: the leader numbers it now, as it applies it
                        v = req.version = req.numbering(key)
                    versions = self.book.get(key)
                    if versions is None:
                        versions = self.book[key] = {}
                    value = versions.get(v, _MISSING)
                    if value is _MISSING:  # the first replica to apply this version computes its value
                        value = versions[v] = self._effect(row, key)
                    else:
                        row = None  # installing a shipped value: the operation's effect was decided already
                else:  # a store on its own numbers its versions itself
                    v = log.latest.get(key, 0) + 1
                    value = self._effect(row, key)
                    # kept per version for a cache in front, whose entries hold versions (`value_at`)
                    versions = self.book.get(key)
                    if versions is None:
                        versions = self.book[key] = {}
                    versions[v] = value
                if log.commit(key, v, self.env._now):
                    self.values[key] = value
                    if row is not None and not history.cas_failed[row]:
                        history.applied[row] = 1
                req.meta = log.latest.get(key, 0)
        else:
            self.reads += 1
            if key is not None:
                req.meta = self.versions.latest.get(key, 0)
                if row is not None and not history.final[row]:
                    history.read[row] = self.values.get(key)
        self.release()
        reply(0)

    def _effect(self, row: int | None, key: Any) -> Any:
        """The value `key` holds after the operation in `row` here: a write's value, an append's list
        grown by one, a cas's new value if the value here is the one it expects (else unchanged, and
        the cas failed). A write of a workload that records no history (no row) has an unknown value."""
        current = self.values.get(key)
        if row is None:
            return None
        history = self.history
        f = history.f[row]
        if f == APPEND:
            return (current or ()) + (history.value[row],)
        if f == CAS:
            expected, new = history.value[row]
            if current == expected:
                history.cas_failed[row] = 0  # (a retry that finds the value it expects succeeds)
                return new
            history.cas_failed[row] = 1
            return current
        return history.value[row]

    def reset_stats(self) -> None:
        super().reset_stats()
        self.reads = 0
        self.writes = 0

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        out = super().stats(elapsed_s)
        out.update(reads=self.reads, writes=self.writes)
        return out

    def offered(self, rate_per_s: float, system: Any) -> None:
        system.load_estimate[self.name] = system.load_estimate.get(self.name, 0.0) + rate_per_s

    def capacity_per_s(self) -> float:
        mean = max(self.config.read_time.mean, 1e-12) / self.config.speed
        slowdown = self.config.concurrency_slowdown
        if slowdown is not None:  # the peak of the law's curve, at <= workers busy
            return slowdown.peak(self.workers, mean)
        return self.workers / mean
