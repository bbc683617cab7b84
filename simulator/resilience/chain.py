"""Composing a call's policies once, at build time, around a link's `send`.

`guard(link, config, label, system)` returns the link itself when there are no policies (the
caller calls `link.send` exactly as before: zero cost), or a `Guarded` stand-in whose `send` runs
the policies in `ORDER`, outermost first. Each policy is a class registered in
`registry.call_policies` under its YAML key, built as `cls(config, inner, env, label)` where
`inner(req, reply)` is the next layer; it exposes `send(req, reply)`, `stats()` and `reset_stats()`.
"""
from __future__ import annotations

from typing import Any

from simulator.engine.request import Reply, Request
from simulator.language import registry

# Outermost first. The caller's deadline is the existing `timeout` of a workload or call step (it
# wraps the reply before `send` is called); `fallback` sees the final outcome after every inner
# policy (as Hystrix's and Resilience4j's fallbacks do); `hedge` sends whole retried calls as
# its attempts (each extra attempt has its own retries, breaker verdict and bulkhead slot).
ORDER = ("deadline", "fallback", "hedge", "retry", "circuit_breaker", "bulkhead", "timeout")


class _Send:
    """The innermost layer. It reads `link.send` on every call because the network chooses each
    link's send path (direct or general) after every component is connected."""

    __slots__ = ("link",)

    def __init__(self, link: Any) -> None:
        self.link = link

    def __call__(self, req: Request, reply: Reply) -> None:
        self.link.send(req, reply)


class Guarded:
    """Stands in for a link in a caller's list: the same `send(req, reply)`, through the policies."""

    __slots__ = ("link", "send", "label", "policies", "implicit", "sink_if_bare")

    def __init__(self, link: Any, send: Any, label: str, policies: dict[str, Any], implicit: bool = False) -> None:
        self.link = link
        self.send = send
        self.label = label
        self.policies = policies
        # Only the cache-aside fallback, which the caller did not write: dropped (`finalize_all`)
        # when no fault can make the cache unreachable.
        self.implicit = implicit
        self.sink_if_bare = False  # set by an open-loop workload: see `Link.sink`

    def __repr__(self) -> str:
        return f"<Guarded {self.label} {list(self.policies)}>"


def guard(link: Any, config: Any, label: str, system: Any) -> Any:
    """`link`, or a `Guarded` link running `config`'s policies (a `ResilienceConfig` or None).

    `label` names the call in the summary and in the random streams (`"<label>/retry/jitter"`)."""
    active = config is not None and config.active()
    cache = _cache_aside(link)
    if not active and cache is None:
        return link
    env = link.env
    inner: Any = _Send(link)
    built: dict[str, Any] = {}
    for key in reversed(ORDER):
        cfg = getattr(config, key, None) if active else None
        if cfg is None:
            continue
        policy = registry.call_policies.get(key)(cfg, inner, env, label)
        built[key] = policy
        inner = policy.send
    if cache is not None and "fallback" not in built:  # outermost: "fallback" is first after "deadline"
        policy = _cache_fallback(cache, link, inner, env, label)
        built["fallback"] = policy
        inner = policy.send
    guarded = Guarded(link, inner, label, {k: built[k] for k in ORDER if k in built}, implicit=not active)
    system.guarded.append(guarded)
    return guarded


def _cache_aside(link: Any) -> Any:
    """The cache at the end of `link` if it is a cache-aside cache whose callers go to its backing
    store when it is down (`when_down: go_to_backing`), else None."""
    dst = link.dst
    cfg = getattr(dst, "config", None)
    if getattr(cfg, "goes_to_backing_when_down", False) is True:
        return dst
    return None


def _cache_fallback(cache: Any, link: Any, inner: Any, env: Any, label: str) -> Any:
    from .config import FallbackConfig
    cfg = FallbackConfig(on=["timed_out", "error"], target=cache.config.backing)
    policy = registry.call_policies.get("fallback")(cfg, inner, env, label)
    policy.cache, policy.cache_link = cache, link
    return policy


def connect_all(system: Any) -> None:
    """Make the fallbacks' links, once every component is connected and the faults are prepared
    (so no existing link's random streams are renamed, and an unneeded cache-aside fallback makes
    no link). An implicit cache-aside fallback whose cache no fault can crash or pause and whose
    link no fault can touch is dropped here."""
    kept = []
    for g in system.guarded:
        fb = g.policies.get("fallback")
        if g.implicit and not (fb.cache.may_be_unavailable or g.link.faultable):
            g.send = None  # set to the link's own send by `finalize_all`
            g.link.sink = g.sink_if_bare  # before the network chooses the link's send path
            continue
        if fb is not None:
            fb.connect(g.link.src, system)
        kept.append(g)
    system.dropped_guards = [g for g in system.guarded if g.send is None]
    system.guarded = kept


def finalize_all(system: Any) -> None:
    """After the network chose each link's send path: a dropped guard is the bare link again."""
    for g in system.dropped_guards:
        g.send = g.link.send


def stats_of(system: Any) -> dict[str, Any] | None:
    """Per guarded call, each policy's figures; None when no call has a policy."""
    out: dict[str, Any] = {}
    for g in system.guarded:
        label, n = g.label, 2
        while label in out:  # two call sites with the same caller and target
            label, n = f"{g.label} #{n}", n + 1
        out[label] = {k: p.stats() for k, p in g.policies.items()}
    return out or None


def reset_all(system: Any) -> None:
    """Forget what was counted during the warm-up (policy state, such as an open breaker, is kept)."""
    for g in system.guarded:
        for p in g.policies.values():
            p.reset_stats()
