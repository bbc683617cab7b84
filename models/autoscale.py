"""Autoscaling of a server's replicas: the `autoscale:` block of a server, its scaling rules and the
load balancer in front of the replicas that measures, decides and provisions.

A server with `autoscale:` is built as a pool of `max_replicas` slots (`app[1]` ... `app[max]`), each
a full replica with its own network links made before the run, behind an `AutoscaledBalancer` named
like the server. Scaling moves slots in and out of service; it never makes a link during the run, so
every message still crosses the network and a fault that names the server (a crash of `app`, a
partition with `app` in a group) reaches every slot, in service or not. Formulas and semantics:
docs/resilience.md, "Autoscaling".

Per slot: free -> provisioning (billed, not yet serving; `provision_delay`) -> serving (in the load
balancer's rotation) -> draining (out of rotation, finishing what it holds; still billed) -> free.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PositiveInt, field_serializer, field_validator, model_validator

from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import Duration, Fraction, PositiveDuration, fmt_duration, parse_duration, parse_fraction
from simulator.engine.request import OK, Reply, Request

from .load_balancer import LoadBalancer, LoadBalancerConfig

_new = object.__new__

FREE, PROVISIONING, SERVING, DRAINING = 0, 1, 2, 3

METRIC_NAMES = {"utilization": "utilization", "utilisation": "utilization", "queue_length": "queue_length",
                "latency_p99": "latency_p99", "latency": "latency_p99"}


class CooldownConfig(StrictModel):
    """Quiet time after a scaling step before the next one (per direction)."""

    up: Duration = Field(0.0, description="A scale-up only if at least this long since the last scaling step.")
    down: Duration = Field(300.0, description="A scale-down only if at least this long since the last scaling step.")


def _cooldown(value: Any) -> Any:
    """`cooldown: 60s` is shorthand for the same quiet time in both directions (checked here, once)."""
    if isinstance(value, dict):
        return value
    if parse_duration(value) < 0:
        raise ValueError(f"must not be negative, got {value}")
    return {"up": value, "down": value}


class AutoscaleConfig(StrictModel):
    """Scale a server's replicas on a measured metric, between `min_replicas` and `max_replicas`."""

    metric: Literal["utilization", "utilisation", "queue_length", "latency_p99", "latency"] = Field(
        "utilization", description="What is measured over each interval: utilization (busy workers / workers, "
        "mean over ready replicas), queue_length (mean requests waiting per ready replica) or latency_p99 "
        "(p99 of the calls the balancer answered in the interval; `latency` is the same).")
    target: float = Field(description="The metric's target: a fraction for utilization (70% or 0.7, above 0, "
                          "at most 100%), a count for queue_length (> 0), a duration for latency_p99 (200ms).")
    min_replicas: PositiveInt = Field(1, le=1000, description="Never fewer replicas (serving or provisioning).")
    max_replicas: PositiveInt = Field(le=1000, description="Never more; the pool of slots built before the run.")
    initial_replicas: PositiveInt | None = Field(None, le=1000, description="Serving at the start (default min_replicas).")
    interval: PositiveDuration = Field(15.0, description="Evaluation period: the metric is measured over it.")
    provision_delay: Duration = Field(30.0, description="A new replica serves only this long after the decision "
                                      "(billed from the decision).")
    cooldown: Annotated[CooldownConfig, BeforeValidator(_cooldown)] = Field(
        default_factory=CooldownConfig, description="Quiet time after a scaling step: one duration for both "
        "directions, or {up, down}.")
    rule: registry.name_in(registry.scaling_rules) = Field(
        "proportional", description="How the metric becomes a replica count (`dsim list scaling-rules`).")
    step: PositiveInt = Field(1, le=1000, description="Replicas added or removed per step (rule: step).")
    tolerance: Fraction = Field(0.1, description="No change while metric/target is within 1 ± tolerance.")

    @field_validator("metric")
    @classmethod
    def _one_spelling(cls, v: str) -> str:
        return METRIC_NAMES[v]

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: Any, info: Any) -> float:
        if "metric" not in info.data:  # the metric itself is wrong: that is the one error to report
            return 1.0
        metric = info.data["metric"]
        if isinstance(v, bool):
            raise ValueError(f"expected a number, got {v!r}")
        if metric == "utilization":
            try:
                x = parse_fraction(v)
            except ValueError:
                raise ValueError(f"a utilization target is a fraction above 0 and at most 100% (like 70%), "
                                 f"got {v!r}") from None
            if x <= 0:
                raise ValueError(f"a utilization target must be above 0, got {v!r}")
            return x
        if metric == "latency_p99":
            x = parse_duration(v)
            if x <= 0:
                raise ValueError(f"a latency target must be above 0, got {v!r}")
            return x
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"a queue_length target is a number of waiting requests per replica, got {v!r}") from None
        if not x > 0 or not math.isfinite(x):
            raise ValueError(f"a queue_length target must be above 0, got {v!r}")
        return x

    @field_serializer("target")
    def _show_target(self, v: float) -> float | str:
        """Written back as it is read: a latency target with its unit (the effective config reloads)."""
        return fmt_duration(v) if self.metric == "latency_p99" else v

    @model_validator(mode="after")
    def _bounds(self) -> "AutoscaleConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        if self.initial_replicas is not None and not self.min_replicas <= self.initial_replicas <= self.max_replicas:
            raise ValueError(f"initial_replicas ({self.initial_replicas}) must be within min_replicas "
                             f"({self.min_replicas}) and max_replicas ({self.max_replicas})")
        return self


# --- scaling rules --------------------------------------------------------------------------------
class ScalingRule:
    """Base: `desired(current, ready, metric)` -> the replica count wanted (before min/max)."""

    def __init__(self, config: AutoscaleConfig) -> None:
        self.config = config

    def desired(self, current: int, ready: int, metric: float) -> int:
        raise NotImplementedError


@registry.scaling_rules.register("proportional")
class Proportional(ScalingRule):
    """Kubernetes HPA: desired = ceil(ready × metric / target); no change while metric/target is within 1 ± tolerance."""

    def desired(self, current, ready, metric):
        ratio = metric / self.config.target
        if abs(ratio - 1.0) <= self.config.tolerance:
            return current
        # ceil of a product that is a whole number up to rounding (2 × 0.9 / 0.6) is that number, not one more
        return math.ceil(ready * ratio - 1e-9)


@registry.scaling_rules.register("step")
class Step(ScalingRule):
    """Step scaling: `step` replicas more when metric > target × (1 + tolerance), `step` fewer when below target × (1 − tolerance)."""

    def desired(self, current, ready, metric):
        c = self.config
        if metric > c.target * (1.0 + c.tolerance):
            return current + c.step
        if metric < c.target * (1.0 - c.tolerance):
            return current - c.step
        return current


# --- the balancer that scales ---------------------------------------------------------------------
class AutoscaledBalancerConfig(LoadBalancerConfig):
    """The load balancer `expand` puts in front of an autoscaled server's slots (not a YAML type)."""

    autoscale: AutoscaleConfig
    initial: PositiveInt


class _ScaledPending:
    """A call the balancer forwarded (as load_balancer's own pending reply), which also keeps the response
    time (latency metric) and notices a draining replica's last answer."""

    __slots__ = ("lb", "i", "reply", "t0")

    def __call__(self, outcome: int) -> None:
        lb = self.lb
        i = self.i
        left = lb.outstanding[i] = lb.outstanding[i] - 1
        lb.answered += 1
        response_s = lb.env._now - self.t0
        if lb._observe:
            lb.algo.observe(i, response_s)
        if outcome == OK:
            lb.ok[i] += 1
        if lb.latencies is not None:
            lb.latencies.append(response_s)
        if not left and lb.state[i] == DRAINING:
            lb._drained(i)
        self.reply(outcome)


class AutoscaledBalancer(LoadBalancer):
    """The load balancer in front of an autoscaled server: measures, decides, provisions and drains."""

    Config = AutoscaledBalancerConfig

    def __init__(self, env: Any, name: str, config: AutoscaledBalancerConfig) -> None:
        super().__init__(env, name, config)
        a = self.scaling = config.autoscale
        n = len(config.backends)
        self.rule = registry.scaling_rules.get(a.rule)(a)
        self.state = [SERVING] * config.initial + [FREE] * (n - config.initial)
        for i in range(config.initial, n):
            self.remove_backend(i)
        self.latencies: list[float] | None = [] if a.metric == "latency_p99" else None
        self._generation = [0] * n  # a provisioning cancelled by a scale-down is recognised at its end
        self._snap: list[tuple[float, float, float] | None] = [None] * n  # (busy area, queue area, time)
        self.scale_log: list[dict[str, Any]] = []
        self.last_scale = -math.inf
        self.replicas: list[Any] = []
        # Replica counts integrated over time: serving (in rotation) and billed (provisioning, serving, draining).
        self._serving = config.initial
        self._billed = config.initial
        self._t = env.now
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.serving_area = 0.0
        self.billed_area = 0.0
        self._sample_area = 0.0
        self._sample_t = self._t
        self.t_reset = self._t
        self.replicas_max = self.replicas_min = self._serving + self._pending_count()

    def _pending_count(self) -> int:
        return self.state.count(PROVISIONING)

    def _count(self, now: float) -> None:
        dt = now - self._t
        if dt:
            self.serving_area += self._serving * dt
            self.billed_area += self._billed * dt
            self._t = now

    def connect(self, system: Any) -> None:
        super().connect(system)
        self.replicas = list(self.backends)
        for i, s in enumerate(self.state):
            if s == SERVING:
                self._snapshot(i, self.env.now)
        self.env.call_later(self.scaling.interval, self._evaluate)

    def handle(self, req: Request, reply: Reply) -> None:
        i = self.algo.choose(req, self)
        self.outstanding[i] += 1
        self.sent[i] += 1
        p = _new(_ScaledPending)
        p.lb = self
        p.i = i
        p.reply = reply
        p.t0 = self.env._now
        self.links[i].send(req, p)

    # --- measuring ----------------------------------------------------------------------------------
    def _snapshot(self, i: int, now: float) -> None:
        r = self.replicas[i]
        r._account(now)
        self._snap[i] = (r.busy_area, r.queue_area, now)

    def measure(self, now: float) -> float | None:
        """The metric over the interval just ended (None: nothing to measure, e.g. no ready replica)."""
        metric = self.scaling.metric
        if metric == "latency_p99":
            lat, self.latencies = self.latencies, []
            if not lat:
                return None
            lat.sort()
            return _percentile(lat, 0.99)
        area = span = 0.0
        for i, s in enumerate(self.state):
            if s != SERVING:
                continue
            r = self.replicas[i]
            busy0, queue0, t0 = self._snap[i]
            self._snapshot(i, now)
            if r.unavailable:  # not ready (crashed or paused): left out, as a readiness probe would
                continue
            busy1, queue1, _t = self._snap[i]
            if metric == "utilization":
                area += busy1 - busy0
                span += r.workers * (now - t0)
            else:
                area += queue1 - queue0
                span += now - t0
        return area / span if span > 0 else None

    # --- deciding -----------------------------------------------------------------------------------
    def _evaluate(self, _timer: Any) -> None:
        env = self.env
        now = env.now
        a = self.scaling
        value = self.measure(now)
        ready = sum(1 for i, s in enumerate(self.state) if s == SERVING and not self.replicas[i].unavailable)
        if value is not None and ready:  # no ready replica: nothing to base a step on (fast refusals are no load)
            current = self._serving + self._pending_count()
            desired = min(a.max_replicas, max(a.min_replicas, self.rule.desired(current, ready, value)))
            if desired > current and now - self.last_scale >= a.cooldown.up:
                self._scale_up(current, desired, value, now)
            elif desired < current and now - self.last_scale >= a.cooldown.down:
                self._scale_down(current, desired, value, now)
        env.call_later(a.interval, self._evaluate)

    def _log(self, before: int, after: int, value: float, now: float) -> None:
        a = self.scaling
        shown = (f"{value:.0%} vs target {a.target:.0%}" if a.metric == "utilization"
                 else f"{value * 1e3:.4g}ms vs target {a.target * 1e3:.4g}ms" if a.metric == "latency_p99"
                 else f"{value:.4g} vs target {a.target:.4g}")
        self.scale_log.append({"at_s": now, "kind": "scale", "description": f"{before} -> {after} replicas "
                               f"({a.metric} {shown})", "from": before, "to": after, "metric": value})
        self.last_scale = now
        self.replicas_max = max(self.replicas_max, after)
        self.replicas_min = min(self.replicas_min, after)

    def _scale_up(self, current: int, desired: int, value: float, now: float) -> None:
        self._count(now)
        launched = 0
        for i, s in enumerate(self.state):
            if launched == desired - current:
                break
            if s == FREE:  # the lowest free slot (one still draining is not free)
                self.state[i] = PROVISIONING
                self._generation[i] += 1
                self._billed += 1
                self.env.call_later(self.scaling.provision_delay, self._ready, (i, self._generation[i]))
                launched += 1
        if launched:
            self._log(current, current + launched, value, now)

    def _ready(self, timer: Any) -> None:
        i, generation = timer._value
        if self.state[i] != PROVISIONING or self._generation[i] != generation:
            return  # cancelled by a scale-down meanwhile
        now = self.env.now
        self._count(now)
        self.state[i] = SERVING
        self._serving += 1
        self._snapshot(i, now)
        self.add_backend(i)

    def _scale_down(self, current: int, desired: int, value: float, now: float) -> None:
        """Cancel provisioning replicas first (they serve nobody yet), then drain the newest serving ones."""
        self._count(now)
        excess = current - desired
        for wanted in (PROVISIONING, SERVING):
            for i in range(len(self.state) - 1, -1, -1):
                if excess and self.state[i] == wanted:
                    excess -= 1
                    if wanted == PROVISIONING:
                        self.state[i] = FREE
                        self._billed -= 1
                    else:
                        self.state[i] = DRAINING
                        self._serving -= 1
                        self.remove_backend(i)
                        if not self.outstanding[i]:
                            self._drained(i)
        self._log(current, desired, value, now)

    def _drained(self, i: int) -> None:
        """A draining replica holds nothing more: it stops (and stops being billed)."""
        self._count(self.env.now)
        self.state[i] = FREE
        self._billed -= 1

    # --- figures ------------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        super().reset_stats()
        now = self.env.now
        self._count(now)
        self._reset_counts()
        for i, s in enumerate(self.state):
            if s == SERVING and self.replicas:
                self._snap[i] = (0.0, 0.0, now)  # the replicas' own figures restart now too
        if self.latencies is not None:
            self.latencies = []

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        out = super().stats(elapsed_s)
        now = self.env.now
        self._count(now)
        span = now - self.t_reset
        measured = [e for e in self.scale_log if e["at_s"] >= self.t_reset]
        out.update({
            "replicas_mean": self.serving_area / span if span > 0 else float(self._serving),
            "replicas_min": self.replicas_min,
            "replicas_max": self.replicas_max,
            "replicas_final": self._serving + self._pending_count(),
            "replica_hours": self.billed_area / 3600.0,
            "scale_ups": sum(1 for e in measured if e["to"] > e["from"]),
            "scale_downs": sum(1 for e in measured if e["to"] < e["from"]),
        })
        if self.scale_log:
            out["events"] = [{k: e[k] for k in ("at_s", "kind", "description")} for e in self.scale_log]
        return out

    def sample(self) -> dict[str, float]:
        out = super().sample()
        now = self.env.now
        self._count(now)
        dt = now - self._sample_t
        out["replicas"] = (self.serving_area - self._sample_area) / dt if dt else float(self._serving)
        self._sample_area, self._sample_t = self.serving_area, now
        return out


def _percentile(ordered: list[float], q: float) -> float:
    """numpy's default (linear) percentile of an ordered list."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
