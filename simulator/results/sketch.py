"""A mergeable latency sketch: a log-bucketed histogram (DDSketch-style) with a bounded relative error.

Used only for runs too long to keep their request records in memory (see simulator/engine/recorder.py):
a value x > 1 ns falls in bucket i = ceil(log_γ(x / 1 ns)) and is represented by the bucket's
midpoint 2·γ^i/(γ+1)·1 ns, so any percentile read back is within ±0.5 % of the value np.percentile
would give (relative error RELATIVE_ERROR); values at or below 1 ns (typically exact zeros) are read as 0.
Counts, sums, minimum and maximum are exact. Two sketches merge by adding their counts.
"""
from __future__ import annotations

import math

import numpy as np

RELATIVE_ERROR = 0.005
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
FLOOR_S = 1e-9


def bucket_of(x: np.ndarray) -> np.ndarray:
    """Bucket index of each value (0 for values at or below FLOOR_S)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape, dtype=np.int64)
    big = x > FLOOR_S
    out[big] = np.maximum(np.ceil(np.log(x[big] / FLOOR_S) / _LOG_GAMMA), 1).astype(np.int64)
    return out


def bucket_value(i: np.ndarray) -> np.ndarray:
    """The value a bucket stands for (its midpoint in relative terms)."""
    i = np.asarray(i, dtype=np.float64)
    return np.where(i > 0, FLOOR_S * 2.0 * np.exp(i * _LOG_GAMMA) / (GAMMA + 1.0), 0.0)


def percentiles_from_counts(bins: np.ndarray, counts: np.ndarray, qs: list[float],
                            lo: float = -math.inf, hi: float = math.inf) -> list[float]:
    """np.percentile's linear interpolation between order statistics, each read from the sketch.

    `bins` are bucket indices in increasing order with their `counts`; results are clipped to the
    exact minimum and maximum (`lo`, `hi`) when known."""
    n = int(counts.sum())
    if n == 0:
        return [math.nan for _ in qs]
    cum = np.cumsum(counts)
    values = np.clip(bucket_value(bins), lo, hi)
    out = []
    for q in qs:
        h = (n - 1) * q / 100.0
        k = int(math.floor(h))
        a = values[np.searchsorted(cum, k, side="right")]
        b = values[np.searchsorted(cum, min(k + 1, n - 1), side="right")]
        out.append(float(a + (h - k) * (b - a)))
    return out


class LatencySketch:
    """Count, sum, min, max exactly; percentiles within RELATIVE_ERROR. Add numpy arrays of values."""

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)
        self.n = 0
        self.total = 0.0
        self.lo = math.inf
        self.hi = -math.inf

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        c = np.bincount(bucket_of(values))
        if c.size > self.counts.size:
            c[: self.counts.size] += self.counts
            self.counts = c
        else:
            self.counts[: c.size] += c
        self.n += int(values.size)
        self.total += float(values.sum())
        self.lo = min(self.lo, float(values.min()))
        self.hi = max(self.hi, float(values.max()))

    def percentiles(self, qs: list[float]) -> list[float]:
        nz = np.nonzero(self.counts)[0]
        return percentiles_from_counts(nz, self.counts[nz], qs, self.lo, self.hi)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """(value, fraction of values at or below it) at each non-empty bucket."""
        nz = np.nonzero(self.counts)[0]
        if nz.size == 0:
            return np.empty(0), np.empty(0)
        return np.clip(bucket_value(nz), self.lo, self.hi), np.cumsum(self.counts[nz]) / self.n
