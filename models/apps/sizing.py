"""`sizing`: what the full system would need, from what a scaled-down run measured. A scenario that
simulates a slice of the real load (`scale: 1/1000` of the users) and is driven by ordinary workloads
gets the same extrapolation the application models print: for each named service, the replicas the
full load needs at a target utilisation, from the utilisation its replicas had in this run (load per
replica scales linearly with the users; queueing at the target is not modelled beyond that)."""
from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from models.apps.behaviour import AppConfig, Application
from models.station import Station
from simulator.language import registry


class SizingConfig(AppConfig):
    type: Literal["sizing"] = "sizing"
    services: list[str] = Field(min_length=1, description="The components (servers, databases: anything with "
                                "workers) to size; a replicated server counts all its replicas.")
    target_utilization: float = Field(0.7, gt=0, le=1, description="The utilisation each replica of the full "
                                      "system should run at (a fraction, 0.7 = 70%).")

    def refs(self):
        return [(("services", i), name) for i, name in enumerate(self.services)]


@registry.components.register("sizing")
class Sizing(Application):
    """Sizing: the replicas each named service needs for the full load (this run divided by `scale`)."""

    Config = SizingConfig
    drives_itself: ClassVar[bool] = False

    def connect(self, system: Any) -> None:
        self.members = {name: [c for c in (system.get(m) for m in system.groups.get(name, [name]))
                               if isinstance(c, Station)] for name in self.config.services}
        self.elapsed = math.nan
        for name in self.config.services:
            self.metrics.value(f"{name}_replicas_full", lambda n=name: self.needed(n)[2],
                               f"replicas of {name} the full system needs at the target utilisation")

    def needed(self, name: str) -> tuple[int, float | None, int | None]:
        """(replicas in this run, their mean utilisation, replicas the full system needs)."""
        members = self.members[name]
        if not members or not self.elapsed > 0:
            return len(members), None, None
        util = sum(m.stats(self.elapsed)["utilization"] for m in members) / len(members)
        full = len(members) * util / self.config.target_utilization / self.config.scale
        return len(members), util, max(1, math.ceil(full))

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        self.elapsed = elapsed_s
        return super().stats(elapsed_s)

    def extrapolate(self) -> list[str]:
        target = self.config.target_utilization
        lines = []
        for name in self.config.services:
            n, util, full = self.needed(name)
            if util is None:
                lines.append(f"{name}: nothing with workers to size")
            else:
                lines.append(f"{name}: {n} × {100 * util:.1f}% busy here; the full load needs ~{full:,} at "
                             f"{100 * target:g}%")
        return lines
