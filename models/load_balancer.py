"""A load balancer: forwards each request to one backend chosen by a pluggable algorithm."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveFloat, field_validator

from simulator.language import registry
from simulator.engine.request import ERROR, OK, Reply, Request
from simulator.language.units import Duration
from simulator.resilience import RateLimitConfig, ResilienceConfig, guard

from .base import Component, ComponentConfig
from . import lb_algorithms  # noqa: F401  (registers the algorithms)


class LoadBalancerConfig(ComponentConfig):
    type: Literal["load_balancer"] = "load_balancer"
    algorithm: registry.name_in(registry.lb_algorithms) = Field("round_robin", description="One of `dsim list` load-balancing algorithms.")
    backends: list[str] = Field(min_length=1, description="Components the traffic is spread over.")
    weights: list[PositiveFloat] | None = Field(
        None, description="Per-backend weights (weighted_round_robin, least_connections)."
    )
    health_check: Duration | None = Field(
        None, description="Detect crashed backends after this delay and stop sending to them."
    )

    rate_limit: RateLimitConfig | None = Field(
        None, description="Admission: refuse calls beyond this rate as `rate_limited` (token bucket).")
    resilience: ResilienceConfig | None = Field(
        None, description="Policies on the calls to the backends: per backend the per-attempt timeout, "
        "bulkhead and circuit breaker (a backend whose breaker refuses calls is skipped); around the choice "
        "of backend the retry and hedge (each attempt goes to a backend this call has not tried yet, if any).")

    @field_validator("weights")
    @classmethod
    def _weights(cls, v, info):
        backends = info.data.get("backends")
        if v is not None and backends is not None and len(v) != len(backends):
            raise ValueError(f"needs one weight per backend ({len(backends)}), got {len(v)}")
        return v

    def refs(self):
        return [(("backends", i), b) for i, b in enumerate(self.backends)]


_new = object.__new__

# Policies that go around the choice of a backend (each attempt chooses again); the others
# (circuit_breaker, bulkhead, timeout) are per backend.
AROUND_CHOICE = ("deadline", "fallback", "hedge", "retry")


class _Pending:
    __slots__ = ("lb", "i", "reply", "t0")

    def __init__(self, lb: "LoadBalancer", i: int, reply: Reply, t0: float) -> None:
        self.lb, self.i, self.reply, self.t0 = lb, i, reply, t0

    def __call__(self, outcome: int) -> None:
        lb = self.lb
        lb.outstanding[self.i] -= 1
        lb.answered += 1
        if lb._observe:
            lb.algo.observe(self.i, lb.env._now - self.t0)
        if outcome == OK:
            lb.ok[self.i] += 1
        self.reply(outcome)


class _Routed:
    """One call through a load balancer with policies: the backends its attempts were sent to."""

    __slots__ = ("reply", "tried")

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.tried: list[int] = []

    @property
    def done(self) -> bool:
        return getattr(self.reply, "done", False) is True

    def __call__(self, outcome: int) -> None:
        self.reply(outcome)


class _Router:
    """Stands in for a link under the policies that go around the choice of backend: `send` chooses
    a backend for each attempt (see `LoadBalancer._choose`) and sends on its (guarded) link."""

    __slots__ = ("lb", "env", "src", "dst", "faultable")

    def __init__(self, lb: "LoadBalancer") -> None:
        self.lb, self.env, self.src, self.dst, self.faultable = lb, lb.env, lb, lb, False

    def send(self, req: Request, reply: Reply) -> None:
        call = reply
        while type(call) is not _Routed:  # up the policies' per-attempt replies to this call
            call = call.reply
        lb = self.lb
        i = lb._choose(req, call.tried)
        call.tried.append(i)
        lb.outstanding[i] += 1
        lb.sent[i] += 1
        lb.links[i].send(req, _Pending(lb, i, reply, lb.env._now))


@registry.components.register("load_balancer")
class LoadBalancer(Component):
    """Forwards each request to one backend chosen by the algorithm (round robin, least connections…)."""

    Config = LoadBalancerConfig

    def __init__(self, env: Any, name: str, config: LoadBalancerConfig) -> None:
        super().__init__(env, name, config)
        n = len(config.backends)
        cls = registry.lb_algorithms.get(config.algorithm)
        self.algo = cls(n, env.streams.get(f"{name}/algorithm"), list(config.weights) if config.weights else None)
        self._observe = type(self.algo).observe is not lb_algorithms.Algorithm.observe
        self.outstanding = [0] * n
        self.sent = [0] * n
        self.ok = [0] * n
        self.healthy = list(range(n))
        self.links: list = []
        self.backends: list = []
        self.failed = 0
        self.answered = 0
        res = config.resilience
        self.routed = res is not None and any(getattr(res, k) is not None for k in ("retry", "hedge", "circuit_breaker"))
        if self.routed:
            # Set here, before a rate limiter wraps `handle` (`System`): the calls go round `around`.
            self.handle = self._handle_routed  # type: ignore[method-assign]

    def connect(self, system: Any) -> None:
        self.backends = [system.get(b) for b in self.config.backends]
        self.links = [system.network.link(self, b) for b in self.backends]
        # Resilience hook: each backend's calls go through the policies (chosen once, here).
        res = self.config.resilience
        routed = self.routed
        per_backend = res
        if routed:  # retries and hedges choose again; open breakers are skipped
            per_backend = res.model_copy(update={k: None for k in AROUND_CHOICE if k != "deadline"}
                                         | {"propagate_deadline": False})
        self.links = [guard(link, per_backend, f"{self.name}->{b.name}", system)
                      for link, b in zip(self.links, self.backends)]
        if routed:
            around = res.model_copy(update={"timeout": None, "bulkhead": None, "circuit_breaker": None})
            self.around = guard(_Router(self), around, f"{self.name}->*", system)
            self.breakers = [getattr(link, "policies", {}).get("circuit_breaker") for link in self.links]
            self.rerouted = 0  # attempts sent to a backend the call had not tried, after a failed one
            self.skipped_open = 0  # choices that left out a backend whose breaker refused calls
        if self.config.health_check is not None:
            for b in self.backends:
                b.watchers.append(self)

    def component_changed(self, backend: Any) -> None:
        i = self.backends.index(backend)
        self.env.call_later(self.config.health_check, self._apply_health, (i, backend.unavailable))

    def _apply_health(self, timer: Any) -> None:
        i, down = timer._value
        if down and i in self.healthy and len(self.healthy) > 1:
            self.healthy.remove(i)
        elif not down and i not in self.healthy:
            self.healthy.append(i)
            self.healthy.sort()

    def handle(self, req: Request, reply: Reply) -> None:
        i = self.algo.choose(req, self)
        self.outstanding[i] += 1
        self.sent[i] += 1
        p = _new(_Pending)  # _Pending(self, i, reply, now), without an __init__ frame: once per request
        p.lb = self
        p.i = i
        p.reply = reply
        p.t0 = self.env._now
        self.links[i].send(req, p)

    def _handle_routed(self, req: Request, reply: Reply) -> None:
        self.around.send(req, _Routed(reply))

    def _choose(self, req: Request, tried: list[int]) -> int:
        """The algorithm's choice among the healthy backends this call has not tried and whose breaker
        would let a call through; failing that, among those whose breaker would; failing that, any."""
        healthy = self.healthy
        breakers = self.breakers
        usable = [i for i in healthy if breakers[i] is None or not breakers[i].refusing()]
        if len(usable) < len(healthy):
            self.skipped_open += 1
        fresh = [i for i in usable if i not in tried]
        candidates = fresh or usable or healthy
        if tried and fresh:
            self.rerouted += 1
        if candidates is healthy or len(candidates) == len(healthy):
            return self.algo.choose(req, self)
        self.healthy = candidates  # the algorithms read `lb.healthy`
        try:
            return self.algo.choose(req, self)
        finally:
            self.healthy = healthy

    def reset_stats(self) -> None:
        if self.routed:
            self.rerouted = self.skipped_open = 0
        self.sent = [0] * len(self.sent)
        self.ok = [0] * len(self.ok)
        self.failed = 0
        self.answered = 0

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        total = sum(self.sent)
        return {
            "type": self.type_name,
            "algorithm": self.config.algorithm,
            "served": self.answered,
            "forwarded": total,
            "rejected": 0,
            "failed": self.failed,
            "share": {b.name: (s / total if total else 0.0) for b, s in zip(self.backends, self.sent)},
            **({"rerouted": self.rerouted, "skipped_open": self.skipped_open} if self.routed else {}),
        }

    def sample(self) -> dict[str, float]:
        return {"outstanding": float(sum(self.outstanding))}

    def offered(self, rate_per_s: float, system: Any) -> None:
        w = self.config.weights or [1.0] * len(self.backends)
        total = sum(w)
        for b, wi in zip(self.backends, w):
            system.offer(b.name, rate_per_s * wi / total)
