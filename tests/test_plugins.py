"""Third-party component types arrive through the `dsim.components` entry-point group (the example of
docs/architecture.md), in a fresh interpreter so the registry of this process stays as it is."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import install_plugin

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
from typing import Literal
from models.base import Component, ComponentConfig
from simulator.engine.request import OK
from simulator.language import registry

@registry.components.register("echo")
class Echo(Component):
    """Answers every call at once."""
    class Config(ComponentConfig):
        type: Literal["echo"] = "echo"
    def handle(self, req, reply):
        reply(OK)
'''

SCENARIO = """
name: plugin
duration: 10s
components:
  e: {type: echo}
workloads:
  w: {arrivals: poisson(rate=10/s), target: e}
"""


def _run(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}, timeout=120)


def test_a_component_from_an_entry_point_runs(tmp_path):
    install_plugin(tmp_path, PLUGIN)
    done = _run(tmp_path, f"""
        import simulator
        sc = simulator.loads_scenario({SCENARIO!r})
        s = simulator.run(sc).summary
        print(s["requests"]["ok"], s["requests"]["generated"], s["components"]["e"]["type"])
    """)
    assert done.returncode == 0, done.stderr
    ok, generated, kind = done.stdout.split()
    assert int(ok) == int(generated) > 50 and kind == "echo"


def test_without_the_plugin_the_type_is_unknown(tmp_path):
    done = _run(tmp_path, f"""
        import simulator
        try:
            simulator.loads_scenario({SCENARIO!r})
        except simulator.ScenarioError as e:
            print(e)
    """)
    assert "unknown component type 'echo'" in done.stdout, done.stdout + done.stderr


def test_a_broken_plugin_is_one_clear_error(tmp_path):
    install_plugin(tmp_path, "raise ImportError('no module named frobnicate')\n")
    done = _run(tmp_path, f"""
        import simulator
        try:
            simulator.loads_scenario({SCENARIO!r})
        except simulator.DsimError as e:
            print("ERR", e)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ERR plugin 'my-things' (my_dsim_plugin)"), done.stdout
    assert "frobnicate" in done.stdout and len(done.stdout.strip().splitlines()) == 1
