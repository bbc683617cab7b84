"""Sloppy quorums with hinted handoff (Dynamo), an option of `mode: quorum` (`sloppy: true`).

The first `home` replicas are every key's home; the rest are fallbacks. A write goes to every home
replica; when one fails to answer (refused while down, or the network timeout across a partition),
the client sends the write instead to the next fallback not yet used by this write, with a *hint*
naming the home replica it stands in for. A hinted copy counts towards `write_quorum` like the home
copy it replaces, so a write succeeds while W home replicas are unreachable as long as fallbacks
answer. Reads still ask the home replicas only (read quorums, read repair as in strict quorums), so
a read quorum can miss a write whose copies sit on fallbacks: R + W > home no longer rules out
stale reads. Each fallback tries to hand its hints to their home replicas every `retry_interval`
over the link between them; a hint is dropped once its home stored it (a handoff).
"""
from __future__ import annotations

from collections import deque
from typing import Any

from simulator.engine.request import OK, Reply, Request

from .calls import FanIn
from .versions import sub_request


class HintedHandoff:
    """The sloppy write path of a quorum store, and the fallbacks' hints."""

    def __init__(self, router: Any, home: int) -> None:
        self.router = router
        self.home = home
        self.fallbacks = list(range(home, len(router.names)))
        self.hints: dict[int, deque] = {f: deque() for f in self.fallbacks}  # (home replica, key, version)
        self.handing = {f: False for f in self.fallbacks}
        self.reset_stats()

    def reset_stats(self) -> None:
        self.hinted_writes = 0
        self.handoffs = 0

    def connect(self, system: Any) -> None:
        members = self.router.members
        # Fallback -> home replica: where hints are handed off (partitions between them apply).
        self.links = {(f, h): system.network.link(members[f], members[h])
                      for f in self.fallbacks for h in range(self.home)}

    def write(self, proxy: Any, req: Request, reply: Reply) -> None:
        router = self.router
        key = req.key
        last = router.issued.get(key)
        version = (last[0] if last else 0) + 1
        router.issued[key] = (version, -1)
        fan = FanIn(self.home, router.write_quorum, router.quorum_ack(req, version, reply))
        write = _SloppyWrite(self, proxy, req, version, fan)
        for h in range(self.home):
            proxy.links[router.names[h]].send(sub_request(req, version=version), _HomeAnswer(write, h))

    def hinted(self, f: int, h: int, key: Any, version: int) -> None:
        self.hinted_writes += 1
        self.keep(f, (h, key, version))

    def keep(self, f: int, hint: tuple) -> None:
        """Fallback `f` holds `hint` until its home replica stores it (tried every retry_interval)."""
        self.hints[f].append(hint)
        if not self.handing[f]:
            self.handing[f] = True
            self.router.env.call_later(self.router.config.retry_interval, self._hand_off, f)

    def _hand_off(self, timer: Any) -> None:
        f = timer._value
        router = self.router
        hints = self.hints[f]
        if not hints:
            self.handing[f] = False
            return
        if not router.members[f].down:  # a crashed fallback keeps its hints (on disk) for later
            batch, self.hints[f] = list(hints), deque()
            for h, key, version in batch:
                sub = sub_request(Request(-1, router.env._now, -1, router.write_op, key), version=version)
                self.links[(f, h)].send(sub, _HandedOff(self, f, (h, key, version)))
        router.env.call_later(router.config.retry_interval, self._hand_off, f)

    def stats(self) -> dict[str, Any]:
        return {"sloppy": True, "home_replicas": self.home, "hinted_writes": self.hinted_writes,
                "handoffs": self.handoffs, "hints_pending": sum(len(h) for h in self.hints.values())}


class _SloppyWrite:
    __slots__ = ("hh", "proxy", "req", "version", "fan", "next_fallback")

    def __init__(self, hh: HintedHandoff, proxy: Any, req: Request, version: int, fan: FanIn) -> None:
        self.hh, self.proxy, self.req, self.version, self.fan = hh, proxy, req, version, fan
        self.next_fallback = 0

    def instead_of(self, h: int, outcome: int) -> None:
        """Home replica `h` did not store the write: try the next unused fallback with a hint."""
        hh = self.hh
        if self.next_fallback >= len(hh.fallbacks):
            self.fan.arrive(outcome)
            return
        f = hh.fallbacks[self.next_fallback]
        self.next_fallback += 1
        sub = sub_request(self.req, version=self.version)
        self.proxy.links[hh.router.names[f]].send(sub, _HintAnswer(self, f, h))


class _HomeAnswer:
    __slots__ = ("write", "h")

    def __init__(self, write: _SloppyWrite, h: int) -> None:
        self.write, self.h = write, h

    def __call__(self, outcome: int) -> None:
        if outcome == OK:
            self.write.fan.arrive(OK)
        else:
            self.write.instead_of(self.h, outcome)


class _HintAnswer:
    __slots__ = ("write", "f", "h")

    def __init__(self, write: _SloppyWrite, f: int, h: int) -> None:
        self.write, self.f, self.h = write, f, h

    def __call__(self, outcome: int) -> None:
        write = self.write
        if outcome == OK:
            write.hh.hinted(self.f, self.h, write.req.key, write.version)
            write.fan.arrive(OK)
        else:
            write.instead_of(self.h, outcome)


class _HandedOff:
    __slots__ = ("hh", "f", "hint")

    def __init__(self, hh: HintedHandoff, f: int, hint: tuple) -> None:
        self.hh, self.f, self.hint = hh, f, hint

    def __call__(self, outcome: int) -> None:
        if outcome == OK:
            self.hh.handoffs += 1
        else:
            self.hh.keep(self.f, self.hint)  # retried at the next interval
