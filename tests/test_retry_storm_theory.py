"""Retry storms against theory: the metastable boundary.

A server of c workers with deterministic service D has capacity mu = c / D. Clients send Poisson
arrivals at rate lambda, give up on an attempt after T and retry at once, up to k + 1 attempts; the
server serves every attempt it has queued, even one whose client has given up (FIFO). A trigger (a
pause) builds a backlog longer than T, so every attempt times out and every request makes k + 1
attempts: the server is offered (k + 1) x lambda attempts per second. Theory:

- (k + 1) x lambda > mu: the backlog only grows; the system stays stuck after the trigger is gone
  (a metastable failure), although lambda alone is far below capacity;
- (k + 1) x lambda < mu: even if every attempt timed out the backlog drains, the waits fall below T
  and the system recovers, whatever the trigger;
- a Finagle retry budget (retries <= ratio x requests + min_per_s x window) caps the attempts at
  (1 + ratio) x lambda + min_per_s, which moves the boundary to lambda = (mu - min_per_s) / (1 + ratio).

Each case runs 5 % below and 5 % above its boundary. Why 5 % is a sharp enough margin for one seed
(mu = 1000/s, T = 100 ms, a 0.5 s pause at 2 s, 40 s runs, the verdict read on the requests started
in the window [34 s, 39 s)):
- above (k = 1, lambda = 525/s): the backlog grows by 0.05 mu = 50 attempts/s in expectation, 1,850
  attempts by the window; the Poisson noise of the attempts offered in 37 s has a standard deviation
  (k + 1) sqrt(lambda t) = 2 sqrt(525 x 37) ~ 280 attempts, so falling back under the T x mu = 100
  attempts that would let requests through again is more than 6 standard deviations away;
- below (k = 1, lambda = 475/s): the pause leaves ~(k + 1) lambda x 0.5 s ~ 475 attempts; the backlog
  must lose ~375 of them at >= 50/s (faster once retries stop), i.e. by ~7.5 s; by 32 s the expected
  drain is 1,600 attempts against a noise of 2 sqrt(475 x 32) ~ 250: about 5 standard deviations
  of slack. The other cases (k = 3, the budget) have the same drift and less noise per attempt.
A sweep over seeds and 0.90 ... 1.10 x the boundary (done while writing this test) flips at 0.99-1.01.
Each run takes a few tenths of a second.
"""
from __future__ import annotations

import pytest

import simulator

MU = 1000.0  # 10 workers x 10 ms
DURATION_S = 40.0
WINDOW = (DURATION_S - 6.0, DURATION_S - 1.0)  # every request started there ends by 39.4 s (4 x 100 ms)


def _run(rate: float, attempts: int, budget: str = "", pause: bool = True, seed: int = 1) -> simulator.Result:
    fault = "faults:\n  - {type: pause, target: app, at: 2s, duration: 500ms}" if pause else ""
    text = f"""
name: retry-storm-theory
seed: {seed}
duration: {DURATION_S}s
components:
  app: {{type: server, workers: 10, service_time: 10ms}}
workloads:
  web:
    target: app
    arrivals: poisson(rate={rate}/s)
    resilience:
      timeout: 100ms
      retry:
        max_attempts: {attempts}
        retry_on: [timed_out]
        backoff: constant
        base: 0s
        jitter: none
        {budget}
{fault}
"""
    return simulator.run(simulator.loads_scenario(text))


def _late_availability(result: simulator.Result) -> float:
    """Share of the requests started in WINDOW (long after the pause) that succeeded."""
    req = result.requests
    late = req[(req["start_s"] >= WINDOW[0]) & (req["start_s"] < WINDOW[1])]
    assert len(late) > 1000
    return float((late["outcome"] == "ok").mean())


@pytest.mark.parametrize("attempts", [2, 4])
def test_stuck_exactly_when_attempts_times_arrival_rate_exceed_capacity(attempts):
    boundary = MU / attempts
    below = _run(0.95 * boundary, attempts)
    above = _run(1.05 * boundary, attempts)
    assert _late_availability(below) > 0.999  # recovered: the backlog drained
    assert _late_availability(above) < 0.001  # stuck: every request times out on every attempt
    retry = above.summary["resilience"]["web->app"]["retry"]
    # stuck requests make every attempt they may: amplification tends to k + 1
    assert retry["attempts_per_request"] > attempts - 0.3


def test_above_the_boundary_without_a_trigger_the_system_is_fine():
    """The same load 5 % above the boundary never gets stuck on its own: it is the trigger that tips
    it (the load alone is a quarter of capacity), which is what makes the failure metastable."""
    res = _run(1.05 * MU / 4, 4, pause=False)
    assert res.summary["availability"] > 0.999
    assert res.summary["resilience"]["web->app"]["retry"]["retries"] == 0


BUDGET = "budget: {ratio: 20%, min_per_s: 1/s, window: 10s}"


def test_a_retry_budget_moves_the_boundary():
    # where naive retries stay stuck (4 x lambda = 1.05 mu), the budget recovers
    assert _late_availability(_run(1.05 * MU / 4, 4, BUDGET)) > 0.999
    # its own boundary: (1 + 20 %) x lambda + 1/s = mu
    boundary = (MU - 1.0) / 1.2
    below = _run(0.95 * boundary, 4, BUDGET)
    above = _run(1.05 * boundary, 4, BUDGET)
    assert _late_availability(below) > 0.999
    assert _late_availability(above) < 0.001
    assert above.summary["resilience"]["web->app"]["retry"]["refused_by_budget"] > 0
