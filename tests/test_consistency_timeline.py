"""Errors, stale reads and violations over time (consistency_timeline.png, `Result.anomalies_over_time`)
and the PACELC figures without a partition (`Result.outside_faults`, `cap.read_p99_s`/`cap.write_p99_s`):
docs/consistency.md, "Over time" and "The CAP chart"."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

import simulator
from reports import violation_charts
from simulator.consistency import check
from simulator.consistency.history import Event, pair
from simulator.engine.request import ERROR, OK
from simulator.results.impact import outside_faults
from simulator.study.run_figures import cap_figures, run_record

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "cap-partition.yaml"
PARTITION = (15.4, 30.4)  # the scenario's partition window


@pytest.fixture(scope="module")
def ap():
    """cap-partition's async+failover store (40 simulated seconds, about a second): a split brain
    during the partition, linearizable before it."""
    return simulator.run(simulator.load_scenario(SCENARIO, overrides=["workloads.clients.target=ap"]))


def _figure(fn, result, tmp_path, monkeypatch):
    figures = []
    saved = violation_charts.plt.Figure.savefig
    monkeypatch.setattr(violation_charts.plt.Figure, "savefig",
                        lambda fig, path, *a, **kw: (figures.append(fig), saved(fig, path, *a, **kw))[1])
    paths = fn(result, tmp_path)
    return (figures[0] if figures else None), paths


def _line(ax, label_start):
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return lines[0]


# ---- anomalies over time ---------------------------------------------------------------------------

def test_anomalies_per_bucket_count_every_anomaly_the_summary_counts(ap):
    found = ap.anomalies_over_time()
    ts = ap.timeseries
    assert list(found["end_s"]) == list(ts["end_s"])  # the time series' buckets
    c = ap.summary["consistency"]
    assert found["stale-read"].sum() == c["checks"]["stale_reads"]["violations"] > 500
    assert set(found.columns) - {"start_s", "end_s"} == {"stale-read", "lost-write", "read-your-writes",
                                                        "monotonic-reads"}
    # Before the partition the history is linearizable: no anomaly in a bucket that ends before it;
    # every one shows in the partition or within the next bucket (a read completing just after the heal).
    for kind in ("stale-read", "lost-write", "read-your-writes", "monotonic-reads"):
        col = found[kind].to_numpy()
        assert col[found["end_s"].to_numpy() <= PARTITION[0]].sum() == 0
        assert col[found["start_s"].to_numpy() >= PARTITION[1] + ap.bucket_s].sum() == 0
        assert col.sum() > 0


def test_an_anomaly_is_placed_when_its_last_operation_completed():
    """A stale read shows when the read completed (its completion time), not when it began; so does
    the lost write it proves (write 2, never read, while that later read returned 1)."""
    events = [Event(0, "invoke", "write", 1, "x", 0.0, 0), Event(0, "ok", "write", 1, "x", 1.0, 1),
              Event(0, "invoke", "write", 2, "x", 2.0, 2), Event(0, "ok", "write", 2, "x", 3.0, 3),
              Event(1, "invoke", "read", None, "x", 4.0, 4), Event(1, "ok", "read", 1, "x", 7.5, 5)]
    report = check(pair(events, "t"), "register")
    assert report.anomalies.times == {"stale-read": [7.5], "lost-write": [7.5]}


def test_bucket_placement_follows_the_time_series_convention(ap):
    """Bucket i holds (start, end]: a time exactly on a bucket's end is in that bucket; the warm-up
    (none here: 0 s) and times after the run are left out."""
    edges = ap.timeseries["end_s"].to_numpy()
    saved = ap.anomaly_times
    try:
        ap.anomaly_times = {"stale-read": [edges[0], edges[0] + 1e-9, edges[3], 0.0, edges[-1] + 1.0]}
        col = ap.anomalies_over_time()["stale-read"].to_numpy()
    finally:
        ap.anomaly_times = saved
    assert col[0] == 1 and col[1] == 1 and col[3] == 1 and col.sum() == 3


# ---- the chart -------------------------------------------------------------------------------------

def test_the_consistency_timeline_draws_errors_stale_reads_and_violations_with_the_partition(ap, tmp_path,
                                                                                            monkeypatch):
    fig, paths = _figure(violation_charts.consistency_timeline, ap, tmp_path, monkeypatch)
    assert [p.name for p in paths] == ["consistency_timeline.png"] and paths[0].exists()
    ax_err, ax_stale, ax_viol = fig.axes[::2] if len(fig.axes) > 3 else fig.axes
    ts = ap.timeseries
    width = (ts["end_s"] - ts["start_s"]).to_numpy()
    # errors: the time series' share of failed requests, in %
    err = _line(ax_err, "failed")
    assert np.allclose(err.get_ydata(), ts["error_rate"].to_numpy() * 100.0, equal_nan=True)
    # stale reads: the store's own per-bucket count and the checker's, per second; only the store
    # that served reads (ap) is drawn
    store = _line(ax_stale, "stale reads, ap")
    assert np.allclose(np.asarray(store.get_ydata()) * width, ts["ap.stale_reads"].to_numpy())
    assert not [ln for ln in ax_stale.get_lines() if ln.get_label().startswith(("stale reads, cp", "stale reads, ev"))]
    checker = _line(ax_stale, "stale reads found by the checker")
    assert round(float(np.sum(np.asarray(checker.get_ydata()) * width))) == \
        ap.summary["consistency"]["checks"]["stale_reads"]["violations"]
    # the checker's other anomalies, per kind, and the first violation as a line at its operation's time
    found = ap.anomalies_over_time()
    for kind in ("lost-write", "read-your-writes", "monotonic-reads"):
        assert round(float(np.sum(np.asarray(_line(ax_viol, kind).get_ydata()) * width))) == found[kind].sum()
    first = _line(ax_viol, "first operation that cannot be linearized")
    assert first.get_xdata()[0] == ap.counterexample["blocked"]["invoke_time"]
    assert PARTITION[0] < first.get_xdata()[0] < PARTITION[1]
    # the partition shaded on every panel (one span each), described once in the legend
    for ax in (ax_err, ax_stale, ax_viol):
        spans = [p for p in ax.patches if p.get_x() == pytest.approx(PARTITION[0])]
        assert len(spans) == 1
    assert any("partition" in t.get_text() for t in ax_err.get_legend().get_texts())


STORE_ONLY = """
name: store-only
seed: 2
duration: 6s
network: {default_latency: 1ms}
components:
  store: {type: replicated, replicas: [db-1, db-2], mode: async, read_from: any}
  db-1: {type: database, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}
  db-2: {type: database, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}
workloads:
  web: {arrivals: poisson(rate=400/s), target: store, mix: {read: 0.7, write: 0.3}, keys: uniform(n=20)}
faults:
  - {type: latency, groups: [[db-1], [db-2]], at: 2s, duration: 2s, add: 20ms}
"""


def test_without_a_history_the_timeline_shows_the_stores_stale_reads_alone(tmp_path, monkeypatch):
    result = simulator.run(simulator.loads_scenario(textwrap.dedent(STORE_ONLY)))
    assert result.anomaly_times is None and result.anomalies_over_time().empty
    fig, paths = _figure(violation_charts.consistency_timeline, result, tmp_path, monkeypatch)
    assert paths
    ax_stale = fig.axes[1]
    ts = result.timeseries
    width = (ts["end_s"] - ts["start_s"]).to_numpy()
    line = _line(ax_stale, "stale reads, store")
    assert np.sum(np.asarray(line.get_ydata()) * width) == pytest.approx(result.summary["components"]["store"]["stale_reads"])
    # the 20 ms of extra replication lag (2-4 s) is when reads from db-2 go stale: several times the
    # rate of the rest of the run (where only the 1 ms of lag makes a few)
    during = ((ts["end_s"] > 2.0) & (ts["end_s"] <= 4.2)).to_numpy()
    stale = ts["store.stale_reads"].to_numpy()
    assert stale[during].sum() / width[during].sum() > 3 * stale[~during].sum() / width[~during].sum()
    assert not [ln for ln in ax_stale.get_lines() if "checker" in ln.get_label()]


def test_a_run_without_replicated_stores_or_history_gets_no_consistency_timeline(tmp_path, monkeypatch):
    text = STORE_ONLY.replace("type: replicated, replicas: [db-1, db-2], mode: async, read_from: any",
                              "type: database, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)")
    result = simulator.run(simulator.loads_scenario(textwrap.dedent(text)))
    assert _figure(violation_charts.consistency_timeline, result, tmp_path, monkeypatch) == (None, [])


# ---- PACELC: p99 without a partition ---------------------------------------------------------------

def test_outside_faults_keeps_successful_requests_that_never_overlapped_a_window():
    chunk = {"start": np.array([1.0, 9.0, 12.0, 20.0, 5.0, 25.0, 2.0]),
             "end": np.array([2.0, 11.0, 13.0, 25.0, 6.0, 26.0, 3.0]),
             "op": np.array([0, 0, 0, 0, 0, 1, 1], dtype=np.int16),
             "outcome": np.array([OK, OK, OK, OK, ERROR, OK, OK], dtype=np.int8)}
    windows = [{"start_s": 10.0, "end_s": 20.0}]
    got = outside_faults([chunk], windows, ["read", "write", "cas"])
    # reads: (1,2) and (20,25) only: (9,11) overlaps the window's start, (12,13) is inside, (5,6) failed
    assert got["read"] == {"requests": 2, "p99_s": pytest.approx(np.percentile([1.0, 5.0], 99))}
    assert got["write"] == {"requests": 2, "p99_s": pytest.approx(np.percentile([1.0, 1.0], 99))}
    assert "cas" not in got
    # without windows: every successful request
    assert outside_faults([chunk], [], ["read", "write"])["read"]["requests"] == 4


def _data(overrides):
    data = yaml.safe_load(SCENARIO.read_text())
    data["workloads"]["clients"]["target"] = "ap"
    data.update(overrides)
    return data


def test_the_pacelc_figures_are_the_p99_outside_the_partition(ap):
    record = run_record({"scenario": _data({}), "seed": 4})
    cols = ap.columns
    ok = cols["outcome"] == OK
    outside = ok & ((cols["end"] <= PARTITION[0]) | (cols["start"] >= PARTITION[1]))
    for op in ("read", "write"):
        code = ap.operation_names.index(op)
        sel = outside & (cols["op"] == code)
        want = float(np.percentile((cols["end"] - cols["start"])[sel], 99))
        assert record["figures"][f"cap.{op}_p99_s"] == pytest.approx(want)
        # not the whole run's p99 (what the chart showed before), which mixes in the partition's answers
        assert ap.summary["operations"][op]["latency_s"]["p99"] != pytest.approx(want, rel=1e-3)
    # without a fault the figures are the whole run's, as the summary gives them
    quiet = simulator.run(simulator.load_scenario(SCENARIO, overrides=["workloads.clients.target=ap", "faults=[]"]))
    figures = cap_figures(quiet.summary, quiet.outside_faults())
    for op in ("read", "write"):
        assert figures[f"cap.{op}_p99_s"] == quiet.summary["operations"][op]["latency_s"]["p99"]
