"""What a comparison will run, checked before any run starts: the variants of the grid (each
validated, an error blamed on the --vary value at fault), the metrics, the baseline.
"""
from __future__ import annotations

import math

from dataclasses import dataclass

from simulator.language.errors import ScenarioError, did_you_mean
from simulator.results.cost import cost_figures, cost_summary
from simulator.results.metrics import (ALL_NAMES, METRICS, RESILIENCE_METRICS, canonical_metric, consistency_figures,
                                       metric_hint)
from simulator.study.run_figures import CAP_FIGURES, component_figures
from simulator.scenario.schema import MAX_REPLICATIONS, MAX_RUNS, Scenario, with_overrides
from simulator.study.sweep import Axis, Variant, grid


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
    from simulator.study.sweep import make_axis, parse_axis

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
    check_replications(reps, axes)
    written = list(metrics or (cfg.metrics if cfg and cfg.metrics else []))
    check_metrics(scenario, written, where="--metric" if metrics else f"{source}: compare.metrics")
    # p99 and latency_p99_s are one metric: shown once, by its long name
    chosen = list(dict.fromkeys(canonical_metric(m) or m for m in written)) or None
    base = baseline or (cfg.baseline if cfg else None)
    baseline_index(axes, [v for v, _ in prepare(scenario, axes)], base)
    return Plan(axes, reps, chosen, base)


def check_replications(reps: int, axes: list[Axis]) -> None:
    """Replications within MAX_REPLICATIONS and the whole study within MAX_RUNS, checked before any
    seed is derived or variant built."""
    if reps < 1:
        raise ScenarioError(f"must be at least 1, got {reps}", file="--replications")
    if reps > MAX_REPLICATIONS:
        raise ScenarioError(f"at most {MAX_REPLICATIONS:,} runs per variant, got {reps:,}", file="--replications")
    variants = math.prod(len(a.values) for a in axes)
    if variants * reps > MAX_RUNS:
        raise ScenarioError(f"{variants:,} variants x {reps:,} replications is {variants * reps:,} runs; a study "
                            f"makes at most {MAX_RUNS:,}", file="--replications")


def check_metrics(scenario: Scenario, metrics: list[str], where: str = "--metric") -> None:
    """Each metric is a run metric (by either of its names: p99 or latency_p99_s) or
    `component.figure` of a component this scenario has."""
    figures: dict[str, float] | None = None
    for m in metrics:
        if canonical_metric(m) is not None or m in RESILIENCE_METRICS:
            continue
        if "." not in m:
            raise ScenarioError(f"unknown metric '{m}'{metric_hint(m, ALL_NAMES)}; run metrics: {', '.join(METRICS)} "
                                f"(or p99, mean, throughput, ...); resilience figures: "
                                f"{', '.join(RESILIENCE_METRICS)}; "
                                f"or a component's figure such as "
                                f"app-cache.hit_ratio", file=where)
        if figures is None:  # what each component reports, read off a system built but not run
            from simulator.simulation.runner import build

            _env, system = build(scenario)
            figures = component_figures({n: c.stats(1.0) for n, c in system.components.items()})
            if scenario.cost is not None:  # the cost figures a run will report (their names, not values)
                figures.update(cost_figures(cost_summary(
                    scenario.cost, {n: (c.type, 0.0) for n, c in scenario.components.items()}, 0, 0)))
            if scenario.records_history:  # the history's figures (`consistency.linearizable.violations`)
                figures.update(consistency_figures(None, list(scenario.check or [])))
                figures.update(dict.fromkeys(CAP_FIGURES, 0.0))  # and the CAP chart's (run_figures.cap_figures)
        if m not in figures:
            comp = m.split(".", 1)[0]
            known = [f for f in figures if f.startswith(comp + ".")]
            hint = did_you_mean(m, known or figures)
            known_where = f"; {comp} reports: {', '.join(k.split('.', 1)[1] for k in known)}" if known else \
                f"; no component '{comp}'{did_you_mean(comp, {f.split('.', 1)[0] for f in figures})}"
            raise ScenarioError(f"unknown metric '{m}'{hint}{known_where}", file=where)


def compared_axis(axes: list[Axis]) -> int | None:
    """The axis whose values are compared: the first non-numeric one (else the first); the other
    axes (a load sweep, say) set the conditions under which they are compared."""
    if not axes:
        return None
    return next((i for i, a in enumerate(axes) if not a.numeric), 0)


def baseline_index(axes: list[Axis], variants: list[Variant], baseline: str | None) -> int:
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
