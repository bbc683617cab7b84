"""The behaviour API of application models (models/apps/behaviour.py): calls cross the network (a
partition between two services cuts exactly the calls between them, a crash refuses them), calls to
the application reach `on_<op>`, timeouts, recorded operations, metrics and extrapolation in the
summary, tables and charts; and docs/extending.md's worked example runs as written. Application
types are loaded in a fresh interpreter (as a plugin is), so this process's registry stays as it is."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import install_plugin

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

PROBE = """
name: probe
seed: 3
duration: 60s
components:
  app: {type: probe-app, a: svc-a, b: svc-b, pusher: push, slow: slow, scale: 1/1000}
  svc-a: {type: server, service_time: 1ms}
  svc-b: {type: server, service_time: 1ms}
  push: {type: server, service_time: 1ms}
  slow: {type: server, service_time: 200ms}
faults:
  - {type: partition, groups: [[svc-a], [svc-b]], at: 10s, duration: 10s}
  - {type: crash, target: push, at: 30s, duration: 10s}
  - {type: crash, target: push, at: 35s, duration: 10s}
"""


def _python(code: str, pythonpath: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}, timeout=300)


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    done = _python(f"""
        import json, simulator
        import probe_apps
        from pathlib import Path
        from reports.charts import run_charts
        from reports.table import summary_tables
        from rich.console import Console
        sc = simulator.loads_scenario({PROBE!r})
        r = simulator.run(sc)
        again = simulator.run(sc)
        charts = [p.name for p in run_charts(r, Path({str(out)!r}))]
        console = Console(width=100, record=True, file=open("/dev/null", "w"))
        for t in summary_tables(r.summary):
            console.print(t)
        print(json.dumps({{"summary": r.summary, "same": r.to_json() == again.to_json(), "charts": charts,
                          "text": console.export_text(), "columns": list(r.timeseries.columns)}}))
    """, f"{FIXTURES}:{ROOT}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _outcomes(probe, what):
    return probe["summary"]["components"]["app"]["outcomes"][what]


def test_a_partition_between_two_services_cuts_exactly_their_calls(probe):
    # a call leaving at t in [10, 20) is cut (and fails after the network timeout); every other is ok
    for t, outcome in _outcomes(probe, "a_to_b"):
        assert (outcome != 0) == (10 <= t < 20), (t, outcome)


def test_calls_to_the_application_reach_on_op_and_overlapping_crashes_refuse_them(probe):
    pushes = _outcomes(probe, "push")
    for t, outcome in pushes:  # two crashes, 30-40 and 35-45: down while either holds
        assert (outcome != 0) == (30 <= t < 45), (t, outcome)
    app = probe["summary"]["components"]["app"]
    assert app["metrics"]["delivered"] == sum(1 for _t, o in pushes if o == 0) > 0


def test_a_call_with_a_timeout_times_out(probe):
    assert {o for _t, o in _outcomes(probe, "slow")} == {2}  # TIMED_OUT: 200 ms of service, 50 ms timeout


def test_recorded_operations_are_request_rows_with_their_failures(probe):
    s = probe["summary"]
    wl = s["workloads"]["app"]["requests"]
    ticks = _outcomes(probe, "a_to_b")
    assert wl["generated"] == len(ticks) + wl["in_flight"]
    assert wl["ok"] == sum(1 for _t, o in ticks if o == 0)
    impact = {f["description"]: f for f in s["fault_impact"]["faults"]}
    assert any("partition" in d for d in impact)


def test_metrics_reach_the_summary_tables_and_charts(probe):
    app = probe["summary"]["components"]["app"]
    assert app["app"] is True and app["scale"] == 0.001
    assert app["metrics"]["level"]["max"] == app["metrics"]["delivered"]  # the gauge's last reading
    assert app["metrics"]["by_parity"]["labels"] == ["even", "odd"]
    assert "app.level" in probe["columns"] and "app.by_parity.odd" in probe["columns"]
    assert "app: figures" in probe["text"] and "pushes that reached on_deliver" in probe["text"]
    assert "app_app_over_time.png" in probe["charts"] and "app_app_by_parity_heatmap.png" in probe["charts"]


def test_same_seed_same_summary(probe):
    assert probe["same"]


def _doc_example() -> tuple[str, str]:
    text = (ROOT / "docs" / "extending.md").read_text()
    code = re.search(r"```python\n# my_apps.py\n(.*?)```", text, re.S).group(1)
    yaml = re.search(r"```yaml\n# readers.yaml\n(.*?)```", text, re.S).group(1)
    return code, yaml


def test_the_worked_example_of_docs_extending_runs_as_written(tmp_path):
    code, yaml = _doc_example()
    install_plugin(tmp_path, code)  # as a plugin, through the `dsim.components` entry point
    (tmp_path / "readers.yaml").write_text(yaml)
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "run", str(tmp_path / "readers.yaml"),
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    s = json.loads(done.stdout)
    news = s["components"]["news"]
    wl = s["workloads"]["news"]["requests"]
    assert news["metrics"]["open_to_headlines_s"]["count"] == wl["ok"] > 0
    assert news["metrics"]["failed_opens"] == wl["errors"] > 0  # the crash of `web`
    assert news["extrapolation"] == ["2,000,000 readers open the app 200,000 times a second"]
    crash = s["fault_impact"]["faults"][0]
    assert crash["during"]["error_rate"] == 1.0


@pytest.mark.parametrize("value, expect", [("2", "in (0, 1]"), ("1/0", "a fraction such as 1/100000"),
                                           ("0", "in (0, 1]")])
def test_a_bad_scale_is_one_located_line(tmp_path, value, expect):
    code, yaml = _doc_example()
    install_plugin(tmp_path, code)
    (tmp_path / "readers.yaml").write_text(yaml.replace("scale: 1/10000", f"scale: {value}"))
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "validate", str(tmp_path / "readers.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "readers.yaml:4" in lines[0] and "components.news.scale" in lines[0], lines
    assert expect in lines[0]


def test_a_scenario_with_nothing_to_drive_it_is_refused(tmp_path):
    from tests.helpers import assert_bad

    assert_bad(tmp_path, "name: idle\nduration: 10s\ncomponents:\n  s: {type: server, service_time: 1ms}\n",
               "workloads", "no workloads")


def test_a_study_names_an_applications_metrics_by_their_own_names():
    from simulator.study.run_figures import component_figures

    stats = {"feed": {"type": "instagram", "app": True, "scale": 0.001,
                      "metrics": {"read_s": {"count": 3, "mean": 0.1, "p50": 0.1, "p90": 0.2, "p99": 0.3, "max": 0.3},
                                  "posts": 7, "backlog": {"mean": 2.0, "max": 5.0},
                                  "surge": {"labels": ["a", "b"], "mean": [1.0, 2.0], "max": [1.0, 3.0]}},
                      "about": {"posts": "posts made"}}}
    figures = component_figures(stats)
    assert figures["feed.read_s.p99"] == 0.3 and figures["feed.posts"] == 7 and figures["feed.backlog.max"] == 5.0
    assert "feed.metrics.posts" not in figures and not any(k.startswith("feed.surge") for k in figures)


def test_a_figure_declared_better_when_higher_is_marked_so_in_studies():
    import models.apps.uber  # noqa: F401  (declares its figures when imported)
    from simulator.results.metrics import metric_info

    assert metric_info("city.match_rate")[1] == "max"
    assert metric_info("city.offers_per_match")[1] == "min"
    assert metric_info("city.time_to_match_s.p99") == ("ms", "min")


SIZED = """
name: sized
seed: 5
duration: 60s
components:
  app: {type: server, replicas: 2, workers: 2, service_time: 10ms}
  sizing: {type: sizing, scale: 1/100, services: [app], target_utilization: 0.5}
workloads:
  web: {arrivals: poisson(rate=100/s), target: app}
"""


def test_sizing_extrapolates_each_service_from_its_measured_utilisation():
    import math

    import simulator

    s = simulator.run(simulator.loads_scenario(SIZED)).summary
    util = [s["components"][f"app[{i}]"]["utilization"] for i in (1, 2)]
    mean = sum(util) / 2
    assert 0.2 < mean < 0.3  # 100/s x 10 ms over 4 workers
    full = math.ceil(2 * mean / 0.5 / 0.01)  # this run's replicas x their load, per 50% busy, x 100
    sizing = s["components"]["sizing"]
    assert sizing["metrics"]["app_replicas_full"] == full
    assert sizing["extrapolation"] == [f"app: 2 × {100 * mean:.1f}% busy here; the full load needs ~{full:,} at 50%"]
    assert s["requests"]["generated"] == s["workloads"]["web"]["requests"]["generated"]  # it adds no rows


@pytest.mark.parametrize("change, place, expect", [
    ("target_utilization: 0.5", "target_utilization: 0", "greater than 0"),
    ("services: [app]", "services: [ap]", "unknown component 'ap'"),
])
def test_sizing_bad_input_is_one_located_line(tmp_path, change, place, expect):
    from tests.helpers import assert_bad

    assert_bad(tmp_path, SIZED.replace(change, place), "components.sizing", expect)
