"""The simulation environment: SimPy's clock and event heap plus the run-wide context.

Everything a component needs during a run (random streams, the network, the recorder) hangs off one
`SimEnv`, never off module globals, so two simulations can run side by side in one process.

SimPy stays the clock, the heap and the order of events of the same time: every event, dsim's own
and SimPy's, is a `(time, priority, id, event)` entry with an id from SimPy's counter, processed in
the order of those keys. `SimEnv.run` is SimPy's run loop with two special cases:

- dsim's own events (anything with an `fn` attribute: `Timer` and the network's hops) are
  dispatched by calling `event.fn(event)`, without SimPy's callback list, its `StopSimulation`
  bookkeeping and its failure check, which they do not need. Every other event (SimPy processes,
  `env.timeout`, the `until` event) goes through SimPy's own processing, so SimPy processes still
  work in the same run.
- The lane: most hops of a system cross links of one constant latency (the network's default).
  Such a hop is made at the current time and due `lane_delay` later, with the next id, so the hops
  made this way are due in the order they were made: they wait in a FIFO (`_lane`) instead of the
  heap, and the loop takes whichever comes first, the lane's head or the heap's top, by the same
  keys. The order of events, and so every result, is what it would be with one heap (a test runs
  systems both ways); what it saves is the heap's comparisons (README, "Sixth round").
"""
from __future__ import annotations

import gc
import threading
from collections import deque
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any, Callable, Iterator

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import NORMAL, URGENT, Event

from simulator.sampling.rng import Streams


# The cyclic garbage collector during a run. A run allocates a few short-lived objects per event (hop,
# timer, request) and keeps long-lived ones (cache entries, the model): with Python's default
# threshold (a young collection every 700 allocations) the collector walks the requests in flight
# again and again and promotes them to older generations, whose collections then walk every cache
# entry: 3-14% of a run's time (the more, the busier the machine), to free almost nothing (a run
# makes almost no reference cycles: its objects are freed by reference counting). During
# `SimEnv.run` young collections wait for this many allocations, and what exists when the run
# starts (the model, built once) is frozen out of the collector's walks (`gc.freeze`, unless the
# program froze objects itself); both are restored after it. Cycles are still collected, only less
# often: the collector counts objects made minus objects freed, so what waits for it is at most this
# many objects of cyclic garbage (a few MB).
GC_YOUNG_THRESHOLD = 100_000


# The collector is the process's: runs that overlap (in threads) tune it once, and the last to end
# restores it. [runs in progress, the threshold before the first, whether the first froze]
_tuned: list[Any] = [0, None, False]
_tuned_lock = threading.Lock()


@contextmanager
def collector_for_runs() -> Iterator[None]:
    """Tune the cyclic collector for a simulation run (see `GC_YOUNG_THRESHOLD`), then restore it."""
    with _tuned_lock:
        if _tuned[0] == 0 and not gc.isenabled():  # the program manages the collector itself
            tuning = False
        else:
            tuning = True
            if _tuned[0] == 0:
                old = gc.get_threshold()
                _tuned[1], _tuned[2] = old, gc.get_freeze_count() == 0
                gc.set_threshold(max(old[0], GC_YOUNG_THRESHOLD), *old[1:])
                if _tuned[2]:
                    gc.freeze()
            _tuned[0] += 1
    try:
        yield
    finally:
        if tuning:
            with _tuned_lock:
                _tuned[0] -= 1
                if _tuned[0] == 0:
                    if _tuned[2]:
                        gc.unfreeze()
                    gc.set_threshold(*_tuned[1])


class Timer:
    """A dsim event: the run loop calls `fn(timer)` at its time; `fn` reads `timer._value`.

    The hot path schedules one of these per arrival and per service completion. It is not a SimPy
    event: a SimPy process cannot wait on it (use `env.timeout` there)."""

    __slots__ = ("fn", "_value")

    def __init__(self, fn: Callable[[Any], None], value: Any = None) -> None:
        self.fn = fn
        self._value = value


class SimEnv(simpy.Environment):
    """SimPy environment that also holds the run-wide context of one simulation."""

    # Whether the network may put its hops of one constant latency in the lane (see `_loop`); a
    # test turns it off to check that the lane changes nothing but speed.
    use_lane = True

    def __init__(self, seed: int, warmup_s: float = 0.0, end_s: float = float("inf")) -> None:
        super().__init__()
        self.seed = seed
        self.streams = Streams(seed)
        self.warmup_s = warmup_s
        self.end_s = end_s
        self.network: Any = None
        self.recorder: Any = None
        self.system: Any = None  # the elaborated System, set when it is built
        self.events = 0  # events taken off the heap and processed so far (deterministic)
        self.profile: Any = None  # a `Profile` while `--profile` is on: counts and times events by kind
        # The lane: dsim events scheduled exactly `lane_delay` after they are made (the network's hops
        # over links of that constant latency), in the order they were made, which is their heap
        # order (see `_loop`). Entries are the heap's `(time, priority, id, event)` and the event's
        # `fn` (the loop calls it without reading it off events of many classes); a reply's entry is
        # `(time, priority, id, outcome, reply, hop)` (the loop calls `reply(outcome)`: see
        # network.py `_LaneHop`). None: no lane.
        self.lane_delay: float | None = None
        self._lane: deque = deque()

    def call_later(self, delay: float, fn: Callable[[Any], None], value: Any = None) -> Timer:
        """Call `fn(timer)` after `delay` simulated seconds; returns the timer (its `_value` is `value`)."""
        timer = Timer(fn, value)
        heappush(self._queue, (self._now + delay, NORMAL, next(self._eid), timer))
        return timer

    def at(self, delay: float, event: Any) -> None:
        """Put a dsim event (a `Timer`, or any object with `fn`) on the heap `delay` seconds from now."""
        heappush(self._queue, (self._now + delay, NORMAL, next(self._eid), event))

    def to_lane(self, event: Any) -> None:
        """Put a dsim event in the lane, `lane_delay` from now (the network appends its hops inline)."""
        self._lane.append((self._now + self.lane_delay, NORMAL, next(self._eid), event, event.fn))

    def reserve(self, delay: float) -> tuple[float, int]:
        """The heap position an event scheduled now with `delay` would take: `(time, event id)`.

        The id is taken now, so an event scheduled later with `schedule_reserved` is ordered
        among events of the same time exactly as if it had been scheduled now."""
        return self._now + delay, next(self._eid)

    def schedule_reserved(self, event: Any, slot: tuple[float, int]) -> None:
        """Schedule `event` at a position taken earlier with `reserve` (not in the past)."""
        heappush(self._queue, (slot[0], NORMAL, slot[1], event))

    # --- the run loop ---------------------------------------------------------------------------
    def _lane_first(self) -> bool:
        """Whether the next event is the lane's head (not the heap's top)."""
        lane, queue = self._lane, self._queue
        return bool(lane) and (not queue or lane[0] < queue[0])

    def peek(self) -> float:
        """The time of the next event (SimPy's `peek`), the lane's included."""
        if self._lane_first():
            return self._lane[0][0]
        return self._queue[0][0] if self._queue else simpy.core.Infinity

    def _pop(self) -> tuple:
        """Take the next entry off the heap or the lane, whichever comes first, and move the clock to it."""
        entry = self._lane.popleft() if self._lane_first() else heappop(self._queue)
        self._now = entry[0]
        return entry

    @staticmethod
    def event_of(entry: tuple) -> Any:
        """The event an entry stands for (a lane reply's: its hop, which names the link it crossed)."""
        return entry[5] if len(entry) == 6 else entry[3]

    def dispatch(self, entry: tuple) -> None:
        """Process an entry taken off the heap or the lane (as `_loop` does)."""
        if len(entry) > 4:  # the lane's: it names what to call
            entry[4](entry[3])
            return
        event = entry[3]
        if hasattr(event, "fn"):
            event.fn(event)
        else:
            self._simpy_event(event)

    def step(self) -> None:
        """Process the next event (SimPy's `step`, dispatching dsim's own events directly)."""
        try:
            entry = self._pop()
        except IndexError:
            raise EmptySchedule from None
        self.events += 1
        self.dispatch(entry)

    def _simpy_event(self, event: Event) -> None:
        """SimPy's processing of one of its events, as in `simpy.Environment.step`."""
        callbacks, event.callbacks = event.callbacks, None
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            event.callbacks = callbacks[callbacks.index(callback) + 1:]
            self.schedule(event, URGENT - 1)
            raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc

    def run(self, until: Any = None) -> Any:
        """SimPy's `run`: until the heap is empty, a time, or an event has been processed."""
        if until is not None:
            if not isinstance(until, Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self.now:
                    raise ValueError(f"until ({at}) must be greater than the current simulation time")
                until = Event(self)
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self.now)
            elif until.callbacks is None:
                return until.value
            until.callbacks.append(StopSimulation.callback)
        try:
            with collector_for_runs():
                if self.profile is not None:
                    self.profile.loop(self)
                else:
                    self._loop()
        except StopSimulation as exc:
            return exc.args[0]
        if until is not None:
            assert not until.triggered
            raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {until}')
        return None

    def _loop(self) -> None:
        """Take events off the heap and the lane until both are empty (a `StopSimulation` ends it earlier)."""
        queue = self._queue
        lane = self._lane
        n = 0
        try:
            while True:
                if lane:
                    # The lane's entries are in key order among themselves (each is its maker's time
                    # plus the same delay, with a later id): the next event is the lane's head or the
                    # heap's top. Times decide (as floats: cheaper than tuples); a tie, the whole keys.
                    head = lane[0]
                    if not queue or (t := head[0]) < (top := queue[0])[0] or (t == top[0] and head < top):
                        lane.popleft()
                        self._now = head[0]
                        n += 1
                        # the event's `fn`, carried in the entry: read off events of many classes,
                        # it would be a lookup that no attribute cache holds (a reply's entry carries
                        # the reply and its outcome: see network.py `_LaneHop`)
                        head[4](head[3])
                        continue
                elif not queue:
                    break
                self._now, _, _, event = heappop(queue)
                n += 1
                try:
                    fn = event.fn
                except AttributeError:  # a SimPy event
                    self._simpy_event(event)
                    continue
                fn(event)
        finally:
            self.events += n
