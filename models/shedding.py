"""Load shedding on a queueing station: queue discipline, `max_queue_wait` and CoDel.

Built once, at build time, only for a station that sets `queue_discipline` other than fifo,
`max_queue_wait` or `codel`: it replaces the station's `handle` (the enqueueing branch) and
`release` (which waiting request a freed worker takes) with its own. Every other station keeps
`Station`'s code, untouched.

- `queue_discipline`: `fifo` (oldest first), `lifo` (newest first), `adaptive_lifo` (FIFO
  normally, LIFO while the queue is congested, as Facebook's "Fail at Scale" describes it).
- **congested**: the queue has not been empty for the last `codel.interval` (default 100 ms).
- `codel: {target, interval}` (Facebook's "controlled delay" variant of CoDel): while the queue is
  congested, a request that waited longer than `target` when a worker would take it is dropped
  instead (outcome `shed`); while it is not, nothing is dropped (a request can then have waited at
  most `interval`, the limit Facebook gives for that case).
- `max_queue_wait`: a request still waiting after this long is dropped at that moment (outcome
  `shed`), whatever the discipline. The queue is kept in arrival order (LIFO takes from the back),
  so the oldest waiting request is always at the front: one timer, armed on it, is enough.

A stop-the-world pause stops the shedding too (the server is frozen): what outlived its limit during
the pause is dropped when it ends.
"""
from __future__ import annotations

import math
from heapq import heappush
from typing import Any

from pydantic import Field, model_validator
from simpy.events import NORMAL

from simulator.engine.env import Timer
from simulator.engine.request import OK, PROBE, SHED, Deadlines, Once, Reply, Request
from simulator.language.config import StrictModel
from simulator.language.units import PositiveDuration

DEFAULT_INTERVAL_S = 0.1


class CodelConfig(StrictModel):
    """Controlled delay (Facebook's CoDel variant): drop requests that waited over `target` while the
    queue has not been empty for `interval`."""

    target: PositiveDuration = Field(0.005, description="Longest queueing time allowed while the queue is congested.")
    interval: PositiveDuration = Field(
        DEFAULT_INTERVAL_S, description="The queue is congested when it has not been empty for this long "
        "(also the congestion test of adaptive_lifo).")

    @model_validator(mode="after")
    def _order(self) -> "CodelConfig":
        if self.target > self.interval:
            raise ValueError(f"'target' ({self.target:g}s) must be at most 'interval' ({self.interval:g}s)")
        return self


def wanted(cfg: Any) -> bool:
    """Whether a station's config asks for any load shedding."""
    return (getattr(cfg, "queue_discipline", "fifo") != "fifo" or getattr(cfg, "max_queue_wait", None) is not None
            or getattr(cfg, "codel", None) is not None)


class Shedder:
    """The queue code of one shedding station (its `handle` and `release` are this object's)."""

    def __init__(self, station: Any, cfg: Any) -> None:
        self.st = station
        self.max_wait = cfg.max_queue_wait
        codel = cfg.codel
        self.target = codel.target if codel is not None else math.inf  # no drop without codel
        self.interval = codel.interval if codel is not None else DEFAULT_INTERVAL_S
        self.discipline = cfg.queue_discipline
        self.lifo = cfg.queue_discipline == "lifo"
        self.adaptive = cfg.queue_discipline == "adaptive_lifo"
        self.since = 0.0  # when the queue last went from empty to non-empty
        self.armed = False  # a max_queue_wait timer is pending
        self.base_handle = station.handle
        station.handle = self.handle
        station.release = self.release
        self.reset_stats()

    def reset_stats(self) -> None:
        self.shed_wait = 0  # dropped by max_queue_wait
        self.shed_codel = 0  # dropped by CoDel
        self.lifo_taken = 0  # requests taken newest-first

    def stats(self) -> dict[str, Any]:
        return {"queue_discipline": self.discipline, "shed": self.shed_wait + self.shed_codel,
                "shed_max_queue_wait": self.shed_wait, "shed_codel": self.shed_codel, "taken_lifo": self.lifo_taken}

    # --- requests -------------------------------------------------------------------------------
    def handle(self, req: Request, reply: Reply) -> None:
        st = self.st
        if st.busy < st.workers or (st.capacity is not None and len(st.queue) >= st.capacity):
            self.base_handle(req, reply)  # a free worker, or a full queue: the station's own code
            return
        env = st.env
        now = env._now
        if st.timeout_s is not None:  # as Station.handle does before queueing
            dl = st._deadlines
            if dl is None or dl.timeout_s != st.timeout_s:
                dl = st._deadlines = Deadlines(env, st.timeout_s)
            reply = dl.wrap(reply)
        st._account(now)
        q = st.queue
        if not q:
            self.since = now
        q.append((req, reply, now))
        if len(q) > st.queue_max:
            st.queue_max = len(q)
        if self.max_wait is not None and not self.armed:
            self._arm(now + self.max_wait)

    def release(self) -> None:
        """Free one worker: it takes the next waiting request by the discipline, dropping what CoDel drops."""
        st = self.st
        now = st.env._now
        q = st.queue
        st._account(now)
        shed: list = []
        started = False
        if q:
            congested = now - self.since >= self.interval
            lifo = self.lifo or (self.adaptive and congested)
            limit = self.target if congested else math.inf
            while q:
                req, reply, t_enq = q.pop() if lifo else q.popleft()
                if req is PROBE:  # a health probe takes no service time: answered, the worker goes on
                    reply(OK)
                    continue
                if type(reply) is Once and reply.done:
                    st.expired += 1  # its deadline passed while queued: skip the work
                    continue
                if now - t_enq > limit:
                    shed.append(reply)
                    continue
                if lifo:
                    self.lifo_taken += 1
                st.wait_sum += now - t_enq
                st.waited += 1
                st._start(req, reply, now)
                started = True
                break
        if not started:
            st.busy -= 1
        if shed:  # answered once the station's state is settled (a reply may call it again at once)
            self.shed_codel += len(shed)
            for r in shed:
                r(SHED)

    # --- max_queue_wait ---------------------------------------------------------------------------
    def _arm(self, at: float) -> None:
        self.armed = True
        env = self.st.env
        heappush(env._queue, (at, NORMAL, next(env._eid), Timer(self._expire)))

    def _expire(self, _timer: Any) -> None:
        self.armed = False
        st = self.st
        if st.paused:
            return  # frozen: `resumed` looks again when the pause ends
        now = st.env._now
        q = st.queue
        wait = self.max_wait
        shed: list = []
        if q and q[0][2] + wait <= now:
            st._account(now)
            while q and q[0][2] + wait <= now:
                req, reply, _t = q.popleft()
                if req is PROBE:  # a probe that waited too long fails; it is not a request shed
                    reply(SHED)
                    continue
                if type(reply) is Once and reply.done:
                    st.expired += 1
                    continue
                shed.append(reply)
        if q:
            self._arm(q[0][2] + wait)
        self.shed_wait += len(shed)
        for r in shed:
            r(SHED)

    def resumed(self) -> None:
        if self.max_wait is not None and not self.armed:
            self._expire(None)
