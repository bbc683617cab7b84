"""Small scenario builders shared by the tests."""
from __future__ import annotations

import textwrap

from click.testing import CliRunner

import simulator
from cli import main

BASIC = """
name: t
seed: {seed}
duration: {duration}
warmup: {warmup}
components:
  app: {{type: server, workers: 2, service_time: exponential(mean=100ms)}}
workloads:
  clients: {{arrivals: poisson(rate=15/s), target: app}}
"""


def scenario(text: str, **fmt) -> simulator.Scenario:
    return simulator.loads_scenario(textwrap.dedent(text).format(**fmt) if fmt else textwrap.dedent(text))


def run(text: str, seed: int | None = None, **fmt) -> simulator.Result:
    if "{seed}" in text:
        fmt = {"seed": 0, "duration": "100s", "warmup": "0s", **fmt}
    return simulator.run(scenario(text, **fmt), seed=seed)


def run_validate(tmp_path, text, *args, name="s.yaml"):
    """`dsim validate` on `text` written to a file in `tmp_path`: (CliRunner result, file path)."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    result = CliRunner().invoke(main, ["validate", str(path), *args])
    return result, str(path)


def assert_bad(tmp_path, text, *fragments, line=None, args=()):
    """`text` is refused by `dsim validate` (exit code 2) with an error naming the file (and `line`) and
    containing every fragment; returns the output."""
    result, path = run_validate(tmp_path, text, *args)
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert out.startswith("error: "), out
    assert path in out or "--set" in out, out
    for frag in fragments:
        assert frag in out, f"{frag!r} not in {out!r}"
    if line is not None:
        assert f"{path}:{line}:" in out, out
    return out


def assert_conserved(result: simulator.Result) -> dict:
    """Every request ends with exactly one outcome: generated = the sum over EVERY outcome the engine
    has (the policies' outcomes appear in the summary only when nonzero), and each count equals the
    request records' own. Naming the outcomes from OUTCOME_NAMES, not by hand, means a new outcome
    cannot be left out of the sum. Returns the summary's request counts."""
    import numpy as np

    from simulator.engine.request import OUTCOME_NAMES

    r = result.summary["requests"]
    key = {"error": "errors"}
    names = [key.get(n, n) for n in OUTCOME_NAMES]
    assert set(r) <= {"generated", *names}, set(r) - {"generated", *names}
    assert r["generated"] == sum(r.get(n, 0) for n in names) > 0, r
    counts = np.bincount(result.columns["outcome"].astype(np.int64), minlength=len(OUTCOME_NAMES))
    assert {n: int(c) for n, c in zip(names, counts) if c} == {n: r[n] for n in names if r.get(n)}
    return r


def policy_error(policy: str) -> str:
    """The error a workload's `resilience: {policy}` is refused with (it must be refused), checked to be
    one line."""
    import pytest

    text = f"""
        name: t
        duration: 1s
        components:
          app: {{type: server, service_time: 1ms}}
        workloads:
          web: {{target: app, arrivals: poisson(rate=10/s), resilience: {{{policy}}}}}
    """
    with pytest.raises(simulator.ScenarioError) as e:
        simulator.loads_scenario(textwrap.dedent(text))
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def install_plugin(tmp_path: Path, module_text: str) -> None:
    """A package and its dist-info with one entry point, as pip would leave them in site-packages."""
    (tmp_path / "my_dsim_plugin.py").write_text(module_text)
    info = tmp_path / "my_dsim_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-dsim-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[dsim.components]\nmy-things = my_dsim_plugin\n")
