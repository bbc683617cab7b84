"""The simulated network every call crosses.

A `Link` joins a source (a component or a workload's clients) to a destination component. Links
whose latency is zero both ways and that no fault can touch send by calling the destination
directly: a zero-latency hop schedules nothing. Every other link takes the general path, which is
where faults act: a cut link (partition) or a lost message makes the caller fail after the
network timeout; latency faults add delay.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from simulator.language.config import StrictModel
from simulator.sampling.distributions import DurationDist, Sampler, parse_distribution
from simulator.engine.request import TIMED_OUT, Reply, Request
from simulator.language.units import PositiveDuration


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


def _deliver(timer: Any) -> None:
    reply, outcome = timer._value
    reply(outcome)


class Endpoint:
    """Anything a link can start or end at: a name and a zone."""

    name: str
    zone: str


class Link:
    """One direction of traffic from `src` to `dst`, with the reply path back."""

    __slots__ = (
        "net", "env", "src", "dst", "lat", "back", "cut", "cut_back",
        "extra_s", "extra_back_s", "loss", "loss_rng", "faultable", "send",
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
        self.loss = 0.0  # probability that a message is lost (loss faults)
        self.loss_rng = None
        self.faultable = False
        self.send = self._send_general

    def finalize(self) -> None:
        if self.lat is None and self.back is None and not self.faultable:
            self.send = self.dst.handle
        else:
            self.send = self._send_general

    def _lost(self) -> bool:
        if self.loss <= 0.0:
            return False
        if self.loss_rng is None:
            self.loss_rng = self.env.streams.get(f"net/loss/{self.src.name}->{self.dst.name}")
        return self.loss_rng.random() < self.loss

    def _send_general(self, req: Request, reply: Reply) -> None:
        env = self.env
        if self.cut or self._lost():
            env.call_later(self.net.timeout_s, _deliver, (reply, TIMED_OUT))
            return
        back = _Return(self, reply, env.now)
        delay = (self.lat.next() if self.lat is not None else 0.0) + self.extra_s
        if delay > 0.0:
            env.call_later(delay, self._arrive, (req, back))
        else:
            self.dst.handle(req, back)

    def _arrive(self, timer: Any) -> None:
        req, back = timer._value
        self.dst.handle(req, back)


class _Return:
    """The reply path of one call: crosses the network back to the caller."""

    __slots__ = ("link", "reply", "t_sent")

    def __init__(self, link: Link, reply: Reply, t_sent: float) -> None:
        self.link = link
        self.reply = reply
        self.t_sent = t_sent

    def __call__(self, outcome: int) -> None:
        link = self.link
        env = link.env
        if link.cut_back or link._lost():
            wait = max(0.0, self.t_sent + link.net.timeout_s - env.now)
            env.call_later(wait, _deliver, (self.reply, TIMED_OUT))
            return
        delay = (link.back.next() if link.back is not None else 0.0) + link.extra_back_s
        if delay > 0.0:
            env.call_later(delay, _deliver, (self.reply, outcome))
        else:
            self.reply(outcome)


class Network:
    """Builds links with the configured latencies and gives faults a handle on them."""

    def __init__(self, env: Any, config: NetworkConfig) -> None:
        self.env = env
        self.config = config
        self.timeout_s = config.timeout
        self.links: list[Link] = []
        self._per_pair: dict[str, int] = {}

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
        if dist.name == "constant" and dist.mean == 0.0:
            return None
        return Sampler(dist, self.env.streams.get(stream))

    def link(self, src: Endpoint, dst: Any) -> Link:
        """A new link from `src` to component `dst` (each caller holds its own links)."""
        route = getattr(dst, "route", None)
        if route is not None:  # a name that stands for several places (CDN edges): pick one per source
            dst = route(src)
        fwd = self._latency_dist(src, dst)
        back = self._latency_dist(dst, src)
        # Named by the pair (not a global index) so adding unrelated links draws no other numbers.
        pair = f"{src.name}->{dst.name}"
        self._per_pair[pair] = n = self._per_pair.get(pair, 0) + 1
        tag = f"{pair}#{n}"
        link = Link(self, src, dst, self._sampler(fwd, f"net/{tag}"), self._sampler(back, f"net/{tag}/back"))
        self.links.append(link)
        return link

    def links_between(self, a: set[str], b: set[str]) -> list[Link]:
        """Links whose source is in `a` and destination in `b` (names of endpoints)."""
        return [l for l in self.links if l.src.name in a and l.dst.name in b]

    def finalize(self) -> None:
        for link in self.links:
            link.finalize()
