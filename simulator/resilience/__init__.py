"""Resilience policies on calls (the caller's side).

`config.py` holds the YAML keys (`resilience:` wherever a caller declares a call); `chain.py`
composes the policies once, at build time, around a link's `send`. Each policy is one class
registered in `registry.call_policies` (`retry.py`, `breaker.py`, `timeout.py`).
"""
from . import breaker, retry, timeout  # noqa: F401  (register the policies)
from .chain import guard, reset_all, stats_of
from .config import ResilienceConfig

__all__ = ["ResilienceConfig", "guard", "reset_all", "stats_of"]
