"""A queueing station: `workers` parallel servers fed by one FIFO queue with optional capacity.

This is the hot path of most simulations, so it is written as callbacks on SimPy events (no
generator process per request), with time-weighted statistics kept inline:
`busy_area` and `queue_area` integrate the number of busy workers and of waiting requests over
simulated time, from which utilisation and mean queue length follow exactly.
"""
from __future__ import annotations

from collections import deque
from heapq import heappush
from typing import Any, Callable, Literal

from simulator.sampling.distributions import Sampler
from simulator.engine.env import Timer
from simulator.engine.monomorphic import own_copies
from simulator.engine.request import (CAUSE_CRASHED, CAUSE_QUEUE_FULL, CAUSE_SERVER_TIMEOUT, ERROR, OK, PROBE, REJECTED,
                                      Deadlines, Once, Reply, Request, note_failure)
from simpy.events import NORMAL

_new = object.__new__

from pydantic import Field, NonNegativeInt, PositiveFloat

from simulator.language.units import PositiveDuration

from simulator.resilience import RateLimitConfig

from .base import Component, ComponentConfig
from .shedding import CodelConfig, Shedder, wanted as wants_shedding
from .slowdown import ConcurrencySlowdownConfig, install as install_slowdown


class StationConfig(ComponentConfig):
    """Keys every queueing component accepts."""

    queue_capacity: NonNegativeInt | None = Field(
        None, description="Waiting room; excess is rejected. 0: no waiting at all. Unset: unbounded."
    )
    timeout: PositiveDuration | None = Field(
        None, description="Time a request may spend here (queue + work) before it fails as timed out."
    )
    speed: PositiveFloat = Field(1.0, ge=1e-6, le=1e6, description="Vertical scaling: service times are divided by it.")
    rate_limit: RateLimitConfig | None = Field(
        None, description="Admission: refuse calls beyond a rate as `rate_limited` (token or leaky bucket, fixed or "
        "sliding window; global, or per client, user or key).")
    abandoned_requests: Literal["serve", "drop"] = Field(
        "serve", description="A request whose caller gave up (known when a caller sets `propagate_deadline`): "
        "serve it anyway, as real servers usually do, or drop it (answered timed_out, not served if still queued).")
    queue_discipline: Literal["fifo", "lifo", "adaptive_lifo"] = Field(
        "fifo", description="Which waiting request a freed worker takes: oldest (fifo), newest (lifo), or oldest "
        "unless the queue is congested, then newest (adaptive_lifo).")
    max_queue_wait: PositiveDuration | None = Field(
        None, description="Load shedding: a request still waiting after this long is dropped (outcome `shed`).")
    codel: CodelConfig | None = Field(
        None, description="Load shedding (Facebook's CoDel): while the queue is congested, drop requests that "
        "waited over `target` (outcome `shed`).")
    concurrency_slowdown: ConcurrencySlowdownConfig | None = Field(
        None, description="Service time multiplied by f(N), N the busy workers at its start: usl, linear or exponential.")


class Station(Component):
    """Base for components that queue requests for a pool of workers.

    Subclasses set `self.workers`, `self.capacity` (None: unbounded) and `self.timeout_s`, and
    implement `service_time(req)`; they may override `after_service(req, reply, t_start)` to do
    more work (downstream calls) before releasing the worker.
    """

    __slots__ = ("workers", "capacity", "timeout_s", "draw_service", "queue", "busy", "_active", "_ends", "_frozen",
                 "epoch", "_deadlines", "_serviced_fn", "served", "rejected", "expired", "wait_sum", "waited",
                 "busy_area", "queue_area", "queue_max", "_t")
    _shedder: Shedder | None = None  # load shedding (models/shedding.py), made by `prepare_admission`

    # The per-request methods every kind of station runs: each subclass runs its own copy (see
    # simulator/engine/monomorphic.py), so a server's and a database's `self.x` do not share caches.
    HOT_METHODS = ("handle", "release", "_serviced", "_start", "after_service", "_account")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own_copies(cls, Station.HOT_METHODS)

    def __init__(self, env: Any, name: str, config: Any) -> None:
        super().__init__(env, name, config)
        self.workers = 1
        self.capacity: int | None = None
        self.timeout_s: float | None = None
        # A service time that does not depend on the request: a draw with no argument, used instead of
        # `service_time(req)` (one call less per request). Set by subclasses when it applies.
        self.draw_service: Callable[[], float] | None = None
        self.queue: deque = deque()
        self.busy = 0
        self._active: dict | None = None  # in-service work, tracked only if a crash or pause can happen
        self._ends: dict | None = None  # when each service ends, tracked only if a pause can happen
        self._frozen: list = []  # (timer value, service time left) of work frozen by a pause
        self.epoch = 0  # bumped by each crash, so work started before it is recognised as lost
        self._deadlines: Deadlines | None = None  # of `timeout_s`, made at the first request
        self._serviced_fn = self._serviced  # bound once: one bound method less per request
        self.reset_stats()

    # --- statistics -----------------------------------------------------------------------------
    def reset_stats(self) -> None:
        self.served = 0
        self.rejected = 0
        self.failed = 0  # refused or lost to a crash
        self.expired = 0  # dropped from the queue after the server timeout
        self.wait_sum = 0.0
        self.waited = 0
        self.busy_area = 0.0
        self.queue_area = 0.0
        self.queue_max = len(self.queue)
        self._t = self.env.now
        self._sample_busy = 0.0
        self._sample_queue = 0.0
        self._sample_t = self._t
        if self._shedder is not None:
            self._shedder.reset_stats()

    def _account(self, now: float) -> None:
        dt = now - self._t
        if dt:
            self.busy_area += self.busy * dt
            self.queue_area += len(self.queue) * dt
            self._t = now

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        self._account(self.env.now)
        span = elapsed_s or float("nan")
        return {
            "type": self.type_name,
            "workers": self.workers,
            "utilization": self.busy_area / (self.workers * span),
            "queue_length_mean": self.queue_area / span,
            "queue_length_max": self.queue_max,
            "wait_s_mean": self.wait_sum / self.waited if self.waited else 0.0,
            "served": self.served,
            "rejected": self.rejected,
            "failed": self.failed,
            "expired": self.expired,
        } | (self._shedder.stats() if self._shedder is not None else {})

    def sample(self) -> dict[str, float]:
        now = self.env._now
        dt = now - self._t  # self._account(now), inline: every station, at every sample of the time series
        if dt:
            self.busy_area += self.busy * dt
            self.queue_area += len(self.queue) * dt
            self._t = now
        dt = now - self._sample_t
        out = {
            "utilization": (self.busy_area - self._sample_busy) / (self.workers * dt) if dt else 0.0,
            "queue_length": (self.queue_area - self._sample_queue) / dt if dt else 0.0,
        }
        self._sample_busy, self._sample_queue, self._sample_t = self.busy_area, self.queue_area, now
        return out

    def service_sampler(self, dist: Any, stream: str) -> Callable[[], float]:
        """Draws of `dist` divided by the configured `speed`, from the component's named stream."""
        speed = getattr(self.config, "speed", 1.0)
        return Sampler(dist if speed == 1.0 else dist.scaled(1.0 / speed),
                       self.env.streams.get(f"{self.name}/{stream}"), own_stream=True).next

    def prepare_admission(self) -> None:
        """Choose the code paths of the queue once, at build time (called by `System` when every
        component is built, before rate limiters and links): a station without load shedding or a
        concurrency slowdown keeps this class's own code, untouched."""
        cfg = self.config
        slowdown = getattr(cfg, "concurrency_slowdown", None)
        if slowdown is not None:
            install_slowdown(self, slowdown)
        if wants_shedding(cfg):
            self._shedder = Shedder(self, cfg)

    # --- requests -------------------------------------------------------------------------------
    def service_time(self, req: Request) -> float:
        raise NotImplementedError

    def handle(self, req: Request, reply: Reply) -> None:
        env = self.env
        now = env._now  # the attribute, not the property: this runs once per call
        if self.timeout_s is not None:
            dl = self._deadlines
            if dl is None or dl.timeout_s != self.timeout_s:
                dl = self._deadlines = Deadlines(env, self.timeout_s, (CAUSE_SERVER_TIMEOUT, self.name))
            reply = dl.wrap(reply)
            reply.rid = req.id  # which request a timeout fails (its record's cause)
        busy = self.busy
        if busy < self.workers:
            dt = now - self._t  # self._account(now), inline: once per call
            if dt:
                self.busy_area += busy * dt
                self.queue_area += len(self.queue) * dt
                self._t = now
            self.busy = busy + 1
            self.waited += 1  # a wait of zero still counts in the mean wait
            if self._active is None:  # self._start(req, reply, now), inline: nothing can crash or pause it
                timer = _new(Timer)  # Timer(self._serviced_fn, (req, reply, now)), without an __init__ frame
                timer.fn = self._serviced_fn
                timer._value = (req, reply, now)
                draw = self.draw_service
                delay = (draw() if draw is not None else self.service_time(req)) * self.slowdown
                heappush(env._queue, (now + delay, NORMAL, next(env._eid), timer))
            else:
                self._start(req, reply, now)
        elif self.capacity is not None and len(self.queue) >= self.capacity:
            self.rejected += 1
            note_failure(env, req, CAUSE_QUEUE_FULL, self.name)
            reply(REJECTED)
        else:
            self._account(now)
            q = self.queue
            q.append((req, reply, now))
            if len(q) > self.queue_max:
                self.queue_max = len(q)

    def _start(self, req: Request, reply: Reply, now: float) -> None:
        timer = Timer(self._serviced_fn, (req, reply, now))
        draw = self.draw_service
        delay = (draw() if draw is not None else self.service_time(req)) * self.slowdown
        if self._active is not None:
            if self._ends is not None:
                if self.paused:  # a worker freed meanwhile takes the next request, which waits too
                    self._frozen.append((timer._value, delay))
                    return
                self._ends[timer] = now + delay
            self._active[timer] = (req, reply)
        env = self.env
        heappush(env._queue, (now + delay, NORMAL, next(env._eid), timer))

    def _serviced(self, timer: Timer) -> None:
        if self._active is not None:
            if self._active.pop(timer, None) is None:
                return  # failed by a crash, or frozen by a pause, while in service
            if self._ends is not None:
                del self._ends[timer]
        req, reply, t_start = timer._value
        self.served += 1
        self.after_service(req, reply, t_start)

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        """Default: the work is done; free the worker, then answer."""
        self.release()
        reply(OK)

    def release(self) -> None:
        """Free one worker: it takes the next waiting request, if any."""
        now = self.env._now
        q = self.queue
        dt = now - self._t  # self._account(now), inline: once per request
        if dt:
            self.busy_area += self.busy * dt
            self.queue_area += len(q) * dt
            self._t = now
        while q:
            req, reply, t_enq = q.popleft()
            if type(reply) is Once and reply.done:
                self.expired += 1  # its deadline passed while queued: skip the work
                continue
            self.wait_sum += now - t_enq
            self.waited += 1
            if self._active is None:  # self._start(req, reply, now), inline, as in `handle`
                timer = _new(Timer)  # Timer(self._serviced_fn, (req, reply, now)), without an __init__ frame
                timer.fn = self._serviced_fn
                timer._value = (req, reply, now)
                draw = self.draw_service
                delay = (draw() if draw is not None else self.service_time(req)) * self.slowdown
                env = self.env
                heappush(env._queue, (now + delay, NORMAL, next(env._eid), timer))
            else:
                self._start(req, reply, now)
            return
        self.busy -= 1

    # --- health probes --------------------------------------------------------------------------
    def probe(self, req: Request, reply: Reply) -> None:
        """A health probe is answered on the same workers as requests, as a real server answers
        `/health`: at once if a worker is free, else when a worker would take it, behind the requests
        waiting before it (FIFO), in zero service time; refused (`rejected`) when the queue is full.
        A paused station's waiting probe waits out the pause; a crash fails it with the queue.
        A queued probe counts in the queue length while it waits."""
        if self.busy < self.workers:
            reply(OK)
        elif self.capacity is not None and len(self.queue) >= self.capacity:
            reply(REJECTED)
        else:
            # Only a station that has had a probe queued pays for telling them apart when a worker is
            # freed: `release` becomes `_release_probing` on this instance.
            if "release" not in self.__dict__:  # a shedding station's own `release` knows probes already
                self.release = self._release_probing
            now = self.env._now
            self._account(now)
            self.queue.append((PROBE, reply, now))
            if len(self.queue) > self.queue_max:
                self.queue_max = len(self.queue)

    def _release_probing(self) -> None:
        """`release` where the queue may hold probes: a probe at the head is answered and the freed
        worker goes on to the next entry (a probe takes no service time)."""
        now = self.env._now
        self._account(now)
        q = self.queue
        while q:
            req, reply, t_enq = q.popleft()
            if req is PROBE:
                reply(OK)
                continue
            if type(reply) is Once and reply.done:
                self.expired += 1
                continue
            self.wait_sum += now - t_enq
            self.waited += 1
            self._start(req, reply, now)
            return
        self.busy -= 1

    # --- faults ---------------------------------------------------------------------------------
    def prepare_for_crash(self) -> None:
        if self._active is None:
            self._active = {}

    def prepare_for_pause(self) -> None:
        self.prepare_for_crash()
        self._ends = {}

    def pause(self) -> None:
        """Work in service stops where it is (its timers are dropped); it goes on at `resume`."""
        now = self.env._now
        for timer, end in self._ends.items():
            del self._active[timer]
            self._frozen.append((timer._value, end - now))
        self._ends.clear()

    def resume(self) -> None:
        now = self.env._now
        frozen, self._frozen = self._frozen, []
        for value, left in frozen:
            timer = Timer(self._serviced_fn, value)
            self._active[timer] = value[:2]
            self._ends[timer] = now + left
            self.env.schedule(timer, NORMAL, left)
        if self._shedder is not None:
            self._shedder.resumed()

    def crash(self) -> None:
        self._account(self.env.now)
        lost = list(self._active.values()) if self._active else []
        if self._active:
            self._active.clear()
        if self._ends:
            self._ends.clear()
        lost.extend(value[:2] for value, _left in self._frozen)
        self._frozen.clear()
        lost.extend((req, reply) for req, reply, _ in self.queue)
        self.queue.clear()
        self.busy = 0
        self.epoch += 1
        self.failed += sum(1 for req, _reply in lost if req is not PROBE)  # a probe is not a call
        super().crash()
        fault = self.fault_token("crash")
        for req, reply in lost:
            if req is not PROBE:
                note_failure(self.env, req, CAUSE_CRASHED, self.name, fault)
            reply(ERROR)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} busy={self.busy}/{self.workers} queued={len(self.queue)}>"
