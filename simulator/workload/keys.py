"""Key distributions: which key (0..n-1) a request touches; key 0 is the most popular.

Keys are drawn in numpy blocks; zipf uses a precomputed CDF and `searchsorted`, so a draw costs the
same whatever the exponent.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

from simulator.language import registry
from simulator.sampling.blocks import BlockStream
from simulator.language.config import StrictModel
from simulator.language.units import Fraction
from simulator.language.tagged import tagged_validator

MAX_KEYS = 50_000_000
MAX_ZIPF_KEYS = 10_000_000  # zipf keeps a CDF of n floats (one per (n, s): `zipf_cdf`): 80 MB each at most


class KeyConfig(StrictModel):
    dist: str
    n: PositiveInt = Field(description="Number of distinct keys.", le=MAX_KEYS)

    def probabilities(self) -> np.ndarray:
        """Probability of each key (used by theory checks such as Che's approximation)."""
        raise NotImplementedError

    def make(self, rng: Any) -> BlockStream:
        """A stream of keys; `next()` gives one int."""
        return BlockStream(lambda n: self.block(rng, n))

    def block(self, rng: Any, size: int) -> np.ndarray:
        raise NotImplementedError


@registry.key_dists.register("uniform")
class UniformKeys(KeyConfig):
    """Every key equally likely."""

    dist: Literal["uniform"] = "uniform"

    def probabilities(self):
        return np.full(self.n, 1.0 / self.n)

    def block(self, rng, size):
        return rng.integers(0, self.n, size)


@registry.key_dists.register("zipf")
class ZipfKeys(KeyConfig):
    """Zipf: key k (0-based) has probability proportional to 1/(k+1)^s."""

    dist: Literal["zipf"] = "zipf"
    n: PositiveInt = Field(description="Number of distinct keys.", le=MAX_ZIPF_KEYS)
    s: PositiveFloat = Field(1.0, description="Exponent; larger is more skewed.")

    def probabilities(self):
        return _zipf_probabilities(self.n, self.s)

    def make(self, rng):
        cdf = zipf_cdf(self.n, self.s)
        return BlockStream(lambda n: _draw_from(cdf, rng, n))

    def block(self, rng, size):
        return _draw_from(zipf_cdf(self.n, self.s), rng, size)


def _zipf_probabilities(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** s
    return w / w.sum()


@lru_cache(maxsize=4)
def zipf_cdf(n: int, s: float) -> np.ndarray:
    """The CDF of zipf(n, s), read-only. Built once per process for each (n, s), not per stream:
    for a million keys it takes longer (tens of ms: a power per key) than a short run's requests,
    and the workloads of a system, and the runs of a study, usually share one. At most 4 are kept
    (80 MB each at the largest n)."""
    cdf = np.cumsum(_zipf_probabilities(n, s))
    cdf[-1] = 1.0
    cdf.setflags(write=False)
    return cdf


def _draw_from(cdf: np.ndarray, rng: Any, size: int) -> np.ndarray:
    """`size` keys drawn by inverting `cdf` at uniform draws of `rng`, in draw order."""
    u = rng.random(size)
    # Looked up in increasing order (the same keys, put back in draw order): each search starts
    # where the last ended and reads the CDF front to back, about twice as fast as in draw order
    # over a CDF of a million keys that is not in the CPU's caches.
    order = np.argsort(u)
    keys = np.empty(size, dtype=np.intp)
    keys[order] = np.searchsorted(cdf, u[order], side="right")
    return np.minimum(keys, len(cdf) - 1, out=keys)


@registry.key_dists.register("hotspot")
class HotspotKeys(KeyConfig):
    """A hot set: `hot_fraction` of the keys gets `hot_traffic` of the requests, uniformly within each set."""

    dist: Literal["hotspot"] = "hotspot"
    hot_fraction: Fraction = 0.2
    hot_traffic: Fraction = 0.8

    def _hot_n(self) -> int:
        return max(1, min(self.n - 1, round(self.n * self.hot_fraction))) if self.n > 1 else 1

    def probabilities(self):
        h = self._hot_n()
        p = np.empty(self.n)
        p[:h] = self.hot_traffic / h
        if self.n > h:
            p[h:] = (1 - self.hot_traffic) / (self.n - h)
        return p / p.sum()

    def block(self, rng, size):
        h = self._hot_n()
        hot = rng.random(size) < self.hot_traffic
        return np.where(hot, rng.integers(0, h, size), rng.integers(h, max(self.n, h + 1), size))


parse_keys = tagged_validator(registry.key_dists, "dist", KeyConfig, "a key distribution like 'zipf(n=10000, s=1.1)'")
