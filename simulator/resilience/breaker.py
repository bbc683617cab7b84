"""The circuit breaker: closed, open, half-open; one per call site and target.

Closed: every call goes through and its outcome is recorded. It opens after `failure_threshold`
failures in a row (`consecutive`), or (`rate`, Resilience4j's semantics) when at least
`minimum_calls` calls are in the sliding window (the last `window` calls, or the calls answered in
the last `window` seconds) and the failed share of them reaches `failure_rate`, or the slow share
(answered after more than `slow_call_duration`, whatever the outcome) reaches `slow_call_rate`.
Open: calls fail at once with `short_circuited` (never sent). The first call at least `open_for`
after opening moves it to half-open (no timer runs meanwhile): up to `half_open_calls` trial calls go
through, further calls are short-circuited; all trials succeeding (and not slow) closes it (window and
count cleared), one failure (or slow trial) opens it again. A call admitted before the last change of
state does not count when it answers.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from simulator.engine.request import CAUSE_OPEN_BREAKER, SHORT_CIRCUITED, Reply, Request, note_failure
from simulator.language import registry

from .retry import outcome_codes

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
MAX_TRANSITIONS_KEPT = 1000


class _Call:
    __slots__ = ("breaker", "reply", "generation", "t0")

    def __init__(self, breaker: "CircuitBreaker", reply: Reply, generation: int, t0: float) -> None:
        self.breaker, self.reply, self.generation, self.t0 = breaker, reply, generation, t0

    @property
    def done(self) -> bool:  # read by an inner bulkhead: has the caller given up?
        return getattr(self.reply, "done", False) is True

    def __call__(self, outcome: int) -> None:
        breaker = self.breaker
        if self.generation == breaker.generation:
            breaker._record(outcome, breaker.env._now - self.t0)
        self.reply(outcome)


@registry.call_policies.register("circuit_breaker")
class CircuitBreaker:
    """Fail fast while the target keeps failing (or is slow): consecutive, failure- or slow-call-rate mode, half-open trials."""

    def __init__(self, cfg: Any, inner: Any, env: Any, label: str) -> None:
        self.cfg = cfg
        self.inner = inner
        self.env = env
        self.label = label  # where a refused call's cause is placed
        self.failure_on = outcome_codes(cfg.failure_on)
        self.state = CLOSED
        self.generation = 0
        self.opened_at = 0.0
        self.consecutive = 0
        self.time_window = cfg.time_window
        # Count window: one entry per call, (failed, slow); time window: (answered at, failed, slow).
        self.recent: deque = deque(maxlen=None if self.time_window else cfg.window)
        self.failures_in_window = 0
        self.slow_in_window = 0
        self.slow_s = cfg.slow_call_duration  # None: no call is slow
        self.trials_left = 0
        self.trials_ok = 0
        self.transitions: list[list] = []
        self.reset_stats()

    def reset_stats(self) -> None:
        self.calls = 0  # calls let through
        self.short_circuited = 0
        self.slow_calls = 0  # calls answered after `slow_call_duration`
        self.counts = {OPEN: 0, HALF_OPEN: 0, CLOSED: 0}  # transitions into each state
        self.transitions = []

    def _to(self, state: str) -> None:
        self.state = state
        self.generation += 1
        self.counts[state] += 1
        if len(self.transitions) < MAX_TRANSITIONS_KEPT:
            self.transitions.append([self.env._now, state])
        if state == OPEN:
            self.opened_at = self.env._now
        elif state == HALF_OPEN:
            self.trials_left = self.cfg.half_open_calls
            self.trials_ok = 0
        else:
            self.consecutive = 0
            self.recent.clear()
            self.failures_in_window = 0
            self.slow_in_window = 0

    def send(self, req: Request, reply: Reply) -> None:
        state = self.state
        if state is OPEN:
            if self.env._now < self.opened_at + self.cfg.open_for:
                self.short_circuited += 1
                note_failure(self.env, req, CAUSE_OPEN_BREAKER, self.label)
                reply(SHORT_CIRCUITED)
                return
            self._to(HALF_OPEN)
            state = HALF_OPEN
        if state is HALF_OPEN:
            if self.trials_left == 0:
                self.short_circuited += 1
                note_failure(self.env, req, CAUSE_OPEN_BREAKER, self.label)
                reply(SHORT_CIRCUITED)
                return
            self.trials_left -= 1
        self.calls += 1
        self.inner(req, _Call(self, reply, self.generation, self.env._now))

    def refusing(self) -> bool:
        """A call now would be short-circuited (read by a load balancer choosing a backend)."""
        state = self.state
        if state is OPEN:
            return self.env._now < self.opened_at + self.cfg.open_for
        return state is HALF_OPEN and self.trials_left == 0

    def _record(self, outcome: int, duration: float) -> None:
        failed = outcome in self.failure_on
        slow = self.slow_s is not None and duration > self.slow_s
        if slow:
            self.slow_calls += 1
        cfg = self.cfg
        if self.state is HALF_OPEN:
            if failed or slow:
                self._to(OPEN)
            else:
                self.trials_ok += 1
                if self.trials_ok == cfg.half_open_calls:
                    self._to(CLOSED)
            return
        if cfg.mode == "consecutive":
            self.consecutive = self.consecutive + 1 if failed else 0
            if self.consecutive >= cfg.failure_threshold:
                self._to(OPEN)
            return
        recent = self.recent
        if self.time_window:
            old = self.env._now - cfg.window  # calls answered at or before `old` have left the window
            while recent and recent[0][0] <= old:
                _, f, s = recent.popleft()
                self.failures_in_window -= f
                self.slow_in_window -= s
            recent.append((self.env._now, failed, slow))
        else:
            if len(recent) == recent.maxlen:
                f, s = recent[0]
                self.failures_in_window -= f
                self.slow_in_window -= s
            recent.append((failed, slow))
        self.failures_in_window += failed
        self.slow_in_window += slow
        n = len(recent)
        if n >= cfg.minimum_calls and (self.failures_in_window >= cfg.failure_rate * n or (
                self.slow_s is not None and self.slow_in_window >= cfg.slow_call_rate * n)):
            self._to(OPEN)

    def stats(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "calls": self.calls,
            "short_circuited": self.short_circuited,
            **({"slow_calls": self.slow_calls} if self.slow_s is not None else {}),
            "opened": self.counts[OPEN],
            "half_opened": self.counts[HALF_OPEN],
            "closed": self.counts[CLOSED],
            "transitions": [[round(t, 9), s] for t, s in self.transitions],
        }
