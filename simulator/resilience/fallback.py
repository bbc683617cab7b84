"""Fallback (graceful degradation): when a call fails, call another target or answer `degraded`.

Outermost of the policies (after the caller's deadline): it sees the call's final outcome, after
retries, a breaker's refusal (`short_circuited`) or an attempt's timeout. An outcome in `on` is
replaced by the answer of `target` (one call over the network from the same caller, without
policies) or by `degraded` at once. Not done when the caller has already given up (counted
`abandoned`).

The cache-aside case (`cache_aside_fallback`): an application that finds its cache unreachable
reads the database itself. A call to a `cache_aside` cache (with `when_down: go_to_backing`, its
default) falls back to the cache's backing store when the call failed *because of the cache*:
it timed out or errored while the cache was down or paused or the link to it was cut. A failure
of the backing store that the cache merely passes on is not retried against the store.
"""
from __future__ import annotations

from typing import Any

from simulator.engine.request import DEGRADED, OK, OUTCOME_NAMES, Reply, Request
from simulator.language import registry

from .retry import outcome_codes


class _Answer:
    """The reply of the guarded call: a failure in `on` goes to the fallback."""

    __slots__ = ("policy", "req", "reply")

    def __init__(self, policy: "Fallback", req: Request, reply: Reply) -> None:
        self.policy, self.req, self.reply = policy, req, reply

    @property
    def done(self) -> bool:  # read by an inner retry: has the caller given up?
        return getattr(self.reply, "done", False) is True

    def __call__(self, outcome: int) -> None:
        self.policy._answered(self, outcome)


class _Counted:
    """The reply of a fallback call: counts its outcome, then answers the caller."""

    __slots__ = ("policy", "reply")

    def __init__(self, policy: "Fallback", reply: Reply) -> None:
        self.policy, self.reply = policy, reply

    @property
    def done(self) -> bool:
        return getattr(self.reply, "done", False) is True

    def __call__(self, outcome: int) -> None:
        self.policy.fallback_outcomes[outcome] += 1
        self.reply(outcome)


@registry.call_policies.register("fallback")
class Fallback:
    """On failure, call another target or answer with a degraded result."""

    def __init__(self, cfg: Any, inner: Any, env: Any, label: str) -> None:
        self.cfg = cfg
        self.inner = inner
        self.env = env
        self.label = label
        self.on = outcome_codes(cfg.on)
        self.target: str | None = cfg.target
        self.link: Any = None  # to `target`, made by `connect` once every component is connected
        self.cache: Any = None  # set for a cache-aside cache's implicit fallback (see `cache_failed`)
        self.cache_link: Any = None
        self.reset_stats()

    def reset_stats(self) -> None:
        self.calls = 0
        self.fallbacks = 0  # failures answered by the fallback
        self.abandoned = 0  # failures not handled because the caller had given up
        self.passed = 0  # failures in `on` not handled (cache-aside: the cache was not to blame)
        self.fallback_outcomes = [0] * len(OUTCOME_NAMES)

    def connect(self, src: Any, system: Any) -> None:
        if self.target is not None:
            from simulator.language.errors import ScenarioError
            try:
                dst = system.get(self.target)
            except ScenarioError as e:
                raise ScenarioError(f"{self.label}: resilience.fallback.target: {e.message}") from None
            self.link = system.network.link(src, dst)

    def send(self, req: Request, reply: Reply) -> None:
        self.calls += 1
        self.inner(req, _Answer(self, req, reply))

    def cache_failed(self) -> bool:
        """Cache-aside only: the cache (not its backing store) is why the call failed."""
        link = self.cache_link
        return self.cache.unavailable or link.cut or link.cut_back

    def _answered(self, ans: _Answer, outcome: int) -> None:
        if outcome == OK or outcome not in self.on:
            ans.reply(outcome)
            return
        if self.cache is not None and not self.cache_failed():
            self.passed += 1
            ans.reply(outcome)
            return
        if ans.done:
            self.abandoned += 1
            return
        self.fallbacks += 1
        if self.link is None:
            self.fallback_outcomes[DEGRADED] += 1
            ans.reply(DEGRADED)
        else:
            self.link.send(ans.req, _Counted(self, ans.reply))

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"calls": self.calls, "fallbacks": self.fallbacks, "abandoned": self.abandoned}
        if self.target is not None:
            out["target"] = self.target
        if self.cache is not None:
            out["cache_aside"] = True
            out["not_the_cache"] = self.passed
        out["fallback_outcomes"] = {n: c for n, c in zip(OUTCOME_NAMES, self.fallback_outcomes) if c}
        return out
