"""Tracing a run: the wrappers that turn sampled requests into spans (see simulator/engine/trace.py).

Installed by `System` only when the scenario has a `trace:` section (or `dsim run --trace`); a run
without it builds none of this. In a traced run an unsampled request pays one attribute check per
hop (`req.trace is None`) and otherwise runs the same code; sampling draws come from streams of their
own (`trace/<workload>`), so no other random stream moves and the run's figures stay the same.

Where spans come from:
- the **root** span: a workload's entry (in front of its link) samples the request and sends a
  traced copy down the call tree; the recorder's `answer` closes it with the client's outcome;
- a **call** span (kind client) for every message a link carries, from the send to the reply's
  arrival back at the caller, annotated with the faults on the link and on the callee;
- a **visit** span (kind server) for every call a component handles, from arrival to its reply,
  with the queue wait and the service time of a queueing component (`after_service` tells when its
  work started and ended), annotated with the faults on the component.
"""
from __future__ import annotations

import math
from typing import Any

from simulator.engine.request import IN_FLIGHT, Once
from simulator.engine.trace import CLIENT, SERVER, Span, Trace, TraceConfig, traced_copy

_UNWRAP_DEPTH = 6  # reply wrappers between a link and the component (network return, timeouts, policies)


def _find(reply: Any, cls: type) -> Any:
    """The first `cls` in a chain of reply wrappers (each keeps the next in `.reply`), or None."""
    for _ in range(_UNWRAP_DEPTH):
        if type(reply) is cls:
            return reply
        # a wrapper's bound `__call__` stands for it (a hop hands its destination one: network.py)
        reply = getattr(getattr(reply, "__self__", reply), "reply", None)
        if reply is None:
            return None
    return None


class _CallEnd:
    """The reply path of a traced call, at the caller: closes the call span when the reply arrives."""

    __slots__ = ("span", "reply", "tracer")

    def __init__(self, span: Span, reply: Any, tracer: "Tracer") -> None:
        self.span, self.reply, self.tracer = span, reply, tracer

    def __call__(self, outcome: int) -> None:
        self.span.close(outcome, self.tracer.env._now)
        self.reply(outcome)

    def land(self, outcome: int, at: float) -> None:
        """A reply recorded ahead of its arrival (network `_SinkHop`): the span ends at `at`."""
        if at < self.tracer.env.end_s:
            self.span.close(outcome, at)
        inner = self.reply
        if hasattr(inner.reply if type(inner) is Once else inner, "land"):
            inner.land(outcome, at)
        else:
            self.tracer.env.call_later(at - self.tracer.env._now, lambda _t: inner(outcome))


class _VisitEnd:
    """The reply a component gives for a traced call: closes its visit span when it answers."""

    __slots__ = ("span", "reply", "tracer", "visits")

    def __init__(self, span: Span, reply: Any, tracer: "Tracer", visits: list[Span]) -> None:
        self.span, self.reply, self.tracer, self.visits = span, reply, tracer, visits

    def __call__(self, outcome: int) -> None:
        span = self.span
        if span.end_s is None:
            span.close(outcome, self.tracer.env._now)
            if span in self.visits:
                self.visits.remove(span)
        self.reply(outcome)


class Tracer:
    """The traces of one run."""

    def __init__(self, system: Any, config: TraceConfig) -> None:
        self.system = system
        self.env = system.env
        self.config = config
        self.traces: dict[int, Trace] = {}  # request id -> its trace, in the order sampled
        self.sampled = 0

    # --- installation ---------------------------------------------------------------------------
    def install_visits(self) -> None:
        """Before the network freezes its links (a frozen link holds its destination's `handle`)."""
        from models.base import ClientSide
        from models.station import Station

        for comp in self.system.components.values():
            if isinstance(comp, ClientSide):  # a client library: entered through each caller's proxy
                comp.handle_at = self._visit_at(comp, comp.handle_at)
            else:
                comp.handle = self._visit(comp, comp.handle)
            if isinstance(comp, Station):
                comp.after_service = self._serviced(comp.after_service)

    def install_calls(self) -> None:
        """After the network chose each link's send path, before the policies read it."""
        for link in self.system.network.links:
            link.send = self._call(link, link.send)
        for wl in self.system.workloads:
            rng = self.env.streams.get(f"trace/{wl.name}")
            wl.links = {r: _Entry(self, wl, link, rng) for r, link in wl.links.items()}
            wl.link = next(iter(wl.links.values()))
        rec = self.env.recorder
        answer = rec.answer
        traces = self.traces

        def traced_answer(rid: int, end_s: float, outcome: int) -> None:
            tr = traces.get(rid)
            if tr is not None:
                tr.root.close(outcome, end_s)
            answer(rid, end_s, outcome)
        rec.answer = traced_answer
        rec.inline_answers = False  # every answer goes through `traced_answer`

    # --- wrappers -------------------------------------------------------------------------------
    def faults_of(self, *targets: Any) -> tuple[str, ...]:
        """Descriptions of the faults contributing to any of `targets` now (components, links)."""
        tokens: list[Any] = []
        for target in targets:
            contrib = getattr(target, "_contrib", None)
            if contrib:
                for active in contrib.values():
                    tokens.extend(t for t in active if t not in tokens)
        faults = self.system.faults
        return tuple(faults[t].describe() if isinstance(t, int) and 0 <= t < len(faults) else str(t)
                     for t in sorted(tokens, key=str))

    def _open_visit(self, endpoint: Any, comp: Any, req: Any, reply: Any) -> Any:
        tr = req.trace
        call = _find(reply, _CallEnd)
        parent = call.span if call is not None and call.span.trace is tr else tr.root
        span = Span(tr, parent, f"{comp.name} {req.op}", SERVER, comp.name, req.op, self.env._now,
                    self.faults_of(comp))
        span.attributes["dsim.component.type"] = getattr(comp, "type_name", type(comp).__name__)
        visits = tr.open.setdefault(id(endpoint), [])
        visits.append(span)
        if type(reply) is Once:  # keep the `Once` outermost: a station skips work whose caller gave up
            reply.reply = _VisitEnd(span, reply.reply, self, visits)
            return reply
        return _VisitEnd(span, reply, self, visits)

    def _visit(self, comp: Any, handle: Any) -> Any:
        def traced_handle(req: Any, reply: Any) -> None:
            if req.trace is None:
                handle(req, reply)
            else:
                handle(req, self._open_visit(comp, comp, req, reply))
        return traced_handle

    def _visit_at(self, comp: Any, handle_at: Any) -> Any:
        def traced_handle_at(entry: Any, req: Any, reply: Any) -> None:
            if req.trace is None:
                handle_at(entry, req, reply)
            else:
                handle_at(entry, req, self._open_visit(entry, comp, req, reply))
        return traced_handle_at

    def _serviced(self, after_service: Any) -> Any:
        env = self.env

        def traced_after_service(req: Any, reply: Any, t_start: float) -> None:
            if req.trace is not None:
                end = _find(reply, _VisitEnd)
                if end is not None:
                    end.span.service = (t_start, env._now)
            after_service(req, reply, t_start)
        return traced_after_service

    def _call(self, link: Any, send: Any) -> Any:
        env = self.env
        src, dst = link.src, link.dst
        owner = getattr(dst, "owner", dst)  # a client library's proxy is down when its store is
        name = f"call {owner.name}"

        def traced_send(req: Any, reply: Any) -> None:
            tr = req.trace
            if tr is None:
                send(req, reply)
                return
            span = Span(tr, tr.parent_at(src), name, CLIENT, src.name, req.op, env._now,
                        self.faults_of(link, owner))
            span.attributes["peer.service"] = owner.name
            tags = getattr(req, "tags", None)  # a policy's traced copy (a hedge's attempt, a propagated deadline)
            if tags is not None:
                span.attributes.update(tags)
                req.spans.append(span)
            send(req, _CallEnd(span, reply, self))
        return traced_send

    # --- after the run --------------------------------------------------------------------------
    def spans(self, end_s: float) -> list[dict[str, Any]]:
        """Every span as plain data, trace by trace; spans still open at the end close there as in flight."""
        out = []
        for tr in self.traces.values():
            for span in tr.spans:
                if span.end_s is None:
                    span.end_s, span.outcome = end_s, IN_FLIGHT
                out.append(span.as_dict())
        return out


class _Entry:
    """In front of a workload's link: samples each request at its start and sends a sampled one as a
    traced copy (the client keeps the original as its reply, which the recorder closes)."""

    __slots__ = ("tracer", "wl", "inner", "rng", "p")

    def __init__(self, tracer: Tracer, wl: Any, inner: Any, rng: Any) -> None:
        self.tracer, self.wl, self.inner, self.rng = tracer, wl, inner, rng
        self.p = tracer.config.sample

    def send(self, req: Any, reply: Any) -> None:
        tracer = self.tracer
        # One draw per request, whatever happens: the stream's position is the request's number.
        if self.rng.random() < self.p and tracer.sampled < tracer.config.max_requests:
            tracer.sampled += 1
            tr = Trace(tracer.env.seed, req.id, self.wl.name)
            tr.root = Span(tr, None, f"{self.wl.name} {req.op}", CLIENT, self.wl.name, req.op, req.t0)
            tr.root.attributes["dsim.request.id"] = req.id
            tracer.traces[req.id] = tr
            req = traced_copy(req, tr)
        self.inner.send(req, reply)


def install(system: Any) -> Tracer | None:
    """The run's tracer, its visit wrappers in place, or None when the scenario traces nothing."""
    config = getattr(system.scenario, "trace", None)
    if config is None or config.sample <= 0.0 or math.isnan(config.sample):
        return None
    tracer = Tracer(system, config)
    tracer.install_visits()
    return tracer
