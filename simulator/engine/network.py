"""The simulated network every call crosses.

A `Link` joins a source (a component or a workload's clients) to a destination component. Links
whose latency is zero both ways and that no fault can touch send by calling the destination
directly: a zero-latency hop schedules nothing. Every other link takes the general path, which is
where faults act: a cut link (partition) or a lost message makes the caller fail after the
network timeout; latency faults add delay.
"""
from __future__ import annotations

from copy import copy
from types import MethodType
from heapq import heappush
from typing import Any, Callable, Hashable

from pydantic import Field

from simulator.language.config import StrictModel
from simulator.sampling.distributions import Constant, DurationDist, Sampler, parse_distribution
from simulator.engine.faultable import Faultable, any_active, independent_chance, total
from simulator.engine.monomorphic import clone
from simulator.engine.request import CAUSE_CUT, CAUSE_LOST, TIMED_OUT, Once, Reply, Request, note_failure
from simulator.language.units import PositiveDuration

_new = object.__new__  # makes a slotted object whose fields the caller sets (no __init__ frame)


class LinkLatencyConfig(StrictModel):
    """Latency between two places; each end is a component, a workload or a zone name."""

    between: tuple[str, str] = Field(description="Two ends: component, workload or zone names.")
    latency: DurationDist = Field(description="One-way latency distribution.")
    one_way: bool = Field(False, description="Apply only from the first to the second end.")


class NetworkConfig(StrictModel):
    default_latency: DurationDist = Field(
        default_factory=lambda: parse_distribution("0s"),
        description="One-way latency of every hop not matched by `links`.",
    )
    timeout: PositiveDuration = Field(
        1.0, description="How long a caller waits before a call lost in the network fails."
    )
    links: list[LinkLatencyConfig] = Field(
        default_factory=list, description="Latency per pair of zones or components."
    )


def _dropped(outcome: int) -> None:
    """The reply to a duplicated message: its caller already has one."""


def _deliver(timer: Any) -> None:
    reply, outcome = timer._value
    reply(outcome)


class Endpoint:
    """Anything a link can start or end at: a name and a zone."""

    name: str
    zone: str


class Link(Faultable):
    """One direction of traffic from `src` to `dst`, with the reply path back.

    Faults act on it through counted contributions (see `faultable`): `cut` and `cut_back` drop
    requests and replies, `extra_s` and `extra_back_s` delay them, `loss` and `loss_back` lose each
    with a probability. A call that reaches a component that is down or paused goes to its
    `unavailable_call` instead of `handle` (refused or held): the one place every component's check lives.
    """

    FAULT_KINDS = {
        "cut": ("cut", any_active), "cut_back": ("cut_back", any_active),
        "latency": ("extra_s", total), "latency_back": ("extra_back_s", total),
        "loss": ("loss", independent_chance), "loss_back": ("loss_back", independent_chance),
        # latency drawn per message: the samplers of the active faults, each adds its own draw
        "jitter": ("jitter", tuple), "jitter_back": ("jitter_back", tuple),
        "duplicate": ("dup", independent_chance),
    }
    __slots__ = (
        "net", "env", "src", "dst", "lat", "back", "cut", "cut_back", "extra_s", "extra_back_s",
        "loss", "loss_back", "loss_rng", "faultable", "send", "_contrib", "sink", "hop",
        "jitter", "jitter_back", "dup", "dup_rng", "arrive",
    )

    def __init__(self, net: "Network", src: Endpoint, dst: Any, lat: Sampler | None,
                 back: Sampler | None) -> None:
        self.net = net
        self.env = net.env
        self.src = src
        self.dst = dst
        self.lat = lat
        self.back = back
        self.cut = False  # requests from src to dst are dropped
        self.cut_back = False  # replies from dst to src are dropped
        self.extra_s = 0.0  # delay added to requests (latency faults)
        self.extra_back_s = 0.0  # delay added to replies
        self.loss = 0.0  # probability that a request is lost (loss faults)
        self.loss_back = 0.0  # probability that a reply is lost
        self.loss_rng = None
        self.jitter: tuple = ()  # samplers of the active latency faults with a distribution
        self.jitter_back: tuple = ()
        self.dup = 0.0  # probability that a request is delivered twice (duplicate faults)
        self.dup_rng = None
        self.faultable = False
        self._contrib = None
        # The replies it carries are the last step of their requests (set by an open-loop workload's
        # clients): nothing happens when one arrives but its recording, so it needs no event.
        self.sink = False
        self.hop: type = _Hop
        self.arrive: Callable[[_Hop], None] = _hop_arrive
        self.send = self._send_general

    def __repr__(self) -> str:
        return f"<Link {self.src.name}->{self.dst.name}>"

    def fault_expect(self, kind: str) -> None:
        super().fault_expect(kind)
        self.faultable = True

    def finalize(self) -> None:
        """Choose the send path once: a hop that nothing can delay, cut, lose or refuse is a plain call;
        one with latency both ways that no link fault can touch is a `_Hop` (no cut or loss check)."""
        if self.faultable:
            self.send = self._send_general
        elif self.lat is None and self.back is None and not self.dst.may_be_unavailable:
            self.send = self.dst.handle
        elif self.lat is not None and self.back is not None:
            lane = self.env.lane_delay
            back_lane = lane is not None and _constant(self.back) == lane
            self.hop = _SinkHop if self.sink else _LaneHop if back_lane else _Hop
            self.arrive = _arrival_for(self.dst, self.hop)
            self.send = MethodType(_SEND_HOP[self.hop, lane is not None and _constant(self.lat) == lane], self)
        else:
            self.send = self._send_general

    def _send_hop(self, req: Request, reply: Reply) -> None:
        hop = _new(self.hop)  # _Hop(self, req, reply), inline: no __init__ frame, once per hop
        hop.fn = self.arrive
        hop.link = self
        hop.req = req
        hop.reply = reply
        env = self.env
        delay = self.lat.next()
        if delay > 0.0:
            heappush(env._queue, (env._now + delay, 1, next(env._eid), hop))
        else:
            self.arrive(hop)

    def _send_hop_lane(self, req: Request, reply: Reply) -> None:
        """`_send_hop` over a link whose latency is the lane's delay (`SimEnv.lane_delay`)."""
        hop = _new(self.hop)
        hop.fn = arrive = self.arrive
        hop.link = self
        hop.req = req
        hop.reply = reply
        env = self.env
        env._lane.append((env._now + env.lane_delay, 1, next(env._eid), hop, arrive))

    def _lost(self, p: float) -> bool:
        if self.loss_rng is None:
            self.loss_rng = self.env.streams.get(f"net/loss/{self.src.name}->{self.dst.name}")
        return self.loss_rng.random() < p

    def _duplicated(self) -> bool:
        if self.dup_rng is None:
            self.dup_rng = self.env.streams.get(f"net/duplicate/{self.src.name}->{self.dst.name}")
        return self.dup_rng.random() < self.dup

    def _send_general(self, req: Request, reply: Reply) -> None:
        env = self.env
        if self.cut or (self.loss and self._lost(self.loss)):
            if self.cut:
                note_failure(env, req, CAUSE_CUT, self.dst.name, self.fault_token("cut"))
            else:
                note_failure(env, req, CAUSE_LOST, self.dst.name, self.fault_token("loss"))
            env.call_later(self.net.timeout_s, _deliver, (reply, TIMED_OUT))
            return
        back = _Return(self, reply, env.now, req)
        delay = (self.lat.next() if self.lat is not None else 0.0) + self.extra_s
        if self.jitter:
            for sampler in self.jitter:
                delay += sampler.next()
        if self.dup and self._duplicated():
            # a second delivery, just after the first, whose reply nobody waits for
            env.call_later(delay, self._arrive, (req, back))
            env.call_later(delay, self._arrive, (copy(req), _dropped))
            return
        if delay > 0.0:
            env.call_later(delay, self._arrive, (req, back))
        else:
            dst = self.dst
            if dst.unavailable:
                dst.unavailable_call(dst, req, back)
            else:
                dst.handle(req, back)

    def _arrive(self, timer: Any) -> None:
        req, back = timer._value
        dst = self.dst
        if dst.unavailable:
            dst.unavailable_call(dst, req, back)
        else:
            dst.handle(req, back)


class _Hop:
    """One call over a link with latency both ways that no link fault can touch: the event of its
    arrival at the destination, then the reply path itself (the destination answers by calling it)
    and the event of the reply's arrival back. One object per round trip instead of a timer, a
    return path and a second timer; the same heap positions, so the same results."""

    __slots__ = ("fn", "_value", "link", "req", "reply")

    def __init__(self, link: Link, req: Request, reply: Reply) -> None:
        self.fn = _hop_arrive
        self.link = link
        self.req = req
        self.reply = reply

    def __call__(self, outcome: int) -> None:
        link = self.link
        delay = link.back.next()
        if delay > 0.0:
            env = link.env
            if self.fn is not _hop_back:  # the usual case: the first reply, carried by this object
                self.fn = _hop_back
                self._value = outcome
                heappush(env._queue, (env._now + delay, 1, next(env._eid), self))
            else:  # answered again (never by the models in this repository): a delivery of its own
                env.call_later(delay, _deliver, (self.reply, outcome))
        else:
            self.reply(outcome)


class _SinkHop(_Hop):
    """A `_Hop` whose reply is the end of its request (see `Link.sink`): the reply's arrival time is
    known when it leaves, so it is recorded then (`reply.land(outcome, at)`: a `ClientRequest`, or
    a `Once` around one) with no event. The reply's event would only have recorded it; skipping it
    leaves every other event in its place (ids are taken in the same order)."""

    __slots__ = ()

    def __call__(self, outcome: int) -> None:
        reply = self.reply
        once = type(reply) is Once
        land = getattr(reply.reply if once else reply, "land", None)
        if land is None:
            _Hop.__call__(self, outcome)  # a reply that cannot be recorded ahead (a test's callback)
            return
        link = self.link
        delay = link.back.next()
        if delay > 0.0 and self.fn is not _hop_back:
            self.fn = _hop_back  # answered: a second reply gets an event of its own, as with `_Hop`
            at = link.env._now + delay
            if not once:
                land(outcome, at)
            elif not reply.done and at < reply.deadline:  # reply.land(outcome, at), inline: once per request
                reply.done = True
                land(outcome, at)
        elif delay > 0.0:
            link.env.call_later(delay, _deliver, (self.reply, outcome))
        else:
            self.reply(outcome)


class _LaneHop(_Hop):
    """A `_Hop` whose reply travels back in the lane (its link's latency back is `SimEnv.lane_delay`)."""

    __slots__ = ()

    def __call__(self, outcome: int) -> None:
        if self.fn is not _hop_back:
            self.fn = _hop_back  # answered (a second reply gets a delivery of its own)
            self.req = None  # the request may be done with; do not keep it alive through the hop
            env = self.link.env
            # The entry calls the reply itself, `reply(outcome)`: what `_hop_back` would do, without its
            # frame; the hop rides along (unused by the loop) so that `step` and `--profile` can name it.
            env._lane.append((env._now + env.lane_delay, 1, next(env._eid), outcome, self.reply, self))
        else:  # answered again: a delivery of its own
            self.link.env.call_later(self.link.env.lane_delay, _deliver, (self.reply, outcome))


def _constant(sampler: Sampler) -> float | None:
    """The value of a sampler of a constant, else None."""
    return sampler.dist.values["value"] if isinstance(sampler.dist, Constant) else None


# `Link._send_hop` (and `_send_hop_lane`) in a copy per class of hop it makes, so that its stores
# into the hop are specialised for one class (see simulator/engine/monomorphic.py).
_SEND_HOP = {(hop, lane): clone(Link._send_hop_lane if lane else Link._send_hop)
             for hop in (_Hop, _SinkHop, _LaneHop) for lane in (False, True)}


def _hop_arrive(hop: _Hop) -> None:
    # The destination answers through the hop's bound `__call__`, not the hop: CPython calls a bound
    # method of a Python function without leaving its eval loop, but an object with `__call__`
    # through a C-level call (type lookup, a new eval loop): making the method costs less than that.
    dst = hop.link.dst
    if dst.unavailable:
        dst.unavailable_call(dst, hop.req, hop.__call__)
    else:
        dst.handle(hop.req, hop.__call__)


# `_hop_arrive` in a copy per class of destination and class of hop (see
# simulator/engine/monomorphic.py): the hop's fields and the destination's `unavailable` and
# `handle` are then looked up on one class at each copy's sites.
_ARRIVALS: dict[tuple[type, type], Callable[[_Hop], None]] = {}


def _arrival_for(dst: Any, hop: type) -> Callable[[_Hop], None]:
    fn = _ARRIVALS.get((type(dst), hop))
    if fn is None:
        fn = _ARRIVALS[type(dst), hop] = clone(_hop_arrive)
    return fn


def _hop_back(hop: _Hop) -> None:
    hop.req = None  # the request may be done with; do not keep it alive through the hop
    reply = hop.reply  # a slot called as `hop.reply(...)` is looked up the slow way (no cache for it)
    reply(hop._value)


class _Return:
    """The reply path of one call: crosses the network back to the caller."""

    __slots__ = ("link", "reply", "t_sent", "req")

    def __init__(self, link: Link, reply: Reply, t_sent: float, req: Request | None = None) -> None:
        self.link = link
        self.reply = reply
        self.t_sent = t_sent
        self.req = req  # for the cause of a reply cut or lost on its way back

    def __call__(self, outcome: int) -> None:
        link = self.link
        env = link.env
        if link.cut_back or (link.loss_back and link._lost(link.loss_back)):
            if self.req is not None:
                if link.cut_back:
                    note_failure(env, self.req, CAUSE_CUT, link.dst.name, link.fault_token("cut_back"))
                else:
                    note_failure(env, self.req, CAUSE_LOST, link.dst.name, link.fault_token("loss_back"))
            wait = max(0.0, self.t_sent + link.net.timeout_s - env.now)
            env.call_later(wait, _deliver, (self.reply, TIMED_OUT))
            return
        delay = (link.back.next() if link.back is not None else 0.0) + link.extra_back_s
        if link.jitter_back:
            for sampler in link.jitter_back:
                delay += sampler.next()
        if delay > 0.0:
            env.call_later(delay, _deliver, (self.reply, outcome))
        else:
            self.reply(outcome)


LinkRule = Callable[[Link], list[tuple[str, Any]]]


class _Rule:
    """A fault's reach on the network: which contributions it makes to which links, and whether its
    window is open. Links made later (a failover's new replication streams) are matched too."""

    __slots__ = ("match", "active", "hits")

    def __init__(self, match: LinkRule) -> None:
        self.match = match
        self.active = False
        self.hits: list[tuple[Link, str, Any]] = []


class Network:
    """Builds links with the configured latencies and gives faults a handle on them."""

    def __init__(self, env: Any, config: NetworkConfig) -> None:
        self.env = env
        self.config = config
        self.timeout_s = config.timeout
        self.links: list[Link] = []
        self._per_pair: dict[str, int] = {}
        self._rules: dict[Hashable, _Rule] = {}
        self._final = False

    def _latency_dist(self, src: Endpoint, dst: Endpoint):
        best, best_rank = self.config.default_latency, -1
        for rule in self.config.links:
            a, b = rule.between
            for x, y in ((a, b),) if rule.one_way else ((a, b), (b, a)):
                rank_src = 2 if x == src.name else 1 if x == src.zone else 0
                rank_dst = 2 if y == dst.name else 1 if y == dst.zone else 0
                if rank_src and rank_dst and rank_src + rank_dst > best_rank:
                    best, best_rank = rule.latency, rank_src + rank_dst
        return best

    def _sampler(self, dist, stream: str) -> Sampler | None:
        if dist.name == "constant":
            # A constant draws nothing: no stream is made for it (building a generator costs more
            # than the rest of a link, and a system of 10,000 servers has tens of thousands of links).
            if dist.mean == 0.0:
                return None
            if isinstance(dist, Constant):
                return Sampler(dist, None)
        return Sampler(dist, self.env.streams.get(stream), own_stream=True)  # one stream per link and way

    def link(self, src: Endpoint, dst: Any) -> Link:
        """A new link from `src` to component `dst` (each caller holds its own links)."""
        dst = dst.route(src)  # a stand-in per caller: a CDN's edge, a client library's proxy
        fwd = self._latency_dist(src, dst)
        back = self._latency_dist(dst, src)
        # Named by the pair (not a global index) so adding unrelated links draws no other numbers.
        pair = f"{src.name}->{dst.name}"
        self._per_pair[pair] = n = self._per_pair.get(pair, 0) + 1
        tag = f"{pair}#{n}"
        link = Link(self, src, dst, self._sampler(fwd, f"net/{tag}"), self._sampler(back, f"net/{tag}/back"))
        self.links.append(link)
        for token, rule in self._rules.items():  # a link made after the faults were prepared
            n_hits = len(rule.hits)
            self._match(rule, link)
            if rule.active:
                for _l, kind, value in rule.hits[n_hits:]:
                    link.fault_add(kind, token, value)
        if self._final:
            link.finalize()
        return link

    def add_rule(self, token: Hashable, match: LinkRule) -> None:
        """Before the run: a fault (named by `token`) acts on the links `match` gives contributions for."""
        rule = self._rules[token] = _Rule(match)
        for link in self.links:
            self._match(rule, link)

    def set_rule(self, token: Hashable, active: bool) -> None:
        """Open (`True`) or close a fault's window on every link it reaches."""
        rule = self._rules[token]
        if rule.active == active:
            return
        rule.active = active
        for link, kind, value in rule.hits:
            if active:
                link.fault_add(kind, token, value)
            else:
                link.fault_remove(kind, token)

    def _match(self, rule: _Rule, link: Link) -> None:
        for kind, value in rule.match(link):
            link.fault_expect(kind)
            rule.hits.append((link, kind, value))

    def finalize(self) -> None:
        # The lane's delay: the constant latency most links that can take it have (those that send
        # `_Hop`s: latency both ways, no fault can reach them), one way or the other
        counts: dict[float, int] = {}
        for link in self.links:
            if link.faultable or link.lat is None or link.back is None:
                continue
            for value in (_constant(link.lat), _constant(link.back)):
                if value is not None and value > 0.0:
                    counts[value] = counts.get(value, 0) + 1
        if counts and self.env.lane_delay is None and self.env.use_lane:
            self.env.lane_delay = max(counts, key=counts.get)
        for link in self.links:
            link.finalize()
        self._final = True
