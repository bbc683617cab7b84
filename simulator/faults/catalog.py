"""Every built-in fault type, and the tagged config a scenario's `faults:` list is validated with."""
from __future__ import annotations

from simulator.faults import link, node  # noqa: F401  (registers the fault types)
from simulator.faults.base import FaultConfig
from simulator.language import registry
from simulator.language.tagged import tagged, tagged_validator

FaultSpec = tagged(FaultConfig, tagged_validator(registry.faults, "type", FaultConfig,
                                                 "a fault like {type: crash, target: app, at: 10s}", compact=False))

