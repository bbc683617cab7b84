"""Faults on components: crashes and slowdowns."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from simulator.faults.base import FaultConfig, Targets
from simulator.language import registry


class NodeFault(FaultConfig):
    """A fault that acts on the components it names (a replicated name: every replica)."""

    target: Targets = Field(description="Component (or list); a replicated name stands for every replica.")

    def refs(self):
        return [(("target", i), t) for i, t in enumerate(self.target)]

    def components(self, system: Any) -> list[Any]:
        """Each component named, once (`[app, app[1]]` names app[1] twice)."""
        return list({id(c): c for t in self.target for c in system.expand(t)}.values())


@registry.faults.register("crash")
class CrashFault(NodeFault):
    """Crash components: in-flight and queued work fails, new calls are refused until recovery."""

    type: Literal["crash"] = "crash"
    target: Targets = Field(min_length=1, description="Component (or list); a replicated name crashes every replica.")

    def node_effects(self, system):
        return [(c, "crash", True) for c in self.components(system)]

    def describe(self) -> str:
        return f"crash {', '.join(self.target)}"


@registry.faults.register("slow")
class SlowFault(NodeFault):
    """Slow components down: every service time is multiplied by `factor` (a noisy neighbour, GC, throttling)."""

    type: Literal["slow"] = "slow"
    target: Targets = Field(min_length=1, description="Component (or list).")
    factor: float = Field(gt=1.0, description="How many times slower (> 1).")

    def node_effects(self, system):
        return [(c, "slow", self.factor) for c in self.components(system)]

    def describe(self) -> str:
        return f"slow x{self.factor:g} {', '.join(self.target)}"


@registry.faults.register("pause")
class PauseFault(NodeFault):
    """Pause components (a GC pause, a frozen VM): work freezes and calls wait, then all goes on.

    Work in service stops where it is and calls that arrive are held; when the last pause ends,
    everything goes on where it stopped, in order. Callers' timeouts still run."""

    type: Literal["pause"] = "pause"
    target: Targets = Field(min_length=1, description="Component (or list).")

    def node_effects(self, system):
        return [(c, "pause", True) for c in self.components(system)]

    def describe(self) -> str:
        return f"pause {', '.join(self.target)}"
