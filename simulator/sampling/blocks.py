"""Random draws on the hot path: numpy fills a block, Python hands out its values one at a time.

One numpy call per 4096 values instead of one per value; the order of values, and so every
result, is the same whatever the block size.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

BLOCK = 4096


class BlockStream:
    """`next()` returns the next value of `draw(n)` blocks, as a Python scalar."""

    __slots__ = ("draw", "size", "_it")

    def __init__(self, draw: Callable[[int], np.ndarray], size: int = BLOCK) -> None:
        self.draw = draw
        self.size = size
        self._it: Any = iter(())

    def next(self) -> Any:
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self.draw(self.size).tolist())
            return next(self._it)
