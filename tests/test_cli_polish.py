"""The command line as a new user meets it: help texts, `dsim list`, --warmup, --quiet, error lines."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

LB = "scenarios/lb-basic.yaml"  # its own warm-up is 60s
SHORT = ["--duration", "20s", "--warmup", "2s"]


def _cli(*args):
    return CliRunner().invoke(main, list(args), terminal_width=80)


def test_the_command_list_never_cuts_a_summary_mid_sentence():
    r = _cli("--help")
    assert r.exit_code == 0
    assert "..." not in r.output.split("Commands:")[1]
    for name, cmd in main.commands.items():
        line = next(line for line in r.output.splitlines() if line.strip().startswith(name + " "))
        assert line.split(None, 1)[1].strip() == cmd.get_short_help_str(1000), name
    assert all(len(line) <= 80 for line in r.output.splitlines())


def test_run_help_has_examples_and_says_what_out_writes():
    r = _cli("run", "--help")
    assert r.exit_code == 0
    assert "Examples:" in r.output and "dsim run scenarios/lb-basic.yaml" in r.output
    for name in ("summary.json", "requests.parquet", "timeseries.csv", "components.csv", "scenario.yaml",
                 "report.html"):
        assert name in r.output.split("--out DIR writes:")[1], name
    assert all(len(line) <= 80 for line in r.output.splitlines())


def test_list_one_kind():
    r = _cli("list", "faults")
    assert r.exit_code == 0
    assert "crash" in r.output and "partition" in r.output
    assert "round_robin" not in r.output and "component types" not in r.output
    assert _cli("list", "fault").output == r.output  # the singular too


def test_list_as_json():
    from simulator.language import registry

    everything = json.loads(_cli("list", "--format", "json").output)
    assert {"components", "algorithms", "faults", "distributions"} <= set(everything)
    faults = json.loads(_cli("list", "faults", "--format", "json").output)
    assert list(faults) == ["faults"]
    assert [f["name"] for f in faults["faults"]] == [name for name, _ in registry.faults]
    assert all(f["description"] for f in faults["faults"])


def test_an_unknown_kind_is_one_line_with_a_suggestion():
    r = _cli("list", "falts")
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "did you mean 'faults'" in r.stderr


def test_warmup_flag_applies_with_the_duration():
    # The file's 60s warm-up is longer than 20s: --warmup must apply together with --duration.
    r = _cli("run", LB, *SHORT, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["warmup_s"] == 2.0
    auto = _cli("run", LB, "--duration", "20s", "--warmup", "auto", "--format", "json")
    assert auto.exit_code == 0 and json.loads(auto.stdout)["warmup_auto"] is not None


@pytest.mark.parametrize("value,fragment", [("3x", "--warmup: expected a duration"),
                                            ("30s", "--duration, --warmup: warmup: warm-up (30s) must be shorter")])
def test_a_bad_warmup_is_one_line_naming_the_flag(value, fragment):
    r = _cli("run", LB, "--duration", "20s", "--warmup", value)
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and fragment in r.stderr, r.stderr


def test_quiet_prints_nothing_but_writes_the_files(tmp_path):
    out = tmp_path / "o"
    r = _cli("run", LB, *SHORT, "-q", "--out", str(out), "--no-charts")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert (out / "summary.json").exists() and (out / "requests.parquet").exists()
    loud = _cli("run", LB, *SHORT)
    assert "Latency of successful requests" in loud.stdout


def test_quiet_compare_prints_no_table(tmp_path):
    args = ("compare", LB, *SHORT, "--vary", "components.lb.algorithm=round_robin,random", "-r", "2",
            "--workers", "1", "--no-cache")
    assert _cli(*args, "--quiet").stdout == ""
    assert "Differences against" in _cli(*args).stdout


def test_a_set_error_names_the_path_once():
    r = _cli("validate", LB, "--set", "components.app-1.workers=abc")
    assert r.exit_code == 2
    assert r.stderr.count("components.app-1.workers") == 1, r.stderr
    assert r.stderr.startswith("error: --set: components.app-1.workers: ")


def test_a_workload_named_like_a_component_is_refused_in_one_line(tmp_path):
    path = tmp_path / "clash.yaml"
    path.write_text(Path(LB).read_text().replace("  web:\n", "  app-1:\n"))
    r = _cli("validate", str(path))
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "'app-1' is both a component and a workload" in r.stderr
    assert "cannot be called like a component" in Path("docs/scenario-format.md").read_text()


def test_the_docs_say_what_is_not_modelled():
    text = Path("docs/limitations.md").read_text()
    assert "retries" in text and "autoscaling" in text.lower()
    assert "docs/limitations.md" in Path("README.md").read_text()
