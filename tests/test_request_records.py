"""Request records rich enough to analyse (requests.parquet): key, user and region when drawn,
attempts when retries exist, and for each failure its cause and component, under the matching fault."""
import textwrap

import numpy as np
import pandas as pd
import pytest

import simulator
from simulator.engine.request import CAUSE_NAMES

BASE_COLUMNS = ["id", "workload", "operation", "start_s", "end_s", "latency_s", "outcome"]


def _run(text: str) -> simulator.Result:
    return simulator.run(simulator.loads_scenario(textwrap.dedent(text)))


def _causes(df: pd.DataFrame, lo: float = -np.inf, hi: float = np.inf) -> dict[tuple[str, str, str], int]:
    """(outcome, cause, component) -> rows, of the failed requests that finished in [lo, hi)."""
    failed = df[(df.outcome != "ok") & (df.outcome != "in_flight") & (df.end_s >= lo) & (df.end_s < hi)]
    counts = failed.groupby(["outcome", "cause", "component"], observed=True).size()
    return {k: int(v) for k, v in counts.items()}


CHAIN = """
name: chain
seed: 3
duration: 60s
warmup: 0s
network: {{default_latency: 1ms, timeout: {net_timeout}}}
components:
  lb: {{type: load_balancer, backends: [app]}}
  app: {{type: server, replicas: 2, workers: 4, service_time: exponential(mean=5ms), calls: [db]}}
  db: {{type: server, workers: 8, service_time: exponential(mean=2ms)}}
workloads:
  web: {{arrivals: poisson(rate=100/s), target: lb{client}}}
faults:
{faults}
"""


def test_a_crash_fails_requests_with_cause_down_at_the_crashed_component():
    r = _run(CHAIN.format(net_timeout="1s", client="", faults="  - {type: crash, target: db, at: 20s, duration: 10s}"))
    df = r.requests
    assert list(df.columns) == BASE_COLUMNS + ["cause", "component", "fault", "fault_description"]  # nothing drawn, no retry
    during = _causes(df, 20.0, 30.0)
    assert set(during) <= {("error", "down", "db"), ("error", "crashed", "db")}
    assert during[("error", "down", "db")] > 500  # ~100/s for 10 s, refused by the crashed db
    assert _causes(df, 0.0, 20.0) == {} and _causes(df, 30.1, 60.0) == {}  # nothing fails outside
    ok = df[df.outcome == "ok"]
    assert (ok.cause == "none").all() and ok.component.isna().all()


def test_a_partition_times_out_with_cause_cut_and_a_shorter_client_timeout_wins():
    faults = "  - {type: partition, groups: [[app], [db]], at: 20s, duration: 10s}"
    r = _run(CHAIN.format(net_timeout="500ms", client="", faults=faults))
    during = _causes(r.requests, 20.0, 31.0)
    assert set(during) == {("timed_out", "cut", "db")}
    # A client timeout (200 ms) shorter than the network's (500 ms) answers first: its own cause.
    r = _run(CHAIN.format(net_timeout="500ms", client=", timeout: 200ms", faults=faults))
    during = _causes(r.requests, 20.0, 31.0)
    assert set(during) == {("timed_out", "client_timeout", "web")}


def test_packet_loss_gives_cause_lost():
    faults = "  - {type: packet_loss, groups: [[app], [db]], probability: 50%, at: 20s, duration: 10s}"
    r = _run(CHAIN.format(net_timeout="300ms", client="", faults=faults))
    during = _causes(r.requests, 20.0, 30.5)
    assert set(during) == {("timed_out", "lost", "db")}
    # Half the calls (or their replies) are lost; the call and the reply each cross once: 1 - 0.5^2.
    n = ((r.requests.end_s >= 20.3) & (r.requests.end_s < 30.0)).sum()
    assert during[("timed_out", "lost", "db")] / n == pytest.approx(0.75, abs=0.05)


def test_a_full_queue_a_server_timeout_and_a_crash_in_service_each_have_their_cause():
    text = """
    name: q
    seed: 1
    duration: 40s
    warmup: 0s
    network: {default_latency: 0ms}
    components:
      app: {type: server, workers: 1, service_time: 50ms, queue_capacity: 3}
      slow: {type: server, workers: 1, service_time: 50ms, timeout: 120ms}
    workloads:
      a: {arrivals: poisson(rate=40/s), target: app}
      b: {arrivals: poisson(rate=40/s), target: slow}
    faults:
      - {type: crash, target: app, at: 20s, duration: 1s}
    """
    df = _run(text).requests
    a, b = df[df.workload == "a"], df[df.workload == "b"]
    ca = _causes(a)
    assert ca[("rejected", "queue_full", "app")] > 100  # 2x overloaded: the queue is full most of the time
    assert ("error", "crashed", "app") in ca and ("error", "down", "app") in ca  # the crash at 20 s
    assert set(_causes(b)) == {("timed_out", "server_timeout", "slow")}
    # Each cause matches its window: crash causes only from 20 s to 21 s.
    crash_rows = a[a.cause.isin(["crashed", "down"])]
    assert crash_rows.end_s.min() >= 20.0 and crash_rows.end_s.max() < 21.0


def test_policy_refusals_rate_limit_breaker_bulkhead_and_call_timeout():
    text = """
    name: p
    seed: 2
    duration: 30s
    warmup: 0s
    network: {default_latency: 0ms}
    components:
      limited: {type: server, workers: 4, service_time: 1ms, rate_limit: {rate: 10/s, burst: 2}}
      flaky: {type: server, workers: 4, service_time: 1ms}
      busy: {type: server, workers: 100, service_time: 2s}
      slowpoke: {type: server, workers: 100, service_time: 300ms}
    workloads:
      a: {arrivals: poisson(rate=30/s), target: limited}
      b: {arrivals: poisson(rate=20/s), target: flaky,
          resilience: {circuit_breaker: {failure_threshold: 3, open_for: 5s}}}
      c: {arrivals: poisson(rate=20/s), target: busy, resilience: {bulkhead: {max_concurrent: 5}}}
      d: {arrivals: poisson(rate=20/s), target: slowpoke, resilience: {timeout: 100ms}}
    faults:
      - {type: crash, target: flaky, at: 10s, duration: 10s}
    """
    df = _run(text).requests
    by = {w: _causes(df[df.workload == w]) for w in "abcd"}
    assert set(by["a"]) == {("rate_limited", "rate_limited", "limited")}
    assert set(by["b"]) == {("error", "down", "flaky"), ("short_circuited", "open_breaker", "b->flaky")}
    assert set(by["c"]) == {("rejected", "bulkhead_full", "c->busy")}
    assert set(by["d"]) == {("timed_out", "call_timeout", "d->slowpoke")}


def test_attributes_are_recorded_and_absent_ones_are_minus_one():
    text = """
    name: attrs
    seed: 4
    duration: 100s
    warmup: 10s
    network: {default_latency: 0ms}
    components:
      app: {type: server, workers: 50, service_time: 1ms}
    workloads:
      web:
        arrivals: poisson(rate=50/s)
        target: app
        keys: {dist: uniform, n: 100}
        attributes: {user_id: "1000..1009", region: {eu: 25%, us: 75%}}
      batch: {arrivals: poisson(rate=10/s), target: app}
    """
    df = _run(text).requests
    assert list(df.columns) == BASE_COLUMNS + ["key", "user", "region", "cause", "component", "fault"]  # no faults: no fault_description
    web, batch = df[df.workload == "web"], df[df.workload == "batch"]
    assert web.key.between(0, 99).all() and web.key.nunique() == 100
    assert web.user.between(1000, 1009).all() and web.user.nunique() == 10
    assert (batch.key == -1).all() and (batch.user == -1).all() and batch.region.isna().all()
    # ~4,500 requests from web; the share from eu is binomial: sd = sqrt(.25 x .75 / n) ~ 0.0065; 4 sd.
    assert (web.region == "eu").mean() == pytest.approx(0.25, abs=0.026)
    assert set(web.region.cat.categories) == {"eu", "us"}


def test_attempts_add_up_to_the_retry_policys_count_under_a_crash():
    text = """
    name: retries
    seed: 6
    duration: 60s
    warmup: 0s
    network: {default_latency: 1ms}
    components:
      app: {type: server, workers: 8, service_time: exponential(mean=5ms)}
    workloads:
      web:
        arrivals: poisson(rate=50/s)
        target: app
        resilience: {retry: {max_attempts: 3, retry_on: [error], backoff: constant, base: 2s}}
    faults:
      - {type: crash, target: app, at: 20s, duration: 3s}
    """
    r = _run(text)
    df = r.requests
    assert "attempts" in df.columns
    retry = r.summary["resilience"]["web->app"]["retry"]
    assert int((df.attempts - 1).sum()) == retry["retries"]  # every retry counted on its request
    assert int(df.attempts.sum()) == retry["attempts"]
    # A request issued in the crash (20-23 s) is refused (`down`) and retried 2 s later: issued in
    # 20-21 s it meets the crash again and succeeds on its third attempt (at +4 s); issued in 21-23 s
    # its first retry (23-25 s) succeeds. Before and after, one attempt. (Margins of 10 ms for the
    # 1 ms hops and the 5 ms service.)
    def att(lo, hi):
        return set(df[(df.start_s >= lo) & (df.start_s < hi)].attempts)
    assert att(0, 19.9) == {1} and att(23.01, 60) == {1}
    assert att(20.01, 20.99) == {3} and att(21.01, 22.99) == {2}
    assert (df[(df.start_s >= 20.01) & (df.start_s < 22.99)].outcome == "ok").all()  # all recovered
    assert (df.attempts.mean() - 1) == pytest.approx(retry["retries"] / len(df))


def test_a_run_where_nothing_fails_keeps_no_failure_log():
    text = """
    name: calm
    seed: 8
    duration: 30s
    warmup: 0s
    components:
      app: {type: server, workers: 8, service_time: exponential(mean=5ms)}
    workloads:
      web: {arrivals: poisson(rate=100/s), target: app}
    """
    r = _run(text)
    rec = r.records
    assert len(rec.fail_row) == 0 and not rec.why and not rec.retried and rec.attrs == ()
    assert (r.requests.cause == "none").all()
    assert list(r.requests.cause.cat.categories) == list(CAUSE_NAMES)


def test_the_parquet_file_has_every_column(tmp_path):
    r = _run(CHAIN.format(net_timeout="1s", client="", faults="  - {type: crash, target: db, at: 20s, duration: 10s}"))
    path = tmp_path / "requests.parquet"
    r.write_requests(path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, r.requests)
    assert (back.cause == "down").sum() > 0


REPLAY = """
name: replay
seed: 9
duration: 60s
warmup: 5s
network: {default_latency: 0ms}
components:
  app: {type: server, workers: 50, service_time: 1ms}
workloads:
  web:
    arrivals: poisson(rate=60/s)
    target: app
    keys: {dist: zipf, n: 1000, s: 1.1}
    attributes: {user_id: 500, region: {eu: 30%, us: 50%, ap: 20%}}
  api:
    arrivals: poisson(rate=40/s)
    target: app
    keys: {dist: uniform, n: 50}
  loop:
    users: 5
    think_time: exponential(mean=200ms)
    target: app
    attributes: {user_id: 100}
"""


@pytest.mark.parametrize("spill,spike", [(False, False), (True, False), (False, True)])
def test_replayed_attributes_are_exactly_what_each_request_carried(monkeypatch, spill, spike):
    """Keys, users and regions are not stored on the hot path but replayed from their streams after
    the run: they must equal what each request object carried, row by row, across sealed and
    spilled chunks and after the warm-up cut."""
    import simulator.engine.recorder as recorder
    import simulator.workload.clients as clients

    seen = {}

    class Spy(clients.ClientRequest):
        __slots__ = ()

        def __init__(self, id, t0, wl, op, key, user, region, src):
            super().__init__(id, t0, wl, op, key, user, region, src)
            seen[id] = (key, user, region)

    monkeypatch.setattr(clients, "ClientRequest", Spy)
    if spill:
        monkeypatch.setattr(recorder, "CHUNK_ROWS", 700)
        monkeypatch.setattr(recorder, "MEMORY_CHUNKS", 2)
    # A load spike changes when requests arrive, not which attributes each draws (its own streams).
    r = _run(REPLAY + ("faults:\n  - {type: load_spike, target: [web, api], at: 20s, duration: 15s, factor: 3}\n"
                       if spike else ""))
    assert r.exact != spill
    df = r.requests
    assert list(df.columns) == BASE_COLUMNS + ["key", "user", "region", "cause", "component", "fault"] + (["fault_description"] if spike else [])
    want = pd.DataFrame([seen[i] for i in df.id], columns=["key", "user", "region"])
    assert (df.key.to_numpy() == want.key.fillna(-1).to_numpy()).all()
    assert (df.user.to_numpy() == want.user.fillna(-1).to_numpy()).all()  # the loop's: its user number
    assert (df.region.astype(object).fillna("-").to_numpy() == want.region.fillna("-").to_numpy()).all()
    assert set(df[df.workload == "loop"].user) == set(range(5))
    # The same rows come out of the file, written chunk by chunk, and out of a pickled result.
    import pickle
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(r)).requests, df)
