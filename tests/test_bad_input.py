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


def test_newer_faults_bad_probability_target_and_fault_string(tmp_path):
    # (more cases, one per fault type, in tests/test_faults2.py)
    assert_bad(tmp_path, GOOD + "faults:\n  - {type: error, target: app-1, probability: 150%, at: 10s}\n",
               "faults[0].probability", "between 0 and 1", line=18)
    assert_bad(tmp_path, GOOD + "faults:\n  - {type: load_spike, target: app-1, factor: 2, at: 10s}\n",
               "faults[0].target[0]", "unknown workload 'app-1'")
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(main, ["run", str(path), "--fault", "crash app-1 from 10s"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output == "error: --fault 'crash app-1 from 10s': unexpected 'from'; expected <type> <targets> " \
                            "at <time> [for <duration>] [key=value ...]\n"


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


# --- load balancer health checks (models/health.py) ---------------------------------------------
LB_LINE = "    backends: [app-1, app-2]\n"


@pytest.mark.parametrize("setting,fragments", [
    ("health_check: {active: {unhealthy_after: 0}}", ("components.lb.health_check.active.unhealthy_after", "greater than 0")),
    ("health_check: {active: {healthy_after: 0}}", ("components.lb.health_check.active.healthy_after", "greater than 0")),
    ("health_check: {active: {interval: 1s, timeout: 2s}}", ("'timeout' (2s) must be at most 'interval' (1s)",)),
    ("health_check: {active: {path: medium}}", ("health_check.active.path", "'shallow' or 'deep'")),
    ("health_check: {active: {intervl: 1s}}", ("did you mean 'interval'",)),
    ("health_check: {}", ("exactly one of 'oracle' (a delay) or 'active' (probes)",)),
    ("health_check: {oracle: 1s, active: {}}", ("exactly one of 'oracle'",)),
    ("health_check: {active: {}, panic_threshold: 150%}", ("health_check.panic_threshold", "between 0 and 1")),
    ("health_check: banana", ("expected a duration",)),
    ("outlier_ejection: {max_ejected: 150%}", ("outlier_ejection.max_ejected", "between 0 and 1")),
    ("outlier_ejection: {max_ejected: 0%}", ("'max_ejected' must be above 0%",)),
    ("outlier_ejection: {consecutive_errors: 0}", ("outlier_ejection.consecutive_errors", "greater than 0")),
    ("outlier_ejection: {eject_for: 0s}", ("outlier_ejection.eject_for",)),
])
def test_bad_health_check_settings(tmp_path, setting, fragments):
    assert_bad(tmp_path, GOOD.replace(LB_LINE, LB_LINE + f"    {setting}\n"), *fragments, line=10)


@pytest.mark.parametrize("setting, frags", [
    ("rate_limit: {rate: -5/s}", ("components.app-1.rate_limit.rate", "greater than 0")),
    ("rate_limit: {algorithm: sliding_windw, limit: 5}", ("rate_limit.algorithm", "did you mean 'sliding_window'")),
    ("rate_limit: {algorithm: fixed_window, limit: 0}", ("rate_limit.limit", "greater than 0")),
    ("rate_limit: {rate: 5/s, per: clients}", ("rate_limit.per", "did you mean 'client'")),
    ("queue_discipline: lifi", ("components.app-1.queue_discipline", "did you mean 'lifo'")),
    ("max_queue_wait: -2s", ("components.app-1.max_queue_wait", "greater than 0")),
    ("codel: {target: 1s, interval: 100ms}", ("components.app-1.codel", "must be at most 'interval'")),
    ("concurrency_slowdown: {usl: {sigma: 0.1, kappa: -0.5}}", ("concurrency_slowdown.usl.kappa", "greater than or equal to 0")),
    ("concurrency_slowdown: {linear: 0.1, usl: {sigma: 0.1}}", ("components.app-1.concurrency_slowdown", "exactly one")),
])
def test_bad_admission_settings(tmp_path, setting, frags):
    """Rate limits, load shedding and the concurrency slowdown: one located line, exit 2."""
    bad = GOOD.replace("app-1: {type: server, workers: 2,", f"app-1: {{type: server, workers: 2, {setting},")
    assert_bad(tmp_path, bad, *frags)


AUTOSCALED = GOOD.replace("  app-2: {type: server, workers: 2, service_time: exponential(mean=100ms)}\n",
                          "  app-2:\n    type: server\n    service_time: 10ms\n"
                          "    autoscale: {target: 70%, max_replicas: 4}\n")


@pytest.mark.parametrize("old, new, frags", [
    ("target: 70%, max_replicas: 4", "target: 70%, min_replicas: 5, max_replicas: 4",
     ("components.app-2.autoscale", "min_replicas (5) must not exceed max_replicas (4)")),
    ("target: 70%", "target: 150%", ("components.app-2.autoscale.target", "at most 100%", "'150%'")),
    ("target: 70%", "target: 0%", ("components.app-2.autoscale.target", "above 0")),
    ("max_replicas: 4", "max_replicas: 4, provision_delay: -5s",
     ("components.app-2.autoscale.provision_delay", "must not be negative")),
    ("max_replicas: 4", "max_replicas: 4, cooldown: -1s", ("components.app-2.autoscale.cooldown", "must not be negative")),
    ("max_replicas: 4", "max_replicas: 4, cooldown: {down: -1s}", ("components.app-2.autoscale.cooldown.down", "must not be negative")),
    ("max_replicas: 4", "max_replicas: 4, interval: 0s", ("components.app-2.autoscale.interval", "greater than 0")),
    ("target: 70%", "metric: cpu, target: 70%", ("components.app-2.autoscale.metric", "'queue_length'")),
    ("target: 70%", "metric: latency_p99, target: 70%", ("components.app-2.autoscale.target", "duration")),
    ("target: 70%", "metric: queue_length, target: -2", ("components.app-2.autoscale.target", "above 0")),
    ("max_replicas: 4", "max_replicas: 4, rule: stepp", ("components.app-2.autoscale.rule", "did you mean 'step'")),
    ("max_replicas: 4", "max_replicas: 4, initial_replicas: 9", ("initial_replicas (9) must be within",)),
    ("    service_time: 10ms\n", "    service_time: 10ms\n    replicas: 3\n", ("leave replicas out",)),
    ("target: 70%, max_replicas: 4", "target: 70%", ("components.app-2.autoscale.max_replicas", "missing")),
])
def test_bad_autoscale(tmp_path, old, new, frags):
    assert AUTOSCALED.count(old) == 1
    out = assert_bad(tmp_path, AUTOSCALED.replace(old, new), *frags)
    assert out.count("\n") == 1, out  # one line


@pytest.mark.parametrize("cost, frags", [
    ("cost: {replica_hour: {servr: 0.1}}", ("cost.replica_hour.servr", "did you mean 'server'")),
    ("cost: {per_gb_egress: -1}", ("cost.per_gb_egress", "greater than or equal to 0")),
    ("cost: {response_size: 5}", ("cost.response_size", "a size with a unit")),
    ("cost: {per_million_requests: 0.2, price: 3}", ("cost.price", "unknown key")),
])
def test_bad_cost(tmp_path, cost, frags):
    out = assert_bad(tmp_path, AUTOSCALED + cost + "\n", *frags)
    assert out.count("\n") == 1, out


def test_good_autoscale_and_cost_validate(tmp_path):
    result, _ = run_validate(tmp_path, AUTOSCALED + "cost: {replica_hour: {server: 0.1, lb: 0.02}, response_size: 4KB}\n")
    assert result.exit_code == 0, result.output


def test_bad_histories_for_dsim_check(tmp_path):
    # dsim check: one line naming the history file and line and what was expected, exit 2
    cases = [
        ("h.jsonl", '{"process": 0, "type": "invoke", "f": "write", "value": 1}\n{"process": 0, "type": "done", '
                    '"f": "write"}\n', "h.jsonl:2: type 'done': expected one of invoke, ok, fail, info"),
        ("h.edn", "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 1, :type :ok, :f :read, :value 1}\n",
         "h.edn:2: process 1 completes read (ok) with no operation in flight"),
        ("h.log", "INFO  jepsen.util - 0\t:invoke\n", "h.log:1: expected process, type, function and value"),
        ("h.jsonl", '{"process": 0, "type": "invoke", "f": "put", "key": "k", "value": 3}\n',
         "h.jsonl:1: put value 3: expected a string"),
    ]
    for name, text, expect in cases:
        path = tmp_path / name
        path.write_text(text)
        model = "kv" if "put" in text else "register"
        result = CliRunner().invoke(main, ["check", str(path), "--model", model])
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and expect in result.output, result.output


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


@pytest.mark.parametrize("args, message", [
    (["--runs", "0", "--slo", "p99<1s"], "--runs: must be between 1"),
    (["--kinds", "crash,melt", "--slo", "p99<1s"], "--kinds: unknown fault kind 'melt'"),
    (["--targets", "app-9", "--slo", "p99<1s"], "--targets: unknown component or zone 'app-9'"),
    ([], "--slo: nothing to break"),
])
def test_explore_bad_flags(tmp_path, args, message):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(main, ["explore", str(path), "--workers", "1", "--no-cache", *args])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()] and message in result.output


def test_a_problem_found_while_building_names_the_file(tmp_path):
    """Some problems show only when the system is built (a range boundary beyond the key space the
    workloads draw from): they name the file and the place like any other."""
    text = """\
    name: bad
    duration: 10s
    components:
      users: {type: sharded, strategy: range, shards: [db-1, db-2], boundaries: [500]}
      db-1: {type: database, read_time: 1ms, write_time: 2ms}
      db-2: {type: database, read_time: 1ms, write_time: 2ms}
    workloads:
      web: {arrivals: poisson(rate=10/s), target: users, keys: zipf(n=100, s=1.0)}
    """
    out = assert_bad(tmp_path, text, "components.users.boundaries: boundary 500 is beyond the key space")
    assert "<scenario>" not in out
