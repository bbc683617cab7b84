"""Every resilience figure is a study metric (`dsim compare --metric retries`): the names are accepted
with a did-you-mean, a comparison reads them off each run, and their values are the run's own
policy counters summed over calls."""
import pytest
from click.testing import CliRunner

from cli import main
from simulator.language.errors import ScenarioError
from simulator.results.metrics import RESILIENCE_METRICS, resilience_metrics
from simulator.study.comparison import compare
from simulator.study.plan import plan
from simulator.study.sweep import parse_axis
from tests.helpers import run, scenario

POLICIES = """
name: policies
seed: 3
duration: 30s
components:
  lb:
    type: load_balancer
    algorithm: round_robin
    backends: [a, b]
    outlier_ejection: {consecutive_errors: 3, eject_for: 2s}
  a: {type: server, workers: 4, service_time: exponential(mean=20ms)}
  b: {type: server, workers: 4, service_time: exponential(mean=20ms)}
workloads:
  web:
    target: lb
    arrivals: poisson(rate=100/s)
    resilience:
      timeout: 100ms
      retry: {max_attempts: 3, retry_on: [timed_out, error], backoff: constant, base: 0s, jitter: none}
      circuit_breaker: {failure_threshold: 5, open_for: 1s}
faults:
  - {type: error, target: a, at: 10s, duration: 5s, probability: 100%}
  - {type: pause, target: b, at: 12s, duration: 1s}
"""


def test_every_resilience_figure_is_an_accepted_metric():
    sc = scenario(POLICIES)
    study = plan(sc, ["components.lb.algorithm=round_robin,random"], 1, list(RESILIENCE_METRICS))
    assert study.metrics == list(RESILIENCE_METRICS)
    with_section = scenario(POLICIES + "compare:\n  vary: {components.lb.algorithm: [round_robin, random]}\n"
                                       "  metrics: [retries, breaker_opens, ejections]\n")
    assert plan(with_section, source="s.yaml").metrics == ["retries", "breaker_opens", "ejections"]


@pytest.mark.parametrize("typo,meant", [("retrys", "retries"), ("hedge", "hedges"), ("breaker_open", "breaker_opens"),
                                        ("attempts_per_req", "attempts_per_request")])
def test_a_misspelt_resilience_metric_gets_a_suggestion(tmp_path, typo, meant):
    with pytest.raises(ScenarioError, match=f"did you mean '{meant}'"):
        plan(scenario(POLICIES), ["components.lb.algorithm=round_robin,random"], 1, [typo])
    path = tmp_path / "s.yaml"
    path.write_text(POLICIES)
    r = CliRunner().invoke(main, ["compare", str(path), "--vary", "components.lb.algorithm=round_robin,random",
                                  "--metric", typo])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and f"'{meant}'" in r.output


def test_the_figures_are_the_runs_counters_summed():
    s = run(POLICIES).summary
    m = resilience_metrics(s)
    retry = s["resilience"]["web->lb"]["retry"]
    breaker = s["resilience"]["web->lb"]["circuit_breaker"]
    assert m["retries"] == retry["retries"] > 0  # the faults made retries, opened the breaker, ejected a
    assert m["attempts_per_request"] == pytest.approx(retry["attempts"] / retry["requests"])
    assert m["breaker_opens"] == breaker["opened"] > 0
    assert m["short_circuited"] == s["requests"]["short_circuited"] > 0
    assert m["ejections"] == s["components"]["lb"]["ejections"] > 0
    assert m["hedges"] == 0 and m["shed"] == 0 and m["rate_limited"] == 0


def test_a_comparison_reports_them_per_variant():
    sc = scenario(POLICIES.replace("duration: 30s", "duration: 20s"))
    study = compare(sc, [parse_axis("workloads.web.resilience.retry.max_attempts=1,3")], replications=1,
                    metrics=["retries", "attempts_per_request"])
    no_retry, retry = (study.values(v, "retries")[0] for v in range(2))
    assert no_retry == 0 < retry
    assert study.values(0, "attempts_per_request")[0] == 1.0


def test_a_misspelt_metric_in_the_compare_section_is_located():
    with pytest.raises(ScenarioError, match="did you mean 'breaker_opens'"):
        scenario(POLICIES + "compare:\n  vary: {components.lb.algorithm: [round_robin, random]}\n"
                            "  metrics: [breaker_open]\n")
