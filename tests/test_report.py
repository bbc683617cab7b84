"""dsim report: one self-contained HTML file per run or comparison directory."""
import pytest
from click.testing import CliRunner

from cli import main
from reports.html_report import edges_of


def test_run_report_has_topology_tables_charts_faults_and_config(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["run", "scenarios/three-tier.yaml", "--duration", "150s", "--out", str(out)])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    for piece in ("<svg", "three-tier", "Fault timeline", "crash app-1", "data:image/png;base64,",
                  "Effective configuration", "least_connections", "Latency of successful requests"):
        assert piece in html, piece
    assert html.count("<img") == len(list(out.glob("*.png")))
    assert 'src="http' not in html and 'href="http' not in html
    # written again from the directory alone
    (out / "report.html").unlink()
    r = CliRunner().invoke(main, ["report", str(out)])
    assert r.exit_code == 0 and (out / "report.html").exists()


def test_report_of_a_directory_without_results_is_bad_input(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "summary.json" in r.output


@pytest.mark.parametrize("name,text,fragment", [
    ("comparison.json", "{not json", "comparison.json: not readable JSON"),
    ("comparison.json", '{"a": 1}', "comparison.json: not written by dsim run/compare --out (no 'scenario'"),
    ("summary.json", "[1, 2]", "summary.json: not written by dsim"),
])
def test_a_directory_whose_results_are_not_dsims_is_bad_input(tmp_path, name, text, fragment):
    (tmp_path / name).write_text(text)
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and r.output.startswith("error: ") and fragment in r.output, r.output


def test_topology_edges_follow_every_kind_of_reference():
    cfg = {
        "components": {
            "lb": {"type": "load_balancer", "backends": ["app"]},
            "app": {"type": "server", "calls": ["cache", {"parallel": ["q", "s"]}]},
            "cache": {"type": "cache", "backing": "r"},
            "r": {"type": "replicated", "replicas": ["db1", "db2"]},
            "s": {"type": "sharded", "shards": ["db1"], "reshard": [{"at": "1s", "add": "db2"}]},
            "q": {"type": "queue", "consumer_groups": {"g": {"target": "app", "dead_letter": "db1"}}},
            "cdn": {"type": "cdn", "origin": "app"},
        },
        "workloads": {"w": {"target": "lb"}},
    }
    pairs = {(a, b) for a, b, _ in edges_of(cfg)}
    assert pairs == {("lb", "app"), ("app", "cache"), ("app", "q"), ("app", "s"), ("cache", "r"), ("r", "db1"),
                     ("r", "db2"), ("s", "db1"), ("s", "db2"), ("q", "app"), ("q", "db1"), ("cdn", "app"),
                     ("[w]", "lb")}


def test_run_report_shows_the_data_tier_tables(tmp_path):
    out = tmp_path / "q"
    r = CliRunner().invoke(main, ["run", "scenarios/async-queue.yaml", "--duration", "60s", "--out", str(out),
                                  "--no-charts"])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert "Component details" in html and "Message queues" in html and "billing x8" in html
