"""Sequential specifications the linearizability checker replays operations against.

A model is tiny (as in Porcupine and Knossos): an initial state, `step(state, op)` giving the next
state or `ILLEGAL` when the operation's result is impossible in that state, and the key an operation
acts on (the checker splits the history per key: P-compositionality). States are hashable values so
the search can remember the (linearized set, state) pairs it has seen. An `info` operation's result is
unknown, so `step` accepts any result for it; the checker also lets it take effect never.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

from .history import FAIL, INFO, OK, Op

ILLEGAL = object()  # a step whose result is impossible in the state


class Model:
    """Base of the models: the functions they accept and how each steps."""

    name = ""
    functions: tuple[str, ...] = ()
    description = ""

    def init(self) -> Hashable:
        return None

    def expect(self, op: Op) -> str | None:
        """None when `op` is well formed for this model, else what was expected (for the error)."""
        if op.f not in self.functions:
            return f"function {op.f!r}: the {self.name} model takes {', '.join(self.functions)}"
        return None

    def stepper(self, op: Op) -> Callable[[Hashable], Any] | None:
        """A function state -> next state (or ILLEGAL) for `op`; None when `op` can never constrain or
        change the state (a read whose result is unknown), so the checker may leave it out."""
        raise NotImplementedError

    def keys(self, op: Op) -> tuple[Hashable, ...]:
        """The keys `op` touches: operations on disjoint keys are checked separately."""
        return (op.key,)

    def unobserved(self, ops: list[Op]) -> set[int]:
        """Ids of open operations whose effect no operation of `ops` (one partition) could observe:
        taking effect never is then always at least as good as taking effect, so the checker may
        leave them out (exact, and the search no longer tries every subset of them). None by default."""
        return set()

    def describe_state(self, state: Hashable) -> str:
        from .history import format_value
        return format_value(state)


def _read(expected: Any) -> Callable[[Hashable], Any]:
    return lambda state: state if state == expected else ILLEGAL


def _const(value: Any) -> Callable[[Hashable], Any]:
    return lambda state: value


class Register(Model):
    """A read/write register starting at nil: a read returns the last value written."""

    name = "register"
    functions = ("read", "write")
    description = "read/write register, starting at nil"

    def stepper(self, op: Op) -> Callable[[Hashable], Any] | None:
        if op.f == "write":
            return _const(op.value)
        if op.type == INFO:  # a read of unknown result changes nothing
            return None
        return _read(op.value)

    def unobserved(self, ops: list[Op]) -> set[int]:
        # An open write (or cas) of v that no read returns and no cas compares with: the state v it may
        # leave is seen by nobody; an ok cas cannot run in it, an open one can be moved to "never".
        try:
            seen = {_observed(op) for op in ops if op.type != FAIL}
            return {op.id for op in ops if op.type == INFO and op.f in ("write", "cas")
                    and _set_value(op) not in seen}
        except TypeError:  # unhashable values: leave everything in
            return set()


def _observed(op: Op) -> Hashable:
    if op.f in ("read", "get"):
        return ("v", op.value) if op.type != INFO else None
    if op.f == "cas":
        return ("v", op.value[0])
    return None


def _set_value(op: Op) -> Hashable:
    return ("v", op.value[1] if op.f == "cas" else op.value)


def _cas(old: Any, new: Any, unknown: bool) -> Callable[[Hashable], Any]:
    if unknown:  # it happened (and swapped if the compare held) or it never did
        return lambda state: new if state == old else state
    return lambda state: new if state == old else ILLEGAL


class CasRegister(Register):
    """A register with compare-and-set: `cas [from to]` sets `to` when the value is `from`. A cas that
    `fail`ed did not take effect (Jepsen's definition) and is left out."""

    name = "cas-register"
    functions = ("read", "write", "cas")
    description = "read/write/compare-and-set register, starting at nil"

    def expect(self, op: Op) -> str | None:
        bad = super().expect(op)
        if bad is None and op.f == "cas" and not (isinstance(op.value, (list, tuple)) and len(op.value) == 2):
            return f"cas value {op.value!r}: expected [from to]"
        return bad

    def stepper(self, op: Op) -> Callable[[Hashable], Any] | None:
        if op.f == "cas":
            return _cas(op.value[0], op.value[1], op.type == INFO)
        return super().stepper(op)


def _text(value: Any) -> str:
    return "" if value is None else value


class KeyValue(Model):
    """Strings per key: `get` returns the string (a missing key reads as ""), `put` replaces it,
    `append` adds to its end."""

    name = "kv"
    functions = ("get", "put", "append", "read", "write")
    description = "strings per key: get, put, append (a missing key reads as \"\")"

    def init(self) -> Hashable:
        return ""

    def expect(self, op: Op) -> str | None:
        bad = super().expect(op)
        if bad is None and op.value is not None and not isinstance(op.value, str):
            return f"{op.f} value {op.value!r}: expected a string"
        if bad is None and op.f in ("put", "write", "append") and op.value is None:
            return f"{op.f} needs a string value"
        return bad

    def stepper(self, op: Op) -> Callable[[Hashable], Any] | None:
        if op.f in ("put", "write"):
            return _const(op.value)
        if op.f == "append":
            suffix = op.value
            return lambda state: state + suffix
        if op.type == INFO:
            return None
        return _read(_text(op.value))

    def unobserved(self, ops: list[Op]) -> set[int]:
        if any(op.f == "append" and op.type != FAIL for op in ops):
            return set()  # a later append builds on the state: every put may be observed
        seen = {_text(op.value) for op in ops if op.f in ("get", "read") and op.type == OK}
        return {op.id for op in ops if op.type == INFO and op.f in ("put", "write") and op.value not in seen}


class ListAppend(Model):
    """Lists per key: `append` adds an element, `read` returns the whole list (an absent key reads as
    nil or []). A `txn` of micro-ops `[:append k v]` / `[:r k list]` acts on all its keys at once."""

    name = "list-append"
    functions = ("append", "read", "txn")
    description = "lists per key: append an element, read the list; txn of [:append k v] / [:r k list]"

    def init(self) -> Hashable:
        return ()

    def expect(self, op: Op) -> str | None:
        bad = super().expect(op)
        if bad is not None:
            return bad
        if op.f == "read" and op.value is not None and not isinstance(op.value, (list, tuple)):
            return f"read value {op.value!r}: expected a list"
        if op.f == "txn":
            if not isinstance(op.value, (list, tuple)):
                return f"txn value {op.value!r}: expected a list of micro-ops [:append k v] / [:r k list]"
            for m in op.value:
                if not (isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in ("append", "r")):
                    return f"micro-op {m!r}: expected [:append k v] or [:r k list]"
                if m[0] == "r" and m[2] is not None and not isinstance(m[2], (list, tuple)):
                    return f"micro-op {m!r}: expected a list read"
        return None

    def keys(self, op: Op) -> tuple[Hashable, ...]:
        return tuple(dict.fromkeys(k for _, k, _ in micro_ops(op)))

    def stepper(self, op: Op) -> Callable[[Hashable], Any] | None:
        # The state is a tuple of (key, list) pairs sorted by key, so a partition that transactions
        # span (several keys) and a single key's partition step the same way.
        micro = micro_ops(op)
        if op.type == INFO:  # its reads are unknown; its appends may or may not have happened
            micro = [m for m in micro if m[0] == "append"]
        if not micro:
            return None

        def step(state):
            lists = dict(state)
            for f, k, v in micro:
                if f == "append":
                    lists[k] = lists.get(k, ()) + (v,)
                elif tuple(v or ()) != lists.get(k, ()):
                    return ILLEGAL
            return tuple(sorted(lists.items(), key=lambda kv: repr(kv[0])))
        return step

    def unobserved(self, ops: list[Op]) -> set[int]:
        # An open operation none of whose appended elements any read contains: lists only grow, so had
        # it taken effect every later read would show them.
        try:
            seen = {(k, x) for op in ops if op.type == OK for f, k, v in micro_ops(op) if f == "r" for x in (v or ())}
            return {op.id for op in ops if op.type == INFO
                    and not any(f == "append" and (k, v) in seen for f, k, v in micro_ops(op))}
        except TypeError:
            return set()

    def describe_state(self, state: Hashable) -> str:
        from .history import format_value
        return "{" + ", ".join(f"{format_value(k)} {format_value(v)}" for k, v in state) + "}"


def micro_ops(op: Op) -> list[tuple[str, Hashable, Any]]:
    """A list-append operation as micro-ops (f, key, value): a txn's own, or its one append or read."""
    if op.f == "txn":
        return [(str(m[0]), _key(m[1]), m[2]) for m in op.value]
    return [("append" if op.f == "append" else "r", op.key, op.value)]


def _key(k: Any) -> Hashable:
    return tuple(_key(x) for x in k) if isinstance(k, list) else k


MODELS: dict[str, type[Model]] = {m.name: m for m in (Register, CasRegister, KeyValue, ListAppend)}


def model(name: str) -> Model:
    """The model called `name` (one of MODELS)."""
    return MODELS[name]()
