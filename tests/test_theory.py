"""dsim agrees with queueing theory, within the run's own 99% confidence interval (batch means).

Each test runs one long simulation with a fixed seed, takes the per-request waits in time order,
and checks the closed form lies within the batch-means confidence interval of the simulated mean.
"""
import pytest

import simulator
from tests import theory


def _run(components: str, rate: str, duration: str = "20000s", warmup: str = "1000s", seed: int = 3):
    text = f"""
name: theory
seed: {seed}
duration: {duration}
warmup: {warmup}
components:
{components}
workloads:
  clients:
    arrivals: poisson(rate={rate})
    target: app
"""
    return simulator.run(simulator.loads_scenario(text))


def _waits(result, service_mean=None):
    """Per-request time in queue (response time minus service time is not observable per request,
    so theory is compared on the response time: W = Wq + E[S])."""
    req = result.requests
    ok = req[req["outcome"] == "ok"].sort_values("start_s")
    return ok["latency_s"].to_numpy()


def _check(result, expected_response_s):
    mean, half = theory.batch_means_ci(_waits(result))
    assert abs(mean - expected_response_s) <= half, (mean, half, expected_response_s)
    # the interval must be informative, not so wide that anything passes
    assert half < 0.1 * expected_response_s


def test_mm1_response_time():
    lam, mu = 0.7, 1.0
    res = _run("  app: {type: server, workers: 1, service_time: exponential(mean=1s)}", "0.7/s", duration="200000s")
    _check(res, theory.mmc_wait(lam, mu, 1) + 1 / mu)


def test_mmc_erlang_c():
    lam, mu, c = 7.2, 1.0, 8
    res = _run("  app: {type: server, workers: 8, service_time: exponential(mean=1s)}", "7.2/s", duration="60000s")
    _check(res, theory.mmc_wait(lam, mu, c) + 1 / mu)


def test_md1():
    lam, d = 0.7, 1.0
    res = _run("  app: {type: server, workers: 1, service_time: constant(value=1s)}", "0.7/s", duration="40000s")
    _check(res, theory.md1_wait(lam, d) + d)


def test_mg1_pollaczek_khinchine():
    # uniform(0.2s, 1.8s): mean 1s, E[S^2] = var + mean^2 = (1.6^2)/12 + 1
    lam = 0.75
    second = 1.6 ** 2 / 12 + 1.0
    res = _run("  app: {type: server, workers: 1, service_time: uniform(min=0.2s, max=1.8s)}", "0.75/s",
               duration="60000s")
    _check(res, theory.mg1_wait(lam, 1.0, second) + 1.0)


@pytest.mark.parametrize("workers,room", [(2, 3), (3, 0)])
def test_mmck_blocking(workers, room):
    lam, mu = 2.5, 1.0
    res = _run(f"  app: {{type: server, workers: {workers}, queue_capacity: {room}, service_time: exponential(mean=1s)}}",
               "2.5/s")
    req = res.requests.sort_values("start_s")
    blocked = (req["outcome"] == "rejected").to_numpy(dtype=float)
    mean, half = theory.batch_means_ci(blocked)
    expected = theory.mmck_blocking(lam, mu, workers, workers + room)
    assert abs(mean - expected) <= half, (mean, half, expected)


def test_littles_law_per_component():
    res = _run("  app: {type: server, workers: 2, service_time: exponential(mean=1s)}", "1.6/s")
    comp = res.summary["components"]["app"]
    measured = res.duration_s - res.warmup_s
    lam = comp["served"] / measured
    # L_q = lambda * W_q, with the time-average queue length measured independently of the waits
    assert comp["queue_length_mean"] == pytest.approx(lam * comp["wait_s_mean"], rel=0.02)
    # and utilisation = lambda * E[S] / c
    assert comp["utilization"] == pytest.approx(lam * 1.0 / 2, rel=0.02)
