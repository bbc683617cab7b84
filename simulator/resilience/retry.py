"""Retries: backoff, jitter, a retry budget (Finagle) and retry throttling (gRPC).

Retry n (n = 1 for the first retry) waits `d = min(cap, backoff(n))` before jitter:
constant `base`, linear `base * n`, exponential `base * multiplier**(n-1)`; then jitter (the AWS
Architecture Blog "Exponential Backoff And Jitter" definitions): none `d`, full `U(0, d)`, equal
`d/2 + U(0, d/2)`, decorrelated `min(cap, U(base, 3 * previous wait))` (the first previous wait is
`base`; it ignores `backoff`). Draws come from the stream `"<call>/retry/jitter"`.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from simulator.engine.request import OK, OUTCOME_NAMES, Reply, Request
from simulator.language import registry


def outcome_codes(names: list[str]) -> frozenset[int]:
    return frozenset(OUTCOME_NAMES.index(n) for n in names)


class RetryBudget:
    """Finagle's retry budget over a sliding window of `window` seconds: a retry is allowed while
    retries in the window + 1 <= ratio x requests in the window + min_per_s x window."""

    def __init__(self, cfg: Any) -> None:
        self.ratio = cfg.ratio
        self.window_s = cfg.window
        self.reserve = cfg.min_per_s * cfg.window
        self.requests: deque = deque()
        self.retries: deque = deque()

    def _expire(self, q: deque, now: float) -> None:
        old = now - self.window_s
        while q and q[0] <= old:
            q.popleft()

    def deposit(self, now: float) -> None:
        self.requests.append(now)
        self._expire(self.requests, now)

    def withdraw(self, now: float) -> bool:
        self._expire(self.requests, now)
        self._expire(self.retries, now)
        if len(self.retries) + 1 <= self.ratio * len(self.requests) + self.reserve:
            self.retries.append(now)
            return True
        return False


class RetryThrottle:
    """gRPC's retry throttling (gRFC A6), per call site: `tokens` starts at `max_tokens`; each failed
    attempt (an outcome in `retry_on`) takes 1, each ok attempt gives `token_ratio` (at most
    `max_tokens`, at least 0); a retry is sent only while tokens > max_tokens / 2."""

    __slots__ = ("max_tokens", "ratio", "threshold", "tokens")

    def __init__(self, cfg: Any) -> None:
        self.max_tokens = float(cfg.max_tokens)
        self.ratio = cfg.token_ratio
        self.threshold = self.max_tokens / 2
        self.tokens = self.max_tokens

    def succeeded(self) -> None:
        tokens = self.tokens + self.ratio
        self.tokens = tokens if tokens < self.max_tokens else self.max_tokens

    def failed(self) -> None:
        tokens = self.tokens - 1.0
        self.tokens = tokens if tokens > 0.0 else 0.0

    def allows(self) -> bool:
        return self.tokens > self.threshold


class _Attempt:
    """The reply of one attempt; a failure it may retry goes back to the policy."""

    __slots__ = ("policy", "req", "reply", "n", "wait")

    def __init__(self, policy: "Retry", req: Request, reply: Reply, n: int, wait: float) -> None:
        self.policy, self.req, self.reply, self.n, self.wait = policy, req, reply, n, wait

    def __call__(self, outcome: int) -> None:
        self.policy._answered(self, outcome)


def _gave_up(reply: Any) -> bool:
    """The caller has its answer already (its deadline expired, its fan-out is decided)."""
    return getattr(reply, "done", False) is True


@registry.call_policies.register("retry")
class Retry:
    """Send the call again after a failure, with backoff, jitter and an optional budget."""

    def __init__(self, cfg: Any, inner: Any, env: Any, label: str) -> None:
        self.cfg = cfg
        self.inner = inner
        self.env = env
        self.retry_on = outcome_codes(cfg.retry_on)
        self.max_attempts = cfg.max_attempts
        self.non_idempotent = frozenset(cfg.non_idempotent)
        self.budget = RetryBudget(cfg.budget) if cfg.budget is not None else None
        self.throttle = RetryThrottle(cfg.throttling) if cfg.throttling is not None else None
        self.rng = env.streams.get(f"{label}/retry/jitter") if cfg.jitter != "none" else None
        self.retried = None  # the recorder's retry counts per request id (its `attempts` column)
        if getattr(env, "recorder", None) is not None:
            env.recorder.track_retries = True
            self.retried = env.recorder.retried
        self.reset_stats()

    def reset_stats(self) -> None:
        self.requests = 0  # calls made by the caller (first attempts)
        self.attempts = 0  # attempts sent, first ones included
        self.retries = 0
        self.duplicates = 0  # retries of non-idempotent operations
        self.refused_by_budget = 0
        self.refused_by_throttling = 0
        self.exhausted = 0  # a retryable failure after the last attempt
        self.abandoned = 0  # retries not sent because the caller had given up
        self.outcomes = [0] * len(OUTCOME_NAMES)  # per attempt

    def send(self, req: Request, reply: Reply) -> None:
        self.requests += 1
        self.attempts += 1
        if self.budget is not None:
            self.budget.deposit(self.env._now)
        self.inner(req, _Attempt(self, req, reply, 1, self.cfg.base))

    def delay(self, n: int, previous: float) -> float:
        """The wait before retry `n` (1-based), given the previous wait (decorrelated jitter)."""
        cfg = self.cfg
        if cfg.jitter == "decorrelated":
            return min(cfg.cap, cfg.base + self.rng.random() * (3.0 * previous - cfg.base))
        if cfg.backoff == "constant":
            d = cfg.base
        elif cfg.backoff == "linear":
            d = cfg.base * n
        else:
            d = cfg.base * cfg.multiplier ** min(n - 1, 1000)
        d = min(cfg.cap, d)
        if cfg.jitter == "full":
            return self.rng.random() * d
        if cfg.jitter == "equal":
            return d / 2 + self.rng.random() * d / 2
        return d

    def _answered(self, att: _Attempt, outcome: int) -> None:
        self.outcomes[outcome] += 1
        throttle = self.throttle
        if throttle is not None:
            if outcome == OK:
                throttle.succeeded()
            elif outcome in self.retry_on:
                throttle.failed()
        if outcome == OK or outcome not in self.retry_on:
            att.reply(outcome)
            return
        if att.n >= self.max_attempts:
            self.exhausted += 1
            att.reply(outcome)
            return
        if _gave_up(att.reply):
            self.abandoned += 1
            return
        if throttle is not None and not throttle.allows():
            self.refused_by_throttling += 1
            att.reply(outcome)
            return
        if self.budget is not None and not self.budget.withdraw(self.env._now):
            self.refused_by_budget += 1
            att.reply(outcome)
            return
        wait = self.delay(att.n, att.wait)
        self.env.call_later(wait, self._again, _Attempt(self, att.req, att.reply, att.n + 1, wait))

    def _again(self, timer: Any) -> None:
        att = timer._value
        if _gave_up(att.reply):
            self.abandoned += 1
            return
        self.attempts += 1
        self.retries += 1
        rid = att.req.id
        if self.retried is not None and rid >= 0:  # -1: a component's own request (no record)
            self.retried[rid] = self.retried.get(rid, 0) + 1
        if att.req.op in self.non_idempotent:
            self.duplicates += 1
        self.inner(att.req, att)

    def stats(self) -> dict[str, Any]:
        out = {
            "requests": self.requests,
            "attempts": self.attempts,
            "retries": self.retries,
            "attempts_per_request": self.attempts / self.requests if self.requests else None,
            "exhausted": self.exhausted,
            "abandoned": self.abandoned,
            "attempt_outcomes": {n: c for n, c in zip(OUTCOME_NAMES, self.outcomes) if c},
        }
        if self.budget is not None:
            out["refused_by_budget"] = self.refused_by_budget
        if self.throttle is not None:
            out["refused_by_throttling"] = self.refused_by_throttling
            out["throttle_tokens"] = self.throttle.tokens
        if self.non_idempotent:
            out["duplicates"] = self.duplicates
        return out
