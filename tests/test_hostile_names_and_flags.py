"""Names and flags that once broke the CLI (issue 9: B20, B21)."""
from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

from cli import main

SCENARIO = """
name: {name}
seed: 1
duration: 20s
warmup: 2s
components:
  a: {{type: server, workers: 2, service_time: exponential(mean=20ms)}}
workloads:
  w: {{arrivals: poisson(rate=20/s), target: a}}
"""


@pytest.mark.parametrize("address", ["garbage!!", "tcp://", "tcp://host", "host:99999", "tcp://a b:8786", ""])
def test_a_scheduler_that_is_not_an_address_is_bad_input(tmp_path, address):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(name="t"))
    r = CliRunner().invoke(main, ["compare", str(path), "--vary", "components.a.workers=2,3", "--scheduler", address])
    assert r.exit_code == 2, r.output
    assert r.output == (f"error: --scheduler: expected a scheduler address such as tcp://host:8786, "
                        f"got {address!r}\n")


def _write(tmp_path, name: str):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(name=name), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [
    ["run"], ["compare", "--vary", "components.a.workers=2,3", "-r", "2", "--workers", "1", "--no-cache"]])
def test_a_name_with_dollar_signs_is_drawn_as_written(tmp_path, command):
    # Once parsed as mathtext: `$\frac{x^$` raised inside matplotlib and left half an output directory.
    path = _write(tmp_path, '"$\\\\frac{x^$"')  # the name is $\frac{x^$ (two dollars: mathtext for matplotlib)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, [command[0], str(path), *command[1:], "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert list(out.glob("*.png")) and "<h1>$\\frac{x^$: " in (out / "report.html").read_text()


@pytest.mark.parametrize("command", [
    ["run"], ["compare", "--vary", "components.a.workers=2,3", "-r", "2", "--workers", "1", "--no-cache"]])
def test_an_emoji_name_gives_one_note_not_a_warning_per_glyph(tmp_path, command):
    path = _write(tmp_path, '"rocket 🚀 launch 🛸"')
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:  # pytest would keep Python warnings from stderr
        warnings.simplefilter("always")
        r = CliRunner().invoke(main, [command[0], str(path), *command[1:], "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert [str(w.message) for w in caught] == []
    assert r.stderr == "note: the chart fonts cannot draw 🚀 (U+1F680), 🛸 (U+1F6F8): shown as empty boxes\n"
