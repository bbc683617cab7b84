"""Resilience policies on calls (the caller's side).

`config.py` holds the YAML keys (`resilience:` wherever a caller declares a call); `chain.py`
composes the policies once, at build time, around a link's `send`. Each policy is one class
registered in `registry.call_policies` (`retry.py`, `breaker.py`, `timeout.py`,
`fallback.py`, `bulkhead.py`, `deadline.py`, `hedge.py`). `ratelimit.py`
is admission on the callee's side (`rate_limit:` of a component), registered in `registry.rate_limiters`.
"""
from . import breaker, bulkhead, deadline, fallback, hedge, retry, timeout  # noqa: F401  (register the policies)
from .chain import connect_all, finalize_all, guard, reset_all, stats_of
from .config import ResilienceConfig
from .ratelimit import RateLimitConfig

__all__ = ["RateLimitConfig", "ResilienceConfig", "connect_all", "finalize_all", "guard", "reset_all", "stats_of"]
