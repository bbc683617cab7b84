"""Deadline propagation: downstream components learn when the caller gives up.

`propagate_deadline: true` on a call (outermost of its policies, in the place `chain.ORDER` calls
"deadline") sends a private copy of the request that carries the caller's absolute deadline: the
caller's own `timeout` (a workload's or a call step's), or an earlier deadline the request already
carried from further up (the tightest wins). Components pass the copy on to their own calls, so
the deadline reaches every component below, as a gRPC deadline does. What the copy learns
downstream (`meta`: versions read or written) is copied back to the caller's request.

Downstream (`install`, only in runs where some call propagates):
- every queueing component counts **wasted work**: the service time of requests finished after
  their caller had given up (their answer is useless);
- a component with `abandoned_requests: drop` answers `timed_out` at once a request that arrives
  after its deadline, and at the deadline one that is still waiting in its queue, which is then
  never served (work already in service is finished: it cannot be taken back).
"""
from __future__ import annotations

import math
from typing import Any

from simulator.engine.request import CAUSE_DEADLINE, TIMED_OUT, Once, Reply, Request, note_failure
from simulator.language import registry


class Propagated(Request):
    """A copy of a request that carries its caller's deadline (absolute simulated time)."""

    __slots__ = ("deadline",)


class TracedPropagated(Propagated):
    """A `Propagated` copy of a request sampled for tracing: it keeps the trace (so what it reaches is
    traced), and the tracer gives each call span it makes the attributes in `tags` (and lists it in
    `spans`). Made only for a traced request: every other copy is a plain `Propagated`."""

    __slots__ = ("trace", "tags", "spans")


def traced(sub: Any, req: Request, cls: type, tags: dict[str, Any]) -> Any:
    """`sub` (a policy's copy of the traced `req`) as an instance of `cls`, its traced twin: same slots,
    plus `req`'s trace, the call-span attributes `tags` and an empty list of its call spans."""
    twin = object.__new__(cls)
    for klass in type(sub).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if hasattr(sub, slot):
                setattr(twin, slot, getattr(sub, slot))
    twin.trace = req.trace
    twin.tags = {**getattr(req, "tags", {}), **tags}  # a hedge of a propagated copy keeps its deadline's tags
    twin.spans = []
    return twin


def annotate_visit(req: Any, comp: Any, key: str, value: Any) -> None:
    """On a traced request's open visit of `comp` (its latest), set the attribute `key`."""
    visits = req.trace.open.get(id(comp))
    if visits:
        visits[-1].attributes[key] = value


class _CopyBack:
    """The reply of a propagated call: what the copy learned goes back to the caller's request."""

    __slots__ = ("req", "sub", "reply")

    def __init__(self, req: Request, sub: Propagated, reply: Reply) -> None:
        self.req, self.sub, self.reply = req, sub, reply

    @property
    def done(self) -> bool:
        return getattr(self.reply, "done", False) is True

    def __call__(self, outcome: int) -> None:
        self.req.meta = self.sub.meta
        self.reply(outcome)


@registry.call_policies.register("deadline")
class PropagateDeadline:
    """Send a copy of the request carrying the caller's deadline."""

    def __init__(self, cfg: Any, inner: Any, env: Any, label: str) -> None:
        self.inner = inner
        self.reset_stats()

    def reset_stats(self) -> None:
        self.propagated = 0  # calls sent with a deadline

    def send(self, req: Request, reply: Reply) -> None:
        deadline = getattr(reply, "deadline", math.inf)  # the caller's timeout (a `Once`)
        if deadline == math.inf or (isinstance(req, Propagated) and req.deadline <= deadline):
            self.inner(req, reply)  # no deadline of its own, or the request carries a tighter one
            return
        sub = Propagated(req.id, req.t0, req.wl, req.op, req.key, req.user, req.region)
        sub.meta = req.meta
        sub.deadline = deadline
        if req.trace is not None:  # a sampled request: its copy stays traced, its call spans say the deadline
            sub = traced(sub, req, TracedPropagated, {"dsim.deadline_s": deadline})
        self.propagated += 1
        self.inner(sub, _CopyBack(req, sub, reply))

    def stats(self) -> dict[str, Any]:
        return {"propagated": self.propagated}


class _Wasted:
    """A component's `after_service`, counting the work finished after the caller gave up."""

    __slots__ = ("comp", "after_service", "requests", "service_s")

    def __init__(self, comp: Any) -> None:
        self.comp = comp
        self.after_service = comp.after_service
        self.requests = 0
        self.service_s = 0.0

    def __call__(self, req: Request, reply: Reply, t_start: float) -> None:
        if isinstance(req, Propagated):  # a hedged attempt's copy too
            now = self.comp.env._now
            if now > req.deadline:
                self.requests += 1
                self.service_s += now - t_start
        self.after_service(req, reply, t_start)


class _Dropping:
    """A component's `handle` that drops work whose caller gave up (`abandoned_requests: drop`)."""

    __slots__ = ("comp", "handle", "dropped")

    def __init__(self, comp: Any) -> None:
        self.comp = comp
        self.handle = comp.handle
        self.dropped = 0

    def __call__(self, req: Request, reply: Reply) -> None:
        if not isinstance(req, Propagated):
            self.handle(req, reply)
            return
        env = self.comp.env
        left = req.deadline - env._now
        if left <= 0.0:
            self.dropped += 1
            note_failure(env, req, CAUSE_DEADLINE, self.comp.name)
            if req.trace is not None:
                annotate_visit(req, self.comp, "dsim.deadline", "dropped on arrival: its deadline had passed")
            reply(TIMED_OUT)
            return
        # A `Once` is what a station skips in its queue once it is answered (see Station.release).
        once = Once(reply, req.deadline)
        if req.trace is not None:
            visits = req.trace.open.get(id(self.comp))
            env.call_later(left, _TracedExpiry(once, visits[-1] if visits else None).fire)
        else:
            env.call_later(left, once.expire)
        self.handle(req, once)


class _TracedExpiry:
    """A traced request's propagated deadline passing while a component holds it: its visit span
    says so (if it was still unanswered), then the call is answered `timed_out` as for any request."""

    __slots__ = ("once", "span")

    def __init__(self, once: Once, span: Any) -> None:
        self.once, self.span = once, span

    def fire(self, timer: Any) -> None:
        if not self.once.done and self.span is not None:
            self.span.attributes["dsim.deadline"] = "deadline passed while held: answered timed_out (skipped if not yet served)"
        self.once.expire(timer)


def install(system: Any) -> None:
    """Where some call propagates its deadline: count wasted work at every queueing component and
    make `abandoned_requests: drop` components drop it. Before the network freezes the links."""
    system.wasted = {}
    system.dropping = {}
    if not any("deadline" in g.policies for g in system.guarded):
        return
    for name, comp in system.components.items():
        if hasattr(comp, "after_service") and hasattr(comp, "queue"):
            wasted = _Wasted(comp)
            comp.after_service = wasted
            system.wasted[name] = wasted
            if getattr(comp.config, "abandoned_requests", "serve") == "drop":
                dropping = _Dropping(comp)
                comp.handle = dropping
                system.dropping[name] = dropping


def stats_of(system: Any) -> dict[str, Any] | None:
    """Per component, the work done for requests whose caller had given up; None without propagation."""
    if not system.wasted:
        return None
    out = {}
    for name, w in system.wasted.items():
        d = system.dropping.get(name)
        out[name] = {"requests": w.requests, "service_s": w.service_s}
        if d is not None:
            out[name]["dropped_on_arrival"] = d.dropped
    total = sum(w.service_s for w in system.wasted.values())
    return {"service_s": total, "components": out}


def reset_all(system: Any) -> None:
    for w in getattr(system, "wasted", {}).values():
        w.requests, w.service_s = 0, 0.0
    for d in getattr(system, "dropping", {}).values():
        d.dropped = 0
