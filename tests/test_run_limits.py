"""Runaway runs are refused before they start; the offered-load estimate survives loops and infinite means.

The pre-run estimate (simulator/simulation/limits.py) counts requests from mean rates × active time,
heap events from the call fan-out and time-series samples from the bucket; above a limit the run is
refused with one line naming the estimate and the flag that lifts it (exit 2), before anything runs.
"""
from __future__ import annotations

import math
import textwrap

import pytest
from click.testing import CliRunner

import simulator
from cli import main
from helpers import run_validate

SMALL = """
name: small
seed: 1
duration: DURATION
components:
  app: {type: server, workers: 2, service_time: exponential(mean=10ms)}
workloads:
  web: {arrivals: ARRIVALS, target: app}
"""


def estimate_run(system):
    from simulator.simulation.limits import estimate_run as estimate  # imported here: each test fails alone

    return estimate(system)


def _write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def _small(tmp_path, duration="20s", arrivals="poisson(rate=100/s)", extra=""):
    return _write(tmp_path, SMALL.replace("DURATION", duration).replace("ARRIVALS", arrivals) + extra)


def _errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_a_run_above_max_requests_is_refused_with_one_line_naming_the_estimate_and_the_flag(tmp_path):
    path = _small(tmp_path)  # ~2,000 requests
    r = CliRunner().invoke(main, ["run", path, "--max-requests", "1000"])
    assert r.exit_code == 2, r.output
    lines = _errors(r)
    assert len(lines) == 1, lines
    assert "~2,000 requests" in lines[0] and "--max-requests" in lines[0] and path in lines[0]
    ok = CliRunner().invoke(main, ["run", path, "--max-requests", "3000", "--format", "json"])
    assert ok.exit_code == 0, ok.output


def test_force_runs_a_scenario_above_the_limits(tmp_path):
    path = _small(tmp_path, duration="2s")
    r = CliRunner().invoke(main, ["run", path, "--max-requests", "10", "--force", "--format", "json"])
    assert r.exit_code == 0, r.output


# The literal values (1e30s, 1e12/s, 1e308/s) are refused by the quantity limits before any
# estimate (tests/test_hardening_numbers.py); these are runaway runs made of values within those limits.
@pytest.mark.parametrize("duration, arrivals, extra, expect", [
    ("1e9s", "poisson(rate=100/s)", "", "~1e+11 requests"),
    ("20s", "poisson(rate=1e9/s)", "", "~2e+10 requests"),
    ("20s", "renewal(interarrival=0s)", "", "unbounded number of requests"),
    ("20s", "poisson(rate=100/s)", "metrics: {bucket: 1us}\n", "~2e+07 time-series buckets"),
])
def test_runaway_scenarios_are_refused_before_running(tmp_path, duration, arrivals, extra, expect):
    path = _small(tmp_path, duration, arrivals, extra)
    r = CliRunner().invoke(main, ["run", path])
    assert r.exit_code == 2, r.output
    lines = _errors(r)
    assert len(lines) == 1 and expect in lines[0], lines
    assert "--force" in lines[0]


def test_the_refusal_names_the_record_memory_and_the_events_limit_counts_fan_out(tmp_path):
    fan = """
    name: fan
    seed: 1
    duration: 100s
    components:
      front: {type: server, workers: 8, service_time: 1ms,
              calls: [{parallel: [b1, b2, b3, b4, b5, b6, b7, b8], wait_for: 8}]}
      b1: {type: server, workers: 8, service_time: 1ms}
      b2: {type: server, workers: 8, service_time: 1ms}
      b3: {type: server, workers: 8, service_time: 1ms}
      b4: {type: server, workers: 8, service_time: 1ms}
      b5: {type: server, workers: 8, service_time: 1ms}
      b6: {type: server, workers: 8, service_time: 1ms}
      b7: {type: server, workers: 8, service_time: 1ms}
      b8: {type: server, workers: 8, service_time: 1ms}
    workloads:
      web: {arrivals: poisson(rate=100/s), target: front}
    """
    env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(fan)))
    est = estimate_run(system)
    assert est.requests == pytest.approx(10_000)
    assert est.events == pytest.approx(10_000 * (1 + 3 * 9))  # an arrival, then 9 visits of 3 events
    r = CliRunner().invoke(main, ["run", _write(tmp_path, fan), "--max-requests", "10000"])
    assert r.exit_code == 2 and "events" in r.stderr and "--max-requests" in r.stderr, r.output


def test_compare_refuses_a_runaway_variant_before_any_run(tmp_path):
    path = _small(tmp_path)
    r = CliRunner().invoke(main, ["compare", path, "--vary", "workloads.web.arrivals.rate=10/s,1e9/s",
                                  "-r", "1", "--workers", "1", "--no-cache"])
    assert r.exit_code == 2, r.output
    lines = _errors(r)
    assert len(lines) == 1 and "variant" in lines[0] and "1e9" in lines[0].replace("1e+09", "1e9"), lines


def test_capacity_refuses_a_point_whose_run_is_runaway(tmp_path):
    path = _small(tmp_path, duration="1e9s")
    r = CliRunner().invoke(main, ["capacity", path, "--slo", "p99<1s", "--vary", "workloads.web.arrivals.rate",
                                  "-r", "1", "--workers", "1", "--no-cache"])
    assert r.exit_code == 2, r.output
    assert "requests" in r.stderr and "--max-requests" in r.stderr


def test_a_closed_loop_with_zero_think_time_is_bounded_by_its_bottleneck():
    text = """
    name: closed
    seed: 3
    duration: 100s
    components:
      app: {type: server, workers: 2, service_time: exponential(mean=10ms)}
    workloads:
      users: {users: 50, target: app}
    """
    sc = simulator.loads_scenario(textwrap.dedent(text))
    env, system = simulator.build(sc)
    est = estimate_run(system)
    assert est.requests == pytest.approx(2 / 0.010 * 100)  # the server's capacity × the duration
    made = simulator.run(sc).summary["requests"]["generated"]
    assert abs(made - est.requests) < 0.05 * est.requests


def test_run_prints_the_warnings_validate_prints_before_running(tmp_path):
    path = _small(tmp_path, arrivals="poisson(rate=300/s)", duration="2s")  # 1.5x the capacity of 200/s
    v = CliRunner().invoke(main, ["validate", path])
    warned = [line for line in v.output.splitlines() if line.startswith("warning:")]
    assert warned and "1.50x its capacity" in warned[0]
    r = CliRunner().invoke(main, ["run", path])
    assert r.exit_code == 0, r.output
    assert [line for line in r.stderr.splitlines() if line.startswith("warning:")] == warned


LOOP = """
name: loop
seed: 1
duration: 5s
components:
  a: {type: server, workers: 4, service_time: 1ms, hold_worker: false, calls: [{target: b, probability: P}]}
  b: {type: server, workers: 4, service_time: 1ms, hold_worker: false, calls: [a]}
workloads:
  w: {arrivals: poisson(rate=10/s), target: a}
"""


def test_a_call_loop_with_probability_validates_and_runs_b10(tmp_path):
    text = LOOP.replace("P", "0.95")
    result, _ = run_validate(tmp_path, text)
    assert result.exit_code == 0, result.output
    env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(text)))
    load = system.estimate_load()
    assert load["a"] == pytest.approx(10 / 0.05, rel=1e-4)  # 1 + 0.95 + 0.95^2 + ... visits a request
    assert load["b"] == pytest.approx(10 * 0.95 / 0.05, rel=1e-4)
    r = CliRunner().invoke(main, ["run", _write(tmp_path, text), "--format", "json"])
    assert r.exit_code == 0, r.output


def test_a_slowly_fading_loop_is_solved_not_walked():
    text = LOOP.replace("P", "0.99999")
    env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(text)))
    load = system.estimate_load()
    assert load["a"] == pytest.approx(10 / 1e-5, rel=1e-9)
    assert system.traffic.unbounded == []


def test_a_loop_whose_expected_visits_are_unbounded_is_named(tmp_path):
    text = LOOP.replace("calls: [{target: b, probability: P}]",
                        "calls: [{target: b, probability: 0.6}, {target: b, probability: 0.6}]")
    result, path = run_validate(tmp_path, text)
    assert result.exit_code == 0, result.output
    assert "the call loop through 'a', 'b' has unbounded expected visits" in result.output
    env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(text)))
    assert math.isinf(system.estimate_load()["a"])
    r = CliRunner().invoke(main, ["run", path])
    assert r.exit_code == 2 and "unbounded" in r.stderr, r.output


def test_an_infinite_mean_service_time_is_reported_not_a_crash_b3(tmp_path):
    text = SMALL.replace("DURATION", "5s").replace("ARRIVALS", "poisson(rate=10/s)").replace(
        "exponential(mean=10ms)", "pareto(alpha=0.9, scale=1ms)")
    result, _ = run_validate(tmp_path, text)
    assert result.exit_code == 0, result.output
    assert "the mean service time at 'app' is infinite" in result.output


def test_a_closed_loop_that_never_waits_is_refused_and_network_latency_bounds_it(tmp_path):
    text = """
    name: zeno
    seed: 1
    duration: 10s
    components:
      app: {type: server, workers: 2, service_time: 0s}
    workloads:
      users: {users: 5, target: app}
    """
    r = CliRunner().invoke(main, ["run", _write(tmp_path, text)])
    assert r.exit_code == 2 and "unbounded number of requests" in r.stderr, r.output
    slowed = simulator.loads_scenario(textwrap.dedent(text) + "network: {default_latency: 1ms}\n")
    env, system = simulator.build(slowed)
    assert estimate_run(system).requests == pytest.approx(5 / 0.002 * 10)  # one round trip per request
