"""Columnar record of every client request: one array per column, not one object per request.

A request's row index is its id. Five compact arrays (start, end, workload, operation, outcome)
cost 27 bytes a request, so a million requests take ~27 MB.
"""
from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

from .request import IN_FLIGHT, OUTCOME_NAMES


class Recorder:
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

    def new(self, t0: float, wl: int, op: int) -> int:
        """Register a new request; returns its id (workloads inline this on their hot path)."""
        rid = len(self.start)
        self.start.append(t0)
        self.end.append(float("nan"))
        self.wl.append(wl)
        self.op.append(op)
        self.outcome.append(IN_FLIGHT)
        return rid

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

    def frame(self, since_s: float = 0.0) -> pd.DataFrame:
        c = self.columns(since_s)
        return pd.DataFrame({
            "id": c["id"].astype(np.int64),
            "workload": pd.Categorical.from_codes(c["wl"].astype(np.int32), categories=self.workloads)
            if self.workloads else pd.Categorical([]),
            "operation": pd.Categorical.from_codes(c["op"].astype(np.int32), categories=self.operations)
            if self.operations else pd.Categorical([]),
            "start_s": c["start"],
            "end_s": c["end"],
            "latency_s": c["end"] - c["start"],
            "outcome": pd.Categorical.from_codes(c["outcome"].astype(np.int32), categories=list(OUTCOME_NAMES)),
        })
