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

from simulator.results.result import clean
from simulator.scenario.schema import validate

# name -> (summary path, unit shown, which way is better)
METRICS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "latency_mean_s": (("latency_s", "mean"), "ms", "min"),
    "latency_p50_s": (("latency_s", "p50"), "ms", "min"),
    "latency_p90_s": (("latency_s", "p90"), "ms", "min"),
    "latency_p95_s": (("latency_s", "p95"), "ms", "min"),
    "latency_p99_s": (("latency_s", "p99"), "ms", "min"),
    "latency_p999_s": (("latency_s", "p999"), "ms", "min"),
    "throughput_rps": (("throughput_rps",), "/s", "max"),
    "offered_rps": ((), "/s", "max"),
    "availability": (("availability",), "%", "max"),
    "error_rate": ((), "%", "min"),
}
TABLE_METRICS = ["latency_mean_s", "latency_p50_s", "latency_p99_s", "throughput_rps", "availability"]
# Component figures (`app-cache.hit_ratio`, `users.replication_lag_s.p99`) can be compared too;
# these words in their names mean higher is better, anything else lower.
_HIGHER_IS_BETTER = ("hit_ratio", "throughput", "availability", "served", "consumed", "produced", "keys_copied")


def metric_info(name: str) -> tuple[str, str]:
    """(unit shown, "min" or "max" is better) of a run metric or a component figure."""
    if name in METRICS:
        return METRICS[name][1], METRICS[name][2]
    better = "max" if any(word in name for word in _HIGHER_IS_BETTER) else "min"
    key = name.split(".", 1)[-1]
    if key.endswith("_s") or "_s." in key:
        return "ms", better
    if "ratio" in key or "utilization" in key or key.endswith("availability"):
        return "%", better
    if key.endswith("_rps"):
        return "/s", better
    return "", better


def component_figures(components: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Every number in the components' summaries as `component.key` (one level of nesting kept:
    `users.replication_lag_s.p99`)."""
    def number(v: Any) -> bool:  # None: a figure with no value in this run (a hit ratio without lookups)
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))

    out: dict[str, float | None] = {}
    for name, stats in components.items():
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
    ok = res.columns["outcome"] == 0
    lat = (res.columns["end"] - res.columns["start"])[ok]
    ts = res.timeseries
    return clean({
        "seed": payload["seed"],
        "metrics": metrics,
        "requests": req,
        "warmup_s": s["warmup_s"],
        "latency_quantiles_s": np.quantile(lat, QUANTILES).tolist() if lat.size else [],
        "timeseries": {k: ts[k].tolist() for k in ("end_s", "throughput_rps", "latency_p99_s", "error_rate")}
        if not ts.empty else {},
        "faults": s["faults"],
        "warnings": s["warnings"],
        "figures": component_figures(s["components"]),
    })
