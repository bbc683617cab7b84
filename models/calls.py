"""Downstream calls: how a service turns one request into a tree of calls.

A service's `calls:` is a list of steps done in sequence after its own work. A step calls one
target, or fans out to several in parallel and waits for all of them or for the first `wait_for`.
Each call crosses the network. The request fails with the first failed step's outcome.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from simulator.language.config import StrictModel
from simulator.engine.request import CAUSE_CALL_TIMEOUT, OK, Reply, Request, deadlines
from simulator.engine.trace import traced_copy
from simulator.language.units import Fraction, PositiveDuration
from simulator.resilience import ResilienceConfig, guard


class CallStep(StrictModel):
    """One step of a call path: `target` (one call) or `parallel` (fan-out)."""

    target: str | None = Field(None, description="Component to call.")
    parallel: list[str] | None = Field(None, description="Components called at once (fan-out).")
    wait_for: int | Literal["all"] = Field(
        "all", description="With `parallel`: answer after this many succeed (first-k)."
    )
    operation: str | None = Field(None, description="Operation of the call (default: the request's).")
    probability: Fraction = Field(1.0, description="Chance that the step happens at all.")
    timeout: PositiveDuration | None = Field(None, description="Give up on the call after this long.")
    resilience: ResilienceConfig | None = Field(
        None, description="Policies on the step's calls (each target its own): per-attempt timeout, retry, "
        "circuit breaker.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"target": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_kind(self) -> "CallStep":
        if (self.target is None) == (self.parallel is None):
            raise ValueError("a call step needs exactly one of 'target' or 'parallel'")
        if self.parallel is not None:
            if not self.parallel:
                raise ValueError("'parallel' needs at least one target")
            if self.wait_for != "all" and not 1 <= self.wait_for <= len(self.parallel):
                raise ValueError(f"'wait_for' must be between 1 and {len(self.parallel)} (the number of parallel targets)")
        return self

    def targets(self) -> list[str]:
        return [self.target] if self.target is not None else list(self.parallel or [])


def step_refs(steps: list[CallStep], prefix: tuple) -> list[tuple[tuple, str]]:
    out = []
    for i, step in enumerate(steps):
        if step.target is not None:
            out.append((prefix + (i, "target"), step.target))
        for j, name in enumerate(step.parallel or []):
            out.append((prefix + (i, "parallel", j), name))
    return out


class Step:
    """A call step bound to network links (built once, at connect time)."""

    __slots__ = ("links", "need", "operation", "probability", "timeout_s", "rng", "deadlines", "plain")

    def __init__(self, config: CallStep, links: list[Any], rng: Any, env: Any, place: str = "") -> None:
        self.links = links
        self.need = len(links) if config.wait_for == "all" else config.wait_for
        self.operation = config.operation
        self.probability = config.probability
        self.timeout_s = config.timeout
        self.rng = rng
        # One queue for the step's calls, fan-out included; a timeout is a `call_timeout` at `place`.
        self.deadlines = deadlines(env, config.timeout, (CAUSE_CALL_TIMEOUT, place))
        # One call that always happens, with the request's operation and no timeout: `invoke` would
        # only send it on its one link, with the caller's reply.
        self.plain = len(links) == 1 and self.probability >= 1.0 and self.operation is None and self.deadlines is None

    def invoke(self, env: Any, req: Request, reply: Reply) -> None:
        if self.operation is not None and self.operation != req.op:
            sub = Request(req.id, req.t0, req.wl, self.operation, req.key, req.user, req.region)
            sub.meta = req.meta
            if req.trace is not None:  # a sampled request stays traced down its call tree
                sub = traced_copy(sub, req.trace)
            req = sub
        dl = self.deadlines
        if dl is None:
            if len(self.links) == 1:
                self.links[0].send(req, reply)
                return
            fan = FanIn(len(self.links), self.need, reply)
            for link in self.links:
                link.send(req, fan.arrive)
            return
        rid = req.id
        if len(self.links) == 1:
            once = dl.wrap(reply)
            once.rid = rid  # which request a timeout fails (its record's cause)
            self.links[0].send(req, once)
            return
        fan = FanIn(len(self.links), self.need, reply)
        for link in self.links:
            once = dl.wrap(fan.arrive)
            once.rid = rid
            link.send(req, once)


class FanIn:
    """Waits for `need` successes out of `total` parallel calls; fails once that is impossible."""

    __slots__ = ("left", "need", "failures_allowed", "reply", "done")

    def __init__(self, total: int, need: int, reply: Reply) -> None:
        self.left = total
        self.need = need
        self.failures_allowed = total - need
        self.reply = reply
        self.done = False

    def arrive(self, outcome: int) -> None:
        if self.done:
            return
        if outcome == OK:
            self.need -= 1
            if self.need == 0:
                self.done = True
                self.reply(OK)
        else:
            self.failures_allowed -= 1
            if self.failures_allowed < 0:
                self.done = True
                self.reply(outcome)


class CallPath:
    """Runs a sequence of steps for one request, then calls `finish(outcome)`."""

    __slots__ = ("env", "steps", "req", "finish", "i")

    def __init__(self, env: Any, steps: list[Step], req: Request, finish: Reply) -> None:
        self.env = env
        self.steps = steps
        self.req = req
        self.finish = finish
        self.i = 0

    def next(self, outcome: int = OK) -> None:
        if outcome != OK:
            self.finish(outcome)
            return
        steps = self.steps
        while self.i < len(steps):
            step = steps[self.i]
            self.i += 1
            if step.probability < 1.0 and step.rng.random() >= step.probability:
                continue
            step.invoke(self.env, self.req, self.next)
            return
        self.finish(OK)


def bind_steps(component: Any, system: Any, steps: list[CallStep], purpose: str) -> list[Step]:
    """Make the links for a list of call steps, from `component` to each target."""
    bound = []
    for i, step in enumerate(steps):
        links = [system.network.link(component, system.get(t)) for t in step.targets()]
        # Resilience hook: each target's call goes through the step's policies (chosen once, here).
        links = [guard(link, step.resilience, f"{component.name}/{purpose}/{i}->{t}", system)
                 for link, t in zip(links, step.targets())]
        rng = component.env.streams.get(f"{component.name}/{purpose}/{i}/probability")
        bound.append(Step(step, links, rng, component.env, f"{component.name}/{purpose}/{i}"))
    return bound
