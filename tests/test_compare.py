"""dsim compare: axes, grids, common random numbers, executors, the run cache, files, charts, errors."""
import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from simulator.study.comparison import compare
from simulator.language.errors import ScenarioError
from simulator.study.executors import DaskCluster, InProcess, LocalPool
from simulator.study.run_cache import ResultCache
from simulator.study.sweep import grid, parse_axis
from tests.helpers import scenario

SMALL = """
name: small
seed: 7
duration: 120s
warmup: 10s
components:
  lb: {type: load_balancer, algorithm: round_robin, backends: [a, b]}
  a: {type: server, workers: 2, service_time: exponential(mean=100ms)}
  b: {type: server, workers: 2, service_time: exponential(mean=100ms)}
workloads:
  web: {arrivals: poisson(rate=30/s), target: lb}
"""
LB = "components.lb.algorithm=round_robin,least_connections"


def _study(axes=(LB,), replications=3, executor=None, cache=None):
    return compare(scenario(SMALL), [parse_axis(a) for a in axes], replications, executor, cache)


def _records(study):
    return {k: json.dumps(v, sort_keys=True) for k, v in study.records.items()}


# --- axes -------------------------------------------------------------------------------------------
def test_axis_lists_ranges_and_steps():
    a = parse_axis("workloads.web.arrivals.rate=10/s..100/s:10")
    assert a.numeric and a.kind == "rate" and a.values[0] == "10/s" and a.values[-1] == "100/s" and len(a.values) == 10
    assert parse_axis("x=100ms..1s:+300ms").numbers == pytest.approx([0.1, 0.4, 0.7, 1.0])
    assert parse_axis("x=2,4,8").numbers == [2, 4, 8]
    names = parse_axis("components.lb.algorithm=round_robin,random")
    assert not names.numeric and names.values == ["round_robin", "random"]
    assert [v.label for v in grid([parse_axis("a=1,2"), parse_axis("b=x,y,z")])][:2] == ["a=1, b=x", "a=1, b=y"]
    assert len(grid([parse_axis("a=1,2"), parse_axis("b=x,y,z")])) == 6


@pytest.mark.parametrize("spec,fragment", [
    ("components.lb.algorithm=", "no values"),
    ("components.lb.algorithm", "PATH=VALUES"),
    ("x=a,,b", "empty value"),
    ("x=1,1", "listed twice"),
    ("x=100/s..10/s:3", "goes up"),
    ("x=10/s..100ms:3", "same unit"),
    ("x=a..b:3", "numbers at both ends"),
    ("x=1..5", "how many points"),
    ("x=1..5:0", "whole number >= 1"),
])
def test_bad_axes(spec, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        parse_axis(spec)


# --- statistics and common random numbers -----------------------------------------------------------
def test_every_variant_runs_every_replication_on_shared_seeds():
    study = _study()
    reps = study.replications_frame
    assert len(reps) == 2 * 3
    seeds = reps.pivot(index="replication", columns="variant", values="seed")
    assert (seeds.nunique(axis=1) == 1).all() and seeds.iloc[:, 0].nunique() == 3
    assert (study.table["latency_p99_s_n"] == 3).all()


def test_paired_differences_are_tighter_than_unpaired_ones():
    # Two more workers on each server: the same arrivals and service draws, so most noise cancels.
    study = _study(axes=("components.a.workers=2,3",), replications=6)
    d = study.differences.set_index("metric")
    assert d.loc["throughput_rps", "paired_ci"] < d.loc["throughput_rps", "unpaired_ci"] / 3
    assert d.loc["latency_mean_s", "significant"] and d.loc["latency_mean_s", "difference"] < 0


def test_same_inputs_same_records():
    assert _records(_study()) == _records(_study())


def test_executors_give_identical_results_run_for_run():
    base = _records(_study(executor=InProcess()))
    with LocalPool(2) as pool:
        assert _records(_study(executor=pool)) == base
    with DaskCluster(workers=2) as dask:
        assert _records(_study(executor=dask)) == base


def test_cache_reuses_finished_runs_and_an_extended_sweep_computes_only_the_new(tmp_path):
    cache = ResultCache(tmp_path)
    first = _study(cache=cache)
    assert first.from_cache == 0
    again = _study(cache=cache)
    assert again.from_cache == 6 and _records(again) == _records(first)
    wider = _study(axes=(LB + ",random",), cache=cache)
    assert wider.from_cache == 6 and len(wider.records) == 9


# --- the command ------------------------------------------------------------------------------------
def _cli(tmp_path, *args, text=SMALL):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return CliRunner().invoke(main, ["compare", str(path), "--workers", "1", "--cache-dir", str(tmp_path / "cache"),
                                     *args])


def test_compare_writes_data_charts_and_report(tmp_path, monkeypatch):
    from reports import comparison_charts

    legends = {}
    saved = comparison_charts.plt.Figure.savefig

    def savefig(fig, path, *a, **kw):
        name = getattr(path, "name", "")
        legends[name] = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        return saved(fig, path, *a, **kw)

    monkeypatch.setattr(comparison_charts.plt.Figure, "savefig", savefig)
    out = tmp_path / "out"
    r = _cli(tmp_path, "--vary", LB, "-r", "2", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "round_robin (baseline)" in r.output and "★" in r.output and "over 2 replications" in r.output
    reps = pd.read_csv(out / "replications.csv")
    assert len(reps) == 4 and {"variant", "seed", "latency_p99_s", "throughput_rps"} <= set(reps.columns)
    assert len(pd.read_csv(out / "variants.csv")) == 2
    assert json.loads((out / "comparison.json").read_text())["replications"] == 2
    for stem in ("compare_latency_cdf", "compare_percentiles", "compare_timeseries"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 3000
    assert legends["compare_latency_cdf.png"] == ["round_robin", "least_connections"]
    assert legends["compare_percentiles.png"] == ["p50", "p90", "p99"]
    report = (out / "report.html").read_text()
    assert "<svg" in report and "data:image/png;base64," in report and "least_connections" in report
    assert 'src="http' not in report and 'href="http' not in report  # nothing to fetch: it opens offline


def _capture_legends(monkeypatch):
    from reports import comparison_charts

    legends = {}
    saved = comparison_charts.plt.Figure.savefig

    def savefig(fig, path, *a, **kw):
        legends[getattr(path, "name", "")] = [[t.get_text() for t in ax.get_legend().get_texts()]
                                              for ax in fig.axes if ax.get_legend()]
        return saved(fig, path, *a, **kw)

    monkeypatch.setattr(comparison_charts.plt.Figure, "savefig", savefig)
    return legends


def test_numeric_sweep_draws_curves_and_two_numeric_axes_a_heatmap(tmp_path, monkeypatch):
    legends = _capture_legends(monkeypatch)
    out = tmp_path / "sweep"
    r = _cli(tmp_path, "--vary", "workloads.web.arrivals.rate=10/s..30/s:3", "--vary", LB, "-r", "2",
             "--duration", "60s", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert (out / "compare_sweep.png").stat().st_size > 3000 and not (out / "compare_heatmap.png").exists()
    lat, thr, err = legends["compare_sweep.png"]
    # The varied key is said once, in the title, not as `algorithm=` on every curve (issue 10).
    assert lat == [f"{a} {q}" for a in ("round_robin", "least_connections") for q in ("p50", "p99")]
    assert thr == ["round_robin", "least_connections", "throughput = offered"]
    assert err == ["round_robin", "least_connections"]
    assert legends["compare_timeseries.png"][0][:2] == ["10/s, round_robin", "10/s, least_connections"]
    assert len(legends["compare_timeseries.png"][0]) == 6  # one line per variant
    out2 = tmp_path / "heat"
    r = _cli(tmp_path, "--vary", "workloads.web.arrivals.rate=10/s,20/s", "--vary", "components.a.workers=2,3",
             "-r", "2", "--duration", "60s", "--out", str(out2), "--no-charts")
    assert r.exit_code == 0, r.output
    from reports.comparison_charts import heatmap

    study = _study(axes=("workloads.web.arrivals.rate=10/s,20/s", "components.a.workers=2,3"), replications=2)
    paths = heatmap(study, out2)
    assert [p.name for p in paths] == ["compare_heatmap.png", "compare_heatmap.svg"]


def test_a_compare_section_in_the_file_is_enough(tmp_path):
    text = SMALL + """
compare:
  vary:
    components.lb.algorithm: [round_robin, random]
    workloads.web.arrivals.rate: 20/s..30/s:2
  replications: 2
  metrics: [latency_p999_s, error_rate]
  baseline: "algorithm=random, rate=20/s"
"""
    r = _cli(tmp_path, "--format", "json", text=text)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["replications"] == 2 and len(data["variants"]) == 4
    assert data["baseline"] == "algorithm=random, rate=20/s"


@pytest.mark.parametrize("args,fragments", [
    (["--vary", "components.lb.algoritm=round_robin"], ["algoritm", "did you mean 'algorithm'"]),
    (["--vary", "components.lb.algorithm=round_robin,fastest"], ["fastest"]),
    (["--vary", "components.a.workers=2,many"], ["workers"]),
    (["--vary", "workloads.web.arrivals.rate=10,20"], ["rate"]),
    (["--vary", "components.lb.algorithm="], ["no values"]),
    (["--vary", LB, "-r", "0"], ["--replications", "at least 1"]),
    (["--vary", LB, "--metric", "p98"], ["unknown metric 'p98'", "did you mean"]),
    (["--vary", LB, "--baseline", "round-robin"], ["no variant 'round-robin'", "did you mean 'round_robin'"]),
    ([], ["nothing to compare"]),
    (["--vary", "seed=1,2"], ["--vary seed: the seed is not a setting to compare"]),
    (["--vary", "compare.replications=1,2"], ["'compare' changes no run"]),
])
def test_bad_compare_input_fails_before_any_run(tmp_path, monkeypatch, args, fragments):
    import simulator.simulation.runner

    monkeypatch.setattr(simulator.simulation.runner, "_run", lambda *a, **k: pytest.fail("a simulation started"))
    r = _cli(tmp_path, *args, "--no-cache")
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and "Traceback" not in r.output
    for f in fragments:
        assert f in r.output, (f, r.output)


def test_ctrl_c_keeps_the_finished_runs(tmp_path):
    from simulator.study.comparison import CompareInterrupted

    class StopsAfterTwo(InProcess):
        def run(self, fn, payloads):
            for i, result in super().run(fn, payloads):
                if i == 2:
                    raise KeyboardInterrupt
                yield i, result

    cache = ResultCache(tmp_path)
    with pytest.raises(CompareInterrupted) as info:
        _study(executor=StopsAfterTwo(), cache=cache)
    assert len(info.value.partial.records) == 2 and "2 of 6 runs finished" in str(info.value)
    assert _study(cache=cache).from_cache == 2  # the same command again goes on from there
    with pytest.raises(CompareInterrupted, match=r"2 of 6 runs finished \(not kept: the run cache is off"):
        _study(executor=StopsAfterTwo())  # without a cache nothing is promised


def test_a_study_in_which_nothing_succeeds_still_writes_every_file(tmp_path):
    text = SMALL.replace("exponential(mean=100ms)", "1000s")  # no request finishes within the run
    out = tmp_path / "nothing"
    r = _cli(tmp_path, "--vary", "workloads.web.arrivals.rate=10/s,20/s", "--vary", "components.a.workers=2,3",
             "-r", "2", "--out", str(out), text=text)
    assert r.exit_code == 0, r.output
    for stem in ("compare_latency_cdf", "compare_percentiles", "compare_timeseries", "compare_heatmap"):
        assert (out / f"{stem}.png").stat().st_size > 0
    assert (out / "report.html").exists()


CACHED = """
name: cached
seed: 4
duration: 120s
warmup: 20s
components:
  cache: {type: cache, capacity: 100, backing: db}
  db: {type: database, connections: 64, read_time: 2ms, write_time: 2ms}
workloads:
  web: {arrivals: poisson(rate=500/s), target: cache, keys: zipf(n=2000, s=0.8)}
"""


def test_component_figures_can_be_compared(tmp_path):
    out = tmp_path / "evict"
    r = _cli(tmp_path, "--vary", "components.cache.eviction=lru,lfu,fifo", "-r", "3", "--metric", "cache.hit_ratio",
             "--metric", "db.utilization", "--out", str(out), "--no-charts", text=CACHED)
    assert r.exit_code == 0, r.output
    assert "cache.hit_ratio (%)" in r.output
    table = pd.read_csv(out / "variants.csv").set_index("variant")
    assert table.loc["lfu", "cache.hit_ratio"] > table.loc["lru", "cache.hit_ratio"] > table.loc["fifo", "cache.hit_ratio"]
    diffs = pd.read_csv(out / "differences.csv")
    lfu = diffs[(diffs["variant"] == "lfu") & (diffs["metric"] == "cache.hit_ratio")].iloc[0]
    assert lfu["significant"] and lfu["paired_ci"] < lfu["unpaired_ci"]
    assert "cache.hit_ratio" in pd.read_csv(out / "replications.csv").columns
    assert "cache.hit_ratio" in (out / "report.html").read_text()


@pytest.mark.parametrize("metric,fragment", [
    ("cache.hit_rate", "did you mean 'cache.hit_ratio'"),
    ("cahce.hit_ratio", "no component 'cahce' (did you mean 'cache'?)"),
    ("hit_ratio", "or a component's figure"),
])
def test_unknown_component_figures_are_refused(tmp_path, metric, fragment):
    r = _cli(tmp_path, "--vary", "components.cache.eviction=lru,lfu", "--metric", metric, "--no-cache", text=CACHED)
    assert r.exit_code == 2 and fragment in r.output, r.output


def test_best_is_judged_among_variants_under_the_same_load():
    study = _study(axes=("workloads.web.arrivals.rate=10/s,30/s", LB), replications=2)
    assert study.axes[study.compared_axis].path == "components.lb.algorithm"
    for var in study.variants:
        peers = study.peers(var.index)
        assert len(peers) == 2 and all(study.variants[p].coords[0] == var.coords[0] for p in peers)
        assert study.best("latency_mean_s", var.index) in peers
    # without grouping, the low load would always win; with it each load has its own best
    bests = {study.best("latency_mean_s", v.index) for v in study.variants}
    assert len(bests) == 2


def test_a_sweep_draws_a_panel_for_each_component_figure_asked_for(tmp_path, monkeypatch):
    legends = _capture_legends(monkeypatch)
    out = tmp_path / "sizes"
    r = _cli(tmp_path, "--vary", "components.cache.eviction=lru,lfu", "--vary", "components.cache.capacity=50,200",
             "-r", "2", "--metric", "cache.hit_ratio", "--out", str(out), text=CACHED)
    assert r.exit_code == 0, r.output
    panels = legends["compare_sweep.png"]
    assert len(panels) == 4 and panels[3] == ["lru", "lfu"]  # "eviction" is said once, in the title


# --- where an invalid variant comes from ------------------------------------------------------------
@pytest.mark.parametrize("args,expected", [
    (["--vary", "components.lb.algorithm=round_robin,fastest"],
     "error: --vary components.lb.algorithm=fastest: unknown load-balancing algorithm 'fastest'"),
    (["--vary", LB, "--vary", "components.a.workers=2,many"], "error: --vary components.a.workers=many: "),
    (["--vary", "duration=5s,60s", "--vary", "warmup=1s,30s"],
     "error: --vary warmup=30s: warm-up (30s) must be shorter than the duration (5s)"),
])
def test_an_invalid_variant_is_blamed_on_the_value_at_fault(tmp_path, monkeypatch, args, expected):
    import simulator.simulation.runner

    monkeypatch.setattr(simulator.simulation.runner, "_run", lambda *a, **k: pytest.fail("a simulation started"))
    r = _cli(tmp_path, *args, "--no-cache")
    assert r.exit_code == 2 and r.output.startswith(expected), r.output


def test_axes_that_depend_on_each_other_are_checked_together():
    # A 30 s warm-up is fine with a 60 s run: only whole grid points are judged.
    study = compare(scenario(SMALL), [parse_axis("duration=60s"), parse_axis("warmup=1s,30s")], 1)
    assert study.table["warmup"].tolist() == ["1s", "30s"]


def test_a_compare_section_error_names_the_file(tmp_path):
    text = SMALL + "compare:\n  vary: {components.a.workrs: [1, 2]}\n"
    r = _cli(tmp_path, text=text)
    assert r.exit_code == 2 and "s.yaml: compare.vary components.a.workrs=1: unknown key 'workrs'" in r.output
    assert "did you mean 'workers'" in r.output


def test_in_a_grid_the_baseline_can_be_a_value_of_the_compared_axis(tmp_path):
    r = _cli(tmp_path, "--vary", LB, "--vary", "workloads.web.arrivals.rate=20/s,30/s", "-r", "2",
             "--baseline", "least_connections", "--format", "json", "--duration", "40s")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    diffs = pd.DataFrame(data["differences"])
    assert set(diffs["baseline"]) == {"algorithm=least_connections, rate=20/s", "algorithm=least_connections, rate=30/s"}
    assert set(diffs["variant"]) == {"algorithm=round_robin, rate=20/s", "algorithm=round_robin, rate=30/s"}
    r = _cli(tmp_path, "--vary", LB, "--vary", "workloads.web.arrivals.rate=20/s,30/s", "--baseline", "least_conections")
    assert r.exit_code == 2 and "did you mean 'least_connections'" in r.output


@pytest.mark.parametrize("metric,value,half,text", [
    ("latency_mean_s", 0.0524, 0.0032, "52.4 ± 3.2"),
    ("latency_mean_s", 0.159, 0.19, "160 ± 190"),  # the mean to the half-width's place, no e-notation
    ("latency_p99_s", 18.986, 1.6, "19,000 ± 1,600"),
    ("throughput_rps", 0.05333, 0.1, "0.05 ± 0.10"),
    ("latency_mean_s", -0.00001, 0.0023, "0.0 ± 2.3"),  # no "-0.0"
    ("availability", 0.9995, 0.0012, "99.95 ± 0.12"),  # the unit is in the header
    ("availability", 1.0, 0.0, "100.000 ± 0"),
    ("latency_mean_s", 0.0524, float("nan"), "52.4"),  # one replication: no interval
    ("latency_mean_s", 0.001, 2e-19, "1.00 ± 0"),  # identical values up to rounding
])
def test_table_figures_show_the_mean_to_the_precision_of_its_interval(metric, value, half, text):
    from reports.comparison_table import fmt

    assert fmt(metric, value, half) == text


def test_a_comparison_with_automatic_warmup_says_what_each_run_chose(tmp_path):
    study = compare(scenario(SMALL.replace("warmup: 10s", "warmup: auto")), [parse_axis(LB)], 2)
    chosen = study.summary()["warmup_auto"]
    per_run = study.replications_frame["warmup_s"]
    assert chosen["runs"] == 4 and chosen["method"] == "MSER-5"
    assert chosen["min_s"] == per_run.min() and chosen["max_s"] == per_run.max()
    assert compare(scenario(SMALL), [parse_axis(LB)], 1).summary()["warmup_auto"] is None
    r = _cli(tmp_path, "--vary", LB, "-r", "2", "--out", str(tmp_path / "o"),
             text=SMALL.replace("warmup: 10s", "warmup: auto"))
    assert r.exit_code == 0 and "warm-up chosen by MSER-5 for each of the 4 runs" in r.output
    assert "warm-up chosen by MSER-5" in (tmp_path / "o" / "report.html").read_text()


def test_a_csv_named_by_the_scenario_is_found_beside_it_and_keys_the_cache(tmp_path, monkeypatch):
    import simulator

    study_dir = tmp_path / "study"
    study_dir.mkdir()
    (study_dir / "service.csv").write_text("t\n10ms\n20ms\n30ms\n")
    (study_dir / "s.yaml").write_text(SMALL.replace(
        "exponential(mean=100ms)}", "{dist: empirical, file: service.csv, column: t}}"))
    monkeypatch.chdir(tmp_path)  # not the scenario's directory: the file is found beside the scenario
    sc = simulator.load_scenario(study_dir / "s.yaml")
    cache = ResultCache(tmp_path / "cache")
    first = compare(sc, [parse_axis(LB)], 1, cache=cache)
    assert first.table["latency_p50_s"].max() <= 0.030
    assert compare(sc, [parse_axis(LB)], 1, cache=cache).from_cache == 2
    (study_dir / "service.csv").write_text("t\n1s\n2s\n")  # edited: the old runs no longer apply
    edited = compare(sc, [parse_axis(LB)], 1, cache=cache)
    assert edited.from_cache == 0 and edited.table["latency_p50_s"].min() >= 1.0


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_ctrl_c_in_a_terminal_stops_every_process_with_one_line(tmp_path, executor):
    # A terminal's Ctrl-C reaches the whole process group, pool or cluster workers included.
    import os
    import signal
    import subprocess
    import sys
    import time

    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "cli", "compare", "scenarios/three-tier.yaml", "--vary", "components.lb.algorithm="
           "round_robin,random", "-r", "20", "--duration", "200s", "--executor", executor, "--workers", "2",
           "--cache-dir", str(cache)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not list(cache.rglob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # until a first run is finished and cached
        assert proc.poll() is None, proc.communicate()  # still running: there is something to interrupt
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    cached = len(list(cache.rglob("*.json")))
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    said = re.fullmatch(r"error: interrupted: (\d+) of 40 runs finished \(kept in the cache; run the same command "
                        r"again to go on\)", lines[0])
    assert said, lines[0]
    # every run counted is in the cache (one more may have been stored as the signal came in)
    assert 1 <= int(said.group(1)) <= cached <= int(said.group(1)) + 1


def test_marks_say_best_tied_or_worse_alike_in_the_json_and_report(tmp_path):
    # Two more workers per server: clearly better latency (worse is marked), same throughput (tied).
    out = tmp_path / "out"
    r = _cli(tmp_path, "--vary", "components.a.workers=2,3", "-r", "4", "--out", str(out))
    assert r.exit_code == 0, r.output
    marks = json.loads((out / "comparison.json").read_text())["marks"]
    assert marks["3"]["latency_mean_s"] == "best" and marks["2"]["latency_mean_s"] == "worse"
    study = compare(scenario(SMALL), [parse_axis("components.a.workers=2,3")], 4)
    for v in study.variants:
        for m in study.metric_names:
            assert marks[v.label][m] == study.mark(v.index, m)
    tied = [(label, m) for label, ms in marks.items() for m, mark in ms.items() if mark == "tied"]
    assert tied  # some figure (offered load) is the same whichever variant
    report = (out / "report.html").read_text()
    assert "≈ " in report and "significantly worse" in report


def test_an_output_directory_that_cannot_be_made_fails_before_any_run(tmp_path, monkeypatch):
    import simulator.simulation.runner

    monkeypatch.setattr(simulator.simulation.runner, "_run", lambda *a, **k: pytest.fail("a simulation started"))
    (tmp_path / "blocker").write_text("a file where a directory should go")
    r = _cli(tmp_path, "--vary", LB, "--out", str(tmp_path / "blocker" / "out"))
    assert r.exit_code == 2 and r.output.startswith("error: --out: cannot create the directory"), r.output
    r = _cli(tmp_path, "--vary", "components.lb.algoritm=x", "--out", str(tmp_path / "never"))
    assert r.exit_code == 2 and not (tmp_path / "never").exists()  # bad input leaves nothing behind


def test_a_value_may_hold_commas_inside_brackets():
    a = parse_axis("components.a.service_time=exponential(mean=10ms),lognormal(median=8ms, p99=40ms),20ms")
    assert a.values == ["exponential(mean=10ms)", "lognormal(median=8ms, p99=40ms)", "20ms"] and not a.numeric
    study = compare(scenario(SMALL), [a], 1)  # each is a valid service time
    assert study.table["latency_mean_s"].notna().all()
    with pytest.raises(ScenarioError, match="empty value"):
        parse_axis("x=a(b, c),,d")


def test_time_series_of_replications_with_different_buckets_are_averaged_at_the_same_times():
    # With warmup: auto each replication has its own buckets; values are matched by time, not by position.
    from reports.comparison_charts import aligned_means

    early = {"timeseries": {"end_s": [1, 2, 3, 4], "x": [1, 2, 3, 4]}}
    late = {"timeseries": {"end_s": [2.5, 3, 3.5, 4], "x": [10, 20, 30, None]}}
    t, (mean,) = aligned_means([early, late], ("x",))
    assert t.tolist() == [2.5, 3, 3.5, 4]
    assert mean.tolist() == [(3 + 10) / 2, (3 + 20) / 2, (4 + 30) / 2, 4]  # a missing value is left out
    same = {"timeseries": {"end_s": [1, 2, 3, 4], "x": [3, 4, 5, 6]}}
    assert aligned_means([early, same], ("x",))[1][0].tolist() == [2, 3, 4, 5]


def test_a_figure_resting_on_fewer_replications_says_so():
    import io

    from rich.console import Console

    from reports.comparison_table import print_comparison

    study = _study()
    study.records[(1, 2)]["metrics"]["latency_p99_s"] = None  # a run with no value for this figure
    study.__dict__.pop("table", None)  # (re)computed from the records
    assert study.table.loc[1, "latency_p99_s_n"] == 2 and study.table.loc[1, "latency_mean_s_n"] == 3
    console = Console(file=io.StringIO(), width=200)
    print_comparison(study, console=console)
    text = console.file.getvalue()
    assert text.count("(n=2)") == 1 and "(n=k): from k of the 3 replications" in text


def test_by_default_every_usable_core_runs(monkeypatch):
    import os

    from simulator.study import executors as parallel

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert isinstance(parallel.make_executor(), InProcess)  # one core allowed: no pool to start
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    assert parallel.usable_cores() == 3


def test_files_named_by_the_scenario_travel_with_the_run(tmp_path):
    # A cluster worker may not see the machine's disk: it runs on the content shipped in the payload.
    import simulator
    from simulator.study.comparison import run_record

    (tmp_path / "service.csv").write_text("t\n10ms\n20ms\n30ms\n")
    (tmp_path / "s.yaml").write_text(SMALL.replace(
        "exponential(mean=100ms)}", "{dist: empirical, file: service.csv, column: t}}"))
    data = simulator.load_scenario(tmp_path / "s.yaml").model_dump(mode="json")
    here = run_record({"scenario": data, "base_dir": str(tmp_path), "seed": 3})
    elsewhere = run_record({"scenario": data, "base_dir": str(tmp_path / "not-on-this-worker"), "seed": 3,
                            "files": {"service.csv": (tmp_path / "service.csv").read_bytes()}})
    assert json.dumps(here, sort_keys=True) == json.dumps(elsewhere, sort_keys=True)
    assert here["metrics"]["latency_p50_s"] <= 0.030


def test_extending_a_committed_study_reuses_its_runs(tmp_path):
    study = SMALL + "compare:\n  vary: {components.lb.algorithm: [round_robin, random]}\n  replications: {r}\n"
    first = _cli(tmp_path, "--format", "json", text=study.replace("{r}", "2"))
    assert first.exit_code == 0 and json.loads(first.output)["runs_from_cache"] == 0
    reworded = study.replace("{r}", "3").replace("name: small", "name: small\ndescription: now with 3")
    more = _cli(tmp_path, "--format", "json", text=reworded)
    assert more.exit_code == 0, more.output
    assert json.loads(more.output)["runs_from_cache"] == 4  # only the third replication is new


def test_a_scheduler_means_dask_and_is_refused_with_local(tmp_path, monkeypatch):
    from simulator.study import executors as parallel
    from simulator.language.errors import DsimError

    asked = []

    def fake(kind, workers=None, scheduler=None):
        asked.append((kind, scheduler))
        raise DsimError("stop here")

    monkeypatch.setattr(parallel, "make_executor", fake)
    r = _cli(tmp_path, "--vary", LB, "--scheduler", "tcp://example:8786")
    assert r.exit_code == 1 and asked == [("dask", "tcp://example:8786")]
    r = _cli(tmp_path, "--vary", LB, "--executor", "local", "--scheduler", "tcp://example:8786")
    assert r.exit_code == 2 and "error: --scheduler: a scheduler is for --executor dask" in r.output
    assert len(asked) == 1


def test_a_study_found_in_the_cache_starts_no_cluster(tmp_path):
    cache = ResultCache(tmp_path)
    first = _study(cache=cache)
    with DaskCluster(workers=2) as dask:
        again = _study(executor=dask, cache=cache)
        assert dask.client is None and dask.cluster is None  # nothing to send: no cluster started
    assert again.from_cache == 6 and _records(again) == _records(first)


def test_percentile_bars_get_a_log_axis_only_when_variants_differ_by_orders_of_magnitude(tmp_path, monkeypatch):
    from reports import comparison_charts

    scales = {}
    saved = comparison_charts.plt.Figure.savefig

    def savefig(fig, path, *a, **kw):
        scales[getattr(path, "name", "")] = fig.axes[0].get_yscale()
        return saved(fig, path, *a, **kw)

    monkeypatch.setattr(comparison_charts.plt.Figure, "savefig", savefig)
    near = _study(replications=2)
    far = _study(axes=("components.a.service_time=1ms,2s",), replications=2)
    comparison_charts.percentile_bars(near, tmp_path)
    assert scales["compare_percentiles.png"] == "linear"
    comparison_charts.percentile_bars(far, tmp_path)
    assert scales["compare_percentiles.png"] == "log"


def test_a_script_without_a_main_guard_can_use_the_local_pool(tmp_path):
    # Workers must not run the caller's script again (it would start its study in every worker).
    import subprocess
    import sys
    import textwrap

    (tmp_path / "s.yaml").write_text(SMALL)
    script = tmp_path / "study.py"
    script.write_text(textwrap.dedent(f"""
        import simulator
        from simulator.study.comparison import compare
        from simulator.study.executors import LocalPool
        from simulator.study.sweep import parse_axis

        print("study starts")
        sc = simulator.load_scenario({str(tmp_path / "s.yaml")!r})
        with LocalPool(2) as pool:
            study = compare(sc, [parse_axis("components.lb.algorithm=round_robin,random")], 2, pool)
        print("runs", len(study.records))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["study starts", "runs 4"]


def test_a_metric_asked_for_twice_is_one_column(tmp_path):
    from simulator.study.plan import plan

    chosen = plan(scenario(SMALL), [LB], 2, ["latency_p99_s", "throughput_rps", "latency_p99_s"]).metrics
    assert chosen == ["latency_p99_s", "throughput_rps"]


def test_a_compare_section_takes_one_plain_value_and_refuses_a_mapping(tmp_path):
    one = _cli(tmp_path, "--format", "json", "-r", "2",
               text=SMALL + "compare:\n  vary: {components.a.workers: 3}\n")
    assert one.exit_code == 0, one.output
    assert [v["variant"] for v in json.loads(one.output)["variants"]] == ["3"]
    bad = _cli(tmp_path, text=SMALL + "compare:\n  vary: {components.a.workers: {x: 1}}\n")
    assert bad.exit_code == 2 and bad.output.count("error:") == 1
    assert "compare.vary.components.a.workers: expected a list of values ([a, b, c]) or a range" in bad.output


def test_dask_works_when_the_dashboard_port_is_taken(tmp_path):
    # No fixed port: a local cluster starts no dashboard (its HTTP server, if any, takes a free port),
    # and no Dask warning reaches the terminal when 8787 is in use.
    import socket
    import subprocess
    import sys

    path = tmp_path / "s.yaml"
    path.write_text(SMALL.replace("duration: 120s", "duration: 20s").replace("warmup: 10s", "warmup: 1s"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(("127.0.0.1", 8787))
            sock.listen()
        except OSError:
            pass  # already taken by something else: the condition under test holds anyway
        r = subprocess.run([sys.executable, "-m", "cli", "compare", str(path), "--vary", LB, "-r", "1",
                            "--executor", "dask", "--workers", "2", "--no-cache", "--format", "json"],
                           capture_output=True, text=True, timeout=120)
    finally:
        sock.close()
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["variants"]) == 2
    assert "8787" not in r.stderr and "already in use" not in r.stderr and "Warning" not in r.stderr, r.stderr
