"""What one run of a study keeps: the metrics a comparison can be made on (with their unit and
which way is better), a component's figures, and `run_record`, the task an executor runs.

A record is small and JSON-clean (metrics, request counts, a latency quantile grid, a short time
series), so it crosses to a process or a Dask worker and into the run cache cheaply.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from simulator.results.cost import cost_figures
from simulator.results.metrics import METRICS, consistency_figures, resilience_metrics
from simulator.results.result import clean
from simulator.scenario.schema import validate

def component_figures(components: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Every number in the components' summaries as `component.key` (one level of nesting kept:
    `users.replication_lag_s.p99`); an application's metrics as `app.metric` (`feed.read_latency_s.p99`)."""
    def number(v: Any) -> bool:  # None: a figure with no value in this run (a hit ratio without lookups)
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))

    out: dict[str, float | None] = {}
    for name, stats in components.items():
        if stats.get("app"):  # an application's own metrics, by their names: `feed.read_latency_s.p99`
            stats = {**{k: v for k, v in stats.items() if k != "metrics"}, **stats.get("metrics", {})}
        for key, value in stats.items():
            if number(value):
                out[f"{name}.{key}"] = value
            elif isinstance(value, dict):
                for sub, v in value.items():
                    if number(v):
                        out[f"{name}.{key}.{sub}"] = v
    return out


# The latency quantiles a run keeps for the CDF chart (fine in the tail).
QUANTILES = np.concatenate([np.linspace(0.0, 0.99, 100), [0.995, 0.999, 1.0]])


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(_number(x) for x in v)


_SERIES = ("end_s", "throughput_rps", "latency_p99_s", "error_rate")


def _series(ts: Any) -> bool:
    return isinstance(ts, dict) and (not ts or (set(_SERIES) <= set(ts) and all(_numbers(v) for v in ts.values())
                                                and len({len(v) for v in ts.values()}) == 1))


def _fault(f: Any) -> bool:
    return (isinstance(f, dict) and isinstance(f.get("description"), str) and _number(f.get("start_s"))
            and f.get("start_s") is not None and _number(f.get("end_s")))


def is_record(rec: Any, seed: int) -> bool:
    """Whether `rec` has the shape `run_record` gives a run of `seed` (what a comparison reads from
    it), so a damaged or foreign run-cache entry is a miss rather than a crash."""
    return (isinstance(rec, dict) and rec.get("seed") == seed and not isinstance(rec.get("seed"), bool)
            and isinstance(rec.get("metrics"), dict) and all(_number(v) for v in rec["metrics"].values())
            and isinstance(rec.get("requests"), dict)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in rec["requests"].values())
            and {"generated", "ok", "in_flight"} <= set(rec["requests"])
            and isinstance(rec.get("warmup_s"), (int, float)) and not isinstance(rec["warmup_s"], bool)
            and _numbers(rec.get("latency_quantiles_s"))
            and _series(rec.get("timeseries"))
            and isinstance(rec.get("faults"), list) and all(_fault(f) for f in rec["faults"])
            and isinstance(rec.get("warnings"), list) and all(isinstance(w, str) for w in rec["warnings"])
            and isinstance(rec.get("figures"), dict) and all(_number(v) for v in rec["figures"].values()))


CAP_FIGURES = ("cap.fault_availability", "cap.read_p99_s", "cap.write_p99_s")


def cap_figures(summary: dict[str, Any], quiet: dict[str, dict[str, Any]] | None = None) -> dict[str, float]:
    """What the CAP chart of a comparison plots, for a run that checks consistency (none otherwise, so
    other studies' records are unchanged): `cap.fault_availability` (1 - error rate of the
    requests finishing inside the fault windows, weighted by their number: `fault_impact`'s "during")
    and, PACELC's latency side, `cap.read_p99_s` and `cap.write_p99_s`: the p99 of successful reads
    and writes without a partition, from `quiet` (`Result.outside_faults()`: requests that ran
    entirely outside every fault window); without `quiet`, the whole measured run's (the
    `operations` section)."""
    if summary.get("consistency") is None:
        return {}
    out: dict[str, float] = {}
    during = [f["during"] for f in (summary.get("fault_impact") or {}).get("faults", []) if f.get("during")]
    finished = sum(d["requests"] for d in during)
    if finished:
        out["cap.fault_availability"] = 1.0 - sum(d["requests"] * (d["error_rate"] or 0.0) for d in during) / finished
    for op in ("read", "write"):
        if quiet is not None:
            p99 = (quiet.get(op) or {}).get("p99_s")
        else:
            p99 = ((summary.get("operations") or {}).get(op) or {}).get("latency_s", {}).get("p99")
        if p99 is not None:
            out[f"cap.{op}_p99_s"] = p99
    return out


def run_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one (variant, replication) and keep the figures a comparison needs (small, JSON-clean).

    Files the scenario names come in the payload (`files`): they are written to a temporary
    directory and the scenario pointed at them, so a worker on another machine runs on the same
    content, the content the run cache keyed the run by."""
    shipped = payload.get("files") or {}
    if not shipped:
        return _record(payload, payload["scenario"])
    with tempfile.TemporaryDirectory(prefix="dsim-run-") as tmp:
        local = {}
        for i, (name, content) in enumerate(sorted(shipped.items())):
            path = Path(tmp) / f"{i}-{Path(name).name}"
            path.write_bytes(content)
            local[name] = str(path)
        return _record(payload, _repoint(payload["scenario"], local))


def _repoint(node: Any, paths: dict[str, str]) -> Any:
    """A copy of the scenario data with each `file:` naming a shipped file replaced by its local copy."""
    if isinstance(node, dict):
        out = {k: _repoint(v, paths) for k, v in node.items()}
        if isinstance(node.get("file"), str) and node["file"] in paths:
            out["file"] = paths[node["file"]]
        return out
    if isinstance(node, list):
        return [_repoint(v, paths) for v in node]
    return node


def _record(payload: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    from simulator.simulation.runner import run

    base_dir = Path(payload["base_dir"]) if payload.get("base_dir") else None
    sc = validate(data, file=payload.get("label", "<variant>"), base_dir=base_dir)
    res = run(sc, seed=payload["seed"])
    s = res.summary
    metrics = {}
    for name, (path, _u, _b) in METRICS.items():
        value: Any = s
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        metrics[name] = value
    req = s["requests"]
    finished = req["generated"] - req["in_flight"]
    metrics["offered_rps"] = req["generated"] / (s["duration_s"] - s["warmup_s"])
    metrics["error_rate"] = (finished - req["ok"]) / finished if finished else None
    ts = res.timeseries
    return clean({
        "seed": payload["seed"],
        "metrics": metrics,
        "requests": req,
        "warmup_s": s["warmup_s"],
        "latency_quantiles_s": res.latency_quantiles(QUANTILES),
        "timeseries": {k: ts[k].tolist() for k in _SERIES}
        if not ts.empty else {},
        "faults": s["faults"],
        "events": [e for e in res.events if res.warmup_s <= e["at_s"] <= res.duration_s],  # for the charts
        "warnings": s["warnings"],
        "figures": {**component_figures(s["components"]), **cost_figures(s.get("cost")),
                    **consistency_figures(s.get("consistency")), **resilience_metrics(s),
                    **cap_figures(s, res.outside_faults() if s.get("consistency") is not None else None)},
        # the consistency checks' verdicts, when the scenario declares any (dsim explore reads them)
        **({"consistency": s["consistency"]} if s.get("consistency") is not None else {}),
    })
