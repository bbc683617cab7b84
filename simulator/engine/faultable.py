"""What faults act on (components and links): state made of counted contributions.

A fault never sets a flag. It adds a contribution under its own token when its window opens and
removes exactly that contribution when the window closes; the target's state is recomputed from
the contributions still active. So a node is down while at least one crash holds it, a link is cut
while at least one partition cuts it, slowdowns multiply, latencies add, losses combine as
independent chances, and every fault's effect lasts exactly its own window whatever else starts or
ends meanwhile. Recomputing from the remaining contributions (rather than dividing or subtracting
back) unwinds exactly: when the last one ends the state is the identity again, bit for bit.

A target declares its kinds in `FAULT_KINDS`: kind -> (attribute the hot path reads, how active
contributions combine). It is told about each change in `fault_changed`.
"""
from __future__ import annotations

import math
from typing import Any, Callable, ClassVar, Hashable

Combine = Callable[[list[Any]], Any]


def any_active(values: list[Any]) -> bool:
    return bool(values)


def product(values: list[float]) -> float:
    return math.prod(values) if values else 1.0


def total(values: list[float]) -> float:
    return math.fsum(values)


def independent_chance(values: list[float]) -> float:
    """The chance that at least one of independent events happens (a message lost by any active loss)."""
    return 1.0 - math.prod(1.0 - p for p in values) if values else 0.0


def linear_clock(values: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """Clock skews (offset, drift, start) combined as one linear map of the true time t:
    t + sum(offset + drift * (t - start)) = t + a + b * t. None (the true clock) when none is active."""
    if not values:
        return None
    return (math.fsum(o - d * s for o, d, s in values), math.fsum(d for _o, d, _s in values))


def count(values: list[Any]) -> int:
    """How many contributions were ever added and are still held (instant faults: one per event)."""
    return len(values)


class Faultable:
    """Mixin for anything a fault can act on. Subclasses set `FAULT_KINDS` and give `_contrib` a slot or
    an instance attribute (a dict made on first use)."""

    FAULT_KINDS: ClassVar[dict[str, tuple[str, Combine]]] = {}
    __slots__ = ()

    def fault_expect(self, kind: str) -> None:
        """Before the run: a fault of `kind` may act on this (so it keeps what it needs to react)."""
        if kind not in self.FAULT_KINDS:
            raise ValueError(f"{type(self).__name__} has no fault kind '{kind}'")

    def fault_add(self, kind: str, token: Hashable, value: Any = True) -> None:
        """A fault's contribution starts (one per token and kind)."""
        active = self._contributions(kind)
        if token in active:
            raise ValueError(f"fault {token!r} already contributes {kind} to {self!r}")
        active[token] = value
        self._recompute(kind, active)

    def fault_remove(self, kind: str, token: Hashable) -> None:
        """A fault's contribution ends; the state is recomputed from those still active."""
        active = self._contributions(kind)
        del active[token]
        self._recompute(kind, active)

    def fault_token(self, *kinds: str) -> int:
        """The token of the fault behind this target's state of `kinds` now (for a failure's record):
        of those active, the one that started first (contributions keep their order); -1 for none.
        Called only where a failure is decided, never on the path of a success."""
        active = self._contrib
        if active:
            for kind in kinds:
                held = active.get(kind)
                if held:
                    token = next(iter(held))
                    return token if isinstance(token, int) else -1
        return -1

    def fault_changed(self, kind: str, before: Any, after: Any) -> None:
        """Called when the combined value of `kind` changes."""

    def _contributions(self, kind: str) -> dict[Hashable, Any]:
        active = self._contrib
        if active is None:
            active = self._contrib = {}
        return active.setdefault(kind, {})

    def _recompute(self, kind: str, active: dict[Hashable, Any]) -> None:
        attr, combine = self.FAULT_KINDS[kind]
        before = getattr(self, attr)
        after = combine(list(active.values()))
        if after != before:
            setattr(self, attr, after)
            self.fault_changed(kind, before, after)
