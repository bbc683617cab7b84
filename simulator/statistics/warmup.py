"""Choosing the warm-up: the MSER-5 rule (White, 1997; Hoad, Robinson & Davies, 2010).

The output series (here each request's latency, in order of arrival) is cut into batches of 5; for
each candidate truncation point d, MSER is the variance of the remaining batch means divided by
the square of how many remain. The d that minimises it is where the initial transient ends. Only
the first half is searched: a minimum beyond it means the run shows no steady state.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BATCH = 5


@dataclass(frozen=True)
class Truncation:
    batches: int  # batches to drop
    observations: int  # = batches * BATCH
    steady: bool  # False when the minimum is in the second half (no steady state seen)


def mser(series: np.ndarray, batch: int = BATCH) -> Truncation:
    """The MSER-`batch` truncation point of a series in time order."""
    x = np.asarray(series, dtype=float)
    k = x.size // batch
    if k < 4:
        return Truncation(0, 0, False)
    means = x[: k * batch].reshape(k, batch).mean(axis=1)
    # Sums over the tails means[d:], for every d at once.
    tail_sum = np.cumsum(means[::-1])[::-1]
    tail_sq = np.cumsum((means ** 2)[::-1])[::-1]
    remaining = np.arange(k, 0, -1, dtype=float)
    var_sum = tail_sq - tail_sum ** 2 / remaining  # sum of squared deviations of the tail
    stat = var_sum / remaining ** 2
    half = k // 2
    d = int(np.argmin(stat[: half + 1]))
    steady = int(np.argmin(stat[:-1])) <= half
    return Truncation(d, d * batch, steady)
