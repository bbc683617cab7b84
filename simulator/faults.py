"""Faults on the scenario's timeline: each is a named, validated setting scheduled like any event.

A fault type is a config class registered under its YAML `type:`. Before the run `prepare(model)`
tells the components and links it may touch (so only those pay for fault handling); at `at` the
fault's `start` runs, and after `duration` (if given) its `stop`.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from . import registry
from .config import StrictModel
from .units import Duration, PositiveDuration
from .tagged import tagged, tagged_validator
from .validation import error_at


class FaultConfig(StrictModel):
    type: str
    at: Duration = Field(description="When the fault begins.")
    duration: PositiveDuration | None = Field(None, description="How long it lasts (default: to the end).")

    def refs(self):
        return []

    # Runtime hooks, called with the elaborated model.
    def prepare(self, model: Any) -> None:
        pass

    def start(self, model: Any) -> None:
        raise NotImplementedError

    def stop(self, model: Any) -> None:
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

    def _components(self, model: Any) -> list[Any]:
        return [c for t in self.target for c in model.expand(t)]

    def prepare(self, model):
        for c in self._components(model):
            c.prepare_for_crash()

    def start(self, model):
        for c in self._components(model):
            if not c.down:
                c.crash()

    def stop(self, model):
        for c in self._components(model):
            if c.down:
                c.recover()

    def describe(self) -> str:
        return f"crash {', '.join(self.target)}"


@registry.faults.register("partition")
class PartitionFault(FaultConfig):
    """Cut the network between groups: calls across the cut fail after the network timeout."""

    type: Literal["partition"] = "partition"
    groups: list[list[str]] = Field(
        min_length=2, description="Groups of components/workloads (or zones) that cannot reach each other."
    )
    one_way: bool = Field(False, description="Only traffic from the first group to the others is cut.")

    @field_validator("groups")
    @classmethod
    def _disjoint(cls, v):
        seen: dict[str, int] = {}
        for i, group in enumerate(v):
            if not group:
                raise error_at((i,), "a partition group needs at least one name")
            for name in group:
                if name in seen and seen[name] != i:
                    raise error_at((i,), f"'{name}' is in two partition groups")
                seen[name] = i
        return v

    def refs(self):
        # Zones are allowed too, so names are checked against components, workloads and zones.
        return [(("groups", i, j), n) for i, g in enumerate(self.groups) for j, n in enumerate(g)]

    def _pairs(self, model: Any):
        sets = [model.endpoint_names(g) for g in self.groups]
        for i, a in enumerate(sets):
            for j, b in enumerate(sets):
                if i != j:
                    for link in model.network.links_between(a, b):
                        yield i, j, link

    def prepare(self, model):
        for _i, _j, link in self._pairs(model):
            link.faultable = True

    def _set(self, model, value: bool) -> None:
        for i, j, link in self._pairs(model):
            # A request from group i to j is cut when i -> j is; its reply travels j -> i.
            if not self.one_way or i == 0:
                link.cut = value
            if not self.one_way or j == 0:
                link.cut_back = value

    def start(self, model):
        self._set(model, True)

    def stop(self, model):
        self._set(model, False)

    def describe(self) -> str:
        return "partition " + " | ".join(",".join(g) for g in self.groups)


FaultSpec = tagged(FaultConfig, tagged_validator(registry.faults, "type", FaultConfig,
                                                 "a fault like {type: crash, target: app, at: 10s}", compact=False))
