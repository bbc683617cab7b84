"""dsim: a discrete-event simulator of distributed systems, on SimPy.

    import simulator
    scenario = simulator.load_scenario("scenarios/three-tier.yaml", overrides={"seed": 7})
    result = simulator.run(scenario)
    result.summary["latency_s"]["p99"], result.requests, result.timeseries, result.components
"""
from .errors import DsimError, ScenarioError
from .result import Result
from .runner import build, run
from .scenario import Scenario, load_scenario, loads_scenario, with_overrides

__all__ = [
    "DsimError", "Result", "Scenario", "ScenarioError", "build", "load_scenario", "loads_scenario",
    "run", "with_overrides",
]
__version__ = "0.2.0"
