"""Requests and call outcomes.

A `Request` lives only while it is in flight; what is kept after it finishes is a row in the
recorder's columnar arrays. Sub-calls of a request tree reuse the root request object (same
operation, key and attributes) with their own reply callback, so a call tree allocates no extra
request objects.
"""
from __future__ import annotations

import math
from collections import deque
from heapq import heappush
from typing import Any, Callable

from simulator.engine.env import Timer
from simpy.events import NORMAL

_new = object.__new__

OK = 0
REJECTED = 1  # refused for lack of room (queue full, load shed)
TIMED_OUT = 2  # a deadline passed (client, server or network timeout)
ERROR = 3  # failed (crashed component, refused connection, downstream failure)
IN_FLIGHT = 4  # not finished when the run ended
SHORT_CIRCUITED = 5  # refused by the caller's own open circuit breaker (never sent)
RATE_LIMITED = 6  # refused by the callee's rate limiter (HTTP 429), apart from queue-full rejections
DEGRADED = 7  # answered by a caller's fallback with a degraded result (graceful degradation), apart from ok
SHED = 8  # dropped from a server's queue by load shedding (max_queue_wait, CoDel), apart from queue-full rejections

OUTCOME_NAMES = ("ok", "rejected", "timed_out", "error", "in_flight", "short_circuited", "rate_limited",
                 "degraded", "shed")

# Why a request failed: the cause of the latest failure decided anywhere in its call tree before it was
# answered, set where the failure is decided (`Recorder.why[req.id] = (cause, place, fault)`: only on a
# failure, so nothing is paid when nothing fails). `place` names the component (or the workload, for
# its own timeout) where it happened; `fault` is the token (place in the run's fault list) of the fault
# whose effect decided it (a crash, a partition, a loss, an injected error), -1 for none. Documented in
# docs/outputs.md.
CAUSE_NONE = 0  # ok, or a failure decided where no cause is recorded
CAUSE_DOWN = 1  # refused by a crashed component (place: that component)
CAUSE_CUT = 2  # sent over a link a partition cut, or a reply cut on its way back (place: the callee)
CAUSE_LOST = 3  # a message (or its reply) lost by a lossy link (place: the callee)
CAUSE_QUEUE_FULL = 4  # rejected by a full queue (place: the station)
CAUSE_CRASHED = 5  # in service or queued when its component crashed (place: that component)
CAUSE_RATE_LIMITED = 6  # refused by the callee's rate limiter (place: the callee)
CAUSE_OPEN_BREAKER = 7  # refused by the caller's open circuit breaker (place: the call, caller->target)
CAUSE_BULKHEAD_FULL = 8  # rejected by a full bulkhead (place: the call, caller->target)
CAUSE_CLIENT_TIMEOUT = 9  # the workload's own timeout expired (place: the workload)
CAUSE_CALL_TIMEOUT = 10  # a caller's timeout on a call (a call step's or a per-attempt timeout; place: the call)
CAUSE_DEADLINE = 11  # dropped downstream because its caller's propagated deadline had passed (place: the component)
CAUSE_SERVER_TIMEOUT = 12  # a component's own `timeout` on the work it holds expired (place: the component)
CAUSE_INJECTED_ERROR = 13  # an `error` fault failed the call (place: the component)
CAUSE_NO_QUORUM = 14  # too few replicas answered a quorum read or acknowledged a write (place: the store)
CAUSE_NOT_LEADER = 15  # a write reached a replica that does not lead (place: the replica)
CAUSE_FENCED = 16  # a write reached a leader whose lease had expired (fencing; place: the replica)
CAUSE_NO_LEADER = 17  # refused while no leader was known: a failover or an election in progress (place: the store or replica)
CAUSE_LEADER_LOST = 18  # its leader stepped down or crashed before the write committed or the read was confirmed (place: that replica)
CAUSE_RETENTION = 19  # a message queue's retention deleted the message before it was processed (place: the queue)
CAUSE_DEAD_LETTER = 20  # a consumer group gave up on the message after `max_attempts` (place: the queue)
CAUSE_NAMES = ("none", "down", "cut", "lost", "queue_full", "crashed", "rate_limited", "open_breaker",
               "bulkhead_full", "client_timeout", "call_timeout", "deadline", "server_timeout", "injected_error",
               "no_quorum", "not_leader", "fenced", "no_leader", "leader_lost", "retention", "dead_letter")

Reply = Callable[[int], None]


def note_failure(env: Any, req: Any, cause: int, place: str, fault: int = -1, inherit: bool = False) -> None:
    """A failure of `req` was decided here: remember why, for its record (called only on a failure).

    `fault`: the token of the fault whose effect decided it (`Faultable.fault_token`), -1 for none.
    `inherit`: a failure that follows from failures already noted for the request (a quorum missed
    because replicas were down): it keeps the fault of the latest one."""
    rec = getattr(env, "recorder", None)  # None: a component driven by a test, without records
    if rec is not None and req is not None:
        if inherit and fault < 0:
            fault = rec.why.get(req.id, (0, None, -1))[2]
        rec.why[req.id] = (cause, place, fault)


def failure_of(env: Any, rid: int) -> tuple[int, str, int] | None:
    """The (cause, place, fault) noted so far for request `rid`'s latest failure, if any."""
    rec = getattr(env, "recorder", None)
    return None if rec is None else rec.why.get(rid)


def share_failure(env: Any, why: tuple[int, str, int] | None, req: Any) -> None:
    """`req` fails for the reason `why` (`failure_of` another request: callers coalesced on one
    fetch share its failure, so they share its cause). Called only on a failure."""
    rec = getattr(env, "recorder", None)
    if rec is not None and why is not None:
        rec.why[req.id] = why


class Request:
    """One client request (the root of a call tree)."""

    __slots__ = ("id", "t0", "wl", "op", "key", "user", "region", "meta")
    # The request's `Trace` when it was sampled for tracing (a `TracedRequest`, simulator/engine/trace.py);
    # a class attribute, so an untraced request carries nothing and reading it costs one lookup.
    trace: Any = None

    def __init__(
        self,
        id: int,
        t0: float,
        wl: int,
        op: str,
        key: int | None = None,
        user: int | None = None,
        region: str | None = None,
    ) -> None:
        self.id = id
        self.t0 = t0
        self.wl = wl
        self.op = op
        self.key = key
        self.user = user
        self.region = region
        # Free slot for component models that need per-request state (versions read, cache tags).
        self.meta: Any = None

    def __repr__(self) -> str:
        return f"Request(id={self.id}, op={self.op!r}, key={self.key}, t0={self.t0:.6f})"


class Once:
    """Wraps a reply so that only the first outcome is delivered (reply vs. timeout races)."""

    # `rid`: set (only) by callers whose reply is not the request itself, so a timeout can say which
    # request it failed (see `Deadlines.tag`); never read on the path of an answer in time.
    __slots__ = ("reply", "done", "deadline", "rid")

    def __init__(self, reply: Reply, deadline: float = math.inf) -> None:
        self.reply = reply
        self.done = False
        self.deadline = deadline  # when its timeout fires (set by `Deadlines.wrap`)

    def __call__(self, outcome: int) -> None:
        if not self.done:
            self.done = True
            self.reply(outcome)

    def land(self, outcome: int, at: float) -> None:
        """A final reply that will arrive at `at` (a sink: see `network.Link.sink`); its timeout,
        set before the reply left, wins a tie, as its timer would have come first."""
        if not self.done and at < self.deadline:
            self.done = True
            self.reply.land(outcome, at)

    def expire(self, _timer: Any) -> None:
        if not self.done:
            self.done = True
            self.reply(TIMED_OUT)


class Deadlines:
    """The timeouts of one source (a workload's clients, a component, a call step), all `timeout_s` long.

    Timeouts of equal length expire in the order they were set, so they wait in a FIFO queue of
    `(time, event id, Once)` and a single timer is pending at a time, on the oldest entry not yet answered.
    When it fires it expires that entry if its reply has not come, drops the answered entries
    behind it and arms itself for the next unanswered one. A request answered in time (the usual
    case) costs no event of its own.

    Each entry keeps the heap position (`SimEnv.reserve`: time and event id) a timer of its own
    would have taken when it was set, and the timer is armed at that position: every timeout
    happens at the same simulated time, and in the same order among events of that time, as with
    one timer per request.
    """

    __slots__ = ("env", "timeout_s", "entries", "armed", "tag")

    def __init__(self, env: Any, timeout_s: float, tag: tuple[int, str] | None = None) -> None:
        self.env = env
        self.timeout_s = timeout_s
        self.entries: deque = deque()
        self.armed = False
        # (cause, place, fault) a timeout of this source records for its request (`Recorder.why`): the id is
        # the wrapped reply's `id` (a workload's request) or the `Once`'s `rid`. Only read when one expires.
        self.tag = None if tag is None else (tag[0], tag[1], -1)  # a timeout names no fault

    def wrap(self, reply: Reply) -> "Once":
        """`reply`, to be answered with TIMED_OUT if no outcome comes within `timeout_s`."""
        env = self.env
        at = env._now + self.timeout_s
        once = _new(Once)  # Once(reply, at), without an __init__ frame: once per request
        once.reply = reply
        once.done = False
        once.deadline = at
        eid = next(env._eid)  # env.reserve(self.timeout_s), inline: (at, eid) is the slot
        self.entries.append((at, eid, once))
        if not self.armed:
            self.armed = True
            heappush(env._queue, (at, NORMAL, eid, Timer(self._fire)))  # env.schedule_reserved, inline
        return once

    def _fire(self, _timer: Any) -> None:
        entries = self.entries
        # The entry the timer was armed for: its deadline is now. Expiring it may set new timeouts
        # of this source; they queue behind, and the timer is re-armed below.
        once = entries.popleft()[2]
        if self.tag is not None and not once.done:
            rid = getattr(once, "rid", None)
            if rid is None:
                rid = getattr(once.reply, "id", None)
            rec = getattr(self.env, "recorder", None)
            if rid is not None and rec is not None:
                rec.why[rid] = self.tag
        once.expire(None)
        while entries and entries[0][2].done:
            entries.popleft()
        if entries:
            at, eid, _once = entries[0]
            self.env.schedule_reserved(Timer(self._fire), (at, eid))
        else:
            self.armed = False

    def __len__(self) -> int:
        return len(self.entries)


def deadlines(env: Any, timeout_s: float | None, tag: tuple[int, str] | None = None) -> Deadlines | None:
    """A deadline queue for timeouts of `timeout_s`, or None if there is no timeout."""
    return None if timeout_s is None else Deadlines(env, timeout_s, tag)


# Marks a health probe's place in a station's queue (models/station.py, models/shedding.py): a probe
# waits its turn like a request but takes no service time.
PROBE = Request(-1, 0.0, -1, "health")
