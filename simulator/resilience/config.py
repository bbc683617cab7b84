"""The `resilience:` block: policies a caller puts around one call (per attempt timeout, hedge,
retry, circuit breaker, bulkhead, fallback). Accepted wherever a caller declares a call: a workload, a server's call step,
a load balancer (applied to each backend).

The policies are composed in one fixed order whatever the order of the keys (see `chain.ORDER`):
the caller's deadline (the existing `timeout` of the workload or step) outside, then fallback, then hedge, then retry, then
circuit breaker, then bulkhead, then the per-attempt timeout, then the network send.
"""
from __future__ import annotations

from typing import Literal

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, NonNegativeInt, PlainSerializer, PositiveFloat, PositiveInt, model_validator

from simulator.language.config import StrictModel
from simulator.language.units import Duration, Fraction, PositiveDuration, PositiveRate, Quantity, fmt_duration, parse_duration

Outcome = Literal["timed_out", "error", "rejected", "rate_limited", "shed"]


class RetryBudgetConfig(StrictModel):
    """Finagle-style retry budget: retries allowed = ratio x requests + min_per_s x window, over
    the last `window` of time."""

    ratio: Fraction = Field(0.2, description="Retries allowed per request sent (20% = one retry per 5 requests).")
    min_per_s: PositiveRate = Field(10.0, description="Retries always allowed per second, whatever the traffic.")
    window: PositiveDuration = Field(10.0, description="How far back requests and retries are counted.")


class RetryThrottlingConfig(StrictModel):
    """gRPC's retry throttling: a token count that failures drain and successes refill; retries
    are sent only while it is above half of `max_tokens`."""

    max_tokens: PositiveInt = Field(
        10, le=1000, description="Tokens at the start and at most; retries stop at or below half of it.")
    token_ratio: PositiveFloat = Field(
        0.1, le=1000, description="Tokens a successful attempt gives back (a failed attempt takes 1).")


class RetryConfig(StrictModel):
    """Send the call again after a failure, up to `max_attempts` in all, with backoff and jitter."""

    max_attempts: PositiveInt = Field(3, le=100, description="Attempts in all, the first included (1 = no retry).")
    retry_on: list[Outcome] = Field(
        default_factory=lambda: ["timed_out", "error"],
        description="Outcomes retried: timed_out, error, rejected (queue full), rate_limited, shed.")
    backoff: Literal["constant", "linear", "exponential"] = Field(
        "exponential", description="Wait before retry n: base (constant), base x n (linear), base x multiplier^(n-1).")
    base: Duration = Field(0.01, description="Backoff base (the first retry's wait before jitter).")
    multiplier: PositiveFloat = Field(2.0, le=1000, description="Growth per retry of exponential backoff.")
    cap: PositiveDuration = Field(10.0, description="Longest wait before a retry (after backoff, before and after jitter).")
    jitter: Literal["none", "full", "equal", "decorrelated"] = Field(
        "none", description="Randomisation of the wait (AWS Architecture Blog definitions; see docs/resilience.md).")
    budget: RetryBudgetConfig | None = Field(None, description="Limit retries to a share of requests (Finagle).")
    throttling: RetryThrottlingConfig | None = Field(
        None, description="Stop retrying while failures outweigh successes (gRPC's token-based retry throttling).")
    non_idempotent: list[str] = Field(
        default_factory=list, description="Operations whose retries are counted as duplicates (may run twice).")

    @model_validator(mode="after")
    def _cap(self) -> "RetryConfig":
        if self.cap < self.base:
            raise ValueError(f"'cap' ({self.cap:g}s) must be at least 'base' ({self.base:g}s)")
        return self


def _breaker_window(value: Any) -> Any:
    """`window:` is a count of calls (`20`) or a duration (`10s`: a time-based window)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a count of calls (20) or a duration (10s); got {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= 1_000_000:
            raise ValueError(f"a count window must be between 1 and 1000000 calls; got {value}")
        return value
    seconds = parse_duration(value)
    if not seconds > 0.0:
        raise ValueError(f"a time window must be a positive duration; got {value!r}")
    return float(seconds)


def _show_window(value: Any) -> Any:
    return value if isinstance(value, int) else fmt_duration(value)


BreakerWindow = Annotated[Any, BeforeValidator(_breaker_window), PlainSerializer(_show_window),
                          Quantity("positive duration or count of calls")]


class CircuitBreakerConfig(StrictModel):
    """Stop calling a failing (or slow) target for a while; per target (each link has its own breaker)."""

    mode: Literal["consecutive", "rate"] = Field(
        "consecutive", description="Open after `failure_threshold` failures in a row, or when the failure rate "
        "(or the slow-call rate) over the sliding `window` reaches `failure_rate` (`slow_call_rate`).")
    failure_threshold: PositiveInt = Field(5, le=1_000_000, description="consecutive: failures in a row that open it.")
    failure_rate: Fraction = Field(0.5, description="rate: share of failed calls in the window that opens it.")
    window: BreakerWindow = Field(
        20, description="rate: the sliding window: a count of the last calls (20) or a duration (10s: the calls "
        "answered in the last 10 s).")
    minimum_calls: PositiveInt = Field(
        10, le=1_000_000, description="rate: calls recorded in the window before the rates are judged "
        "(at most a count `window`).")
    slow_call_duration: PositiveDuration | None = Field(
        None, description="rate: a call answered after longer than this is slow (whatever its outcome).")
    slow_call_rate: Fraction = Field(
        1.0, description="rate: share of slow calls in the window that opens it (with `slow_call_duration`).")
    open_for: PositiveDuration = Field(5.0, description="How long it stays open before trial calls are let through.")
    half_open_calls: PositiveInt = Field(
        1, le=1_000_000, description="Trial calls in half-open; all must succeed (and not be slow) to close, "
        "one failure (or slow call) reopens.")
    failure_on: list[Outcome] = Field(
        default_factory=lambda: ["timed_out", "error"], description="Outcomes counted as failures.")

    @property
    def time_window(self) -> bool:
        """The window is a duration (seconds), not a count of calls."""
        return isinstance(self.window, float)

    @model_validator(mode="after")
    def _window(self) -> "CircuitBreakerConfig":
        if self.mode == "rate":
            if not self.time_window and self.minimum_calls > self.window:
                raise ValueError(f"'minimum_calls' ({self.minimum_calls}) must be at most 'window' ({self.window})")
            if self.failure_rate <= 0:
                raise ValueError("'failure_rate' must be above 0%")
            if self.slow_call_duration is not None and self.slow_call_rate <= 0:
                raise ValueError("'slow_call_rate' must be above 0%")
        elif self.slow_call_duration is not None:
            raise ValueError("'slow_call_duration' needs 'mode: rate' (slow calls are judged by their rate)")
        return self


class BulkheadConfig(StrictModel):
    """At most `max_concurrent` calls in flight to the target; others wait (bounded) or are rejected."""

    max_concurrent: PositiveInt = Field(le=1_000_000, description="Calls in flight at once through this call site to this target.")
    queue: NonNegativeInt = Field(
        0, le=1_000_000_000, description="Calls that may wait for a slot (FIFO); beyond, a call is rejected at once.")
    max_wait: PositiveDuration | None = Field(
        None, description="Longest wait for a slot, then the call is rejected; unset: as long as it takes.")

    @model_validator(mode="after")
    def _wait(self) -> "BulkheadConfig":
        if self.max_wait is not None and self.queue == 0:
            raise ValueError("'max_wait' needs a 'queue' (with queue: 0 no call ever waits)")
        return self


_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")


def _hedge_delay(value: Any) -> Any:
    """`after:` is a positive duration (`50ms`) or an observed latency percentile (`p95`, `p99.9`)."""
    if isinstance(value, str) and value.strip().lower().startswith("p"):
        m = _PERCENTILE.fullmatch(value.strip().lower())
        if m is None:
            raise ValueError(f"expected a percentile such as p95 or p99.9, or a duration such as 50ms; got {value!r}")
        q = float(m.group(1))
        if not 0.0 < q < 100.0:
            raise ValueError(f"a percentile must be above p0 and below p100; got {value!r}")
        return value.strip().lower()
    seconds = parse_duration(value)
    if not seconds > 0.0:
        raise ValueError(f"a hedge delay must be a positive duration (or a percentile such as p95); got {value!r}")
    return seconds


def _show_delay(value: Any) -> str:
    return value if isinstance(value, str) else fmt_duration(value)


HedgeDelay = Annotated[Any, BeforeValidator(_hedge_delay), PlainSerializer(_show_delay, return_type=str),
                       Quantity("positive duration or percentile (pNN)")]


class HedgeConfig(StrictModel):
    """Send another attempt if no answer came after a fixed delay or an observed latency percentile."""

    after: HedgeDelay = Field(
        description="Delay before each extra attempt: a duration (50ms) or a percentile of this call "
        "site's observed response times (p95; no hedge during the warm-up, see `min_samples`).")
    max_extra: PositiveInt = Field(1, le=10, description="Extra attempts at most (1 = one hedge).")
    cancel_losers: bool = Field(
        True, description="When one attempt succeeds, cancel the others: one still queued at the target is "
        "never served; one in service finishes (its work counts as wasted).")
    min_samples: PositiveInt = Field(
        100, le=1_000_000, description="after: pNN: successful calls observed before the first hedge (warm-up).")

    @property
    def percentile(self) -> float | None:
        """The percentile of `after` (95.0 for p95), or None for a fixed delay."""
        return float(self.after[1:]) if isinstance(self.after, str) else None


FallbackOutcome = Literal["timed_out", "error", "rejected", "rate_limited", "short_circuited", "shed"]


class FallbackConfig(StrictModel):
    """Graceful degradation: when the call fails, call another target or answer `degraded`."""

    on: list[FallbackOutcome] = Field(
        default_factory=lambda: ["timed_out", "error", "rejected", "rate_limited", "short_circuited"],
        description="Outcomes that fall back: timed_out, error, rejected, rate_limited, short_circuited (shed may be added).")
    target: str | None = Field(
        None, description="Component called instead (one call, no policies); its answer is the call's answer.")
    degraded: bool = Field(
        False, description="Answer at once with the outcome `degraded` (a default or stale answer) instead.")

    @model_validator(mode="after")
    def _one(self) -> "FallbackConfig":
        if (self.target is None) == (not self.degraded):
            raise ValueError("a fallback needs exactly one of 'target' (a component to call instead) "
                             "or 'degraded: true' (answer with a degraded result)")
        if not self.on:
            raise ValueError("'on' needs at least one outcome (a fallback that never runs is a mistake)")
        return self


class ResilienceConfig(StrictModel):
    """Policies around one call, composed in a fixed order: fallback, hedge, retry, circuit_breaker, bulkhead, timeout, send."""

    propagate_deadline: bool = Field(
        False, description="Send the caller's deadline (its `timeout`) with the call: components below can tell "
        "when it gave up (wasted work; `abandoned_requests: drop`).")
    timeout: PositiveDuration | None = Field(None, description="Per attempt: give up on one attempt after this long.")
    hedge: HedgeConfig | None = Field(
        None, description="Send extra attempts after a delay or a latency percentile; the first ok answer wins.")
    retry: RetryConfig | None = Field(None, description="Retries with backoff, jitter and an optional budget.")
    circuit_breaker: CircuitBreakerConfig | None = Field(None, description="Fail fast while the target keeps failing.")
    bulkhead: BulkheadConfig | None = Field(
        None, description="At most N calls in flight to the target, an optional bounded wait; refusals are `rejected`.")
    fallback: FallbackConfig | None = Field(
        None, description="On failure, call another target or answer `degraded` (graceful degradation).")

    @property
    def deadline(self) -> bool | None:
        """The chain's "deadline" place (`chain.ORDER`): propagating it, or nothing."""
        return True if self.propagate_deadline else None

    def active(self) -> bool:
        return any(getattr(self, k) not in (None, False) for k in type(self).model_fields)
