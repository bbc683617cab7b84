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
from .versions import VERSIONED, VersionLog

WRITE_OPERATIONS = ("write", "update", "insert", "delete")


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
                v = req.version if type(req) in VERSIONED else log.latest.get(key, 0) + 1
                log.commit(key, v, self.env._now)
                req.meta = log.latest.get(key, 0)
        else:
            self.reads += 1
            if key is not None:
                req.meta = self.versions.latest.get(key, 0)
        self.release()
        reply(0)

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
