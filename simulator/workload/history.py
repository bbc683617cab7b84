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

import gc
from array import array
from typing import Any

from simulator.consistency.formats import events_of
from simulator.consistency.history import INFO, Event, History, Op
from simulator.engine.request import OK, REJECTED, TIMED_OUT, ERROR, SHORT_CIRCUITED, RATE_LIMITED, SHED

CHECKABLE_FUNCTIONS = ("read", "write", "cas", "append")
# The models a checkable workload's functions fit (and the one `check: [linearizable]` uses).
MODEL_OF = (({"read", "write"}, "register"), ({"read", "write", "cas"}, "cas-register"),
            ({"read", "append"}, "list-append"))
# Outcomes that say a call was refused (not timed out): for a write-like operation that no store
# applied during the run they are definite failures.
REFUSALS = frozenset((REJECTED, ERROR, SHORT_CIRCUITED, RATE_LIMITED, SHED))
_UNSET = object()
_NAN = float("nan")


def model_for(functions: set[str]) -> str | None:
    """The smallest consistency model whose functions include `functions` (None: none does)."""
    for fs, name in MODEL_OF:
        if functions <= fs:
            return name
    return None


F_CODES = {f: i for i, f in enumerate(CHECKABLE_FUNCTIONS)}
READ, WRITE, CAS, APPEND = range(4)


def completion_type(f: str, outcome: int | None, applied: bool, cas_failed: bool, read_known: bool) -> str | None:
    """ok, fail or info (None: never completed, open forever), by the rules of docs/consistency.md."""
    if outcome is None:
        return None
    if f == "read":
        if outcome == OK:
            # A read answered without a store's value (a cache hit, a fallback) says nothing.
            return "ok" if read_known else "info"
        return "fail"  # a read changes nothing: whatever happened to it, it had no effect
    if outcome == OK:
        return "fail" if cas_failed else "ok"
    if outcome == TIMED_OUT:
        return "info"  # it may be applied at any time, even after the client gave up
    if outcome in REFUSALS and not applied:
        return "fail"  # refused, and no store applied it during the run
    return "info"  # failed after some replica applied it (or degraded): its effect is unknown


class HistoryLog:
    """The run's operations in columns (no object per operation: a long history would otherwise slow
    the garbage collector down), found by request id, and the order of invocations and completions.

    Stores (models/database.py, models/replicated.py) find an operation's row with `ops.get(req.id)`
    and set `applied[row]`, `cas_failed[row]`, `read[row]` (and `final[row]`): see the module doc."""

    def __init__(self) -> None:
        self.ops: dict[int, int] = {}  # request id -> row
        self.process = array("q")
        self.f = bytearray()
        self.key: list = []
        self.value: list = []
        self.invoke_s = array("d")
        self.complete_s = array("d")
        self.outcome = array("b")  # -1: not completed
        self.applied = bytearray()
        self.cas_failed = bytearray()
        self.final = bytearray()
        self.read: list = []  # the value a read returned (_UNSET: no store reported one)
        self.order = array("q")  # row (an invocation) or ~row (a completion), in real-time order
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

    def invoke(self, rid: int, process: int, f: str, key: Any, value: Any, now: float) -> int:
        row = len(self.f)
        self.ops[rid] = row
        self.process.append(process)
        self.f.append(F_CODES[f])
        self.key.append(key)
        self.value.append(value)
        self.invoke_s.append(now)
        self.complete_s.append(_NAN)
        self.outcome.append(-1)
        self.applied.append(0)
        self.cas_failed.append(0)
        self.final.append(0)
        self.read.append(_UNSET)
        self.order.append(row)
        return row

    def complete(self, row: int, now: float, outcome: int) -> None:
        self.complete_s[row] = now
        self.outcome[row] = outcome
        self.order.append(~row)

    def completion_type(self, row: int) -> str | None:
        outcome = self.outcome[row]
        return completion_type(CHECKABLE_FUNCTIONS[self.f[row]], None if outcome < 0 else outcome,
                               bool(self.applied[row]), bool(self.cas_failed[row]), self.read[row] is not _UNSET)

    def events(self) -> list[Event]:
        """The history's events in real-time order (an operation never completed has no completion)."""
        return events_of(self.history())

    def history(self, source: str = "<run>") -> History:
        """The operations, paired and typed (as `simulator.consistency.pair` would pair `events()`:
        built directly, as a run's history can hold millions of events)."""
        # Every object made here survives: the cyclic collector would only walk them again and again.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._history(source)
        finally:
            if was_enabled:
                gc.enable()

    def _history(self, source: str) -> History:
        ops: list[Op | None] = [None] * len(self.f)
        names = CHECKABLE_FUNCTIONS
        n = 0
        for index, row in enumerate(self.order):
            if row >= 0:
                value = self.value[row]
                if type(value) is tuple:
                    value = list(value)
                ops[row] = Op(n, self.process[row], names[self.f[row]], self.key[row], value, INFO, index, None,
                              self.invoke_s[row], None)
                n += 1
            else:
                row = ~row
                o = ops[row]
                o.type = self.completion_type(row)
                o.complete_index = index
                o.complete_time = self.complete_s[row]
                if o.type == "ok" and o.f == "read":
                    read = self.read[row]
                    o.value = list(read) if type(read) is tuple else read
        return History(ops, source, len(self.order))  # rows are in invocation order already

    def __len__(self) -> int:
        return len(self.f)
