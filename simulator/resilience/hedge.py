"""Hedged requests ("The Tail at Scale", Dean and Barroso 2013): if a call has no answer after a
delay, send another attempt; the first `ok` answer wins.

Each attempt is a private copy of the request (`Hedged`, or `HedgedPropagated` when it carries a
propagated deadline), so the attempts can be told apart downstream. The delay is fixed (`after:
50ms`) or a percentile of this call site's observed response times (`after: p95`): the nearest-rank
percentile of the last `WINDOW` successful calls, recomputed every `REFRESH` observations; no hedge
is sent before `min_samples` calls have succeeded (the warm-up). Extra attempt k (k = 1 ..
`max_extra`) is sent k delays after the first unless an attempt has succeeded or the caller has
given up; a failed attempt sends the next extra attempt at once (as gRPC's hedging does with a
non-fatal status). The call fails only when every attempt sent has failed and no extra attempt is
left; its outcome is then the last failure's.

Losers (attempts still out when one succeeds), with `cancel_losers: true`: an attempt still waiting
in the queue of the call's target (a queueing component: server, database, cache...), or of a load
balancer's backends when the target is a load balancer, is answered `rejected` at once, through the
network, and never served; one that has not yet reached it is answered `rejected` on arrival; one
in service finishes (it cannot be taken back). Deeper down (a server's own calls) a loser is not
reached and runs to completion.
The service time of every loser that was served anyway (finished after the call was answered), at
any queueing component its request reaches (not a cache's or store's own sub-requests), is the
hedge's **wasted work** (`wasted_service_s`).
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any

from simulator.engine.request import OK, OUTCOME_NAMES, REJECTED, Once, Reply, Request
from simulator.language import registry

from .deadline import Propagated, annotate_visit, traced

WINDOW = 1000  # successful calls the percentile is taken over (the most recent)
REFRESH = 100  # observations between two recomputations of the percentile


class Hedged(Request):
    """One attempt of a hedged call: a copy of the caller's request."""

    __slots__ = ("hedge", "lost", "once")


class HedgedPropagated(Propagated):
    """One attempt of a hedged call whose request carries a propagated deadline."""

    __slots__ = ("hedge", "lost", "once")


class TracedHedged(Hedged):
    """An attempt of a traced request (see `deadline.TracedPropagated`): its call spans say which
    attempt it is and, once the call is decided, whether it won, lost or was cancelled."""

    __slots__ = ("trace", "tags", "spans")


class TracedHedgedPropagated(HedgedPropagated):
    __slots__ = ("trace", "tags", "spans")


HEDGED = (Hedged, HedgedPropagated, TracedHedged, TracedHedgedPropagated)
_TRACED = {Hedged: TracedHedged, HedgedPropagated: TracedHedgedPropagated}


def _copy(req: Request, hedge: "Hedge", n: int) -> Any:
    if isinstance(req, Propagated):
        sub: Any = HedgedPropagated(req.id, req.t0, req.wl, req.op, req.key, req.user, req.region)
        sub.deadline = req.deadline
    else:
        sub = Hedged(req.id, req.t0, req.wl, req.op, req.key, req.user, req.region)
    sub.meta = req.meta
    sub.hedge, sub.lost, sub.once = hedge, False, None
    if req.trace is not None:  # a sampled request: each attempt is traced, as its own call spans
        sub = traced(sub, req, _TRACED[type(sub)], {"dsim.hedge.attempt": n, "dsim.hedge": "hedge" if n > 1 else "first"})
    return sub


def _result(sub: Any, result: str) -> None:
    """A traced attempt's call spans learn how its call ended for it (`won`, `lost`, `cancelled`)."""
    for span in sub.spans:
        span.attributes["dsim.hedge.result"] = result


class _Call:
    """One hedged call: its attempts and whether it is decided."""

    __slots__ = ("req", "reply", "t0", "attempts", "sent", "out", "decided")

    def __init__(self, req: Request, reply: Reply, t0: float) -> None:
        self.req, self.reply, self.t0 = req, reply, t0
        self.attempts: list[Any] = []
        self.sent = 0
        self.out = 0  # attempts sent and not answered
        self.decided = False


class _Attempt:
    """The reply of one attempt."""

    __slots__ = ("policy", "call", "sub", "n")

    def __init__(self, policy: "Hedge", call: _Call, sub: Any, n: int) -> None:
        self.policy, self.call, self.sub, self.n = policy, call, sub, n

    @property
    def done(self) -> bool:  # read by inner policies (a retry): nobody waits for this attempt any more
        call = self.call
        return call.decided or getattr(call.reply, "done", False) is True

    @property
    def reply(self) -> Reply:  # the caller's reply (a load balancer finds its call through it)
        return self.call.reply

    def __call__(self, outcome: int) -> None:
        self.policy._answered(self, outcome)


def _gave_up(reply: Any) -> bool:
    return getattr(reply, "done", False) is True


@registry.call_policies.register("hedge")
class Hedge:
    """Extra attempts after a delay; the first ok answer wins; losers cancelled or left to run."""

    def __init__(self, cfg: Any, inner: Any, env: Any, label: str) -> None:
        self.cfg = cfg
        self.inner = inner
        self.env = env
        self.label = label
        self.max_extra = cfg.max_extra
        self.cancel = cfg.cancel_losers
        self.q = cfg.percentile
        self.fixed = None if self.q is not None else float(cfg.after)
        self.latencies: deque = deque(maxlen=WINDOW)
        self.observed = 0  # successful calls observed in all (the warm-up counts them)
        self.estimate: float | None = self.fixed
        self.reset_stats()

    def reset_stats(self) -> None:
        self.calls = 0
        self.attempts = 0
        self.hedges = 0  # extra attempts sent
        self.won_by_extra = 0  # calls answered ok by an extra attempt
        self.cancelled = 0  # losers cancelled before they were served
        self.wasted_s = 0.0  # service time of losers served anyway (see `install`)
        self.wasted_requests = 0
        self.outcomes = [0] * len(OUTCOME_NAMES)  # the calls' outcomes

    # --- the delay -------------------------------------------------------------------------------
    def _observe(self, latency: float) -> None:
        self.latencies.append(latency)
        self.observed += 1
        if self.observed >= self.cfg.min_samples and (self.estimate is None or self.observed % REFRESH == 0):
            xs = sorted(self.latencies)
            # Nearest rank: the smallest value with at least q% of the window at or below it.
            k = max(1, math.ceil(self.q / 100.0 * len(xs)))
            self.estimate = xs[k - 1]

    # --- the call --------------------------------------------------------------------------------
    def send(self, req: Request, reply: Reply) -> None:
        self.calls += 1
        call = _Call(req, reply, self.env._now)
        self._attempt(call)
        delay = self.estimate
        if delay is not None:
            self.env.call_later(delay, self._due, call)

    def _attempt(self, call: _Call) -> None:
        sub = _copy(call.req, self, call.sent + 1)
        call.attempts.append(sub)
        call.sent += 1
        call.out += 1
        self.attempts += 1
        self.inner(sub, _Attempt(self, call, sub, call.sent))

    def _due(self, timer: Any) -> None:
        call = timer._value
        if call.decided or _gave_up(call.reply) or call.sent > self.max_extra:
            return
        self._hedge(call)
        if call.sent <= self.max_extra:
            self.env.call_later(self.estimate, self._due, call)

    def _hedge(self, call: _Call) -> None:
        self.hedges += 1
        self._attempt(call)

    def _answered(self, att: _Attempt, outcome: int) -> None:
        call = att.call
        call.out -= 1
        if call.decided:
            return  # a loser's answer
        if outcome == OK:
            call.decided = True
            if att.n > 1:
                self.won_by_extra += 1
            if self.q is not None:
                self._observe(self.env._now - call.t0)
            call.req.meta = att.sub.meta
            if call.req.trace is not None:
                _result(att.sub, "won")
            for sub in call.attempts:
                if sub is not att.sub:
                    self._lose(sub)
            self.outcomes[OK] += 1
            call.reply(OK)
            return
        if call.sent <= self.max_extra and not _gave_up(call.reply):
            self._hedge(call)  # a failed attempt: the next one at once
            return
        if call.out == 0:
            call.decided = True
            self.outcomes[outcome] += 1
            call.reply(outcome)

    def _lose(self, sub: Any) -> None:
        sub.lost = True
        if sub.trace is not None:
            _result(sub, "lost")  # left to run (or already answered); cancelled below if it is
        if not self.cancel:
            return
        once = sub.once
        if once is not None and not once.done:
            self.cancelled += 1
            if sub.trace is not None:
                _result(sub, "cancelled")
            once(REJECTED)  # skipped in the target's queue; if in service it finishes, its answer is dropped

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calls": self.calls,
            "attempts": self.attempts,
            "hedges": self.hedges,
            "attempts_per_call": self.attempts / self.calls if self.calls else None,
            "won_by_extra": self.won_by_extra,
            "cancelled": self.cancelled,
            "wasted_requests": self.wasted_requests,
            "wasted_service_s": self.wasted_s,
            "call_outcomes": {n: c for n, c in zip(OUTCOME_NAMES, self.outcomes) if c},
        }
        if self.q is not None:
            out["delay_s"] = self.estimate  # None while warming up
            out["observed"] = self.observed
        return out


class _Served:
    """A queueing component's `after_service`: a hedged call's loser served anyway is wasted work."""

    __slots__ = ("comp", "after_service")

    def __init__(self, comp: Any) -> None:
        self.comp = comp
        self.after_service = comp.after_service

    def __call__(self, req: Request, reply: Reply, t_start: float) -> None:
        if type(req) in HEDGED and req.lost:
            hedge = req.hedge
            hedge.wasted_requests += 1
            hedge.wasted_s += self.comp.env._now - t_start
        self.after_service(req, reply, t_start)


class _Cancellable:
    """The `handle` of a hedged call's target: a loser that arrives is refused; a waiting one can
    be cancelled (a `Once`, which a station skips in its queue once answered)."""

    __slots__ = ("handle", "comp")

    def __init__(self, handle: Any, comp: Any = None) -> None:
        self.handle = handle
        self.comp = comp  # (whose visit span a traced loser's cancellation annotates)

    def __call__(self, req: Request, reply: Reply) -> None:
        if type(req) not in HEDGED or not req.hedge.cancel or req.once is not None:
            self.handle(req, reply)  # not an attempt, or already past its first queueing component
            return
        if req.lost:
            req.hedge.cancelled += 1
            if req.trace is not None:
                _result(req, "cancelled")
                annotate_visit(req, self.comp, "dsim.hedge.result", "cancelled")
            reply(REJECTED)
            return
        once = Once(reply)
        req.once = once
        self.handle(req, once)


def install(system: Any) -> None:
    """Where some call hedges: count losers' service at every queueing component, and make the
    targets of `cancel_losers` hedges cancellable. Before the network freezes the links."""
    hedged = [g for g in system.guarded if "hedge" in g.policies]
    if not hedged:
        return
    for comp in system.components.values():
        if hasattr(comp, "after_service") and hasattr(comp, "queue"):
            comp.after_service = _Served(comp)
    done: set[int] = set()
    for g in hedged:
        if not g.policies["hedge"].cancel:
            continue
        dst = g.link.dst
        # The target, or a load balancer's backends (a cancelled loser's answer then goes back through
        # the balancer, which counts it as answered).
        for comp in [dst] if hasattr(dst, "queue") else getattr(dst, "backends", []):
            if hasattr(comp, "queue") and id(comp) not in done:
                done.add(id(comp))
                comp.handle = _Cancellable(comp.handle, comp)
