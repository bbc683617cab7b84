"""Request records take bounded memory: compact chunks, spilled to a temporary file past a bound.

The bound is made tiny here (chunks of 500 rows, 2 kept in memory) so a short run spills; a spilled
run must give the same counts, means, request rows and time-series counts as one held in memory,
and percentiles within the sketch's documented relative error.
"""
from __future__ import annotations

import math
import pickle
import textwrap

import numpy as np
import pandas as pd
import pytest

import simulator
import simulator.engine.recorder as recorder

TEXT = """
name: spill
seed: 5
duration: 120s
warmup: 10s
metrics: {bucket: 5s}
network: {default_latency: exponential(mean=2ms), timeout: 2s}
components:
  app: {type: server, workers: 3, service_time: exponential(mean=20ms), queue_capacity: 30}
workloads:
  web: {arrivals: poisson(rate=120/s), target: app, mix: {read: 0.7, write: 0.3}, timeout: 100ms}
"""
CHUNK, KEPT = 500, 2


@pytest.fixture(scope="module")
def pair():
    sc = simulator.loads_scenario(textwrap.dedent(TEXT))
    exact = simulator.run(sc)
    patch = pytest.MonkeyPatch()
    patch.setattr(recorder, "CHUNK_ROWS", CHUNK)
    patch.setattr(recorder, "MEMORY_CHUNKS", KEPT)
    try:
        spilled = simulator.run(sc)
        again = simulator.run(sc)
    finally:
        patch.undo()
    return exact, spilled, again


def test_the_recorder_holds_at_most_its_bound_in_memory(pair):
    _exact, spilled, _ = pair
    rec = spilled.records
    assert len(rec) > 10 * CHUNK * KEPT  # the run is much longer than the bound...
    assert rec.spills and len(rec.spilled) >= 10 * KEPT  # ...so most chunks went to the file
    assert rec.chunks_in_memory() == KEPT
    assert len(rec.start) <= CHUNK
    bound = KEPT * CHUNK * recorder.ROW_BYTES + CHUNK * recorder.LIST_ROW_BYTES  # sealed chunks + the one filling
    assert rec.memory_bytes() <= bound + 17 * len(rec._late_id)
    assert len(rec._late_id) < len(rec) / 10  # answers after their chunk was sealed are few


def test_a_run_that_fits_its_bound_is_not_spilled(pair):
    exact, _spilled, _ = pair
    assert exact.exact and not exact.records.spills


def test_a_spilled_run_keeps_counts_means_and_rows_and_percentiles_within_the_sketch_error(pair):
    from simulator.results.sketch import RELATIVE_ERROR

    exact, spilled, _ = pair
    a, b = exact.summary, spilled.summary
    assert not spilled.exact
    assert a["requests"] == b["requests"] and a["requests"]["timed_out"] > 0
    for part in ("workloads", "operations"):
        for name in a[part]:
            x, y = a[part][name], b[part][name]
            assert {k: v for k, v in x.items() if k != "latency_s"} == {k: v for k, v in y.items() if k != "latency_s"}
    for x, y in [(a["latency_s"], b["latency_s"])] + [(a["operations"][n]["latency_s"], b["operations"][n]["latency_s"])
                                                     for n in a["operations"]]:
        assert y["max"] == x["max"]
        assert y["mean"] == pytest.approx(x["mean"], rel=1e-12)
        for k in ("p50", "p90", "p95", "p99", "p999"):
            assert abs(y[k] - x[k]) <= RELATIVE_ERROR * x[k] * 1.000001, (k, x[k], y[k])
    pd.testing.assert_frame_equal(exact.requests, spilled.requests)


def test_a_spilled_run_has_the_same_time_series_counts(pair):
    from simulator.results.sketch import RELATIVE_ERROR

    exact, spilled, _ = pair
    x, y = exact.timeseries, spilled.timeseries
    for col in x.columns:
        if col.startswith("latency_"):
            assert np.allclose(y[col], x[col], rtol=RELATIVE_ERROR * 1.000001, atol=0, equal_nan=True), col
        else:
            pd.testing.assert_series_equal(x[col], y[col])


def test_a_spilled_run_is_deterministic(pair):
    _exact, spilled, again = pair
    assert spilled.to_json() == again.to_json()


def test_write_requests_streams_row_groups_equal_to_the_frame(pair, tmp_path):
    import pyarrow.parquet as pq

    exact, spilled, _ = pair
    for result, name in ((exact, "exact.parquet"), (spilled, "spilled.parquet")):
        path = tmp_path / name
        result.write_requests(path)
        back = pd.read_parquet(path)
        pd.testing.assert_frame_equal(back, exact.requests)
    assert pq.ParquetFile(tmp_path / "spilled.parquet").num_row_groups > 10


def test_a_pickled_spilled_result_carries_its_records(pair):
    _exact, spilled, _ = pair
    copy = pickle.loads(pickle.dumps(spilled))
    assert not copy.records.spills
    assert copy.summary["requests"] == spilled.summary["requests"]
    pd.testing.assert_frame_equal(copy.requests, spilled.requests)


def test_the_sketch_reads_percentiles_within_its_relative_error():
    from simulator.results.sketch import RELATIVE_ERROR, LatencySketch

    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(-4, 1.5, 50_000), np.zeros(100), [1e-12, 3600.0]])
    sk = LatencySketch()
    for part in np.array_split(values, 7):  # merged chunk by chunk
        sk.add(part)
    qs = [0, 1, 25, 50, 90, 99, 99.9, 100]
    for q, got in zip(qs, sk.percentiles(qs)):
        want = float(np.percentile(values, q))
        assert abs(got - want) <= max(RELATIVE_ERROR * want * 1.000001, 1e-9), (q, want, got)
    assert sk.n == values.size and sk.hi == 3600.0 and sk.lo == 0.0
    assert math.isclose(sk.mean, values.mean(), rel_tol=1e-12)
