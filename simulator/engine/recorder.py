"""Columnar record of every client request: one array per column, not one object per request.

A request's id is its row number over the whole run. Rows are appended to a *current chunk* of five
compact arrays (start, end: float64; workload, operation: int16; outcome: int8; 21 bytes a request).
When it holds `chunk_rows` rows it is sealed into numpy arrays; the first `memory_chunks` sealed
chunks stay in memory, later ones are appended to an anonymous temporary file (unlinked at once, so
nothing is left behind even if the process is killed). A request answered after its chunk was sealed
is written to a small *late* log (id, end, outcome) applied when the chunks are read back. So the
memory a run holds for its records is bounded by about (memory_chunks + 1) × chunk_rows × 21 bytes
(~24 MB by default) plus the late log, whatever the simulated duration; the rest is on disk.
"""
from __future__ import annotations

import tempfile
from array import array
from typing import Any, Iterator

import numpy as np

# 2**16 rows a chunk (1.4 MB); 16 sealed chunks (1,048,576 requests, ~22 MB) stay in memory. Runs
# that fit are summarised exactly as before (`Result` concatenates the chunks); longer runs spill.
CHUNK_ROWS = 1 << 16
MEMORY_CHUNKS = 16

_DTYPES = (("start", np.float64), ("end", np.float64), ("wl", np.int16), ("op", np.int16), ("outcome", np.int8))
ROW_BYTES = sum(np.dtype(t).itemsize for _n, t in _DTYPES)


class Recorder:
    """Workloads append a row when they issue a request and fill `end`/`outcome` when it is answered.

    The hot path (simulator/workload/clients.py) appends to `start`, `end`, `wl`, `op`, `outcome`
    directly; `base` is the id of the current chunk's first row; when `len(start)` reaches
    `chunk_rows` it calls `seal()`. Answers go through `answer()`: an id below `base` goes to the late log.
    """

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
        self._new_chunk()

    def _new_chunk(self) -> None:
        self.start = array("d")
        self.end = array("d")
        self.wl = array("h")
        self.op = array("h")
        self.outcome = array("b")

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
        chunk = {name: np.frombuffer(getattr(self, name), dtype=dt).copy() for name, dt in _DTYPES}
        rows = len(self.start)
        if len(self.sealed) < self.memory_chunks:
            self.sealed.append(chunk)
        else:
            if self._spill is None:
                self._spill = tempfile.TemporaryFile(prefix="dsim-requests-")
            f = self._spill
            f.seek(0, 2)
            offset = f.tell()
            for name, _dt in _DTYPES:
                f.write(chunk[name].tobytes())
            self.spilled.append((offset, rows))
        self.base += rows
        self._new_chunk()

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
        held += len(self.start) * ROW_BYTES
        return held + len(self._late_id) * 17

    def _read(self, offset: int, rows: int) -> dict[str, np.ndarray]:
        f = self._spill
        f.flush()
        f.seek(offset)
        out = {}
        for name, dt in _DTYPES:
            n = rows * np.dtype(dt).itemsize
            out[name] = np.frombuffer(f.read(n), dtype=dt).copy()
        return out

    def _raw_chunks(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """(first id, columns) of every chunk in id order, late answers not yet applied."""
        base = 0
        for c in self.sealed:
            yield base, c
            base += c["start"].size
        for offset, rows in self.spilled:
            yield base, self._read(offset, rows)
            base += rows
        current = {name: np.frombuffer(getattr(self, name), dtype=dt) if len(getattr(self, name)) else np.empty(0, dt)
                   for name, dt in _DTYPES}
        yield base, current

    def chunks(self, since_s: float = 0.0) -> Iterator[dict[str, np.ndarray]]:
        """The rows of requests generated at or after `since_s`, chunk by chunk in id order, with an
        `id` column and every answer applied (copies: the recorder is not changed)."""
        late_id = np.frombuffer(self._late_id, dtype=np.int64) if len(self._late_id) else np.empty(0, np.int64)
        order = np.argsort(late_id, kind="stable")  # a request is answered once; stable keeps the order if not
        late_id = late_id[order]
        late_end = np.frombuffer(self._late_end, dtype=np.float64)[order] if late_id.size else np.empty(0)
        late_out = np.frombuffer(self._late_outcome, dtype=np.int8)[order] if late_id.size else np.empty(0, np.int8)
        for base, c in self._raw_chunks():
            rows = c["start"].size
            lo, hi = np.searchsorted(late_id, [base, base + rows])
            end, outcome = c["end"], c["outcome"]
            if hi > lo:
                end, outcome = end.copy(), outcome.copy()
                end[late_id[lo:hi] - base] = late_end[lo:hi]
                outcome[late_id[lo:hi] - base] = late_out[lo:hi]
            keep = c["start"] >= since_s
            if keep.all():
                yield {"id": np.arange(base, base + rows), "start": c["start"], "end": end, "wl": c["wl"],
                       "op": c["op"], "outcome": outcome}
            elif keep.any():
                yield {"id": np.nonzero(keep)[0] + base, "start": c["start"][keep], "end": end[keep],
                       "wl": c["wl"][keep], "op": c["op"][keep], "outcome": outcome[keep]}

    def columns(self, since_s: float = 0.0) -> dict[str, np.ndarray]:
        """Every row generated at or after `since_s` as one set of numpy columns (memory ∝ rows)."""
        parts = list(self.chunks(since_s))
        if not parts:
            return {"id": np.empty(0, np.int64), "start": np.empty(0), "end": np.empty(0),
                    "wl": np.empty(0, np.int16), "op": np.empty(0, np.int16), "outcome": np.empty(0, np.int8)}
        if len(parts) == 1:
            return {k: v.copy() for k, v in parts[0].items()}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def __getstate__(self) -> dict[str, Any]:
        """A pickled recorder carries its spilled chunks in memory (a temporary file does not travel)."""
        state = dict(self.__dict__)
        if self._spill is not None:
            state["sealed"] = self.sealed + [self._read(o, r) for o, r in self.spilled]
            state["spilled"] = []
            state["_spill"] = None
        return state

    def close(self) -> None:
        """Delete the spill file (it is anonymous: closing it frees the disk space)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None
            self.spilled = []

