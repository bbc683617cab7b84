"""Admission on the callee's side: a rate limiter in front of a component's `handle`.

`install(component, system)` wraps the component's `handle` (an instance attribute, set before
the network chooses each link's send path) when its config has `rate_limit:`; without one nothing
changes. A refused call is answered `rate_limited` at once, apart from queue-full rejections.

Five algorithms, each one registered class built as `cls(config, env)` with `admit() -> bool`
(formulas in docs/resilience.md): `token_bucket` and `leaky_bucket` (as a meter) take `rate` and
`burst`; `fixed_window`, `sliding_log` and `sliding_window` take `limit` calls per `window`.

`per:` chooses the scope: one limiter for the component (`global`, the default), or one per client
(the workload a request comes from), per user or per key (the request's attributes), made on a
key's first call and kept in a table of at most `max_keys` entries: the least recently used key is
forgotten when a new one comes (it starts afresh if it comes back), so memory is bounded.
With `replicas: N` each replica has its own limiter(s).
"""
from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import Any, Callable, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator.engine.request import CAUSE_RATE_LIMITED, RATE_LIMITED, Reply, Request, note_failure
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import PositiveDuration, PositiveRate

BUCKET_KEYS = ("rate", "burst")
WINDOW_KEYS = ("limit", "window")


class RateLimitConfig(StrictModel):
    """Admit calls up to a rate (buckets: `rate`, `burst`) or a count per window (`limit`, `window`)."""

    algorithm: registry.name_in(registry.rate_limiters) = Field(
        "token_bucket", description="One of the rate limiters (see the list of rate limiters).")
    rate: PositiveRate | None = Field(
        None, description="token_bucket, leaky_bucket: calls admitted per second in the long run (the leak rate).")
    burst: PositiveInt = Field(
        1, le=1_000_000_000, description="token_bucket, leaky_bucket: calls admitted at once after a quiet spell "
        "(the bucket's capacity).")
    limit: PositiveInt | None = Field(
        None, le=1_000_000_000, description="fixed_window, sliding_log, sliding_window: calls admitted per `window`.")
    window: PositiveDuration = Field(1.0, description="fixed_window, sliding_log, sliding_window: the window's length.")
    per: Literal["global", "client", "user", "key"] = Field(
        "global", description="One limiter for the component, or one per client (workload), per user or per key "
        "(the request's attributes).")
    max_keys: PositiveInt = Field(
        10_000, le=10_000_000, description="per client/user/key: limiters kept at most; the least recently used is "
        "forgotten (bounded memory).")

    @model_validator(mode="after")
    def _keys_of_the_algorithm(self) -> "RateLimitConfig":
        cls = registry.rate_limiters.get(self.algorithm)
        uses, other = (BUCKET_KEYS, WINDOW_KEYS) if cls.uses == "bucket" else (WINDOW_KEYS, BUCKET_KEYS)
        required = uses[0]
        if getattr(self, required) is None:
            raise ValueError(f"'{required}' is required by algorithm '{self.algorithm}' "
                             f"(it takes {' and '.join(repr(k) for k in uses)})")
        # a key of the other kind is refused when it differs from its default (a config written back
        # with every key, as `--set` and `compare` do, still loads)
        fields = type(self).model_fields
        stray = [k for k in other if getattr(self, k) != fields[k].default]
        if stray:
            raise ValueError(f"'{stray[0]}' does not apply to algorithm '{self.algorithm}' "
                             f"(it takes {' and '.join(repr(k) for k in uses)})")
        if self.max_keys != fields["max_keys"].default and self.per == "global":
            raise ValueError("'max_keys' applies only with 'per: client', 'user' or 'key'")
        return self


@registry.rate_limiters.register("token_bucket")
class TokenBucket:
    """Token bucket: `burst` tokens, refilled at `rate` per second; a call takes one or is refused."""

    uses = "bucket"

    def __init__(self, cfg: RateLimitConfig, env: Any) -> None:
        self.env = env
        self.rate = cfg.rate
        self.burst = float(cfg.burst)
        self.tokens = float(cfg.burst)  # full at the start
        self.last = env._now

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


@registry.rate_limiters.register("leaky_bucket")
class LeakyBucket:
    """Leaky bucket as a meter: each call pours 1 in a bucket of `burst` that leaks `rate` per second;
    a call that would overflow it is refused."""

    uses = "bucket"

    def __init__(self, cfg: RateLimitConfig, env: Any) -> None:
        self.env = env
        self.rate = cfg.rate
        self.capacity = float(cfg.burst)
        self.level = 0.0  # empty at the start
        self.last = env._now

    def admit(self) -> bool:
        now = self.env._now
        level = self.level - (now - self.last) * self.rate
        self.last = now
        if level < 0.0:
            level = 0.0
        if level + 1.0 <= self.capacity:
            self.level = level + 1.0
            return True
        self.level = level
        return False


@registry.rate_limiters.register("fixed_window")
class FixedWindow:
    """Fixed window: at most `limit` calls in each window [k w, (k+1) w) counted from time 0."""

    uses = "window"

    def __init__(self, cfg: RateLimitConfig, env: Any) -> None:
        self.env = env
        self.limit = cfg.limit
        self.window = cfg.window
        self.current = -1  # index of the window being counted
        self.count = 0

    def admit(self) -> bool:
        k = math.floor(self.env._now / self.window)
        if k != self.current:
            self.current, self.count = k, 0
        if self.count < self.limit:
            self.count += 1
            return True
        return False


@registry.rate_limiters.register("sliding_log")
class SlidingLog:
    """Sliding window log: the times of the calls admitted in the last `window`; a call is admitted
    while fewer than `limit` were admitted in (now - window, now]. Keeps up to `limit` times."""

    uses = "window"

    def __init__(self, cfg: RateLimitConfig, env: Any) -> None:
        self.env = env
        self.limit = cfg.limit
        self.window = cfg.window
        self.log: deque = deque()

    def admit(self) -> bool:
        now = self.env._now
        log = self.log
        start = now - self.window
        while log and log[0] <= start:
            log.popleft()
        if len(log) < self.limit:
            log.append(now)
            return True
        return False


@registry.rate_limiters.register("sliding_window")
class SlidingWindowCounter:
    """Sliding window counter: counts of the current and the previous fixed window; the previous one
    weighted by the share of it still inside the sliding window (it assumes its calls were spread
    evenly). A call is admitted while previous x (1 - elapsed / window) + current + 1 <= limit."""

    uses = "window"

    def __init__(self, cfg: RateLimitConfig, env: Any) -> None:
        self.env = env
        self.limit = cfg.limit
        self.window = cfg.window
        self.current = 0  # index of the current fixed window
        self.count = 0
        self.previous = 0  # calls admitted in window `current - 1`

    def admit(self) -> bool:
        now = self.env._now
        w = self.window
        k = math.floor(now / w)
        if k != self.current:
            self.previous = self.count if k == self.current + 1 else 0
            self.current, self.count = k, 0
        estimate = self.previous * (1.0 - (now - k * w) / w) + self.count
        if estimate + 1.0 <= self.limit:
            self.count += 1
            return True
        return False


# The request attribute each scope keys on: the client (workload index), the user id, the key.
_SCOPE: dict[str, Callable[[Request], Any]] = {
    "client": lambda req: req.wl,
    "user": lambda req: req.user,
    "key": lambda req: req.key,
}


class PerKey:
    """One limiter per value of a request attribute, at most `max_keys` of them (least recently
    used forgotten). Requests without the attribute (None) share one limiter."""

    def __init__(self, cfg: RateLimitConfig, env: Any, make: Callable[[], Any]) -> None:
        self.key_of = _SCOPE[cfg.per]
        self.make = make
        self.max_keys = cfg.max_keys
        self.table: OrderedDict = OrderedDict()
        self.evicted = 0

    def admit(self, req: Request) -> bool:
        key = self.key_of(req)
        table = self.table
        lim = table.get(key)
        if lim is None:
            if len(table) >= self.max_keys:
                table.popitem(last=False)
                self.evicted += 1
            lim = table[key] = self.make()
        else:
            table.move_to_end(key)
        return lim.admit()


class Limited:
    """A component's `handle` behind a rate limiter."""

    __slots__ = ("handle", "limiter", "admit", "admitted", "refused", "algorithm", "per", "env", "name")

    def __init__(self, handle: Any, limiter: Any, algorithm: str, per: str, env: Any = None, name: str = "") -> None:
        self.handle = handle
        self.env, self.name = env, name  # for the refused request's cause (`note_failure`)
        self.limiter = limiter
        self.algorithm = algorithm
        self.per = per
        # Chosen once: the global limiter ignores the request, a per-key one reads it.
        self.admit = limiter.admit if per != "global" else (lambda _req, admit=limiter.admit: admit())
        self.admitted = 0
        self.refused = 0

    def __call__(self, req: Request, reply: Reply) -> None:
        if self.admit(req):
            self.admitted += 1
            self.handle(req, reply)
        else:
            self.refused += 1
            if self.env is not None:
                note_failure(self.env, req, CAUSE_RATE_LIMITED, self.name)
            reply(RATE_LIMITED)

    def stats(self) -> dict[str, Any]:
        out = {"algorithm": self.algorithm, "admitted": self.admitted, "rate_limited": self.refused}
        if self.per != "global":  # only then: runs with a global limiter keep the figures they had
            out.update(per=self.per, keys_tracked=len(self.limiter.table), keys_forgotten=self.limiter.evicted)
        return out

    def reset_stats(self) -> None:
        self.admitted = self.refused = 0


def make_limiter(cfg: RateLimitConfig, env: Any) -> Any:
    """The limiter of `cfg`: one algorithm instance, or a per-key table of them."""
    cls = registry.rate_limiters.get(cfg.algorithm)
    if cfg.per == "global":
        return cls(cfg, env)
    return PerKey(cfg, env, lambda: cls(cfg, env))


def install(component: Any, system: Any) -> None:
    """Put the component's `rate_limit` (if any) in front of its `handle`."""
    cfg = getattr(component.config, "rate_limit", None)
    if cfg is None:
        return
    limited = Limited(component.handle, make_limiter(cfg, component.env), cfg.algorithm, cfg.per, component.env,
                      component.name)
    component.handle = limited
    system.limited[component.name] = limited


def stats_of(system: Any) -> dict[str, Any] | None:
    return {name: lim.stats() for name, lim in system.limited.items()} or None


def reset_all(system: Any) -> None:
    for lim in system.limited.values():
        lim.reset_stats()
