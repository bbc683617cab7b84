"""Workloads: the clients. Open loop (an arrival process) or closed loop (N users who think).

Each request gets an operation from the workload's mix, a key from its key distribution and the
optional attributes (user id, region); the region is also the zone the request starts from, so
network latency between regions applies to it.
"""
from __future__ import annotations

import math
import re
from heapq import heappush
from typing import Any, Callable

import numpy as np
from pydantic import Field, PositiveInt, field_validator, model_validator

from simulator.workload.arrivals import ArrivalConfig, parse_arrivals
from simulator.sampling.blocks import BlockStream
from simulator.sampling.rng import Streams
from simulator.language.config import StrictModel
from simulator.sampling.distributions import DurationDist, Sampler
from simulator.engine.env import Timer
from simulator.engine.faultable import Faultable, product
from simulator.workload.history import CHECKABLE_FUNCTIONS, model_for
from simulator.workload.keys import KeyConfig, parse_keys
from simulator.language.tagged import tagged
from simulator.engine.request import CAUSE_CLIENT_TIMEOUT, IN_FLIGHT, OK, Request, deadlines
from simulator.language.units import Duration, Fraction, PositiveDuration
from simulator.resilience import ResilienceConfig, guard
from simpy.events import NORMAL

_new = object.__new__

ArrivalSpec = tagged(ArrivalConfig, parse_arrivals)
KeySpec = tagged(KeyConfig, parse_keys)

_NAN = math.nan
_RANGE = re.compile(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*$")


def _check_weights(weights: dict[str, float], what: str) -> dict[str, float]:
    if not weights:
        raise ValueError(f"{what} needs at least one entry")
    total = sum(weights.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ValueError(f"{what} weights must sum to 1 (100%), they sum to {total:g}")
    return weights


class AttributesConfig(StrictModel):
    user_id: str | PositiveInt | None = Field(
        None, description="User ids, uniformly: a count N (ids 0..N-1) or a range 'a..b' (inclusive)."
    )
    region: dict[str, Fraction] | None = Field(
        None, description="Share of requests per region; a region is also the zone requests start from."
    )

    @field_validator("user_id")
    @classmethod
    def _range(cls, v):
        if isinstance(v, str):
            m = _RANGE.match(v)
            if not m or int(m.group(1)) > int(m.group(2)):
                raise ValueError(f"expected a count like 10000 or a range like '1..10000', got {v!r}")
        return v

    @field_validator("region")
    @classmethod
    def _regions(cls, v):
        return None if v is None else _check_weights(v, "region")

    def user_bounds(self) -> tuple[int, int] | None:
        if self.user_id is None:
            return None
        if isinstance(self.user_id, int):
            return 0, self.user_id
        m = _RANGE.match(self.user_id)
        return int(m.group(1)), int(m.group(2)) + 1


class WorkloadConfig(StrictModel):
    target: str = Field(description="Component that receives the requests.")
    arrivals: ArrivalSpec | None = Field(None, description="Open loop: the arrival process.")
    users: PositiveInt | None = Field(None, le=100_000, description="Closed loop: number of users.")
    think_time: DurationDist | None = Field(None, description="Closed loop: pause between a reply and the next request.")
    mix: dict[str, Fraction] = Field(
        default_factory=lambda: {"request": 1.0}, description="Share of each operation; sums to 1."
    )
    keys: KeySpec | None = Field(None, description="Which keys requests touch.")
    attributes: AttributesConfig | None = Field(None, description="Per-request attributes: user ids, regions.")
    timeout: PositiveDuration | None = Field(None, description="Clients give up after this long.")
    resilience: ResilienceConfig | None = Field(
        None, description="Policies on the clients' calls: per-attempt timeout, retry, circuit breaker.")
    zone: str = Field("default", description="Zone the clients are in (unless a region is drawn).")
    start: Duration = Field(0.0, description="When the workload starts.")
    stop: PositiveDuration | None = Field(None, description="When it stops (default: the end of the run).")
    checkable: bool | None = Field(
        None, description="Jepsen-style checkable clients: each user is a process with one operation in flight; "
                          "`mix` names read, write, cas and append, each write a unique value (docs/consistency.md).")

    @field_validator("mix")
    @classmethod
    def _mix(cls, v):
        return _check_weights(v, "mix")

    @model_validator(mode="after")
    def _loop_kind(self):
        if (self.arrivals is None) == (self.users is None):
            raise ValueError("a workload needs either 'arrivals' (open loop) or 'users' (closed loop), not both")
        if self.think_time is not None and self.users is None:
            raise ValueError("'think_time' only applies to a closed loop ('users')")
        if self.stop is not None and self.stop <= self.start:
            raise ValueError("'stop' must come after 'start'")
        if self.checkable:
            if self.users is None:
                raise ValueError("a 'checkable' workload is a closed loop: give 'users' (its processes), not 'arrivals'")
            if self.keys is None:
                raise ValueError("a 'checkable' workload needs 'keys' (a few keys, e.g. uniform(n=3))")
            bad = sorted(set(self.mix) - set(CHECKABLE_FUNCTIONS))
            if bad:
                raise ValueError(f"a 'checkable' workload's mix takes {', '.join(CHECKABLE_FUNCTIONS)}; "
                                 f"got {bad[0]!r}")
            if model_for(set(self.mix)) is None:
                raise ValueError("a 'checkable' workload mixes either read/write/cas (a register) or read/append "
                                 "(lists), not both")
        return self

    def refs(self):
        return [(("target",), self.target)]


class ClientRequest(Request):
    """A root request; calling it with an outcome records the reply."""

    __slots__ = ("src",)

    def __init__(self, id: int, t0: float, wl: int, op: str, key: Any, user: int | None, region: str | None,
                 src: "Workload") -> None:
        # Request.__init__, inline, plus the source: one call less per request
        self.id = id
        self.t0 = t0
        self.wl = wl
        self.op = op
        self.key = key
        self.user = user
        self.region = region
        self.meta = None
        self.src = src

    def __call__(self, outcome: int) -> None:
        src = self.src
        if src.closed_loop:
            src.done(self, outcome)
        else:  # nothing follows an open-loop answer: only recorded (now, during the run, is before its end)
            self.land(outcome, src.env._now)

    def land(self, outcome: int, at: float) -> None:
        """The reply arrives at `at` (open loop only: nothing follows it); recorded now, unless the
        run ends first (events at the end time are not processed: it stays in flight)."""
        src = self.src
        if at < src.env.end_s:
            rec = src.rec
            row = self.id - rec.base
            if row >= 0 and not outcome and rec.inline_answers:  # rec.answer(self.id, at, OK), inline
                rec.end[row] = at
                rec.outcome[row] = OK
                return
            rec.answer(self.id, at, outcome)
            if outcome:
                rec.failed(self.id)


def _choice(values: list, weights: list[float], rng: Any) -> BlockStream:
    """Categorical draws of `values` with the given weights."""
    p = np.asarray(weights, dtype=float) / sum(weights)
    return BlockStream(lambda n: np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)])


def _ints(lo: int, hi: int, rng: Any) -> BlockStream:
    return BlockStream(lambda n: rng.integers(lo, hi, n))


class _IntsOf:
    """`_ints(lo, hi, rng)` as a picklable object (a record column's replay)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, rng: Any) -> BlockStream:
        return _ints(self.lo, self.hi, rng)


class _RegionIndex:
    """Draws like `_choice` over a workload's regions, as the run's region numbers (for the record)."""

    def __init__(self, glob: np.ndarray, weights: list[float]) -> None:
        self.glob = glob
        self.p = np.asarray(weights, dtype=float) / sum(weights)

    def __call__(self, rng: Any) -> BlockStream:
        return BlockStream(lambda n: self.glob[rng.choice(len(self.glob), size=n, p=self.p)])


class _Redraw:
    """How a record column is rebuilt after the run: a fresh generator of the named stream, with the
    run's seed, wrapped as the workload wrapped it (`make(rng)` gives the same `BlockStream`). Plain
    data and picklable objects, so a pickled `Result` (sent to another process) can still rebuild it."""

    def __init__(self, seed: int, stream: str, make: Callable[[Any], BlockStream]) -> None:
        self.seed, self.stream, self.make = seed, stream, make

    def draw(self) -> Callable[[int], np.ndarray]:
        return self.make(Streams(self.seed).get(self.stream)).draw


class _Const:
    def __init__(self, value: Any) -> None:
        self.value = value

    def next(self) -> Any:
        return self.value


class _Source:
    """The clients of a workload as a network endpoint (one per region)."""

    def __init__(self, name: str, zone: str) -> None:
        self.name, self.zone = name, zone


class Workload(Faultable):
    """Generates a workload's requests and records their replies.

    A `load_spike` fault multiplies its arrival rate (`rate_factor`: the product of the active
    spikes); only a workload some spike names pays for it (its arrivals go through `_arrive_spiked`)."""

    FAULT_KINDS = {"spike": ("rate_factor", product)}
    rate_factor = 1.0
    spiked = False
    _contrib = None
    _pending: Timer | None = None
    _renewal: Callable[[], float] | None = None  # the arrival process's `next_gap`, if it has one

    def __init__(self, env: Any, name: str, index: int, config: WorkloadConfig) -> None:
        self.env = env
        self.name = name
        self.index = index
        self.config = config
        rec = env.recorder
        self.rec = rec
        streams = env.streams
        ops = list(config.mix)
        self._op_idx = {op: rec.op_index(op) for op in ops}
        self._op_i = self._op_idx[ops[0]]  # the one operation's index, when there is one
        self.ops = _Const(ops[0]) if len(ops) == 1 else _choice(ops, list(config.mix.values()), streams.get(f"{name}/mix"))
        self.op = ops[0] if len(ops) == 1 else None  # the one operation, drawn from no stream
        self.closed_loop = config.users is not None
        self.keys = config.keys.make(streams.get(f"{name}/keys")) if config.keys else None
        attrs = config.attributes or AttributesConfig()
        bounds = attrs.user_bounds()
        self.user_ids = _ints(*bounds, streams.get(f"{name}/user_id")) if bounds else None
        regions = list(attrs.region) if attrs.region else None
        self.regions = (
            _choice(regions, list(attrs.region.values()), streams.get(f"{name}/region")) if regions else None
        )
        self._endpoints = {r: _Source(name, r) for r in (regions or [config.zone])}
        self.links: dict[str, Any] = {}
        self.link = None
        self.stop_s = config.stop if config.stop is not None else math.inf
        self.timeout_s = config.timeout
        self.deadlines = deadlines(env, config.timeout, (CAUSE_CLIENT_TIMEOUT, name))
        # Record columns of the attributes: what the workload draws (one value per request, in order)
        # is replayed after the run from the same streams, so the hot path stores nothing more. A
        # closed loop's user is its simulated user's number, not a draw: appended at issue (`_issue_rich`).
        seed = streams.seed
        if config.keys:
            rec.replay("key", index, _Redraw(seed, f"{name}/keys", config.keys.make))
        if bounds and not self.closed_loop:
            rec.replay("user", index, _Redraw(seed, f"{name}/user_id", _IntsOf(*bounds)))
        if regions:
            glob = np.asarray([rec.region_index(r) for r in regions], dtype=np.int16)
            rec.replay("region", index, _Redraw(seed, f"{name}/region", _RegionIndex(glob, list(attrs.region.values()))))
        if bounds and self.closed_loop:
            rec.enable(["user"])
        if config.arrivals is not None:
            self.gen = config.arrivals.make(streams.get(f"{name}/arrivals"))
        else:
            self.think = Sampler(config.think_time, streams.get(f"{name}/think")).next if config.think_time else None
        self.history = getattr(env, "history", None) if config.checkable else None
        if self.history is not None:  # a recorded workload: its own issue and completion (chosen once, here)
            self.process = [self.history.new_process() for _ in range(config.users)]  # each user's process now
            self.last_written: dict[Any, Any] = {}  # per key: the last value issued (a cas expects it)
            self._issue = self._issue_recorded
            self.done = self._done_recorded

    @property
    def endpoints(self) -> list[_Source]:
        return list(self._endpoints.values())

    def connect(self, system: Any) -> None:
        target = system.get(self.config.target)
        links = {r: system.network.link(ep, target) for r, ep in self._endpoints.items()}
        # Resilience hook: a call with policies goes through them (chosen once, here).
        self.links = {r: guard(link, self.config.resilience, f"{self.name}->{target.name}", system)
                      for r, link in links.items()}
        self.link = next(iter(self.links.values()))
        if not self.closed_loop:
            for r, link in links.items():  # a reply is only recorded: see `Link.sink`
                if self.links[r] is link:  # (behind policies, a reply goes to the policy first)
                    link.sink = True
                elif self.links[r].implicit:  # a sink too if its cache-aside fallback is dropped
                    self.links[r].sink_if_bare = True

    def start(self) -> None:
        env = self.env
        if self.rec.attrs and self.history is None:  # chosen once: a run without attributes keeps the plain
            self._issue = self._issue_rich  # path (a recorded workload's `_issue_recorded` records them too)
        if self.spiked:
            self._pending = Timer(self._arrive_spiked)
            self._schedule_spiked(self.config.start, self.gen.scaled_gap(self.config.start, self.rate_factor))
        elif self.config.arrivals is not None:
            # A renewal process's gaps do not depend on the time: drawn without a frame of `gap`
            self._renewal = getattr(self.gen, "next_gap", None)
            first = self.gen.gap(self.config.start)
            if not math.isinf(first):
                env.schedule(Timer(self._arrive), NORMAL, self.config.start + first - env.now)
        else:
            for user in range(self.config.users):
                delay = self.config.start + (self.think() if self.think else 0.0)
                env.schedule(Timer(self._user_fires, user), NORMAL, delay - env.now)

    def _issue(self, now: float, user: int | None) -> None:
        rec = self.rec
        op = self.op
        if op is None:
            op = self.ops.next()
            op_i = self._op_idx[op]
        else:
            op_i = self._op_i
        start = rec.start
        rid = len(start)
        if rid >= rec.chunk_rows:  # the current chunk is full: seal it (kept or spilled), start the next
            rec.seal()
            start = rec.start
            rid = 0
        start.append(now)
        rec.end.append(_NAN)
        rec.wl.append(self.index)
        rec.op.append(op_i)
        rec.outcome.append(IN_FLIGHT)
        if user is None and self.user_ids is not None:
            user = self.user_ids.next()
        keys = self.keys
        regions = self.regions
        if regions is None:
            region = None
            link = self.link
        else:
            region = regions.next()
            link = self.links[region]
        req = _new(ClientRequest)  # ClientRequest(...), without an __init__ frame: once per request
        req.id = rid + rec.base
        req.t0 = now
        req.wl = self.index
        req.op = op
        req.key = keys.next() if keys is not None else None
        req.user = user
        req.region = region
        req.meta = None
        req.src = self
        deadlines = self.deadlines
        link.send(req, req if deadlines is None else deadlines.wrap(req))

    def _issue_rich(self, now: float, user: int | None) -> None:
        """`_issue`, also recording the request's user (a run with a closed loop with user ids: the
        simulated user's number); -1 for a workload without users."""
        rec = self.rec
        op = self.op
        if op is None:
            op = self.ops.next()
            op_i = self._op_idx[op]
        else:
            op_i = self._op_i
        rid = len(rec.start)
        if rid >= rec.chunk_rows:
            rec.seal()
            rid = 0
        rec.start.append(now)
        rec.end.append(_NAN)
        rec.wl.append(self.index)
        rec.op.append(op_i)
        rec.outcome.append(IN_FLIGHT)
        if user is None and self.user_ids is not None:
            user = self.user_ids.next()
        key = self.keys.next() if self.keys is not None else None
        region = self.regions.next() if self.regions is not None else None
        rec.user.append(-1 if user is None else user)  # the one column appended at issue (a closed loop's user)
        req = ClientRequest(rid + rec.base, now, self.index, op, key, user, region, self)
        link = self.link if region is None else self.links[region]
        deadlines = self.deadlines
        link.send(req, req if deadlines is None else deadlines.wrap(req))

    def _issue_recorded(self, now: float, user: int | None) -> None:
        """`_issue` of a checkable workload with `history: true`: draws the operation's unique value
        and registers it (by request id) before the request leaves, so the stores can report on it.
        It draws from the same streams, in the same order, as `_issue`."""
        rec = self.rec
        op = self.op
        if op is None:
            op = self.ops.next()
        rid = len(rec.start)
        if rid >= rec.chunk_rows:
            rec.seal()
            rid = 0
        rec.start.append(now)
        rec.end.append(_NAN)
        rec.wl.append(self.index)
        rec.op.append(self._op_idx[op])
        rec.outcome.append(IN_FLIGHT)
        if rec.user is not None:  # a run recording users (`_issue_rich`): this workload's user number too
            rec.user.append(-1 if user is None else user)
        key = self.keys.next()
        key = key.item() if hasattr(key, "item") else key  # a plain int or str in the history files
        history = self.history
        if op == "read":
            value = None
        elif op == "cas":
            value = (self.last_written.get(key), history.next_value())
            self.last_written[key] = value[1]
        else:
            value = history.next_value()
            if op == "write":
                self.last_written[key] = value
        rid += rec.base
        req = ClientRequest(rid, now, self.index, op, key, user, None, self)
        req.meta = None
        history.invoke(rid, self.process[user], op, key, value, now)
        link = self.link
        if self.regions is not None:
            req.region = self.regions.next()
            link = self.links[req.region]
        deadlines = self.deadlines
        link.send(req, req if deadlines is None else deadlines.wrap(req))

    def _done_recorded(self, req: ClientRequest, outcome: int) -> None:
        history = self.history
        history.complete(history.ops[req.id], self.env._now, outcome)
        if outcome != OK and req.op != "read":
            # Its effect may be unknown (info): Jepsen's process is then replaced by a new one, so the
            # user's next operation never overlaps an open one of the same process.
            self.process[req.user] = self.history.new_process()
        self.rec.answer(req.id, self.env._now, outcome)
        if outcome:  # its failure's cause too, as every other workload records it
            self.rec.failed(req.id)
        delay = self.think() if self.think else 0.0
        self.env.schedule(Timer(self._user_fires, req.user), NORMAL, delay)

    def _arrive(self, timer: Timer) -> None:
        env = self.env
        now = env._now
        if now >= self.stop_s:
            return
        self._issue(now, None)
        renewal = self._renewal
        gap = renewal() if renewal is not None else self.gen.gap(now)
        if gap != math.inf:  # the same timer comes back for the next arrival: it is off the heap now
            heappush(env._queue, (now + gap, NORMAL, next(env._eid), timer))

    # --- load_spike -----------------------------------------------------------------------------
    def fault_expect(self, kind: str) -> None:
        super().fault_expect(kind)
        self.spiked = True

    def _schedule_spiked(self, t: float, gap: float) -> None:
        if gap != math.inf:
            timer = self._pending
            timer._value = t + gap  # when it is due (a timer replaced by a rescaling is dropped)
            self.env.schedule(timer, NORMAL, t + gap - self.env.now)

    def _arrive_spiked(self, timer: Timer) -> None:
        if timer is not self._pending:
            return  # replaced when the rate factor changed
        now = self.env._now
        if now >= self.stop_s:
            return
        self._issue(now, None)
        self._pending = Timer(self._arrive_spiked)
        self._schedule_spiked(now, self.gen.scaled_gap(now, self.rate_factor))

    def fault_changed(self, kind: str, before: float, after: float) -> None:
        """The rate factor changed: the arrival already drawn is moved to the new rate."""
        env = self.env
        old = self._pending
        if old is None:  # before `start`: the first arrival is drawn with the factor of its time
            return
        self._pending = Timer(self._arrive_spiked)
        t = max(env.now, self.config.start)
        due = old._value
        if self.gen.time_change:  # the gap left, in the process's own time, is kept: time runs `after` fast
            self._schedule_spiked(t, (due - t) * before / after if due is not None else math.inf)
        else:  # memoryless: draw the next arrival again from now at the new rate
            self._schedule_spiked(t, self.gen.scaled_gap(t, after))

    def _user_fires(self, timer: Timer) -> None:
        now = self.env._now
        if now < self.stop_s:
            self._issue(now, timer._value)

    def done(self, req: ClientRequest, outcome: int) -> None:
        self.rec.answer(req.id, self.env._now, outcome)
        if outcome:
            self.rec.failed(req.id)
        if self.config.users is not None:
            delay = self.think() if self.think else 0.0
            self.env.schedule(Timer(self._user_fires, req.user), NORMAL, delay)

    def offered_rate(self) -> float:
        """Mean request rate offered (open loop) or an upper bound (closed loop: users / think)."""
        if self.config.arrivals is not None:
            return self.config.arrivals.mean_rate()
        think = self.config.think_time.mean if self.config.think_time else 0.0
        return self.config.users / think if think > 0 else 0.0
