"""The bulkhead: at most `max_concurrent` calls in flight to a target, an optional bounded wait.

A call finds a free slot and goes through, or waits in a FIFO queue of at most `queue` calls
(for at most `max_wait`, if set), or is refused at once with `rejected` (refused for lack of room,
as a full queue is). A slot is freed when the call's answer comes back through the bulkhead (an
attempt's timeout, inside it, frees it), and goes to the oldest waiting call whose caller has not
given up. One per call site and target, like a circuit breaker.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from simulator.engine.request import CAUSE_BULKHEAD_FULL, REJECTED, Reply, Request, note_failure
from simulator.language import registry

WAITING, STARTED, EXPIRED = 0, 1, 2


class _Slot:
    """The reply of a call holding a slot: frees it, then answers the caller."""

    __slots__ = ("bulkhead", "reply")

    def __init__(self, bulkhead: "Bulkhead", reply: Reply) -> None:
        self.bulkhead, self.reply = bulkhead, reply

    @property
    def done(self) -> bool:
        return getattr(self.reply, "done", False) is True

    def __call__(self, outcome: int) -> None:
        self.bulkhead._release()
        self.reply(outcome)


class _Waiting:
    __slots__ = ("req", "reply", "state")

    def __init__(self, req: Request, reply: Reply) -> None:
        self.req, self.reply, self.state = req, reply, WAITING


@registry.call_policies.register("bulkhead")
class Bulkhead:
    """At most N calls in flight; a bounded FIFO wait; refusals answered `rejected`."""

    def __init__(self, cfg: Any, inner: Any, env: Any, label: str) -> None:
        self.cfg = cfg
        self.inner = inner
        self.env = env
        self.label = label  # where a rejected call's cause is placed
        self.limit = cfg.max_concurrent
        self.queue_limit = cfg.queue
        self.max_wait = cfg.max_wait
        self.in_use = 0
        self.waiting: deque = deque()
        self.n_waiting = 0  # live entries of `waiting` (expired ones are dropped lazily)
        self.reset_stats()

    def reset_stats(self) -> None:
        self.calls = 0  # calls that got a slot
        self.waited = 0  # of which waited for it
        self.rejected = 0  # refused: no slot and the queue full, or waited `max_wait`
        self.abandoned = 0  # the caller gave up while the call waited
        self.max_in_use = self.in_use

    def send(self, req: Request, reply: Reply) -> None:
        if self.in_use < self.limit:
            self._start(req, reply)
        elif self.n_waiting < self.queue_limit:
            entry = _Waiting(req, reply)
            self.waiting.append(entry)
            self.n_waiting += 1
            if self.max_wait is not None:
                self.env.call_later(self.max_wait, self._expire, entry)
        else:
            self.rejected += 1
            note_failure(self.env, req, CAUSE_BULKHEAD_FULL, self.label)
            reply(REJECTED)

    def _start(self, req: Request, reply: Reply) -> None:
        self.in_use += 1
        if self.in_use > self.max_in_use:
            self.max_in_use = self.in_use
        self.calls += 1
        self.inner(req, _Slot(self, reply))

    def _release(self) -> None:
        self.in_use -= 1
        waiting = self.waiting
        while waiting:
            entry = waiting.popleft()
            if entry.state != WAITING:
                continue
            self.n_waiting -= 1
            entry.state = STARTED
            if getattr(entry.reply, "done", False) is True:  # its caller gave up meanwhile
                self.abandoned += 1
                continue
            self.waited += 1
            self._start(entry.req, entry.reply)
            return

    def _expire(self, timer: Any) -> None:
        entry = timer._value
        if entry.state == WAITING:
            entry.state = EXPIRED
            self.n_waiting -= 1
            self.rejected += 1
            note_failure(self.env, entry.req, CAUSE_BULKHEAD_FULL, self.label)
            entry.reply(REJECTED)

    def stats(self) -> dict[str, Any]:
        return {"max_concurrent": self.limit, "calls": self.calls, "waited": self.waited,
                "rejected": self.rejected, "abandoned": self.abandoned, "max_in_use": self.max_in_use,
                "in_use": self.in_use}
