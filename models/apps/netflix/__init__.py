"""Video streaming (Netflix-like): players with a buffer and an adaptive-bitrate algorithm fetch a
title's chunks from the CDN edge of their region, over a bandwidth that varies.

What is simulated (docs/apps/netflix.md has every key, metric and formula):
- viewers come and go (a session, then an absence, both drawn); at the start of a session the
  player calls the recommendation service (on failure: a title from the trending row), then picks a
  title from a Zipf-popular catalogue (title lengths drawn once per title);
- a title is cut into chunks of `chunk` seconds, each encoded at every bitrate of the `ladder_mbps`;
  a chunk is a CDN object of bitrate x chunk / 8 bytes (its own key per title, chunk and bitrate);
- per chunk: the ABR algorithm picks the bitrate; the request crosses the network to the region's
  edge (a miss goes on to the origin): that round trip is the time to first byte; then the bytes
  arrive at the player's bandwidth (its own process, times any regional `bandwidth_drop`);
- the buffer fills by a chunk per download, is capped (the player waits for room) and drains in
  real time while playing; playback starts when it holds `startup_buffer`, stalls when it is empty
  (a rebuffer) and resumes when it holds `resume_buffer` again;
- a failed chunk request (edge down, timeout) fails over: the next edge by latency, then the origin;
  after `return_after` on a fallback the player tries its own edge again; a player that gets no
  chunk for `give_up_after` abandons the session;
- the playback position is written to a Redis-like store every `position_interval`.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator
from simpy.events import Event

from models.apps.behaviour import AppConfig, Application, distribution
from simulator.engine.request import OK
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.errors import ScenarioError
from simulator.language.units import Duration, PositiveDuration
from simulator.sampling.distributions import DurationDist

from .abr import AbrSpec, abr_algorithms  # noqa: F401  (registers the algorithms)
from models.apps.metrics import prefer_higher
from .bandwidth import BandwidthDropFault, BandwidthSpec, bandwidth_models, region_factors  # noqa: F401

prefer_higher("qoe_score", "mean_bitrate_mbps", "edge_hit_ratio")

STARTING, PLAYING, STALLED = 0, 1, 2
# A chunk's CDN key: title, chunk index and rung packed in one int (cheap to hash, one per object).
_CHUNKS_PER_TITLE = 1 << 20
_RUNGS = 16


class QoeWeights(StrictModel):
    """Weights of the linear QoE of Yin et al. (SIGCOMM 2015), as used by Pensieve (bitrates in Mbps)."""

    switch: float = Field(1.0, ge=0, le=1e6, description="Penalty per Mbps of bitrate change between chunks.")
    rebuffer_per_s: float = Field(4.3, ge=0, le=1e6, description="Penalty per second of rebuffering.")
    startup_per_s: float = Field(4.3, ge=0, le=1e6, description="Penalty per second of startup delay.")


class NetflixConfig(AppConfig):
    type: Literal["netflix"] = "netflix"
    viewers: PositiveInt = Field(300, le=1_000_000,
                                 description="Viewers simulated (each alternates sessions and absences).")
    regions: dict[str, float] = Field(default_factory=lambda: {"default": 1.0},
                                      description="Share of viewers per region (a region is a network zone).")
    ramp_up: Duration = Field(60.0, description="Viewers watching at the start (their long-run "
                                               "share) begin uniformly over this span; the others after an absence.")
    absence: DurationDist = distribution("exponential(mean=10min)", "Time between two sessions of a viewer.")
    watch_time: DurationDist = distribution("lognormal(median=20min, p99=2h)",
                                            "How much of a title a session watches (at most the title).")
    titles: PositiveInt = Field(1000, le=10_000_000, description="Titles in the catalogue.")
    popularity: float = Field(0.9, ge=0, le=10, description="Zipf exponent of the titles' popularity.")
    title_length: DurationDist = distribution("uniform(min=20min, max=2h)", "A title's length (drawn once per title).")
    trending: PositiveInt = Field(20, description="Titles on the trending row (chosen from when recommendations fail).")
    chunk: PositiveDuration = Field(10.0, description="Seconds of video per chunk (the guide: 10 s).")
    ladder_mbps: list[PositiveFloat] = Field(default_factory=lambda: [25.0, 8.0, 5.0, 2.5, 1.0], min_length=1,
                                             max_length=_RUNGS, description="The bitrate ladder (Mbps).")
    buffer_cap: PositiveDuration = Field(240.0, description="Most seconds of video a player holds.")
    startup_buffer: PositiveDuration = Field(10.0, description="Seconds buffered before playback starts.")
    resume_buffer: PositiveDuration = Field(10.0, description="Seconds buffered before playback resumes after a stall.")
    abr: AbrSpec = Field(default_factory=lambda: abr_algorithms.get("bba")(),
                         description="The adaptive-bitrate algorithm: fixed, throughput, bba or bola, with "
                         "its keys (docs/apps/netflix.md).")
    bandwidth: BandwidthSpec = Field(default_factory=lambda: bandwidth_models.get("constant")(),
                                     description="Each player's bandwidth process: constant, markov or trace, "
                                     "with its keys (docs/apps/netflix.md).")
    cdn: str = Field(description="The CDN (type cdn) whose edges serve the chunks.")
    origin: str = Field(description="The origin players fall back to when no edge answers.")
    recommendations: str | None = Field(None, description="Service called at the start of a session (optional).")
    positions: str | None = Field(None, description="Redis-like store the playback position is written to (optional).")
    position_interval: PositiveDuration = Field(10.0, description="How often a playing session writes its position.")
    chunk_timeout: PositiveDuration = Field(2.0, description="How long a player waits for a chunk's first byte.")
    return_after: PositiveDuration = Field(30.0, description="Time on a fallback before trying the own edge again.")
    give_up_after: PositiveDuration = Field(30.0, description="A session with no chunk for this long is abandoned.")
    qoe: QoeWeights = Field(default_factory=QoeWeights, description="Weights of the QoE score.")
    edge_server_gbps: PositiveFloat = Field(100.0, description="Egress of one edge server, for the extrapolation.")

    @field_validator("regions")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("give at least one region with its share of viewers")
        if any(not (isinstance(x, (int, float)) and x >= 0) for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError("region shares must be numbers >= 0, not all 0")
        return v

    @field_validator("ladder_mbps")
    @classmethod
    def _ladder(cls, v: list[float]) -> list[float]:
        if len(set(v)) != len(v):
            raise ValueError("a bitrate is listed twice")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "NetflixConfig":
        if self.startup_buffer > self.buffer_cap or self.resume_buffer > self.buffer_cap:
            raise ValueError("startup_buffer and resume_buffer must fit in buffer_cap")
        if self.chunk > self.buffer_cap:
            raise ValueError(f"buffer_cap ({self.buffer_cap:g}s) must hold at least one chunk ({self.chunk:g}s)")
        if self.trending > self.titles:
            raise ValueError(f"trending ({self.trending}) cannot exceed titles ({self.titles})")
        problem = self.abr.check(self.ladder_mbps, self.buffer_cap)
        if problem:
            raise ValueError(problem)
        return self

    def refs(self):
        out = [(("cdn",), self.cdn), (("origin",), self.origin)]
        if self.recommendations:
            out.append((("recommendations",), self.recommendations))
        if self.positions:
            out.append((("positions",), self.positions))
        return out

    @property
    def region_names(self) -> list[str]:
        return list(self.regions)

    def zones(self) -> list[str]:
        return [self.zone, *self.regions]  # the players of each region sit in the zone of that name


class _Viewers:
    """The link end of a region's players: the application's name, in the region's zone (so the
    network's latencies per zone apply and a fault naming the application or the zone reaches it)."""

    __slots__ = ("name", "zone")

    def __init__(self, name: str, zone: str) -> None:
        self.name, self.zone = name, zone


class Play:
    """One session's player: buffer, state, and what the QoE is computed from."""

    __slots__ = ("viewer", "region", "bw", "buffer", "t_ref", "state", "rung", "samples", "ep", "ep_since",
                 "played", "stall_s", "stalls", "startup_s", "q_sum", "q_switch", "switches", "chunks", "t0",
                 "active")

    def __init__(self, viewer: int, region: int, bw: Any, now: float) -> None:
        self.viewer, self.region, self.bw = viewer, region, bw
        self.buffer = 0.0  # seconds of video held, as of t_ref
        self.t_ref = now
        self.state = STARTING
        self.rung = -1
        self.samples: list[float] = []  # measured throughput of recent chunks (bps)
        self.ep = 0  # which of the region's endpoints (own edge first) it fetches from
        self.ep_since = now
        self.played = self.stall_s = self.startup_s = self.q_sum = self.q_switch = 0.0
        self.stalls = self.switches = self.chunks = 0
        self.t0 = now
        self.active = True

    def level(self, now: float) -> float:
        """Seconds of video in the buffer now."""
        return max(0.0, self.buffer - (now - self.t_ref)) if self.state == PLAYING else self.buffer

    def stalled(self, now: float) -> bool:
        return self.state == STALLED or (self.state == PLAYING and now - self.t_ref > self.buffer)


@registry.components.register("netflix")
class Netflix(Application):
    """Video streaming: players with a buffer and an ABR algorithm fetch chunks from CDN edges."""

    Config = NetflixConfig
    type_name = "netflix"
    FAULT_KINDS = {**Application.FAULT_KINDS, "bandwidth": ("bw_drops", tuple)}

    def __init__(self, env: Any, name: str, config: NetflixConfig) -> None:
        super().__init__(env, name, config)
        self.bw_drops: tuple = ()
        names = config.region_names
        self.factor = [1.0] * len(names)  # bandwidth multiplier per region (bandwidth_drop faults)
        self.changed: list[Event | None] = [None] * len(names)  # woken when a region's factor changes
        ladder = sorted(config.ladder_mbps)
        self.ladder_bps = [x * 1e6 for x in ladder]
        self.ladder_mbps = ladder
        self.abr = config.abr.make(self.ladder_bps, config.chunk, config.buffer_cap)
        self.plays: dict[int, Play] = {}
        self.direct_origin_bytes = 0.0
        self.t_measure = 0.0  # when the measured window began (the end of the warm-up)
        self._last_failure = OK

    # --- build ------------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        cfg = self.config
        cdn = system.get(cfg.cdn)
        if cdn.type_name != "cdn":
            raise ScenarioError(f"'{cfg.cdn}' is a {cdn.type_name}, not a cdn", path=("components", self.name, "cdn"))
        self.cdn = cdn
        self.edges = [system.get(f"{cdn.name}.{r}") for r in cdn.config.regions]
        self.sizes = cdn.sizes  # a chunk's size is known to the CDN (its Content-Length): bitrate x chunk
        net = system.network
        self.ends = [_Viewers(self.name, r) for r in cfg.region_names]
        # Each region's endpoints in the order a player tries them: its own edge (or the nearest),
        # the other edges by latency, then the origin.
        self.endpoints: list[list[Any]] = []
        self.endpoint_names: list[list[str]] = []
        for end in self.ends:
            own = [e for e in self.edges if e.zone == end.zone]
            rest = sorted((e for e in self.edges if e not in own), key=lambda e: net._latency_dist(end, e).mean)
            order = own + rest + [system.get(cfg.origin)]
            self.endpoints.append([self.caller(system, c, src=end, op="chunk") for c in order])
            self.endpoint_names.append([c.name for c in order])
        self.recs = [self.caller(system, cfg.recommendations, src=e, op="recommend") for e in self.ends] \
            if cfg.recommendations else None
        self.pos = [self.caller(system, cfg.positions, src=e, op="write") for e in self.ends] \
            if cfg.positions else None
        self._declare_metrics()

    def _declare_metrics(self) -> None:
        m = self.metrics
        self.startup = m.observe("startup_s", "from pressing play to the first frame")
        self.recommend_s = m.observe("recommendation_s", "the recommendation call at the start of a session")
        self.qoe_obs = m.observe("qoe", "QoE per chunk of each session (see docs/apps/netflix.md)", unit="score")
        self.sessions = m.counter("sessions", "sessions ended (watched to the end)")
        self.abandoned = m.counter("abandoned", "sessions abandoned (no chunk for give_up_after)")
        self.rebuffers = m.counter("rebuffers", "stalls: the buffer ran dry while playing")
        self.switches = m.counter("bitrate_switches", "chunks at a different bitrate than the one before")
        self.chunk_failures = m.counter("chunk_failures", "chunk requests that failed (down, timed out)")
        self.failovers = m.counter("failovers", "players moving to another edge or the origin")
        self.origin_direct = m.counter("origin_chunks", "chunks fetched from the origin directly (failover)")
        self.recs_failed = m.counter("recommendation_failures", "sessions that fell back to the trending row")
        self.positions_failed = m.counter("position_writes_failed", "playback-position writes that failed")
        self.tot = {"played": 0.0, "stall": 0.0, "bits": 0.0, "content": 0.0}
        names = self.config.region_names
        m.gauge("watching", lambda: len(self.plays), "sessions in progress", "sessions")
        m.gauge("rebuffering", self._rebuffering_now, "players stalled right now", "players")
        m.gauge("buffer_mean_s", self._buffer_now, "mean buffer level of the players", "s")
        self._egress_seen = (0.0, 0.0, 0.0)  # (time, origin bytes, rate) at the last reading
        m.gauge("origin_egress_mbps", self._origin_rate, "bytes leaving the origin, per second", "Mbps")
        m.gauges("stalled_share_by_region", names, self._stalled_by_region, "share of a region's players stalled",
                 "ratio")
        m.gauges("bitrate_by_region_mbps", names, self._bitrate_by_region, "mean bitrate asked for, per region", "Mbps")
        m.value("rebuffer_ratio", lambda: _ratio(self.tot["stall"], self.tot["stall"] + self.tot["played"]),
                "stalled time / (stalled + played time) in the window (ratio)")
        m.value("rebuffers_per_hour", lambda: _ratio(self.rebuffers.n, self.tot["played"] / 3600.0),
                "stalls per hour of video played")
        m.value("mean_bitrate_mbps", lambda: _ratio(self.tot["bits"], self.tot["content"] * 1e6),
                "mean bitrate of the chunks fetched, weighted by their seconds (Mbps)")
        m.value("switches_per_hour", lambda: _ratio(self.switches.n, self.tot["content"] / 3600.0),
                "bitrate switches per hour of video fetched")
        m.value("qoe_score", lambda: _mean(self.qoe_obs.values), "mean QoE per chunk over the sessions")
        m.value("startup_mean_s", lambda: _mean(self.startup.values), "mean startup time (s)")
        m.value("edge_hit_ratio", self._hit_ratio, "chunk requests the edges answered from cache (ratio)")
        m.value("origin_egress_gb", lambda: self._origin_bytes() / 1e9,
                "GB sent by the origin: edge misses plus chunks fetched from it directly")

    # --- faults -------------------------------------------------------------------------------------
    def fault_changed(self, kind: str, before: Any, after: Any) -> None:
        if kind != "bandwidth":
            super().fault_changed(kind, before, after)
            return
        names = self.config.region_names
        factors = region_factors(list(after), names)
        for i, r in enumerate(names):
            if factors[r] != self.factor[i]:
                self.factor[i] = factors[r]
                ev, self.changed[i] = self.changed[i], None
                if ev is not None:  # downloads in progress go on at the new rate from now
                    ev.succeed()

    # --- actors -----------------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        rng = self.stream("titles")
        ranks = np.arange(1, cfg.titles + 1, dtype=float)
        weights = ranks ** -cfg.popularity
        self.title_cdf = np.cumsum(weights) / weights.sum()
        self.title_rng = rng
        length = self.sampler("title_length", cfg.title_length)
        self.title_chunks = [max(1, math.ceil(length() / cfg.chunk)) for _ in range(cfg.titles)]
        self.absence = self.sampler("absence", cfg.absence)
        self.watch = self.sampler("watch_time", cfg.watch_time)
        self.new_bw = cfg.bandwidth.factory(self.stream("bandwidth"))
        shares = np.asarray(list(cfg.regions.values()), dtype=float)
        region_rng = self.stream("regions")
        regions = region_rng.choice(len(shares), size=cfg.viewers, p=shares / shares.sum())
        # Start near the steady state: a viewer is watching at time 0 with the long-run chance
        # E[watch] / (E[watch] + E[absence]) (those start over `ramp_up`); the others are away and
        # come after an absence (memoryless for the default exponential absence).
        watching = cfg.watch_time.mean / (cfg.watch_time.mean + cfg.absence.mean)
        ramp = self.stream("ramp")
        for v in range(cfg.viewers):
            u, w = float(ramp.random()), float(ramp.random())
            first = u * cfg.ramp_up if w < watching else cfg.ramp_up + self.absence()
            self.spawn(self.viewer(v, int(regions[v]), first))

    def viewer(self, v: int, region: int, first_s: float):
        bw = self.new_bw(self.now)  # a viewer's line keeps its process across sessions
        yield self.sleep(first_s)
        while True:
            yield from self.session(v, region, bw)
            yield self.sleep(self.absence())

    def pick_title(self, top: int | None = None) -> int:
        u = float(self.title_rng.random())
        if top is not None:  # the trending row: the `top` most popular, equally likely
            return int(u * top)
        return int(np.searchsorted(self.title_cdf, u, side="right"))

    def session(self, v: int, region: int, bw: Any):
        cfg = self.config
        title = None
        if self.recs is not None:
            t0 = self.now
            req = self.begin("recommend", user=v)
            outcome = yield self.recs[region](req=req, timeout=cfg.chunk_timeout)
            self.finish(req, outcome)
            if outcome == OK:
                self.recommend_s.add(self.now - t0)
            else:
                self.recs_failed.add()
                title = self.pick_title(cfg.trending)
        if title is None:
            title = min(self.pick_title(), cfg.titles - 1)
        n_chunks = max(1, min(self.title_chunks[title], math.ceil(self.watch() / cfg.chunk)))
        p = Play(v, region, bw, self.now)
        self.plays[v] = p
        play_req = self.begin("play", key=title, user=v)
        if self.pos is not None:
            self.after(cfg.position_interval, lambda: self._write_position(p))
        chunk_s, cap = cfg.chunk, cfg.buffer_cap
        for i in range(n_chunks):
            self.advance(p)
            room = p.buffer + chunk_s - cap
            if room > 0 and p.state == PLAYING:  # the buffer is full: wait until a chunk fits
                yield self.sleep(room)
                self.advance(p)
            rung = self.abr.choose(p.buffer, p.rung, p.samples)
            ok = yield from self.fetch(p, title, i, rung)
            self.advance(p)
            if not ok:
                self.abandoned.add()
                if p.state == STARTING:
                    self.finish(play_req, self._last_failure)
                self._end(p, completed=False)
                return
            q = self.ladder_mbps[rung]
            if p.rung >= 0 and rung != p.rung:
                self.switches.add()
                p.switches += 1
                p.q_switch += abs(q - self.ladder_mbps[p.rung])
            p.rung = rung
            p.q_sum += q
            p.chunks += 1
            self.tot["bits"] += self.ladder_bps[rung] * chunk_s
            self.tot["content"] += chunk_s
            p.buffer += chunk_s
            last = i == n_chunks - 1
            if p.state == STARTING and (p.buffer >= cfg.startup_buffer or last):
                p.state = PLAYING
                p.startup_s = self.now - p.t0
                self.startup.add(p.startup_s)
                self.finish(play_req, OK)
            elif p.state == STALLED and (p.buffer >= cfg.resume_buffer or last):
                p.state = PLAYING
        yield self.sleep(p.buffer)  # play out what is buffered
        self.advance(p)
        self._end(p, completed=True)

    def advance(self, p: Play) -> None:
        """Bring the buffer and the stall accounting of `p` to now."""
        now = self.env._now
        dt = now - p.t_ref
        p.t_ref = now
        tot = self.tot  # the window's totals grow as time passes (not at session end): exact ratios
        if p.state == PLAYING:
            if p.buffer >= dt - 1e-9:  # (a wait of exactly the buffer may land an ulp later: no stall)
                p.buffer = max(0.0, p.buffer - dt)
                p.played += dt
                tot["played"] += dt
            else:  # ran dry during the wait: a stall began when the buffer hit zero
                p.played += p.buffer
                p.stall_s += dt - p.buffer
                tot["played"] += p.buffer
                tot["stall"] += dt - p.buffer
                p.buffer = 0.0
                p.state = STALLED
                p.stalls += 1
                self.rebuffers.add()
        elif p.state == STALLED:
            p.stall_s += dt
            tot["stall"] += dt

    def fetch(self, p: Play, title: int, index: int, rung: int):
        """Fetch one chunk (failing over as needed), then receive its bytes; False if abandoned."""
        cfg = self.config
        size = self.ladder_bps[rung] * cfg.chunk / 8.0
        key = ((title * _CHUNKS_PER_TITLE) + index) * _RUNGS + rung
        sizes = self.sizes
        if key not in sizes:
            sizes[key] = size
        req = self.begin("chunk", key=key, user=p.viewer)
        t0 = self.now
        endpoints = self.endpoints[p.region]
        if p.ep and self.now - p.ep_since >= cfg.return_after:
            p.ep = 0  # back to the own edge: it may have recovered
        while True:
            ep = p.ep
            outcome = yield endpoints[ep](op="get", key=key, req=req, timeout=cfg.chunk_timeout)
            if outcome == OK:
                break
            self.chunk_failures.add()
            self._last_failure = outcome
            if self.now - t0 >= cfg.give_up_after:
                self.finish(req, outcome)
                return False
            p.ep = (ep + 1) % len(endpoints)
            p.ep_since = self.now
            if p.ep:
                self.failovers.add()
            else:  # every endpoint failed: wait a little before starting over
                yield self.sleep(1.0)
        if ep == len(endpoints) - 1:
            self.origin_direct.add()
            self.direct_origin_bytes += size
        yield from self.transfer(p, size * 8.0)
        self.finish(req, OK)
        p.samples.append(size * 8.0 / max(self.now - t0, 1e-9))
        if len(p.samples) > 100:
            del p.samples[:50]
        return True

    def transfer(self, p: Play, bits: float):
        """Receive `bits` at the player's bandwidth times its region's factor (both may change meanwhile)."""
        r = p.region
        remaining = bits
        while True:
            now = self.now
            rate = p.bw.rate(now) * self.factor[r]
            need = remaining / rate
            change = p.bw.next_change(now)
            finishing = need <= change - now
            end = now + (need if finishing else change - now)
            timer = self.sleep(end - now)
            if self.may_drop:
                ev = self.changed[r]
                if ev is None:
                    ev = self.changed[r] = Event(self.env)
                yield timer | ev
            else:
                yield timer
            if self.now >= end:  # the step ran to its end (a drop at that very instant applies next)
                if finishing:
                    return
                remaining -= rate * (end - now)
            else:  # the region's bandwidth changed midway: go on at the new rate
                remaining -= rate * (self.now - now)
            if remaining <= 0.0:
                return

    def _write_position(self, p: Play) -> None:
        if not p.active:
            return
        self.pos[p.region].notify(op="write", key=p.viewer, done=self._position_done)
        self.after(self.config.position_interval, lambda: self._write_position(p))

    def _position_done(self, outcome: int) -> None:
        if outcome != OK:
            self.positions_failed.add()

    def _end(self, p: Play, completed: bool) -> None:
        p.active = False
        self.plays.pop(p.viewer, None)
        if completed:
            self.sessions.add()
            w = self.config.qoe
            score = p.q_sum - w.switch * p.q_switch - w.rebuffer_per_s * p.stall_s - w.startup_per_s * p.startup_s
            self.qoe_obs.add(score / max(1, p.chunks))

    # --- fault set-up -------------------------------------------------------------------------------
    may_drop = False

    def fault_expect(self, kind: str) -> None:
        super().fault_expect(kind)
        if kind == "bandwidth":
            self.may_drop = True  # only then do downloads also wait on a region's change

    # --- metrics ------------------------------------------------------------------------------------
    def _rebuffering_now(self) -> float:
        now = self.now
        return float(sum(1 for p in self.plays.values() if p.stalled(now)))

    def _buffer_now(self) -> float:
        now = self.now
        return _mean([p.level(now) for p in self.plays.values()]) if self.plays else 0.0

    def _stalled_by_region(self) -> list[float]:
        now = self.now
        n = len(self.ends)
        seen, stalled = [0] * n, [0] * n
        for p in self.plays.values():
            if p.state != STARTING:
                seen[p.region] += 1
                stalled[p.region] += p.stalled(now)
        return [s / k if k else 0.0 for s, k in zip(stalled, seen)]

    def _bitrate_by_region(self) -> list[float]:
        n = len(self.ends)
        total, seen = [0.0] * n, [0] * n
        for p in self.plays.values():
            if p.rung >= 0:
                total[p.region] += self.ladder_mbps[p.rung]
                seen[p.region] += 1
        return [t / k if k else 0.0 for t, k in zip(total, seen)]

    def _origin_bytes(self) -> float:
        return sum(e.fetched_bytes for e in self.edges) + self.direct_origin_bytes

    def _origin_rate(self) -> float:
        now, total = self.now, self._origin_bytes()
        t_prev, b_prev, last = self._egress_seen
        if total < b_prev:  # the edges' counters restarted (the warm-up's end): count from there
            self._egress_seen = (now, total, last)
            return last
        if now <= t_prev:  # read again at the same instant: as before
            return last
        rate = (total - b_prev) * 8 / 1e6 / (now - t_prev)
        self._egress_seen = (now, total, rate)
        return rate

    def _hit_ratio(self) -> float | None:
        hits = sum(e.hits for e in self.edges)
        looked = hits + sum(e.misses for e in self.edges)
        return hits / looked if looked else None

    def reset_stats(self) -> None:
        for p in self.plays.values():  # account the time up to the warm-up's end to the warm-up
            self.advance(p)
        super().reset_stats()
        self.direct_origin_bytes = 0.0
        self.tot = {"played": 0.0, "stall": 0.0, "bits": 0.0, "content": 0.0}
        # every counter restarts now (the edges' too, whichever is reset first)
        self._egress_seen = (self.now, 0.0, self._egress_seen[2])
        self.t_measure = self.now

    def extrapolate(self) -> list[str]:
        watching = self.metrics.gauge_list["watching"].seen
        if not watching:
            return []
        streams = float(np.mean(watching))
        mbps = _ratio(self.tot["bits"], self.tot["content"] * 1e6) or 0.0
        egress_gbps = self.full(streams) * mbps / 1e3
        origin_share = _ratio(self._origin_bytes(), self.tot["bits"] / 8.0) or 0.0
        servers = math.ceil(egress_gbps / self.config.edge_server_gbps) if egress_gbps else 0
        return [
            f"{self.full(self.config.viewers):,.0f} viewers, {self.full(streams):,.0f} streams at once "
            f"(this run: {streams:,.1f})",
            f"edge egress ~{egress_gbps / 1e3:,.2f} Tbps at {mbps:.2f} Mbps a stream: ~{servers:,} edge servers "
            f"of {self.config.edge_server_gbps:g} Gbps",
            f"the origin sent {origin_share:.0%} of the bytes here: at most ~{egress_gbps * origin_share:,.0f} Gbps "
            f"at full scale (an upper bound: a larger audience shares more chunks in the edges)",
        ]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _mean(values: Any) -> float | None:
    return float(np.mean(values)) if len(values) else None
