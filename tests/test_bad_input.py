"""Every malformed scenario gives one clear, located message and exit code 2, never a traceback."""

import pytest
from click.testing import CliRunner

from cli import main
from tests.helpers import assert_bad, run_validate

GOOD = """\
name: ok
seed: 1
duration: 100s
warmup: 10s
components:
  lb:
    type: load_balancer
    algorithm: least_connections
    backends: [app-1, app-2]
  app-1: {type: server, workers: 2, service_time: exponential(mean=100ms)}
  app-2: {type: server, workers: 2, service_time: exponential(mean=100ms)}
workloads:
  web:
    arrivals: poisson(rate=10/s)
    target: lb
    mix: {read: 0.8, write: 0.2}
"""


def test_good_scenario_validates(tmp_path):
    result, _ = run_validate(tmp_path, GOOD)
    assert result.exit_code == 0, result.output
    assert "ok (" in result.output


def test_yaml_syntax_error_has_line(tmp_path):
    assert_bad(tmp_path, GOOD.replace("backends: [app-1, app-2]", "backends: [app-1, app-2"), "could not parse YAML")


def test_duplicate_keys(tmp_path):
    text = GOOD.replace("  app-2: {", "  app-1: {type: server, workers: 1, service_time: 1s}\n  app-2: {")
    assert_bad(tmp_path, text, "duplicate key 'app-1'", "first defined on line 10", line=11)


def test_unknown_key_with_did_you_mean(tmp_path):
    assert_bad(tmp_path, GOOD.replace("workers: 2, service", "wrokers: 2, service", 1),
         "components.app-1.wrokers", "unknown key 'wrokers'", "did you mean 'workers'", line=10)


def test_unknown_top_level_key(tmp_path):
    assert_bad(tmp_path, GOOD + "fautls: []\n", "unknown key 'fautls'", "did you mean 'faults'")


def test_unknown_component_type(tmp_path):
    assert_bad(tmp_path, GOOD.replace("type: load_balancer", "type: load_balancr"),
         "components.lb.type", "unknown component type 'load_balancr'", "did you mean 'load_balancer'", line=7)


def test_unknown_algorithm(tmp_path):
    assert_bad(tmp_path, GOOD.replace("least_connections", "least_conections"),
         "components.lb.algorithm", "did you mean 'least_connections'", line=8)


def test_dangling_backend(tmp_path):
    assert_bad(tmp_path, GOOD.replace("backends: [app-1, app-2]", "backends: [app-1, app-3]"),
         "components.lb.backends[1]", "unknown component 'app-3'", "did you mean", line=9)


def test_dangling_target(tmp_path):
    assert_bad(tmp_path, GOOD.replace("target: lb", "target: lbb"), "workloads.web.target", "unknown component 'lbb'",
         "did you mean 'lb'")


def test_missing_target(tmp_path):
    assert_bad(tmp_path, GOOD.replace("    target: lb\n", ""), "workloads.web.target", "required")


def test_duplicate_names_across_sections(tmp_path):
    assert_bad(tmp_path, GOOD.replace("  web:\n", "  lb:\n"), "'lb' is both a component and a workload")


@pytest.mark.parametrize("old,new,frag", [
    ("rate=10/s", "rate=0/s", "greater than 0"),
    ("rate=10/s", "rate=-5/s", "greater than 0"),
    ("duration: 100s", "duration: 0s", "greater than 0"),
    ("duration: 100s", "duration: -3s", "greater than 0"),
])
def test_non_positive_rates_and_durations(tmp_path, old, new, frag):
    assert_bad(tmp_path, GOOD.replace(old, new), frag)


@pytest.mark.parametrize("old,new,frag", [
    ("duration: 100s", "duration: 100", "expected a duration with a unit"),
    ("duration: 100s", "duration: 100kg", "expected a duration with a unit"),
    ("rate=10/s", "rate=10", "expected a rate with a unit"),
    ("mean=100ms)}\n  app-2", "mean=100)}\n  app-2", "expected a duration with a unit"),
])
def test_unitless_or_wrong_unit(tmp_path, old, new, frag):
    assert_bad(tmp_path, GOOD.replace(old, new, 1), frag)


def test_probability_outside_unit_interval(tmp_path):
    assert_bad(tmp_path, GOOD.replace("mix: {read: 0.8, write: 0.2}", "mix: {read: 1.8, write: -0.8}"),
         "workloads.web.mix", "probability between 0 and 1")


def test_mix_must_sum_to_one(tmp_path):
    assert_bad(tmp_path, GOOD.replace("write: 0.2", "write: 0.3"), "workloads.web.mix", "sum to 1")


def test_warmup_longer_than_duration(tmp_path):
    assert_bad(tmp_path, GOOD.replace("warmup: 10s", "warmup: 200s"), "warmup", "shorter than the duration")


def test_empty_and_missing_file(tmp_path):
    assert_bad(tmp_path, "", "empty")
    assert_bad(tmp_path, "# only a comment\n", "empty")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_yaml_traps_no_and_octal(tmp_path):
    # `no` is a string (not false): the algorithm error names it
    assert_bad(tmp_path, GOOD.replace("algorithm: least_connections", "algorithm: no"), "unknown load-balancing algorithm 'no'")
    # `010` is ten workers, not eight
    import simulator

    path = tmp_path / "octal.yaml"
    path.write_text(GOOD.replace("workers: 2, service_time: exponential(mean=100ms)}\n  app-2",
                                 "workers: 010, service_time: exponential(mean=100ms)}\n  app-2"))
    assert simulator.load_scenario(path).components["app-1"].workers == 10


def test_not_a_mapping(tmp_path):
    assert_bad(tmp_path, "- a\n- b\n", "a scenario is a mapping")


def test_unknown_distribution(tmp_path):
    assert_bad(tmp_path, GOOD.replace("exponential(mean=100ms)}\n  app-2", "exponental(mean=100ms)}\n  app-2"),
         "components.app-1.service_time", "unknown distribution 'exponental'", "did you mean 'exponential'")


def test_wrong_distribution_parameters(tmp_path):
    assert_bad(tmp_path, GOOD.replace("exponential(mean=100ms)}\n  app-2", "lognormal(mean=100ms)}\n  app-2"),
         "lognormal takes (mean, std) or (median, p99)")


def test_unknown_fault_and_fault_target(tmp_path):
    assert_bad(tmp_path, GOOD + "faults:\n  - {type: crsh, target: app-1, at: 10s}\n", "faults[0].type",
         "did you mean 'crash'")
    assert_bad(tmp_path, GOOD + "faults:\n  - {type: crash, target: app-9, at: 10s}\n", "faults[0].target[0]",
         "unknown component 'app-9'")


def test_bad_override(tmp_path):
    assert_bad(tmp_path, GOOD, "did you mean 'components'", args=["--set", "componets.lb.algorithm=random"])
    assert_bad(tmp_path, GOOD, "did you mean 'least_connections'", args=["--set", "components.lb.algorithm=least_conn"])
    assert_bad(tmp_path, GOOD, "expects path=value", args=["--set", "components.lb.algorithm"])


def test_overload_runs_but_warns(tmp_path):
    result, _ = run_validate(tmp_path, GOOD.replace("rate=10/s", "rate=100/s"))
    assert result.exit_code == 0, result.output
    assert "warning: offered load at 'app-1'" in result.output


def test_flow_mapping_with_commas_needs_no_quotes(tmp_path):
    result, _ = run_validate(tmp_path, GOOD.replace("exponential(mean=100ms)}\n  app-2",
                                            "lognormal(median=80ms, p99=400ms)}\n  app-2"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("policy, fragments", [
    ("{hedge: {after: p101}}", ("workloads.web.resilience.hedge.after", "below p100")),
    ("{hedge: {after: -50ms}}", ("workloads.web.resilience.hedge.after", "positive")),
    ("{hedge: {after: 0s}}", ("workloads.web.resilience.hedge.after", "positive")),
    ("{hedge: {after: 50ms, max_extra: 0}}", ("workloads.web.resilience.hedge.max_extra",)),
    ("{circuit_breaker: {mode: rate, slow_call_duration: 1s, slow_call_rate: 150%}}",
     ("workloads.web.resilience.circuit_breaker.slow_call_rate", "between 0 and 1")),
    ("{circuit_breaker: {mode: rate, window: -10s}}", ("workloads.web.resilience.circuit_breaker.window",)),
    ("{retry: {throttling: {max_tokens: 10, token_ratio: 0}}}", ("workloads.web.resilience.retry.throttling.token_ratio",)),
])
def test_bad_hedge_breaker_and_throttling_settings(tmp_path, policy, fragments):
    out = assert_bad(tmp_path, GOOD.replace("    mix: {read: 0.8, write: 0.2}\n",
                                            f"    mix: {{read: 0.8, write: 0.2}}\n    resilience: {policy}\n"),
                     *fragments, line=17)
    assert out.count("\n") == 1  # one line
