"""Interrupts that wait for a safe point.

A signal handler that raises KeyboardInterrupt can land inside `threading.Condition.wait` (a pool
waiting for its runs), between taking and releasing the condition's lock; the lock is then released
twice and the interrupt becomes `RuntimeError: release unlocked lock`, a traceback instead of a clean
stop. Code that waits on threads runs inside `deferred()`: a handler asks `defer()` first and, when
told to, only records the request; the waiting code polls `raise_if_requested()` between short waits.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_requested = False


@contextmanager
def deferred() -> Iterator[None]:
    """Within the block, an interrupt is recorded, not raised (see `defer`)."""
    global _depth, _requested
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            pending, _requested = _requested, False
            if pending:
                raise KeyboardInterrupt


def defer() -> bool:
    """For a signal handler: True if the interrupt was recorded for the waiting code to raise."""
    global _requested
    if _depth:
        _requested = True
        return True
    return False


def raise_if_requested() -> None:
    global _requested
    if _requested:
        _requested = False
        raise KeyboardInterrupt
