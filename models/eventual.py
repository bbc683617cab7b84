"""Eventual consistency (AP) for `replicated` stores in `mode: eventual`.

Every replica accepts writes: a client's write goes to the replica nearest to it, which applies it
on its own (the client is answered after that one store's commit) and pushes its new state of the
key to every other replica over the network, once, without retrying. So during a partition both
sides keep answering and diverge. **Anti-entropy** (`anti_entropy: {interval}`) repairs what pushes
missed: every interval each replica that is up sends its whole state to one peer, the peer merges
it and answers with its own merged state, which the sender merges in turn (push-pull); the peer is
the next one round-robin (round k: replica i syncs with i + 1 + (k mod (n - 1))), so every ordered
pair syncs once in every n - 1 intervals and no random draw is needed.

A replica's state of a key is a tuple of *versions* (one, or several siblings). Each version carries
the write's id (per key, in issue order: the `version` the rest of the data tier uses), the stamp
(the origin replica's own `clock()` at the write, the origin index, the id) and a version vector
(per replica, how many writes of the key it originated that this one has seen). Concurrency is
always decided with the vectors; what a replica keeps of concurrent versions is the resolver's
choice:

- `lww`: the largest stamp wins. A discarded version that the winner's vector does not dominate is
  a **lost update** (counted once per write): a concurrent write, or a later write made on a clock
  that runs behind (a `clock_skew` fault) and so loses to an earlier one it had seen.
- `version_vectors`: versions that no other dominates are all kept, as siblings; each new set of
  siblings of a key counts one **conflict**. The next write at a replica supersedes every sibling
  that replica holds (its vector is the merge of all it has seen, plus one for itself).

Writes and reads reach a replica through an endpoint with the replica's name and zone (so every
fault that reaches the replica reaches them) and are served by the replica's store (a `database`:
its service time, its own version log through `VersionedWrite`); the eventual state changes the
moment the store has served the message, on the replica's side of the network.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from simulator.engine.request import OK, Reply, Request
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import PositiveDuration

from .endpoint import Endpoint
from .replication_modes import ReplicationMode
from .versions import sub_request

Resolve = Literal["lww", "version_vectors"]
Session = Literal["none", "read_your_writes", "monotonic_reads"]


class AntiEntropyConfig(StrictModel):
    """Periodic push-pull synchronisation between the replicas of an eventual store."""

    interval: PositiveDuration = Field(1.0, description="Each replica syncs its whole state with one peer this often.")


# --- versions and vectors -------------------------------------------------------------------------
class Version:
    """One write of one key as a replica holds it (immutable once made)."""

    __slots__ = ("wid", "stamp", "vv")

    def __init__(self, wid: int, stamp: tuple[float, int, int], vv: tuple[int, ...]) -> None:
        self.wid, self.stamp, self.vv = wid, stamp, vv

    def __repr__(self) -> str:
        return f"Version({self.wid}, {self.stamp}, {self.vv})"


def dominates(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Vector `a` has seen everything `b` has (a >= b componentwise)."""
    return all(x >= y for x, y in zip(a, b))


def merged(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x if x >= y else y for x, y in zip(a, b))


class LastWriterWins:
    """Keep the version with the largest stamp (origin clock, origin index, id)."""

    def __init__(self, store: "Eventual") -> None:
        self.store = store

    def merge(self, key: Any, current: tuple, incoming: tuple) -> tuple:
        winner = max(current + incoming, key=lambda v: v.stamp)
        for v in current + incoming:
            if v.wid != winner.wid and not dominates(winner.vv, v.vv):
                self.store.lose(key, v.wid)
        return (winner,)


class VersionVectors:
    """Keep every version no other dominates (siblings); a new set of siblings is a conflict."""

    def __init__(self, store: "Eventual") -> None:
        self.store = store

    def merge(self, key: Any, current: tuple, incoming: tuple) -> tuple:
        by_id = {v.wid: v for v in current + incoming}
        kept = tuple(sorted((v for v in by_id.values()
                             if not any(o.wid != v.wid and dominates(o.vv, v.vv) for o in by_id.values())),
                            key=lambda v: v.wid))
        if len(kept) > 1:
            self.store.siblings(key, kept)
        return kept


RESOLVERS = {"lww": LastWriterWins, "version_vectors": VersionVectors}


# --- the endpoint a replica is reached through --------------------------------------------------
class _ReplicaEnd(Endpoint):
    """Replica `index` of an eventual store as its messages reach it: the replica's name and zone,
    down or paused exactly when the replica is; a message is served by the replica's store, then
    applied to the eventual state (`req.meta` carries what to apply on the way in)."""

    __slots__ = ("store", "index")

    def __init__(self, store: "Eventual", index: int) -> None:
        super().__init__(store.router.members[index])
        self.store, self.index = store, index

    def handle(self, req: Request, reply: Reply) -> None:
        what, req.meta = req.meta, None
        self.member.handle(req, _Served(self.store, self.index, req, what, reply))


class _Served:
    __slots__ = ("store", "index", "req", "what", "reply")

    def __init__(self, store: "Eventual", index: int, req: Request, what: Any, reply: Reply) -> None:
        self.store, self.index, self.req, self.what, self.reply = store, index, req, what, reply

    def __call__(self, outcome: int) -> None:
        if outcome == OK:
            # What the answer carries back (the sender reads it from its own sub-request).
            self.req.meta = self.what[0](self.store, self.index, self.req, self.what)
        self.reply(outcome)


def _at_write(store: "Eventual", i: int, req: Request, what: Any) -> Any:
    return store.local_write(i, req.key, what[1])


def _at_push(store: "Eventual", i: int, req: Request, what: Any) -> Any:
    store.apply(i, req.key, what[1])
    return None


def _at_read(store: "Eventual", i: int, req: Request, what: Any) -> Any:
    return store.state[i].get(req.key, ()), store.seen[i].get(req.key)


def _at_sync(store: "Eventual", i: int, req: Request, what: Any) -> Any:
    for key, versions in what[1].items():
        store.apply(i, key, versions)
    return dict(store.state[i])  # pulled back by the sender


# --- the mode -------------------------------------------------------------------------------------
@registry.replication_modes.register("eventual")
class Eventual(ReplicationMode):
    """AP: every replica takes writes (the client's nearest), pushes them to the others, and
    anti-entropy converges replicas after a partition; conflicts resolved by `resolve`."""

    shows_leader = False

    def __init__(self, router: Any) -> None:
        super().__init__(router)
        config = router.config
        n = len(router.names)
        self.n = n
        self.resolver = RESOLVERS[config.resolve](self)
        self.enforce = config.session
        self.nearest_reads = config.read_from in ("leader", "nearest")
        self.interval = config.anti_entropy.interval if config.anti_entropy is not None else None
        # Per replica: key -> versions held, and key -> vector of everything applied (what it has seen).
        self.state: list[dict[Any, tuple]] = [{} for _ in range(n)]
        self.seen: list[dict[Any, tuple[int, ...]]] = [{} for _ in range(n)]
        self.zero = (0,) * n
        self.divergent: set[Any] = set()
        self.lost: set[tuple[Any, int]] = set()
        self.sibling_sets: dict[Any, set[frozenset]] = {}
        self.pending: list[list] = []  # [heal time, keys divergent then still to converge]
        self.heals: list[dict[str, Any]] = []
        self.rounds = 0
        # Session tokens, per (client endpoint, user) and key: (vector, replica that has it).
        self.wrote: dict[tuple, dict[Any, tuple]] = {}
        self.read_tokens: dict[tuple, dict[Any, tuple]] = {}
        self._client_links: dict[Any, list[Any]] = {}
        self.reset_stats()

    def reset_stats(self) -> None:
        self.lost_updates = 0
        self.conflicts = 0
        self.syncs = 0
        self.sync_failures = 0
        self.pushes_failed = 0
        self.ryw_violations = 0
        self.monotonic_violations = 0
        self.redirects = 0
        self.max_siblings = 1

    def leaders(self) -> list[int]:
        return []  # no leader streams: the mode pushes and syncs itself

    def connect(self, system: Any) -> None:
        router = self.router
        self.ends = [_ReplicaEnd(self, i) for i in range(self.n)]
        network = system.network
        # Replica i -> replica j: pushes and anti-entropy cross these links (partitions apply).
        self.peer_links = [[network.link(router.members[i], self.ends[j]) if j != i else None
                            for j in range(self.n)] for i in range(self.n)]
        env = router.env
        env.call_later(0.0, self._start)

    def _start(self, _timer: Any = None) -> None:
        env = self.router.env
        # Heals: the end of every partition window (chaos-drawn ones included, known by now).
        for fault in env.system.faults:
            if getattr(fault, "type", None) == "partition" and fault.duration is not None:
                env.call_later(fault.at + fault.duration - env._now, self._heal)
        if self.interval is not None:
            env.call_later(self.interval, self._anti_entropy)

    # --- state changes (at a replica) -----------------------------------------------------------
    def local_write(self, i: int, key: Any, wid: int) -> tuple[int, ...]:
        """A client's write served by replica `i`: stamped with i's own clock, its vector the
        merge of all i has seen plus one for i. Returns the vector (the client's session token)."""
        seen = self.seen[i].get(key, self.zero)
        vv = seen[:i] + (seen[i] + 1,) + seen[i + 1:]
        version = Version(wid, (self.router.members[i].clock(), i, wid), vv)
        self.apply(i, key, (version,))
        self.push(i, key)
        return vv

    def apply(self, i: int, key: Any, incoming: tuple) -> None:
        state = self.state[i]
        current = state.get(key, ())
        if current == incoming:
            return
        new = self.resolver.merge(key, current, incoming)
        state[key] = new
        seen = self.seen[i]
        vv = seen.get(key, self.zero)
        for v in incoming:
            vv = merged(vv, v.vv)
        seen[key] = vv
        if len(new) > self.max_siblings:
            self.max_siblings = len(new)
        self._check(key)

    def _check(self, key: Any) -> None:
        first = [v.wid for v in self.state[0].get(key, ())]
        same = all([v.wid for v in s.get(key, ())] == first for s in self.state[1:])
        if not same:
            self.divergent.add(key)
        elif key in self.divergent:
            self.divergent.discard(key)
            now = self.router.env._now
            for entry in list(self.pending):
                entry[1].discard(key)
                if not entry[1]:
                    self.pending.remove(entry)
                    self.heals.append({"heal_at_s": entry[0], "converged_after_s": now - entry[0]})

    def lose(self, key: Any, wid: int) -> None:
        if (key, wid) not in self.lost:
            self.lost.add((key, wid))
            self.lost_updates += 1

    def siblings(self, key: Any, kept: tuple) -> None:
        ids = frozenset(v.wid for v in kept)
        sets = self.sibling_sets.setdefault(key, set())
        if ids not in sets:
            sets.add(ids)
            self.conflicts += 1

    # --- messages between replicas --------------------------------------------------------------
    def push(self, i: int, key: Any) -> None:
        versions = self.state[i][key]
        router = self.router
        for j, link in enumerate(self.peer_links[i]):
            if link is not None:
                sub = sub_request(Request(-1, router.env._now, -1, router.write_op, key), version=versions[-1].wid)
                sub.meta = (_at_push, versions)
                link.send(sub, self._pushed)

    def _pushed(self, outcome: int) -> None:
        if outcome != OK:
            self.pushes_failed += 1  # anti-entropy repairs it later (no retry, no backlog)

    def _anti_entropy(self, _timer: Any = None) -> None:
        env = self.router.env
        k = self.rounds
        self.rounds += 1
        for i in range(self.n):
            if self.router.members[i].down:
                continue  # a crashed replica starts no sync (it still answers none either)
            j = (i + 1 + k % (self.n - 1)) % self.n
            sub = Request(-1, env._now, -1, "anti_entropy")
            sub.meta = (_at_sync, dict(self.state[i]))
            self.peer_links[i][j].send(sub, _Synced(self, i, sub))
        env.call_later(self.interval, self._anti_entropy)

    def _heal(self, _timer: Any = None) -> None:
        now = self.router.env._now
        if self.divergent:
            self.pending.append([now, set(self.divergent)])
        else:
            self.heals.append({"heal_at_s": now, "converged_after_s": 0.0})

    # --- client requests ------------------------------------------------------------------------
    def links_of(self, proxy: Any) -> list[Any]:
        links = self._client_links.get(proxy)
        if links is None:  # made on first use (the callers' proxies exist only once they connect)
            network = self.router.network
            links = self._client_links[proxy] = [network.link(proxy, end) for end in self.ends]
        return links

    def write(self, proxy: Any, req: Request, reply: Reply) -> None:
        router = self.router
        key = req.key
        i = router.nearest(proxy.zone, False)
        last = router.issued.get(key)
        wid = (last[0] if last else 0) + 1
        router.issued[key] = (wid, i)
        router.writes_by[i] += 1
        sub = sub_request(req, version=wid)
        sub.meta = (_at_write, wid)
        self.links_of(proxy)[i].send(sub, _Written(self, proxy, req, sub, reply, i, wid))

    def read(self, proxy: Any, req: Request, reply: Reply) -> None:
        router = self.router
        # No leader: `read_from: leader` (the default) reads the nearest replica, like the writes.
        i = router.nearest(proxy.zone, False) if self.nearest_reads else router.read_policy.choose(proxy)
        acked = router.acked.latest.get(req.key, 0) if req.key is not None else 0
        self.read_at(i, proxy, req, reply, acked, False)

    def read_at(self, i: int, proxy: Any, req: Request, reply: Reply, acked: int, redirected: bool) -> None:
        sub = sub_request(req)
        sub.meta = (_at_read,)
        self.links_of(proxy)[i].send(sub, _EventualRead(self, proxy, req, sub, reply, i, acked, redirected))

    def session_of(self, proxy: Any, req: Request) -> tuple:
        return proxy, req.user

    # --- metrics --------------------------------------------------------------------------------
    def extra_stats(self) -> dict[str, Any]:
        heals = list(self.heals) + [{"heal_at_s": t, "converged_after_s": None} for t, _keys in self.pending]
        heals.sort(key=lambda h: h["heal_at_s"])
        return {
            "read_from": "nearest" if self.nearest_reads else self.router.config.read_from,  # no leader
            "resolve": self.router.config.resolve,
            "anti_entropy_interval_s": self.interval,
            "divergent_keys": len(self.divergent),
            "convergence": heals,
            # the slowest convergence after a heal (None: some heal was never followed by convergence)
            "convergence_s": (max(h["converged_after_s"] for h in heals)
                              if heals and all(h["converged_after_s"] is not None for h in heals) else None),
            "lost_updates": self.lost_updates,
            "conflicts": self.conflicts,
            "max_siblings": self.max_siblings,
            "anti_entropy_syncs": self.syncs,
            "anti_entropy_failures": self.sync_failures,
            "pushes_failed": self.pushes_failed,
            "session": self.enforce,
            "read_your_writes_violations": self.ryw_violations,
            "monotonic_read_violations": self.monotonic_violations,
            "session_redirects": self.redirects,
        }

    def extra_sample(self) -> dict[str, float]:
        return {"divergent_keys": float(len(self.divergent))}


class _Synced:
    __slots__ = ("store", "i", "sub")

    def __init__(self, store: Eventual, i: int, sub: Request) -> None:
        self.store, self.i, self.sub = store, i, sub

    def __call__(self, outcome: int) -> None:
        store = self.store
        if outcome != OK:
            store.sync_failures += 1
            return
        store.syncs += 1
        if store.router.members[self.i].down:
            return  # crashed while the answer travelled: the pull is lost with the connection
        for key, versions in self.sub.meta.items():
            store.apply(self.i, key, versions)


class _Written:
    __slots__ = ("store", "proxy", "req", "sub", "reply", "i", "wid")

    def __init__(self, store: Eventual, proxy: Any, req: Request, sub: Request, reply: Reply, i: int, wid: int) -> None:
        self.store, self.proxy, self.req, self.sub, self.reply, self.i, self.wid = store, proxy, req, sub, reply, i, wid

    def __call__(self, outcome: int) -> None:
        store = self.store
        router = store.router
        if outcome != OK:
            router.writes_failed += 1
            self.reply(outcome)
            return
        key = self.req.key
        router.acknowledge(key, self.wid, router.env._now)
        if key is not None:
            store.wrote.setdefault(store.session_of(self.proxy, self.req), {})[key] = (self.sub.meta, self.i)
        self.req.meta = self.wid
        self.reply(OK)


class _EventualRead:
    __slots__ = ("store", "proxy", "req", "sub", "reply", "i", "acked", "redirected")

    def __init__(self, store: Eventual, proxy: Any, req: Request, sub: Request, reply: Reply, i: int,
                 acked: int, redirected: bool) -> None:
        self.store, self.proxy, self.req, self.sub, self.reply = store, proxy, req, sub, reply
        self.i, self.acked, self.redirected = i, acked, redirected

    def __call__(self, outcome: int) -> None:
        store = self.store
        router = store.router
        key = self.req.key
        if outcome != OK or key is None:
            self.reply(outcome)
            return
        versions, seen = self.sub.meta
        seen = seen or store.zero
        session = store.session_of(self.proxy, self.req)
        wrote = store.wrote.get(session, {}).get(key)
        read = store.read_tokens.get(session, {}).get(key)
        ryw_ok = wrote is None or dominates(seen, wrote[0])
        mono_ok = read is None or dominates(seen, read[0])
        # With a guarantee on, a replica that has not seen the session's token sends the client to
        # the replica that has (the one that took its write, or answered its last read).
        if store.enforce == "read_your_writes" and not ryw_ok and not self.redirected:
            store.redirects += 1
            store.read_at(wrote[1], self.proxy, self.req, self.reply, self.acked, True)
            return
        if store.enforce == "monotonic_reads" and not mono_ok and not self.redirected:
            store.redirects += 1
            store.read_at(read[1], self.proxy, self.req, self.reply, self.acked, True)
            return
        if not ryw_ok:
            store.ryw_violations += 1
        if not mono_ok:
            store.monotonic_violations += 1
        store.read_tokens.setdefault(session, {})[key] = (seen, self.i)
        # Siblings: the answer is the newest id among them (a multi-value answer would carry all).
        returned = max((v.wid for v in versions), default=0)
        latest = self.acked
        since = router.acked.stale_since(key, returned) if returned < latest else None
        router.stale.record(returned, latest, since, router.env._now)
        router.reads_by[self.i] += 1
        self.req.meta = returned
        self.reply(OK)


def convergence_bound_s(n: int, interval: float) -> float:
    """Anti-entropy rounds after which every replica has every other's state (without new writes):
    the n - 1 rounds in which each replica syncs once with every peer, each push-pull merging both
    sides, twice over (a write first reaches some peer, then from it the rest), in seconds: an upper
    bound on the convergence time after a heal, plus the last exchange's round trip."""
    return 2 * (n - 1) * interval if n > 1 else 0.0

