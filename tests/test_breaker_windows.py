"""Circuit breaker, failure-rate mode: count-based and time-based sliding windows and slow calls
(Resilience4j's semantics), each with an exact hand-computed trace."""
from __future__ import annotations


import pytest

import simulator
from tests.helpers import policy_error
from simulator.engine.request import ERROR, OK
from simulator.resilience.breaker import CircuitBreaker
from simulator.resilience.config import CircuitBreakerConfig
from tests.unit.eventlog import Probe

CRASHED = """
    name: t
    duration: 30s
    components:
      app: {{type: server, workers: 1, service_time: 100ms}}
    workloads:
      web:
        target: app
        arrivals: constant(rate=1/s)
        resilience: {{circuit_breaker: {{mode: rate, window: {window}, minimum_calls: 3, failure_rate: 50%, open_for: 5s}}}}
    faults:
      - {{type: crash, target: app, at: 3.5s, duration: 16s}}
"""


def _trace(text: str, last: int, watch: bool = True):
    p = Probe(text)
    if watch:
        p.watch_service("app")
    for t in range(1, last + 1):
        p.send(float(t), f"r{t}")
    log = p.run(last + 2)
    return p, log


def _short(*ts):
    return [(float(t), f"r{t} short_circuited") for t in ts]


def test_count_window_trace():
    """window: 20 calls. r1-r3 ok; app down from 3.5s to 19.5s: r4 1/4, r5 2/5, r6 3/6 = 50%: opens at 6.
    Half-open trials at 11 and 16 fail (still down), the one at 21 succeeds: closed at 21.1."""
    p, log = _trace(CRASHED.format(window=20), 21, watch=False)
    assert log == [(1.1, "r1 ok"), (2.1, "r2 ok"), (3.1, "r3 ok"), (4.0, "r4 error"), (5.0, "r5 error"),
                   (6.0, "r6 error")] + _short(7, 8, 9, 10) + [(11.0, "r11 error")] + _short(12, 13, 14, 15) + [
                   (16.0, "r16 error")] + _short(17, 18, 19, 20) + [(21.1, "r21 ok")]
    br = p.system.guarded[0].policies["circuit_breaker"]
    assert br.calls == 9 and br.short_circuited == 12  # r1-r6, r11, r16, r21 reached the target
    assert br.stats()["transitions"] == [[6.0, "open"], [11.0, "half_open"], [11.0, "open"], [16.0, "half_open"],
                                          [16.0, "open"], [21.0, "half_open"], [21.1, "closed"]]


def test_time_window_trace():
    """window: 3s (calls answered in the last 3 s). At 5.0 the window (2.0, 5.0] holds r2, r3 (ok), r4,
    r5 (error): 50%: opens one call earlier than the count window (r1, answered at 1.1, has left it)."""
    p, log = _trace(CRASHED.format(window="3s"), 21, watch=False)
    assert log == [(1.1, "r1 ok"), (2.1, "r2 ok"), (3.1, "r3 ok"), (4.0, "r4 error"), (5.0, "r5 error")] + _short(
        6, 7, 8, 9) + [(10.0, "r10 error")] + _short(11, 12, 13, 14) + [(15.0, "r15 error")] + _short(
        16, 17, 18, 19) + [(20.1, "r20 ok"), (21.1, "r21 ok")]
    br = p.system.guarded[0].policies["circuit_breaker"]
    assert br.calls == 9 and br.short_circuited == 12  # r1-r5, r10, r15, r20, r21
    assert br.stats()["transitions"] == [[5.0, "open"], [10.0, "half_open"], [10.0, "open"], [15.0, "half_open"],
                                          [15.0, "open"], [20.0, "half_open"], [20.1, "closed"]]


SLOW = """
    name: t
    duration: 30s
    components:
      app: {type: server, workers: 1, service_time: 100ms}
    workloads:
      web:
        target: app
        arrivals: constant(rate=1/s)
        resilience:
          circuit_breaker: {mode: rate, window: 4, minimum_calls: 2, failure_rate: 100%,
                            slow_call_duration: 300ms, slow_call_rate: 50%, open_for: 5s}
    faults:
      - {type: slow, target: app, factor: 5, at: 3.5s, duration: 8.5s}
"""


def test_slow_call_trace():
    """Every call succeeds, but from 3.5s to 12s the app takes 500ms (> 300ms: slow). Window of 4:
    r4 slow (1/4), r5 slow (2/4 = 50%): opens at 5.5 although nothing failed. Trial r11 (11 >= 10.5) is
    slow: reopens at 11.5; trial r17 (17 >= 16.5) takes 100ms: closed at 17.1."""
    p, log = _trace(SLOW, 18)
    served = lambda t, end: [(end, f"app served r{t}"), (end, f"r{t} ok")]  # noqa: E731
    assert log == served(1, 1.1) + served(2, 2.1) + served(3, 3.1) + served(4, 4.5) + served(5, 5.5) + _short(
        6, 7, 8, 9, 10) + served(11, 11.5) + _short(12, 13, 14, 15, 16) + served(17, 17.1) + served(18, 18.1)
    br = p.system.guarded[0].policies["circuit_breaker"]
    s = br.stats()
    assert s["calls"] == 8 and s["short_circuited"] == 10 and s["slow_calls"] == 3
    assert s["transitions"] == [[5.5, "open"], [11.0, "half_open"], [11.5, "open"], [17.0, "half_open"],
                                [17.1, "closed"]]


class _Env:
    def __init__(self) -> None:
        self._now = 0.0


def test_time_window_forgets_calls_answered_before_it():
    sent = []
    env = _Env()
    br = CircuitBreaker(CircuitBreakerConfig(mode="rate", window="10s", minimum_calls=2, failure_rate="60%"),
                        lambda req, reply: sent.append(reply), env, "x")
    for t, outcome in ((0.0, ERROR), (5.0, OK), (10.0, ERROR)):  # at 10: (0, 10] holds ok, error: 50%
        env._now = t
        br.send(None, lambda o: None)
        sent[-1](outcome)
    assert br.state == "closed" and len(br.recent) == 2
    env._now = 10.5
    br.send(None, lambda o: None)
    sent[-1](ERROR)  # (0.5, 10.5]: ok, error, error: 67%
    assert br.state == "open"


@pytest.mark.parametrize("policy, expect", [
    ("{mode: rate, slow_call_duration: 1s, slow_call_rate: 150%}", "slow_call_rate"),
    ("{mode: rate, slow_call_duration: -1s}", "slow_call_duration"),
    ("{mode: rate, slow_call_duration: 1s, slow_call_rate: 0%}", "slow_call_rate"),
    ("{slow_call_duration: 1s}", "mode: rate"),
    ("{mode: rate, window: -3s}", "window"),
    ("{mode: rate, window: 0s}", "window"),
    ("{mode: rate, window: 0}", "window"),
])
def test_bad_breaker_input_is_one_located_line(policy, expect):
    msg = policy_error(f"circuit_breaker: {policy}")
    assert "workloads.web.resilience.circuit_breaker" in msg and expect in msg
