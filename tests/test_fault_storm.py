"""Every ready scenario under a storm of overlapping faults on every component (crash, pause and slow
windows that overlap each other, partitions between each workload and each component): requests are
conserved, and none is lost for good: once every fault has ended and the system had time to drain,
nothing started before is still in flight (a held call never released, or a reply dropped, would be)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import simulator
from tests.helpers import assert_conserved

SCENARIOS = sorted(p.stem for p in Path("scenarios").glob("*.yaml"))
FAULTS_END_S = 70.0
DURATION_S = 150.0


def storm(sc: simulator.Scenario) -> list[dict]:
    faults = []
    for i, name in enumerate(sc.components):
        t = 10.0 + 2 * i
        faults += [
            {"type": "slow", "target": name, "factor": 3, "at": f"{t}s", "duration": "30s"},
            {"type": "crash", "target": name, "at": f"{t + 5}s", "duration": "6s"},
            {"type": "pause", "target": name, "at": f"{t + 8}s", "duration": "5s"},  # overlaps the crash
            {"type": "crash", "target": name, "at": f"{t + 9}s", "duration": "1s"},  # inside both
        ]
        for wl in sc.workloads:
            faults.append({"type": "partition", "groups": [[wl], [name]], "at": f"{t + 3}s", "duration": "4s"})
    assert max(float(f["at"][:-1]) + float(f["duration"][:-1]) for f in faults) <= FAULTS_END_S
    return faults


@pytest.mark.parametrize("name", SCENARIOS)
def test_nothing_is_lost_under_a_storm_of_overlapping_faults(name):
    sc = simulator.load_scenario(f"scenarios/{name}.yaml")
    sc = simulator.with_overrides(sc, {"duration": f"{DURATION_S}s", "warmup": "0s", "faults": storm(sc),
                                       "compare": None})
    res = simulator.run(sc, seed=3)
    r = assert_conserved(res)  # every outcome, the policies' (shed, rate_limited, ...) included
    assert r["errors"] + r["timed_out"] > 0  # the storm did reach the system
    c = res.columns
    early = c["start"] < FAULTS_END_S + 10.0
    stuck = early & np.isnan(c["end"])
    assert not stuck.any(), f"{int(stuck.sum())} requests started before {FAULTS_END_S + 10}s never finished"
