"""Resilience policies on calls: composition, retry (backoff, jitter, budget), circuit breaker,
per-attempt timeout, with faults, and against theory."""
from __future__ import annotations

import math
import textwrap

import pytest

import simulator
from simulator.engine.network import Link
from simulator.engine.request import ERROR, OK, SHORT_CIRCUITED, TIMED_OUT
from simulator.resilience.breaker import CircuitBreaker
from simulator.resilience.chain import Guarded
from simulator.resilience.config import CircuitBreakerConfig, RetryBudgetConfig, RetryConfig
from simulator.resilience.retry import Retry, RetryBudget
from tests.unit.eventlog import Probe


def _run(text: str, seed: int | None = None):
    return simulator.run(simulator.loads_scenario(textwrap.dedent(text)), seed=seed)


class _Env:
    """Just the clock and streams a policy reads."""

    def __init__(self) -> None:
        self._now = 0.0
        from simulator.sampling.rng import Streams
        self.streams = Streams(1)


class _FixedRng:
    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


# --- composition -------------------------------------------------------------------------------
BASE = """
name: t
duration: 10s
components:
  lb: {type: load_balancer, backends: [app]}
  app: {type: server, workers: 1, service_time: 1ms, calls: [db]}
  db: {type: server, service_time: 1ms}
workloads:
  web: {target: lb, arrivals: poisson(rate=10/s)}
"""


def test_no_policies_is_the_bare_link():
    """Zero cost: without `resilience:` every caller holds the network's own link objects."""
    env, system = simulator.build(simulator.loads_scenario(BASE))
    assert type(system.workloads[0].link) is Link
    assert all(type(link) is Link for link in system.get("lb").links)
    assert all(type(link) is Link for step in system.get("app")._steps_default for link in step.links)
    assert system.guarded == []
    assert "resilience" not in simulator.run(simulator.loads_scenario(BASE)).summary


def test_policies_are_composed_in_the_documented_order_wherever_a_call_is_declared():
    text = BASE.replace("backends: [app]}", "backends: [app], resilience: {circuit_breaker: {}}}")
    text = text.replace("calls: [db]}", "calls: [{target: db, resilience: {timeout: 1s, retry: {}}}]}")
    text = text.replace("rate=10/s)}", "rate=10/s), resilience: {circuit_breaker: {}, timeout: 2s, retry: {}}}")
    env, system = simulator.build(simulator.loads_scenario(text))
    wl_link = system.workloads[0].link
    assert isinstance(wl_link, Guarded) and list(wl_link.policies) == ["retry", "circuit_breaker", "timeout"]
    assert [g.label for g in system.guarded] == ["lb->app", "app/calls/0->db", "web->lb"]
    assert list(system.get("app")._steps_default[0].links[0].policies) == ["retry", "timeout"]
    summary = simulator.run(simulator.loads_scenario(text)).summary
    assert set(summary["resilience"]) == {"lb->app", "app/calls/0->db", "web->lb"}
    assert summary["resilience"]["web->lb"]["retry"]["attempts_per_request"] == 1.0


# --- retry: backoff, jitter, budget --------------------------------------------------------------
def _retry(**kw) -> Retry:
    r = Retry(RetryConfig(**kw), lambda req, reply: None, _Env(), "x")
    r.rng = _FixedRng(0.5)
    return r


def test_backoff_formulas():
    assert [_retry(backoff="constant", base="10ms").delay(n, 0) for n in (1, 2, 3)] == [0.01] * 3
    assert [_retry(backoff="linear", base="10ms").delay(n, 0) for n in (1, 2, 3)] == pytest.approx([0.01, 0.02, 0.03])
    exp = _retry(backoff="exponential", base="10ms", multiplier=3, cap="50ms")
    assert [exp.delay(n, 0) for n in (1, 2, 3)] == pytest.approx([0.01, 0.03, 0.05])  # capped


def test_jitter_formulas():
    # d = 40ms (exponential, base 10ms, retry 3); u = 0.5
    assert _retry(base="10ms", jitter="full").delay(3, 0) == pytest.approx(0.02)  # U(0, d)
    assert _retry(base="10ms", jitter="equal").delay(3, 0) == pytest.approx(0.03)  # d/2 + U(0, d/2)
    dec = _retry(base="10ms", cap="100ms", jitter="decorrelated")
    assert dec.delay(1, 0.01) == pytest.approx(0.02)  # U(base, 3 x 10ms)
    assert dec.delay(2, 0.05) == pytest.approx(0.08)  # U(10ms, 150ms)
    assert dec.delay(3, 0.1) == pytest.approx(0.1)  # capped


def test_retry_budget_is_a_ratio_of_requests_plus_a_reserve_over_the_window():
    budget = RetryBudget(RetryBudgetConfig(ratio=0.25, min_per_s="1/s", window="2s"))  # reserve 2
    for _ in range(8):
        budget.deposit(0.0)
    assert [budget.withdraw(0.5) for _ in range(5)] == [True, True, True, True, False]  # 0.25 x 8 + 2
    # At 2.5 every request and retry so far has left the window: the reserve alone.
    assert [budget.withdraw(2.5) for _ in range(3)] == [True, True, False]


def test_retries_follow_backoff_and_stop_at_max_attempts():
    p = Probe("""
        name: t
        duration: 30s
        components:
          app: {type: server, workers: 1, service_time: 100ms}
        workloads:
          web:
            target: app
            arrivals: constant(rate=1/s)
            resilience: {retry: {max_attempts: 4, backoff: exponential, base: 1s, multiplier: 2}}
        faults:
          - {type: crash, target: app, at: 0.5s, duration: 4.7s}
    """)
    p.watch_service("app")
    p.send(1.0, "r1")  # attempts at 1, 2 (+1s), 4 (+2s), 8 (+4s): only the last one after the crash (5.2s)
    p.send(2.5, "r2")  # attempts at 2.5, 3.5, 5.5: the third succeeds
    log = p.run(12)
    assert log == [(5.6, "app served r2"), (5.6, "r2 ok"), (8.1, "app served r1"), (8.1, "r1 ok")]
    retry = p.system.guarded[0].policies["retry"]
    assert retry.attempts == 7 and retry.retries == 5


def test_max_attempts_exhausted_gives_the_last_outcome():
    p = Probe("""
        name: t
        duration: 30s
        components:
          app: {type: server, workers: 1, service_time: 100ms}
        workloads:
          web:
            target: app
            arrivals: constant(rate=1/s)
            resilience: {retry: {max_attempts: 3, backoff: constant, base: 1s}}
        faults:
          - {type: crash, target: app, at: 0.5s, duration: 10s}
    """)
    p.send(1.0, "r1")
    assert p.run(12) == [(3.0, "r1 error")]  # attempts at 1, 2, 3
    retry = p.system.guarded[0].policies["retry"]
    assert (retry.attempts, retry.retries, retry.exhausted) == (3, 2, 1)


def test_timeouts_with_a_pause_retry_and_the_held_attempts_run_afterwards():
    """Per-attempt timeouts during a pause: the attempts given up on are still served when the pause
    ends (wasted work), the last attempt succeeds."""
    p = Probe("""
        name: t
        duration: 30s
        components:
          app: {type: server, workers: 4, service_time: 500ms}
        workloads:
          web:
            target: app
            arrivals: constant(rate=1/s)
            resilience: {timeout: 1s, retry: {max_attempts: 3, backoff: constant, base: 600ms}}
        faults:
          - {type: pause, target: app, at: 1s, duration: 4s}
    """)
    p.watch_service("app")
    p.send(2.0, "r1")  # attempt 1 at 2.0 times out at 3.0; attempt 2 at 3.6, times out at 4.6; attempt 3 at 5.2
    assert p.run(10) == [(5.5, "app served r1"), (5.5, "app served r1"), (5.7, "app served r1"), (5.7, "r1 ok")]


# --- circuit breaker ---------------------------------------------------------------------------
def test_breaker_exact_trace_consecutive_mode():
    p = Probe("""
        name: t
        duration: 30s
        components:
          app: {type: server, workers: 1, service_time: 100ms}
        workloads:
          web:
            target: app
            arrivals: constant(rate=1/s)
            resilience: {circuit_breaker: {failure_threshold: 2, open_for: 5s}}
        faults:
          - {type: crash, target: app, at: 0.5s, duration: 10s}
    """)
    p.watch_service("app")
    for t in range(1, 14):
        p.send(float(t), f"r{t}")
    log = p.run(20)
    assert log == [(1.0, "r1 error"), (2.0, "r2 error")] + [(float(t), f"r{t} short_circuited") for t in (3, 4, 5, 6)] + [
        (7.0, "r7 error")] + [(float(t), f"r{t} short_circuited") for t in (8, 9, 10, 11)] + [
        (12.1, "app served r12"), (12.1, "r12 ok"), (13.1, "app served r13"), (13.1, "r13 ok")]
    br = p.system.guarded[0].policies["circuit_breaker"]
    # Five calls reached the target (r1, r2, r7, r12, r13); it opened twice and closed once.
    assert br.calls == 5 and br.short_circuited == 8
    assert br.stats()["transitions"] == [[2.0, "open"], [7.0, "half_open"], [7.0, "open"], [12.0, "half_open"],
                                          [12.1, "closed"]]


def _breaker(**kw):
    sent = []
    env = _Env()
    br = CircuitBreaker(CircuitBreakerConfig(**kw), lambda req, reply: sent.append(reply), env, "x")
    return br, sent, env


def test_breaker_failure_rate_over_a_count_window():
    br, sent, env = _breaker(mode="rate", window=4, minimum_calls=4, failure_rate="50%", open_for="1s")
    got = []
    for outcome in (OK, ERROR, OK, OK, ERROR):  # windows: [ok err ok ok] 25%; [err ok ok err] 50%: opens
        br.send(None, got.append)
        sent[-1](outcome)
    assert br.state == "open" and len(sent) == 5
    br.send(None, got.append)
    assert got[-1] == SHORT_CIRCUITED and len(sent) == 5
    env._now = 1.0
    br.send(None, got.append)  # half-open: one trial
    br.send(None, got.append)  # a second call while the trial is out: refused
    assert got[-1] == SHORT_CIRCUITED and len(sent) == 6
    sent[-1](OK)
    assert br.state == "closed" and br.failures_in_window == 0


def test_a_reply_from_before_the_breaker_opened_does_not_count():
    br, sent, env = _breaker(failure_threshold=1, open_for="1s", half_open_calls=1)
    got = []
    br.send(None, got.append)
    br.send(None, got.append)
    sent[0](TIMED_OUT)  # opens
    env._now = 2.0
    br.send(None, got.append)  # half-open trial
    sent[1](TIMED_OUT)  # admitted while closed: ignored by the half-open breaker
    assert br.state == "half_open"
    sent[2](OK)
    assert br.state == "closed" and got == [TIMED_OUT, TIMED_OUT, OK]


PARTITION = """
name: t
duration: 60s
seed: 3
network: {timeout: 500ms}
components:
  app: {type: server, workers: 8, service_time: exponential(mean=10ms)}
workloads:
  web:
    target: app
    arrivals: poisson(rate=50/s)
    resilience: {circuit_breaker: {failure_threshold: 5, open_for: 2s}}
faults:
  - {type: partition, groups: [[web], [app]], at: 20s, duration: 10s}
"""


def test_breaker_opens_during_a_partition_and_closes_after_it():
    s = _run(PARTITION).summary
    br = s["resilience"]["web->app"]["circuit_breaker"]
    assert br["state"] == "closed" and br["opened"] >= 2 and br["closed"] == 1
    first_open, closed = br["transitions"][0], br["transitions"][-1]
    assert first_open[1] == "open" and 20.5 <= first_open[0] < 21.0  # the 5th timeout of calls sent after 20s
    assert closed[1] == "closed" and 30.0 <= closed[0] <= 30.0 + 2.0 + 0.6  # within one open period + a call
    # Refused calls fail fast with their own outcome, apart from the timeouts.
    assert s["requests"]["short_circuited"] == br["short_circuited"] > 0
    assert s["requests"]["timed_out"] < 50 * 2  # a few per half-open trial, not 10 s worth (500)


# --- retries and faults --------------------------------------------------------------------------
CRASH = """
name: t
duration: {duration}
seed: 5
components:
  app: {{type: server, workers: 4, service_time: exponential(mean=10ms)}}
workloads:
  web:
    target: app
    arrivals: poisson(rate=100/s)
    resilience: {{retry: {{max_attempts: 5, backoff: constant, base: 100ms{budget}}}}}
faults:
  - {{type: crash, target: app, at: 10s, duration: 10s}}
"""


def test_retries_across_a_crash_window_stop_when_it_ends():
    short = _run(CRASH.format(duration="21s", budget="")).summary["resilience"]["web->app"]["retry"]
    long = _run(CRASH.format(duration="40s", budget="")).summary["resilience"]["web->app"]["retry"]
    # Every retry happened by 21s (the fault ends at 20s, the last retry chain 0.4s later): the
    # 19 s after it add requests but not one retry.
    assert long["retries"] == short["retries"]
    assert long["requests"] > short["requests"] + 1500
    # During the crash each request is tried 5 times: amplification x5 over the window.
    failed = long["exhausted"]  # requests of [10s, 19.6s]: Poisson, mean 960
    assert abs(failed - 960) < 4 * math.sqrt(960)
    assert 4 * failed <= long["retries"] <= 4 * failed + 4 * 100  # + those that succeeded after the window


def test_a_retry_budget_bounds_the_retry_load():
    plain = _run(CRASH.format(duration="40s", budget="")).summary["resilience"]["web->app"]["retry"]
    budget = ", budget: {ratio: 10%, min_per_s: 1/s, window: 10s}"
    kept = _run(CRASH.format(duration="40s", budget=budget)).summary["resilience"]["web->app"]["retry"]
    # At most ratio x requests + reserve in any 10 s window; the fault spans two windows at most.
    assert kept["retries"] <= 0.1 * kept["requests"] + 2 * 10
    assert kept["refused_by_budget"] > 0 and kept["retries"] < plain["retries"] / 3


def test_non_idempotent_retries_are_counted_as_duplicates():
    text = CRASH.format(duration="30s", budget=", non_idempotent: [write]").replace(
        "poisson(rate=100/s)", "poisson(rate=100/s)\n    mix: {read: 50%, write: 50%}")
    retry = _run(text).summary["resilience"]["web->app"]["retry"]
    assert 0 < retry["duplicates"] < retry["retries"]
    assert abs(retry["duplicates"] / retry["retries"] - 0.5) < 0.05


# --- theory --------------------------------------------------------------------------------------
LOSS = """
name: t
duration: 40s
seed: 11
network: {timeout: 10ms}
components:
  app: {type: server, workers: 64, service_time: 0s}
workloads:
  web:
    target: app
    arrivals: poisson(rate=500/s)
    resilience: {retry: {max_attempts: 3, base: 0s, retry_on: [timed_out]}}
faults:
  - {type: packet_loss, groups: [[web], [app]], one_way: true, probability: 30%, at: 0s}
"""


def test_attempts_and_success_under_independent_loss_match_theory():
    """Loss p per attempt, k = 2 retries: success 1 - p^3, mean attempts (1 - p^3) / (1 - p)."""
    s = _run(LOSS).summary
    retry = s["resilience"]["web->app"]["retry"]
    n, p = retry["requests"], 0.3
    mean = (1 - p**3) / (1 - p)
    second = 1 * (1 - p) + 4 * p * (1 - p) + 9 * p * p  # E[A^2], A in {1, 2, 3}
    sd = math.sqrt((second - mean**2) / n)
    assert abs(retry["attempts_per_request"] - mean) < 4 * sd
    done = s["requests"]["ok"] + s["requests"]["timed_out"]
    q = 1 - p**3
    assert abs(s["requests"]["ok"] / done - q) < 4 * math.sqrt(q * (1 - q) / done)


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("policy, expect", [
    ("{retry: {jitter: fulll}}", "jitter"),
    ("{retry: {base: -1s}}", "base"),
    ("{retry: {base: 2s, cap: 1s}}", "cap"),
    ("{retry: {retry_on: [timeout]}}", "retry_on"),
    ("{circuit_breaker: {mode: rate, failure_rate: 150%}}", "failure_rate"),
    ("{circuit_breaker: {mode: rate, window: 5, minimum_calls: 10}}", "minimum_calls"),
    ("{retyr: {}}", "retyr"),
])
def test_bad_policy_input_is_one_located_line(policy, expect):
    text = BASE.replace("rate=10/s)}", f"rate=10/s), resilience: {policy}}}")
    with pytest.raises(simulator.ScenarioError) as e:
        simulator.loads_scenario(text)
    msg = str(e.value)
    assert "\n" not in msg and "workloads.web.resilience" in msg and expect in msg


# --- determinism and the warm-up ------------------------------------------------------------------
JITTER = CRASH.format(duration="25s", budget=", jitter: full")


def test_jitter_draws_come_from_the_seed():
    a, b = _run(JITTER, seed=1).summary, _run(JITTER, seed=1).summary
    assert a == b
    c = _run(JITTER, seed=2).summary
    assert c["resilience"] != a["resilience"]


def test_policy_figures_count_from_the_end_of_the_warm_up():
    text = JITTER.replace("duration: 25s", "duration: 25s\nwarmup: 5s")
    s = _run(text).summary
    retry = s["resilience"]["web->app"]["retry"]
    assert retry["requests"] == s["requests"]["generated"]


def test_no_retry_after_the_caller_gave_up():
    """The workload's own timeout is the deadline of the whole call: a retry due after it is not sent."""
    s = _run("""
        name: t
        duration: 11s
        components:
          app: {type: server, workers: 1, service_time: 10ms}
        workloads:
          web:
            target: app
            arrivals: constant(rate=1/s)
            timeout: 1s
            stop: 9.5s
            resilience: {retry: {max_attempts: 10, backoff: constant, base: 400ms}}
        faults:
          - {type: crash, target: app, at: 0s}
    """).summary
    retry = s["resilience"]["web->app"]["retry"]
    # Attempts at t, t + 0.4, t + 0.8; the retry due at t + 1.2 comes after the deadline (t + 1).
    assert retry["attempts"] == 3 * retry["requests"] and retry["abandoned"] == retry["requests"]
    assert s["requests"]["timed_out"] == retry["requests"]
