"""Versions of keys: what a store holds, what a read returned, and how stale that was.

Each store keeps, per key, the latest version it has applied. A store answering a call writes the
version it read or wrote into `req.meta`; a component that needs to know (a cache filling itself,
a replica set checking a read) sends its own sub-request so that no other branch of the call tree
overwrites it. Writes that must install a given version (replication, LWW) carry it in a
`VersionedWrite`; a write to the leader of a leader-follower store is a `NumberedWrite`, which the
leader numbers when it applies it (as a primary orders writes by its log), not when it was issued.
"""
from __future__ import annotations

from array import array
from typing import Any

import numpy as np

from simulator.engine.request import Request
from simulator.engine.trace import traced_copy
from simulator.workload.clients import ClientRequest

_new = object.__new__

HISTORY = 64  # commit times kept per key; staleness older than this many versions is a lower bound
# `value_at`: the value of a version no store of this data reported (histories: the read stays info)
UNKNOWN = object()


class VersionedWrite(Request):
    """A write that installs `version` (if newer than what the store has) instead of a new one."""

    __slots__ = ("version",)


class TracedVersionedWrite(VersionedWrite):
    """A `VersionedWrite` of a request sampled for tracing (simulator/engine/trace.py)."""

    __slots__ = ("trace",)


class NumberedWrite(VersionedWrite):
    """A write whose `version` is None until the store applying it asks `numbering(key)` for the
    next one (so versions follow the leader's apply order, not the clients' issue order)."""

    __slots__ = ("numbering",)


class TracedNumberedWrite(NumberedWrite):
    """A `NumberedWrite` of a request sampled for tracing."""

    __slots__ = ("trace",)


# `type(req) in VERSIONED`: a write that installs a version (a NumberedWrite's, drawn when applied)
VERSIONED = (VersionedWrite, TracedVersionedWrite, NumberedWrite, TracedNumberedWrite)


def sub_request(req: Request, op: str | None = None, version: int | None = None) -> Request:
    """A private copy of `req` (same id, key and attributes) for one downstream call."""
    if version is None:  # Request(...), inline: no __init__ frame (once per cache miss or store call)
        # Of the class of the root requests (never called as one: its `src` stays unset), so that each
        # `req.x` in the models meets one class and CPython's attribute caches hold (a root and a
        # sub-request reach the same cache; see simulator/engine/monomorphic.py)
        sub = _new(ClientRequest)
        sub.id = req.id
        sub.t0 = req.t0
        sub.wl = req.wl
        sub.op = op or req.op
        sub.key = req.key
        sub.user = req.user
        sub.region = req.region
        sub.meta = None
        return sub if req.trace is None else traced_copy(sub, req.trace)  # a sampled request stays traced
    sub = VersionedWrite(req.id, req.t0, req.wl, op or req.op, req.key, req.user, req.region)
    sub.version = version
    if req.trace is not None:
        traced = traced_copy(sub, req.trace, TracedVersionedWrite)
        traced.version = version
        return traced
    return sub


def numbered_request(req: Request, numbering: Any) -> NumberedWrite:
    """A private copy of the write `req` for a leader that numbers it with `numbering(key)` when it
    applies it (models/database.py); `sub.version` holds the number afterwards."""
    sub = NumberedWrite(req.id, req.t0, req.wl, req.op, req.key, req.user, req.region)
    if req.trace is not None:
        sub = traced_copy(sub, req.trace, TracedNumberedWrite)
    sub.version = None
    sub.numbering = numbering
    return sub


class VersionLog:
    """Per key: the latest version and (optionally) when recent versions were committed."""

    __slots__ = ("latest", "history")

    def __init__(self, track_times: bool = False) -> None:
        self.latest: dict[Any, int] = {}
        self.history: dict[Any, list] | None = {} if track_times else None

    def track_times(self) -> None:
        if self.history is None:
            self.history = {}

    def commit(self, key: Any, version: int, now: float) -> bool:
        """Install `version` if it is newer; True if it was."""
        if version <= self.latest.get(key, 0):
            return False
        self.latest[key] = version
        if self.history is not None:
            hist = self.history.get(key)
            if hist is None:
                hist = self.history[key] = []
            hist.append((version, now))
            if len(hist) > 2 * HISTORY:
                del hist[:-HISTORY]
        return True

    def stale_since(self, key: Any, version: int) -> float | None:
        """When the first version newer than `version` was committed (None: not stale / unknown)."""
        if self.history is None:
            return None
        t = None
        for v, when in reversed(self.history.get(key, ())):
            if v <= version:
                break
            t = when
        return t


def percentiles(values: Any) -> dict[str, float | None]:
    a = np.frombuffer(values, dtype=float) if isinstance(values, array) else np.asarray(values, dtype=float)
    if a.size == 0:
        return {"mean": None, "p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(a, [50, 99])
    return {"mean": float(a.mean()), "p50": float(p50), "p99": float(p99), "max": float(a.max())}


class StaleReads:
    """Counts reads and the stale ones, with how stale they were (versions behind, seconds)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.reads = 0
        self.stale = 0
        self.behind = array("d")
        self.seconds = array("d")

    def record(self, returned: int, latest: int, stale_since: float | None, now: float) -> None:
        self.reads += 1
        if returned < latest:
            self.stale += 1
            self.behind.append(latest - returned)
            if stale_since is not None:
                self.seconds.append(now - stale_since)

    def stats(self) -> dict[str, Any]:
        return {
            "reads_checked": self.reads,
            "stale_reads": self.stale,
            "stale_ratio": self.stale / self.reads if self.reads else 0.0,
            "staleness_versions": percentiles(self.behind),
            "staleness_s": percentiles(self.seconds),
        }
