"""SIGTERM and SIGINT stop `dsim run` and `dsim compare` cleanly (issue 9: B16, B25): every child
process ends with dsim (pool workers, forkserver, resource tracker), the exit code is the shell's
for the signal, and an output directory being written is left complete or untouched.

Each command runs in its own session, so its process group holds dsim and everything it started;
the group is read from /proc (a zombie waiting for its parent does not count)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

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
# Runs the CLI with one writer paused after it wrote its file: the signal comes mid-write, always.
PAUSED = """
import os, sys, time
from pathlib import Path
import importlib
sys.path.insert(0, os.getcwd())
module, attr = os.environ["DSIM_TEST_PAUSE"].split(":")
cls, name = attr.split(".")
cls = getattr(importlib.import_module(module), cls)
original = getattr(cls, name)
def paused(self, path, *a, **k):
    original(self, path, *a, **k)
    Path(os.environ["DSIM_TEST_MARK"]).write_text(str(path))
    time.sleep(120)
setattr(cls, name, paused)
from cli import main
main(prog_name="dsim")
"""


def alive(pgid: int) -> list[str]:
    """The processes of group `pgid` still running (not zombies), as 'pid command'."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        state, _ppid, group = stat[stat.rindex(")") + 2:].split()[:3]
        if int(group) == pgid and state != "Z":
            found.append(f"{proc.name} {cmd[:100]}")
    return found


def wait_until_gone(pgid: int, bound_s: float = 20.0) -> list[str]:
    """Wait for the group to empty (a child notices its parent's exit at once, but not in no time)."""
    deadline = time.monotonic() + bound_s
    while alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pgid)


def start(args: list[str], env: dict[str, str] | None = None, code: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "cli", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, **(env or {})})


def stop(proc: subprocess.Popen, sig: int) -> tuple[str, str, list[str]]:
    """Send `sig` to dsim alone (not its group, unlike a terminal's Ctrl-C); (stdout, stderr, left)."""
    try:
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=90)
        return out, err, wait_until_gone(proc.pid)
    finally:
        if alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def wait_for(path: Path, proc: subprocess.Popen, bound_s: float = 120.0) -> None:
    deadline = time.monotonic() + bound_s
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    assert path.exists(), "the command never got there"


def snapshot(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_compare_stops_every_worker_and_child(tmp_path, sig):
    cache = tmp_path / "cache"
    proc = start(["compare", "scenarios/three-tier.yaml", "--vary", "components.lb.algorithm=round_robin,random",
                  "-r", "20", "--duration", "100s", "--workers", "2", "--cache-dir", str(cache),
                  "--out", str(tmp_path / "out")])
    deadline = time.monotonic() + 120
    while not list(cache.rglob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # until a first run is finished: the pool, its forkserver and workers are up
    assert proc.poll() is None, proc.communicate()
    assert len(alive(proc.pid)) >= 4  # dsim, the forkserver, the resource tracker, workers
    _out, err, left = stop(proc, sig)
    assert left == []
    assert proc.returncode == 128 + sig, err
    assert err.startswith("error: interrupted: ") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.dsim-*"))


def _old_output(tmp_path: Path, *args: str) -> tuple[Path, Path, dict[str, str]]:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, [*args[:1], str(scenario), *args[1:], "--out", str(out)])
    assert r.exit_code == 0, r.output
    return scenario, out, snapshot(out)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_run_mid_write_leaves_the_old_directory_untouched(tmp_path, sig):
    scenario, out, before = _old_output(tmp_path, "run")
    mark = tmp_path / "written"
    proc = start(["run", str(scenario), "--seed", "2", "--out", str(out)], code=PAUSED,
                 env={"DSIM_TEST_PAUSE": "simulator.results.result:Result.write_requests", "DSIM_TEST_MARK": str(mark)})
    wait_for(mark, proc)  # requests.parquet of the new run is written: the other files are not
    _out, err, left = stop(proc, sig)
    assert left == []
    assert proc.returncode == 128 + sig and err == "error: interrupted\n", err
    assert snapshot(out) == before
    assert not list(tmp_path.glob(".out.dsim-*"))


def test_sigterm_to_compare_mid_write_leaves_the_old_directory_untouched(tmp_path):
    args = ("compare", "--vary", "components.a.workers=2,3", "-r", "2", "--workers", "1", "--no-cache")
    scenario, out, before = _old_output(tmp_path, *args)
    mark = tmp_path / "written"
    proc = start([args[0], str(scenario), *args[1:], "--seed", "2", "--out", str(out)], code=PAUSED,
                 env={"DSIM_TEST_PAUSE": "pandas:DataFrame.to_csv", "DSIM_TEST_MARK": str(mark)})
    wait_for(mark, proc)  # comparison.json and replications.csv are written: the rest is not
    _out, err, left = stop(proc, signal.SIGTERM)
    assert left == []
    assert proc.returncode == 143 and err == "error: interrupted\n", err
    assert snapshot(out) == before
    assert json.loads((out / "comparison.json").read_text())["seed"] == 1
    assert not list(tmp_path.glob(".out.dsim-*"))
