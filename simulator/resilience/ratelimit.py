"""Admission on the callee's side: a rate limiter in front of a component's `handle`.

`install(component, system)` wraps the component's `handle` (an instance attribute, set before
the network chooses each link's send path) when its config has `rate_limit:`; without one nothing
changes. A refused call is answered `rate_limited` at once, apart from queue-full rejections.
The limiter is global to the component (every caller shares it); with `replicas: N` each replica
has its own.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from simulator.engine.request import CAUSE_RATE_LIMITED, RATE_LIMITED, Reply, Request, note_failure
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import PositiveRate


class RateLimitConfig(StrictModel):
    """Admit at most `rate` calls per second on average, `burst` at once."""

    algorithm: registry.name_in(registry.rate_limiters) = Field(
        "token_bucket", description="One of the rate limiters (see the list of rate limiters).")
    rate: PositiveRate = Field(description="Calls admitted per second, in the long run.")
    burst: PositiveInt = Field(1, le=1_000_000_000, description="Bucket size: calls admitted at once after a quiet spell.")


@registry.rate_limiters.register("token_bucket")
class TokenBucket:
    """Token bucket: `burst` tokens, refilled at `rate` per second; a call takes one or is refused."""

    def __init__(self, cfg: RateLimitConfig, env: Any) -> None:
        self.env = env
        self.rate = cfg.rate
        self.burst = float(cfg.burst)
        self.tokens = float(cfg.burst)  # full at the start
        self.last = 0.0

    def admit(self) -> bool:
        now = self.env._now
        tokens = self.tokens + (now - self.last) * self.rate
        self.last = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class Limited:
    """A component's `handle` behind a rate limiter."""

    __slots__ = ("handle", "limiter", "admitted", "refused", "algorithm", "env", "name")

    def __init__(self, handle: Any, limiter: Any, algorithm: str, env: Any = None, name: str = "") -> None:
        self.handle = handle
        self.env, self.name = env, name  # for the refused request's cause (`note_failure`)
        self.limiter = limiter
        self.algorithm = algorithm
        self.admitted = 0
        self.refused = 0

    def __call__(self, req: Request, reply: Reply) -> None:
        if self.limiter.admit():
            self.admitted += 1
            self.handle(req, reply)
        else:
            self.refused += 1
            if self.env is not None:
                note_failure(self.env, req, CAUSE_RATE_LIMITED, self.name)
            reply(RATE_LIMITED)

    def stats(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "admitted": self.admitted, "rate_limited": self.refused}

    def reset_stats(self) -> None:
        self.admitted = self.refused = 0


def install(component: Any, system: Any) -> None:
    """Put the component's `rate_limit` (if any) in front of its `handle`."""
    cfg = getattr(component.config, "rate_limit", None)
    if cfg is None:
        return
    limiter = registry.rate_limiters.get(cfg.algorithm)(cfg, component.env)
    limited = Limited(component.handle, limiter, cfg.algorithm, component.env, component.name)
    component.handle = limited
    system.limited[component.name] = limited


def stats_of(system: Any) -> dict[str, Any] | None:
    return {name: lim.stats() for name, lim in system.limited.items()} or None


def reset_all(system: Any) -> None:
    for lim in system.limited.values():
        lim.reset_stats()
