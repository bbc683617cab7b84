"""dsim: a discrete-event simulator of distributed systems, on SimPy.

    import simulator
    scenario = simulator.load_scenario("scenarios/three-tier.yaml", overrides={"seed": 7})
    result = simulator.run(scenario)
    result.summary["latency_s"]["p99"], result.requests, result.timeseries, result.components

The subpackages, lowest layer first (each imports only those before it; tests/test_architecture.py
checks it): language (the scenario language), statistics, sampling, engine (the hot path), results,
workload and faults, then `models/` (component models, a top-level package), scenario (loading),
simulation (one run), study (many runs). docs/architecture.md explains them.
"""
from simulator.language.errors import DsimError, ScenarioError
from simulator.version import __version__
from simulator.results.result import Result
from simulator.simulation.runner import build, run
from simulator.scenario.schema import Scenario, load_scenario, loads_scenario, with_overrides

__all__ = [
    "DsimError", "Result", "Scenario", "ScenarioError", "build", "load_scenario", "loads_scenario",
    "run", "with_overrides", "__version__",
]
