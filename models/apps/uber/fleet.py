"""Drivers and offer rounds: the actors' state, in plain objects (no process per driver: a driver's
position is computed from the leg being driven when someone asks)."""
from __future__ import annotations

import math
from typing import Any

from simpy.events import Event

from .geo import manhattan

IDLE, TO_PICKUP, ON_TRIP = 0, 1, 2


class Ride:
    """One offer round of a ride request: the drivers offered (and not yet answered), the winner."""

    __slots__ = ("req", "x", "y", "t_offered", "pending", "winner", "decided")

    def __init__(self, req: Any, x: float, y: float, env: Any, t_offered: float) -> None:
        self.req, self.x, self.y, self.t_offered = req, x, y, t_offered
        self.pending: dict[int, tuple] = {}
        self.winner: int | None = None
        self.decided = Event(env)


class Driver:
    """A driver: state, rating, acceptance probability, and the leg being driven (on the street
    grid: east-west first, then north-south)."""

    __slots__ = ("id", "state", "rating", "accept_p", "x0", "y0", "t0", "x1", "y1", "t1", "epoch")

    def __init__(self, i: int, x: float, y: float, now: float, rating: float, accept_p: float) -> None:
        self.id, self.state, self.rating, self.accept_p = i, IDLE, rating, accept_p
        self.x0 = self.x1 = x
        self.y0 = self.y1 = y
        self.t0 = self.t1 = now
        self.epoch = 0

    def pos(self, now: float) -> tuple[float, float]:
        if now >= self.t1:
            return self.x1, self.y1
        dx, dy = self.x1 - self.x0, self.y1 - self.y0
        done = (now - self.t0) / (self.t1 - self.t0) * (abs(dx) + abs(dy))
        if done <= abs(dx):
            return self.x0 + math.copysign(done, dx), self.y0
        return self.x1, self.y0 + math.copysign(done - abs(dx), dy)

    def drive(self, now: float, x: float, y: float, speed_kmh: float) -> float:
        """Start driving from where the driver is to (x, y); returns the arrival time."""
        self.x0, self.y0 = self.pos(now)
        self.x1, self.y1 = x, y
        self.t0 = now
        self.t1 = now + manhattan(self.x0, self.y0, x, y) / speed_kmh * 3600.0
        return self.t1
