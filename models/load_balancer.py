"""A load balancer: forwards each request to one backend chosen by a pluggable algorithm."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveFloat, field_validator

from simulator.language import registry
from simulator.engine.request import ERROR, OK, Reply, Request
from simulator.resilience import RateLimitConfig, ResilienceConfig, guard

from .base import Component, ComponentConfig
from .health import ActiveChecker, BackendHealth, HealthCheckConfig, OutlierEjectionConfig
from . import lb_algorithms  # noqa: F401  (registers the algorithms)


class LoadBalancerConfig(ComponentConfig):
    type: Literal["load_balancer"] = "load_balancer"
    algorithm: registry.name_in(registry.lb_algorithms) = Field("round_robin", description="One of `dsim list` load-balancing algorithms.")
    backends: list[str] = Field(min_length=1, description="Components the traffic is spread over.")
    weights: list[PositiveFloat] | None = Field(
        None, description="Per-backend weights (weighted_round_robin, least_connections)."
    )
    health_check: HealthCheckConfig | None = Field(
        None, description="A duration (the oracle shorthand: told of crashes and pauses, acts this much later) "
        "or a block with `active:` probes over the network (docs/health-checks.md)."
    )
    outlier_ejection: OutlierEjectionConfig | None = Field(
        None, description="Passive health checking: eject a backend after consecutive failed responses, for a while.")

    rate_limit: RateLimitConfig | None = Field(
        None, description="Admission: refuse calls beyond a rate as `rate_limited` (token or leaky bucket, fixed or "
        "sliding window; global, or per client, user or key).")
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


class _Watched(_Pending):
    """A `_Pending` whose outcome also goes to the balancer's outlier detector."""

    __slots__ = ()

    def __call__(self, outcome: int) -> None:
        lb = self.lb
        lb.health.response(self.i, outcome, lb.config.outlier_ejection)
        _Pending.__call__(self, outcome)


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
        pending = _Watched if lb.watched else _Pending  # with outlier ejection each attempt's answer counts
        lb.links[i].send(req, pending(lb, i, reply, lb.env._now))


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
        self.retired: set[int] = set()  # backends out of rotation (remove_backend): no health check brings them back
        self.links: list = []
        self.backends: list = []
        self.failed = 0
        self.answered = 0
        # Health checks (active probes, outlier ejection): none unless configured, so a balancer
        # without them runs exactly the code it always did.
        hc = config.health_check
        self.oracle_s = hc.oracle if hc is not None else None
        self.health: BackendHealth | None = None
        self.checker: ActiveChecker | None = None
        if (hc is not None and hc.active is not None) or config.outlier_ejection is not None:
            self.health = BackendHealth(self, n, hc.panic_threshold if hc is not None else 0.0)
            if hc is not None and hc.active is not None:
                self.checker = ActiveChecker(self.health, hc.active)
            if config.outlier_ejection is not None:
                self.handle = self._handle_watched  # each answer also goes to the outlier detector
        self.watched = config.outlier_ejection is not None
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
        if self.oracle_s is not None:
            for b in self.backends:
                b.watchers.append(self)
        if self.checker is not None:
            self.checker.connect(self, system)

    def component_changed(self, backend: Any) -> None:
        i = self.backends.index(backend)
        self.env.call_later(self.oracle_s, self._apply_health, (i, backend.unavailable))

    def _apply_health(self, timer: Any) -> None:
        i, down = timer._value
        if self.health is not None:  # with outlier ejection: one state, rebuilt (panic included)
            self.health.oracle(i, down)
            return
        if down and i in self.healthy and len(self.healthy) > 1:
            self.healthy.remove(i)
        elif not down and i not in self.healthy and i not in self.retired:
            self.healthy.append(i)
            self.healthy.sort()

    def add_backend(self, i: int) -> None:
        """Put backend `i` (back) in rotation: new calls may go to it (with a health check, once it is up)."""
        self.retired.discard(i)
        usable = self.config.health_check is None or not self.backends or not self.backends[i].unavailable
        if usable and i not in self.healthy:
            self.healthy.append(i)
            self.healthy.sort()

    def remove_backend(self, i: int) -> None:
        """Take backend `i` out of rotation: no new calls go to it; the calls it holds finish (a drain)."""
        self.retired.add(i)
        if i in self.healthy:
            self.healthy.remove(i)
        if not self.healthy:  # every other backend in rotation was ejected: send to them rather than nowhere
            self.healthy = [j for j in range(len(self.outstanding)) if j not in self.retired]

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

    def _handle_watched(self, req: Request, reply: Reply) -> None:
        """`handle` with outlier ejection: the same, with a reply that also reports its outcome."""
        i = self.algo.choose(req, self)
        self.outstanding[i] += 1
        self.sent[i] += 1
        self.links[i].send(req, _Watched(self, i, reply, self.env._now))


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
        if self.health is not None:
            self.health.reset_stats()
        if self.routed:
            self.rerouted = self.skipped_open = 0
        self.sent = [0] * len(self.sent)
        self.ok = [0] * len(self.ok)
        self.failed = 0
        self.answered = 0

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        total = sum(self.sent)
        out = {
            "type": self.type_name,
            "algorithm": self.config.algorithm,
            "served": self.answered,
            "forwarded": total,
            "rejected": 0,
            "failed": self.failed,
            "share": {b.name: (s / total if total else 0.0) for b, s in zip(self.backends, self.sent)},
            **({"rerouted": self.rerouted, "skipped_open": self.skipped_open} if self.routed else {}),
        }
        if self.health is not None:
            out.update(self.health.stats(self.checker is not None))
            if self.health.events:
                out["events"] = list(self.health.events)
        return out

    def sample(self) -> dict[str, float]:
        if self.health is not None:
            return {"outstanding": float(sum(self.outstanding)), **self.health.sample(self.checker is not None)}
        return {"outstanding": float(sum(self.outstanding))}

    def offered(self, rate_per_s: float, system: Any) -> None:
        w = self.config.weights or [1.0] * len(self.backends)
        total = sum(w)
        for b, wi in zip(self.backends, w):
            system.offer(b.name, rate_per_s * wi / total)
