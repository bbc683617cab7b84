"""Faults on the network between groups of places: partitions (bridged or not), latency (constant or
drawn from a distribution), packet loss, duplicated messages.

A group names components, workloads or zones. A link is affected when one end belongs to one group
and the other end to another, whatever kind of end it is: a component, a workload's clients in a
region, or a client library (sharded or replicated store) running inside a caller, which belongs to
wherever its caller does.
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, field_validator, model_validator

from simulator.faults.base import FaultConfig
from simulator.language import registry
from simulator.language.units import Fraction, PositiveDuration, Quantity, fmt_duration, parse_duration
from simulator.language.validation import error_at
from simulator.sampling.distributions import Distribution, Sampler, parse_distribution


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
    """Cut the network between groups: calls across the cut fail after the network timeout.

    With `bridge`, those places see both sides (a bridge partition): their links are never cut, even
    when a group names their zone; the groups still cannot reach each other directly."""

    type: Literal["partition"] = "partition"
    bridge: list[str] = Field(default_factory=list,
                              description="Components, workloads or zones that see every group (a bridge partition).")

    @model_validator(mode="after")
    def _bridge_apart(self):
        grouped = {n for g in self.groups for n in g}
        for i, name in enumerate(self.bridge):
            if name in grouped:
                raise error_at(("bridge", i), f"'{name}' is in a group; a bridge is outside every group")
        return self

    def refs(self):
        return super().refs() + [(("bridge", i), n) for i, n in enumerate(self.bridge)]

    def directions(self, system: Any, link: Any) -> tuple[bool, bool]:
        if self.bridge and not (system.fault_names(link.src).isdisjoint(self.bridge)
                                and system.fault_names(link.dst).isdisjoint(self.bridge)):
            return False, False
        return super().directions(system, link)

    def link_effects(self, system, link):
        return self._per_direction(system, link, "cut", True)

    def describe(self) -> str:
        return "partition " + self._groups_text() + (f" (bridge {','.join(self.bridge)})" if self.bridge else "")


def _delay(value: Any) -> float | Distribution:
    """A constant delay ('50ms'), or a distribution ('exponential(mean=50ms)', {dist: ...})."""
    if isinstance(value, Distribution):
        return value
    try:
        x = parse_duration(value)
    except ValueError:
        if isinstance(value, str) and "(" not in value:
            raise ValueError(f"expected a duration like '50ms' or a distribution like 'exponential(mean=50ms)', "
                             f"got {value!r}") from None
        return parse_distribution(value, "duration")
    if x <= 0:
        raise ValueError(f"must be greater than 0, got {value}")
    return x


def _delay_out(value: float | Distribution) -> Any:
    return value.spec() if isinstance(value, Distribution) else fmt_duration(value)


Delay = Annotated[float | Distribution, BeforeValidator(_delay), PlainSerializer(_delay_out),
                  Quantity("positive duration (or a distribution)")]


@registry.faults.register("latency")
class LatencyFault(LinkFault):
    """Add delay to every message between groups (a latency spike or a congested link)."""

    type: Literal["latency"] = "latency"
    add: Delay = Field(description="One-way delay added to each message: a duration, or a distribution drawn "
                                   "per message (e.g. exponential(mean=50ms)) from the stream faults/<i>/latency.")

    def link_effects(self, system, link):
        if isinstance(self.add, Distribution):
            # One sampler per fault, shared by every link it reaches (made once per run).
            sampler = system.fault_state.get(id(self))
            if sampler is None:
                sampler = system.fault_state[id(self)] = Sampler(self.add, self.stream(system, "latency"))
            return self._per_direction(system, link, "jitter", sampler)
        return self._per_direction(system, link, "latency", self.add)

    def describe(self) -> str:
        if isinstance(self.add, Distribution):
            return f"latency +{self.add.name}(mean={self.add.mean * 1000:g}ms) " + self._groups_text()
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


@registry.faults.register("duplicate")
class DuplicateFault(LinkFault):
    """Deliver some messages between groups twice (a retransmission, an at-least-once hop).

    The copy is a real second delivery: the destination handles it (a queue enqueues it again, a
    database writes again) and its reply is dropped, so the caller gets one reply. It arrives with
    the original's delay, just after it. Only requests are duplicated (a duplicated reply is dropped
    by any caller that matches replies to calls); draws come from the stream net/duplicate/<src>-><dst>."""

    type: Literal["duplicate"] = "duplicate"
    probability: Fraction = Field(description="Chance that one message is delivered twice.")

    def link_effects(self, system, link):
        fwd, _back = self.directions(system, link)
        return [("duplicate", self.probability)] if fwd else []

    def describe(self) -> str:
        return f"duplicate {self.probability:.0%} " + self._groups_text()
