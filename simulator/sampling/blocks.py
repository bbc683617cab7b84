"""Random draws on the hot path: numpy fills a block, Python hands out its values one at a time.

One numpy call per 4096 values instead of one per value; the order of values, and so every
result, is the same whatever the block size.
"""
from __future__ import annotations

from itertools import chain, repeat
from typing import Any, Callable

import numpy as np

BLOCK = 4096


class BlockStream:
    """`next()` returns the next value of `draw(n)` blocks, as a Python scalar.

    `next` is the `__next__` of an endless chain of blocks (C code, no Python frame per value);
    each block is drawn when the previous one runs out, as late as with a refill on demand."""

    __slots__ = ("draw", "size", "next")

    def __init__(self, draw: Callable[[int], np.ndarray], size: int = BLOCK) -> None:
        self.draw = draw
        self.size = size
        blocks = map(lambda _: draw(size).tolist(), repeat(None))
        self.next: Callable[[], Any] = chain.from_iterable(blocks).__next__
