"""Confidence intervals, paired differences, and the MSER-5 warm-up rule."""
import numpy as np
import pytest

import simulator
from simulator.statistics.inference import mean_interval, paired_difference, unpaired_difference
from simulator.statistics.warmup import mser
from tests.helpers import scenario


def test_t_interval_covers_the_mean_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    trials = 2000
    covered = sum(mean_interval(rng.normal(3.0, 2.0, 8)).excludes(3.0) is False for _ in range(trials))
    # binomial standard deviation of the coverage over `trials` intervals; 3 of them either side
    sd = np.sqrt(0.95 * 0.05 / trials)
    assert abs(covered / trials - 0.95) <= 3 * sd


def test_interval_of_one_value_has_no_width_and_nan_is_ignored():
    iv = mean_interval([2.0, float("nan")])
    assert iv.mean == 2.0 and iv.n == 1 and np.isnan(iv.half_width) and not iv.excludes(0.0)


def test_pairing_removes_the_shared_noise():
    rng = np.random.default_rng(5)
    common = rng.normal(100.0, 10.0, 20)  # what the shared seeds make both variants see
    a = common + rng.normal(0.0, 0.5, 20)
    b = common + 1.0 + rng.normal(0.0, 0.5, 20)
    paired, unpaired = paired_difference(b, a), unpaired_difference(b, a)
    assert paired.half_width < unpaired.half_width / 5
    assert paired.excludes(0.0) and not unpaired.excludes(0.0)
    assert paired.mean == pytest.approx(unpaired.mean)


def test_mser_finds_a_known_transient():
    rng = np.random.default_rng(2)
    transient = np.linspace(20.0, 1.0, 500) + rng.normal(0, 0.5, 500)
    steady = 1.0 + rng.normal(0, 0.5, 5000)
    cut = mser(np.concatenate([transient, steady]))
    assert cut.steady and 350 <= cut.observations <= 550


def test_mser_keeps_a_stationary_series_whole():
    cut = mser(np.random.default_rng(4).exponential(1.0, 5000))
    assert cut.steady and cut.observations < 250


def test_mser_reports_no_steady_state_on_a_drifting_series():
    cut = mser(np.linspace(0.0, 100.0, 5000) + np.random.default_rng(1).normal(0, 1, 5000))
    assert not cut.steady


TRANSIENT = """
name: overload-then-calm
seed: 4
duration: 1500s
warmup: auto
components:
  app: {type: server, workers: 1, service_time: exponential(mean=100ms)}
workloads:
  c:
    arrivals: {process: schedule, steps: [{at: 0s, rate: 14/s}, {at: 100s, rate: 5/s}]}
    target: app
"""


def test_warmup_auto_skips_the_initial_overload():
    # 100 s at 14/s into a server that does 10/s leaves ~400 waiting, drained at ~5/s: ~180 s.
    res = simulator.run(scenario(TRANSIENT))
    auto = res.summary["warmup_auto"]
    assert res.summary["warmup_s"] == auto["chosen_s"]
    assert 120.0 <= auto["chosen_s"] <= 400.0 and auto["steady_state"]
    # what is left is the calm M/M/1 at rho = 0.5: mean latency 1/(10 - 5) = 0.2 s, far below the transient's
    assert res.summary["latency_s"]["mean"] < 0.4
    assert simulator.run(scenario(TRANSIENT)).to_json() == res.to_json()


def test_warmup_auto_is_accepted_and_a_word_is_not(tmp_path):
    from tests.helpers import assert_bad
    from tests.test_bad_input import GOOD

    assert_bad(tmp_path, GOOD.replace("warmup: 10s", "warmup: automatic"), "warmup", "'auto'")
