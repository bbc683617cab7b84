"""Output directories are complete and consistent or untouched (issue 9: B16, B17, B18), and
`dsim report` reads only what it can check."""
from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main

SCENARIO = """
name: tiny
seed: 1
duration: 20s
warmup: 2s
components:
  a: {type: server, workers: 2, service_time: exponential(mean=20ms)}
workloads:
  w: {arrivals: poisson(rate=20/s), target: a}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    return path


def _run(scenario: Path, out: Path, *args: str):
    return CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), *args])


def snapshot(d: Path) -> dict[str, str]:
    """Every file of `d` with the sha256 of its content."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def staging_left(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".dsim-" in p.name]


def test_a_run_again_into_a_directory_replaces_it_whole(scenario, tmp_path):
    out = tmp_path / "out"
    assert _run(scenario, out).exit_code == 0
    assert list(out.glob("*.png"))
    r = _run(scenario, out, "--no-charts", "--seed", "2")
    assert r.exit_code == 0, r.output
    assert not list(out.glob("*.png"))  # the first run's charts went with it
    assert json.loads((out / "summary.json").read_text())["seed"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) | {"manifest.json", "report.html"} == {p.name for p in out.iterdir()}
    assert "<img" not in (out / "report.html").read_text()
    assert not staging_left(tmp_path)


def test_the_report_embeds_only_the_charts_of_its_run(scenario, tmp_path):
    out = tmp_path / "out"
    assert _run(scenario, out).exit_code == 0
    charts = len(list(out.glob("*.png")))
    (out / "an_old_chart.png").write_bytes((out / "latency_cdf.png").read_bytes())  # another run's, say
    r = CliRunner().invoke(main, ["report", str(out)])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert html.count("<img") == charts and "an_old_chart" not in html


def test_the_report_refuses_a_directory_mixing_two_runs(scenario, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert _run(scenario, one).exit_code == 0
    assert _run(scenario, two, "--seed", "9").exit_code == 0
    (one / "summary.json").write_bytes((two / "summary.json").read_bytes())  # one seed's summary, another's data
    r = CliRunner().invoke(main, ["report", str(one)])
    assert r.exit_code == 2, r.output
    assert r.output.strip() == (f"error: {one / 'summary.json'}: changed since manifest.json was written: the "
                                f"directory mixes runs or was edited; write it again with --out")
    assert CliRunner().invoke(main, ["report", str(two)]).exit_code == 0
    (two / "timeseries.csv").unlink()
    r = CliRunner().invoke(main, ["report", str(two)])
    assert r.exit_code == 2 and "timeseries.csv: missing since manifest.json" in r.output


def test_a_failed_write_names_the_file_and_leaves_the_old_directory(scenario, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(scenario, out).exit_code == 0
    before = snapshot(out)

    def full_disk(self, path, *a, **k):
        Path(path).write_bytes(b"PAR1")  # what a full disk left: 4 bytes
        raise OSError(errno.ENOSPC, "No space left on device")

    from simulator.results.result import Result

    monkeypatch.setattr(Result, "write_requests", full_disk)
    r = _run(scenario, out, "--seed", "3")
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1] == f"error: cannot write {out / 'requests.parquet'}: No space left on device"
    assert snapshot(out) == before
    assert not staging_left(tmp_path)
    r = _run(scenario, tmp_path / "new", "--seed", "3")
    assert r.exit_code == 1 and not (tmp_path / "new").exists()  # nothing half-written where there was nothing


def test_two_runs_into_one_directory_at_once_leave_one_of_them(scenario, tmp_path, monkeypatch):
    # Run B writes its whole output while run A is half-way through its own (between two files).
    ref_a, ref_b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    assert _run(scenario, ref_a).exit_code == 0
    assert _run(scenario, ref_b, "--seed", "5").exit_code == 0
    written = pd.DataFrame.to_csv
    interleaved = []

    def to_csv(self, path, *a, **k):
        if not interleaved:
            interleaved.append(True)
            assert _run(scenario, out, "--seed", "5").exit_code == 0  # B, inside A
        return written(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    r = _run(scenario, out)  # A
    assert interleaved and r.exit_code == 0, r.output
    assert snapshot(out) in (snapshot(ref_a), snapshot(ref_b))
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0
    assert not staging_left(tmp_path)


@pytest.mark.parametrize("target", ["/dev/null", "a-file"])
def test_an_out_that_is_not_a_directory_is_one_line_before_any_run(scenario, tmp_path, monkeypatch, target):
    import simulator.simulation.runner

    monkeypatch.setattr(simulator.simulation.runner, "_run", lambda *a, **k: pytest.fail("a simulation started"))
    if target == "a-file":
        target = str(tmp_path / "a-file")
        Path(target).write_text("mine")
    r = _run(scenario, Path(target))
    assert r.exit_code == 2
    assert r.output == f"error: --out: {target} exists and is not a directory\n"
    if target.endswith("a-file"):
        assert Path(target).read_text() == "mine"


def test_a_directory_holding_other_files_is_refused_and_kept(scenario, tmp_path, monkeypatch):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = _run(scenario, out)
    assert r.exit_code == 2
    assert r.output.startswith(f"error: --out: {out} holds files dsim did not write there (notes.txt)")
    assert snapshot(out) == {"notes.txt": hashlib.sha256(b"keep me").hexdigest()}
    monkeypatch.chdir(out)
    (out / "notes.txt").unlink()
    r = _run(scenario, Path("."))  # an empty current directory: replacing it would pull it from under the shell
    assert r.exit_code == 2 and "is the current directory" in r.output


def test_an_empty_directory_or_a_symbolic_link_is_written(scenario, tmp_path):
    (tmp_path / "empty").mkdir()
    assert _run(scenario, tmp_path / "empty").exit_code == 0
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    assert _run(scenario, tmp_path / "link", "--seed", "4").exit_code == 0
    assert (tmp_path / "link").is_symlink()  # the directory it points to was replaced, not the link
    assert json.loads((tmp_path / "empty" / "summary.json").read_text())["seed"] == 4


def test_compare_out_is_replaced_whole_too(scenario, tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", str(scenario), "--vary", "components.a.workers=2,3", "-r", "2", "--workers", "1",
            "--no-cache", "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert list(out.glob("compare_*.png"))
    r = CliRunner().invoke(main, args + ["--no-charts"])
    assert r.exit_code == 0, r.output
    assert not list(out.glob("*.png")) and not list(out.glob("*.svg"))
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0


# --- B18: dsim report on files it did not write as they are ---------------------------------------
@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("written")
    (d / "s.yaml").write_text(SCENARIO)
    assert _run(d / "s.yaml", d / "out", "--no-charts").exit_code == 0
    return d / "out"


def _damaged(written: Path, tmp_path: Path, name: str, edit) -> Path:
    d = tmp_path / "damaged"
    d.mkdir()
    for p in written.iterdir():
        if p.name != "manifest.json":  # as a dsim before the manifest wrote it, or as someone edited it
            (d / p.name).write_bytes(p.read_bytes())
    (d / name).write_text(edit((d / name).read_text()))
    return d


def _summary(change):
    def edit(text):
        data = json.loads(text)
        change(data)
        return json.dumps(data)
    return edit


@pytest.mark.parametrize("name,edit,fragment", [
    ("summary.json", _summary(lambda s: s.update(requests=5)), "summary.json: requests: expected a mapping, got int"),
    ("summary.json", _summary(lambda s: s.update(latency_s=[])), "summary.json: latency_s: expected a mapping"),
    ("summary.json", _summary(lambda s: s["requests"].update(ok="many")),
     "summary.json: requests.ok: expected an integer, got str"),
    ("summary.json", _summary(lambda s: s.update(components={"a": 5})), "summary.json: components.a: expected a mapping"),
    ("summary.json", _summary(lambda s: s.update(faults=[{"start_s": "x"}])), "summary.json: faults[0].start_s"),
    ("summary.json", _summary(lambda s: s.update(warnings="w")), "summary.json: warnings: expected a list"),
    ("summary.json", _summary(lambda s: s.update(duration_s=True)), "summary.json: duration_s: expected a number"),
    ("summary.json", lambda t: "[" * 100_000, "summary.json: not readable JSON"),
    ("summary.json", lambda t: t[: len(t) // 2], "summary.json: not readable JSON"),
    ("scenario.yaml", lambda t: "components: [a, b]\n", "scenario.yaml: components: expected a mapping, got list"),
    ("scenario.yaml", lambda t: "components: {a: 5}\n", "scenario.yaml: components.a: expected a mapping, got int"),
    ("scenario.yaml", lambda t: "- 1\n- 2\n", "scenario.yaml: expected a mapping, got list"),
    ("scenario.yaml", lambda t: "components: {a: {calls: [5]}}\n", "scenario.yaml: not the shape dsim"),
    ("scenario.yaml", lambda t: "components: {a: {type: [x]}, b: {type: y}}\n", "scenario.yaml: not the shape dsim"),
    ("scenario.yaml", lambda t: "a: [" * 5000, "scenario.yaml: not readable YAML"),
])
def test_report_on_a_malformed_file_is_one_line_exit_2(written, tmp_path, name, edit, fragment):
    d = _damaged(written, tmp_path, name, edit)
    r = CliRunner().invoke(main, ["report", str(d)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {d}/"), r.output
    assert fragment in lines[0], lines[0]


def test_report_of_a_directory_without_a_manifest_still_works(written, tmp_path):
    d = _damaged(written, tmp_path, "scenario.yaml", lambda t: t)  # a directory a dsim before the manifest wrote
    r = CliRunner().invoke(main, ["report", str(d)])
    assert r.exit_code == 0, r.output
    assert not list(d.glob(".report.html.*"))  # written under a temporary name, then moved in place


def test_without_an_atomic_exchange_the_directory_is_still_replaced_whole(scenario, tmp_path, monkeypatch):
    from reports import output_directory

    out = tmp_path / "out"
    assert _run(scenario, out).exit_code == 0
    monkeypatch.setattr(output_directory, "_exchange", lambda a, b: False)  # not Linux, or a file system without it
    assert _run(scenario, out, "--no-charts", "--seed", "6").exit_code == 0
    assert not list(out.glob("*.png")) and json.loads((out / "summary.json").read_text())["seed"] == 6
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0
    assert not staging_left(tmp_path)


def test_a_chart_that_cannot_be_written_is_named(scenario, tmp_path, monkeypatch):
    from reports import charts

    def savefig(fig, path, *a, **k):
        raise OSError(errno.EDQUOT, "Disk quota exceeded", str(path))

    monkeypatch.setattr(charts.plt.Figure, "savefig", savefig)
    r = _run(scenario, tmp_path / "out")
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1] == f"error: cannot write {tmp_path / 'out' / 'latency_cdf.png'}: Disk quota exceeded"
    assert not (tmp_path / "out").exists() and not staging_left(tmp_path)
