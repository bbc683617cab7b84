"""The pre-run estimate counts retry and hedge load: a retry storm sends every request max_attempts
times (the worst case), so a run whose attempts would pass the request limit is refused with one
line, not run silently; retries on inner calls add to the events estimate."""
from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

import simulator
from cli import main
from simulator.simulation.limits import estimate_run

CLIENT = """
name: storm
seed: 1
duration: 100s
components:
  app: {type: server, workers: 8, service_time: 1ms}
workloads:
  web:
    target: app
    arrivals: poisson(rate=100/s)
    resilience:
      timeout: 100ms
      retry: {max_attempts: 4, retry_on: [timed_out], backoff: constant, base: 0s, jitter: none}
"""


def _estimate(text: str):
    _env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(text)))
    return estimate_run(system)


def test_client_retries_count_at_their_worst_case():
    est = _estimate(CLIENT)
    assert est.requests == pytest.approx(10_000)
    assert est.attempts == pytest.approx(40_000)  # every request tried 4 times
    assert est.events == pytest.approx(10_000 + 3 * 40_000)  # an arrival, then 4 visits of 3 events


def test_hedges_multiply_the_attempts():
    text = CLIENT.replace("      retry:", "      hedge: {after: 50ms, max_extra: 2}\n      retry:")
    assert _estimate(text).attempts == pytest.approx(10_000 * 4 * 3)


def test_without_policies_the_estimate_is_unchanged():
    est = _estimate(CLIENT.split("    resilience:")[0])
    assert est.attempts == est.requests == pytest.approx(10_000)
    assert est.events == pytest.approx(10_000 * 4)


def test_retries_on_a_servers_call_add_to_the_events():
    inner = """
    name: inner
    seed: 1
    duration: 100s
    components:
      front:
        type: server
        workers: 8
        service_time: 1ms
        calls:
          - target: db
            resilience: {timeout: 100ms, retry: {max_attempts: 3, retry_on: [timed_out], base: 0s}}
      db: {type: server, workers: 8, service_time: 1ms}
    workloads:
      web: {arrivals: poisson(rate=100/s), target: front}
    """
    est = _estimate(inner)
    assert est.attempts == est.requests == pytest.approx(10_000)  # the client itself does not retry
    # front and db once each, plus 2 more calls to db: 4 visits of 3 events
    assert est.events == pytest.approx(10_000 + 3 * 10_000 * 4)


def test_a_retry_storm_above_the_limit_is_refused_with_one_line(tmp_path):
    path = tmp_path / "storm.yaml"
    path.write_text(textwrap.dedent(CLIENT))
    r = CliRunner().invoke(main, ["run", str(path), "--max-requests", "20000"])  # 10,000 requests, 40,000 attempts
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "~40,000 attempts" in lines[0] and "--max-requests" in lines[0], lines
    ok = CliRunner().invoke(main, ["run", str(path), "--max-requests", "40000", "--format", "json"])
    assert ok.exit_code == 0, ok.output
