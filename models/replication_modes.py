"""Replication modes and read_from policies of a `replicated` store: pluggable strategy objects.

A mode is built once with its router (a `models.replicated.Replicated`) and decides, on every
request, where a write goes (`write`) and how a read is served (`read`); at build time it says
which replicas lead (`leaders`) and how many follower acknowledgements a write waits for
(`follower_acks`). The mechanics (versions, shipping, acknowledging, staleness) stay in the router:
a mode only chooses among them, as a load-balancing algorithm chooses a backend.

A read_from policy is built once with the router and answers `choose(proxy)` with the index of the
replica a read goes to (single- and multi-leader modes; quorum reads ask every replica).
"""
from __future__ import annotations

from typing import Any

from simulator.engine.request import Reply, Request
from simulator.language import registry
from simulator.sampling.blocks import BlockStream

from .quorum import quorum_read
from .sloppy import HintedHandoff


# --- replication modes ----------------------------------------------------------------------------
class ReplicationMode:
    """Base: one leader takes every write and numbers it as it applies it; reads go where
    `read_from` says."""

    shows_leader = True  # the stats name the current leader

    def __init__(self, router: Any) -> None:
        self.router = router

    def follower_acks(self) -> int:
        """Follower acknowledgements a write waits for after the leader's commit."""
        return 0

    def leaders(self) -> list[int]:
        """Indices of the replicas that accept writes (and ship them to the others)."""
        return [self.router.leader]

    def write(self, proxy: Any, req: Request, reply: Reply) -> None:
        router = self.router
        router.write_to(router.leader, proxy, req, reply)

    def read(self, proxy: Any, req: Request, reply: Reply) -> None:
        router = self.router
        router.read_at(router.read_policy.choose(proxy), proxy, req, reply)

    def extra_stats(self) -> dict[str, Any]:
        return {}

    def extra_sample(self) -> dict[str, float]:
        """Per-bucket figures of the mode, added to the store's time series."""
        return {}

    def connect(self, system: Any) -> None:
        """Called at the end of the store's `connect` (its members and network are known)."""

    def reset_stats(self) -> None:
        """Forget the mode's own counters (the end of the warm-up)."""


@registry.replication_modes.register("async")
class Async(ReplicationMode):
    """A write is acknowledged after the leader's commit; followers apply it later (stale reads)."""


@registry.replication_modes.register("sync")
class Sync(ReplicationMode):
    """A write is acknowledged after every follower applied it."""

    def follower_acks(self):
        return len(self.router.names) - 1


@registry.replication_modes.register("semi_sync")
class SemiSync(ReplicationMode):
    """A write is acknowledged after `acks` followers applied it."""

    def follower_acks(self):
        return self.router.config.acks


@registry.replication_modes.register("multi_leader")
class MultiLeader(ReplicationMode):
    """Several leaders (`leaders`, default all): a write goes to the nearest; last writer wins (the
    client library numbers a write when it issues it)."""

    shows_leader = False

    def leaders(self):
        router = self.router
        return [router.names.index(n) for n in (router.config.leaders or router.names)]

    def write(self, proxy, req, reply):
        router = self.router
        router.write_lww(router.nearest(proxy.zone, True), proxy, req, reply)

    def extra_stats(self):
        return {"conflicts": self.router.conflicts}


@registry.replication_modes.register("quorum")
class Quorum(ReplicationMode):
    """Leaderless: writes and reads go to every replica and wait for `write_quorum` / `read_quorum`."""

    shows_leader = False

    def __init__(self, router):
        super().__init__(router)
        config = router.config
        # Sloppy: writes go through hinted handoff (built only when asked for).
        self.sloppy = HintedHandoff(router, len(router.home_names)) if config.sloppy else None
        if self.sloppy is not None:
            self.write = self.sloppy.write

    def leaders(self):
        return []  # leaderless: clients write to every replica themselves

    def write(self, proxy, req, reply):
        self.router.write_everywhere(proxy, req, reply)

    def connect(self, system):
        if self.sloppy is not None:
            self.sloppy.connect(system)

    def reset_stats(self):
        if self.sloppy is not None:
            self.sloppy.reset_stats()

    def read(self, proxy, req, reply):
        router = self.router
        acked = router.acked.latest.get(req.key, 0) if req.key is not None else 0
        quorum_read(router, proxy, req, reply, acked)

    def extra_stats(self):
        router = self.router
        out = {"write_quorum": router.write_quorum, "read_quorum": router.read_quorum,
               "read_repairs": router.read_repairs}
        if self.sloppy is not None:
            out.update(self.sloppy.stats())
        return out


# --- read_from policies ---------------------------------------------------------------------------
class ReadFrom:
    """Base: override `choose(proxy)` -> index of the replica a read goes to."""

    def __init__(self, router: Any) -> None:
        self.router = router

    def choose(self, proxy: Any) -> int:
        raise NotImplementedError


@registry.read_from_policies.register("leader")
class FromLeader(ReadFrom):
    """The current leader (never stale in single-leader modes)."""

    def choose(self, proxy):
        return self.router.leader


@registry.read_from_policies.register("any")
class FromAny(ReadFrom):
    """Any replica, uniformly at random."""

    def __init__(self, router):
        super().__init__(router)
        n = len(router.names)
        streams = router.env.streams
        name = router.name
        self.choose_index = BlockStream(lambda size: streams.get(f"{name}/read_from").integers(0, n, size)).next

    def choose(self, proxy):
        return self.choose_index()


@registry.read_from_policies.register("nearest")
class FromNearest(ReadFrom):
    """The replica nearest to the client: the same zone, else the lowest latency."""

    def choose(self, proxy):
        return self.router.nearest(proxy.zone, False)
