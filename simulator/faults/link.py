"""Faults on the network between groups of places: partitions, latency, packet loss.

A group names components, workloads or zones. A link is affected when one end belongs to one group
and the other end to another, whatever kind of end it is: a component, a workload's clients in a
region, or a client library (sharded or replicated store) running inside a caller, which belongs to
wherever its caller does.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from simulator.faults.base import FaultConfig
from simulator.language import registry
from simulator.language.units import Fraction, PositiveDuration
from simulator.language.validation import error_at


class LinkFault(FaultConfig):
    """Base of faults acting on the links between groups of places."""

    refers_to: ClassVar[str] = "component, workload or zone"
    groups: list[list[str]] = Field(
        min_length=2, description="Groups of components, workloads or zones; links between groups are affected."
    )
    one_way: bool = Field(False, description="Only traffic from the first group to the others.")

    @field_validator("groups")
    @classmethod
    def _disjoint(cls, v):
        seen: dict[str, int] = {}
        for i, group in enumerate(v):
            if not group:
                raise error_at((i,), "a group needs at least one name")
            for name in group:
                if name in seen and seen[name] != i:
                    raise error_at((i,), f"'{name}' is in two groups")
                seen[name] = i
        return v

    def refs(self):
        return [(("groups", i, j), n) for i, g in enumerate(self.groups) for j, n in enumerate(g)]

    def directions(self, system: Any, link: Any) -> tuple[bool, bool]:
        """Whether the fault touches `link`'s requests and its replies."""
        i = self._group_of(system.fault_names(link.src))
        j = self._group_of(system.fault_names(link.dst))
        if i is None or j is None or i == j:
            return False, False
        # A request from group i to j travels i -> j; its reply travels j -> i.
        return (not self.one_way or i == 0), (not self.one_way or j == 0)

    def _group_of(self, names: frozenset[str]) -> int | None:
        for i, group in enumerate(self.groups):
            if not names.isdisjoint(group):
                return i
        return None

    def _per_direction(self, system: Any, link: Any, kind: str, value: Any) -> list[tuple[str, Any]]:
        fwd, back = self.directions(system, link)
        return ([(kind, value)] if fwd else []) + ([(f"{kind}_back", value)] if back else [])

    def _groups_text(self) -> str:
        return (" -> " if self.one_way else " | ").join(",".join(g) for g in self.groups)


@registry.faults.register("partition")
class PartitionFault(LinkFault):
    """Cut the network between groups: calls across the cut fail after the network timeout."""

    type: Literal["partition"] = "partition"

    def link_effects(self, system, link):
        return self._per_direction(system, link, "cut", True)

    def describe(self) -> str:
        return "partition " + self._groups_text()


@registry.faults.register("latency")
class LatencyFault(LinkFault):
    """Add delay to every message between groups (a latency spike or a congested link)."""

    type: Literal["latency"] = "latency"
    add: PositiveDuration = Field(description="One-way delay added to each message.")

    def link_effects(self, system, link):
        return self._per_direction(system, link, "latency", self.add)

    def describe(self) -> str:
        return f"latency +{self.add * 1000:g}ms " + self._groups_text()


@registry.faults.register("packet_loss")
class PacketLossFault(LinkFault):
    """Lose each message between groups with a probability; a lost call fails after the network timeout."""

    type: Literal["packet_loss"] = "packet_loss"
    probability: Fraction = Field(description="Chance that one message is lost.")

    def link_effects(self, system, link):
        return self._per_direction(system, link, "loss", self.probability)

    def describe(self) -> str:
        return f"packet loss {self.probability:.0%} " + self._groups_text()
