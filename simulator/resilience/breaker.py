"""The circuit breaker: closed, open, half-open; one per call site and target.

Closed: every call goes through and its outcome is recorded. It opens after `failure_threshold`
failures in a row (`consecutive`), or (`rate`) when at least `minimum_calls` of the last `window`
calls are recorded and the failed share of them reaches `failure_rate`. Open: calls fail at once
with `short_circuited` (never sent). The first call at least `open_for` after opening moves it to
half-open (no timer runs meanwhile): up to `half_open_calls` trial calls go through, further calls
are short-circuited; all trials succeeding closes it (window and count cleared), one failure opens
it again. A call admitted before the last change of state does not count when it answers.
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
    __slots__ = ("breaker", "reply", "generation")

    def __init__(self, breaker: "CircuitBreaker", reply: Reply, generation: int) -> None:
        self.breaker, self.reply, self.generation = breaker, reply, generation

    def __call__(self, outcome: int) -> None:
        if self.generation == self.breaker.generation:
            self.breaker._record(outcome)
        self.reply(outcome)


@registry.call_policies.register("circuit_breaker")
class CircuitBreaker:
    """Fail fast while the target keeps failing: consecutive or failure-rate mode, half-open trials."""

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
        self.recent: deque = deque(maxlen=cfg.window)
        self.failures_in_window = 0
        self.trials_left = 0
        self.trials_ok = 0
        self.transitions: list[list] = []
        self.reset_stats()

    def reset_stats(self) -> None:
        self.calls = 0  # calls let through
        self.short_circuited = 0
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
        self.inner(req, _Call(self, reply, self.generation))

    def _record(self, outcome: int) -> None:
        failed = outcome in self.failure_on
        cfg = self.cfg
        if self.state is HALF_OPEN:
            if failed:
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
        if len(recent) == recent.maxlen:
            self.failures_in_window -= recent[0]
        recent.append(failed)
        self.failures_in_window += failed
        if len(recent) >= cfg.minimum_calls and self.failures_in_window >= cfg.failure_rate * len(recent):
            self._to(OPEN)

    def stats(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "calls": self.calls,
            "short_circuited": self.short_circuited,
            "opened": self.counts[OPEN],
            "half_opened": self.counts[HALF_OPEN],
            "closed": self.counts[CLOSED],
            "transitions": [[round(t, 9), s] for t, s in self.transitions],
        }
