"""The run metrics a study or an SLO can name: their place in the summary, the unit they are shown
in and which way is better; and the same for any component figure, judged by its name."""
from __future__ import annotations

from typing import Any

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
# The short names an SLO is written with (`p99<500ms`) are the same figures: either form is accepted
# wherever a metric is named (--slo, --metric, compare.metrics), and outputs show the long one.
ALIASES: dict[str, str] = {
    **{q: f"latency_{q}_s" for q in ("mean", "p50", "p90", "p95", "p99", "p999")},
    "throughput": "throughput_rps",
    "offered": "offered_rps",
}
# The resilience figures of a whole run (summed over every call and component), comparable by name
# (`dsim compare --metric retries`). Kept apart from METRICS so a study shows them only when asked
# (comparison outputs of runs without policies keep their columns); a run without the policy gives 0
# for a count and None for a ratio. name -> (unit shown, which way is better).
RESILIENCE_METRICS: dict[str, tuple[str, str]] = {
    "attempts_per_request": ("", "min"),  # sum of the retry policies' attempts / their requests (amplification)
    "retries": ("", "min"),
    "refused_by_budget": ("", "min"),  # retries a budget or throttling did not send
    "hedges": ("", "min"),
    "breaker_opens": ("", "min"),
    "short_circuited": ("", "min"),  # client requests ending with each outcome
    "rate_limited": ("", "min"),
    "shed": ("", "min"),
    "degraded": ("", "min"),
    "rejected": ("", "min"),
    "timed_out": ("", "min"),
    "wasted_work_s": ("s", "min"),  # service given to abandoned requests and hedge losers
    "ejections": ("", "min"),  # backends ejected by health checks or outlier ejection, every load balancer
}
NAMES = sorted(set(METRICS) | set(ALIASES))  # every name a run metric can be written with
ALL_NAMES = sorted(set(NAMES) | set(RESILIENCE_METRICS))  # with the resilience figures
TABLE_METRICS = ["latency_mean_s", "latency_p50_s", "latency_p99_s", "throughput_rps", "availability"]
# Component figures (`app-cache.hit_ratio`, `users.replication_lag_s.p99`) can be compared too;
# these words in their names mean higher is better, anything else lower.
_HIGHER_IS_BETTER = ("hit_ratio", "throughput", "availability", "served", "consumed", "produced", "keys_copied")
# Figures a model declares better when higher, by their own name (`match_rate`, `qoe`): an application
# module calls `prefer_higher` when it is imported, so every process of a study knows them.
_PREFERRED_HIGHER: set[str] = set()


def prefer_higher(*figures: str) -> None:
    """Declare component or application figures (by name, without the component's) better when higher."""
    _PREFERRED_HIGHER.update(figures)


def canonical_metric(name: str) -> str | None:
    """The one name outputs use for a run metric written either way (`p99` -> `latency_p99_s`);
    None if `name` is no run metric."""
    if name in METRICS:
        return name
    return ALIASES.get(name)


def metric_info(name: str) -> tuple[str, str]:
    """(unit shown, "min" or "max" is better) of a run metric or a component figure."""
    if name in METRICS:
        return METRICS[name][1], METRICS[name][2]
    if name in RESILIENCE_METRICS:
        unit, better = RESILIENCE_METRICS[name]
        return ("ms" if unit == "s" else unit), better
    key = name.split(".", 1)[-1]
    better = "max" if any(word in name for word in _HIGHER_IS_BETTER) or key in _PREFERRED_HIGHER else "min"
    if key.endswith("_s") or "_s." in key:
        return "ms", better
    if "ratio" in key or "utilization" in key or key.endswith("availability"):
        return "%", better
    if key.endswith("_rps"):
        return "/s", better
    return "", better


def consistency_figures(section: dict | None, checks: list[str] | None = None) -> dict[str, float]:
    """The `consistency` section as figures a study can compare (`dsim compare --metric
    consistency.linearizable.violations`): `consistency.operations`, `.ok`, `.fail`, `.info`, and per
    declared check `consistency.CHECK.violations` and `consistency.CHECK.failed` (1 failed, 0 passed,
    none when unknown). With `section` None and `checks` given: the names a run will report (zeros)."""
    if section is None:
        if checks is None:
            return {}
        section = {"operations": 0, "ok": 0, "fail": 0, "info": 0,
                   "checks": {c: {"violations": 0, "verdict": "pass"} for c in checks}}
    out: dict[str, float] = {f"consistency.{k}": section[k] for k in ("operations", "ok", "fail", "info")}
    for name, c in (section.get("checks") or {}).items():
        out[f"consistency.{name}.violations"] = c["violations"]
        out[f"consistency.{name}.failed"] = {"fail": 1, "pass": 0}.get(c["verdict"])
    return out


def resilience_metrics(summary: dict[str, Any]) -> dict[str, float | None]:
    """The RESILIENCE_METRICS of one run, from its summary."""
    calls = (summary.get("resilience") or {}).values()

    def total(policy: str, key: str) -> float:
        return sum((c.get(policy) or {}).get(key) or 0 for c in calls)

    requests, attempts = total("retry", "requests"), total("retry", "attempts")
    outcomes = summary.get("requests") or {}
    wasted = (summary.get("wasted_work") or {}).get("service_s") or 0.0
    components = (summary.get("components") or {}).values()
    return {
        "attempts_per_request": attempts / requests if requests else None,
        "retries": total("retry", "retries"),
        "refused_by_budget": total("retry", "refused_by_budget") + total("retry", "refused_by_throttling"),
        "hedges": total("hedge", "hedges"),
        "breaker_opens": total("circuit_breaker", "opened"),
        **{k: outcomes.get(k, 0) for k in ("short_circuited", "rate_limited", "shed", "degraded", "rejected",
                                           "timed_out")},
        "wasted_work_s": wasted + total("hedge", "wasted_service_s"),
        "ejections": sum(c.get("ejections") or 0 for c in components if isinstance(c, dict)),
    }


def metric_hint(word: str, names: list[str]) -> str:
    """' (did you mean ...?)' for a misspelt metric name, also when its words come in another order
    (`p99_latency` -> `latency_p99_s`)."""
    from simulator.language.errors import did_you_mean

    hint = did_you_mean(word, names)
    if hint:
        return hint
    words = {w for w in word.lower().replace(".", "_").split("_") if w}
    matches = [n for n in names if words and words <= set(n.lower().split("_"))]
    return f" (did you mean '{min(matches, key=len)}'?)" if matches else ""
