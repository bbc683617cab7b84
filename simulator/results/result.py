"""What a run produced: a summary dict and pandas DataFrames, computed from columnar records.

A `Result` holds plain data only (numpy columns, dicts), never the model, so it pickles cheaply to
another process or a Dask worker.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator

import numpy as np
import pandas as pd

from simulator.engine.recorder import Recorder
from simulator.engine.request import (CAUSE_NAMES, DEGRADED, ERROR, IN_FLIGHT, OK, OUTCOME_NAMES, RATE_LIMITED, REJECTED,
                                      SHED, SHORT_CIRCUITED, TIMED_OUT)
from simulator.results.impact import METHOD as IMPACT_METHOD, fault_impact, outside_faults
from simulator.results.sketch import LatencySketch, bucket_of, percentiles_from_counts

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


def sketch_stats(sk: LatencySketch) -> dict[str, float | None]:
    """latency_stats from a sketch: mean and max exact, percentiles within the sketch's relative error."""
    if sk.n == 0:
        return {"mean": None, **{k: None for k, _ in PERCENTILES}, "max": None}
    qs = sk.percentiles([q for _, q in PERCENTILES])
    return {"mean": sk.mean, **{k: v for (k, _), v in zip(PERCENTILES, qs)}, "max": sk.hi}


CDF_POINTS = 10_000
_SPAN = 1 << 16  # sketch bins per time bucket in the combined key (far more than a latency needs)


def _with_counts(bucket: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """[keys, counts] of (time bucket, sketch bin) pairs."""
    keys, counts = np.unique(bucket.astype(np.int64) * _SPAN + np.minimum(bucket_of(lat), _SPAN - 1),
                             return_counts=True)
    return np.stack([keys, counts.astype(np.int64)])


def _merge(parts: list[np.ndarray]) -> np.ndarray:
    both = np.concatenate(parts, axis=1)
    keys, inverse = np.unique(both[0], return_inverse=True)
    return np.stack([keys, np.bincount(inverse, weights=both[1], minlength=keys.size).astype(np.int64)])


def outcome_counts(outcome: np.ndarray) -> dict[str, int]:
    counts = np.bincount(outcome.astype(np.int64), minlength=len(OUTCOME_NAMES)) if outcome.size else np.zeros(len(OUTCOME_NAMES), int)
    return counts_from_bincount(counts)


def counts_from_bincount(counts: np.ndarray) -> dict[str, int]:
    """The summary's request counts from the number of rows with each outcome code."""
    out = {
        "generated": int(counts.sum()),
        "ok": int(counts[OK]),
        "rejected": int(counts[REJECTED]),
        "timed_out": int(counts[TIMED_OUT]),
        "errors": int(counts[ERROR]),
        "in_flight": int(counts[IN_FLIGHT]),
    }
    # Outcomes of the resilience policies appear only when they happened, so runs without
    # policies keep the summary they always had.
    for code, key in ((SHORT_CIRCUITED, "short_circuited"), (RATE_LIMITED, "rate_limited"),
                      (DEGRADED, "degraded"), (SHED, "shed")):
        if code < counts.size and counts[code]:
            out[key] = int(counts[code])
    return out


@dataclass
class Result:
    """The outcome of one run. `summary` is a dict; the rest are pandas DataFrames.

    The request records are the run's `Recorder` (compact chunks, see simulator/engine/recorder.py).
    A run whose records stayed in memory (up to ~1.1 million requests by default) is summarised exactly
    from numpy columns. A longer run spilled most of its records to a temporary file: its summary and
    time series are then computed chunk by chunk (counts, means and maxima exact; percentiles from a
    latency sketch within ±0.5 %, simulator/results/sketch.py), so memory stays flat; `requests` and
    `columns` read every row back (memory grows with the rows) and `write_requests` streams them.
    """

    scenario_name: str
    seed: int
    duration_s: float
    warmup_s: float
    records: Recorder
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
    # Spans of the requests sampled for tracing (simulator/engine/trace.py `Span.as_dict`), or None
    # when the run traced nothing; `reports/trace_files.py` writes them (dsim run --trace).
    traces: list[dict[str, Any]] | None = None
    # `history: true`: the checkable workloads' operations (a simulator.consistency History).
    op_history: Any = None
    # A failed `check: [linearizable]`: the checker's counterexample (`Counterexample.to_dict`: the
    # blocked operation and its window), for the report's per-process timeline. Not in the summary.
    counterexample: dict[str, Any] | None = None
    # A run that checked its history (`check:`): per anomaly kind, the time each anomaly showed
    # (simulator/consistency/anomalies.py `shown_at`), all of them. Not in the summary.
    anomaly_times: dict[str, list[float]] | None = None

    @property
    def measured_s(self) -> float:
        return self.duration_s - self.warmup_s

    @property
    def exact(self) -> bool:
        """True when every record is in memory, so percentiles are exact (not from the sketch)."""
        return not self.records.spills

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """numpy columns (id, start, end, wl, op, outcome) of the requests generated after the warm-up.
        For a run that spilled, this reads every row back into memory."""
        return self.records.columns(self.warmup_s)

    @cached_property
    def all_columns(self) -> dict[str, np.ndarray]:
        """`columns` and the optional ones (key, user, region, attempts, cause, where): the request rows'."""
        return self.records.columns(self.warmup_s, extra=True)

    def chunks(self, extra: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """The same columns chunk by chunk (bounded memory); with `extra`, the optional ones too."""
        if self.exact:
            yield self.all_columns if extra else self.columns
        else:
            yield from self.records.chunks(self.warmup_s, extra)

    def _figures(self) -> tuple[dict[str, int], list[dict[str, int]], dict[str, Any], list[dict[str, Any]],
                                list[tuple[int, int, dict[str, Any]]]]:
        """Outcome counts and latency statistics: overall, per workload, per operation (rows, ok, latency)."""
        nw, no = len(self.workload_names), len(self.operation_names)
        if self.exact:
            c = self.columns
            outcome = c["outcome"]
            ok = outcome == OK
            lat = c["end"] - c["start"]
            wl_counts, wl_lat, op_rows = [], [], []
            for i in range(nw):
                sel = c["wl"] == i
                wl_counts.append(outcome_counts(outcome[sel]))
                wl_lat.append(latency_stats(lat[sel & ok]))
            for i in range(no):
                sel = c["op"] == i
                op_rows.append((int(sel.sum()), int((sel & ok).sum()), latency_stats(lat[sel & ok])))
            return outcome_counts(outcome), wl_counts, latency_stats(lat[ok]), wl_lat, op_rows
        k = len(OUTCOME_NAMES)
        by_wl = np.zeros(nw * k, dtype=np.int64)
        op_n = np.zeros(no, dtype=np.int64)
        all_sk, wl_sk, op_sk = LatencySketch(), [LatencySketch() for _ in range(nw)], [LatencySketch() for _ in range(no)]
        for c in self.chunks():
            outcome = c["outcome"].astype(np.int64)
            by_wl += np.bincount(c["wl"].astype(np.int64) * k + outcome, minlength=nw * k)
            op_n += np.bincount(c["op"].astype(np.int64), minlength=no)
            ok = outcome == OK
            lat = (c["end"] - c["start"])[ok]
            all_sk.add(lat)
            wl, op = c["wl"][ok], c["op"][ok]
            for i in range(nw):
                wl_sk[i].add(lat[wl == i])
            for i in range(no):
                op_sk[i].add(lat[op == i])
        per = by_wl.reshape(nw, k)
        wl_counts = [counts_from_bincount(per[i]) for i in range(nw)]
        return (counts_from_bincount(per.sum(axis=0)), wl_counts, sketch_stats(all_sk), [sketch_stats(s) for s in wl_sk],
                [(int(op_n[i]), op_sk[i].n, sketch_stats(op_sk[i])) for i in range(no)])

    @cached_property
    def summary(self) -> dict[str, Any]:
        counts, wl_counts, lat_all, wl_lat, op_rows = self._figures()
        finished = counts["generated"] - counts["in_flight"]
        per_wl = {}
        for i, name in enumerate(self.workload_names):
            wc = wl_counts[i]
            wfin = wc["generated"] - wc["in_flight"]
            per_wl[name] = {
                "requests": wc,
                "throughput_rps": wc["ok"] / self.measured_s,
                "availability": wc["ok"] / wfin if wfin else None,
                "latency_s": wl_lat[i],
            }
        per_op = {}
        for i, name in enumerate(self.operation_names):
            rows, ok_n, stats = op_rows[i]
            if rows:
                per_op[name] = {"ok": ok_n, "latency_s": stats}
        return clean({
            "scenario": self.scenario_name,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "requests": counts,
            "throughput_rps": counts["ok"] / self.measured_s,
            "availability": counts["ok"] / finished if finished else None,
            "latency_s": lat_all,
            "components": self.component_stats,
            "workloads": per_wl,
            "operations": per_op,
            "faults": self.fault_windows,
            "warnings": self.warnings,
            **self.extras,
            # Only runs with a fault get the section, so other runs' summaries stay as they were.
            **({"fault_impact": {"method": IMPACT_METHOD, "faults": self.fault_impact}} if self.fault_windows else {}),
        })

    @cached_property
    def fault_impact(self) -> list[dict[str, Any]]:
        """Per fault window: error rate, p99 and goodput before, during and after it, and the time to
        recover to the pre-fault baseline (simulator/results/impact.py defines each exactly)."""
        # The optional columns only for the `attempts` of a run with retries.
        return fault_impact(self.chunks(extra=self.records.track_retries), self.fault_windows, self.warmup_s, self.duration_s, self.bucket_s,
                            exact=self.exact)

    def outside_faults(self) -> dict[str, dict[str, Any]]:
        """Per operation: successful requests that ran entirely outside every fault window, and
        their latency p99 (simulator/results/impact.py `outside_faults`; the CAP chart's PACELC side)."""
        return outside_faults(self.chunks(), self.fault_windows, self.operation_names, exact=self.exact)

    @property
    def history(self) -> pd.DataFrame | None:
        """The recorded operations (`history: true`), one row per operation: process, f, key, value,
        type (ok, fail, info), invoke_s, complete_s (NaN: never completed). None without a history."""
        if self.op_history is None:
            return None
        rows = [{"process": op.process, "f": op.f, "key": op.key, "value": op.value, "type": op.type,
                 "invoke_s": op.invoke_time, "complete_s": math.nan if op.complete_time is None else op.complete_time}
                for op in self.op_history.ops]
        return pd.DataFrame(rows, columns=["process", "f", "key", "value", "type", "invoke_s", "complete_s"])

    def to_json(self) -> str:
        return json.dumps(self.summary, indent=2, allow_nan=False) + "\n"

    def latency_quantiles(self, qs: np.ndarray) -> list[float]:
        """Quantiles (0..1) of the latency of successful requests: exact, or from the sketch for a run that spilled."""
        if self.exact:
            c = self.columns
            lat = (c["end"] - c["start"])[c["outcome"] == OK]
            return np.quantile(lat, qs).tolist() if lat.size else []
        sk = LatencySketch()
        for c in self.chunks():
            sk.add((c["end"] - c["start"])[c["outcome"] == OK])
        return sk.percentiles([float(q) * 100.0 for q in qs]) if sk.n else []

    def latency_cdf(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per workload, (latency, fraction of successful requests at or below it): up to CDF_POINTS
        order statistics, or the sketch's buckets for a run that spilled."""
        out = {}
        if self.exact:
            c = self.columns
            ok = c["outcome"] == OK
            for i, name in enumerate(self.workload_names):
                lat = np.sort((c["end"] - c["start"])[ok & (c["wl"] == i)])
                if lat.size:
                    # At most CDF_POINTS evenly spaced order statistics (and the last): a chart cannot
                    # show more, and a million-point line costs ~100 MB to draw.
                    at = np.unique(np.linspace(0, lat.size - 1, min(lat.size, CDF_POINTS)).astype(np.int64))
                    out[name] = (lat[at], (at + 1) / lat.size)
            return out
        sketches = [LatencySketch() for _ in self.workload_names]
        for c in self.chunks():
            ok = c["outcome"] == OK
            lat, wl = (c["end"] - c["start"])[ok], c["wl"][ok]
            for i, sk in enumerate(sketches):
                sk.add(lat[wl == i])
        return {name: sk.cdf() for name, sk in zip(self.workload_names, sketches) if sk.n}

    def ok_latencies(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, latency) of the successful requests in order of arrival (for the warm-up search)."""
        starts, lats = [], []
        for c in self.chunks():
            ok = c["outcome"] == OK
            starts.append(c["start"][ok])
            lats.append((c["end"] - c["start"])[ok])
        start = np.concatenate(starts) if starts else np.empty(0)
        lat = np.concatenate(lats) if lats else np.empty(0)
        order = np.argsort(start, kind="stable")
        return start[order], lat[order]

    def _frame(self, c: dict[str, np.ndarray]) -> pd.DataFrame:
        """The rows as a DataFrame: the seven base columns, then the optional ones the run recorded
        (docs/outputs.md lists every column)."""
        frame = {
            "id": c["id"].astype(np.int64),
            "workload": pd.Categorical.from_codes(c["wl"].astype(np.int32), categories=self.workload_names),
            "operation": pd.Categorical.from_codes(c["op"].astype(np.int32), categories=self.operation_names),
            "start_s": c["start"],
            "end_s": c["end"],
            "latency_s": c["end"] - c["start"],
            "outcome": pd.Categorical.from_codes(c["outcome"].astype(np.int32), categories=list(OUTCOME_NAMES)),
        }
        rec = self.records
        if "key" in c:
            frame["key"] = c["key"].astype(np.int64)
        if "user" in c:
            frame["user"] = c["user"].astype(np.int64)
        if "region" in c:  # -1 (a workload without regions) reads as missing
            frame["region"] = pd.Categorical.from_codes(c["region"].astype(np.int32), categories=list(rec.regions))
        if "attempts" in c:
            frame["attempts"] = c["attempts"].astype(np.int32)
        if "cause" in c:
            frame["cause"] = pd.Categorical.from_codes(c["cause"].astype(np.int32), categories=list(CAUSE_NAMES))
            frame["component"] = pd.Categorical.from_codes(c["where"].astype(np.int32), categories=list(rec.places))
        names = list(getattr(rec, "fault_names", ()))
        if "fault" in c:  # the fault behind the failure: its place in the run's fault list, and what it is
            fault = c["fault"].astype(np.int32)
            frame["fault"] = fault
        if "fault" in c and names:  # (without faults: no categories, and the column would not survive parquet)
            categories = list(dict.fromkeys(names))  # two faults may read the same: one category
            code_of = np.array([categories.index(n) for n in names] + [-1], np.int32)  # token -> code; -1 -> none
            frame["fault_description"] = pd.Categorical.from_codes(
                code_of[np.where((fault >= 0) & (fault < len(names)), fault, len(names))], categories=categories)
        return pd.DataFrame(frame)

    @cached_property
    def requests(self) -> pd.DataFrame:
        """One row per request generated after the warm-up (every row in memory, even for a run that
        spilled: use `write_requests` to save a long run's rows with bounded memory)."""
        return self._frame(self.all_columns)

    def write_requests(self, path: Any) -> None:
        """Write the rows of `requests` to a parquet file, one row group per recorder chunk, so a run
        of any length is written with bounded memory."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        step = self.records.chunk_rows
        try:
            for whole in self.chunks(extra=True):
                for lo in range(0, whole["id"].size, step):  # columns held in memory: a slice at a time
                    c = {k: v[lo:lo + step] for k, v in whole.items()}
                    table = pa.Table.from_pandas(self._frame(c), preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(path, table.schema)
                    writer.write_table(table, row_group_size=max(1, table.num_rows))
            if writer is None:  # no request at all: an empty file with the columns
                table = pa.Table.from_pandas(self._frame(self.records.empty_columns()), preserve_index=False)
                writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()

    def _bucket_counts(self, edges: np.ndarray) -> dict[str, np.ndarray]:
        """Per bucket: requests finished, finished ok, timed out, generated; p50 and p99 of the latency
        of ok requests and of every finished request (failed ones included)."""
        n = edges.size
        done = np.zeros(n, dtype=np.int64)
        ok_n = np.zeros(n, dtype=np.int64)
        timed_out = np.zeros(n, dtype=np.int64)
        gen = np.zeros(n, dtype=np.int64)
        pct = {k: np.full(n, np.nan) for k in ("p50", "p99", "all_p50", "all_p99")}
        keys: dict[str, list[np.ndarray]] = {"": [], "all_": []}  # bucket * SPAN + sketch bin (a run that spilled)
        for c in self.chunks():
            end = c["end"]
            finished = ~np.isnan(end)
            idx = np.searchsorted(edges, end[finished], side="left")
            inside = idx < n
            idx = idx[inside]
            out_f = c["outcome"][finished][inside]
            lat_f = (end - c["start"])[finished][inside]
            ok_mask = out_f == OK
            done += np.bincount(idx, minlength=n)
            ok_n += np.bincount(idx[ok_mask], minlength=n)
            timed_out += np.bincount(idx[out_f == TIMED_OUT], minlength=n)
            gen_idx = np.searchsorted(edges, c["start"], side="left")
            gen += np.bincount(gen_idx[gen_idx < n], minlength=n)
            for prefix, sel in (("", ok_mask), ("all_", slice(None))):
                b, lat = idx[sel], lat_f[sel]
                if not b.size:
                    continue
                if self.exact:  # one chunk holding every row: exact percentiles
                    order = np.argsort(b, kind="stable")
                    sorted_lat = lat[order]
                    bounds = np.searchsorted(b[order], np.arange(n + 1))
                    for i in range(n):
                        lo, hi = bounds[i], bounds[i + 1]
                        if hi > lo:
                            pct[prefix + "p50"][i], pct[prefix + "p99"][i] = np.percentile(sorted_lat[lo:hi], [50, 99])
                else:
                    keys[prefix].append(_with_counts(b, lat))
                    if len(keys[prefix]) > 64:
                        keys[prefix] = [_merge(keys[prefix])]
        for prefix, parts in keys.items():
            if not parts:
                continue
            merged = _merge(parts)
            bucket = merged[0] // _SPAN
            bounds = np.searchsorted(bucket, np.arange(n + 1))
            for i in range(n):
                lo, hi = bounds[i], bounds[i + 1]
                if hi > lo:
                    pct[prefix + "p50"][i], pct[prefix + "p99"][i] = percentiles_from_counts(
                        merged[0][lo:hi] % _SPAN, merged[1][lo:hi], [50, 99])
        return {"done": done, "ok": ok_n, "timed_out": timed_out, "generated": gen, **pct}

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """Per time bucket: throughput, error and timeout rates, p50/p99 latency of successful requests
        (`latency_p50_s`, `latency_p99_s`) and of every finished request, failed ones included
        (`latency_all_p50_s`, `latency_all_p99_s`), and per-component figures."""
        edges = np.asarray(self.samples.get("time_s", []), dtype=float)
        if edges.size == 0:
            return pd.DataFrame()
        starts = np.concatenate(([self.warmup_s], edges[:-1]))
        width = edges - starts
        b = self._bucket_counts(edges)
        done = b["done"]
        frame = pd.DataFrame({
            "start_s": starts,
            "end_s": edges,
            "offered_rps": b["generated"] / width,
            "throughput_rps": b["ok"] / width,
            "error_rate": np.where(done > 0, (done - b["ok"]) / np.maximum(done, 1), np.nan),
            "timeout_rate": np.where(done > 0, b["timed_out"] / np.maximum(done, 1), np.nan),
            "latency_p50_s": b["p50"],
            "latency_p99_s": b["p99"],
            "latency_all_p50_s": b["all_p50"],
            "latency_all_p99_s": b["all_p99"],
        })
        for key, values in self.samples.items():
            if key != "time_s":
                frame[key] = np.asarray(values, dtype=float)
        return frame

    def anomalies_over_time(self) -> pd.DataFrame:
        """Per time bucket (the time series' buckets: `start_s`, `end_s`): how many anomalies of each
        kind the checker found, each placed at the time a client could see it (its last operation's
        completion, `shown_at`), one column per kind found (`stale-read`, `lost-write` …). Anomalies
        in the warm-up are left out. Empty without a checked history."""
        edges = np.asarray(self.samples.get("time_s", []), dtype=float)
        if self.anomaly_times is None or edges.size == 0:
            return pd.DataFrame()
        starts = np.concatenate(([self.warmup_s], edges[:-1]))
        frame = pd.DataFrame({"start_s": starts, "end_s": edges})
        bins = np.concatenate(([self.warmup_s], edges))
        for kind, times in sorted(self.anomaly_times.items()):
            t = np.asarray(times, dtype=float)
            # bucket i holds (start, end]: the time series' convention for what finished in it
            idx = np.searchsorted(bins, t[(t > self.warmup_s) & (t <= edges[-1])], side="left") - 1
            frame[kind] = np.bincount(idx, minlength=edges.size)[:edges.size]
        return frame

    @property
    def events(self) -> list[dict[str, Any]]:
        """Instant events of the run (a reshard, a failover, a scaling step), in time order, as plain
        data for charts: `at_s`, `kind`, `component`, `description`. Taken from the components'
        summaries: a sharded store's `reshards`, and any component's `events` (each with `at_s`,
        `kind` and `description`)."""
        out = []
        for name, st in self.component_stats.items():
            for ev in st.get("reshards") or []:
                out.append({"at_s": ev["at_s"], "kind": "reshard", "component": name,
                            "description": f"{name}: reshard, {ev.get('change', '')}".rstrip(", ")})
            for ev in st.get("events") or []:
                out.append({"at_s": ev["at_s"], "kind": ev.get("kind", "event"), "component": name,
                            "description": f"{name}: {ev.get('description', ev.get('kind', 'event'))}"})
        return clean(sorted(out, key=lambda e: e["at_s"]))

    @property
    def breaker_states(self) -> list[dict[str, Any]]:
        """The circuit breakers' open and half-open intervals in the measured window, as plain data for
        the charts' bands: `call` (the guarded call's label, with the target for a breaker per target),
        `state` ("open" or "half_open"), `start_s`, `end_s` (the next transition, else the run's end).
        From the breakers' `transitions` (the first 1,000 of each are kept)."""
        out = []
        for label, policies in (self.extras.get("resilience") or {}).items():
            cb = policies.get("circuit_breaker")
            if not isinstance(cb, dict):
                continue
            per_target = {label: cb} if "transitions" in cb else {
                f"{label} {t}": v for t, v in cb.items() if isinstance(v, dict) and "transitions" in v}
            for call, st in per_target.items():
                steps = [(float(t), state) for t, state in st["transitions"]] + [(self.duration_s, "closed")]
                for (t0, state), (t1, _next) in zip(steps, steps[1:]):
                    if state != "closed" and t1 > t0:
                        out.append({"call": call, "state": state, "start_s": t0, "end_s": t1})
        return sorted(out, key=lambda b: b["start_s"])

    @cached_property
    def components(self) -> pd.DataFrame:
        """One row per component with its summary figures."""
        rows = []
        for name, st in self.component_stats.items():
            row = {"component": name}
            row.update({k: v for k, v in st.items() if not isinstance(v, (dict, list))})
            rows.append(row)
        return pd.DataFrame(rows)
