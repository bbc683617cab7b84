"""The CAP chart of `dsim compare` (compare_cap): one point per variant with intervals, the PACELC panel,
and the `cap.*` figures run records carry for it; on the committed scenarios/cap-partition.yaml study."""
import copy
import math
from pathlib import Path

import matplotlib.colors
import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

import simulator
from reports import cap_charts
from simulator.statistics.inference import mean_interval
from simulator.study.comparison import Comparison, compare
from simulator.study.run_figures import cap_figures
from simulator.study.sweep import parse_axis

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "cap-partition.yaml"


@pytest.fixture(scope="module")
def study():
    # The scenario's own study with 2 replications (6 runs of 40 simulated seconds, a few seconds in all).
    sc = simulator.load_scenario(SCENARIO)
    return compare(sc, [parse_axis("workloads.clients.target=cp,ap,ev")], replications=2)


def _draw(study, tmp_path, monkeypatch):
    """The Figure cap_chart saves, and the files it says it wrote."""
    figures = []
    saved = cap_charts.plt.Figure.savefig

    def savefig(fig, path, *a, **kw):
        figures.append(fig)
        return saved(fig, path, *a, **kw)

    monkeypatch.setattr(cap_charts.plt.Figure, "savefig", savefig)
    paths = cap_charts.cap_chart(study, tmp_path)
    return (figures[0] if figures else None), paths


def _points(ax):
    """Per errorbar: (label, x, y, x half-width, y half-width), read back from the drawn artists."""
    out = []
    for c in ax.containers:
        (x, y), = c.lines[0].get_xydata()
        xbar, ybar = c.lines[2]  # LineCollections: the horizontal then the vertical interval
        (x_lo, _), (x_hi, _) = xbar.get_segments()[0]
        (_, y_lo), (_, y_hi) = ybar.get_segments()[0]
        out.append((c.get_label(), x, y, (x_hi - x_lo) / 2, (y_hi - y_lo) / 2))
    return out


def test_one_point_per_variant_with_its_intervals(study, tmp_path, monkeypatch):
    fig, paths = _draw(study, tmp_path, monkeypatch)
    assert [p.name for p in paths] == ["compare_cap.png", "compare_cap.svg"] and all(p.exists() for p in paths)
    ax, ax_lat = fig.axes
    points = _points(ax)
    assert [p[0].split(" ")[0] for p in points] == ["cp", "ap", "ev"]
    for (label, x, y, xh, yh), var in zip(points, study.variants):
        avail = mean_interval(study.values(var.index, "cap.fault_availability"))
        stale = mean_interval(study.values(var.index, "consistency.stale_reads.violations"))
        assert x == pytest.approx(avail.mean * 100) and xh == pytest.approx(avail.half_width * 100)
        assert y == pytest.approx(stale.mean) and yh == pytest.approx(np.nan_to_num(stale.half_width))
    assert "during the partition" in ax.get_xlabel() and "stale_reads" in ax.get_ylabel()
    # The CAP trade-off itself: consensus refuses the minority side (lower availability) and never
    # serves a stale read; async+failover and eventual keep answering and serve stale reads.
    (cp, cp_x, cp_y, _xh, _yh), ap, ev = points
    assert cp_y == 0 and "0/2 runs" in cp
    for label, x, y, _xh, _yh in (ap, ev):
        assert x > cp_x + 20 and y > 100 and "2/2 runs" in label  # every run not linearizable


def test_the_pacelc_panel_shows_read_and_write_p99_per_variant(study, tmp_path, monkeypatch):
    fig, _ = _draw(study, tmp_path, monkeypatch)
    ax_lat = fig.axes[1]
    assert [t.get_text() for t in ax_lat.get_xticklabels()] == ["cp", "ap", "ev"]
    bars = {c.get_label(): [b.get_height() for b in c.patches] for c in ax_lat.containers
            if isinstance(c, BarContainer)}
    assert sum(isinstance(c, ErrorbarContainer) for c in ax_lat.containers) == 2  # each set of bars has its CIs
    assert set(bars) == {"read p99", "write p99"}
    for op in ("read", "write"):
        want = [mean_interval(study.values(v.index, f"cap.{op}_p99_s")).mean * 1000 for v in study.variants]
        assert bars[f"{op} p99"] == pytest.approx(want)
    # PACELC's "else latency": consensus pays a majority round trip (20 ms across zones) on every write
    assert bars["write p99"][0] > bars["write p99"][2] + 10


def test_without_fault_windows_the_x_axis_is_the_whole_run_and_says_so(study, tmp_path, monkeypatch):
    plain = copy.deepcopy(study)
    for rec in plain.records.values():
        rec["figures"].pop("cap.fault_availability")
    fig, _ = _draw(plain, tmp_path, monkeypatch)
    ax = fig.axes[0]
    assert "whole run" in ax.get_xlabel()
    for (_l, x, *_), var in zip(_points(ax), plain.variants):
        assert x == pytest.approx(mean_interval(plain.values(var.index, "availability")).mean * 100)


def test_a_study_that_checks_nothing_gets_no_cap_chart(tmp_path, monkeypatch):
    empty = Comparison(scenario_name="x", base_seed=1, axes=[], variants=[], replications=1, seeds=[1])
    assert _draw(empty, tmp_path, monkeypatch) == (None, [])


def test_cap_figures_weigh_fault_windows_by_their_requests_and_skip_runs_without_checks():
    assert cap_figures({"fault_impact": {"faults": []}}) == {}  # no consistency section: record unchanged
    summary = {"consistency": {"checks": {}},
               "fault_impact": {"faults": [{"during": {"requests": 300, "error_rate": 0.5}},
                                           {"during": {"requests": 100, "error_rate": 0.0}}]},
               "operations": {"read": {"latency_s": {"p99": 0.02}}, "cas": {"latency_s": {"p99": 0.5}}}}
    figures = cap_figures(summary)
    assert figures["cap.fault_availability"] == pytest.approx(1 - 150 / 400)
    assert figures["cap.read_p99_s"] == 0.02 and "cap.write_p99_s" not in figures
    summary["fault_impact"]["faults"] = []
    assert "cap.fault_availability" not in cap_figures(summary)
    assert not math.isnan(figures["cap.read_p99_s"])


# --- the first violation as a per-process timeline (run charts, report.html) -----------------------

def test_a_failed_linearizability_check_is_drawn_as_a_per_process_timeline(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from reports import violation_charts

    res = simulator.run(simulator.load_scenario(SCENARIO, overrides=["workloads.clients.target=ap"]))
    cx = res.counterexample
    assert res.summary["consistency"]["checks"]["linearizable"]["verdict"] == "fail" and cx["window"]
    assert "counterexample" not in res.summary["consistency"]  # the summary is unchanged
    figures = []
    saved = violation_charts.plt.Figure.savefig
    monkeypatch.setattr(violation_charts.plt.Figure, "savefig",
                        lambda fig, path, *a, **kw: (figures.append(fig), saved(fig, path, *a, **kw))[1])
    paths = violation_charts.violation_timeline(res, tmp_path)
    assert [p.name for p in paths] == ["linearizability_violation.png"] and paths[0].exists()
    ax = figures[0].axes[0]
    processes = sorted({op["process"] for op in cx["window"]}, key=str)
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"process {p}" for p in processes]
    bars = [p for c in ax.containers for p in c.patches]
    assert len(bars) == len(cx["window"])  # one bar per operation of the window
    marked = [b for b in bars if b.get_facecolor()[:3] == matplotlib.colors.to_rgb(violation_charts.BLOCKED_COLOUR)]
    assert len(marked) == 1  # the operation that cannot be linearized, and only it
    b, op = marked[0], cx["blocked"]
    t0 = min(o["invoke_time"] for o in cx["window"])
    assert b.get_x() == pytest.approx((op["invoke_time"] - t0) * 1000)
    assert b.get_x() + b.get_width() == pytest.approx((op["complete_time"] - t0) * 1000)
    assert b.get_y() + b.get_height() / 2 == pytest.approx(processes.index(op["process"]))
    # a run that passed (or never checked) draws nothing
    assert violation_charts.violation_timeline(SimpleNamespace(counterexample=None), tmp_path) == []
