"""The cost model: what a run would cost, from the replica-hours its components were up, the bytes
its responses sent out and the requests it served, at the prices of the scenario's `cost:` section.

Pure arithmetic over figures the run already has (docs/resilience.md, "Cost"): the replica-hours of a
component are its instance count × the measured hours (for an autoscaled server, the billed
replica-hours it reports, provisioning and draining included); requests are the client requests
generated in the measured window; egress is the finished ones × `response_size`.
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import Field, NonNegativeFloat

from simulator.language.config import StrictModel
from simulator.language.units import Size

SECONDS_PER_HOUR = 3600.0
BYTES_PER_GB = 1e9


class CostConfig(StrictModel):
    """Prices of a run (any currency; `currency` is only shown)."""

    replica_hour: dict[str, NonNegativeFloat] = Field(
        default_factory=dict, description="Price per replica-hour by component name or type (a name wins over "
        "its type): {server: 0.10, db: 0.50}. Components with no price cost nothing.")
    per_gb_egress: NonNegativeFloat = Field(0.0, description="Price per GB (10^9 bytes) of responses sent to the clients.")
    response_size: Size = Field(0.0, description="Bytes of one response to a client (for egress).")
    per_million_requests: NonNegativeFloat = Field(0.0, description="Price per million client requests.")
    currency: str = Field("USD", description="Shown with the figures.")

    def price_of(self, name: str, type_name: str) -> float | None:
        """The replica-hour price of component `name` of type `type_name` (None: not priced)."""
        return self.replica_hour.get(name, self.replica_hour.get(type_name))


def cost_summary(config: CostConfig, replica_hours: dict[str, tuple[str, float]], requests: int,
                 finished: int) -> dict[str, Any]:
    """The summary's `cost` section. `replica_hours`: YAML component name -> (type, replica-hours over the
    measured window); `requests`: client requests generated in it; `finished`: those answered."""
    by_component = {}
    hours = {}
    for name, (type_name, h) in replica_hours.items():
        price = config.price_of(name, type_name)
        if price is not None:
            by_component[name] = h * price
            hours[name] = h
    replicas = math.fsum(by_component.values())
    egress_gb = finished * config.response_size / BYTES_PER_GB
    egress = egress_gb * config.per_gb_egress
    per_requests = requests / 1e6 * config.per_million_requests
    return {
        "currency": config.currency,
        "total": math.fsum([replicas, egress, per_requests]),
        "replicas": replicas,
        "egress": egress,
        "requests": per_requests,
        "replica_hours": hours,
        "by_component": by_component,
        "egress_gb": egress_gb,
    }


def cost_figures(cost: dict[str, Any] | None) -> dict[str, float]:
    """The cost section as figures a study can compare (`dsim compare --metric cost.total`): `cost.total`,
    `cost.replicas`, `cost.egress`, `cost.requests`, `cost.by_component.NAME`, `cost.replica_hours.NAME`."""
    if not cost:
        return {}
    out: dict[str, float] = {}
    for key, value in cost.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"cost.{key}"] = value
        elif isinstance(value, dict):
            out.update({f"cost.{key}.{sub}": v for sub, v in value.items()})
    return out
