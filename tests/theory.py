"""Closed forms from queueing theory and the batch-means confidence interval used to compare."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load a = lambda/mu (< c)."""
    term = 1.0
    total = 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c * c / (c - a)
    return last / (total + last)


def mmc_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue of M/M/c."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def md1_wait(lam: float, d: float) -> float:
    """Mean time in queue of M/D/1 with deterministic service d."""
    rho = lam * d
    return rho * d / (2 * (1 - rho))


def mg1_wait(lam: float, mean_s: float, second_moment_s: float) -> float:
    """Pollaczek-Khinchine: mean time in queue of M/G/1."""
    rho = lam * mean_s
    return lam * second_moment_s / (2 * (1 - rho))


def mmck_blocking(lam: float, mu: float, c: int, k: int) -> float:
    """Blocking probability of M/M/c/K (K = servers + waiting room)."""
    a = lam / mu
    p = [1.0]
    for n in range(1, k + 1):
        p.append(p[-1] * a / min(n, c))
    return p[-1] / sum(p)


def batch_means_ci(values: np.ndarray, batches: int = 30, confidence: float = 0.99) -> tuple[float, float]:
    """Mean and confidence half-width by the method of batch means (values in time order)."""
    values = np.asarray(values, dtype=float)
    n = values.size // batches * batches
    means = values[:n].reshape(batches, -1).mean(axis=1)
    half = stats.t.ppf(0.5 + confidence / 2, batches - 1) * means.std(ddof=1) / math.sqrt(batches)
    return float(values[:n].mean()), float(half)


def _solve_characteristic_time(p: np.ndarray, c: int, occupancy) -> float:
    """The T with sum_i occupancy(p_i, T) = c (bisection on a monotone function)."""
    lo, hi = 0.0, 1.0
    while occupancy(p, hi).sum() < c:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if occupancy(p, mid).sum() < c:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def che_lru_hit_ratio(p: np.ndarray, c: int) -> float:
    """Che's approximation of LRU's hit ratio under independent requests with popularities p."""
    occ = lambda p, t: 1.0 - np.exp(-p * t)  # noqa: E731
    t = _solve_characteristic_time(p, c, occ)
    return float((p * occ(p, t)).sum())


def fifo_hit_ratio(p: np.ndarray, c: int) -> float:
    """The characteristic-time approximation for FIFO (and RANDOM, the same under IRM)."""
    occ = lambda p, t: p * t / (1.0 + p * t)  # noqa: E731
    t = _solve_characteristic_time(p, c, occ)
    return float((p * occ(p, t)).sum())
