"""One metric vocabulary: an SLO's short names (p99, mean, throughput) and the comparison's long ones
(latency_p99_s, throughput_rps) are accepted everywhere, outputs show the long one, and a wrong
metric name or setting path gets one located line with a "did you mean"."""
import pytest
from click.testing import CliRunner

from cli import main
from simulator.language.errors import ScenarioError
from simulator.scenario.schema import with_overrides
from simulator.study.plan import plan
from simulator.study.slo import current_value, parse_slo
from tests.helpers import scenario

SMALL = """
name: small
seed: 7
duration: 20s
warmup: 2s
components:
  lb: {type: load_balancer, algorithm: round_robin, backends: [a, b]}
  a: {type: server, workers: 2, service_time: exponential(mean=100ms)}
  b: {type: server, workers: 2, service_time: exponential(mean=100ms)}
workloads:
  web: {arrivals: poisson(rate=30/s), target: lb}
"""
LB = "components.lb.algorithm=round_robin,least_connections"


@pytest.mark.parametrize("text,metric,threshold", [
    ("latency_p99_s<500ms", "latency_p99_s", 0.5),
    ("latency_mean_s<=50ms", "latency_mean_s", 0.05),
    ("throughput_rps>=400/s", "throughput_rps", 400.0),
])
def test_an_slo_takes_the_long_names_too(text, metric, threshold):
    slo = parse_slo(text)
    assert (slo.metric, slo.threshold) == (metric, pytest.approx(threshold))


def test_an_slo_is_shown_by_its_long_name_either_way():
    assert parse_slo("p99<500ms").text == parse_slo("latency_p99_s<500ms").text == "latency_p99_s<500ms"
    assert parse_slo("throughput>=400/s").text == "throughput_rps>=400/s"


def test_metric_takes_the_short_names_and_shows_one_column():
    study = plan(scenario(SMALL), [LB], 1, ["p99", "latency_p99_s", "mean", "throughput"])
    assert study.metrics == ["latency_p99_s", "latency_mean_s", "throughput_rps"]


def test_compare_section_takes_the_short_names():
    sc = scenario(SMALL + "compare:\n  vary: {components.lb.algorithm: [round_robin, random]}\n"
                          "  metrics: [p99, availability]\n")
    assert plan(sc, source="s.yaml").metrics == ["latency_p99_s", "availability"]


def _one_line_error(tmp_path, *args):
    path = tmp_path / "s.yaml"
    path.write_text(SMALL)
    r = CliRunner().invoke(main, [args[0], str(path), *args[1:]])
    out = r.output.strip()
    assert r.exit_code == 2, out
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    return out


@pytest.mark.parametrize("args,fragments", [
    (["compare", "--vary", LB, "--metric", "p98"], ["--metric", "unknown metric 'p98'", "did you mean"]),
    (["capacity", "--vary", "workloads.web.arrivals.rate", "--slo", "latency_p99_ms<1s"],
     ["--slo", "did you mean 'latency_p99_s'"]),
    (["compare", "--vary", "workloads.web.rate=10/s,20/s"],
     ["--vary workloads.web.rate", "did you mean 'workloads.web.arrivals.rate'"]),
    (["run", "--set", "workloads.web.rate=10/s"], ["--set", "did you mean 'workloads.web.arrivals.rate'"]),
    (["compare", "--vary", LB, "--metric", "p99_latency"], ["--metric", "did you mean 'latency_p99_s'"]),
    (["capacity", "--vary", "workloads.web.arrivals.rate", "--slo", "p99_latency<500ms"],
     ["--slo", "did you mean 'latency_p99_s'"]),
    (["capacity", "--vary", "workloads.web.rate", "--slo", "p99<1s"],
     ["--vary", "did you mean 'workloads.web.arrivals.rate'"]),
])
def test_a_bad_name_is_one_located_line_with_a_suggestion(tmp_path, args, fragments):
    out = _one_line_error(tmp_path, *args)
    for fragment in fragments:
        assert fragment in out, out


def test_compare_section_bad_metric_suggests_both_forms():
    with pytest.raises(ScenarioError, match="did you mean 'p99'"):
        scenario(SMALL + "compare:\n  vary: {components.lb.algorithm: [round_robin, random]}\n  metrics: [p98]\n")


def test_path_suggestion_in_the_api():
    with pytest.raises(ScenarioError, match="did you mean 'workloads.web.arrivals.rate'"):
        with_overrides(scenario(SMALL), {"workloads.web.rate": "10/s"})
    with pytest.raises(ScenarioError, match="did you mean 'workloads.web.arrivals.rate'"):
        current_value(scenario(SMALL), "workloads.web.rate")
