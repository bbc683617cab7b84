"""The simulation environment: SimPy's clock and event heap plus the run-wide context.

Everything a component needs during a run (random streams, the network, the recorder) hangs off one
`SimEnv`, never off module globals, so two simulations can run side by side in one process.
"""
from __future__ import annotations

from heapq import heappush
from typing import Any, Callable

import simpy
from simpy.events import NORMAL

from simulator.sampling.rng import Streams


class Timer:
    """A minimal SimPy-compatible event carrying one callback and a value.

    The hot path schedules one of these per arrival and per service completion; it is lighter than
    `simpy.Timeout` (slots, no generator process) and goes through the public `Environment.schedule`.
    The callback receives the timer and reads `timer._value`.
    """

    __slots__ = ("callbacks", "_value", "_ok")

    def __init__(self, fn: Callable[[Any], None], value: Any = None) -> None:
        self.callbacks = [fn]
        self._value = value
        self._ok = True


class SimEnv(simpy.Environment):
    """SimPy environment that also holds the run-wide context of one simulation."""

    def __init__(self, seed: int, warmup_s: float = 0.0, end_s: float = float("inf")) -> None:
        super().__init__()
        self.seed = seed
        self.streams = Streams(seed)
        self.warmup_s = warmup_s
        self.end_s = end_s
        self.network: Any = None
        self.recorder: Any = None
        self.system: Any = None  # the elaborated System, set when it is built

    def call_later(self, delay: float, fn: Callable[[Any], None], value: Any = None) -> Timer:
        """Call `fn(timer)` after `delay` simulated seconds; returns the timer (its `_value` is `value`)."""
        timer = Timer(fn, value)
        self.schedule(timer, NORMAL, delay)
        return timer

    def reserve(self, delay: float) -> tuple[float, int]:
        """The heap position an event scheduled now with `delay` would take: `(time, event id)`.

        The id is taken now, so an event scheduled later with `schedule_reserved` is ordered
        among events of the same time exactly as if it had been scheduled now."""
        return self._now + delay, next(self._eid)

    def schedule_reserved(self, event: Any, slot: tuple[float, int]) -> None:
        """Schedule `event` at a position taken earlier with `reserve` (not in the past)."""
        heappush(self._queue, (slot[0], NORMAL, slot[1], event))
