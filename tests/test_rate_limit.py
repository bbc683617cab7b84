"""Admission on the callee's side: the token-bucket rate limiter (`rate_limit:`)."""
from __future__ import annotations

import math
import textwrap

import pytest

import simulator
from tests.unit.eventlog import Probe


def _summary(text: str) -> dict:
    return simulator.run(simulator.loads_scenario(textwrap.dedent(text))).summary


def test_token_bucket_exact_trace():
    p = Probe("""
        name: t
        duration: 10s
        components:
          app: {type: server, workers: 4, service_time: 100ms, rate_limit: {rate: 1/s, burst: 2}}
        workloads:
          web: {target: app, arrivals: constant(rate=1/s)}
    """)
    for t, label in ((0.0, "r1"), (0.1, "r2"), (0.25, "r3"), (1.05, "r4"), (1.5, "r5"), (3.5, "r6")):
        p.send(t, label)
    # tokens: 2 -> 1 (r1) -> 0.1 (r2) -> 0.25 refused (r3) -> 1.05 -> 0.05 (r4) -> 0.5 refused (r5)
    # -> capped at 2 -> 1 (r6)
    assert p.run() == [(0.1, "r1 ok"), (0.2, "r2 ok"), (0.25, "r3 rate_limited"), (1.15, "r4 ok"),
                       (1.5, "r5 rate_limited"), (3.6, "r6 ok")]
    assert p.system.limited["app"].stats() == {"algorithm": "token_bucket", "admitted": 4, "rate_limited": 2}


RL = """
name: t
duration: 200s
seed: {seed}
components:
  app: {{type: server, workers: 100, service_time: 1ms, rate_limit: {{rate: {r}/s, burst: {b}}}}}
workloads:
  web: {{target: app, arrivals: poisson(rate={lam}/s)}}
"""


def test_burst_one_admits_a_renewal_process_of_rate_lambda_r_over_lambda_plus_r():
    """With burst 1 a call is admitted iff 1/r has passed since the last admitted one: admitted gaps
    are 1/r + Exp(lambda), so the admitted rate is lambda r / (lambda + r) and the acceptance
    probability r / (lambda + r). Tolerance: 4 sd of a renewal count, t sigma^2 / mu^3."""
    lam, r, t = 100.0, 50.0, 200.0
    s = _summary(RL.format(seed=3, r=50, b=1, lam=100))
    admitted = s["rate_limits"]["app"]["admitted"]
    mu, var = 1 / r + 1 / lam, 1 / lam**2
    assert abs(admitted - t / mu) < 4 * math.sqrt(t * var / mu**3)
    assert s["requests"]["rate_limited"] == s["rate_limits"]["app"]["rate_limited"] == s["requests"]["generated"] - admitted
    assert s["requests"]["rejected"] == 0  # not mixed with queue-full rejections


def test_long_run_admitted_rate_is_min_of_lambda_and_r():
    over = _summary(RL.format(seed=4, r=50, b=20, lam=100))["rate_limits"]["app"]
    assert 50 * 200 * 0.99 < over["admitted"] <= 50 * 200 + 20  # never more than r t + burst
    under = _summary(RL.format(seed=4, r=200, b=20, lam=100))
    assert under["rate_limits"]["app"]["rate_limited"] < 0.001 * under["requests"]["generated"]


def test_rate_limited_and_queue_full_are_counted_apart_and_can_be_retried():
    s = _summary("""
        name: t
        duration: 60s
        seed: 2
        components:
          app: {type: server, workers: 1, queue_capacity: 0, service_time: exponential(mean=20ms),
                rate_limit: {rate: 40/s, burst: 5}}
        workloads:
          web:
            target: app
            arrivals: poisson(rate=60/s)
            resilience: {retry: {max_attempts: 3, retry_on: [rate_limited], backoff: constant, base: 50ms,
                                 jitter: full}}
    """)
    req = s["requests"]
    assert req["rejected"] > 0 and req["rate_limited"] > 0
    assert req["generated"] == sum(req[k] for k in ("ok", "rejected", "timed_out", "errors", "in_flight",
                                                    "rate_limited"))
    retry = s["resilience"]["web->app"]["retry"]
    assert retry["attempt_outcomes"]["rate_limited"] == retry["retries"] + req["rate_limited"] - retry["abandoned"]


@pytest.mark.parametrize("limit, expect", [
    ("{rate: 10/s, algorithm: token_buket}", "token_bucket"),
    ("{rate: 10/s, burst: 0}", "burst"),
    ("{rate: -1/s}", "rate"),
    ("{burst: 3}", "rate"),
])
def test_bad_rate_limit_is_one_located_line(limit, expect):
    text = f"""
        name: t
        duration: 10s
        components:
          app: {{type: server, service_time: 1ms, rate_limit: {limit}}}
        workloads:
          web: {{target: app, arrivals: poisson(rate=1/s)}}
    """
    with pytest.raises(simulator.ScenarioError) as e:
        simulator.loads_scenario(textwrap.dedent(text))
    msg = str(e.value)
    assert "\n" not in msg and "components.app.rate_limit" in msg and expect in msg


def test_reports_show_policies_and_limits_only_when_there_are_some():
    from reports.table import summary_tables

    titles = lambda s: [str(t.title) for t in summary_tables(s)]  # noqa: E731
    with_both = _summary("""
        name: t
        duration: 5s
        components:
          app: {type: server, workers: 2, service_time: 1ms, rate_limit: {rate: 5/s, burst: 2}}
        workloads:
          web: {target: app, arrivals: poisson(rate=20/s), resilience: {retry: {retry_on: [rate_limited]}}}
    """)
    shown = titles(with_both)
    assert "Rate limits" in shown and any(t.startswith("Resilience policies") for t in shown)
    plain = _summary("""
        name: t
        duration: 5s
        components:
          app: {type: server, workers: 2, service_time: 1ms}
        workloads:
          web: {target: app, arrivals: poisson(rate=20/s)}
    """)
    assert not any("Resilience" in t or "Rate limits" in t for t in titles(plain))
