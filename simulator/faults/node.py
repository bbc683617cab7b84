"""Faults on components (crash, slow, pause, error, clock_skew, cache_flush), on workloads (load_spike),
and the chaos generator that draws node faults from MTBF/MTTR distributions."""
from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from simulator.faults.base import FaultConfig, Targets, validate_fault
from simulator.language import registry
from simulator.language.errors import ScenarioError
from simulator.language.units import Duration, Fraction, PositiveDuration, SignedDuration
from simulator.language.validation import error_at
from simulator.sampling.distributions import DurationDist, Sampler


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


@registry.faults.register("error")
class ErrorFault(NodeFault):
    """Fail a share of the calls a component handles (a bad deploy, a failing dependency inside it).

    Each call that arrives fails at once with outcome `error` with this probability, drawn from the
    component's own stream `<name>/error`; overlapping error faults act as independent failures
    (1 - (1 - p1)(1 - p2)) and each lasts exactly its window."""

    type: Literal["error"] = "error"
    target: Targets = Field(min_length=1, description="Component (or list).")
    probability: Fraction = Field(description="Share of calls that fail (0..1, or a percentage like 20%).")

    def node_effects(self, system):
        return [(c, "error", self.probability) for c in self.components(system)]

    def describe(self) -> str:
        return f"error {self.probability:.0%} {', '.join(self.target)}"


@registry.faults.register("clock_skew")
class ClockSkewFault(NodeFault):
    """Skew components' clocks: while it lasts a component's `clock()` reads
    now + offset + drift x (now - at). Cache TTLs read that clock (a cache whose clock runs ahead
    expires entries early; behind, late); leases and last-writer-wins timestamps read the same one.
    Overlapping skews add; when the last ends the clock is the true time again."""

    type: Literal["clock_skew"] = "clock_skew"
    target: Targets = Field(min_length=1, description="Component (or list).")
    offset: SignedDuration = Field(0.0, description="How far the clock is ahead (negative: behind) from `at`.")
    drift: float = Field(0.0, gt=-1.0, lt=1.0,
                         description="Extra clock seconds per true second (0.001: gains 1 ms a second; negative: slow).")

    @model_validator(mode="after")
    def _some_skew(self):
        if self.offset == 0.0 and self.drift == 0.0:
            raise ValueError("a clock_skew needs an 'offset' or a 'drift' (both are 0)")
        return self

    def node_effects(self, system):
        return [(c, "clock", (self.offset, self.drift, float(self.at))) for c in self.components(system)]

    def describe(self) -> str:
        parts = ([f"{self.offset * 1000:+g}ms"] if self.offset else []) + ([f"drift {self.drift:+g}"] if self.drift else [])
        return f"clock skew {' '.join(parts)} {', '.join(self.target)}"


@registry.faults.register("cache_flush")
class CacheFlushFault(NodeFault):
    """An instant fault: caches (or every edge of a CDN) lose all their keys at `at` (a flush, a
    restart of the cache process without its data). Misses follow; nothing else changes."""

    type: Literal["cache_flush"] = "cache_flush"
    instant: ClassVar[bool] = True
    target: Targets = Field(min_length=1, description="Cache or CDN (or list); a CDN flushes every edge.")
    duration: PositiveDuration | None = Field(None, description="Not allowed: a flush happens at `at`.")

    @model_validator(mode="after")
    def _no_duration(self):
        if self.duration is not None:
            raise ValueError("a cache_flush happens at an instant: give 'at' only, no 'duration'")
        return self

    def check(self, scenario: Any) -> list[tuple[tuple, str]]:
        out = []
        for i, t in enumerate(self.target):
            cfg = _config_of(scenario, t)
            if cfg is not None and cfg.type not in ("cache", "cdn") and not _flushable(cfg.type):
                out.append((("target", i), f"'{t}' is a {cfg.type}, not a cache or cdn: only caches can be flushed"))
        return out

    def node_effects(self, system):
        return [(c, "flush", True) for c in self.components(system) if "flush" in c.FAULT_KINDS]

    def describe(self) -> str:
        return f"cache flush {', '.join(self.target)}"


@registry.faults.register("load_spike")
class LoadSpikeFault(FaultConfig):
    """Multiply an open-loop workload's arrival rate by `factor` for the window (overlaps multiply).

    Poisson, constant and renewal arrivals are sped up in time (the same draws, gaps divided by the
    factor: evenly spaced arrivals stay evenly spaced); time-varying ones (diurnal, onoff, schedule)
    get their rate curve multiplied, exactly, by restarting the memoryless draw when the factor changes.
    The draws come from the workload's own arrival stream, so every other stream is untouched."""

    refers_to: ClassVar[str] = "workload"
    type: Literal["load_spike"] = "load_spike"
    target: Targets = Field(min_length=1, description="Workload (or list): open loop (with `arrivals`).")
    factor: float = Field(gt=0.0, le=1e6, description="Rate multiplier (2: twice the rate; 0.5: half).")

    def refs(self):
        return [(("target", i), t) for i, t in enumerate(self.target)]

    def check(self, scenario: Any) -> list[tuple[tuple, str]]:
        return [(("target", i), f"workload '{t}' is a closed loop (users): a load_spike needs an open-loop "
                 f"workload (arrivals); give it more users instead")
                for i, t in enumerate(self.target)
                if t in scenario.workloads and scenario.workloads[t].arrivals is None]

    def node_effects(self, system):
        return [(w, "spike", self.factor) for w in system.workloads if w.name in self.target]

    def rate_window(self, workload: str) -> tuple[float, float, float] | None:
        if workload not in self.target:
            return None
        return float(self.at), math.inf if self.duration is None else float(self.at + self.duration), self.factor

    def describe(self) -> str:
        return f"load spike x{self.factor:g} {', '.join(self.target)}"


def _flushable(kind: str) -> bool:
    """Whether components of type `kind` can be flushed (their class has the fault kind `flush`:
    an application's own cache, such as a feed cache)."""
    return kind in registry.components and "flush" in getattr(registry.components.get(kind), "FAULT_KINDS", {})


def _config_of(scenario: Any, name: str) -> Any:
    """The YAML entry a (member) name belongs to: `app[1]` -> app, a CDN edge `cdn.eu` -> cdn."""
    for candidate in (name, name.split("[")[0], name.rsplit(".", 1)[0]):
        if candidate in scenario.components:
            return scenario.components[candidate]
    return None


@registry.faults.register("chaos")
class ChaosFault(FaultConfig):
    """A fault generator: each target fails and is repaired again and again, with times between
    failures drawn from `mtbf` and repair times from `mttr`, from the stream `chaos/<i>/<target>`
    (i: its place in `faults:`), so the same seed draws the same faults. Failures start from `at`
    until `at + duration` (default: the end of the run). The drawn faults join the fault list (and
    Result's fault windows, the charts' shading) like declared ones."""

    type: Literal["chaos"] = "chaos"
    at: Duration = Field(0.0, description="When failures may start.")
    duration: PositiveDuration | None = Field(
        None, description="How long failures may start for (default: to the end of the run); a repair may end later.")
    target: Targets = Field(min_length=1, description="Component (or list); each member fails on its own.")
    fault: str | dict[str, Any] = Field(
        "crash", description="The fault drawn: a node fault's type (crash, pause, ...) or a mapping of its "
        "settings without target, at and duration, e.g. {type: slow, factor: 4}.")
    mtbf: DurationDist = Field(description="Time between the end of a repair and the next failure.")
    mttr: DurationDist = Field(description="How long a failure lasts (time to repair).")

    @model_validator(mode="after")
    def _template(self):
        for name, dist in (("mtbf", self.mtbf), ("mttr", self.mttr)):
            if not dist.mean > 0:
                raise ValueError(f"'{name}' must have a positive mean (got {dist.mean:g}s)")
        try:
            self.make(self.target[0], 0.0, 1.0)  # a bad template fails here, with the scenario
        except ValueError as exc:
            raise error_at(("fault",), str(exc)) from None
        return self

    def refs(self):
        return [(("target", i), t) for i, t in enumerate(self.target)]

    def make(self, target: str, at: float, duration: float) -> FaultConfig:
        template = {"type": self.fault} if isinstance(self.fault, str) else dict(self.fault)
        for key in ("target", "at", "duration"):
            if key in template:
                raise ValueError(f"'fault' must not set '{key}': chaos draws it")
        if template.get("type") in ("chaos", None) or not issubclass(registry.faults.get(template["type"]), NodeFault):
            raise ValueError("'fault' must be a node fault (crash, pause, slow, error, ...)")
        return validate_fault({**template, "target": [target], "at": f"{at!r}s", "duration": f"{duration!r}s"})

    def expand(self, system: Any, index: int) -> list[FaultConfig]:
        end = system.scenario.duration if self.duration is None else min(system.scenario.duration, self.at + self.duration)
        out: list[FaultConfig] = []
        for target in dict.fromkeys(m for t in self.target for m in system.groups.get(t, [t])):
            rng = system.env.streams.get(f"chaos/{index}/{target}")
            up, down = Sampler(self.mtbf, rng), Sampler(self.mttr, rng)
            t = float(self.at)
            while True:
                t += up.next()
                if t >= end:
                    break
                repair = down.next()
                if repair > 0:
                    out.append(self.make(target, t, repair))
                    if len(out) > MAX_CHAOS_FAULTS:
                        raise ScenarioError(f"faults[{index}] (chaos) draws more than {MAX_CHAOS_FAULTS:,} faults "
                                            f"in the run: raise its 'mtbf' or shorten its window")
                t += repair
        out.sort(key=lambda f: f.at)  # the order faults of one instant start in: by time, then target
        return out

    def describe(self) -> str:
        return f"chaos {self.fault if isinstance(self.fault, str) else self.fault.get('type')} {', '.join(self.target)}"


MAX_CHAOS_FAULTS = 10_000
