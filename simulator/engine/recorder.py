"""Columnar record of every client request: one array per column, not one object per request.

A request's row index is its id. Five compact arrays (start, end, workload, operation, outcome)
cost 27 bytes a request, so a million requests take ~27 MB.
"""
from __future__ import annotations

from array import array

import numpy as np


class Recorder:
    """Workloads append a row when they issue a request and fill `end`/`outcome` when it is answered."""

    def __init__(self, workloads: list[str]) -> None:
        self.start = array("d")
        self.end = array("d")
        self.wl = array("h")
        self.op = array("h")
        self.outcome = array("b")
        self.workloads = list(workloads)
        self.operations: list[str] = []
        self._op_index: dict[str, int] = {}

    def op_index(self, name: str) -> int:
        i = self._op_index.get(name)
        if i is None:
            i = self._op_index[name] = len(self.operations)
            self.operations.append(name)
        return i

    def __len__(self) -> int:
        return len(self.start)

    def columns(self, since_s: float = 0.0) -> dict[str, np.ndarray]:
        """numpy views of the rows of requests generated at or after `since_s`."""
        start = np.frombuffer(self.start, dtype=np.float64) if len(self.start) else np.empty(0)
        keep = start >= since_s
        ids = np.nonzero(keep)[0]
        end = np.frombuffer(self.end, dtype=np.float64)[keep] if len(self.end) else np.empty(0)
        return {
            "id": ids,
            "start": start[keep],
            "end": end,
            "wl": np.frombuffer(self.wl, dtype=np.int16)[keep] if len(self.wl) else np.empty(0, np.int16),
            "op": np.frombuffer(self.op, dtype=np.int16)[keep] if len(self.op) else np.empty(0, np.int16),
            "outcome": np.frombuffer(self.outcome, dtype=np.int8)[keep] if len(self.outcome) else np.empty(0, np.int8),
        }
