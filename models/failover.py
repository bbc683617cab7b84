"""Automatic failover of a leader-follower `replicated` store: heartbeats, detection, promotion, fencing.

Built only when the store has a `failover:` block; a store without one never touches this module.

The protocol (the exact rules are in docs/data-tier.md, "Automatic failover"):

- **Heartbeats.** Every replica that believes it leads sends a heartbeat to every other replica every
  `interval`, over the network links between them (so a crash, a pause or a partition stops them).
  Each heartbeat carries the sender's epoch (term). A receiver that knows a newer epoch answers
  "stale": the sender learns it was replaced and steps down (it learns *on contact*).
- **Detection.** Each follower declares the leader dead when it has heard no heartbeat for `timeout`
  (measured from the receipt of the last one). A failover needs agreement, as Redis Sentinel's
  quorum does: the declaring follower must reach (network links not cut, replica up and not paused)
  at least `quorum` followers, itself included, that have all heard nothing for `timeout` (default:
  a majority of the replicas, at most the followers). The agreeing followers adopt the next epoch at
  once, so they reject the old leader's heartbeats and replication from then on.
- **Promotion.** Among the agreeing followers the most up-to-date one (holding the most acknowledged
  writes; ties: the first in `replicas`) first copies from the others the newest version of each
  key it lacks (as MHA applies the differential relay logs), then leads once the copies are answered
  and `promotion_delay` has passed. A candidate that crashes or pauses meanwhile aborts the
  promotion, and the next best is chosen at once.
- **Lost writes.** At a promotion, writes acknowledged to clients that the new leader does not hold
  are lost (`lost_writes`, with their keys). Replication in flight from a leader that crashed is
  dropped (the connection was reset), so an asynchronous failover loses its replication lag.
- **Split brain and fencing.** Clients follow a failover when they can reach the new leader; the
  others keep writing to the leader they know. Without fencing, an old leader that was only
  partitioned keeps accepting (and, asynchronously, acknowledging) those writes until it learns of
  the newer epoch on contact; it is then demoted and its writes since the promotion are discarded
  (the reconciliation: `split_brain_writes`, added to `lost_writes`). With `fencing: true` the
  leader holds a lease, extended by each heartbeat round a majority acknowledged (to the round's send
  time + `timeout`), and refuses writes once it has expired; a promotion never completes before the
  old leader's lease has expired, so two leaders never accept writes at once.
- **Lease reads.** Fencing alone leaves reads alone: a deposed leader that clients on its side still
  reach keeps answering reads from data that stopped changing. With `lease_reads: true` (it needs
  `fencing: true`, whose promotion waits for the old lease) a replica serves a client's leader read
  only while it leads and its lease holds; otherwise it refuses the read before reading anything
  (`fenced`, or `not_leader` once it was demoted), so a read it answers was never overtaken by a
  newer leader's write.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator.engine.request import (CAUSE_FENCED, CAUSE_NO_LEADER, CAUSE_NOT_LEADER, ERROR, OK, Reply, Request,
                                      note_failure)
from simulator.language.config import StrictModel
from simulator.language.units import Duration, PositiveDuration

from .endpoint import Endpoint
from .versions import numbered_request, sub_request

_EPS = 1e-9  # float slack when comparing a timer's time with the deadline it was armed for


class FailoverConfig(StrictModel):
    """`failover:` of a leader-follower replicated store."""

    interval: PositiveDuration = Field(1.0, description="How often the leader sends a heartbeat to each replica.")
    timeout: PositiveDuration = Field(
        3.0, description="A follower declares the leader dead after this long without a heartbeat (more than `interval`).")
    promotion_delay: Duration = Field(0.0, description="Time from the declaration to the new leader taking writes.")
    quorum: PositiveInt | None = Field(
        None, description="Followers (the declaring one included) that must agree the leader is dead and be reachable "
                          "for a failover (default: a majority of the replicas, at most the number of followers).")
    fencing: bool = Field(
        False, description="Epochs with a leader lease: a leader whose lease expired (no quorum acknowledged its "
                           "heartbeats for `timeout`) refuses writes, and a promotion waits for the old lease to end.")
    lease_reads: bool = Field(
        False, description="Reads need the lease too (needs `fencing: true`, and `read_from: leader`): a replica "
                           "refuses a leader read once its lease expired or it no longer leads, so a deposed "
                           "leader's side gets refused reads instead of stale ones.")
    writes_during_failover: Literal["fail", "wait"] = Field(
        "fail", description="Writes of clients that know a failover is under way (they reach the candidate): "
                            "fail at once, or wait for the new leader.")

    @model_validator(mode="after")
    def _consistent(self) -> "FailoverConfig":
        if self.timeout <= self.interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must be longer than interval ({self.interval:g}s): "
                             "a follower would declare a live leader dead between two heartbeats")
        if self.lease_reads and not self.fencing:
            raise ValueError("lease_reads needs fencing: true (without it a new leader can take writes while the "
                             "old one still reads under its lease)")
        return self


class _Beat(Request):
    """A heartbeat: the sender's epoch, when it was sent, and whether the receiver found it stale."""

    __slots__ = ("epoch", "sender", "sent_at", "stale")


class _Inbox(Endpoint):
    """Replica `index` as one kind of failover message reaches it (models/endpoint.py). Subclasses
    decide what an arriving message does."""

    __slots__ = ("fo", "index", "epoch")

    def __init__(self, fo: "Failover", index: int, epoch: int = 0) -> None:
        super().__init__(fo.router.members[index])
        self.fo, self.index, self.epoch = fo, index, epoch


class _BeatInbox(_Inbox):
    __slots__ = ()

    def handle(self, req: _Beat, reply: Reply) -> None:
        self.fo.heartbeat_arrived(self.index, req, reply)


class _ReplicationInbox(_Inbox):
    """Replication from replica `source`, leader of epoch `epoch`: refused once the replica knows a
    newer epoch. A message that arrives while its source is down is dropped: the crash reset the
    connection before the follower received it (what a follower has received, it keeps)."""

    __slots__ = ("source",)

    def __init__(self, fo: "Failover", index: int, epoch: int, source: int) -> None:
        super().__init__(fo, index, epoch)
        self.source = source

    def handle(self, req: Request, reply: Reply) -> None:
        fo = self.fo
        if fo.router.members[self.source].down:
            fo.replication_dropped += 1
            reply(ERROR)
            return
        if self.epoch < fo.epoch_of[self.index]:
            fo.replication_rejected += 1
            reply(ERROR)
            return
        fo.learn(self.index, self.epoch)
        self.member.handle(req, reply)


class _WriteInbox(_Inbox):
    """Client writes: accepted only by a replica that believes it leads (and, with fencing, holds a lease)."""

    __slots__ = ()

    def handle(self, req: Request, reply: Reply) -> None:
        fo, i = self.fo, self.index
        if not fo.leads[i]:
            fo.writes_not_leader += 1
            note_failure(fo.env, req, CAUSE_NOT_LEADER, self.name)
            reply(ERROR)
        elif fo.fencing and fo.env._now >= fo.lease_until[i]:
            fo.writes_fenced += 1
            note_failure(fo.env, req, CAUSE_FENCED, self.name)
            reply(ERROR)
        else:
            if fo.epoch_of[i] < fo.epoch:
                fo.split_brain_writes += 1  # a replaced leader that does not know it yet accepts it
            self.member.handle(req, reply)


class _ReadInbox(_Inbox):
    """Leader reads with `lease_reads`: served only by a replica that leads and holds its lease."""

    __slots__ = ()

    def handle(self, req: Request, reply: Reply) -> None:
        fo, i = self.fo, self.index
        if not fo.leads[i]:
            fo.reads_not_leader += 1
            note_failure(fo.env, req, CAUSE_NOT_LEADER, self.name)
            reply(ERROR)
        elif fo.env._now >= fo.lease_until[i]:
            fo.reads_fenced += 1
            note_failure(fo.env, req, CAUSE_FENCED, self.name)
            reply(ERROR)
        else:
            self.member.handle(req, reply)


class _BeatReply:
    __slots__ = ("fo", "beat", "round")

    def __init__(self, fo: "Failover", beat: _Beat, round_: list) -> None:
        self.fo, self.beat, self.round = fo, beat, round_

    def __call__(self, outcome: int) -> None:
        self.fo.heartbeat_answered(self.beat, self.round, outcome)


class _Tagged:
    """A client's write reply: notes a write acknowledged by a leader that had already been replaced
    (`sub.version`: the number the leader gave the write when it applied it)."""

    __slots__ = ("fo", "leader", "sub", "reply")

    def __init__(self, fo: "Failover", leader: int, sub: Request, reply: Reply) -> None:
        self.fo, self.leader, self.sub, self.reply = fo, leader, sub, reply

    def __call__(self, outcome: int) -> None:
        if outcome == OK:
            self.fo.acknowledged_by(self.leader, self.sub.key, self.sub.version)
        self.reply(outcome)


class _CopyDone:
    __slots__ = ("fo", "round")

    def __init__(self, fo: "Failover", round_: int) -> None:
        self.fo, self.round = fo, round_

    def __call__(self, outcome: int) -> None:
        self.fo.part_done(self.round)


class Failover:
    """The failure detector and failover coordinator of one replicated store (see the module doc)."""

    def __init__(self, router: Any, config: FailoverConfig) -> None:
        self.router, self.config, self.env = router, config, router.env
        n = len(router.names)
        self.n = n
        # Agreement for a failover: a majority of the replicas, but never more followers than there
        # are (with 2 replicas the follower decides alone: it cannot tell a dead leader from a cut link).
        self.quorum = config.quorum or min(n // 2 + 1, n - 1)
        self.lease_quorum = n // 2 + 1  # replicas (the leader included) whose acknowledgement renews a lease
        self.fencing = config.fencing
        self.lease_reads = config.lease_reads
        self.wait = config.writes_during_failover == "wait"
        self.timeout = config.timeout
        self.epoch = 0  # the newest epoch any leader was promoted in
        self.next_epoch = 0  # the epoch replicas agreed on at the last declaration
        self.lost: set = set()  # (key, version) counted as lost: state, kept at the warm-up (never counted twice)
        self.reset_stats()

    def reset_stats(self) -> None:
        self.failovers: list[dict[str, Any]] = []
        self.lost_keys: list = []  # the key of each write lost since the warm-up
        self.split_brain_writes = 0
        self.writes_refused = 0  # refused by a client library during a promotion
        self.writes_not_leader = 0
        self.writes_fenced = 0
        self.reads_fenced = 0
        self.reads_not_leader = 0
        self.replication_rejected = 0
        self.replication_dropped = 0
        self.aborted = 0
        self.catch_up_copies = 0

    # --- build ----------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        router, n = self.router, self.n
        net = system.network
        first = router.leader
        self.leads = [i == first for i in range(n)]
        self.epoch_of = [0] * n
        self.lease_until = [self.timeout if i == first else 0.0 for i in range(n)]
        self.last_heard = [0.0] * n  # receipt of the last heartbeat (a follower's clock starts at 0)
        self.last_sent = [0.0] * n  # when that heartbeat was sent
        self.down_since: list[float | None] = [None] * n
        self.pending: list[list] = [[] for _ in range(n)]  # writes acknowledged by a replaced leader
        self.promoting: dict[str, Any] | None = None
        self.waiting: deque = deque()
        self.views: dict[int, tuple[int, int]] = {}  # per client library: (leader, epoch) it knows
        members = router.members
        self.beat_links = {(i, j): net.link(members[i], _BeatInbox(self, j))
                           for i in range(n) for j in range(n) if i != j}
        self.write_inbox = [_WriteInbox(self, i) for i in range(n)]
        self.write_links: dict[tuple[int, int], Any] = {}
        self.read_inbox = [_ReadInbox(self, i) for i in range(n)] if self.lease_reads else []
        self.read_links: dict[tuple[int, int], Any] = {}
        self.copy_links: dict[tuple[int, int, int], Any] = {}
        for m in members:
            m.watchers.append(self)
        router.streams = {first: self.make_streams(first, 0)}
        self.terms = [0] * n  # leaderships of each replica: one heartbeat ticker per leadership
        self.env.call_later(0.0, self._tick, (first, 0))
        for i in range(n):
            self.env.call_later(self.timeout, self._check, i)

    def make_streams(self, leader: int, epoch: int) -> list:
        router = self.router
        return [router.new_stream(router.env.network.link(router.members[leader], _ReplicationInbox(self, j, epoch, leader)), j)
                for j in range(self.n) if j != leader]

    # --- heartbeats -------------------------------------------------------------------------------
    def _tick(self, timer: Any) -> None:
        i, term = timer._value
        if not self.leads[i] or term != self.terms[i]:
            return  # stepped down (or led again since, with a ticker of its own): these heartbeats stop
        env = self.env
        env.call_later(self.config.interval, self._tick, timer._value)
        if self.router.members[i].unavailable:
            return  # a crashed or paused node sends nothing
        round_ = [1]  # acknowledgements of this round (the leader counts itself)
        now = env._now
        for j in range(self.n):
            if j != i:
                beat = _Beat(-1, now, -1, "heartbeat")
                beat.epoch, beat.sender, beat.sent_at, beat.stale = self.epoch_of[i], i, now, False
                self.beat_links[(i, j)].send(beat, _BeatReply(self, beat, round_))

    def heartbeat_arrived(self, j: int, beat: _Beat, reply: Reply) -> None:
        if beat.epoch < self.epoch_of[j]:
            beat.stale = True  # the answer tells the sender it was replaced
            reply(ERROR)
            return
        self.learn(j, beat.epoch)
        if not self.leads[j]:
            self.last_heard[j] = self.env._now
            self.last_sent[j] = beat.sent_at
        reply(OK)

    def heartbeat_answered(self, beat: _Beat, round_: list, outcome: int) -> None:
        i = beat.sender
        if beat.stale and outcome == ERROR:  # the answer came back (a cut reply teaches nothing)
            self.learn(i, self.epoch)  # on contact: it learns of the newer epoch and steps down
        elif outcome == OK and self.leads[i] and self.epoch_of[i] == beat.epoch:
            round_[0] += 1
            if round_[0] == self.lease_quorum:
                self.lease_until[i] = max(self.lease_until[i], beat.sent_at + self.timeout)

    def learn(self, j: int, epoch: int) -> None:
        """Replica `j` hears of `epoch`; a leader of an older one steps down (the reconciliation)."""
        if epoch <= self.epoch_of[j]:
            return
        self.epoch_of[j] = epoch
        if self.leads[j]:
            self._demote(j)

    def _demote(self, j: int) -> None:
        self.leads[j] = False
        now = self.env._now
        self.last_heard[j] = now  # a follower now: its detector starts from here
        self.last_sent[j] = now
        discarded = self.pending[j]
        self.pending[j] = []
        for key, version in discarded:
            self._lose(key, version)
        for s in self.router.streams.get(j, ()):  # its unshipped writes are discarded with it
            s.backlog.clear()
            s.retired = True
        name = self.router.names[j]
        self.router.events.append({"at_s": now, "kind": "failover", "description":
                                   f"{name} rejoined as a follower (epoch {self.epoch}), "
                                   f"{len(discarded)} split-brain writes discarded"})

    # --- detection and promotion ----------------------------------------------------------------
    def _reaches(self, a: int, b: int) -> bool:
        link = self.beat_links[(a, b)]
        return not (link.cut or link.cut_back) and not self.router.members[b].unavailable

    def _silent(self, j: int, now: float) -> bool:
        return not self.leads[j] and now - self.last_heard[j] >= self.timeout - _EPS

    def _check(self, timer: Any) -> None:
        i = timer._value
        env = self.env
        now = env._now
        if self.router.members[i].unavailable or self.leads[i] or self.promoting is not None:
            env.call_later(self.timeout, self._check, i)
            return
        deadline = self.last_heard[i] + self.timeout
        if now < deadline - _EPS:
            env.call_later(deadline - now, self._check, i)
            return
        if not self._declare(i):
            env.call_later(self.timeout, self._check, i)  # no quorum agrees: look again later
            return
        env.call_later(self.timeout, self._check, i)

    def _declare(self, i: int) -> bool:
        """Follower `i` found the leader silent: with a quorum of agreeing replicas, start a promotion."""
        now = self.env._now
        agree = [i] + [j for j in range(self.n) if j != i and self._reaches(i, j) and self._silent(j, now)]
        if len(agree) < self.quorum:
            return False
        self.next_epoch = max(self.next_epoch, self.epoch) + 1
        for j in agree:  # they adopt the new epoch: the old leader's heartbeats and writes are now stale
            self.learn(j, self.next_epoch)
        old = self.router.leader
        onset = self.down_since[old]
        if onset is None:  # not down: unreachable (a partition): since the first heartbeat that did not arrive
            onset = self.last_sent[i] + self.config.interval
        self.promoting = {"agree": agree, "detected_at": now, "onset": onset, "old": old, "detector": i,
                          "candidate": None, "round": 0, "parts": 0}
        self._choose()
        return True

    def _choose(self) -> None:
        p = self.promoting
        ok = [j for j in p["agree"] if not self.router.members[j].unavailable]
        if not ok:  # nobody left to promote: wait for the detectors to try again
            self.promoting = None
            self._release_waiting()  # the writes that waited go where their clients think the leader is
            return
        best = max(ok, key=lambda j: (self._held_acknowledged(j), -j))
        p["candidate"] = best
        p["round"] += 1
        p["parts"] = 1  # the delay, plus one per catch-up copy
        self._catch_up(p, best, [j for j in ok if j != best])
        now = self.env._now
        at = now + self.config.promotion_delay
        if self.fencing:
            at = max(at, self.lease_until[p["old"]])  # never two leaders with a valid lease
        self.env.call_later(at - now, self._part_timer, p["round"])

    def _catch_up(self, p: dict[str, Any], best: int, others: list[int]) -> None:
        """Before it leads, the candidate copies from the other agreeing replicas the newest version
        of each key it lacks (as MHA applies the differential relay logs): a write that reached any
        of them survives. Each copy crosses the network; the promotion waits for them."""
        router = self.router
        store = router.members[best]
        now = self.env._now
        for key in router.acked.latest:
            have = top = store.latest_version(key) or 0
            src = None
            for j in others:
                v = router.members[j].latest_version(key) or 0
                if v > top:
                    src, top = j, v
            if src is None:
                continue
            link = self.copy_links.get((src, best, self.next_epoch))
            if link is None:
                link = self.copy_links[(src, best, self.next_epoch)] = self.env.network.link(
                    router.members[src], _ReplicationInbox(self, best, self.next_epoch, src))
            p["parts"] += 1
            self.catch_up_copies += 1
            req = sub_request(Request(-1, now, -1, router.write_op, key), version=top)
            link.send(req, _CopyDone(self, p["round"]))

    def _part_timer(self, timer: Any) -> None:
        self.part_done(timer._value)

    def part_done(self, round_: int) -> None:
        """The promotion delay ended or a catch-up copy was answered: the last of them completes it."""
        p = self.promoting
        if p is None or p["round"] != round_:
            return  # an aborted promotion's
        p["parts"] -= 1
        if p["parts"] == 0:
            self._complete(p["candidate"])

    def _held_acknowledged(self, j: int) -> int:
        store = self.router.members[j]
        held = 0
        for key, hist in self.router.acked.history.items():
            have = store.latest_version(key) or 0
            held += sum(1 for v, _t in hist if v <= have)
        return held

    def component_changed(self, member: Any) -> None:
        """A replica went down or paused, or came back (told by the component, like a health check)."""
        j = self.router.members.index(member)
        now = self.env._now
        if member.unavailable:
            self.down_since[j] = now
            p = self.promoting
            if p is not None and p["candidate"] == j:
                self.aborted += 1  # the candidate died during its promotion: choose again
                self.router.events.append({"at_s": now, "kind": "failover", "description":
                                           f"promotion of {member.name} aborted: it became unavailable"})
                self._choose()
        else:
            self.down_since[j] = None
            if not self.leads[j]:
                self.last_heard[j] = now  # back: its detector gives the leader a fresh timeout

    def _complete(self, c: int) -> None:
        p, self.promoting = self.promoting, None
        router, env = self.router, self.env
        now = env._now
        self.epoch = self.next_epoch
        self.epoch_of[c] = self.epoch
        self.leads[c] = True
        self.lease_until[c] = now + self.timeout  # the agreeing quorum just granted it
        old = p["old"]
        router.leader = c
        router.leader_set = [c]
        router.streams[c] = self.make_streams(c, self.epoch)
        for j in range(self.n):
            if not self.leads[j]:  # the followers' clocks restart with the new leader
                self.last_heard[j] = now
        lost_before = len(self.lost_keys)
        store = router.members[c]
        for key, hist in router.acked.history.items():
            have = store.latest_version(key) or 0
            for v, _t in hist:
                if v > have:
                    self._lose(key, v)
        lost = len(self.lost_keys) - lost_before
        record = {"at_s": now, "old_leader": router.names[old], "new_leader": router.names[c], "epoch": self.epoch,
                  "detected_at_s": p["detected_at"], "detection_s": p["detected_at"] - p["onset"],
                  "unavailable_s": now - p["onset"], "lost_writes": lost}
        self.failovers.append(record)
        router.events.append({"at_s": now, "kind": "failover", "description":
                              f"failover, {router.names[c]} promoted to leader (epoch {self.epoch}, {lost} writes lost)"})
        self.terms[c] += 1
        env.call_later(0.0, self._tick, (c, self.terms[c]))
        self._release_waiting()

    def _release_waiting(self) -> None:
        waiting, self.waiting = self.waiting, deque()
        for proxy, req, reply in waiting:
            self.write(proxy, req, reply)

    def _lose(self, key: Any, version: int) -> None:
        if (key, version) not in self.lost:
            self.lost.add((key, version))
            self.lost_keys.append(key)

    # --- client requests ------------------------------------------------------------------------
    def _proxy_reaches(self, proxy: Any, i: int) -> bool:
        link = proxy.links[self.router.names[i]]
        return not (link.cut or link.cut_back)

    def _leader_for(self, proxy: Any) -> int:
        """The leader this client library writes to: the newest it can reach, or the one it knew."""
        view = self.views.get(id(proxy))
        router = self.router
        if view is None or (view[1] < self.epoch and self._proxy_reaches(proxy, router.leader)):
            view = self.views[id(proxy)] = (router.leader, self.epoch)
        return view[0]

    def write(self, proxy: Any, req: Request, reply: Reply) -> None:
        p = self.promoting
        if p is not None and self._proxy_reaches(proxy, p["candidate"]):
            if self.wait:
                self.waiting.append((proxy, req, reply))
            else:
                self.writes_refused += 1
                note_failure(self.env, req, CAUSE_NO_LEADER, self.router.name)
                reply(ERROR)
            return
        leader = self._leader_for(proxy)
        router = self.router
        router.writes_by[leader] += 1
        link = self.write_links.get((id(proxy), leader))
        if link is None:
            link = self.write_links[(id(proxy), leader)] = self.env.network.link(proxy, self.write_inbox[leader])
        sub = numbered_request(req, router.number)  # numbered by the leader when it applies it
        link.send(sub, router.leader_write(req, _Tagged(self, leader, sub, reply), leader, sub))

    def read(self, proxy: Any, req: Request, reply: Reply) -> None:
        leader = self._leader_for(proxy)
        if not self.lease_reads:
            self.router.read_at(leader, proxy, req, reply)
            return
        # Through the replica's lease check (as writes go through its leadership check).
        link = self.read_links.get((id(proxy), leader))
        if link is None:
            link = self.read_links[(id(proxy), leader)] = self.env.network.link(proxy, self.read_inbox[leader])
        self.router.read_at(leader, proxy, req, reply, link)

    def acknowledged_by(self, leader: int, key: Any, version: int) -> None:
        """A write acknowledged to its client: by a replaced leader, it is lost at the reconciliation."""
        if key is None or (self.epoch_of[leader] >= self.epoch and self.leads[leader]):
            return
        if self.leads[leader]:
            self.pending[leader].append((key, version))  # lost when it learns of the new epoch
        else:
            self._lose(key, version)

    # --- metrics --------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        pending = sum(len(p) for p in self.pending)
        out = {
            "failover": {
                "epoch": self.epoch,
                "failovers": self.failovers,
                "detection_s": [f["detection_s"] for f in self.failovers],
                "unavailable_s": sum(f["unavailable_s"] for f in self.failovers),
                "aborted_promotions": self.aborted,
                "catch_up_copies": self.catch_up_copies,
                "writes_refused_during_failover": self.writes_refused,
                "writes_refused_not_leader": self.writes_not_leader,
                "writes_fenced": self.writes_fenced,
                "replication_rejected": self.replication_rejected,
                "replication_dropped": self.replication_dropped,
                "split_brain_writes": self.split_brain_writes,
                "unreconciled_writes": pending,
            },
            "lost_writes": len(self.lost_keys),
            "lost_write_keys": sorted(set(self.lost_keys))[:100],
        }
        if self.lease_reads:  # only then, so a store without it reports as before
            out["failover"]["reads_fenced"] = self.reads_fenced
            out["failover"]["reads_refused_not_leader"] = self.reads_not_leader
        return out

