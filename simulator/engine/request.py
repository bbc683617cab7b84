"""Requests and call outcomes.

A `Request` lives only while it is in flight; what is kept after it finishes is a row in the
recorder's columnar arrays. Sub-calls of a request tree reuse the root request object (same
operation, key and attributes) with their own reply callback, so a call tree allocates no extra
request objects.
"""
from __future__ import annotations

from typing import Any, Callable

OK = 0
REJECTED = 1  # refused for lack of room (queue full, load shed)
TIMED_OUT = 2  # a deadline passed (client, server or network timeout)
ERROR = 3  # failed (crashed component, refused connection, downstream failure)
IN_FLIGHT = 4  # not finished when the run ended

OUTCOME_NAMES = ("ok", "rejected", "timed_out", "error", "in_flight")

Reply = Callable[[int], None]


class Request:
    """One client request (the root of a call tree)."""

    __slots__ = ("id", "t0", "wl", "op", "key", "user", "region", "meta")

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

    __slots__ = ("reply", "done")

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.done = False

    def __call__(self, outcome: int) -> None:
        if not self.done:
            self.done = True
            self.reply(outcome)

    def expire(self, _timer: Any) -> None:
        if not self.done:
            self.done = True
            self.reply(TIMED_OUT)


def with_timeout(env: Any, timeout_s: float | None, reply: Reply) -> Reply:
    """A reply that also fires TIMED_OUT after `timeout_s` unless the real reply came first."""
    if timeout_s is None:
        return reply
    once = Once(reply)
    env.call_later(timeout_s, once.expire)
    return once
