"""Random draws on the hot path: numpy fills a block, Python hands out its values one at a time.

One numpy call per 4096 values instead of one per value; the order of values, and so every
result, is the same whatever the block size.
"""
from __future__ import annotations

from itertools import chain
from typing import Any, Callable, Iterator

import numpy as np

BLOCK = 4096
# Values are turned into Python objects this many at a time, as they are reached: a stream that
# draws a few values (one of 10,000 servers' service times) holds its block as 8-byte numpy values
# instead of 4,096 Python floats (~130 KB), and pays for converting only what it uses.
PIECE = 256


class BlockStream:
    """`next()` returns the next value of `draw(n)` blocks, as a Python scalar.

    `next` is the `__next__` of an endless chain of blocks (C code, no Python frame per value);
    each block is drawn when the previous one runs out, as late as with a refill on demand, and
    converted to Python values `PIECE` at a time (the same values: only when they are converted
    changes)."""

    __slots__ = ("draw", "size", "next")

    def __init__(self, draw: Callable[[int], np.ndarray], size: int = BLOCK, first: int | None = None) -> None:
        self.draw = draw
        self.size = size
        self.next: Callable[[], Any] = chain.from_iterable(_pieces(draw, size, first)).__next__


def _pieces(draw: Callable[[int], Any], size: int, first: int | None = None) -> Iterator[list]:
    """The blocks `draw(size)`, one after another, as lists of at most `PIECE` Python values.

    With `first`, the first block is that small and each next one twice as large, up to `size`: only
    for a `draw` whose values do not depend on the block sizes (a stream that draws a few values,
    one of 10,000 servers' service times, then holds a few instead of a block of 4,096: 32 KB)."""
    n = size if first is None else min(first, size)
    while True:
        block = draw(n)
        n = min(2 * n, size)
        if len(block) <= PIECE or not isinstance(block, np.ndarray):
            yield block.tolist() if isinstance(block, np.ndarray) else list(block)
            continue
        for i in range(0, len(block), PIECE):
            yield block[i:i + PIECE].tolist()


class Replay:
    """The values a `BlockStream` over the same `draw` handed out, taken again in bulk after the run:
    blocks of the same size from a fresh generator give the same sequence, so a record can be rebuilt
    (the keys of a workload's requests, in order) instead of stored on the hot path."""

    __slots__ = ("draw", "size", "buf", "pos")

    def __init__(self, draw: Callable[[int], np.ndarray], size: int = BLOCK) -> None:
        self.draw = draw
        self.size = size
        self.buf = np.empty(0)
        self.pos = 0

    def take(self, k: int) -> np.ndarray:
        """The next `k` values, in order."""
        parts = []
        while k > 0:
            if self.pos == self.buf.size:
                self.buf, self.pos = np.asarray(self.draw(self.size)), 0
            n = min(k, self.buf.size - self.pos)
            parts.append(self.buf[self.pos:self.pos + n])
            self.pos += n
            k -= n
        return np.concatenate(parts) if parts else np.empty(0, dtype=self.buf.dtype)
