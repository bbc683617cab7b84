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
# wraps the reply before `send` is called); `hedge` and `bulkhead` are reserved places for
# policies not built yet, so adding them changes no other policy's position.
ORDER = ("deadline", "hedge", "retry", "circuit_breaker", "bulkhead", "timeout")


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

    __slots__ = ("link", "send", "label", "policies")

    def __init__(self, link: Any, send: Any, label: str, policies: dict[str, Any]) -> None:
        self.link = link
        self.send = send
        self.label = label
        self.policies = policies

    def __repr__(self) -> str:
        return f"<Guarded {self.label} {list(self.policies)}>"


def guard(link: Any, config: Any, label: str, system: Any) -> Any:
    """`link`, or a `Guarded` link running `config`'s policies (a `ResilienceConfig` or None).

    `label` names the call in the summary and in the random streams (`"<label>/retry/jitter"`)."""
    if config is None or not config.active():
        return link
    env = link.env
    inner: Any = _Send(link)
    built: dict[str, Any] = {}
    for key in reversed(ORDER):
        cfg = getattr(config, key, None)
        if cfg is None:
            continue
        policy = registry.call_policies.get(key)(cfg, inner, env, label)
        built[key] = policy
        inner = policy.send
    guarded = Guarded(link, inner, label, {k: built[k] for k in ORDER if k in built})
    system.guarded.append(guarded)
    return guarded


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
