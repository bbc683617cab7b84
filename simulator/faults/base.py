"""The fault base class: what every fault type shares and cannot get wrong.

A fault type only says what it contributes (`node_effects`: to which components, `link_effects`: to
which links) and how it reads (`describe`). Marking what it may touch before the run, adding its
contributions when its window opens and removing exactly those when it closes are done here, once,
through the counted contributions of `simulator.engine.faultable`; a subclass cannot override them.
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Hashable

from pydantic import BeforeValidator, Field

from simulator.language.config import StrictModel
from simulator.language.units import Duration, PositiveDuration

FINAL = ("prepare", "start", "stop")


class FaultConfig(StrictModel):
    refers_to: ClassVar[str] = "component"
    # An instant fault (cache_flush) happens at `at` and has no window: its contribution is never
    # removed, and what it did shows as an instant event of the component, not as a shaded window.
    instant: ClassVar[bool] = False
    type: str
    at: Duration = Field(description="When the fault begins.")
    duration: PositiveDuration | None = Field(None, description="How long it lasts (default: to the end).")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = [name for name in FINAL if name in cls.__dict__]
        if overridden:
            raise TypeError(f"{cls.__name__} overrides {', '.join(overridden)}: a fault type says what it "
                            f"contributes (node_effects, link_effects); the base class applies and removes it")

    def refs(self) -> list[tuple[tuple, str]]:
        """The names it refers to, with their place in the config (checked by the scenario loader)."""
        return []

    def describe(self) -> str:
        return self.type

    def check(self, scenario: Any) -> list[tuple[tuple, str]]:
        """Problems only visible with the whole scenario: (path below the fault, message)."""
        return []

    def rate_window(self, workload: str) -> tuple[float, float, float] | None:
        """(start, end, factor) if it multiplies `workload`'s arrival rate (for the pre-run estimate)."""
        return None

    def expand(self, system: Any, index: int) -> list["FaultConfig"]:
        """The faults it stands for in a run (a generator such as chaos draws them; others: itself).
        `index` is its place in the scenario's `faults:` list."""
        return [self]

    def stream(self, system: Any, what: str) -> Any:
        """The fault's own random stream `faults/<i>/<what>` (i: its place in the run's fault list)."""
        index = next(i for i, f in enumerate(system.faults) if f is self)
        return system.env.streams.get(f"faults/{index}/{what}")

    # --- what a fault type says -----------------------------------------------------------------
    def node_effects(self, system: Any) -> list[tuple[Any, str, Any]]:
        """(component, kind, value) for each contribution it makes to components while it lasts."""
        return []

    def link_effects(self, system: Any, link: Any) -> list[tuple[str, Any]]:
        """(kind, value) for each contribution it makes to `link` while it lasts (asked once per link)."""
        return []

    # --- applied by the base class only ---------------------------------------------------------
    def prepare(self, system: Any, token: Hashable) -> None:
        """Before the run: tell everything it may touch, so only those pay for fault handling."""
        for target, kind, _value in self.node_effects(system):
            target.fault_expect(kind)
        if type(self).link_effects is not FaultConfig.link_effects:
            system.network.add_rule(token, lambda link: self.link_effects(system, link))

    def start(self, system: Any, token: Hashable) -> None:
        for target, kind, value in self.node_effects(system):
            target.fault_add(kind, token, value)
        if type(self).link_effects is not FaultConfig.link_effects:
            system.network.set_rule(token, True)

    def stop(self, system: Any, token: Hashable) -> None:
        for target, kind, _value in self.node_effects(system):
            target.fault_remove(kind, token)
        if type(self).link_effects is not FaultConfig.link_effects:
            system.network.set_rule(token, False)


def _names(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


Targets = Annotated[list[str], BeforeValidator(_names)]


def validate_fault(data: dict[str, Any]) -> FaultConfig:
    """One fault from plain data (as in YAML), by its registered type; a problem is a ValueError of one
    line naming the key (`factor: this key is required but missing`)."""
    from pydantic import ValidationError

    from simulator.language import registry
    from simulator.language.errors import ScenarioErrors, format_path
    from simulator.language.validation import to_scenario_error

    cls = registry.faults.get(data.get("type"))  # UnknownName: a ValueError naming the known ones
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = to_scenario_error(exc, None)
        err = err.errors[0] if isinstance(err, ScenarioErrors) else err
        where = format_path(err.path)
        raise ValueError(f"{where}: {err.message}" if where else err.message) from None
