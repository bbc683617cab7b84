"""Comparing variants of a scenario: every variant run R times, with common random numbers.

    from simulator import load_scenario
    from simulator.comparison import compare
    from simulator.sweep import parse_axis

    study = compare(load_scenario("scenarios/three-tier.yaml"),
                    [parse_axis("components.lb.algorithm=round_robin,least_connections")], replications=10)
    study.table          # one row per variant: mean and 95% half-width of each metric
    study.differences    # paired differences against the baseline variant
    study.replications   # every run's figures

Replication r of every variant uses the same seed (derived from the scenario seed and r), so a
difference between variants is measured on the same random inputs. Every variant is validated
before any simulation starts.
"""
from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DsimError, ScenarioError, did_you_mean
from .inference import mean_interval, paired_difference, unpaired_difference
from .result import clean
from .result_cache import ResultCache, file_digests, named_files, run_key
from .rng import derive_seed
from .scenario import Scenario, validate, with_overrides
from .sweep import Axis, Variant, grid

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
QUANTILES = np.concatenate([np.linspace(0.0, 0.99, 100), [0.995, 0.999, 1.0]])
ProgressFn = Callable[[int, int, int], None]  # (done, total, from cache)


class CompareInterrupted(DsimError):
    """Ctrl-C during a comparison; `partial` holds the runs that finished."""

    exit_code = 130  # what a shell reports for a process stopped by Ctrl-C

    def __init__(self, partial: "Comparison", cached: bool = True) -> None:
        kept = ("kept in the cache; run the same command again to go on" if cached else
                "not kept: the run cache is off (--no-cache)")
        super().__init__(f"interrupted: {len(partial.records)} of {partial.total_runs} runs finished ({kept})")
        self.partial = partial


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
    from .runner import run

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


@dataclass
class Comparison:
    """Everything a comparison produced; DataFrames are computed from `records`."""

    scenario_name: str
    base_seed: int
    axes: list[Axis]
    variants: list[Variant]
    replications: int
    seeds: list[int]
    records: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    baseline: int = 0
    executor: str = "in-process"
    from_cache: int = 0
    effective_config: dict[str, Any] = field(default_factory=dict)
    extra_metrics: list[str] = field(default_factory=list)  # component figures asked for
    auto_warmup: bool = False  # `warmup: auto`: each run chose its own warm-up (MSER-5)

    def chosen_warmups(self) -> dict[str, Any] | None:
        """With `warmup: auto`, the warm-ups the runs chose (each run its own: they differ by seed)."""
        if not self.auto_warmup or not self.records:
            return None
        w = np.array([rec["warmup_s"] for rec in self.records.values()], dtype=float)
        return {"method": "MSER-5", "runs": int(w.size), "min_s": float(w.min()), "mean_s": float(w.mean()),
                "max_s": float(w.max())}

    @property
    def metric_names(self) -> list[str]:
        return list(METRICS) + [m for m in self.extra_metrics if m not in METRICS]

    @property
    def total_runs(self) -> int:
        return len(self.variants) * self.replications

    def values(self, variant: int, metric: str) -> np.ndarray:
        """The metric over replications 0..R-1 of a variant (nan where a run is missing)."""
        out = np.full(self.replications, np.nan)
        for r in range(self.replications):
            rec = self.records.get((variant, r))
            if rec is None:
                continue
            v = rec["metrics"].get(metric) if metric in METRICS else rec.get("figures", {}).get(metric)
            if v is not None:
                out[r] = v
        return out

    @cached_property
    def replications_frame(self) -> pd.DataFrame:
        rows = []
        for (v, r), rec in sorted(self.records.items()):
            var = self.variants[v]
            row: dict[str, Any] = {"variant": var.label, "variant_index": v}
            for axis, c in zip(self.axes, var.coords):
                row[axis.path] = axis.values[c]
            row.update(replication=r, seed=rec["seed"], warmup_s=rec["warmup_s"])
            row.update(rec["metrics"])
            row.update({m: rec.get("figures", {}).get(m) for m in self.extra_metrics})
            row.update({f"requests_{k}": n for k, n in rec["requests"].items()})
            rows.append(row)
        return pd.DataFrame(rows)

    @cached_property
    def table(self) -> pd.DataFrame:
        """Per variant and metric: mean, 95% half-width, replications it rests on."""
        rows = []
        for var in self.variants:
            row: dict[str, Any] = {"variant": var.label}
            for axis, c in zip(self.axes, var.coords):
                row[axis.path] = axis.values[c]
            for m in self.metric_names:
                iv = mean_interval(self.values(var.index, m))
                row[m] = iv.mean
                row[f"{m}_ci"] = iv.half_width
                row[f"{m}_n"] = iv.n
            rows.append(row)
        return pd.DataFrame(rows)

    def peers(self, variant: int) -> list[int]:
        """The variants compared with this one: those that differ from it only on the compared axis
        (all variants when one axis is varied; the same load when choices are swept over loads)."""
        k = self.compared_axis
        if k is None or len(self.axes) == 1:
            return [v.index for v in self.variants]
        mine = self.variants[variant].coords
        return [v.index for v in self.variants
                if all(c == m for i, (c, m) in enumerate(zip(v.coords, mine)) if i != k)]

    def best(self, metric: str, variant: int = 0) -> int | None:
        """Index of the variant with the best mean among `variant`'s peers (None if none has one)."""
        peers = self.peers(variant)
        means = self.table[metric].to_numpy(dtype=float)[peers]
        if not np.isfinite(means).any():
            return None
        better = metric_info(metric)[1]
        return peers[int(np.nanargmin(means) if better == "min" else np.nanargmax(means))]

    def tied_with_best(self, variant: int, metric: str) -> bool:
        """True when the paired difference to the best of its peers is not significant."""
        b = self.best(metric, variant)
        if b is None or b == variant:
            return True
        return not paired_difference(self.values(variant, metric), self.values(b, metric)).excludes(0.0)

    def mark(self, variant: int, metric: str) -> str | None:
        """"best", "tied" (the paired difference to the best is not significant) or "worse" among
        the variant's peers; None when the metric has no value."""
        b = self.best(metric, variant)
        if b is None or not math.isfinite(self.table[metric].iloc[variant]):
            return None
        if b == variant:
            return "best"
        return "tied" if self.tied_with_best(variant, metric) else "worse"

    @property
    def compared_axis(self) -> int | None:
        """The axis whose values are compared (see `compared_axis`)."""
        return compared_axis(self.axes)

    def baseline_of(self, variant: int) -> int:
        """The baseline under the same conditions: the baseline's value on the compared axis, the
        variant's own values on every other axis."""
        k = self.compared_axis
        if k is None:
            return self.baseline
        coords = list(self.variants[variant].coords)
        coords[k] = self.variants[self.baseline].coords[k]
        return next(v.index for v in self.variants if list(v.coords) == coords)

    @cached_property
    def differences(self) -> pd.DataFrame:
        """Each variant minus its baseline (same other axes), per metric: paired and unpaired 95% intervals."""
        rows = []
        for var in self.variants:
            base = self.baseline_of(var.index)
            if var.index == base:
                continue
            for m in self.metric_names:
                a, b = self.values(var.index, m), self.values(base, m)
                p, u = paired_difference(a, b), unpaired_difference(a, b)
                rows.append({"variant": var.label, "baseline": self.variants[base].label, "metric": m,
                             "difference": p.mean, "paired_ci": p.half_width, "unpaired_ci": u.half_width,
                             "n": p.n, "significant": bool(p.excludes(0.0))})
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: axes, variants, per-variant intervals, differences, warnings."""
        warnings = sorted({w for rec in self.records.values() for w in rec["warnings"]})
        faults = next(iter(self.records.values()))["faults"] if self.records else []
        return clean({
            "scenario": self.scenario_name,
            "seed": self.base_seed,
            "replications": self.replications,
            "replication_seeds": self.seeds,
            "runs": len(self.records),
            "runs_from_cache": self.from_cache,
            "executor": self.executor,
            "axes": [{"path": a.path, "values": a.values, "numeric": a.numeric} for a in self.axes],
            "baseline": self.variants[self.baseline].label,
            "extra_metrics": self.extra_metrics,
            "compared_axis": None if self.compared_axis is None else self.axes[self.compared_axis].path,
            "variants": self.table.to_dict(orient="records"),
            "marks": {v.label: {m: self.mark(v.index, m) for m in self.metric_names} for v in self.variants},
            "differences": self.differences.to_dict(orient="records"),
            "faults": faults,
            "warnings": warnings,
            "warmup_auto": self.chosen_warmups(),
        })

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2, allow_nan=False) + "\n"


def prepare(scenario: Scenario, axes: list[Axis]) -> list[tuple[Variant, Scenario]]:
    """Every variant's scenario, validated now, so bad input fails before any run starts."""
    for axis in axes:
        top = axis.path.split(".", 1)[0]
        if top == "seed":  # each run's seed comes from the replication: a varied seed would change nothing
            raise ScenarioError("the seed is not a setting to compare: replications already run on different "
                                "seeds derived from the scenario's; use --seed to change them, --replications "
                                "for more", file=f"{axis.where} seed")
        if top in ("name", "description", "compare"):
            raise ScenarioError(f"'{top}' changes no run: every variant would be the same",
                                file=f"{axis.where} {axis.path}")
    out = []
    for var in grid(axes):
        try:
            sc = with_overrides(scenario, var.overrides) if var.overrides else scenario
        except ScenarioError as exc:
            raise _culprit(scenario, axes, var, exc) from None
        out.append((var, sc))
    return out


def _culprit(scenario: Scenario, axes: list[Axis], var: Variant, exc: ScenarioError) -> ScenarioError:
    """The error of an invalid variant, told as coming from the --vary value whose own key is at
    fault, else from the variant (values of several axes can clash: a warm-up and a duration)."""
    errors = getattr(exc, "errors", None) or [exc]
    for axis, c in zip(axes, var.coords):
        for e in errors:
            key = ".".join(str(p) for p in e.path)
            if e.file == f"--set {axis.path}" or key == axis.path or key.startswith(axis.path + "."):
                return _located(e, f"{axis.where} {axis.path}={axis.values[c]}", axis.path)
    return _located(exc, f"{axes[0].where} (variant {var.label})", "")


def _located(exc: ScenarioError, where: str, path: str) -> ScenarioError:
    """An error from validating a variant, told as coming from the --vary (or compare.vary) value that
    caused it; the key path is kept when the problem shows up elsewhere (a warm-up longer than a
    varied duration, say)."""
    errors = getattr(exc, "errors", None) or [exc]
    parts = []
    for e in errors:
        key = ".".join(str(p) for p in e.path)
        parts.append(e.message if key in ("", path) else f"{key}: {e.message}")
    return ScenarioError("; ".join(parts), file=where)


@dataclass
class Plan:
    """A comparison ready to run: checked axes, replications, table metrics, baseline label."""

    axes: list[Axis]
    replications: int
    metrics: list[str] | None
    baseline: str | None


def plan(scenario: Scenario, vary: list[str] | tuple[str, ...] = (), replications: int | None = None,
         metrics: list[str] | tuple[str, ...] = (), baseline: str | None = None, source: str = "") -> Plan:
    """What to compare: the arguments given, else the scenario's `compare:` section. Everything is
    checked here, every variant included, so bad input fails before any run starts."""
    from .sweep import make_axis, parse_axis

    cfg = scenario.compare
    if vary:
        axes = [parse_axis(v) for v in vary]
    elif cfg is not None and cfg.vary:
        axes = [make_axis(path, values, where=f"{source}: compare.vary") for path, values in cfg.vary.items()]
    else:
        raise ScenarioError("nothing to compare: give --vary PATH=VALUES, or a 'compare:' section in the file",
                            file=source or None)
    paths = [a.path for a in axes]
    if len(set(paths)) != len(paths):
        raise ScenarioError("the same path is varied twice", file="--vary")
    reps = replications if replications is not None else (cfg.replications if cfg else 5)
    if reps < 1:
        raise ScenarioError(f"must be at least 1, got {reps}", file="--replications")
    chosen = list(metrics) or (list(cfg.metrics) if cfg and cfg.metrics else None)
    check_metrics(scenario, chosen or [])
    base = baseline or (cfg.baseline if cfg else None)
    _baseline_index(axes, [v for v, _ in prepare(scenario, axes)], base)
    return Plan(axes, reps, chosen, base)


def check_metrics(scenario: Scenario, metrics: list[str]) -> None:
    """Each metric is a run metric or `component.figure` of a component this scenario has."""
    figures: dict[str, float] | None = None
    for m in metrics:
        if m in METRICS:
            continue
        if "." not in m:
            raise ScenarioError(f"unknown metric '{m}'{did_you_mean(m, METRICS)}; run metrics: {', '.join(METRICS)}; "
                                f"or a component's figure such as app-cache.hit_ratio", file="--metric")
        if figures is None:  # what each component reports, read off a model built but not run
            from .runner import build

            _env, model = build(scenario)
            figures = component_figures({n: c.stats(1.0) for n, c in model.components.items()})
        if m not in figures:
            comp = m.split(".", 1)[0]
            known = [f for f in figures if f.startswith(comp + ".")]
            hint = did_you_mean(m, known or figures)
            where = f"; {comp} reports: {', '.join(k.split('.', 1)[1] for k in known)}" if known else \
                f"; no component '{comp}'{did_you_mean(comp, {f.split('.', 1)[0] for f in figures})}"
            raise ScenarioError(f"unknown metric '{m}'{hint}{where}", file="--metric")


def compared_axis(axes: list[Axis]) -> int | None:
    """The axis whose values are compared: the first non-numeric one (else the first); the other
    axes (a load sweep, say) set the conditions under which they are compared."""
    if not axes:
        return None
    return next((i for i, a in enumerate(axes) if not a.numeric), 0)


def _baseline_index(axes: list[Axis], variants: list[Variant], baseline: str | None) -> int:
    """The variant named by `baseline`: its label, or (in a grid) a value of the compared axis, which
    stands for that value under every setting of the other axes."""
    if baseline is None:
        return 0
    labels = [v.label for v in variants]
    if baseline in labels:
        return labels.index(baseline)
    k = compared_axis(axes)
    values = [str(v) for v in axes[k].values] if k is not None else []
    if baseline in values:
        return next(v.index for v in variants if v.coords[k] == values.index(baseline))
    choices = values + labels if len(axes) > 1 else labels
    shown = f"{axes[k].path} values: {', '.join(values)}" if len(axes) > 1 else f"variants: {', '.join(labels)}"
    raise ScenarioError(f"no variant '{baseline}'{did_you_mean(baseline, choices)}; {shown}", file="--baseline")


def compare(scenario: Scenario, axes: list[Axis], replications: int = 5, executor: Any = None,
            cache: ResultCache | None = None, progress: ProgressFn | None = None,
            baseline: str | None = None, metrics: list[str] | None = None) -> Comparison:
    """Run every variant `replications` times (shared seeds) and collect a `Comparison`."""
    from . import __version__
    from .parallel import InProcess

    if replications < 1:
        raise ScenarioError(f"replications must be at least 1, got {replications}", file="--replications")
    prepared = prepare(scenario, axes)
    variants = [v for v, _ in prepared]
    base = _baseline_index(axes, variants, baseline)
    seeds = [derive_seed(scenario.seed, "replication", r) for r in range(replications)]
    executor = executor or InProcess()
    study = Comparison(scenario.name, scenario.seed, axes, variants, replications, seeds, baseline=base,
                       executor=executor.name, effective_config=scenario.effective(),
                       extra_metrics=[m for m in metrics or [] if m not in METRICS],
                       auto_warmup=any(sc.warmup == "auto" for _v, sc in prepared))
    base_dir = str(scenario.base_dir) if scenario.base_dir else None
    todo, keys = [], []
    for var, sc in prepared:
        # What a run depends on: the study (`compare:`) and the prose (`description:`) do not change
        # it, so extending a committed study or rewording it finds the runs already made.
        data = sc.model_dump(mode="json", exclude={"compare", "description"})
        contents = named_files(data, base_dir)
        digests = file_digests(contents)
        # Files travel with the run: a cluster worker may not see this machine's disk.
        shipped = {name: content for name, content in contents.items() if content is not None}
        for r, seed in enumerate(seeds):
            key = run_key(data, seed, __version__, digests)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                study.records[(var.index, r)] = hit
                study.from_cache += 1
            else:
                todo.append({"scenario": data, "base_dir": base_dir, "files": shipped, "seed": seed,
                             "label": var.label, "variant": var.index, "replication": r})
                keys.append(key)
    total = study.total_runs
    if progress:
        progress(len(study.records), total, study.from_cache)
    try:
        for i, record in executor.run(run_record, todo):
            payload = todo[i]
            if cache is not None:  # first, so a run counted as finished on Ctrl-C is in the cache
                cache.put(keys[i], record)
            study.records[(payload["variant"], payload["replication"])] = record
            if progress:
                progress(len(study.records), total, study.from_cache)
    except KeyboardInterrupt:
        executor.cancel()
        raise CompareInterrupted(study, cached=cache is not None) from None
    return study


def mean_curve(values: list[list[float]]) -> np.ndarray:
    """Element-wise mean of equally long series (replications of a time series or quantile grid)."""
    usable = [v for v in values if v]
    if not usable:
        return np.array([])
    n = min(len(v) for v in usable)
    a = np.array([[math.nan if x is None else x for x in v[:n]] for v in usable], dtype=float)
    count = np.isfinite(a).sum(axis=0)
    total = np.where(np.isfinite(a), a, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), math.nan)  # nan where no replication has a value
