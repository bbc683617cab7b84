"""Operation histories recorded during a run (`history: true`): what each checkable client did.

A checkable workload (`checkable: true` on a closed-loop workload) is a set of Jepsen *processes*:
each user has one operation in flight at a time. Every operation is registered here by its request
id when it is invoked, so the stores it reaches can fill in what happened to it (docs/consistency.md,
"How a store reports what a read saw"):

- a store that applies a write-like operation (`write`, `cas`, `append`) sets `applied` (a cas whose
  comparison failed sets `cas_failed` instead: it had no effect);
- a store that answers a read sets `read` (unless a replicated router already fixed the value it
  returns: `final`).

At the end of the run `history()` turns the operations into a `simulator.consistency.History`, typed
as Jepsen defines it: ok, fail (certainly no effect) or info (unknown: open forever). The rules, per
outcome, are `completion_type` below and the table in docs/consistency.md.

Nothing of this exists in a run without `history: true`: the stores keep their plain paths.
"""
from __future__ import annotations

from typing import Any

from simulator.consistency.history import Event, History, pair
from simulator.engine.request import OK, REJECTED, TIMED_OUT, ERROR, SHORT_CIRCUITED, RATE_LIMITED, SHED

CHECKABLE_FUNCTIONS = ("read", "write", "cas", "append")
# The models a checkable workload's functions fit (and the one `check: [linearizable]` uses).
MODEL_OF = (({"read", "write"}, "register"), ({"read", "write", "cas"}, "cas-register"),
            ({"read", "append"}, "list-append"))
# Outcomes that say a call was refused (not timed out): for a write-like operation that no store
# applied during the run they are definite failures.
REFUSALS = frozenset((REJECTED, ERROR, SHORT_CIRCUITED, RATE_LIMITED, SHED))
_UNSET = object()


def model_for(functions: set[str]) -> str | None:
    """The smallest consistency model whose functions include `functions` (None: none does)."""
    for fs, name in MODEL_OF:
        if functions <= fs:
            return name
    return None


class Operation:
    """One client operation while the run goes on (plain slots: stores touch it on their path)."""

    __slots__ = ("process", "f", "key", "value", "invoke_s", "complete_s", "outcome", "applied", "cas_failed",
                 "read", "final")

    def __init__(self, process: int, f: str, key: Any, value: Any, invoke_s: float) -> None:
        self.process, self.f, self.key, self.value, self.invoke_s = process, f, key, value, invoke_s
        self.complete_s: float | None = None
        self.outcome: int | None = None
        self.applied = False
        self.cas_failed = False
        self.read: Any = _UNSET
        self.final = False

    def completion_type(self) -> str | None:
        """ok, fail or info (None: never completed, open forever), by the rules of docs/consistency.md."""
        outcome = self.outcome
        if outcome is None:
            return None
        if self.f == "read":
            if outcome == OK:
                # A read answered without a store's value (a cache hit, a fallback) says nothing.
                return "info" if self.read is _UNSET else "ok"
            return "fail"  # a read changes nothing: whatever happened to it, it had no effect
        if outcome == OK:
            return "fail" if self.cas_failed else "ok"
        if outcome == TIMED_OUT:
            return "info"  # it may be applied at any time, even after the client gave up
        if outcome in REFUSALS and not self.applied:
            return "fail"  # refused, and no store applied it during the run
        return "info"  # failed after some replica applied it (or degraded): its effect is unknown

    def result_value(self) -> Any:
        if self.f == "read":
            return None if self.read is _UNSET else _plain(self.read)
        return self.value


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class HistoryLog:
    """The run's operations, by request id, and the order of their invocations and completions."""

    def __init__(self) -> None:
        self.ops: dict[int, Operation] = {}
        self.order: list[tuple[Operation, bool]] = []  # (operation, completion?) in real-time order
        self._values = 0
        self._processes = 0

    def new_process(self) -> int:
        """A process number not used before (a user gets a new one after an operation of unknown effect)."""
        self._processes += 1
        return self._processes - 1

    def next_value(self) -> int:
        """A written value no other operation of the run writes (1, 2, 3, ...)."""
        self._values += 1
        return self._values

    def invoke(self, rid: int, process: int, f: str, key: Any, value: Any, now: float) -> Operation:
        op = Operation(process, f, key, value, now)
        self.ops[rid] = op
        self.order.append((op, False))
        return op

    def complete(self, op: Operation, now: float, outcome: int) -> None:
        op.complete_s = now
        op.outcome = outcome
        self.order.append((op, True))

    def events(self) -> list[Event]:
        """The history's events in real-time order (an operation never completed has no completion)."""
        out = []
        for op, done in self.order:
            if not done:
                value = list(op.value) if isinstance(op.value, tuple) else op.value
                out.append(Event(op.process, "invoke", op.f, None if op.f == "read" else value, op.key,
                                 op.invoke_s, len(out)))
            else:
                out.append(Event(op.process, op.completion_type(), op.f, op.result_value(), op.key,
                                 op.complete_s, len(out)))
        return out

    def history(self, source: str = "<run>") -> History:
        return pair(self.events(), source)

    def __len__(self) -> int:
        return len(self.ops)
