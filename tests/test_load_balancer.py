"""Load-balancing algorithms: unit behaviour of each strategy, and their effect in a run."""
from types import SimpleNamespace

import numpy as np
import pytest

from simulator.language import registry
from simulator.sampling.rng import mix64
from tests.helpers import run


class FakeLB:
    def __init__(self, n):
        self.outstanding = [0] * n
        self.healthy = list(range(n))


def _req(user=None, key=None, id=0):
    return SimpleNamespace(user=user, key=key, id=id)


def _make(name, n=3, weights=None):
    return registry.lb_algorithms.get(name)(n, np.random.default_rng(0), weights)


def test_round_robin_cycles_and_skips_unhealthy():
    a, lb = _make("round_robin"), FakeLB(3)
    assert [a.choose(_req(), lb) for _ in range(6)] == [0, 1, 2, 0, 1, 2]
    lb.healthy = [0, 2]
    assert {a.choose(_req(), lb) for _ in range(4)} == {0, 2}


def test_weighted_round_robin_shares_and_smoothness():
    a, lb = _make("weighted_round_robin", weights=[5, 1, 1]), FakeLB(3)
    picks = [a.choose(_req(), lb) for _ in range(70)]
    assert [picks.count(i) for i in range(3)] == [50, 10, 10]
    # smooth: the heavy backend never gets more than its share in a row (nginx's property)
    assert "0" * 6 not in "".join(map(str, picks))


def test_least_connections_picks_fewest_outstanding():
    a, lb = _make("least_connections"), FakeLB(3)
    lb.outstanding = [4, 1, 3]
    assert all(a.choose(_req(), lb) == 1 for _ in range(5))
    lb.outstanding = [2, 2, 2]
    assert {a.choose(_req(), lb) for _ in range(6)} == {0, 1, 2}  # ties rotate


def test_power_of_two_choices_never_picks_the_worse_of_its_pair():
    a, lb = _make("power_of_two_choices", n=2), FakeLB(2)
    lb.outstanding = [0, 5]
    picks = [a.choose(_req(), lb) for _ in range(200)]
    # backend 1 is chosen only when both samples are 1 (probability 1/4)
    assert 0.15 < picks.count(1) / 200 < 0.35


def test_ip_hash_is_sticky_and_stable_across_runs():
    a, b, lb = _make("ip_hash"), _make("ip_hash"), FakeLB(3)
    users = list(range(300))
    first = [a.choose(_req(user=u), lb) for u in users]
    assert first == [a.choose(_req(user=u), lb) for u in users] == [b.choose(_req(user=u), lb) for u in users]
    assert all(first.count(i) > 60 for i in range(3))
    assert mix64(12345) == 0x22118258A9D111A0  # the placement function must never change between versions


def test_least_response_time_prefers_the_fast_backend():
    a, lb = _make("least_response_time", n=2), FakeLB(2)
    for _ in range(20):
        a.observe(0, 0.010)
        a.observe(1, 0.100)
    assert all(a.choose(_req(), lb) == 0 for _ in range(5))


SCEN = """
name: lbs
seed: 4
duration: 300s
warmup: 30s
components:
  lb: {{type: load_balancer, algorithm: {algo}, backends: [a, b, c, d]}}
  a: {{type: server, workers: 1, service_time: exponential(mean=100ms)}}
  b: {{type: server, workers: 1, service_time: exponential(mean=100ms)}}
  c: {{type: server, workers: 1, service_time: exponential(mean=100ms)}}
  d: {{type: server, workers: 1, service_time: exponential(mean=100ms)}}
workloads:
  web: {{arrivals: poisson(rate=32/s), target: lb, attributes: {{user_id: 1000}}}}
"""


def test_queue_aware_algorithms_beat_random_on_the_tail():
    p99 = {a: run(SCEN, algo=a).summary["latency_s"]["p99"] for a in
           ("random", "least_connections", "power_of_two_choices")}
    # at 80% load, random splitting is 4 independent M/M/1 queues; JSQ-like policies cut the tail a lot
    assert p99["least_connections"] < 0.6 * p99["random"]
    assert p99["power_of_two_choices"] < 0.8 * p99["random"]


@pytest.mark.parametrize("algo", sorted(registry.lb_algorithms.names()))
def test_every_algorithm_runs_and_conserves(algo):
    s = run(SCEN, algo=algo).summary
    r = s["requests"]
    assert r["generated"] == r["ok"] + r["rejected"] + r["timed_out"] + r["errors"] + r["in_flight"]
    shares = s["components"]["lb"]["share"]
    assert sum(shares.values()) == pytest.approx(1.0)
