"""Health of a load balancer's backends: active health checks (probe messages over the network) and
passive outlier ejection (consecutive failed responses), as Envoy does them.

A backend is *usable* when no mechanism holds it out: not marked unhealthy by the active checker
and not ejected as an outlier. `BackendHealth` keeps that state per backend index in plain lists
(one entry per backend, so an appended backend only appends), and rebuilds the load balancer's
`healthy` list, which the algorithms read, whenever a backend goes out or comes back. When fewer
than `panic_threshold` of the backends (or none) are usable, the balancer *panics* (fails open, as
Envoy's panic threshold): it sends to every backend, whatever their health.

The `health_check: 2s` shorthand is the older *oracle*: the balancer is told of each backend's
availability change and acts on it that much later (no messages). It stays as it was, on its own
path in `models/load_balancer.py`.

Probes cross the network on links of their own (`probe_link`): a partition between the balancer
and one backend, a lost or delayed probe, a backend down, paused or overloaded all fail them.
A probe reaches the backend's `probe` hook (`models/base.py`), not `handle`: it is not a request
(not recorded, no service time drawn); a queueing backend answers it when a worker would take it
(behind the requests waiting before it, in zero service time: see `Station.probe`).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator.engine.request import ERROR, OK, REJECTED, TIMED_OUT, Once, Reply, Request
from simulator.language.config import StrictModel
from simulator.language.units import Duration, Fraction, PositiveDuration

from .base import LocalProxy

# What counts as a failed response for outlier ejection: the backend failed it (5xx, a reset, a
# timeout, a full queue's 503). A call refused by the caller's own breaker or the callee's rate
# limiter says nothing about the backend's health.
FAILED = frozenset((ERROR, TIMED_OUT, REJECTED))


class ActiveCheckConfig(StrictModel):
    """Active health checks: a probe to every backend each `interval`."""

    interval: PositiveDuration = Field(5.0, description="Time between probes to each backend (the first at 0s).")
    timeout: PositiveDuration = Field(
        1.0, description="A probe not answered within this is failed (at most `interval`). A probe on a cut "
        "link fails at the network timeout if that comes first.")
    unhealthy_after: PositiveInt = Field(3, le=1000, description="Consecutive failed probes that mark a backend unhealthy.")
    healthy_after: PositiveInt = Field(2, le=1000, description="Consecutive successful probes that mark it healthy again.")
    path: Literal["shallow", "deep"] = Field(
        "shallow", description="shallow: the backend answers itself; deep: it also probes its own "
        "dependencies (its call steps' targets) and fails if any fails.")

    @model_validator(mode="after")
    def _timeout(self) -> "ActiveCheckConfig":
        if self.timeout > self.interval:
            raise ValueError(f"'timeout' ({self.timeout:g}s) must be at most 'interval' ({self.interval:g}s): "
                             "one probe per backend in flight at a time")
        return self


class HealthCheckConfig(StrictModel):
    """`health_check:` of a load balancer: a duration (the oracle shorthand) or a block."""

    oracle: Duration | None = Field(
        None, description="Told of each backend's crash, pause or recovery, act on it this much later "
        "(`health_check: 2s` is short for `{oracle: 2s}`). No messages; never removes the last listed backend.")
    active: ActiveCheckConfig | None = Field(None, description="Real probes over the network.")
    panic_threshold: Fraction = Field(
        0.0, description="With `active` or `outlier_ejection`: when fewer than this share of the backends is "
        "usable, or none is, send to all of them (fail open, as Envoy's panic threshold).")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"oracle": data}

    @model_validator(mode="after")
    def _one(self) -> "HealthCheckConfig":
        if (self.oracle is None) == (self.active is None):
            raise ValueError("a health check needs exactly one of 'oracle' (a delay) or 'active' (probes)")
        return self


class OutlierEjectionConfig(StrictModel):
    """Passive health checking (Envoy's outlier detection, consecutive errors)."""

    consecutive_errors: PositiveInt = Field(
        5, le=1_000_000, description="Failed responses in a row (error, timed_out, rejected) that eject a backend.")
    eject_for: PositiveDuration = Field(30.0, description="How long an ejected backend gets no traffic.")
    max_ejected: Fraction = Field(
        0.1, description="At most this share of the backends ejected at once (rounded down, but at least one).")

    @model_validator(mode="after")
    def _max(self) -> "OutlierEjectionConfig":
        if self.max_ejected <= 0:
            raise ValueError("'max_ejected' must be above 0%")
        return self


class BackendHealth:
    """Per-backend health state of one load balancer and the events it produced.

    Lists are indexed by backend: `probe_down` (marked unhealthy by active checks), `ejected` (an
    outlier), the current streaks. `add_backend` appends one (autoscaling)."""

    def __init__(self, lb: Any, n: int, panic_threshold: float) -> None:
        self.lb = lb
        self.env = lb.env
        self.panic_threshold = panic_threshold
        self.oracle_down: list[bool] = []  # `{oracle: delay}` with outlier ejection: told, then acted on
        self.probe_down: list[bool] = []
        self.probe_fails: list[int] = []
        self.probe_oks: list[int] = []
        self.ejected: list[bool] = []
        self.errors: list[int] = []
        self.panicking = False
        self.events: list[dict[str, Any]] = []
        for _ in range(n):
            self.add_backend()
        self.reset_stats()

    def add_backend(self) -> int:
        """One more backend (usable at once); returns its index."""
        self.oracle_down.append(False)
        self.probe_down.append(False)
        self.probe_fails.append(0)
        self.probe_oks.append(0)
        self.ejected.append(False)
        self.errors.append(0)
        return len(self.ejected) - 1

    def reset_stats(self) -> None:
        self.probes_sent = 0
        self.probes_failed = 0
        self.ejections = 0
        self.returns = 0
        self.panics = 0
        self._sampled_failed = 0

    def sample(self, probing: bool) -> dict[str, float]:
        """Per time bucket: backends usable at the bucket's end (those no mechanism holds out, whether
        or not the balancer panics) and, with active checks, the probes that failed in the bucket."""
        out = {"usable_backends": float(sum(1 for i in range(len(self.ejected)) if self.usable(i)))}
        if probing:
            out["probes_failed"] = float(self.probes_failed - self._sampled_failed)
            self._sampled_failed = self.probes_failed
        return out

    def stats(self, probing: bool) -> dict[str, Any]:
        """Counts over the measured window (`probing`: with the active checker's probe counts)."""
        out = {"probes_sent": self.probes_sent, "probes_failed": self.probes_failed} if probing else {}
        out.update(ejections=self.ejections, returns=self.returns, panics=self.panics,
                   unusable_at_end=sum(1 for i in range(len(self.ejected)) if not self.usable(i)))
        return out

    def usable(self, i: int) -> bool:
        return not (self.probe_down[i] or self.ejected[i] or self.oracle_down[i])

    def event(self, kind: str, description: str) -> None:
        self.events.append({"at_s": self.env.now, "kind": kind, "description": description})

    def refresh(self) -> None:
        """Rebuild the balancer's `healthy` list from the state (only when something changed)."""
        n = len(self.ejected)
        usable = [i for i in range(n) if self.usable(i)]
        panic = not usable or len(usable) < self.panic_threshold * n
        if panic != self.panicking:
            self.panicking = panic
            if panic:
                self.panics += 1
                self.event("panic", f"panic: {len(usable)} of {n} backends usable, sending to all")
            else:
                self.event("panic_end", f"panic over: {len(usable)} of {n} backends usable")
        self.lb.healthy = list(range(n)) if panic else usable

    def name(self, i: int) -> str:
        return self.lb.backends[i].name

    def oracle(self, i: int, down: bool) -> None:
        """The oracle's news about backend `i`, `delay` after the change (with outlier ejection)."""
        if self.oracle_down[i] != down:
            self.oracle_down[i] = down
            self.refresh()

    # --- active checks ---------------------------------------------------------------------------
    def probe_result(self, i: int, ok: bool, after: int, back_after: int) -> None:
        if ok:
            self.probe_fails[i] = 0
            self.probe_oks[i] += 1
            if self.probe_down[i] and self.probe_oks[i] >= back_after:
                self.probe_down[i] = False
                self.returns += 1
                self.event("return", f"{self.name(i)} healthy again ({back_after} probes passed)")
                self.refresh()
        else:
            self.probes_failed += 1
            self.probe_oks[i] = 0
            self.probe_fails[i] += 1
            if not self.probe_down[i] and self.probe_fails[i] >= after:
                self.probe_down[i] = True
                self.ejections += 1
                self.event("ejection", f"{self.name(i)} unhealthy ({after} probes failed)")
                self.refresh()

    # --- passive outlier ejection ----------------------------------------------------------------
    def response(self, i: int, outcome: int, cfg: OutlierEjectionConfig) -> None:
        if self.ejected[i]:
            return  # answers of calls sent before the ejection: it is already out
        if outcome not in FAILED:
            self.errors[i] = 0
            return
        self.errors[i] += 1
        if self.errors[i] < cfg.consecutive_errors:
            return
        n = len(self.ejected)
        if sum(self.ejected) >= max(1, int(cfg.max_ejected * n + 1e-9)):
            return  # the most that may be out already are: the streak goes on, the next failure tries again
        self.ejected[i] = True
        self.errors[i] = 0
        self.ejections += 1
        self.event("ejection", f"{self.name(i)} ejected ({cfg.consecutive_errors} failed responses in a row)")
        self.refresh()
        self.env.call_later(cfg.eject_for, self._unject, i)

    def _unject(self, timer: Any) -> None:
        i = timer._value
        self.ejected[i] = False
        self.errors[i] = 0
        self.returns += 1
        self.event("return", f"{self.name(i)} back after ejection")
        self.refresh()


class ActiveChecker:
    """Sends a probe to every backend each `interval` (all at the same instants, the first at 0 s)
    over its own link, and reports each result to `BackendHealth`."""

    def __init__(self, health: BackendHealth, cfg: ActiveCheckConfig) -> None:
        self.health = health
        self.cfg = cfg
        self.env = health.env
        self.links: list[Any] = []
        self.rounds = 0

    def connect(self, lb: Any, system: Any) -> None:
        """One probe link per backend (made after the balancer's own links, so theirs keep their
        random streams), and the first round at time 0."""
        for b in lb.backends:
            self.add_backend(lb, b, system)
        self.env.call_later(0.0, self._round)

    def add_backend(self, lb: Any, backend: Any, system: Any) -> None:
        self.links.append(probe_link(system, lb, backend, self.cfg.path == "deep"))

    def _round(self, timer: Any) -> None:
        env = self.env
        cfg = self.cfg
        for i, link in enumerate(self.links):
            self.health.probes_sent += 1
            once = Once(_ProbeResult(self, i))
            env.call_later(cfg.timeout, once.expire)
            link.send(Request(-1, env.now, -1, "health"), once)
        # Round k at exactly k x interval (no drift from adding the interval up).
        self.rounds += 1
        env.at(self.rounds * cfg.interval - env.now, timer)

    def result(self, i: int, outcome: int) -> None:
        self.health.probe_result(i, outcome == OK, self.cfg.unhealthy_after, self.cfg.healthy_after)


class _ProbeResult:
    __slots__ = ("checker", "i")

    def __init__(self, checker: ActiveChecker, i: int) -> None:
        self.checker, self.i = checker, i

    def __call__(self, outcome: int) -> None:
        self.checker.result(self.i, outcome)


class ProbeTarget:
    """The far end of a probe link: a component seen through its `probe` hook. Availability is the
    component's, so a probe reaching it while it is down is refused and one reaching it while it is
    paused waits for the pause to end, exactly as a request. A `deep` probe, once the component
    answers it, probes the component's own dependencies (shallow) over links from the component,
    made at the first deep probe (after every component's own links, so theirs keep their streams)."""

    __slots__ = ("target", "deep", "name", "zone", "deps")

    def __init__(self, target: Any, deep: bool) -> None:
        self.target = target
        self.deep = deep
        self.name = target.name
        self.zone = target.zone
        self.deps: list[Any] | None = None

    def __repr__(self) -> str:
        return f"<probe {self.name}>"

    def route(self, src: Any) -> "ProbeTarget":
        return self

    @property
    def unavailable(self) -> bool:
        return self.target.unavailable

    @property
    def may_be_unavailable(self) -> bool:
        return self.target.may_be_unavailable

    def unavailable_call(self, entry: Any, req: Request, reply: Reply) -> None:
        target = self.target
        if target.down:
            reply(ERROR)  # connection refused (not counted among the component's failed calls)
        else:
            target.held.append((self, req, reply))  # paused: comes back through `handle` at resume

    def handle(self, req: Request, reply: Reply) -> None:
        if self.deep:
            self.target.probe(req, _ThenDependencies(self, req, reply))
        else:
            self.target.probe(req, reply)

    def dependency_links(self) -> list[Any]:
        if self.deps is None:
            target = self.target
            system = target.env.system
            self.deps = []
            for name in target.dependencies():
                dep = system.get(name)
                if isinstance(dep.route(target), LocalProxy):
                    continue  # a client library inside the component: no place of its own to probe
                self.deps.append(probe_link(system, target, dep, False))
        return self.deps


class _ThenDependencies:
    __slots__ = ("pt", "req", "reply")

    def __init__(self, pt: ProbeTarget, req: Request, reply: Reply) -> None:
        self.pt, self.req, self.reply = pt, req, reply

    def __call__(self, outcome: int) -> None:
        if outcome != OK:
            self.reply(outcome)
        else:
            probe_all(self.pt.dependency_links(), self.req, self.reply)


def probe_link(system: Any, src: Any, dst: Any, deep: bool) -> Any:
    """A link from `src` to component `dst` that carries probes (same latency and faults as the
    calls' links; its own random streams)."""
    return system.network.link(src, ProbeTarget(dst, deep))


def probe_all(links: list[Any], req: Request, reply: Reply) -> None:
    """Probe every link's target; `reply` OK when all pass, else the first failure."""
    if not links:
        reply(OK)
        return
    fan = _AllOk(len(links), reply)
    for link in links:
        link.send(req, fan)


class _AllOk:
    __slots__ = ("left", "reply")

    def __init__(self, n: int, reply: Reply) -> None:
        self.left, self.reply = n, reply

    def __call__(self, outcome: int) -> None:
        if self.left <= 0:
            return
        if outcome != OK:
            self.left = 0
            self.reply(outcome)
            return
        self.left -= 1
        if self.left == 0:
            self.reply(OK)
