"""Comparing variants of a scenario: every variant run R times, with common random numbers.

    from simulator import load_scenario
    from simulator.study.comparison import compare
    from simulator.study.sweep import parse_axis

    study = compare(load_scenario("scenarios/three-tier.yaml"),
                    [parse_axis("components.lb.algorithm=round_robin,least_connections")], replications=10)
    study.table          # one row per variant: mean and 95% half-width of each metric
    study.differences    # paired differences against the baseline variant
    study.replications_frame   # every run's figures

Replication r of every variant uses the same seed (derived from the scenario seed and r), so a
difference between variants is measured on the same random inputs. Every variant is validated
before any simulation starts (`study_plan`); each run is `run_figures.run_record`, on whichever
executor (`parallel`), its record kept in the run cache (`result_cache`).
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from simulator.language.errors import DsimError, ScenarioError
from simulator.statistics.inference import mean_interval, paired_difference, unpaired_difference
from simulator.results.result import clean
from simulator.study.run_cache import ResultCache, code_fingerprint, file_digests, named_files, run_key
from simulator.sampling.rng import derive_seed
from simulator.results.metrics import METRICS, TABLE_METRICS, canonical_metric, metric_info
from simulator.study.run_figures import QUANTILES, component_figures, is_record, run_record
from simulator.scenario.schema import MAX_REPLICATIONS, Scenario
from simulator.study.plan import Plan, baseline_index, check_metrics, compared_axis, plan, prepare
from simulator.study.sweep import Axis, Variant

# The study's API in one place (the CLI, reports and notebooks import from here).
__all__ = [
    "METRICS", "QUANTILES", "TABLE_METRICS", "CompareInterrupted", "Comparison", "Plan", "check_metrics",
    "compare", "compared_axis", "component_figures", "mean_curve", "metric_info", "plan", "prepare", "run_record",
]

ProgressFn = Callable[[int, int, int], None]  # (done, total, from cache)


class CompareInterrupted(DsimError):
    """Ctrl-C during a comparison; `partial` holds the runs that finished."""

    exit_code = 130  # what a shell reports for a process stopped by Ctrl-C

    def __init__(self, partial: "Comparison", cached: bool = True) -> None:
        kept = ("kept in the cache; run the same command again to go on" if cached else
                "not kept: the run cache is off (--no-cache)")
        super().__init__(f"interrupted: {len(partial.records)} of {partial.total_runs} runs finished ({kept})")
        self.partial = partial


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



def compare(scenario: Scenario, axes: list[Axis], replications: int = 5, executor: Any = None,
            cache: ResultCache | None = None, progress: ProgressFn | None = None,
            baseline: str | None = None, metrics: list[str] | None = None,
            check: Callable[[Scenario, str], Any] | None = None) -> Comparison:
    """Run every variant `replications` times (shared seeds) and collect a `Comparison`.

    `check(scenario, label)` is called on every variant before any run (the CLI refuses runaway runs)."""
    from simulator.version import __version__
    from simulator.study.executors import InProcess

    if replications < 1:
        raise ScenarioError(f"replications must be at least 1, got {replications}", file="--replications")
    if replications > MAX_REPLICATIONS:
        raise ScenarioError(f"at most {MAX_REPLICATIONS:,} runs per variant, got {replications:,}",
                            file="--replications")
    metrics = [canonical_metric(m) or m for m in metrics] if metrics else metrics  # p99 -> latency_p99_s
    prepared = prepare(scenario, axes)
    if check is not None:
        for var, sc in prepared:
            check(sc, var.label)
    variants = [v for v, _ in prepared]
    base = baseline_index(axes, variants, baseline)
    seeds = [derive_seed(scenario.seed, "replication", r) for r in range(replications)]
    executor = executor or InProcess()
    study = Comparison(scenario.name, scenario.seed, axes, variants, replications, seeds, baseline=base,
                       executor=executor.name, effective_config=scenario.effective(),
                       extra_metrics=[m for m in metrics or [] if m not in METRICS],
                       auto_warmup=any(sc.warmup == "auto" for _v, sc in prepared))
    base_dir = str(scenario.base_dir) if scenario.base_dir else None
    todo, keys = [], []
    code_version = f"{__version__}+{code_fingerprint()}"  # an edited checkout computes afresh
    for var, sc in prepared:
        # What a run depends on: the study (`compare:`) and the prose (`description:`) do not change
        # it, so extending a committed study or rewording it finds the runs already made.
        data = sc.model_dump(mode="json", exclude={"compare", "description"})
        contents = named_files(data, base_dir)
        digests = file_digests(contents)
        # Files travel with the run: a cluster worker may not see this machine's disk.
        shipped = {name: content for name, content in contents.items() if content is not None}
        for r, seed in enumerate(seeds):
            key = run_key(data, seed, code_version, digests)
            hit = cache.get(key, lambda rec, seed=seed: is_record(rec, seed)) if cache is not None else None
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
