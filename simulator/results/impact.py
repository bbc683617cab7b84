"""The fault impact table: for each fault window, what users saw before, during and after it, and
how long the system took to come back to its pre-fault baseline (or that it never did).

Pure and after the run: computed from the recorded columns (a request's end time, latency and
outcome), never from the model. Requests are placed by the time they *finished* (as the time series
does), so a request that timed out after a fault ended counts after it: that is when its user saw it.
Every figure is over finished requests, failed ones included: `error_rate` is the share that did not
end `ok`, `p99_s` the 99th percentile of their latency (a failure's latency is how long its user
waited to learn of it), `goodput_rps` the successful requests finished per second, and in runs with a
retry policy `attempts_per_request` (amplification: the `attempts` column's mean).

The windows, for a fault from `start` to `end` (F1, F2 … in the order of `Result.fault_windows`, as
the charts number them), with L = max(end - start, BASELINE_BUCKETS x the time-series bucket):

- **before** (the baseline): [b0, b1). b1 is the fault's start, or, if it starts while other faults
  are active, the start of the earliest fault of that overlapping run. b0 = max(warm-up end, b1 - L,
  end of the last fault that ended at or before b1). Shorter than one bucket: no baseline (`null`).
- **during**: [start, end).  **after**: [end, min(end + L, run end)).
- **recovery**: time from the fault's end cut into buckets of the time-series width w, the first at
  [end, end + w). A bucket is *healthy* when at least one request finished in it, its error rate is
  at most baseline + max(ERROR_SLACK, baseline) (at most double the baseline, or one percentage point
  above it, whichever is larger) and its p99 at most P99_FACTOR x the baseline p99. The system has
  recovered `recovery_s = k x w` after the fault's end when bucket k is the first of SUSTAIN_BUCKETS
  consecutive healthy buckets. Status: `recovered`; `did_not_recover` (the run ended before that: a
  metastable failure, or a recovery too slow for the run); `interrupted` (another fault, named in
  `by`, was still active at this one's end or started before recovery was confirmed); `lasts_to_end` (the fault is still active when the run ends); `no_baseline`.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from simulator.engine.request import OK
from simulator.results.sketch import LatencySketch

BASELINE_BUCKETS = 10  # the baseline and "after" windows last at least this many time-series buckets
SUSTAIN_BUCKETS = 3  # healthy buckets in a row that count as recovered
ERROR_SLACK = 0.01  # an error rate up to baseline + max(1 point, baseline) is healthy
P99_FACTOR = 1.5  # a p99 up to 1.5 x the baseline p99 is healthy

METHOD = {
    "placed_by": "finish time",
    "baseline_and_after_s": f"max(fault duration, {BASELINE_BUCKETS} time-series buckets)",
    "healthy_bucket": f"error_rate <= baseline + max({ERROR_SLACK:g}, baseline) and p99 <= {P99_FACTOR:g} x baseline p99",
    "recovered_after": f"{SUSTAIN_BUCKETS} healthy buckets in a row, from the fault's end",
}


class _Acc:
    """Finished requests of one window: counts, and latencies exactly (in memory) or in a sketch."""

    __slots__ = ("n", "ok", "parts", "sketch", "attempts")

    def __init__(self, exact: bool) -> None:
        self.n = 0
        self.ok = 0
        self.attempts = 0  # summed over the requests (runs with retries: the `attempts` column)
        self.parts: list[np.ndarray] | None = [] if exact else None
        self.sketch = None if exact else LatencySketch()

    def add(self, lat: np.ndarray, ok: np.ndarray, attempts: np.ndarray | None = None) -> None:
        self.n += int(lat.size)
        self.ok += int(ok.sum())
        if attempts is not None:
            self.attempts += int(attempts.sum())
        if self.parts is not None:
            self.parts.append(lat)
        else:
            self.sketch.add(lat)

    def p99(self) -> float | None:
        if self.n == 0:
            return None
        if self.parts is not None:
            return float(np.percentile(np.concatenate(self.parts), 99))
        return self.sketch.percentiles([99])[0]

    def error_rate(self) -> float | None:
        return (self.n - self.ok) / self.n if self.n else None


def _windows(faults: list[dict[str, Any]], i: int, warmup_s: float, duration_s: float,
             bucket_s: float) -> dict[str, tuple[float, float] | None]:
    f = faults[i]
    start, end = float(f["start_s"]), float(f["end_s"])
    span = max(end - start, BASELINE_BUCKETS * bucket_s)
    b1 = start
    changed = True
    while changed:  # back to the start of the run of faults overlapping this one's start
        changed = False
        for g in faults:
            if g["start_s"] < b1 < g["end_s"]:
                b1, changed = float(g["start_s"]), True
    b0 = max(warmup_s, b1 - span, *[float(g["end_s"]) for g in faults if g["end_s"] <= b1])
    before = (b0, b1) if b1 - b0 >= bucket_s * (1 - 1e-9) else None
    after = (end, min(end + span, duration_s)) if end < duration_s else None
    return {"before": before, "during": (start, end), "after": after}


def fault_impact(chunks: Iterable[dict[str, np.ndarray]], faults: list[dict[str, Any]], warmup_s: float,
                 duration_s: float, bucket_s: float, exact: bool = True) -> list[dict[str, Any]]:
    """One entry per fault window (see the module's docstring), from recorder chunks (`end`, `start`,
    `outcome` columns; rows not finished have a NaN `end`). `exact`: percentiles from every latency
    (else from a sketch, within its relative error, for runs too long to hold in memory)."""
    if not faults:
        return []
    plans = []
    for i, f in enumerate(faults):
        w = _windows(faults, i, warmup_s, duration_s, bucket_s)
        end = float(f["end_s"])
        n_rec = max(0, math.ceil((duration_s - end) / bucket_s - 1e-9))
        grid = end + bucket_s * np.arange(n_rec + 1)
        grid[-1] = min(grid[-1], duration_s) if n_rec else grid[-1]
        phases = {k: _Acc(exact) for k, v in w.items() if v is not None}
        plans.append((w, phases, grid, [_Acc(exact) for _ in range(n_rec)]))
    with_attempts = False
    for c in chunks:
        fin = ~np.isnan(c["end"])
        t = c["end"][fin]
        lat = t - c["start"][fin]
        ok = c["outcome"][fin] == OK
        attempts = c["attempts"][fin] if "attempts" in c else None
        with_attempts = with_attempts or attempts is not None
        for w, phases, grid, buckets in plans:
            for name, acc in phases.items():
                lo, hi = w[name]
                sel = (t >= lo) & (t < hi)
                if sel.any():
                    acc.add(lat[sel], ok[sel], attempts[sel] if attempts is not None else None)
            if buckets:
                idx = np.searchsorted(grid, t, side="right") - 1
                inside = (idx >= 0) & (idx < len(buckets))
                b, b_lat, b_ok = idx[inside], lat[inside], ok[inside]
                order = np.argsort(b, kind="stable")  # one sort, then each bucket is a slice
                b, b_lat, b_ok = b[order], b_lat[order], b_ok[order]
                bounds = np.searchsorted(b, np.arange(len(buckets) + 1))
                for k in np.nonzero(np.diff(bounds))[0]:
                    lo, hi = bounds[k], bounds[k + 1]
                    buckets[k].add(b_lat[lo:hi], b_ok[lo:hi])
    out = []
    for i, (f, (w, phases, grid, buckets)) in enumerate(zip(faults, plans)):
        entry: dict[str, Any] = {"fault": f"F{i + 1}", "description": f.get("description"),
                                 "start_s": f["start_s"], "end_s": f["end_s"]}
        for name in ("before", "during", "after"):
            acc = phases.get(name)
            lo_hi = w[name]
            entry[name] = None if acc is None else {
                "from_s": lo_hi[0], "to_s": lo_hi[1], "requests": acc.n, "error_rate": acc.error_rate(),
                "p99_s": acc.p99(), "goodput_rps": acc.ok / (lo_hi[1] - lo_hi[0]) if lo_hi[1] > lo_hi[0] else None}
            if acc is not None and with_attempts:  # amplification: only runs with a retry policy
                entry[name]["attempts_per_request"] = acc.attempts / acc.n if acc.n else None
        entry["recovery"] = _recovery(f, faults, entry["before"], grid, buckets, duration_s, bucket_s)
        out.append(entry)
    return out


def healthy(acc_n: int, error_rate: float | None, p99: float | None, base_error: float, base_p99: float | None) -> bool:
    """A bucket is healthy: something finished, error rate and p99 within the tolerances of the baseline."""
    if acc_n == 0 or error_rate is None:
        return False
    if error_rate > base_error + max(ERROR_SLACK, base_error) + 1e-12:
        return False
    return base_p99 is None or p99 is None or p99 <= P99_FACTOR * base_p99 + 1e-12


def _recovery(f: dict[str, Any], faults: list[dict[str, Any]], before: dict[str, Any] | None, grid: np.ndarray,
              buckets: list[_Acc], duration_s: float, bucket_s: float) -> dict[str, Any]:
    end = float(f["end_s"])
    if end >= duration_s - 1e-9 * max(1.0, duration_s):
        return {"status": "lasts_to_end", "recovery_s": None}
    if before is None or before["error_rate"] is None:
        return {"status": "no_baseline", "recovery_s": None}
    # Another fault still active at this one's end, or starting before recovery is seen, takes over:
    # what follows is no longer this fault's recovery.
    for j, g in enumerate(faults):
        if g is not f and g["start_s"] <= end < g["end_s"]:
            return {"status": "interrupted", "recovery_s": None, "by": f"F{j + 1}"}
    later = [(float(g["start_s"]), j) for j, g in enumerate(faults) if g["start_s"] > end]
    next_start, next_j = min(later, default=(math.inf, -1))
    interrupted = {"status": "interrupted", "recovery_s": None, "by": f"F{next_j + 1}"}
    run = 0
    for k, acc in enumerate(buckets):
        if grid[k] >= next_start:  # another fault began before recovery was seen
            return interrupted
        if grid[k + 1] - grid[k] < bucket_s * (1 - 1e-9):
            break  # a sliver of a bucket at the run's end is too short to judge
        if healthy(acc.n, acc.error_rate(), acc.p99(), before["error_rate"], before["p99_s"]):
            run += 1
            if run == SUSTAIN_BUCKETS:
                first = k - SUSTAIN_BUCKETS + 1
                if grid[k + 1] > next_start:  # confirmed only by buckets inside the next fault
                    return interrupted
                return {"status": "recovered", "recovery_s": float(f"{first * bucket_s:.12g}")}  # k x w, no float dust
        else:
            run = 0
    return {"status": "did_not_recover", "recovery_s": None}


def outside_faults(chunks: Iterable[dict[str, np.ndarray]], faults: list[dict[str, Any]], operations: list[str],
                   exact: bool = True) -> dict[str, dict[str, Any]]:
    """Per operation name: the successful requests that ran entirely outside every fault window
    (finished before the window began, or started at or after it ended) and their latency p99: what
    an operation costs when nothing fails (PACELC's "else" side). A request that overlapped a window
    in any way is left out, whatever it met there. Without fault windows: every successful request.
    Operations with no such request are absent."""
    accs = [_Acc(exact) for _ in operations]
    windows = [(float(f["start_s"]), float(f["end_s"])) for f in faults]
    for c in chunks:
        ok = c["outcome"] == OK
        start, end = c["start"][ok], c["end"][ok]
        keep = np.ones(start.size, dtype=bool)
        for lo, hi in windows:
            keep &= (end <= lo) | (start >= hi)
        lat = (end - start)[keep]
        op = c["op"][ok][keep]
        for i, acc in enumerate(accs):
            sel = op == i
            if sel.any():
                acc.add(lat[sel], np.ones(int(sel.sum()), dtype=bool))
    return {name: {"requests": acc.n, "p99_s": acc.p99()} for name, acc in zip(operations, accs) if acc.n}
