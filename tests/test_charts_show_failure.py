"""Charts that show failure (issue 10): fault windows labelled with their own description, instant
events marked on every time chart, the error/timeout rate and the latency of every finished request
beside that of successful ones, plain millisecond ticks, a tail view, replication lag on a log axis
with stale reads, bar labels and legends that cover nothing, variant labels without `key=`.

Checked on the matplotlib figures themselves (scales, tick labels, legend texts, patches, lines),
captured as the chart functions save them, on short runs of the ready scenarios with faults.
"""
import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import simulator
from reports import charts, comparison_charts
from reports.files import write_run
from simulator.results.result import Result
from simulator.study.comparison import compare
from simulator.study.sweep import parse_axis
from tests.helpers import scenario

# Three-tier, shorter and lighter, still past its crash (120-180 s) and its partition (300-330 s).
THREE_TIER = ["duration=360s", "warmup=20s", "workloads.web.arrivals.rate=100/s"]
PLAIN = re.compile(r"^[0-9][0-9,]*(\.[0-9]+)?$|^0\.[0-9]+$")


@pytest.fixture
def figures(monkeypatch):
    """Every figure saved during the test, by file name (the figure object, closed but intact)."""
    saved_figs: dict[str, object] = {}
    saved = charts.plt.Figure.savefig

    def savefig(fig, path, *a, **kw):
        out = saved(fig, path, *a, **kw)  # draws it: legend and text positions are final
        saved_figs[getattr(path, "name", str(path))] = fig
        return out

    monkeypatch.setattr(charts.plt.Figure, "savefig", savefig)
    return saved_figs


@pytest.fixture(scope="module")
def three_tier():
    return simulator.run(simulator.load_scenario("scenarios/three-tier.yaml", overrides=THREE_TIER))


def _legend(ax):
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def _bands(ax):
    return [p for p in ax.patches if type(p).__name__ in ("Polygon", "Rectangle")]


def _line(ax, label):
    return next((ln for ln in ax.lines if ln.get_label() == label), None)


def _renderer(fig):
    """A renderer for a figure closed after saving: drawn again, positions final."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _clear_of_plot(fig):
    """Each legend's box lies outside its axes' box (it covers no curve)."""
    r = _renderer(fig)
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None:
            lb, ab = leg.get_window_extent(r), ax.get_window_extent(r)
            assert lb.x0 >= ab.x1 - 1 or lb.y0 >= ab.y1 - 1, (ax.get_title(), lb, ab)


# --- the run chart ------------------------------------------------------------------------------
def test_run_chart_labels_each_fault_window_with_its_description(three_tier, figures, tmp_path):
    write_run(three_tier, tmp_path)
    fig = figures["throughput_p99.png"]
    top = fig.axes[0]
    assert [t for t in _legend(top) if t.startswith("F")] == [
        "F1 crash app-1 (120-180 s)", "F2 partition app-3 | db (300-330 s)"]
    for ax in fig.axes:  # every panel shows both windows, numbered where they start
        assert len(_bands(ax)) == 2
        assert {t.get_text().strip() for t in ax.texts} >= {"F1", "F2"}
    _clear_of_plot(fig)
    # report.html's fault timeline uses the same numbers, so a band can be looked up there.
    html = (tmp_path / "report.html").read_text()
    assert re.search(r"<td>F2</td><td[^>]*>300</td><td[^>]*>330</td><td>partition app-3 \| db</td>", html)


def test_run_chart_shows_the_partition_as_errors_and_in_the_latency_of_all_requests(three_tier, figures, tmp_path):
    write_run(three_tier, tmp_path)
    fig = figures["throughput_p99.png"]
    err_ax, lat_ax = fig.axes[1], fig.axes[2]
    failed, timed_out = _line(err_ax, "failed (any cause)"), _line(err_ax, "timed out")
    assert failed is not None and timed_out is not None
    t = failed.get_xdata()
    during = (t > 302) & (t <= 330)
    before = (t > 200) & (t <= 298)
    assert np.nanmin(failed.get_ydata()[during]) > 0.3  # % of finished requests, every bucket of the partition
    assert np.nanmax(failed.get_ydata()[before]) == 0.0
    ok, every = _line(lat_ax, "p99 ok"), _line(lat_ax, "p99 all finished")
    assert ok is not None and every is not None and _line(lat_ax, "p50 all finished") is not None
    # Calls cut by the partition fail after the 1 s network timeout: the p99 of all finished requests
    # shows it while the p99 of successful ones does not move.
    assert np.nanmin(every.get_ydata()[during]) >= 1000.0
    assert np.nanmax(ok.get_ydata()[during]) < 500.0
    note = lat_ax.get_title(loc="left")
    assert "successful requests only" in note and "failed ones included" in note


def test_timeseries_has_timeout_rate_and_latency_of_every_finished_request(three_tier):
    ts = three_tier.timeseries
    for col in ("timeout_rate", "latency_all_p50_s", "latency_all_p99_s"):
        assert col in ts
    clean = ts["error_rate"] == 0  # a bucket without failures: every finished request succeeded
    assert clean.sum() > 10
    assert np.allclose(ts.loc[clean, "latency_all_p99_s"], ts.loc[clean, "latency_p99_s"])
    assert (ts["timeout_rate"] <= ts["error_rate"] + 1e-12).all()
    c = three_tier.columns
    done = ~np.isnan(c["end"])
    assert ts["latency_all_p99_s"].max() <= (c["end"] - c["start"])[done].max()


def test_latency_cdf_ticks_are_plain_milliseconds(three_tier, figures, tmp_path):
    write_run(three_tier, tmp_path)
    ax = figures["latency_cdf.png"].axes[0]
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= v <= hi]
    assert {"20", "50", "100", "200"} <= set(shown)
    assert all(PLAIN.match(s) for s in shown), shown
    assert not [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]  # nothing to overlap


# --- instant events and data-tier charts ------------------------------------------------------------
SHARDING = ["duration=200s", "warmup=20s", "workloads.app.arrivals.rate=300/s",
            "components.users.reshard.0.at=100s", "workloads.app.keys.n=20000"]


def test_reshard_is_an_event_of_the_result_and_marked_on_every_time_chart(figures, tmp_path):
    res = simulator.run(simulator.load_scenario("scenarios/sharding.yaml", overrides=SHARDING))
    assert res.events == [{"at_s": 100.0, "kind": "reshard", "component": "users",
                           "description": "users: reshard, add db-5"}]
    write_run(res, tmp_path)
    for name in ("throughput_p99.png", "shard_load_users.png"):
        fig = figures[name]
        assert "E1 users: reshard, add db-5 (at 100 s)" in _legend(fig.axes[0]), name
        for ax in fig.axes[:3 if name.startswith("throughput") else 1]:
            assert [ln.get_xdata()[0] for ln in ax.lines if ln.get_linestyle() == ":"] == [100.0]
    # The count at the end of each bar, none overlapping another or a shard's name.
    bars = figures["shard_load_users.png"].axes[1]
    r = _renderer(bars.figure)
    texts = [t for t in bars.texts if t.get_text()] + [t for t in bars.get_yticklabels() if t.get_text()]
    assert len([t for t in bars.texts if t.get_text()]) == 5
    boxes = [t.get_window_extent(r) for t in texts]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (texts[i].get_text(), texts[j].get_text())


def test_replication_lag_on_a_log_axis_with_stale_reads_over_time(figures, tmp_path):
    res = simulator.run(simulator.load_scenario(
        "scenarios/replication.yaml", overrides=["duration=240s", "warmup=20s", "workloads.web.arrivals.rate=200/s"]))
    write_run(res, tmp_path)
    fig = figures["replication_lag_users.png"]
    lag, stale = fig.axes[0], fig.axes[1]
    assert lag.get_yscale() == "log"
    assert all(PLAIN.match(t.get_text()) for t in lag.get_yticklabels() if t.get_text())
    assert "F1 crash db-us (200-230 s)" in _legend(lag)
    line = _line(stale, "stale reads")
    assert line is not None and np.nansum(line.get_ydata()) > 0
    assert len(_bands(stale)) == 1
    _clear_of_plot(fig)


def test_a_failover_is_an_instant_event():
    sc = scenario("""
        name: failover
        duration: 20s
        components:
          store: {type: replicated, replicas: [a, b], mode: sync}
          a: {type: database, connections: 4, read_time: 1ms, write_time: 1ms}
          b: {type: database, connections: 4, read_time: 1ms, write_time: 1ms}
        workloads:
          w: {arrivals: constant(rate=10/s), target: store, keys: uniform(n=5), mix: {write: 1}}
    """)
    env, system = simulator.build(sc)
    store = system.components["store"]
    assert "events" not in store.stats(0.0)  # nothing happened: the summary is as before
    env.call_later(10.0, lambda _t: store.promote("b"))
    for wl in system.workloads:
        wl.start()
    env.run(until=20.0)
    stats = {"store": store.stats(20.0)}
    res = Result("failover", 0, 20.0, 0.0, None, [], [], stats, {}, [], 1.0)
    assert res.events == [{"at_s": 10.0, "kind": "failover", "component": "store",
                           "description": "store: failover, b promoted to leader"}]


# --- comparisons --------------------------------------------------------------------------------
FAULTY = """
name: faulty
seed: 3
duration: 80s
warmup: 5s
network: {timeout: 500ms}
components:
  users:
    type: sharded
    shards: [db-1, db-2]
    reshard:
      - {at: 50s, add: db-3}
  db-1: &db {type: database, connections: 4, read_time: exponential(mean=5ms), write_time: exponential(mean=10ms)}
  db-2: *db
  db-3: *db
workloads:
  app: {arrivals: poisson(rate=40/s), target: users, keys: uniform(n=1000)}
faults:
  - {type: slow, target: db-1, factor: 20, at: 20s, duration: 10s}
"""


@pytest.fixture(scope="module")
def faulty_study():
    return compare(scenario(FAULTY), [parse_axis("components.db-1.connections=2,4"),
                                      parse_axis("components.users.strategy=consistent_hash,hash")], 1)


def test_comparison_cdf_has_plain_ticks_and_a_log_tail_view(faulty_study, figures, tmp_path):
    comparison_charts.latency_cdf(faulty_study, tmp_path)
    cdf, tail = figures["compare_latency_cdf.png"].axes
    for ax in (cdf, tail):
        assert ax.get_xscale() == "log"
        assert all(PLAIN.match(t.get_text()) for t in ax.get_xticklabels() if t.get_text())
    assert tail.get_yscale() == "log" and "1 - F" in tail.get_title()
    assert all(PLAIN.match(t.get_text()) for t in tail.get_yticklabels() if t.get_text())  # 0.01, not 10^-2
    ys = np.concatenate([ln.get_ydata() for ln in tail.lines])
    assert ys.min() > 0 and ys.max() <= 1.0  # 1 - F, the maximum (F = 1) left out
    assert len(tail.lines) == 4


def test_comparison_time_series_marks_faults_and_events_and_says_the_keys_once(faulty_study, figures, tmp_path):
    comparison_charts.time_series(faulty_study, tmp_path)
    fig = figures["compare_timeseries.png"]
    top = fig.axes[0]
    texts = _legend(top)
    assert "F1 slow x20 db-1 (20-30 s)" in texts and "E1 users: reshard, add db-3 (at 50 s)" in texts
    variants = [t for t in texts if not re.match(r"^[FE][0-9]+ ", t)]
    assert variants == ["2, consistent_hash", "2, hash", "4, consistent_hash", "4, hash"]
    assert "connections, strategy" in top.get_title()
    assert len(fig.axes) == 3 and fig.axes[1].lines  # throughput, failed share, p99
    for ax in fig.axes:
        assert len(_bands(ax)) == 1
    _clear_of_plot(fig)


def test_sweep_latency_axis_has_plain_millisecond_ticks(faulty_study, figures, tmp_path):
    comparison_charts.sweep_curves(faulty_study, tmp_path)
    lat = figures["compare_sweep.png"].axes[0]
    assert lat.get_yscale() == "log"
    labels = [t.get_text() for t in lat.get_yticklabels() if t.get_text()]
    assert labels and all(PLAIN.match(t) for t in labels), labels
    assert not [t.get_text() for t in lat.get_yticklabels(minor=True) if t.get_text()]
