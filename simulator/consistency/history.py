"""Operation histories, as Jepsen defines them.

A history is a list of *events*: a process invokes an operation (`invoke`), and the operation later
completes as `ok` (it took effect, the value is its result), `fail` (it certainly did not take effect)
or `info` (unknown: it may have taken effect at any moment after its invocation, or never; such an
operation stays open forever). `pair` matches each invocation with its completion into one `Op`, the
unit the checkers work on. Nothing here knows about simulations: the same code reads dsim's histories
and Jepsen's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable

from simulator.language.errors import DsimError

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = (INVOKE, OK, FAIL, INFO)
FUNCTIONS = ("read", "write", "cas", "get", "put", "append", "txn")


class HistoryError(DsimError):
    """A history file that cannot be read as written: names the file, the line and what was expected.
    The CLI prints it as one line and exits 2."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<history>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a history: `process` invokes or completes operation `f` on `key` with `value`.

    `time` is in seconds (None when the source has no times); `line` is where the event was read
    (for error messages), `index` its position in the history (the real-time order)."""

    process: Hashable
    type: str
    f: str
    value: Any = None
    key: Hashable = None
    time: float | None = None
    index: int = 0
    line: int | None = None


@dataclass(slots=True)
class Op:
    """One operation: its invocation and completion paired.

    `type` is `ok`, `fail` or `info` (an invocation never completed counts as `info`). `value` is the
    completion's value for `ok` (a read's result) and the invocation's otherwise (what was attempted).
    `complete_index` / `complete_time` are None for an operation that never completed; an `info`
    operation keeps its completion event's index for display but is open forever for the checkers."""

    id: int
    process: Hashable
    f: str
    key: Hashable
    value: Any
    type: str
    invoke_index: int
    complete_index: int | None
    invoke_time: float | None = None
    complete_time: float | None = None
    line: int | None = None

    @property
    def open(self) -> bool:
        """True when the operation may take effect at any time after its invocation (info)."""
        return self.type == INFO

    def describe(self) -> str:
        """`process 3: write x 4 ok [12-15]`: who, what, outcome and event indices."""
        key = "" if self.key is None else f" {format_value(self.key)}"
        end = "..." if self.complete_index is None else str(self.complete_index)
        return (f"process {self.process}: {self.f}{key} {format_value(self.value)} {self.type} "
                f"[{self.invoke_index}-{end}]")


def format_value(value: Any) -> str:
    """A value as the histories write it: nil, numbers, strings quoted, lists in brackets."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    if isinstance(value, str) and type(value) is str:
        return f'"{value}"'
    return str(value)


@dataclass
class History:
    """Paired operations in invocation order, and where they came from."""

    ops: list[Op]
    source: str = "<history>"
    events: int = 0
    skipped: int = field(default=0)  # events of non-client processes (Jepsen's :nemesis)

    def __len__(self) -> int:
        return len(self.ops)


def split_independent(events: list[Event]) -> list[Event]:
    """Jepsen's `independent` histories carry the key in the value: `[k v]` (a cas: `[k [from to]]`).
    When no event has a key and every value has that shape, move the key out of the value."""
    if not events or any(e.key is not None for e in events):
        return events
    for e in events:
        v = e.value
        if e.f == "txn" or not isinstance(v, (list, tuple)) or len(v) != 2:
            return events
        if e.f == "cas" and not (isinstance(v[1], (list, tuple)) and len(v[1]) == 2):
            return events
    return [Event(e.process, e.type, e.f, e.value[1], _key(e.value[0]), e.time, e.index, e.line) for e in events]


def _key(k: Any) -> Hashable:
    return tuple(_key(x) for x in k) if isinstance(k, list) else k


def pair(events: Iterable[Event], source: str = "<history>") -> History:
    """Match invocations and completions per process into operations.

    A process has at most one operation in flight; after an `info` completion it may invoke again
    (Jepsen gives it a new process number; dsim's histories may not), the info operation staying open.
    An invocation never completed becomes `info`. A completion without an open invocation, or of
    another function, is an error naming its line."""
    events = split_independent(list(events))
    ops: list[Op] = []
    inflight: dict[Hashable, tuple[Event, int]] = {}
    n = 0
    for ev in events:
        n += 1
        if ev.type not in TYPES:
            raise HistoryError(f"type {ev.type!r}: expected one of {', '.join(TYPES)}", file=source, line=ev.line)
        if ev.type == INVOKE:
            if ev.process in inflight:
                prev = inflight[ev.process][0]
                raise HistoryError(f"process {ev.process} invokes {ev.f} while its {prev.f} invoked on line "
                                   f"{prev.line} has not completed: expected one operation in flight per process",
                                   file=source, line=ev.line)
            inflight[ev.process] = (ev, len(ops))
            ops.append(Op(len(ops), ev.process, ev.f, ev.key, ev.value, INFO, ev.index, None, ev.time, None, ev.line))
            continue
        if ev.process not in inflight:
            raise HistoryError(f"process {ev.process} completes {ev.f} ({ev.type}) with no operation in flight: "
                               "expected an invoke first", file=source, line=ev.line)
        inv, pos = inflight.pop(ev.process)
        if ev.key is None and inv.key is not None:  # a completion may leave the key out
            ev = Event(ev.process, ev.type, ev.f, ev.value, inv.key, ev.time, ev.index, ev.line)
        if ev.f != inv.f or ev.key != inv.key:
            what = f"{inv.f} {format_value(inv.key)}" if inv.key is not None else inv.f
            got = f"{ev.f} {format_value(ev.key)}" if ev.key is not None else ev.f
            raise HistoryError(f"process {ev.process} completes {got}: expected {what}, invoked on line {inv.line}",
                               file=source, line=ev.line)
        op = ops[pos]
        op.type = ev.type
        op.complete_index = ev.index
        op.complete_time = ev.time
        if ev.type == OK and (ev.value is not None or op.f in ("read", "get")):  # a read of nil read nil
            op.value = ev.value
    return History(ops, source, n)
