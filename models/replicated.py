"""A replicated store: one leader and followers (sync, semi-sync, async) or several leaders (LWW).

The router stands for the client library: it sends each write to a leader, and the leader ships it
to the other replicas over their own network links (so partitions between replicas apply). A
client's write is acknowledged after the leader's commit (async), after `acks` followers
(semi_sync) or after every follower (sync).

Versions. In the single-leader modes the leader numbers a write when it applies it (the next
version of its key in the store's sequence, as a primary orders writes by its log): with one
leader, versions follow the order in which writes took effect, so concurrent writers cannot lose
an acknowledged write. In multi_leader mode the client library numbers a write when it issues it
(per key, in issue order, so a larger version is a later timestamp: last-writer-wins is "keep the
larger"); a write that reaches a leader after a newer one was applied there is silently dropped.

Every read knows the version it returned; it is stale if a newer version of its key had been
acknowledged to some client before the read started (a read that is not linearizable). Staleness
is reported in versions and in seconds since the first newer version was acknowledged.
Replication lag is the time from the leader's commit to the follower's acknowledgement.
"""
from __future__ import annotations

import math
from array import array
from collections import deque
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator.language import registry
from simulator.engine.request import CAUSE_NO_QUORUM, ERROR, OK, Reply, Request, note_failure
from simulator.language.units import PositiveDuration

from simulator.resilience import ResilienceConfig

from .base import ClientSide, ComponentConfig
from .calls import FanIn
from .failover import Failover, FailoverConfig
from . import replication_modes  # noqa: F401  (registers the modes and read_from policies)
from .eventual import AntiEntropyConfig, Resolve, Session
from .consensus import ConsensusConfig  # (registers mode consensus)
from .versions import UNKNOWN, StaleReads, VersionLog, numbered_request, percentiles, sub_request

# The names of `registry.replication_modes` and `registry.read_from_policies`, in the order the
# validation message lists them (a test checks they match the registries).
Mode = Literal["sync", "semi_sync", "async", "multi_leader", "quorum", "eventual", "consensus"]
ReadFrom = Literal["leader", "any", "nearest"]


class ReplicatedConfig(ComponentConfig):
    type: Literal["replicated"] = "replicated"
    replicas: list[str] = Field(min_length=1, max_length=100, description="Stores holding a copy each; the first is the leader.")
    leader: str | None = Field(None, description="The leader (default: the first replica).")
    mode: Mode = Field("async", description="sync, semi_sync (wait for `acks` followers), async, multi_leader, "
                                            "quorum (leaderless: `write_quorum` and `read_quorum`), or eventual "
                                            "(AP: every replica takes writes; `resolve`, `anti_entropy`, `session`).")
    acks: PositiveInt = Field(1, description="semi_sync: follower acknowledgements a write waits for.")
    leaders: list[str] | None = Field(None, description="multi_leader: replicas that accept writes (default: all).")
    write_quorum: PositiveInt | None = Field(None, description="quorum: replicas that must store a write (default: a majority).")
    read_quorum: PositiveInt | None = Field(None, description="quorum: replicas a read waits for (default: a majority).")
    read_from: ReadFrom = Field(
        "leader", description="Replica a read goes to: the leader, any (uniformly), or the nearest to the client."
    )
    retry_interval: PositiveDuration = Field(
        1.0, description="A follower that missed writes (crash, partition) is retried this often."
    )
    failover: FailoverConfig | None = Field(
        None, description="Automatic failover (sync, semi_sync, async): heartbeats over the network, detection, "
                          "promotion of the most up-to-date follower, optional fencing (docs/data-tier.md).")
    resilience: ResilienceConfig | None = Field(
        None, description="Policies on the client library's calls to each store (in each caller: its own breaker per store).")
    sloppy: bool = Field(False, description="quorum: sloppy quorums with hinted handoff: a write a home replica "
                                            "cannot store goes to a fallback replica with a hint (Dynamo).")
    home: PositiveInt | None = Field(None, description="quorum with sloppy: the first `home` replicas are every "
                                                       "key's home, the rest fallbacks (default: all but one).")
    resolve: Resolve = Field("lww", description="eventual: concurrent writes resolved by last-writer-wins on each "
                                                "replica's own clock (lww) or kept as siblings (version_vectors).")
    anti_entropy: AntiEntropyConfig | None = Field(
        None, description="eventual: periodic push-pull sync between replicas (default: none, replicas that "
                          "missed a push stay divergent until the key is written again).")
    session: Session = Field("none", description="eventual: session guarantee enforced with version tokens "
                                                 "(read_your_writes, monotonic_reads); violations are counted either way.")
    consensus: ConsensusConfig | None = Field(
        None, description="mode consensus: election timeout range, heartbeat, lease, read and unavailability "
                          "settings of the Raft-like log (docs/data-tier.md, \"Consensus\").")

    @model_validator(mode="after")
    def _consistent(self) -> "ReplicatedConfig":
        dup = sorted({r for r in self.replicas if self.replicas.count(r) > 1})
        if dup:
            raise ValueError(f"replica '{dup[0]}' is listed twice")
        if self.leader is not None and self.leader not in self.replicas:
            raise ValueError(f"leader '{self.leader}' is not one of the replicas {self.replicas}")
        if self.mode == "semi_sync" and self.acks > len(self.replicas) - 1:
            raise ValueError(f"semi_sync with acks={self.acks} needs at least {self.acks} followers; "
                             f"there are {len(self.replicas) - 1}")
        for name in self.leaders or []:
            if name not in self.replicas:
                raise ValueError(f"leaders: '{name}' is not one of the replicas {self.replicas}")
        for key in ("write_quorum", "read_quorum"):
            value = getattr(self, key)
            if value is not None and self.mode != "quorum":
                raise ValueError(f"'{key}' is for mode quorum only")
            if value is not None and value > len(self.replicas):
                raise ValueError(f"{key}={value} is more than the {len(self.replicas)} replicas")
        if self.leaders is not None and self.mode != "multi_leader":
            raise ValueError("'leaders' is for mode multi_leader only (single-leader modes use 'leader')")
        if (self.sloppy or self.home is not None) and self.mode != "quorum":
            raise ValueError("'sloppy' and 'home' are for mode quorum only")
        if self.home is not None and not self.sloppy:
            raise ValueError("'home' is for sloppy quorums only (sloppy: true)")
        if self.sloppy:
            home = self.home or len(self.replicas) - 1
            if home >= len(self.replicas) or home < 1:
                raise ValueError(f"a sloppy quorum needs at least one fallback: home={home} of "
                                 f"{len(self.replicas)} replicas leaves none")
            for key in ("write_quorum", "read_quorum"):
                value = getattr(self, key)
                if value is not None and value > home:
                    raise ValueError(f"{key}={value} is more than the {home} home replicas")
        if self.mode != "eventual":
            for key, default in (("resolve", "lww"), ("anti_entropy", None), ("session", "none")):
                if getattr(self, key) != default:
                    raise ValueError(f"'{key}' is for mode eventual only")
        if self.consensus is not None and self.mode != "consensus":
            raise ValueError("'consensus' is for mode consensus only")
        if self.mode == "consensus" and self.resilience is not None:
            raise ValueError("'resilience' is not supported in mode consensus yet: the client library's calls "
                             "to the replicas follow redirects of their own (docs/limitations.md)")
        if self.mode == "consensus" and self.read_from != "leader":
            raise ValueError(f"mode consensus serves every read at the leader (linearizable); read_from "
                             f"'{self.read_from}' is not supported")
        if self.failover is not None:
            if self.mode in ("multi_leader", "quorum", "eventual", "consensus"):
                raise ValueError(f"'failover' is for the single-leader modes (sync, semi_sync, async), not {self.mode}")
            if len(self.replicas) < 2:
                raise ValueError("'failover' needs at least 2 replicas (a leader and a follower to promote)")
            if self.failover.lease_reads and self.read_from != "leader":
                raise ValueError(f"failover.lease_reads is for read_from: leader (reads from "
                                 f"'{self.read_from}' go to followers, which hold no lease)")
            q = self.failover.quorum
            if q is not None and q > len(self.replicas) - 1:
                raise ValueError(f"failover.quorum={q} can never be met: at most {len(self.replicas) - 1} "
                                 "followers can agree that the leader is dead")
        return self

    def refs(self):
        return [(("replicas", i), r) for i, r in enumerate(self.replicas)]


class _Stream:
    """Replication from one leader to one follower; holds a backlog while the follower is unreachable."""

    __slots__ = ("router", "link", "follower", "backlog", "broken", "retired")

    def __init__(self, router: "Replicated", link: Any, follower: int) -> None:
        self.router, self.link, self.follower = router, link, follower
        self.backlog: deque = deque()
        self.broken = False
        self.retired = False  # its leader was replaced (failover): it stops retrying

    def ship(self, req: Request, version: int, t_commit: float, ack: Reply | None) -> None:
        if self.broken:
            self.backlog.append((req.key, version, t_commit))
            if ack is not None:
                ack(ERROR)
            return
        sub = sub_request(req, op=self.router.write_op, version=version)
        self.link.send(sub, _Shipped(self, sub, t_commit, ack))

    def failed(self, key: Any, version: int, t_commit: float) -> None:
        self.backlog.append((key, version, t_commit))
        if not self.broken:
            self.broken = True
            self.router.env.call_later(self.router.config.retry_interval, self.retry)

    def drain(self) -> None:
        """The follower answers again: ship the whole backlog at once (it applies as fast as it can)."""
        self.broken = False
        backlog, self.backlog = self.backlog, deque()
        for key, version, t_commit in backlog:
            sub = sub_request(Request(-1, t_commit, -1, self.router.write_op, key), version=version)
            self.link.send(sub, _Shipped(self, sub, t_commit, None))

    def retry(self, _timer: Any = None) -> None:
        if self.retired:
            self.backlog.clear()
        if not self.backlog:
            self.broken = False
            return
        key, version, t_commit = self.backlog.popleft()  # a probe: the rest follows once it lands
        sub = sub_request(Request(-1, t_commit, -1, self.router.write_op, key), version=version)
        self.link.send(sub, _Shipped(self, sub, t_commit, None, catching_up=True))


class _Shipped:
    __slots__ = ("stream", "sub", "t_commit", "ack", "catching_up")

    def __init__(self, stream: _Stream, sub: Request, t_commit: float, ack: Reply | None,
                 catching_up: bool = False) -> None:
        self.stream, self.sub, self.t_commit, self.ack, self.catching_up = stream, sub, t_commit, ack, catching_up

    def __call__(self, outcome: int) -> None:
        stream = self.stream
        router = stream.router
        if outcome == OK:
            lag = router.env._now - self.t_commit
            router.lag_s.append(lag)
            router.lag_by[stream.follower].append(lag)
            if self.catching_up:
                stream.drain()
        elif self.catching_up:
            stream.backlog.appendleft((self.sub.key, self.sub.version, self.t_commit))
            router.env.call_later(router.config.retry_interval, stream.retry)
        else:
            router.replication_failures += 1
            stream.failed(self.sub.key, self.sub.version, self.t_commit)
        if self.ack is not None:
            self.ack(outcome)


class _Write:
    """The leader's reply to a client write: commit, replicate, then acknowledge as the mode says.
    `sub` is the write the leader applied: its `version` is the number the leader gave it."""

    __slots__ = ("router", "req", "reply", "leader", "sub")

    def __init__(self, router: "Replicated", req: Request, reply: Reply, leader: int, sub: Request) -> None:
        self.router, self.req, self.reply, self.leader, self.sub = router, req, reply, leader, sub

    def __call__(self, outcome: int) -> None:
        router = self.router
        if outcome != OK:
            router.writes_failed += 1
            self.reply(outcome)
            return
        version = self.sub.version
        if version is None:  # a leader that is not a database did not number it: the next number now
            version = self.sub.version = router.number(self.req.key)
        now = router.env._now
        streams = router.streams[self.leader]
        need = router.need_acks
        if need == 0:
            router.acknowledge(self.req.key, version, now)
            self.reply(OK)
            for s in streams:
                s.ship(self.req, version, now, None)
            return
        fan = FanIn(len(streams), need, _Ack(router, self.req, version, self.reply))
        for s in streams:
            s.ship(self.req, version, now, fan.arrive)


class _Ack:
    __slots__ = ("router", "req", "version", "reply")

    def __init__(self, router: "Replicated", req: Request, version: int, reply: Reply) -> None:
        self.router, self.req, self.version, self.reply = router, req, version, reply

    def __call__(self, outcome: int) -> None:
        router = self.router
        if outcome == OK:
            router.acknowledge(self.req.key, self.version, router.env._now)
        else:
            router.writes_failed += 1  # committed on the leader but not acknowledged to the client
            # too few replicas acknowledged: the fault behind the last of their failures stays named
            note_failure(router.env, self.req, CAUSE_NO_QUORUM, router.name, inherit=True)
        self.reply(outcome)


class _Read:
    __slots__ = ("router", "sub", "reply", "replica", "acked_at_start")

    def __init__(self, router: "Replicated", sub: Request, reply: Reply, replica: int, acked: int) -> None:
        self.router, self.sub, self.reply, self.replica, self.acked_at_start = router, sub, reply, replica, acked

    def __call__(self, outcome: int) -> None:
        router = self.router
        if outcome == OK and self.sub.key is not None:
            returned = self.sub.meta or 0
            latest = self.acked_at_start
            since = router.acked.stale_since(self.sub.key, returned) if returned < latest else None
            router.stale.record(returned, latest, since, router.env._now)
            router.reads_by[self.replica] += 1
        self.reply(outcome)


@registry.components.register("replicated")
class Replicated(ClientSide):
    """Replicated store: leader-follower (sync, semi-sync, async) or multi-leader with LWW."""

    Config = ReplicatedConfig

    def __init__(self, env: Any, name: str, config: ReplicatedConfig) -> None:
        super().__init__(env, name, config)
        self.names = list(config.replicas)
        self.leader = self.names.index(config.leader) if config.leader else 0
        self.events: list[dict[str, Any]] = []  # failovers, for the charts (Result.events)
        # Quorums count the home replicas: all of them, except in a sloppy quorum (its fallbacks).
        self.home_names = self.names[:config.home or len(self.names) - 1] if config.sloppy else self.names
        majority = len(self.home_names) // 2 + 1
        self.write_quorum = config.write_quorum or majority
        self.read_quorum = config.read_quorum or majority
        self.issued: dict[Any, tuple[int, int]] = {}  # key -> (last version numbered, by which leader)
        self.acked = VersionLog(track_times=True)
        # Strategies chosen once here, called on every request.
        self.replication = registry.replication_modes.get(config.mode)(self)
        self.read_policy = registry.read_from_policies.get(config.read_from)(self)
        self.need_acks = self.replication.follower_acks()
        # Automatic failover: built only when configured; it takes over the write path (and leader reads).
        self.failover = Failover(self, config.failover) if config.failover is not None else None
        if self.failover is not None:
            self.write = self.failover.write
            if config.read_from == "leader":
                self.read = self.failover.read
        self.reset_stats()

    def reset_stats(self) -> None:
        self.stale = StaleReads()
        self.lag_s = array("d")
        self.lag_by = [array("d") for _ in self.names]
        self.reads_by = [0] * len(self.names)
        self.writes_by = [0] * len(self.names)
        self.writes_failed = 0
        self.replication_failures = 0
        self.conflicts = 0
        self.read_repairs = 0
        self.replication.reset_stats()
        self._lag_mark = 0
        self._stale_mark = 0
        if self.failover is not None:
            self.failover.reset_stats()
        self.replication.reset_stats()

    def connect(self, system: Any) -> None:
        members = [system.get(n) for n in self.names]
        first = members[0].config
        self.write_ops = frozenset(getattr(first, "write_operations", ("write",)))
        self.write_op = getattr(first, "write_operations", ["write"])[0]
        self.leader_set = self.replication.leaders()
        # Replication crosses the network from each leader to each other replica.
        self.streams = {
            i: [_Stream(self, system.network.link(members[i], members[j]), j) for j in range(len(members)) if j != i]
            for i in self.leader_set
        }
        self.members = members
        self.network = system.network
        # Histories (`history: true`): the replicas share one book of key -> {version: value}, so a
        # replica applying a shipped version installs the value its first replica computed.
        self.history = getattr(self.env, "history", None)
        self.book: dict[Any, dict[int, Any]] = {}  # key -> {version: value}
        if self.history is not None:
            for m in members:
                share = getattr(m, "share_values", None)
                if share is not None:
                    share(self.book)
        self._nearest: dict[tuple[str, bool], int] = {}
        self.replication.connect(system)
        if self.failover is not None:
            self.failover.connect(system)  # heartbeats, detectors, epoch-checked replication streams

    def version_source(self, system: Any) -> "Replicated":
        return self

    def latest_version(self, key: Any) -> int:
        return self.acked.latest.get(key, 0)

    def stale_since(self, key: Any, version: int) -> float | None:
        return self.acked.stale_since(key, version)

    def acknowledge(self, key: Any, version: int, now: float) -> None:
        if key is not None:
            self.acked.commit(key, version, now)

    def value_at(self, key: Any, version: int) -> Any:
        """The value of `key` at `version`, from the book the replicas share (histories only)."""
        if self.history is None:
            return UNKNOWN
        return self.book.get(key, {}).get(version, UNKNOWN) if version else None

    def report_read(self, req: Request, version: int) -> None:
        """The read `req` returns `version` (chosen among several replicas' answers): with histories,
        its value is that version's, whatever the replicas that answered later hold."""
        history = self.history
        if history is not None and req.id >= 0:
            row = history.ops.get(req.id)
            if row is not None:
                history.read[row] = self.book.get(req.key, {}).get(version) if version else None
                history.final[row] = 1

    def new_stream(self, link: Any, follower: int) -> _Stream:
        """A replication stream over `link` to replica `follower` (the failover makes its own links)."""
        return _Stream(self, link, follower)

    def leader_write(self, req: Request, reply: Reply, leader: int, sub: Request) -> "_Write":
        """The reply a leader's commit of `sub` (its copy of `req`) goes to: replicate, then
        acknowledge as the mode says."""
        return _Write(self, req, reply, leader, sub)

    def number(self, key: Any) -> int:
        """The next version of `key`, drawn by a leader applying a write (`NumberedWrite`). One
        sequence per key for the whole store, so the versions of two leaders (a split brain) stay
        distinct and ordered by when each applied its write."""
        last = self.issued.get(key)
        version = (last[0] if last else 0) + 1
        self.issued[key] = (version, -1)
        return version

    def promote(self, name: str) -> None:
        """Make `name` the leader (the failover hook: later writes go to it and ship from it)."""
        i = self.names.index(name)
        if i not in self.streams:
            members = self.members
            self.streams[i] = [_Stream(self, self.env.network.link(members[i], members[j]), j)
                               for j in range(len(members)) if j != i]
        self.leader = i
        self.leader_set = self.replication.leaders()
        self.events.append({"at_s": self.env.now, "kind": "failover", "description": f"failover, {name} promoted to leader"})

    # --- requests -------------------------------------------------------------------------------
    def route_targets(self) -> list[str]:
        return self.names

    def nearest(self, zone: str, leaders_only: bool) -> int:
        """The replica (or leader) closest to callers in `zone`: the same zone, else the lowest latency."""
        i = self._nearest.get((zone, leaders_only))
        if i is None:
            among = self.leader_set if leaders_only else range(len(self.names))
            here = type("Here", (), {"name": f"{self.name}@{zone}", "zone": zone})
            i = min(among, key=lambda j: (self.members[j].zone != zone,
                                          self.network._latency_dist(here, self.members[j]).mean, j))
            self._nearest[(zone, leaders_only)] = i
        return i

    def handle_at(self, proxy: Any, req: Request, reply: Reply) -> None:
        if req.op in self.write_ops:
            self.write(proxy, req, reply)
        else:
            self.read(proxy, req, reply)

    def write(self, proxy: Any, req: Request, reply: Reply) -> None:
        self.replication.write(proxy, req, reply)

    def read(self, proxy: Any, req: Request, reply: Reply) -> None:
        self.replication.read(proxy, req, reply)

    def write_everywhere(self, proxy: Any, req: Request, reply: Reply) -> None:
        """Leaderless: the client writes to every replica itself; acknowledged after `write_quorum`."""
        key = req.key
        last = self.issued.get(key)
        version = (last[0] if last else 0) + 1
        self.issued[key] = (version, -1)
        fan = FanIn(len(self.names), self.write_quorum, _Ack(self, req, version, reply))
        for name in self.names:
            proxy.links[name].send(sub_request(req, version=version), fan.arrive)

    def quorum_ack(self, req: Request, version: int, reply: Reply) -> "_Ack":
        """The reply a quorum write's fan-in gives: acknowledge the version, or count the failure."""
        return _Ack(self, req, version, reply)

    def write_to(self, leader: int, proxy: Any, req: Request, reply: Reply) -> None:
        """Send a write to replica `leader`, which numbers it as it applies it and ships it to the others."""
        self.writes_by[leader] += 1
        sub = numbered_request(req, self.number)
        proxy.links[self.names[leader]].send(sub, _Write(self, req, reply, leader, sub))

    def write_lww(self, leader: int, proxy: Any, req: Request, reply: Reply) -> None:
        """multi_leader: number the write now (last-writer-wins by issue order), send it to `leader`."""
        key = req.key
        last = self.issued.get(key)
        version = (last[0] if last else 0) + 1
        if last is not None and last[1] != leader:
            store = self.members[leader]
            latest = store.latest_version(key)
            if latest is not None and latest < last[0]:
                self.conflicts += 1  # concurrent with a write the other leader has not shipped here yet
        self.issued[key] = (version, leader)
        self.writes_by[leader] += 1
        sub = sub_request(req, version=version)
        proxy.links[self.names[leader]].send(sub, _Write(self, req, reply, leader, sub))

    def read_at(self, i: int, proxy: Any, req: Request, reply: Reply, link: Any = None) -> None:
        """Send a read to replica `i` (over `link`, default the client library's link to it); its
        reply records whether the version it returned was stale."""
        sub = sub_request(req)
        acked = self.acked.latest.get(req.key, 0) if req.key is not None else 0
        (link or proxy.links[self.names[i]]).send(sub, _Read(self, sub, reply, i, acked))

    # --- metrics --------------------------------------------------------------------------------
    def stats(self, elapsed_s: float) -> dict[str, Any]:
        out = {
            "type": self.type_name,
            "mode": self.config.mode,
            "read_from": self.config.read_from,
            "leader": self.names[self.leader] if self.replication.shows_leader else None,
            "replication_lag_s": percentiles(self.lag_s),
            "replicas": {n: {"reads": self.reads_by[i], "writes_led": self.writes_by[i],
                             "lag_s": percentiles(self.lag_by[i]),
                             "backlog": sum(len(s.backlog) for ss in self.streams.values() for s in ss if s.follower == i)}
                         for i, n in enumerate(self.names)},
            "writes_failed": self.writes_failed,
            "replication_failures": self.replication_failures,
        }
        out.update(self.replication.extra_stats())
        if self.failover is not None:
            out.update(self.failover.stats())
        out.update(self.stale.stats())
        if self.events:  # failovers (only then, so a run without one reports as before)
            out["events"] = self.events
        return out

    def sample(self) -> dict[str, float]:
        new = self.lag_s[self._lag_mark:]
        self._lag_mark = len(self.lag_s)
        if len(new):
            p = percentiles(new)
            out = {"lag_p50_s": p["p50"], "lag_p99_s": p["p99"], "lag_max_s": p["max"]}
        else:
            out = {"lag_p50_s": math.nan, "lag_p99_s": math.nan, "lag_max_s": math.nan}
        out["stale_reads"] = float(self.stale.stale - self._stale_mark)
        self._stale_mark = self.stale.stale
        out.update(self.replication.extra_sample())
        return out

    def offered(self, rate_per_s: float, system: Any) -> None:
        system.offer(self.names[self.leader], rate_per_s)
