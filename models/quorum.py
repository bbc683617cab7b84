"""Leaderless (Dynamo-style) quorum replication for `replicated` stores in `mode: quorum`.

A write goes to every replica at once and is acknowledged after `write_quorum` of them stored it
(a `FanIn`, in `models.replicated`); a read asks every replica, answers after `read_quorum` replies with the newest version among them,
and repairs the replicas that answered with an older one (read repair). When read_quorum +
write_quorum > replicas, every read quorum meets every write quorum, so no read is stale; with
smaller quorums reads are faster and more available, and some are stale. When fewer replicas than
a quorum can answer (crashes, a partition), the request fails: consistency kept, availability lost.
"""
from __future__ import annotations

from typing import Any

from simulator.engine.request import CAUSE_NO_QUORUM, ERROR, OK, Reply, Request, note_failure

from .versions import sub_request


class QuorumRead:
    """Collects replies to one read: answers with the newest of the first `need`, repairs stale ones."""

    __slots__ = ("router", "proxy", "req", "reply", "need", "left", "done", "acked_at_start", "seen", "best")

    def __init__(self, router: Any, proxy: Any, req: Request, reply: Reply, need: int, total: int,
                 acked: int) -> None:
        self.router, self.proxy, self.req, self.reply = router, proxy, req, reply
        self.need, self.left, self.done, self.acked_at_start = need, total, False, acked
        self.seen: list[tuple[int, int]] = []  # (replica, version) of every successful reply
        self.best = 0

    def answer(self, replica: int, sub: Request, outcome: int) -> None:
        router = self.router
        self.left -= 1
        if outcome == OK:
            version = sub.meta or 0
            self.seen.append((replica, version))
            router.reads_by[replica] += 1
            if version > self.best:
                self.best = version
            if not self.done:
                self.need -= 1
                if self.need == 0:
                    self.done = True
                    key = self.req.key
                    if key is not None:
                        latest = self.acked_at_start
                        since = router.acked.stale_since(key, self.best) if self.best < latest else None
                        router.stale.record(self.best, latest, since, router.env._now)
                    self.req.meta = self.best
                    if router.history is not None:
                        router.report_read(self.req, self.best)
                    self.reply(OK)
        elif not self.done and self.need > self.left:
            self.done = True
            note_failure(router.env, self.req, CAUSE_NO_QUORUM, router.name, inherit=True)
            self.reply(ERROR)
        if self.left == 0 and self.done and self.req.key is not None:
            self.repair()

    def repair(self) -> None:
        """Send the newest version seen to every replica that answered with an older one."""
        router = self.router
        for replica, version in self.seen:
            if version < self.best:
                router.read_repairs += 1
                fix = sub_request(self.req, op=router.write_op, version=self.best)
                self.proxy.links[router.names[replica]].send(fix, _ignore)


class _Answer:
    __slots__ = ("read", "replica", "sub")

    def __init__(self, read: QuorumRead, replica: int, sub: Request) -> None:
        self.read, self.replica, self.sub = read, replica, sub

    def __call__(self, outcome: int) -> None:
        self.read.answer(self.replica, self.sub, outcome)


def _ignore(_outcome: int) -> None:
    pass


def quorum_read(router: Any, proxy: Any, req: Request, reply: Reply, acked: int) -> None:
    homes = router.home_names  # every replica, except a sloppy quorum's fallbacks
    collect = QuorumRead(router, proxy, req, reply, router.read_quorum, len(homes), acked)
    for i, name in enumerate(homes):
        sub = sub_request(req)
        proxy.links[name].send(sub, _Answer(collect, i, sub))
