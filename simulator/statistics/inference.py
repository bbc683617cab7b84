"""Confidence intervals over replications, and paired differences between variants.

Replications of a variant are independent (different seeds), so a metric's mean has a Student-t
interval. Variants share their replications' seeds (common random numbers), so the difference
between two variants is best estimated replication by replication: the paired interval is
usually far narrower than the two separate intervals suggest.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    half_width: float  # nan when it cannot be estimated (fewer than two finite values)
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def excludes(self, value: float) -> bool:
        return math.isfinite(self.half_width) and not self.low <= value <= self.high


def t_quantile(n: int, confidence: float = CONFIDENCE) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1))


def mean_interval(values: np.ndarray | list[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and t-interval half-width of the finite values."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    n = int(a.size)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    if n == 1:
        return Interval(float(a[0]), math.nan, 1)
    return Interval(float(a.mean()), t_quantile(n, confidence) * float(a.std(ddof=1)) / math.sqrt(n), n)


def paired_difference(a: np.ndarray | list[float], b: np.ndarray | list[float],
                      confidence: float = CONFIDENCE) -> Interval:
    """Interval of mean(a - b) over replications where both are finite (same seeds, paired)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    return mean_interval(x[ok] - y[ok], confidence)


def unpaired_difference(a: np.ndarray | list[float], b: np.ndarray | list[float],
                        confidence: float = CONFIDENCE) -> Interval:
    """Welch interval of mean(a) - mean(b), ignoring the pairing (what independent seeds would give)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size < 2 or y.size < 2:
        return Interval(float(x.mean() - y.mean()) if x.size and y.size else math.nan, math.nan, min(x.size, y.size))
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0:
        return Interval(float(x.mean() - y.mean()), 0.0, int(min(x.size, y.size)))
    df = (vx + vy) ** 2 / (vx ** 2 / (x.size - 1) + vy ** 2 / (y.size - 1))
    q = float(stats.t.ppf(0.5 + confidence / 2, df))
    return Interval(float(x.mean() - y.mean()), q * se, int(min(x.size, y.size)))
