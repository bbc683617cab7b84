"""Load-balancing algorithms: pluggable strategy objects.

An algorithm is built once with the number of backends and its random stream, then asked
`choose(req, lb)` on every request. `lb.outstanding[i]` counts requests sent to backend `i` and not
yet answered (queued or in service there); `lb.healthy` lists the indices currently usable.
"""
from __future__ import annotations

import math
from typing import Any

from simulator.language import registry
from simulator.sampling.blocks import BlockStream
from simulator.engine.request import Request
from simulator.sampling.rng import mix64


class Algorithm:
    """Base: override `choose`; `observe` is told each backend's response time."""

    def __init__(self, n: int, rng: Any, weights: list[float] | None = None) -> None:
        self.n = n
        self.rng = rng
        self.weights = weights or [1.0] * n

    def choose(self, req: Request, lb: Any) -> int:
        raise NotImplementedError

    def observe(self, i: int, response_s: float) -> None:
        pass


def _uniform_ints(rng: Any, n: int) -> BlockStream:
    return BlockStream(lambda size: rng.integers(0, n, size))


@registry.lb_algorithms.register("round_robin")
class RoundRobin(Algorithm):
    """Each backend in turn, skipping unhealthy ones."""

    def __init__(self, n, rng, weights=None):
        super().__init__(n, rng, weights)
        self.i = -1

    def choose(self, req, lb):
        healthy = lb.healthy
        self.i = (self.i + 1) % len(healthy)
        return healthy[self.i]


@registry.lb_algorithms.register("weighted_round_robin")
class WeightedRoundRobin(Algorithm):
    """Smooth weighted round robin (nginx): backend i gets a share proportional to its weight."""

    def __init__(self, n, rng, weights=None):
        super().__init__(n, rng, weights)
        self.current = [0.0] * n

    def choose(self, req, lb):
        healthy = lb.healthy
        total = 0.0
        best = healthy[0]
        cur, w = self.current, self.weights
        for i in healthy:
            cur[i] += w[i]
            total += w[i]
            if cur[i] > cur[best]:
                best = i
        cur[best] -= total
        return best


@registry.lb_algorithms.register("random")
class Random(Algorithm):
    """A uniformly random healthy backend."""

    def __init__(self, n, rng, weights=None):
        super().__init__(n, rng, weights)
        self._u = _uniform_ints(rng, n)

    def choose(self, req, lb):
        healthy = lb.healthy
        if len(healthy) == self.n:
            return self._u.next()
        return healthy[int(self.rng.integers(len(healthy)))]


class _LowestScore(Algorithm):
    """The healthy backend with the lowest `score`; the scan starts one further each time, so ties
    are shared round robin instead of always going to the first backend."""

    def __init__(self, n, rng, weights=None):
        super().__init__(n, rng, weights)
        self.start = 0

    def score(self, i: int, lb: Any) -> float:
        raise NotImplementedError

    def choose(self, req, lb):
        healthy = lb.healthy
        k = len(healthy)
        self.start = (self.start + 1) % k
        best, best_v = -1, math.inf
        for j in range(k):
            i = healthy[(self.start + j) % k]
            v = self.score(i, lb)
            if v < best_v:
                best, best_v = i, v
        return best


@registry.lb_algorithms.register("least_connections")
class LeastConnections(_LowestScore):
    """The backend with fewest outstanding requests (queued or in service), per unit of weight."""

    weights_unit: bool | None = None  # all weights 1 (decided at the first choice)

    def score(self, i, lb):
        return lb.outstanding[i] / self.weights[i]

    def choose(self, req, lb):
        if self.weights_unit is None:
            self.weights_unit = all(w == 1.0 for w in self.weights)
        if not self.weights_unit:
            return super().choose(req, lb)
        # Unit weights: the scores are the counts themselves; the same scan without a call per backend.
        healthy = lb.healthy
        out = lb.outstanding
        k = len(healthy)
        start = self.start = (self.start + 1) % k
        best, best_v = -1, math.inf
        for j in range(start, start + k):
            i = healthy[j % k]
            v = out[i]
            if v < best_v:
                best, best_v = i, v
        return best


@registry.lb_algorithms.register("least_response_time")
class LeastResponseTime(_LowestScore):
    """The backend with the lowest moving average response time, times (outstanding + 1)."""

    alpha = 0.2  # weight of the newest observation in the exponential moving average

    def __init__(self, n, rng, weights=None):
        super().__init__(n, rng, weights)
        self.avg = [0.0] * n

    def score(self, i, lb):
        return self.avg[i] * (lb.outstanding[i] + 1)

    def observe(self, i, response_s):
        self.avg[i] += self.alpha * (response_s - self.avg[i])




@registry.lb_algorithms.register("ip_hash")
class IpHash(Algorithm):
    """Sticky: a hash of the client's user id (or the request key) picks the backend."""

    def choose(self, req, lb):
        ident = req.user if req.user is not None else (req.key if req.key is not None else req.id)
        healthy = lb.healthy
        return healthy[mix64(ident) % len(healthy)]


@registry.lb_algorithms.register("power_of_two_choices")
class PowerOfTwoChoices(Algorithm):
    """Two random backends; the one with fewer outstanding requests."""

    def __init__(self, n, rng, weights=None):
        super().__init__(n, rng, weights)
        self._u = _uniform_ints(rng, n)

    def choose(self, req, lb):
        healthy = lb.healthy
        out = lb.outstanding
        if len(healthy) == self.n:
            a = self._u.next()
            b = self._u.next()
        else:
            a = healthy[self._u.next() % len(healthy)]
            b = healthy[self._u.next() % len(healthy)]
        return a if out[a] <= out[b] else b
