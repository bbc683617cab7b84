"""Consistency checkers for operation histories: pure functions of the history, no simulation.

`read_history(path)` reads dsim's history.jsonl, Jepsen's EDN or Jepsen's log lines; `check(history,
model_name, budget_s)` decides linearizability (Wing & Gong / Lowe search per key) and lists the named
anomalies (stale reads, read-your-writes, monotonic reads, lost writes, G0/G1c/G2). See
docs/consistency.md.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .anomalies import Anomalies, Anomaly
from .anomalies import find as find_anomalies
from .formats import FORMATS, events_of, parse_history, read_history, to_edn, to_jsonl
from .history import Event, History, HistoryError, Op
from .linearizable import Counterexample, Linearizability
from .linearizable import check as check_linearizable
from .models import MODELS, model

EXIT_CODES = {True: 0, False: 1, None: 3}  # linearizable, violated, undecided within the budget

__all__ = ["FORMATS", "MODELS", "Anomalies", "Anomaly", "Counterexample", "Event", "History", "HistoryError",
           "Linearizability", "Op", "Report", "check", "events_of", "parse_history", "read_history", "to_edn",
           "to_jsonl"]


@dataclass
class Report:
    """What `dsim check` prints: the linearizability verdict and the anomalies."""

    source: str
    linearizability: Linearizability
    anomalies: Anomalies
    elapsed_s: float
    history_ops: int
    skipped_events: int = 0  # events of non-client processes (Jepsen's :nemesis)

    @property
    def valid(self) -> bool | None:
        """True: linearizable; False: not; None: undecided within the budget. Every anomaly proves the
        history is not linearizable, so one decides a search that ran out of time."""
        if self.linearizability.valid is None and self.anomalies.found:
            return False
        return self.linearizability.valid

    @property
    def decided_by(self) -> str:
        """What decided the verdict: `search` (the linearizability search) or `anomalies`."""
        return "anomalies" if self.linearizability.valid is None and self.anomalies.found else "search"

    @property
    def verdict(self) -> str:
        return {True: "linearizable", False: "not linearizable", None: "unknown"}[self.valid]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.valid]

    def to_dict(self) -> dict[str, Any]:
        lin = self.linearizability
        return {
            "history": self.source,
            "model": lin.model,
            "verdict": self.verdict,
            "valid": self.valid,
            "decided_by": self.decided_by,
            "operations": self.history_ops,
            "operations_checked": lin.ops,
            "skipped_events": self.skipped_events,
            "partitions": lin.partitions,
            "undecided_keys": [list(k) if isinstance(k, tuple) else k for k in lin.undecided],
            "elapsed_s": round(self.elapsed_s, 6),
            "counterexample": None if lin.counterexample is None else lin.counterexample.to_dict(),
            "anomalies": self.anomalies.counts(),
            "anomalies_skipped_reads": self.anomalies.skipped_reads,
            "anomaly_list": [a.to_dict() for a in self.anomalies.found],
        }

    def lines(self, max_anomalies: int = 10) -> list[str]:
        lin = self.linearizability
        out = [f"{self.source}: {self.verdict} ({lin.model} model, {self.history_ops} operations, "
               f"{lin.ops} checked in {lin.partitions} independent part{'s' if lin.partitions != 1 else ''}, "
               f"{self.elapsed_s:.2f} s)"]
        if self.skipped_events:
            out.append(f"  ({self.skipped_events} events of non-client processes, such as :nemesis, skipped)")
        if lin.valid is None:
            keys = ", ".join(str(k) for k in lin.undecided[:5])
            if self.anomalies.found:
                out.append(f"  the search ran out of time on key(s) {keys}, but the anomalies below prove "
                           "the history is not linearizable")
            else:
                out.append(f"  the time budget ran out before deciding key(s) {keys}; raise --budget")
        if lin.counterexample is not None:
            out += ["  " + line for line in lin.counterexample.lines()]
        counts = self.anomalies.counts()
        if counts:
            out.append("anomalies: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            for a in self.anomalies.found[:max_anomalies]:
                stale = ""
                if a.staleness_s is not None:
                    stale = f" (stale by {a.staleness_s:.6g} s)"
                elif a.staleness_events is not None:
                    stale = f" (stale by {a.staleness_events} events)"
                out.append(f"  {a.kind}: {a.text}{stale}")
            if len(self.anomalies.found) > max_anomalies:
                out.append(f"  ... and {len(self.anomalies.found) - max_anomalies} more (--format json lists them)")
        elif lin.valid is not False:
            out.append("anomalies: none")
        if self.anomalies.skipped_reads:
            out.append(f"  ({self.anomalies.skipped_reads} reads of values written more than once were not "
                       "attributed)")
        return out


def check(history: History, model_name: str, budget_s: float | None = None) -> Report:
    """Check `history` against the model `model_name` (one of MODELS): linearizability within
    `budget_s` seconds of search (None: no limit), then the named anomalies."""
    started = time.monotonic()
    m = model(model_name)
    lin = check_linearizable(m, history, budget_s)
    anomalies = find_anomalies(m, history)
    return Report(history.source, lin, anomalies, time.monotonic() - started, len(history.ops), history.skipped)
