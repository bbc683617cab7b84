"""Linearizability: Wing & Gong's search with Lowe's memoisation, per key.

The history of one partition becomes a doubly linked list of call and return entries in real-time
order. The search walks it from the front: a call entry whose operation the model accepts in the
current state is *linearized* (taken out of the list with its return: dancing links) unless the pair
(set of linearized operations, new state) was seen before, in which case that branch is known to fail
(Lowe's memoisation, which is what makes the search practical; the set is kept as a fingerprint).
Reaching a return entry means an operation that has already returned was not linearized before it:
backtrack, undoing the last linearization and trying the next call. The list empty means every operation was linearized.

An `info` operation's return is placed after every other entry: it may be linearized at any time after
its invocation, and one linearized after all the others is one that never took effect. A `fail`ed
operation did not take effect and is left out, as is an `info` read (it constrains nothing).

The history is split first into independent partitions (P-compositionality: a history is
linearizable when each key's sub-history is): operations on different keys, unless a transaction joins
them. Open operations whose effect nobody could observe are left out (`Model.unobserved`).

On a violation the counterexample comes from the shortest prefix of the history that already fails
(found by binary search over completion events, operations in flight at the cut being open): the
operation whose return ends that prefix could not be placed; the states it was tried in, the deepest
partial linearization the search reached and the operations around the blocked one explain why.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Hashable

from .history import FAIL, INFO, History, HistoryError, Op
from .models import ILLEGAL, Model

CHECK_EVERY = 2048  # search steps between two looks at the clock
MAX_REFUSED = 12  # states listed in a counterexample


@dataclass
class Counterexample:
    """Where the search got stuck in one partition.

    `prefix`: the deepest partial linearization found (operations in linearization order); `state`:
    the model's state after it; `blocked`: the operation that returned before any order could place
    it; `candidates`: the operations that could have gone next there; `window`: the operations that
    overlap the blocked one and the last few completed before it; `failing_prefix_end`: the event
    (the blocked operation's completion) up to which the history is already not linearizable;
    `refused_in`: the states the blocked operation was tried in."""

    key: Hashable
    prefix: list[Op]
    state: Hashable
    state_text: str
    blocked: Op
    candidates: list[Op]
    window: list[Op]
    partition_ops: int
    failing_prefix_end: int | None = None  # the history up to this event is already not linearizable
    refused_in: list[str] = field(default_factory=list)  # states the blocked operation was tried in
    joined: bool = False  # `key` is the tuple of keys transactions joined into one part

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": _plain(self.key),
            "linearized_ops": len(self.prefix),
            "partition_ops": self.partition_ops,
            "failing_prefix_end": self.failing_prefix_end,
            "state": self.state_text,
            "last_linearized": [op_dict(o) for o in self.prefix[-3:]],
            "blocked": op_dict(self.blocked),
            "blocked_refused_in": self.refused_in,
            "candidates": [op_dict(o) for o in self.candidates],
            "window": [op_dict(o) for o in self.window],
        }

    def lines(self) -> list[str]:
        if self.key is None:
            key = ""
        elif isinstance(self.key, tuple) and self.joined:
            key = " on keys " + ", ".join(_show_key(k) for k in self.key)
        else:
            key = f" on key {_show_key(self.key)}"
        n = len(self.prefix)
        out = [f"no linearization{key}: at most {n} operation{'s' if n != 1 else ''} linearized, then stuck"]
        if self.failing_prefix_end is not None:
            out[0] += (f" (the history is linearizable up to event {self.failing_prefix_end - 1} and not "
                       f"up to event {self.failing_prefix_end})")
        out.append(f"  state after them: {self.state_text}")
        if self.prefix:
            out.append("  the last ones linearized:")
            out += [f"    {o.describe()}" for o in self.prefix[-3:]]
        out.append("  cannot be linearized before it returned:")
        out.append(f"    {self.blocked.describe()}")
        if self.refused_in:
            more = "" if len(self.refused_in) < MAX_REFUSED else ", ..."
            out.append(f"    every order of the operations before it left the state at one of: "
                       f"{', '.join(self.refused_in)}{more}; none allows it")
        others = [o for o in self.candidates if o is not self.blocked]
        if others:
            out.append("  nor could any other pending operation go first:")
            out += [f"    {o.describe()}" for o in others]
        out.append("  window (the operations overlapping it, and the last ones completed before it):")
        out += [f"  {'>' if o is self.blocked else ' '} {o.describe()}" for o in self.window]
        return out


def op_dict(op: Op) -> dict[str, Any]:
    """An operation as plain JSON data."""
    return {"process": op.process, "f": op.f, "key": _plain(op.key), "value": _plain(op.value), "type": op.type,
            "invoke_index": op.invoke_index, "complete_index": op.complete_index,
            "invoke_time": op.invoke_time, "complete_time": op.complete_time}


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _show_key(k: Hashable) -> str:
    from .history import format_value
    return format_value(k)


@dataclass
class PartitionResult:
    key: Hashable
    ops: int
    valid: bool | None  # None: the budget ran out
    counterexample: Counterexample | None = None
    steps: int = 0


@dataclass
class Linearizability:
    """The verdict on a whole history: `valid` True, False, or None (undecided within the budget)."""

    model: str
    valid: bool | None
    ops: int  # operations searched (fail, open reads and unobserved open operations left out)
    partitions: int
    elapsed_s: float
    counterexample: Counterexample | None = None
    undecided: list[Hashable] = field(default_factory=list)  # keys the budget ran out on


def partitions(model: Model, ops: list[Op]) -> list[tuple[Hashable, list[Op]]]:
    """Independent sub-histories: operations grouped by key, keys joined when an operation touches
    several (union-find), each group in invocation order."""
    parent: dict[Hashable, Hashable] = {}

    def find(k: Hashable) -> Hashable:
        root = k
        while parent[root] != root:
            root = parent[root]
        while parent[k] != root:
            parent[k], k = root, parent[k]
        return root

    op_keys = []
    for op in ops:
        ks = model.keys(op)
        op_keys.append(ks)
        for k in ks:
            parent.setdefault(k, k)
        for k in ks[1:]:
            a, b = find(ks[0]), find(k)
            if a != b:
                parent[b] = a
    groups: dict[Hashable, list[Op]] = {}
    names: dict[Hashable, list[Hashable]] = {}
    for op, ks in zip(ops, op_keys):
        root = find(ks[0]) if ks else None
        groups.setdefault(root, []).append(op)
    for k in parent:
        names.setdefault(find(k), []).append(k)
    return [(root if len(names.get(root, [root])) == 1 else tuple(names[root]), group)
            for root, group in groups.items()]


def check_partition(model: Model, ops: list[Op], key: Hashable = None, deadline: float | None = None,
                    watch: int | None = None) -> PartitionResult:
    """Search for a linearization of `ops` (one partition). `deadline` is a time.monotonic() value.
    `watch`: the id of an operation whose refusals to record (the states it was tried in)."""
    steppers = []
    kept: list[Op] = []
    unobserved = model.unobserved(ops)
    for op in ops:
        if op.type == FAIL or op.id in unobserved:
            continue
        s = model.stepper(op)
        if s is None:
            continue
        kept.append(op)
        steppers.append(s)
    n = len(kept)
    if n == 0:
        return PartitionResult(key, 0, True)
    watched = next((i for i, op in enumerate(kept) if op.id == watch), -1)
    refused: dict[Hashable, None] = {}  # the states the watched operation was refused in, in order
    # Entries: 2i is op i's call, 2i+1 its return. An open operation returns after everything.
    inf = float("inf")
    positions = []
    for i, op in enumerate(kept):
        positions.append((op.invoke_index, 0, 2 * i))
        positions.append((inf if op.type == INFO or op.complete_index is None else op.complete_index, 1, 2 * i + 1))
    positions.sort()
    head, tail = 2 * n, 2 * n + 1
    nxt = [0] * (2 * n + 2)
    prv = [0] * (2 * n + 2)
    last = head
    for _, _, e in positions:
        nxt[last] = e
        prv[e] = last
        last = e
    nxt[last] = tail
    prv[tail] = last

    state = model.init()
    # The set of linearized operations is remembered by a 128-bit Zobrist fingerprint: the XOR of a
    # random word per operation, updated in O(1) when one is linearized or undone (as TLC fingerprints
    # states). A bitset would cost O(n) time per step and O(n) memory per remembered pair (a 100,000-
    # operation register would need gigabytes); two sets collide with probability 2^-128 per pair, so
    # even a billion pairs leave the chance of a wrong pruning below 1e-20. The words are fixed (a
    # constant seed): the same history always gets the same search.
    words = _words(n)
    linearized = 0  # the fingerprint of the set of linearized operations
    seen: set[tuple[int, Hashable]] = set()
    # The stack of linearized calls as a chain of immutable (call entry, state before it, below)
    # tuples: remembering the deepest point is then keeping a reference, not copying the stack.
    top: tuple | None = None
    depth = 0
    best_depth = -1
    best: tuple[tuple | None, Hashable, int] | None = None
    steps = 0
    e = nxt[head]
    check_at = CHECK_EVERY
    while nxt[head] != tail:
        steps += 1
        if steps >= check_at:
            check_at += CHECK_EVERY
            if deadline is not None and time.monotonic() > deadline:
                return PartitionResult(key, n, None, steps=steps)
        if not e & 1:  # a call
            i = e >> 1
            new = steppers[i](state)
            if new is ILLEGAL and i == watched and len(refused) < MAX_REFUSED:
                refused[state] = None
            if new is not ILLEGAL:
                bits = linearized ^ words[i]
                memo = (bits, new)
                if memo not in seen:
                    seen.add(memo)
                    top = (e, state, top)
                    depth += 1
                    state, linearized = new, bits
                    # lift the call and its return out of the list
                    r = e + 1
                    nxt[prv[e]] = nxt[e]
                    prv[nxt[e]] = prv[e]
                    nxt[prv[r]] = nxt[r]
                    prv[nxt[r]] = prv[r]
                    e = nxt[head]
                    continue
            e = nxt[e]
            continue
        # A return whose operation is not linearized: undo the last linearization.
        if depth > best_depth:
            best_depth = depth
            best = (top, state, e >> 1)
        if top is None:
            break
        e, state, top = top
        depth -= 1
        linearized ^= words[e >> 1]
        r = e + 1
        nxt[prv[r]] = r
        prv[nxt[r]] = r
        nxt[prv[e]] = e
        prv[nxt[e]] = e
        e = nxt[e]
    else:
        return PartitionResult(key, n, True, steps=steps)
    assert best is not None
    chain, best_state, blocked = best
    order: list[int] = []
    while chain is not None:
        order.append(chain[0] >> 1)
        chain = chain[2]
    example = _counterexample(model, kept, ops, key, order[::-1], best_state, blocked)
    if watched >= 0:
        example.refused_in = [model.describe_state(st) for st in refused]
    return PartitionResult(key, n, False, example, steps)


_WORDS: list[int] = []  # a constant table, grown on demand: word i is the same whatever asked first
_BLOCK = 4096


def _words(n: int) -> list[int]:
    """The first `n` fingerprint words: block b of 4096 drawn from its own generator seeded b (a fixed
    table, not the global random), so every run and every history size sees the same words."""
    while len(_WORDS) < n:
        rnd = random.Random(len(_WORDS) // _BLOCK)
        _WORDS.extend(rnd.getrandbits(128) for _ in range(_BLOCK))
    return _WORDS


def _counterexample(model: Model, kept: list[Op], everything: list[Op], key: Hashable, prefix: list[int],
                    state: Hashable, blocked: int) -> Counterexample:
    done = set(prefix)
    stop = kept[blocked].complete_index
    assert stop is not None
    # The operations that could have been linearized next: invoked before the blocked one returned.
    candidates = [op for i, op in enumerate(kept) if i not in done and op.invoke_index < stop]
    return Counterexample(key, [kept[i] for i in prefix], state, model.describe_state(state), kept[blocked],
                          candidates, window(everything, kept[blocked]), len(kept))


def window(ops: list[Op], blocked: Op, before: int = 3) -> list[Op]:
    """The operations that explain `blocked`: those whose interval overlaps it (an open one from its
    invocation on), and the last `before` that completed before it was invoked."""
    start, stop = blocked.invoke_index, blocked.complete_index
    assert stop is not None
    earlier = [op for op in ops if op.type != FAIL and op.type != INFO and op.complete_index is not None
               and op.complete_index < start]
    earlier.sort(key=lambda op: op.complete_index)
    shown = {id(op) for op in earlier[-before:]}
    return [op for op in ops if id(op) in shown or (op.invoke_index <= stop and (
        op.type == INFO or op.complete_index is None or op.complete_index >= start))]


def truncated(ops: list[Op], end: int) -> list[Op]:
    """The operations as they stood just after event `end`: later invocations left out, operations still
    in flight open (they may or may not take effect)."""
    out = []
    for op in ops:
        if op.invoke_index > end:
            continue
        if op.complete_index is not None and op.complete_index > end and op.type != INFO:
            op = Op(op.id, op.process, op.f, op.key, op.value if op.f not in ("read", "get") else None, INFO,
                    op.invoke_index, None, op.invoke_time, None, op.line)
        out.append(op)
    return out


def shortest_failing_prefix(model: Model, ops: list[Op], key: Hashable, found: PartitionResult,
                            deadline: float | None) -> PartitionResult:
    """The counterexample of the shortest prefix of `ops` that is already not linearizable (binary
    search over completion events: a prefix of a linearizable history is linearizable). Falls back to
    `found` when the budget runs out."""
    ends = sorted({op.complete_index for op in ops if op.complete_index is not None and op.type != INFO})
    lo, hi = 0, len(ends) - 1  # ends[hi] fails (the whole history does)
    best, complete = found, True
    while lo < hi:
        mid = (lo + hi) // 2
        result = check_partition(model, truncated(ops, ends[mid]), key, deadline)
        if result.valid is None:  # out of time: keep the shortest failing prefix found so far
            complete = False
            break
        if result.valid is False:
            hi, best = mid, result
        else:
            lo = mid + 1
    orig = {op.id: op for op in ops}  # shown as the operations completed, not as truncated
    culprit = None
    if complete:
        # Up to ends[hi] - 1 the history is linearizable (what lies between ends[hi - 1] and ends[hi]
        # are invocations, which cannot break it), so the operation completing at ends[hi] is the one
        # no order can place: search once more, recording the states it was tried in.
        culprit = next(op for op in ops if op.complete_index == ends[hi] and op.type != INFO)
        again = check_partition(model, truncated(ops, ends[hi]), key, deadline, watch=culprit.id)
        if again.valid is False:
            best = again
    c = best.counterexample
    assert c is not None
    c.prefix = [orig[o.id] for o in c.prefix]
    c.candidates = [orig[o.id] for o in c.candidates]
    c.blocked = orig[c.blocked.id] if culprit is None else culprit
    c.window = window(ops, c.blocked) if culprit is not None else [orig[o.id] for o in c.window]
    c.partition_ops = found.ops
    if culprit is not None:
        c.failing_prefix_end = ends[hi]
    return best


def check(model: Model, history: History, budget_s: float | None = None) -> Linearizability:
    """Check that `history` is linearizable against `model`, within `budget_s` seconds of search."""
    started = time.monotonic()
    deadline = None if budget_s is None else started + budget_s
    for op in history.ops:
        bad = model.expect(op)
        if bad is not None:
            raise HistoryError(f"{bad}", file=history.source, line=op.line)
    parts = partitions(model, history.ops)
    joined = {key for key, ops in parts if len({k for op in ops for k in model.keys(op)}) > 1}
    # Smallest first: a violation in a small key is found before the budget goes on a large one.
    parts.sort(key=lambda kv: len(kv[1]))
    undecided: list[Hashable] = []
    checked = 0
    for key, ops in parts:
        result = check_partition(model, ops, key, deadline)
        checked += result.ops
        if result.valid is False:
            result = shortest_failing_prefix(model, ops, key, result, deadline)
            assert result.counterexample is not None
            result.counterexample.joined = key in joined
            return Linearizability(model.name, False, checked, len(parts), time.monotonic() - started,
                                   result.counterexample)
        if result.valid is None:
            undecided.append(key)
    valid = None if undecided else True
    return Linearizability(model.name, valid, checked, len(parts), time.monotonic() - started, undecided=undecided)
