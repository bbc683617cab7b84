"""Named anomalies, each a fact about the history that rules out linearizability (and says why in
terms a reader knows): stale reads with their staleness, read-your-writes and monotonic-read
violations per process, lost and garbage writes, and for list-append transactions the cycles Elle
names G0 (write cycle), G1c (cycle of writes and reads) and G2 (a cycle needing an anti-dependency,
such as write skew), plus G1a (a read of a failed write).

They rely on each written value being unique per key (Jepsen's workloads write unique values): a
value written twice cannot be attributed, so reads of it are skipped (never guessed).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Hashable

from .history import FAIL, INFO, OK, History, Op, format_value
from .models import Model, micro_ops

INITIAL = object()  # the value a key holds before any write


@dataclass
class Anomaly:
    """One anomaly: its `kind`, the key and process involved, the operations that show it, and in
    words what happened. `staleness_s` (stale reads): how long the value read had been overwritten
    by an acknowledged write when the read began (seconds, None without times)."""

    kind: str
    key: Hashable
    process: Hashable
    ops: list[Op]
    text: str
    staleness_s: float | None = None
    staleness_events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        from .linearizable import op_dict
        out: dict[str, Any] = {"kind": self.kind, "key": _plain(self.key), "process": self.process,
                               "description": self.text, "ops": [op_dict(o) for o in self.ops]}
        if self.staleness_s is not None:
            out["staleness_s"] = self.staleness_s
        if self.staleness_events is not None:
            out["staleness_events"] = self.staleness_events
        return out


def shown_at(a: Anomaly) -> float | None:
    """When a client could see anomaly `a`: its last operation's completion (a stale read's read, a
    lost write's later read), else that operation's invocation; None in a history without times."""
    last = a.ops[-1]
    return last.complete_time if last.complete_time is not None else last.invoke_time


def _plain(v: Any) -> Any:
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


KINDS = ("stale-read", "read-your-writes", "monotonic-reads", "garbage-read", "lost-write", "G0", "G1a", "G1c",
         "G2", "incompatible-order")


@dataclass
class Anomalies:
    """Every anomaly found, and what could not be attributed."""

    found: list[Anomaly] = field(default_factory=list)
    skipped_reads: int = 0  # reads of a value written more than once
    totals: dict[str, int] | None = None  # every anomaly found per kind, before `found` was cut to its limit
    # per kind, when each anomaly showed (its last operation's completion, else its invocation; in
    # seconds, for histories with times): all of them, also those beyond `found`
    times: dict[str, list[float]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Anomalies per kind: all of them, also those beyond the listed `found`."""
        if self.totals is not None:
            return dict(self.totals)
        out: dict[str, int] = {}
        for a in self.found:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out


def find(model: Model, history: History, limit: int = 1000) -> Anomalies:
    """The anomalies of `history` under `model` (at most `limit` listed)."""
    result = Anomalies()
    if model.name == "list-append":
        if any(op.f == "txn" for op in history.ops):
            _elle(history.ops, result)
        else:
            _lists(history.ops, result)
    else:
        _registers(model, history.ops, result)
    result.found.sort(key=lambda a: (a.ops[-1].invoke_index, a.kind))
    result.totals = result.counts()  # counted before the list is cut: a count is never capped at `limit`
    for a in result.found:
        t = shown_at(a)
        if t is not None:
            result.times.setdefault(a.kind, []).append(t)
    del result.found[limit:]
    return result


# ---- registers (register, cas-register, kv without appends)

def _written(op: Op) -> tuple[bool, Any]:
    """(writes?, the value written) for a write-like operation."""
    if op.f in ("write", "put"):
        return True, op.value
    if op.f == "cas" and isinstance(op.value, (list, tuple)) and len(op.value) == 2:
        return True, op.value[1]
    return False, None


def _norm(model: Model, v: Any) -> Any:
    if model.name == "kv" and v in (None, ""):
        return INITIAL
    return INITIAL if v is None else (tuple(v) if isinstance(v, list) else v)


def _time_between(a: Op, b: Op) -> tuple[float | None, int]:
    """Seconds and events from `a`'s completion to `b`'s invocation."""
    secs = None if a.complete_time is None or b.invoke_time is None else b.invoke_time - a.complete_time
    return secs, b.invoke_index - (a.complete_index or 0)


def _registers(model: Model, ops: list[Op], result: Anomalies) -> None:
    by_key: dict[Hashable, list[Op]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    for key, kops in by_key.items():
        if model.name == "kv" and any(op.f == "append" for op in kops):
            continue  # appended strings cannot be attributed to one write
        writers: dict[Any, list[Op]] = {}
        for op in kops:
            w, v = _written(op)
            if w and op.type != FAIL:
                writers.setdefault(_norm(model, v), []).append(op)
        # acknowledged writes by invocation, with the earliest completion from each one on
        acked = sorted((op for op in kops if _written(op)[0] and op.type == OK), key=lambda o: o.invoke_index)
        invokes = [op.invoke_index for op in acked]
        suffix: list[Op | None] = [None] * (len(acked) + 1)
        for j in range(len(acked) - 1, -1, -1):
            nxt = suffix[j + 1]
            suffix[j] = acked[j] if nxt is None or acked[j].complete_index < nxt.complete_index else nxt

        def source(v: Any) -> tuple[str, Op | None]:
            ws = writers.get(v, [])
            if v is INITIAL:  # unless a write (of nil, or of "" in kv) wrote it again
                return ("initial", None) if not ws else ("many", None)
            if len(ws) == 1:
                return "one", ws[0]
            return ("none" if not ws else "many"), None

        last_read: dict[Hashable, tuple[Op, Any]] = {}
        last_write: dict[Hashable, Op] = {}
        attributed: list[tuple[Op, int]] = []  # reads whose value's write definitely completed: (read, at)
        for op in sorted(kops, key=lambda o: o.invoke_index):
            if _written(op)[0]:
                if op.type == OK:
                    last_write[op.process] = op
                continue
            if op.type != OK or op.f not in ("read", "get"):
                continue
            v = _norm(model, op.value)
            kind, w = source(v)
            if kind == "none":
                result.found.append(Anomaly("garbage-read", key, op.process, [op],
                                            f"read {format_value(op.value)}, a value no operation wrote"))
                continue
            if kind == "many":
                result.skipped_reads += 1
                continue
            # written definitely before: the initial value, or an acknowledged write that completed
            after = -1 if w is None else (w.complete_index if w.type == OK else None)
            if after is not None:
                j = bisect.bisect_right(invokes, after)
                newer = suffix[j]
                if newer is not None and newer.complete_index < op.invoke_index:
                    secs, events = _time_between(newer, op)
                    src = "the initial value" if w is None else f"the value of {w.describe()}"
                    result.found.append(Anomaly(
                        "stale-read", key, op.process, [x for x in (w, newer, op) if x is not None],
                        f"read {src}, overwritten by {newer.describe()} which completed before the read began",
                        secs, events))
                own = last_write.get(op.process)
                if own is not None and own is not w and (w is None or (
                        w.type == OK and w.complete_index < own.invoke_index)):
                    result.found.append(Anomaly(
                        "read-your-writes", key, op.process, [own, op],
                        f"process {op.process} read {format_value(op.value)} after its own {own.describe()}, "
                        "a value older than its own write"))
            prev = last_read.get(op.process)
            if prev is not None:
                pop, pw = prev
                # this read's value was overwritten before the previous read's value was written
                if pop.value != op.value and (w is None and pw is not None or (
                        w is not None and pw is not None and w.type == OK and w.complete_index < pw.invoke_index)):
                    result.found.append(Anomaly(
                        "monotonic-reads", key, op.process, [pop, op],
                        f"process {op.process} read {format_value(pop.value)} then the older "
                        f"{format_value(op.value)}"))
            last_read[op.process] = (op, w)
            if w is None or w.type == OK:
                attributed.append((op, -1 if w is None else w.complete_index))
        _lost_writes(model, key, acked, attributed, result)


def _lost_writes(model: Model, key: Hashable, acked: list[Op], reads: list[tuple[Op, int]],
                 result: Anomalies) -> None:
    """An acknowledged write nobody ever read, while a read that began after it completed returned a
    value written before it began (or the initial value): the write was lost, not merely unseen."""
    observed = {_norm(model, r.value) for r, _ in reads}
    observed |= {_norm(model, op.value[0]) for op in acked if op.f == "cas"}
    reads = sorted(reads, key=lambda rs: rs[0].invoke_index)
    invokes = [r.invoke_index for r, _ in reads]
    # from each read on, the read whose value's write completed earliest
    suffix: list[tuple[Op, int] | None] = [None] * (len(reads) + 1)
    for j in range(len(reads) - 1, -1, -1):
        nxt = suffix[j + 1]
        suffix[j] = reads[j] if nxt is None or reads[j][1] < nxt[1] else nxt
    for w in acked:
        _, v = _written(w)
        if _norm(model, v) in observed:
            continue
        older = suffix[bisect.bisect_right(invokes, w.complete_index)]
        if older is not None and older[1] < w.invoke_index:
            r = older[0]
            result.found.append(Anomaly(
                "lost-write", key, w.process, [w, r],
                f"acknowledged {w.describe()} was never read; {r.describe()}, which began after it completed, "
                "read an older value"))


# ---- single-operation lists (list-append without transactions)

def _lists(ops: list[Op], result: Anomalies) -> None:
    by_key: dict[Hashable, list[Op]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    for key, kops in by_key.items():
        appends = {op.value: op for op in kops if op.f == "append" and op.type != FAIL}
        acked = sorted((op for op in kops if op.f == "append" and op.type == OK), key=lambda o: o.complete_index)
        reads = sorted((op for op in kops if op.f == "read" and op.type == OK), key=lambda o: o.invoke_index)
        last_read: dict[Hashable, Op] = {}
        for r in reads:
            seen = list(r.value or ())
            members = set(seen)
            for x in seen:
                if x not in appends:
                    result.found.append(Anomaly("garbage-read", key, r.process, [r],
                                                f"read {format_value(seen)} holding {format_value(x)}, never appended"))
            missing = [a for a in acked if a.complete_index < r.invoke_index and a.value not in members]
            if missing:
                secs, events = _time_between(missing[0], r)
                result.found.append(Anomaly(
                    "stale-read", key, r.process, [missing[0], r],
                    f"read {format_value(seen)} without {format_value(missing[0].value)}, appended by "
                    f"{missing[0].describe()} which completed before the read began"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), secs, events))
                own = [a for a in missing if a.process == r.process]
                if own:
                    result.found.append(Anomaly(
                        "read-your-writes", key, r.process, [own[-1], r],
                        f"process {r.process} read {format_value(seen)} without its own append of "
                        f"{format_value(own[-1].value)}"))
            prev = last_read.get(r.process)
            if prev is not None:
                before = list(prev.value or ())
                if seen[:len(before)] != before:
                    result.found.append(Anomaly(
                        "monotonic-reads", key, r.process, [prev, r],
                        f"process {r.process} read {format_value(before)} then {format_value(seen)}, "
                        "which does not extend it"))
            last_read[r.process] = r
        if reads:
            final = reads[-1]
            members = set(final.value or ())
            for a in acked:
                if a.complete_index < final.invoke_index and a.value not in members:
                    result.found.append(Anomaly(
                        "lost-write", key, a.process, [a, final],
                        f"acknowledged {a.describe()} is missing from the last read, {final.describe()}"))


# ---- list-append transactions: Elle's dependency cycles

def _elle(ops: list[Op], result: Anomalies) -> None:
    txns = [op for op in ops if op.type in (OK, INFO)]
    failed = [op for op in ops if op.type == FAIL]
    appender: dict[tuple[Hashable, Any], Op] = {}
    for op in txns:
        for f, k, v in micro_ops(op):
            if f == "append":
                appender[(k, v)] = op
    failed_appends = {(k, v): op for op in failed for f, k, v in micro_ops(op) if f == "append"}
    # the version order of each key: its longest read; every other read must be a prefix of it
    longest: dict[Hashable, tuple[Any, ...]] = {}
    reads: list[tuple[Op, Hashable, tuple[Any, ...]]] = []
    for op in txns:
        if op.type != OK:
            continue
        for f, k, v in micro_ops(op):
            if f == "r" and v is not None:
                seen = tuple(v)
                reads.append((op, k, seen))
                if len(seen) > len(longest.get(k, ())):
                    longest[k] = seen
    for op, k, seen in reads:
        order = longest.get(k, ())
        if order[:len(seen)] != seen:
            result.found.append(Anomaly("incompatible-order", k, op.process, [op],
                                        f"read {format_value(list(seen))} of key {format_value(k)}, not a prefix of "
                                        f"{format_value(list(order))}: no single order of appends"))
        for x in seen:
            if (k, x) in failed_appends:
                result.found.append(Anomaly("G1a", k, op.process, [failed_appends[(k, x)], op],
                                            f"read {format_value(x)} of key {format_value(k)}, appended by a failed "
                                            f"{failed_appends[(k, x)].describe()}"))
    ww: dict[int, dict[int, str]] = {}
    wr: dict[int, dict[int, str]] = {}
    by_id = {op.id: op for op in txns}
    for k, order in longest.items():
        for a, b in zip(order, order[1:]):
            ta, tb = appender.get((k, a)), appender.get((k, b))
            if ta is not None and tb is not None and ta is not tb:
                ww.setdefault(ta.id, {})[tb.id] = f"{_txn(ta)} appended {format_value(a)} to {format_value(k)} " \
                                                  f"before {_txn(tb)} appended {format_value(b)}"
    for op, k, seen in reads:
        if seen:
            w = appender.get((k, seen[-1]))
            if w is not None and w is not op:
                wr.setdefault(w.id, {})[op.id] = f"{_txn(op)} read {format_value(list(seen))} of {format_value(k)}, " \
                                                 f"ending with {_txn(w)}'s append"
    rw: dict[int, dict[int, str]] = {}
    for op, k, seen in reads:
        order = longest.get(k, ())
        if order[:len(seen)] == seen and len(order) > len(seen):
            w = appender.get((k, order[len(seen)]))
            if w is not None and w is not op:
                rw.setdefault(op.id, {})[w.id] = f"{_txn(op)} read {format_value(list(seen))} of " \
                                                 f"{format_value(k)}, missing {_txn(w)}'s later append"
    for cycle in _cycles(ww):
        result.found.append(Anomaly("G0", None, by_id[cycle[0]].process, [by_id[i] for i in cycle],
                                    "write cycle: " + "; ".join(ww[a][b] for a, b in
                                                                zip(cycle, cycle[1:] + cycle[:1]))))
    both: dict[int, dict[int, str]] = {a: dict(bs) for a, bs in ww.items()}
    for a, bs in wr.items():
        both.setdefault(a, {}).update(bs)
    for cycle in _cycles(both, must=wr):
        edges = list(zip(cycle, cycle[1:] + cycle[:1]))
        result.found.append(Anomaly("G1c", None, by_id[cycle[0]].process, [by_id[i] for i in cycle],
                                    "cycle of writes and reads: " + "; ".join(both[a][b] for a, b in edges)))
    # G2: a cycle that needs an anti-dependency (a read that missed a later append), e.g. write skew;
    # only in the parts of the graph where writes and reads alone make no cycle (those are G0/G1c)
    every: dict[int, dict[int, str]] = {a: dict(bs) for a, bs in both.items()}
    for a, bs in rw.items():
        for b, why in bs.items():
            every.setdefault(a, {}).setdefault(b, why)
    reported = {i for a in result.found if a.kind in ("G0", "G1c") for i in (o.id for o in a.ops)}
    for cycle in _cycles(every, must=rw):
        if reported.intersection(cycle):
            continue
        edges = list(zip(cycle, cycle[1:] + cycle[:1]))
        result.found.append(Anomaly("G2", None, by_id[cycle[0]].process, [by_id[i] for i in cycle],
                                    "cycle with an anti-dependency: " + "; ".join(every[a][b] for a, b in edges)))


def _txn(op: Op) -> str:
    end = "..." if op.complete_index is None else op.complete_index
    return f"txn of process {op.process} [{op.invoke_index}-{end}]"


def _cycles(graph: dict[int, dict[int, str]], must: dict[int, dict[int, str]] | None = None) -> list[list[int]]:
    """One cycle per strongly connected component of `graph` (through an edge of `must` when given:
    a component without one is not reported)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on: set[int] = set()
    comps: list[list[int]] = []
    nodes = set(graph) | {b for bs in graph.values() for b in bs}
    counter = 0
    for root in sorted(nodes):  # iterative Tarjan: histories can be long
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(comp)
    out = []
    for comp in comps:
        members = set(comp)
        starts = [(a, b) for a in sorted(comp) for b in sorted((must or graph).get(a, {})) if b in members]
        if not starts:
            continue
        a, b = starts[0]
        path = _path(graph, b, a, members)  # b ... a, closing the cycle with the edge a -> b
        if path is not None:
            out.append([a] + path[:-1] if path[-1] == a else [a] + path)
    return out


def _path(graph: dict[int, dict[int, str]], src: int, dst: int, members: set[int]) -> list[int] | None:
    """The shortest path src -> dst inside `members` (breadth first)."""
    prev: dict[int, int | None] = {src: None}
    frontier = [src]
    while frontier:
        nxt = []
        for v in frontier:
            if v == dst:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            for w in sorted(graph.get(v, {})):
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return None
