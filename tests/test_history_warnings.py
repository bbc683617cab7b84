"""One history for checkable workloads that reach independent stores: their keys collide, so the run
warns (docs/consistency.md, "Checkable workloads")."""
from __future__ import annotations

import textwrap

import simulator

TWO = """
name: two
seed: 1
duration: 2s
check: [linearizable]
components:
  front: {{type: server, workers: 4, service_time: exponential(mean=1ms), calls: [db-a]}}
  db-a: {{type: database, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}}
  db-b: {{type: database, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}}
workloads:
  a: {{target: {a}, users: 3, think_time: exponential(mean=5ms), timeout: 1s, checkable: true,
      keys: uniform(n=2), mix: {{read: 0.5, write: 0.5}}}}
  b: {{target: {b}, users: 3, think_time: exponential(mean=5ms), timeout: 1s, checkable: true,
      keys: uniform(n=2), mix: {{read: 0.5, write: 0.5}}}}
"""


def run(a, b):
    return simulator.run(simulator.loads_scenario(textwrap.dedent(TWO.format(a=a, b=b))))


def test_checkable_workloads_on_independent_stores_warn_and_their_verdict_is_false():
    result = run("db-a", "db-b")
    warned = [w for w in result.summary["warnings"] if "checkable workloads 'a' and 'b'" in w]
    assert len(warned) == 1
    # each store alone is a single database (linearizable); together their keys collide
    assert result.summary["consistency"]["checks"]["linearizable"]["verdict"] == "fail"
    for target in ("db-a", "db-b"):
        alone = simulator.run(simulator.loads_scenario(textwrap.dedent(TWO.format(a=target, b=target))))
        assert alone.summary["consistency"]["checks"]["linearizable"]["verdict"] == "pass"


def test_workloads_that_reach_one_store_by_different_paths_do_not_warn():
    result = run("front", "db-a")  # front calls db-a: the same registers
    assert not [w for w in result.summary["warnings"] if "checkable workloads" in w]
    assert result.summary["consistency"]["checks"]["linearizable"]["verdict"] == "pass"
