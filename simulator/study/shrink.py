"""Shrinking a failing input: delta debugging over a set, and bisection of one number.

Both are generic: they know nothing of faults or scenarios, only a predicate `fails` evaluated on
batches of candidates (`FailsBatch`: one bool per candidate, in order). A batch lets the caller run
candidates in parallel; the choice among them is always the first failing one in order, so the
result is the same however the batch was executed.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
FailsBatch = Callable[[list[list[T]]], list[bool]]


def _split(items: list[T], n: int) -> list[list[T]]:
    """`items` in `n` contiguous chunks of near-equal size (the first ones one longer)."""
    size, extra = divmod(len(items), n)
    out, i = [], 0
    for k in range(n):
        j = i + size + (1 if k < extra else 0)
        out.append(items[i:j])
        i = j
    return [c for c in out if c]


def ddmin(items: Sequence[T], fails: FailsBatch) -> list[T]:
    """A 1-minimal failing subset of `items` (Zeller and Hildebrandt's ddmin): removing any one
    element of the result makes it pass. `items` itself must fail. At granularity n the n chunks
    are tried, then (for n > 2) their complements, as one batch; the first failing candidate is
    kept (a chunk: granularity back to 2; a complement: n - 1), otherwise the granularity doubles
    until it reaches single elements. The predicate may stop answering (return fewer bools than
    candidates: a run budget spent): the smallest failing set found so far is returned."""
    current = list(items)
    n = 2
    while len(current) >= 2:
        chunks = _split(current, min(n, len(current)))
        candidates = list(chunks)
        if len(chunks) > 2:
            candidates += [[x for j, c in enumerate(chunks) if j != i for x in c] for i in range(len(chunks))]
        verdicts = fails(candidates)
        found = next((i for i, v in enumerate(verdicts) if v), None)
        if found is not None and found < len(chunks):
            current, n = candidates[found], 2
        elif found is not None:
            current, n = candidates[found], max(len(chunks) - 1, 2)
        elif len(verdicts) < len(candidates):
            break  # the budget ran out before every candidate was tried
        elif len(chunks) < len(current):
            n = min(2 * len(chunks), len(current))
        else:
            break  # single elements, none of whose removal still fails: 1-minimal
    return current


def bisect_down(value: float, fails: Callable[[float], bool | None], low: float = 0.0,
                resolution: Callable[[float], float] = lambda hi: 0.001) -> float:
    """The smallest value in (low, value] found to still fail, by bisection: `value` fails, `low`
    is taken to pass; stop when the bracket is narrower than `resolution(hi)`. `fails` returning
    None (no more runs allowed) ends the search with what is known."""
    lo, hi = low, value
    while hi - lo > resolution(hi):
        mid = (lo + hi) / 2
        verdict = fails(mid)
        if verdict is None:
            break
        if verdict:
            hi = mid
        else:
            lo = mid
    return hi
