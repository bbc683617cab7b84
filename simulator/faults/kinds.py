"""Faults on the scenario's timeline: each is a named, validated setting scheduled like any event.

A fault type is a config class registered under its YAML `type:`. Before the run `prepare(system)`
tells the components and links it may touch (so only those pay for fault handling); at `at` the
fault's `start` runs, and after `duration` (if given) its `stop`.
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator

from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import Duration, Fraction, PositiveDuration
from simulator.language.tagged import tagged, tagged_validator
from simulator.language.validation import error_at


class FaultConfig(StrictModel):
    refers_to: ClassVar[str] = "component"
    type: str
    at: Duration = Field(description="When the fault begins.")
    duration: PositiveDuration | None = Field(None, description="How long it lasts (default: to the end).")

    def refs(self):
        return []

    # Runtime hooks, called with the elaborated system.
    def prepare(self, system: Any) -> None:
        pass

    def start(self, system: Any) -> None:
        raise NotImplementedError

    def stop(self, system: Any) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return self.type


def _names(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


@registry.faults.register("crash")
class CrashFault(FaultConfig):
    """Crash components: in-flight and queued work fails, new calls are refused until recovery."""

    type: Literal["crash"] = "crash"
    target: Annotated[list[str], BeforeValidator(_names)] = Field(
        description="Component (or list); a replicated name crashes every replica."
    )

    def refs(self):
        return [(("target", i), t) for i, t in enumerate(self.target)]

    def _components(self, system: Any) -> list[Any]:
        return [c for t in self.target for c in system.expand(t)]

    def prepare(self, system):
        for c in self._components(system):
            c.prepare_for_crash()

    def start(self, system):
        for c in self._components(system):
            if not c.down:
                c.crash()

    def stop(self, system):
        for c in self._components(system):
            if c.down:
                c.recover()

    def describe(self) -> str:
        return f"crash {', '.join(self.target)}"


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

    def _pairs(self, system: Any):
        """(i, j, link, request direction affected, reply direction affected) for links from group i to j."""
        sets = [system.endpoint_names(g) for g in self.groups]
        for i, a in enumerate(sets):
            for j, b in enumerate(sets):
                if i != j:
                    for link in system.network.links_between(a, b):
                        # A request from group i to j travels i -> j; its reply travels j -> i.
                        yield link, (not self.one_way or i == 0), (not self.one_way or j == 0)

    def prepare(self, system):
        for link, _fwd, _back in self._pairs(system):
            link.faultable = True

    def _groups_text(self) -> str:
        return (" -> " if self.one_way else " | ").join(",".join(g) for g in self.groups)


@registry.faults.register("partition")
class PartitionFault(LinkFault):
    """Cut the network between groups: calls across the cut fail after the network timeout."""

    type: Literal["partition"] = "partition"

    def _set(self, system, value: bool) -> None:
        for link, fwd, back in self._pairs(system):
            if fwd:
                link.cut = value
            if back:
                link.cut_back = value

    def start(self, system):
        self._set(system, True)

    def stop(self, system):
        self._set(system, False)

    def describe(self) -> str:
        return "partition " + self._groups_text()


@registry.faults.register("latency")
class LatencyFault(LinkFault):
    """Add delay to every message between groups (a latency spike or a congested link)."""

    type: Literal["latency"] = "latency"
    add: PositiveDuration = Field(description="One-way delay added to each message.")

    def _shift(self, system, sign: float) -> None:
        for link, fwd, back in self._pairs(system):
            if fwd:
                link.extra_s = max(0.0, link.extra_s + sign * self.add)
            if back:
                link.extra_back_s = max(0.0, link.extra_back_s + sign * self.add)

    def start(self, system):
        self._shift(system, 1.0)

    def stop(self, system):
        self._shift(system, -1.0)

    def describe(self) -> str:
        return f"latency +{self.add * 1000:g}ms " + self._groups_text()


@registry.faults.register("packet_loss")
class PacketLossFault(LinkFault):
    """Lose each message between groups with a probability; a lost call fails after the network timeout."""

    type: Literal["packet_loss"] = "packet_loss"
    probability: Fraction = Field(description="Chance that one message is lost.")

    def start(self, system):
        for link, fwd, back in self._pairs(system):
            if fwd or back:
                link.loss = self.probability

    def stop(self, system):
        for link, fwd, back in self._pairs(system):
            if fwd or back:
                link.loss = 0.0

    def describe(self) -> str:
        return f"packet loss {self.probability:.0%} " + self._groups_text()


@registry.faults.register("slow")
class SlowFault(FaultConfig):
    """Slow components down: every service time is multiplied by `factor` (a noisy neighbour, GC, throttling)."""

    type: Literal["slow"] = "slow"
    target: Annotated[list[str], BeforeValidator(_names)] = Field(description="Component (or list).")
    factor: float = Field(gt=1.0, description="How many times slower (> 1).")

    def refs(self):
        return [(("target", i), t) for i, t in enumerate(self.target)]

    def _components(self, system):
        return [c for t in self.target for c in system.expand(t)]

    def start(self, system):
        for c in self._components(system):
            c.slowdown *= self.factor

    def stop(self, system):
        for c in self._components(system):
            c.slowdown /= self.factor

    def describe(self) -> str:
        return f"slow x{self.factor:g} {', '.join(self.target)}"


FaultSpec = tagged(FaultConfig, tagged_validator(registry.faults, "type", FaultConfig,
                                                 "a fault like {type: crash, target: app, at: 10s}", compact=False))
