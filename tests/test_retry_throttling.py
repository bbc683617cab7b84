"""gRPC-style retry throttling (`retry: {throttling: {max_tokens, token_ratio}}`): exact token
arithmetic, and the retries it lets through during a crash, next to the Finagle budget."""
from __future__ import annotations


import pytest

import simulator
from tests.helpers import policy_error
from simulator.engine.request import ERROR, OK, REJECTED, TIMED_OUT
from simulator.resilience.config import RetryConfig
from simulator.resilience.retry import Retry


class _Env:
    def __init__(self) -> None:
        self._now = 0.0
        self.later: list = []

    def call_later(self, delay, fn, value=None):
        self.later.append(value)


def test_tokens_failures_take_one_successes_give_the_ratio_retries_above_half():
    sent = []
    env = _Env()
    r = Retry(RetryConfig(max_attempts=10, throttling={"max_tokens": 4, "token_ratio": 0.5}),
              lambda req, reply: sent.append(reply), env, "x")
    got = []
    r.send(None, got.append)
    sent[-1](ERROR)  # 4 -> 3 > 2: retried
    assert r.throttle.tokens == 3.0 and len(env.later) == 1 and got == []
    sent[-1](ERROR)  # the same attempt object stands in for the retry: 3 -> 2, not > 2: refused
    assert r.throttle.tokens == 2.0 and got == [ERROR] and r.refused_by_throttling == 1
    r.send(None, got.append)
    sent[-1](OK)  # 2 -> 2.5
    r.send(None, got.append)
    sent[-1](TIMED_OUT)  # 2.5 -> 1.5: refused
    assert r.throttle.tokens == 1.5 and got == [ERROR, OK, TIMED_OUT] and r.refused_by_throttling == 2
    for _ in range(10):
        r.send(None, got.append)
        sent[-1](OK)
    assert r.throttle.tokens == 4.0  # capped at max_tokens
    r.send(None, got.append)
    sent[-1](REJECTED)  # rejected: not in retry_on, takes no token
    assert r.throttle.tokens == 4.0
    assert r.stats()["refused_by_throttling"] == 2


CRASH = """
name: t
duration: 40s
seed: 5
components:
  app: {{type: server, workers: 4, service_time: exponential(mean=10ms)}}
workloads:
  web:
    target: app
    arrivals: poisson(rate=100/s)
    resilience: {{retry: {{max_attempts: 5, backoff: constant, base: 50ms{extra}}}}}
faults:
  - {{type: crash, target: app, at: 10s, duration: 5s}}
  - {{type: crash, target: app, at: 12s, duration: 8s}}
"""


def _retry(extra: str) -> dict:
    s = simulator.run(simulator.loads_scenario(CRASH.format(extra=extra))).summary
    return s["resilience"]["web->app"]["retry"]


def test_throttling_lets_through_max_tokens_over_2_minus_1_retries_in_a_long_outage():
    """Overlapping crashes keep app down from 10s to 20s; before, every attempt succeeds (tokens stay
    at 10). From 10s each failed attempt takes a token: failures 1-4 leave 9, 8, 7, 6 (> 5: retried),
    the 5th leaves 5: no more retries, and no success comes until 20s. After 20s nothing fails.
    So exactly 4 retries in the whole run, against ~4 per request without throttling."""
    r = _retry(", throttling: {max_tokens: 10, token_ratio: 0.1}")
    assert r["retries"] == 4
    assert r["refused_by_throttling"] == r["attempt_outcomes"]["error"] - 4
    plain = _retry("")
    assert plain["retries"] > 3000


def test_throttling_and_budget_together_the_tighter_wins():
    both = _retry(", throttling: {max_tokens: 10, token_ratio: 0.1}, budget: {ratio: 50%, min_per_s: 100/s}")
    assert both["retries"] == 4 and both["refused_by_budget"] == 0


@pytest.mark.parametrize("policy, expect", [
    ("{throttling: {max_tokens: 0}}", "max_tokens"),
    ("{throttling: {max_tokens: 2000}}", "max_tokens"),
    ("{throttling: {token_ratio: -0.1}}", "token_ratio"),
    ("{throttling: {max_token: 10}}", "max_token"),
])
def test_bad_throttling_input_is_one_located_line(policy, expect):
    msg = policy_error(f"retry: {policy}")
    assert "workloads.web.resilience.retry.throttling" in msg and expect in msg
