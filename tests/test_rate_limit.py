"""Admission on the callee's side: the token-bucket rate limiter (`rate_limit:`)."""
from __future__ import annotations

import math
import textwrap

import numpy as np
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


# --- the other algorithms, and per-client / per-user / per-key limits ---------------------------------

def _probe(limit: str, workers: int = 8) -> Probe:
    return Probe(f"""
        name: t
        duration: 10s
        components:
          app: {{type: server, workers: {workers}, service_time: 10ms, rate_limit: {limit}}}
        workloads:
          web: {{target: app, arrivals: constant(rate=1/s)}}
    """)


def _trace(p: Probe, sends) -> list[str]:
    """What happened, in order (service takes 10 ms: an admitted call answers `ok` 10 ms later)."""
    for t, label, *key in sends:
        p.send(t, label, key=key[0] if key else None)
    return [what for _t, what in p.run()]


def test_leaky_bucket_as_a_meter_admits_exactly_as_the_token_bucket():
    """The meter's level is burst minus the bucket's tokens: the same calls pass."""
    sends = [(0.0, "r1"), (0.1, "r2"), (0.25, "r3"), (1.05, "r4"), (1.5, "r5"), (3.5, "r6"), (3.6, "r7"), (3.7, "r8")]
    tb = _trace(_probe("{algorithm: token_bucket, rate: 1/s, burst: 2}"), sends)
    lb = _trace(_probe("{algorithm: leaky_bucket, rate: 1/s, burst: 2}"), sends)
    assert tb == lb == ["r1 ok", "r2 ok", "r3 rate_limited", "r4 ok", "r5 rate_limited", "r6 ok", "r7 ok",
                        "r8 rate_limited"]


def test_fixed_window_exact_trace_resets_at_each_window():
    out = _trace(_probe("{algorithm: fixed_window, limit: 2, window: 1s}"),
                 [(0.1, "a"), (0.2, "b"), (0.3, "c"), (0.9, "d"), (1.05, "e"), (1.1, "f"), (1.2, "g")])
    assert out == ["a ok", "b ok", "c rate_limited", "d rate_limited", "e ok", "f ok", "g rate_limited"]


def test_sliding_log_exact_trace_forgets_calls_older_than_the_window():
    # admitted 0.1 and 0.2; at 1.15 the 0.1 has left (now - 1s = 0.15 >= 0.1); at 1.18 the 0.2 has not
    out = _trace(_probe("{algorithm: sliding_log, limit: 2, window: 1s}"),
                 [(0.1, "a"), (0.2, "b"), (0.3, "c"), (1.15, "d"), (1.18, "e"), (1.25, "f")])
    assert out == ["a ok", "b ok", "c rate_limited", "d ok", "e rate_limited", "f ok"]


def test_sliding_window_counter_exact_trace_weights_the_previous_window():
    # window [0,1) admits 4 (the limit). At 1.25: 4 x 0.75 + 0 + 1 = 4 <= 4: admitted. At 1.3:
    # 4 x 0.7 + 1 + 1 = 4.8: refused. At 1.5: 4 x 0.5 + 1 + 1 = 4: admitted. At 1.6: 1.6 + 2 + 1 > 4.
    sends = [(0.1 * i, f"r{i}") for i in range(1, 6)] + [(1.25, "s1"), (1.3, "s2"), (1.5, "s3"), (1.6, "s4")]
    out = _trace(_probe("{algorithm: sliding_window, limit: 4, window: 1s}"), sends)
    assert out == ["r1 ok", "r2 ok", "r3 ok", "r4 ok", "r5 rate_limited", "s1 ok", "s2 rate_limited", "s3 ok",
                   "s4 rate_limited"]


def test_per_key_limits_each_key_apart_and_forgets_the_least_recently_used():
    sends = [(0.0, "a1", 1), (0.1, "b1", 2), (0.2, "a2", 1), (0.3, "b2", 2)]
    both = _probe("{rate: 1/s, per: key}")
    assert _trace(both, sends) == ["a1 ok", "b1 ok", "a2 rate_limited", "b2 rate_limited"]
    assert both.system.limited["app"].stats() == {"algorithm": "token_bucket", "admitted": 2, "rate_limited": 2,
                                                   "per": "key", "keys_tracked": 2, "keys_forgotten": 0}
    one = _probe("{rate: 1/s, per: key, max_keys: 1}")  # each key pushes the other out: it starts afresh
    assert _trace(one, sends) == ["a1 ok", "b1 ok", "a2 ok", "b2 ok"]
    assert one.system.limited["app"].stats()["keys_forgotten"] == 3
    glob = _probe("{rate: 1/s}")
    assert _trace(glob, sends) == ["a1 ok", "b1 rate_limited", "a2 rate_limited", "b2 rate_limited"]


WINDOWED = """
name: t
duration: {t}s
seed: {seed}
components:
  app: {{type: server, workers: 200, service_time: 1ms, rate_limit: {limit}}}
workloads:
  web: {{target: app, arrivals: poisson(rate={lam}/s)}}
"""


def _admitted_times(limit: str, lam: float, t: float = 200.0, seed: int = 5):
    res = simulator.run(simulator.loads_scenario(WINDOWED.format(t=t, seed=seed, limit=limit, lam=lam)))
    req = res.requests
    return np.sort(req.loc[req["outcome"] != "rate_limited", "start_s"].to_numpy()), res.summary


def test_fixed_window_of_one_call_accepts_with_probability_r_over_lambda_times_one_minus_exp():
    """limit 1 per window W: a window admits its first call iff it has one: P = 1 - exp(-lambda W),
    independently per window. So admitted ~ Binomial(T / W, P) and the acceptance probability is
    (r / lambda)(1 - exp(-lambda / r)) with r = 1/W. Tolerance: 4 binomial sd."""
    lam, w, t = 100.0, 0.02, 200.0
    times, s = _admitted_times("{algorithm: fixed_window, limit: 1, window: 20ms}", lam, t)
    n, p = t / w, 1 - math.exp(-lam * w)
    assert abs(len(times) - n * p) < 4 * math.sqrt(n * p * (1 - p))
    r = 1 / w
    accept = len(times) / s["requests"]["generated"]
    assert abs(accept - r / lam * (1 - math.exp(-lam / r))) < 0.02


def test_fixed_window_admits_min_of_the_arrivals_and_the_limit_in_each_window():
    """Per window: exactly min(arrivals, N), never more. With Poisson(lambda W) arrivals the mean and
    variance of min(X, N) are sums over the Poisson pmf; windows are independent: 4 sd of the total."""
    lam, n_lim, w, t = 250.0, 5, 0.02, 100.0
    times, _s = _admitted_times(f"{{algorithm: fixed_window, limit: {n_lim}, window: 20ms}}", lam, t)
    per_window = np.bincount(np.floor(times / w).astype(np.int64))
    assert per_window.max() == n_lim  # the limit is reached, never passed
    mu = lam * w
    k = np.arange(0, 200)
    pmf = np.exp(-mu + k * math.log(mu) - np.array([math.lgamma(x + 1) for x in k]))
    m = np.minimum(k, n_lim)
    mean, var = float((m * pmf).sum()), float((m * m * pmf).sum() - (m * pmf).sum() ** 2)
    windows = t / w
    assert abs(len(times) - windows * mean) < 4 * math.sqrt(windows * var)


def _max_in_any_window(times, w: float) -> int:
    """The most admitted calls in any window (t - w, t] (t at an admitted call)."""
    return int((np.arange(len(times)) - np.searchsorted(times, times - w, side="right") + 1).max())


def test_sliding_log_never_admits_more_than_the_limit_in_any_window_while_fixed_window_can_twice():
    n_lim, lam = 10, 400.0
    log, _ = _admitted_times(f"{{algorithm: sliding_log, limit: {n_lim}, window: 100ms}}", lam, t=50.0)
    assert _max_in_any_window(log, 0.1 - 1e-9) == n_lim  # -1e-9: a call exactly `window` later is outside
    # Under overload each of the N places in the log is taken again by the first call after it frees,
    # W + Exp(lambda) after it was taken: about N / (W + 1/lambda) a second (97.6/s, not N/W = 100/s;
    # approximate when two places free within one wait, hence 2%)
    assert abs(len(log) / 50.0 - n_lim / (0.1 + 1 / lam)) < 0.02 * n_lim / 0.1
    fixed, _ = _admitted_times(f"{{algorithm: fixed_window, limit: {n_lim}, window: 100ms}}", lam, t=50.0)
    assert n_lim < _max_in_any_window(fixed, 0.1 - 1e-9) <= 2 * n_lim  # bursts across a window's edge


def test_sliding_window_counter_stays_within_the_limit_per_window_and_near_its_rate():
    """Each fixed window admits at most N (the weighted previous count is never negative); under
    overload a window admits about N - 1 (the last call would need the previous window's weight to
    have fallen to 0), so the long-run rate lies between (N - 1) / W and N / W."""
    n_lim, w, t = 10, 0.1, 50.0
    times, _ = _admitted_times(f"{{algorithm: sliding_window, limit: {n_lim}, window: 100ms}}", 400.0, t)
    assert np.bincount(np.floor(times / w).astype(np.int64)).max() <= n_lim
    assert (n_lim - 1) / w * t * 0.98 <= len(times) <= n_lim / w * t


def test_token_bucket_long_run_rate_is_r_within_its_burst():
    """With lambda = 2r and burst b: admitted = b + r T - tokens left - refill lost while full. The
    bucket is full only after b/r s without a call (probability exp(-lambda b / r) = e^-40 per
    refill): admitted lies in [r T - 1, r T + b] (tokens left in [0, b])."""
    s = _summary(RL.format(seed=9, r=50, b=20, lam=100))["rate_limits"]["app"]
    assert 50 * 200 - 1 <= s["admitted"] <= 50 * 200 + 20
    under = _summary(RL.format(seed=9, r=200, b=20, lam=100))
    gen = under["requests"]["generated"]  # Poisson(lambda T): within 4 sd of lambda T; nearly all admitted
    assert abs(gen - 100 * 200) < 4 * math.sqrt(100 * 200)
    assert under["rate_limits"]["app"]["admitted"] >= gen - 5


def test_per_client_and_per_user_limits_give_each_its_own_rate():
    s = _summary("""
        name: t
        duration: 100s
        seed: 4
        components:
          app: {type: server, workers: 100, service_time: 1ms, rate_limit: {rate: 20/s, burst: 5, per: client}}
          api: {type: server, workers: 100, service_time: 1ms, rate_limit: {rate: 2/s, burst: 1, per: user}}
        workloads:
          big: {target: app, arrivals: poisson(rate=60/s)}
          small: {target: app, arrivals: poisson(rate=10/s)}
          users: {target: api, arrivals: poisson(rate=100/s), attributes: {user_id: 5}}
    """)
    # per client: the big one is held to 20/s (+ its burst), the small one (10/s < 20/s) barely touched
    big, small = s["workloads"]["big"]["requests"], s["workloads"]["small"]["requests"]
    assert 20 * 100 - 1 <= big["ok"] + big["in_flight"] <= 20 * 100 + 5
    assert small.get("rate_limited", 0) < 0.01 * small["generated"]
    # per user: 5 users, each with its own burst-1 bucket of 2/s and Poisson arrivals of 20/s (the
    # user ids are uniform): each admits a renewal process of gaps 1/r + Exp(lambda_u), as above;
    # the 5 are independent: 4 sd of the sum of their counts.
    users = s["workloads"]["users"]["requests"]
    lam_u, r, t = 20.0, 2.0, 100.0
    mu, var = 1 / r + 1 / lam_u, 1 / lam_u**2
    assert abs(users["ok"] + users["in_flight"] - 5 * t / mu) < 4 * math.sqrt(5 * t * var / mu**3)
    assert s["rate_limits"]["api"]["keys_tracked"] == 5 and s["rate_limits"]["api"]["per"] == "user"


@pytest.mark.parametrize("limit, expect", [
    ("{algorithm: fixed_window}", "'limit' is required"),
    ("{algorithm: sliding_log, limit: 5, rate: 3/s}", "'rate' does not apply"),
    ("{algorithm: sliding_window, limit: 5, window: -1s}", "window"),
    ("{algorithm: leaky_bucket, rate: 0/s}", "rate"),
    ("{algorithm: sliding_windw, limit: 5}", "did you mean 'sliding_window'"),
    ("{rate: 5/s, per: usr}", "did you mean 'user'"),
    ("{rate: 5/s, max_keys: 10}", "max_keys"),
    ("{rate: 5/s, per: key, max_keys: 0}", "max_keys"),
])
def test_bad_rate_limit_algorithms_and_scopes_are_one_located_line(limit, expect):
    test_bad_rate_limit_is_one_located_line(limit, expect)
