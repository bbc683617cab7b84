"""Columnar record of every client request: one array per column, not one object per request.

A request's id is its row number over the whole run. Rows are appended to a *current chunk* of five
lists (start, end, workload, operation, outcome: Python lists append and assign faster than arrays,
about 100 bytes a row while the chunk fills). When it holds `chunk_rows` rows it is sealed into
compact numpy arrays (float64, float64, int16, int16, int8: 21 bytes a request); the first `memory_chunks` sealed
chunks stay in memory, later ones are appended to an anonymous temporary file (unlinked at once, so
nothing is left behind even if the process is killed). A request answered after its chunk was sealed
is written to a small *late* log (id, end, outcome) applied when the chunks are read back. So the
memory a run holds for its records is bounded by about memory_chunks × chunk_rows × 21 bytes plus
one chunk of lists (~29 MB by default) plus the late log, whatever the simulated duration; the rest is on disk.

Richer records cost nothing on the hot path. A workload's keys, user ids and regions are drawn from
its own named streams, one value per request in order of issue, so they are *replayed* after the run
(`replay`: a fresh stream with the same seed hands out the same values, assigned to the workload's
rows in id order) rather than stored. Only a closed loop's user (the simulated user's number, not a
draw) is appended at issue (`enable`), on a path the workloads choose once, before the run. Why a request failed and how many retries it took are kept
sparsely, only for the requests concerned: a failure site writes `why[id] = (cause, place, fault)`
(simulator/engine/request.py's causes) and a retry counts in `retried[id]`; a failed answer moves its
cause into the current chunk's failure log (`failed`), and sealing a chunk moves the retry counts of
its answered rows into it. So a run where nothing fails and nothing retries records exactly what it
did before, at the same cost.
"""
from __future__ import annotations

import tempfile
from array import array
from typing import Any, Iterator

import numpy as np

from simulator.engine.request import IN_FLIGHT
from simulator.sampling.blocks import Replay

# 2**16 rows a chunk (1.4 MB); 16 sealed chunks (1,048,576 requests, ~22 MB) stay in memory. Runs
# that fit are summarised exactly as before (`Result` concatenates the chunks); longer runs spill.
CHUNK_ROWS = 1 << 16
_NAN = float("nan")
MEMORY_CHUNKS = 16

_DTYPES = (("start", np.float64), ("end", np.float64), ("wl", np.int16), ("op", np.int16), ("outcome", np.int8))
ROW_BYTES = sum(np.dtype(t).itemsize for _n, t in _DTYPES)
# A row of the current chunk's lists: five pointers, and the start and end float objects (24 bytes
# each; the small ints of workload, operation and outcome are shared objects).
LIST_ROW_BYTES = 5 * 8 + 2 * 24
# Optional per-row columns, appended at issue when enabled (`enable`); -1 where a request has none.
_ATTR_DTYPES = {"key": np.int64, "user": np.int64, "region": np.int16}
_ATTR_CODES = {"key": "q", "user": "q", "region": "h"}
# Sparse per-chunk logs: (row in the chunk, cause, place) of failed requests; (row, retries) of retried ones.
_SPARSE = (("fail_row", np.int32, "i"), ("fail_cause", np.int8, "b"), ("fail_where", np.int16, "h"),
           ("fail_fault", np.int16, "h"), ("retry_row", np.int32, "i"), ("retry_n", np.int32, "i"))


def _dense(column: list | array, dtype: Any) -> np.ndarray:
    """A column of the current chunk as a numpy array (a view of an `array`'s buffer, a copy of a list)."""
    if not len(column):
        return np.empty(0, dtype)
    return np.frombuffer(column, dtype=dtype) if isinstance(column, array) else np.array(column, dtype=dtype)


class Recorder:
    """Workloads append a row when they issue a request and fill `end`/`outcome` when it is answered.

    The hot path (simulator/workload/clients.py) appends to `start`, `end`, `wl`, `op`, `outcome`
    directly; `base` is the id of the current chunk's first row; when `len(start)` reaches
    `chunk_rows` it calls `seal()`. Answers go through `answer()`: an id below `base` goes to the late log.
    """

    # What the hot path touches, in slots (a fixed offset each; see `Component`'s slots for why)
    _HOT = ("start", "end", "wl", "op", "outcome", "base", "chunk_rows", "inline_answers")
    __slots__ = _HOT + ("__dict__",)

    def __init__(self, workloads: list[str], chunk_rows: int | None = None, memory_chunks: int | None = None) -> None:
        self.chunk_rows = int(chunk_rows or CHUNK_ROWS)
        self.memory_chunks = int(MEMORY_CHUNKS if memory_chunks is None else memory_chunks)
        self.workloads = list(workloads)
        self.operations: list[str] = []
        self._op_index: dict[str, int] = {}
        self.base = 0
        self.sealed: list[dict[str, np.ndarray]] = []  # in memory, in id order
        self.spilled: list[tuple[int, int]] = []  # (file offset, rows) of chunks on disk, after `sealed`
        self._spill: Any = None
        self._late_id = array("q")
        self._late_end = array("d")
        self._late_outcome = array("b")
        self.attrs: tuple[str, ...] = ()  # optional columns recorded at issue (`enable`)
        self.key = self.user = self.region = None  # their arrays in the current chunk, None when off
        # column -> {workload index: spec}; `spec.draw()` gives a fresh `draw(n)` of the stream the
        # workload drew that column's values from (see `replay`).
        self.replays: dict[str, dict[int, Any]] = {}
        self.regions: list[str] = []
        self._region_index: dict[str, int] = {}
        self.places: list[str] = []  # components (and workloads) named by failure causes
        self._place_index: dict[str, int] = {}
        # The workloads may write a successful answer's row themselves (what `answer` does, without
        # its frame) unless something wraps `answer` (tracing closes its root spans there).
        self.inline_answers = True
        self.why: dict[int, tuple[int, str, int]] = {}  # request id -> (cause, place, fault) of its latest failure
        self.fault_names: list[str] = []  # each fault's description, by token (set by the runner)
        self.retried: dict[int, int] = {}  # request id -> retries made for it (retry policies)
        self.track_retries = False  # a retry policy exists: the `attempts` column is recorded
        self._late_fail_id = array("q")
        self._late_fail_cause = array("b")
        self._late_fail_where = array("h")
        self._late_fail_fault = array("h")
        self._new_chunk()

    def _new_chunk(self) -> None:
        # The five columns every row has are lists while their chunk fills (an `array` parses each
        # value it is given: 2% of a three-tier run), numpy arrays once it is sealed.
        self.start: list[float] = []
        self.end: list[float] = []
        self.wl: list[int] = []
        self.op: list[int] = []
        self.outcome: list[int] = []
        for name in _ATTR_DTYPES:
            setattr(self, name, array(_ATTR_CODES[name]) if name in self.attrs else None)
        for name, _dt, code in _SPARSE:
            setattr(self, name, array(code))

    def enable(self, attrs: list[str]) -> None:
        """Record these optional columns at issue (only `user`, for a closed loop, is), from now on
        (before the run: every row then has them)."""
        self.attrs = tuple(a for a in _ATTR_DTYPES if a in attrs or a in self.attrs)
        for name in self.attrs:
            if getattr(self, name) is None:
                setattr(self, name, array(_ATTR_CODES[name], [-1] * len(self.start)))

    def replay(self, column: str, workload: int, spec: Any) -> None:
        """Column `column` (`key`, `user`, `region`) of workload `workload`'s rows is the sequence of
        values `spec.draw()` makes (one per request, in order of issue): rebuilt when read, never stored."""
        self.replays.setdefault(column, {})[workload] = spec

    def region_index(self, name: str | None) -> int:
        if name is None:
            return -1
        i = self._region_index.get(name)
        if i is None:
            i = self._region_index[name] = len(self.regions)
            self.regions.append(name)
        return i

    def place_index(self, name: str | None) -> int:
        if name is None:
            return -1
        i = self._place_index.get(name)
        if i is None:
            i = self._place_index[name] = len(self.places)
            self.places.append(name)
        return i

    def _dtypes(self) -> list[tuple[str, Any]]:
        return list(_DTYPES) + [(a, _ATTR_DTYPES[a]) for a in self.attrs]

    def op_index(self, name: str) -> int:
        i = self._op_index.get(name)
        if i is None:
            i = self._op_index[name] = len(self.operations)
            self.operations.append(name)
        return i

    def __len__(self) -> int:
        return self.base + len(self.start)

    # --- called from the hot path, rarely ----------------------------------------------------------
    def seal(self) -> None:
        """Close the current chunk: keep it in memory while there is room, else append it to the spill file."""
        rows = len(self.start)
        if self.retried:  # the retry counts of this chunk's answered rows travel with it
            base, outcome = self.base, self.outcome
            done = [(i, n) for i, n in self.retried.items() if base <= i < base + rows and outcome[i - base] != IN_FLIGHT]
            for i, n in done:  # (a row still in flight keeps its count in `retried` until it is read)
                self.retry_row.append(i - base)
                self.retry_n.append(n)
                del self.retried[i]
        if self.why:  # drop the causes of failures a retry or a fallback masked (their rows are answered),
            # and of older rows (bounded memory: a request in flight across a whole chunk loses its cause)
            self.why = {i: v for i, v in self.why.items() if i >= self.base and (i - self.base >= rows
                        or self.outcome[i - self.base] == IN_FLIGHT)}
        chunk = {name: _dense(getattr(self, name), dt).copy() for name, dt in self._dtypes()}
        sparse = {name: np.frombuffer(getattr(self, name), dtype=dt).copy() for name, dt, _c in _SPARSE}
        if len(self.sealed) < self.memory_chunks:
            self.sealed.append({**chunk, **sparse})
        else:
            if self._spill is None:
                self._spill = tempfile.TemporaryFile(prefix="dsim-requests-")
            f = self._spill
            f.seek(0, 2)
            offset = f.tell()
            for name, _dt in self._dtypes():
                f.write(chunk[name].tobytes())
            for name, _dt, _c in _SPARSE:
                f.write(sparse[name].tobytes())
            self.spilled.append((offset, rows, len(self.fail_row), len(self.retry_row)))
        self.base += rows
        self._new_chunk()

    def issue(self, now: float, wl: int, op: str) -> int:
        """A new row (in flight) for a request of workload `wl` and operation `op`; returns its id.
        Workloads inline these lines on their hot path (simulator/workload/clients.py `_issue`);
        this is the same for callers off it (applications' operations)."""
        start = self.start
        if len(start) >= self.chunk_rows:
            self.seal()
            start = self.start
        rid = len(start) + self.base
        start.append(now)
        self.end.append(_NAN)
        self.wl.append(wl)
        self.op.append(self.op_index(op))
        self.outcome.append(IN_FLIGHT)
        for attr in self.attrs:  # optional columns some workload records: none here
            getattr(self, attr).append(-1)
        return rid

    def answer(self, rid: int, end_s: float, outcome: int) -> None:
        """Request `rid` was answered at `end_s`: in its chunk's row, or in the late log if sealed."""
        row = rid - self.base
        if row >= 0:
            self.end[row] = end_s
            self.outcome[row] = outcome
        else:
            self.late(rid, end_s, outcome)

    def late(self, rid: int, end_s: float, outcome: int) -> None:
        """An answer to a request whose chunk is already sealed."""
        self._late_id.append(rid)
        self._late_end.append(end_s)
        self._late_outcome.append(outcome)

    def failed(self, rid: int) -> None:
        """Request `rid` was answered with a failure: keep the cause of its latest failure (`why`)."""
        cause, where, fault = self.why.pop(rid, (0, None, -1))
        row = rid - self.base
        if row >= 0:
            self.fail_row.append(row)
            self.fail_cause.append(cause)
            self.fail_where.append(self.place_index(where))
            self.fail_fault.append(fault)
        else:
            self._late_fail_id.append(rid)
            self._late_fail_cause.append(cause)
            self._late_fail_where.append(self.place_index(where))
            self._late_fail_fault.append(fault)

    # --- after the run -----------------------------------------------------------------------------
    @property
    def spills(self) -> bool:
        return bool(self.spilled)

    def chunks_in_memory(self) -> int:
        """Sealed chunks held in memory (at most `memory_chunks`), not counting the current one."""
        return len(self.sealed)

    def memory_bytes(self) -> int:
        """Bytes of request records held in memory: sealed chunks, the current chunk, the late log."""
        held = sum(a.nbytes for c in self.sealed for a in c.values())
        held += len(self.start) * LIST_ROW_BYTES + sum(getattr(self, a).itemsize * len(getattr(self, a)) for a in self.attrs)
        held += sum(getattr(self, n).itemsize * len(getattr(self, n)) for n, _d, _c in _SPARSE)
        return held + len(self._late_id) * 17 + len(self._late_fail_id) * 13

    def _read(self, offset: int, rows: int, fails: int = 0, retries: int = 0) -> dict[str, np.ndarray]:
        f = self._spill
        f.flush()
        f.seek(offset)
        out = {}
        sizes = [(name, dt, rows) for name, dt in self._dtypes()]
        sizes += [(name, dt, fails if name.startswith("fail") else retries) for name, dt, _c in _SPARSE]
        for name, dt, count in sizes:
            n = count * np.dtype(dt).itemsize
            out[name] = np.frombuffer(f.read(n), dtype=dt).copy()
        return out

    def _raw_chunks(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """(first id, columns) of every chunk in id order, late answers not yet applied."""
        base = 0
        for c in self.sealed:
            yield base, c
            base += c["start"].size
        for offset, rows, fails, retries in self.spilled:
            yield base, self._read(offset, rows, fails, retries)
            base += rows
        current = {name: _dense(getattr(self, name), dt) for name, dt in self._dtypes() + [(n, d) for n, d, _c in _SPARSE]}
        yield base, current

    def _extra(self, base: int, c: dict[str, np.ndarray], late_fail: tuple[np.ndarray, ...],
               takers: dict[str, dict[int, Replay]]) -> dict[str, np.ndarray]:
        """The optional columns of one chunk, dense: attributes as recorded; `cause` and `where` from
        its failure log and the late one (0 / -1 for requests that did not fail); `attempts`."""
        rows = c["start"].size
        out = {a: c[a] for a in self.attrs}
        for col, per_wl in takers.items():
            values = out[col].copy() if col in out else np.full(rows, -1, _ATTR_DTYPES[col])
            wl = c["wl"]
            for w, taker in per_wl.items():
                mine = wl == w
                k = int(mine.sum())
                if k:
                    values[mine] = taker.take(k)
            out[col] = values
        cause = np.zeros(rows, np.int8)
        where = np.full(rows, -1, np.int16)
        fault = np.full(rows, -1, np.int16)
        cause[c["fail_row"]] = c["fail_cause"]
        where[c["fail_row"]] = c["fail_where"]
        fault[c["fail_row"]] = c["fail_fault"]
        lid, lcause, lwhere, lfault = late_fail
        lo, hi = np.searchsorted(lid, [base, base + rows])
        if hi > lo:
            cause[lid[lo:hi] - base] = lcause[lo:hi]
            where[lid[lo:hi] - base] = lwhere[lo:hi]
            fault[lid[lo:hi] - base] = lfault[lo:hi]
        out["cause"], out["where"], out["fault"] = cause, where, fault
        if self.track_retries:
            attempts = np.ones(rows, np.int32)
            attempts[c["retry_row"]] += c["retry_n"]
            for i, n in self.retried.items():  # answered after their chunk was sealed, or never
                if base <= i < base + rows:
                    attempts[i - base] += n
            out["attempts"] = attempts
        return out

    def chunks(self, since_s: float = 0.0, extra: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """The rows of requests generated at or after `since_s`, chunk by chunk in id order, with an
        `id` column and every answer applied (copies: the recorder is not changed). With `extra`, also
        the optional columns (attributes, `cause`, `where`, `attempts`): only what needs them pays
        for building them (the request rows), not the summary."""
        late_id = np.frombuffer(self._late_id, dtype=np.int64) if len(self._late_id) else np.empty(0, np.int64)
        order = np.argsort(late_id, kind="stable")  # a request is answered once; stable keeps the order if not
        late_id = late_id[order]
        late_end = np.frombuffer(self._late_end, dtype=np.float64)[order] if late_id.size else np.empty(0)
        late_out = np.frombuffer(self._late_outcome, dtype=np.int8)[order] if late_id.size else np.empty(0, np.int8)
        late_fail: tuple = ()
        takers: dict = {}
        if extra:
            # The failure causes' late log, sorted by id like the answers'.
            lf = np.frombuffer(self._late_fail_id, dtype=np.int64) if len(self._late_fail_id) else np.empty(0, np.int64)
            lorder = np.argsort(lf, kind="stable")
            late_fail = (lf[lorder],
                         np.frombuffer(self._late_fail_cause, dtype=np.int8)[lorder] if lf.size else np.empty(0, np.int8),
                         np.frombuffer(self._late_fail_where, dtype=np.int16)[lorder] if lf.size else np.empty(0, np.int16),
                         np.frombuffer(self._late_fail_fault, dtype=np.int16)[lorder] if lf.size else np.empty(0, np.int16))
            # Replayed columns: fresh streams, taken chunk after chunk from the run's first request.
            takers = {col: {w: Replay(spec.draw()) for w, spec in per_wl.items()} for col, per_wl in self.replays.items()}
        for base, c in self._raw_chunks():
            rows = c["start"].size
            lo, hi = np.searchsorted(late_id, [base, base + rows])
            end, outcome = c["end"], c["outcome"]
            if hi > lo:
                end, outcome = end.copy(), outcome.copy()
                end[late_id[lo:hi] - base] = late_end[lo:hi]
                outcome[late_id[lo:hi] - base] = late_out[lo:hi]
            keep = c["start"] >= since_s
            # Every chunk's extra columns are built, kept rows or not: the replayed streams advance in order.
            more = self._extra(base, c, late_fail, takers) if extra else {}
            if keep.all():
                yield {"id": np.arange(base, base + rows), "start": c["start"], "end": end, "wl": c["wl"],
                       "op": c["op"], "outcome": outcome, **more}
            elif keep.any():
                yield {"id": np.nonzero(keep)[0] + base, "start": c["start"][keep], "end": end[keep],
                       "wl": c["wl"][keep], "op": c["op"][keep], "outcome": outcome[keep],
                       **{k: v[keep] for k, v in more.items()}}

    def columns(self, since_s: float = 0.0, extra: bool = False) -> dict[str, np.ndarray]:
        """Every row generated at or after `since_s` as one set of numpy columns (memory ∝ rows)."""
        parts = list(self.chunks(since_s, extra))
        if not parts:
            return self.empty_columns(extra)
        if len(parts) == 1:
            return {k: v.copy() for k, v in parts[0].items()}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def empty_columns(self, extra: bool = True) -> dict[str, np.ndarray]:
        """The columns `chunks` yields, with no row."""
        out = {"id": np.empty(0, np.int64), "start": np.empty(0), "end": np.empty(0),
               "wl": np.empty(0, np.int16), "op": np.empty(0, np.int16), "outcome": np.empty(0, np.int8)}
        if not extra:
            return out
        out.update({a: np.empty(0, _ATTR_DTYPES[a]) for a in _ATTR_DTYPES if a in self.attrs or a in self.replays})
        out.update(cause=np.empty(0, np.int8), where=np.empty(0, np.int16), fault=np.empty(0, np.int16))
        if self.track_retries:
            out["attempts"] = np.empty(0, np.int32)
        return out

    def __getstate__(self) -> dict[str, Any]:
        """A pickled recorder carries its spilled chunks in memory (a temporary file does not travel)."""
        state = dict(self.__dict__)
        state.update((name, getattr(self, name)) for name in self._HOT)
        if self._spill is not None:
            state["sealed"] = self.sealed + [self._read(*spilled) for spilled in self.spilled]
            state["spilled"] = []
            state["_spill"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def close(self) -> None:
        """Delete the spill file (it is anonymous: closing it frees the disk space)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None
            self.spilled = []

