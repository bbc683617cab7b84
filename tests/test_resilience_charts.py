"""What the resilience policies did, on the run chart: circuit-breaker states as bands (from
`Result.breaker_states`), rate limiters' refusals over time (a `NAME.rate_limited` time-series
column, drawn per second), probe ejections and scaling steps as instant events; and chaos faults
said to be drawn, ordered by start in the legends and tables, with rounded times.

Checked on the matplotlib figures themselves, on short runs with overlapping faults."""
import re

import numpy as np
import pytest

import simulator
from reports import charts
from reports.formatting import by_start, secs, window
from reports.files import write_run
from reports.table import summary_tables
from tests.helpers import run

BREAKER = """
name: breaker
seed: 2
duration: 30s
components:
  app: {type: server, workers: 4, service_time: exponential(mean=10ms)}
workloads:
  web:
    target: app
    arrivals: poisson(rate=100/s)
    resilience:
      timeout: 200ms
      circuit_breaker: {failure_threshold: 5, open_for: 1s, half_open_calls: 2}
faults:
  - {type: error, target: app, at: 10s, duration: 6s, probability: 100%}
  - {type: error, target: app, at: 13s, duration: 7s, probability: 50%}
"""


def _legend(ax):
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


@pytest.fixture(scope="module")
def breaker_run():
    return run(BREAKER)


def test_breaker_states_are_intervals_between_its_transitions(breaker_run):
    res = breaker_run
    cb = res.summary["resilience"]["web->app"]["circuit_breaker"]
    bands = res.breaker_states
    opens = [b for b in bands if b["state"] == "open"]
    assert len(opens) == cb["opened"] > 1
    # a half-open spell whose trial call failed at once (an error fault answers at once) has no width
    assert 0 < len([b for b in bands if b["state"] == "half_open"]) <= cb["half_opened"]
    # each band runs from one transition to the next; none before the first error fault
    times = [t for t, _s in cb["transitions"]]
    assert all(b["start_s"] in times for b in bands)
    assert all(b["end_s"] in times or b["end_s"] == res.duration_s for b in bands)
    assert min(b["start_s"] for b in bands) >= 10.0
    # open for at least open_for each time (it half-opens on the first call after it)
    assert all(b["end_s"] - b["start_s"] >= 1.0 for b in opens)
    # it closed again once the overlapping faults were over
    assert cb["state"] == "closed" and max(b["end_s"] for b in bands) < 21.0


def test_breaker_bands_on_the_failure_panel(breaker_run):
    res = breaker_run
    fig = charts.run_timeline_figure(res.timeseries, res.fault_windows, "t", res.events, res.breaker_states)
    fig.canvas.draw()
    ax_err = fig.axes[1]
    labels = _legend(ax_err)
    assert "circuit breaker open (web->app)" in labels and "half-open (web->app)" in labels
    red = [p for p in ax_err.patches if np.allclose(p.get_facecolor()[:3], (0.8, 0.0, 0.0))]
    assert len(red) == len([b for b in res.breaker_states if b["state"] == "open"])
    charts.plt.close(fig)


def test_without_a_breaker_there_are_no_bands():
    res = run(BREAKER.replace("      circuit_breaker: {failure_threshold: 5, open_for: 1s, half_open_calls: 2}\n", ""))
    assert res.breaker_states == []
    fig = charts.run_timeline_figure(res.timeseries, res.fault_windows, "t", res.events, res.breaker_states)
    assert not any("breaker" in t for t in _legend(fig.axes[1]))
    charts.plt.close(fig)


LIMITED = """
name: limited
seed: 4
duration: 30s
components:
  app:
    type: server
    workers: 8
    service_time: exponential(mean=5ms)
    rate_limit: {rate: 150/s, burst: 10}
workloads:
  web: {target: app, arrivals: poisson(rate=100/s)}
faults:
  - {type: load_spike, target: web, factor: 3, at: 10s, duration: 8s}
  - {type: load_spike, target: web, factor: 2, at: 14s, duration: 6s}
"""


def test_limiter_refusals_over_time_follow_the_spikes_and_are_drawn():
    res = run(LIMITED)
    ts = res.timeseries
    refused = ts["app.rate_limited"].to_numpy()
    assert refused.sum() == res.summary["rate_limits"]["app"]["rate_limited"] > 0  # every refusal, once
    inside = (ts["start_s"] >= 10.0) & (ts["end_s"] <= 20.0)
    outside = (ts["end_s"] <= 9.0) | (ts["start_s"] >= 21.0)
    # 100/s is under 150/s: refusals are the spikes' (300/s, then 600/s where they overlap)
    assert refused[outside.to_numpy()].sum() < 0.01 * refused.sum()
    per_s = refused / (ts["end_s"] - ts["start_s"]).to_numpy()
    overlap = ((ts["start_s"] >= 14.5) & (ts["end_s"] <= 17.5)).to_numpy()
    # offered 600/s against 150/s: ~450/s refused (Poisson counts: a loose bound)
    assert 350 < per_s[overlap].mean() < 550 and inside.any()
    fig = charts.run_timeline_figure(ts, res.fault_windows, "t", res.events)
    line = next(ln for ln in fig.axes[0].lines if ln.get_label() == "rate limited/s (app)")
    assert np.allclose(line.get_ydata(), per_s)
    charts.plt.close(fig)


def test_no_limiter_no_column():
    res = run(LIMITED.replace("    rate_limit: {rate: 150/s, burst: 10}\n", ""))
    assert not any(c.endswith(".rate_limited") for c in res.timeseries.columns)


def test_probe_ejections_and_scaling_steps_are_marked_on_the_run_chart():
    hc = simulator.run(simulator.load_scenario("scenarios/health-checks.yaml", overrides=["duration=60s"]))
    ejections = [e for e in hc.events if e["kind"] == "ejection"]
    assert ejections and ejections[0]["at_s"] > 30.0  # the partition at 30 s fails app-2's probes
    fig = charts.run_timeline_figure(hc.timeseries, hc.fault_windows, "t", charts.result_events(hc))
    labels = _legend(fig.axes[0])
    assert any("ejection" in t or "unhealthy" in t for t in labels if t.startswith("E")), labels
    charts.plt.close(fig)
    auto = simulator.run(simulator.load_scenario("scenarios/autoscaling.yaml", overrides=["duration=900s"]))
    scales = [e for e in charts.result_events(auto) if e["kind"] == "scale"]
    assert scales
    fig = charts.run_timeline_figure(auto.timeseries, auto.fault_windows, "t", charts.result_events(auto))
    labels = [t for t in _legend(fig.axes[0]) if t.startswith("E")]
    assert len(labels) == len(charts.result_events(auto)) and all("replicas" in t for t in labels[:len(scales)])
    charts.plt.close(fig)


@pytest.fixture(scope="module")
def chaos():
    return simulator.run(simulator.load_scenario("scenarios/chaos.yaml", overrides=["duration=900s"]))


def test_drawn_faults_say_chaos_and_are_ordered_by_start(chaos, tmp_path):
    faults = chaos.fault_windows
    assert faults and all(f["description"].endswith("(chaos)") for f in faults)
    assert [f["start_s"] for f in by_start(faults)] == sorted(f["start_s"] for f in faults)
    assert faults != by_start(faults)  # declared per generator: app crashes first, then the db's slow spells
    fig = charts.run_timeline_figure(chaos.timeseries, faults, "t", charts.result_events(chaos))
    labels = [t for t in _legend(fig.axes[0]) if re.match(r"F\d+ ", t)]
    ordered = by_start(f for f in faults if f["start_s"] <= chaos.duration_s)
    assert labels == [f"F{i + 1} {f['description']} ({window(f)})" for i, f in enumerate(ordered)]
    for t in labels:  # times rounded to tenths: no 23.5519 s
        assert re.search(r"\((\d+(\.\d)?)-(\d+(\.\d)?) s\)$", t), t
    charts.plt.close(fig)
    # the terminal's fault table and report.html's list the same order, numbered as on the chart
    table = next(t for t in summary_tables(chaos.summary) if t.title == "Fault timeline")
    assert list(table.columns[0].cells) == [secs(f["start_s"]) for f in ordered]
    write_run(chaos, tmp_path, charts=False)
    html = (tmp_path / "report.html").read_text()
    section = html[html.index("Fault timeline"):]
    first, second = ordered[0], ordered[1]
    assert section.index(f">{secs(first['start_s'])}<") < section.index(f">{secs(second['start_s'])}<")


def test_declared_faults_are_not_marked_drawn(breaker_run):
    assert len(breaker_run.fault_windows) == 2
    assert not any("(chaos)" in f["description"] for f in breaker_run.fault_windows)


@pytest.mark.parametrize("fault,expected", [
    ({"start_s": 23.5519, "end_s": 36.71}, "23.6-36.7 s"),
    ({"start_s": 30.0, "end_s": 90.0}, "30-90 s"),
    ({"start_s": 12.0, "end_s": 12.04}, "12-12.04 s"),  # tenths would hide a 40 ms window
])
def test_window_times_are_rounded(fault, expected):
    assert window(fault) == expected
