"""Ready scenarios under a storm of the newer fault types overlapping each other and the older ones
(error, duplicate, latency drawn from a distribution, load_spike, clock_skew, cache_flush, chaos
crashes, with a crash and a partition inside their windows): requests are conserved, and once every
fault has ended and the system had time to drain, nothing started before is still in flight."""
from __future__ import annotations

import numpy as np
import pytest

import simulator
from tests.helpers import assert_conserved

SCENARIOS = ["three-tier", "async-queue", "replication", "sharding", "cdn", "lb-compare"]
FAULTS_END_S = 22.0
DURATION_S = 36.0


def storm(sc: simulator.Scenario) -> list[dict]:
    faults = []
    for i, name in enumerate(sc.components):
        t = 2.0 + i
        faults += [
            {"type": "error", "target": name, "probability": "30%", "at": f"{t}s", "duration": "10s"},
            {"type": "error", "target": name, "probability": "20%", "at": f"{t + 5}s", "duration": "8s"},
            {"type": "crash", "target": name, "at": f"{t + 6}s", "duration": "2s"},  # inside both
            {"type": "clock_skew", "target": name, "offset": "30s", "drift": 0.5, "at": f"{t}s", "duration": "8s"},
        ]
        if sc.components[name].type in ("cache", "cdn"):
            faults.append({"type": "cache_flush", "target": name, "at": f"{t + 4}s"})
        for wl in sc.workloads:
            faults += [
                {"type": "duplicate", "groups": [[wl], [name]], "probability": "50%", "at": f"{t}s", "duration": "8s"},
                {"type": "latency", "groups": [[wl], [name]], "add": "exponential(mean=20ms)", "at": f"{t + 1}s",
                 "duration": "6s"},
                {"type": "partition", "groups": [[wl], [name]], "at": f"{t + 3}s", "duration": "1s"},
            ]
    for wl, cfg in sc.workloads.items():
        if cfg.arrivals is not None:
            faults += [{"type": "load_spike", "target": wl, "factor": 2, "at": "3s", "duration": "8s"},
                       {"type": "load_spike", "target": wl, "factor": 1.5, "at": "6s", "duration": "8s"}]
    faults.append({"type": "chaos", "target": list(sc.components)[:2], "mtbf": "exponential(mean=5s)",
                   "mttr": "1s", "duration": "12s"})
    return faults


@pytest.mark.parametrize("name", SCENARIOS)
def test_nothing_is_lost_under_a_storm_of_the_newer_faults(name):
    sc = simulator.load_scenario(f"scenarios/{name}.yaml")
    sc = simulator.with_overrides(sc, {"duration": f"{DURATION_S}s", "warmup": "0s", "faults": storm(sc),
                                       "compare": None})
    res = simulator.run(sc, seed=5)
    last = max(w["end_s"] for w in res.fault_windows)
    assert last <= FAULTS_END_S
    r = assert_conserved(res)  # every outcome, the policies' (shed, rate_limited, ...) included
    assert r["errors"] > 0  # the storm did reach the system
    c = res.columns
    early = c["start"] < FAULTS_END_S + 5.0
    stuck = early & np.isnan(c["end"])
    assert not stuck.any(), f"{int(stuck.sum())} requests started before {FAULTS_END_S + 5}s never finished"
