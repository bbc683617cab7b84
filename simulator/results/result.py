"""What a run produced: a summary dict and pandas DataFrames, computed from columnar records.

A `Result` holds plain data only (numpy columns, dicts), never the model, so it pickles cheaply to
another process or a Dask worker.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from simulator.engine.request import ERROR, IN_FLIGHT, OK, OUTCOME_NAMES, REJECTED, TIMED_OUT

PERCENTILES = (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9))


def clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def latency_stats(lat: np.ndarray) -> dict[str, float | None]:
    if lat.size == 0:
        return {"mean": None, **{k: None for k, _ in PERCENTILES}, "max": None}
    qs = np.percentile(lat, [q for _, q in PERCENTILES])
    return {"mean": float(lat.mean()), **{k: float(v) for (k, _), v in zip(PERCENTILES, qs)},
            "max": float(lat.max())}


def outcome_counts(outcome: np.ndarray) -> dict[str, int]:
    counts = np.bincount(outcome.astype(np.int64), minlength=len(OUTCOME_NAMES)) if outcome.size else np.zeros(5, int)
    return {
        "generated": int(outcome.size),
        "ok": int(counts[OK]),
        "rejected": int(counts[REJECTED]),
        "timed_out": int(counts[TIMED_OUT]),
        "errors": int(counts[ERROR]),
        "in_flight": int(counts[IN_FLIGHT]),
    }


@dataclass
class Result:
    """The outcome of one run. `summary` is a dict; the rest are pandas DataFrames."""

    scenario_name: str
    seed: int
    duration_s: float
    warmup_s: float
    columns: dict[str, np.ndarray]
    workload_names: list[str]
    operation_names: list[str]
    component_stats: dict[str, dict[str, Any]]
    samples: dict[str, list]
    fault_windows: list[dict[str, Any]]
    bucket_s: float
    warnings: list[str] = field(default_factory=list)
    effective_config: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    # `run(..., profile=True)`: events and wall-clock seconds by kind (simulator.engine.profile).
    # Not in the summary: wall-clock figures differ from run to run.
    profile: list[dict[str, Any]] | None = None

    @property
    def measured_s(self) -> float:
        return self.duration_s - self.warmup_s

    @cached_property
    def summary(self) -> dict[str, Any]:
        c = self.columns
        outcome = c["outcome"]
        ok = outcome == OK
        lat_ok = (c["end"] - c["start"])[ok]
        counts = outcome_counts(outcome)
        finished = counts["generated"] - counts["in_flight"]
        per_wl = {}
        for i, name in enumerate(self.workload_names):
            sel = c["wl"] == i
            wc = outcome_counts(outcome[sel])
            wfin = wc["generated"] - wc["in_flight"]
            per_wl[name] = {
                "requests": wc,
                "throughput_rps": wc["ok"] / self.measured_s,
                "availability": wc["ok"] / wfin if wfin else None,
                "latency_s": latency_stats((c["end"] - c["start"])[sel & ok]),
            }
        per_op = {}
        for i, name in enumerate(self.operation_names):
            sel = c["op"] == i
            if sel.any():
                per_op[name] = {"ok": int((sel & ok).sum()), "latency_s": latency_stats((c["end"] - c["start"])[sel & ok])}
        return clean({
            "scenario": self.scenario_name,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "requests": counts,
            "throughput_rps": counts["ok"] / self.measured_s,
            "availability": counts["ok"] / finished if finished else None,
            "latency_s": latency_stats(lat_ok),
            "components": self.component_stats,
            "workloads": per_wl,
            "operations": per_op,
            "faults": self.fault_windows,
            "warnings": self.warnings,
            **self.extras,
        })

    def to_json(self) -> str:
        return json.dumps(self.summary, indent=2, allow_nan=False) + "\n"

    @cached_property
    def requests(self) -> pd.DataFrame:
        """One row per request generated after the warm-up."""
        c = self.columns
        return pd.DataFrame({
            "id": c["id"].astype(np.int64),
            "workload": pd.Categorical.from_codes(c["wl"].astype(np.int32), categories=self.workload_names),
            "operation": pd.Categorical.from_codes(c["op"].astype(np.int32), categories=self.operation_names),
            "start_s": c["start"],
            "end_s": c["end"],
            "latency_s": c["end"] - c["start"],
            "outcome": pd.Categorical.from_codes(c["outcome"].astype(np.int32), categories=list(OUTCOME_NAMES)),
        })

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """Per time bucket: throughput, error rate, p50/p99 latency, and per-component figures."""
        c = self.columns
        edges = np.asarray(self.samples.get("time_s", []), dtype=float)
        if edges.size == 0:
            return pd.DataFrame()
        starts = np.concatenate(([self.warmup_s], edges[:-1]))
        width = edges - starts
        n = edges.size
        end = c["end"]
        finished = ~np.isnan(end)
        idx = np.searchsorted(edges, end[finished], side="left")
        inside = idx < n
        idx = idx[inside]
        out_f = c["outcome"][finished][inside]
        lat_f = (end - c["start"])[finished][inside]
        ok_mask = out_f == OK
        done = np.bincount(idx, minlength=n)
        ok_n = np.bincount(idx[ok_mask], minlength=n)
        gen_idx = np.searchsorted(edges, c["start"], side="left")
        gen = np.bincount(gen_idx[gen_idx < n], minlength=n)
        p50 = np.full(n, np.nan)
        p99 = np.full(n, np.nan)
        if ok_mask.any():
            order = np.argsort(idx[ok_mask], kind="stable")
            sorted_idx = idx[ok_mask][order]
            sorted_lat = lat_f[ok_mask][order]
            bounds = np.searchsorted(sorted_idx, np.arange(n + 1))
            for b in range(n):
                lo, hi = bounds[b], bounds[b + 1]
                if hi > lo:
                    p50[b], p99[b] = np.percentile(sorted_lat[lo:hi], [50, 99])
        frame = pd.DataFrame({
            "start_s": starts,
            "end_s": edges,
            "offered_rps": gen / width,
            "throughput_rps": ok_n / width,
            "error_rate": np.where(done > 0, (done - ok_n) / np.maximum(done, 1), np.nan),
            "latency_p50_s": p50,
            "latency_p99_s": p99,
        })
        for key, values in self.samples.items():
            if key != "time_s":
                frame[key] = np.asarray(values, dtype=float)
        return frame

    @cached_property
    def components(self) -> pd.DataFrame:
        """One row per component with its summary figures."""
        rows = []
        for name, st in self.component_stats.items():
            row = {"component": name}
            row.update({k: v for k, v in st.items() if not isinstance(v, (dict, list))})
            rows.append(row)
        return pd.DataFrame(rows)
