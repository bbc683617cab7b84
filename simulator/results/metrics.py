"""The run metrics a study or an SLO can name: their place in the summary, the unit they are shown
in and which way is better; and the same for any component figure, judged by its name."""
from __future__ import annotations

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
NAMES = sorted(set(METRICS) | set(ALIASES))  # every name a metric can be written with
TABLE_METRICS = ["latency_mean_s", "latency_p50_s", "latency_p99_s", "throughput_rps", "availability"]
# Component figures (`app-cache.hit_ratio`, `users.replication_lag_s.p99`) can be compared too;
# these words in their names mean higher is better, anything else lower.
_HIGHER_IS_BETTER = ("hit_ratio", "throughput", "availability", "served", "consumed", "produced", "keys_copied")


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
    better = "max" if any(word in name for word in _HIGHER_IS_BETTER) else "min"
    key = name.split(".", 1)[-1]
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
