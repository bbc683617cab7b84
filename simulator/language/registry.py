"""Registries mapping YAML names to classes, one namespace per kind of thing.

Adding a component, a policy or a fault is one class with a decorator:

    @components.register("server")
    class Server(Component): ...

`dsim list` prints every namespace with the first line of each class's docstring.
"""
from __future__ import annotations

import re

from collections.abc import Iterator
from typing import Annotated, Any, Callable, Generic, TypeVar

from pydantic import AfterValidator

from simulator.language.errors import did_you_mean

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """Raised by `Registry.get` for a name that is not registered; `str()` is a full sentence."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(cls: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = cls
            setattr(cls, "type_name", name)
            return cls

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._items))
            raise UnknownName(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}; known: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def in_registration_order(self) -> list[tuple[str, T]]:
        """(name, item) pairs in the order they were registered, for output whose order is fixed by
        the order of the code (report tables and charts) rather than by name."""
        return list(self._items.items())


def name_in(reg: "Registry") -> Any:
    """The config field type of a name that must be registered in `reg` (checked with "did you mean")."""

    def check(value: str) -> str:
        reg.get(value)
        return value

    return Annotated[str, AfterValidator(check)]


def summary_line(obj: object) -> str:
    """The docstring's first sentence, whole (a docstring's first line may stop mid-sentence)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    if not doc:
        return ""
    paragraph = " ".join(line.strip() for line in doc.split("\n\n", 1)[0].splitlines())
    end = re.search(r"[.!?](\s|$)", paragraph)
    return paragraph[:end.start() + 1] if end else paragraph


components: Registry[type] = Registry("component type")
faults: Registry[type] = Registry("fault type")
arrivals: Registry[type] = Registry("arrival process")
key_dists: Registry[type] = Registry("key distribution")
# Policies are pluggable algorithms, one registry per decision point.
lb_algorithms: Registry[type] = Registry("load-balancing algorithm")
eviction_policies: Registry[type] = Registry("eviction policy")
sharding_strategies: Registry[type] = Registry("sharding strategy")
replication_modes: Registry[type] = Registry("replication mode")
read_from_policies: Registry[type] = Registry("read_from policy")
cache_modes: Registry[type] = Registry("cache mode")
queue_ack_modes: Registry[type] = Registry("queue ack mode")
distributions: Registry[type] = Registry("distribution")
# Resilience policies composed around a call (models/resilience/), keyed by their YAML key.
call_policies: Registry[type] = Registry("call policy")
rate_limiters: Registry[type] = Registry("rate limiter")
# How an autoscaler turns a measured metric into a replica count (models/autoscale.py).
scaling_rules: Registry[type] = Registry("scaling rule")
