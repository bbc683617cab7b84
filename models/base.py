"""What every component system has: a name, a zone, a config, and the hooks faults and metrics use."""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from simulator.language.config import StrictModel
from simulator.engine.request import Reply, Request


class ComponentConfig(StrictModel):
    """Keys every component accepts."""

    type: str
    zone: str = Field("default", description="Network zone (or region) the component sits in.")


class Component:
    """Base class of component models; built from `(env, name, config)`.

    Life cycle: `__init__` (no references to other components yet), `connect(system)` (resolve
    names into components and make network links), then the run. `handle(req, reply)` is the one
    entry point for calls; the component must eventually call `reply(outcome)` exactly once.
    """

    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    type_name: ClassVar[str] = "component"

    def __init__(self, env: Any, name: str, config: ComponentConfig) -> None:
        self.env = env
        self.name = name
        self.config = config
        self.zone = config.zone
        self.down = False
        self.slowdown = 1.0  # service-time multiplier set by `slow` faults
        # Listeners told about crash/recovery (load balancers with health checks).
        self.watchers: list[Any] = []

    @classmethod
    def expand(cls, name: str, config: ComponentConfig) -> list[tuple[str, type["Component"], ComponentConfig]]:
        """The concrete components one YAML entry stands for (more than one for `replicas: N`)."""
        return [(name, cls, config)]

    @classmethod
    def fault_members(cls, name: str, members: list[str]) -> list[str]:
        """What a fault naming `name` acts on: the members it stands for (every replica of a
        replicated server, every CDN edge), or the component itself."""
        return [m for m in members if m != name] or [name]

    def connect(self, system: Any) -> None:
        """Resolve references to other components (called once, after every component exists)."""

    def handle(self, req: Request, reply: Reply) -> None:
        raise NotImplementedError

    # --- faults ---------------------------------------------------------------------------------
    def prepare_for_crash(self) -> None:
        """Called before the run when a fault may crash this component (to track in-flight work)."""

    def crash(self) -> None:
        self.down = True
        for watcher in self.watchers:
            watcher.component_changed(self)

    def recover(self) -> None:
        self.down = False
        self.slowdown = 1.0  # service-time multiplier set by `slow` faults
        for watcher in self.watchers:
            watcher.component_changed(self)

    # --- metrics --------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        """Forget what happened so far (called at the end of the warm-up)."""

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        """Summary figures over the measured window of `elapsed_s` seconds."""
        return {"type": self.type_name}

    def sample(self) -> dict[str, float]:
        """Per-bucket figures for the time series (called at each bucket boundary)."""
        return {}

    # --- load estimation for the over-capacity warning ------------------------------------------
    def offered(self, rate_per_s: float, system: Any) -> None:
        """Account `rate_per_s` of offered load at this component and pass it downstream."""


class LocalProxy:
    """Where a client-side component (a sharding or replication client library) runs for callers
    in one zone: calls from there to the stores cross the network from that zone, not from a
    central router, so cross-region latency and partitions apply as they would in the real system."""

    __slots__ = ("owner", "name", "zone", "links")

    def __init__(self, owner: Any, zone: str, targets: list[str], system: Any) -> None:
        self.owner = owner
        self.name = f"{owner.name}@{zone}"
        self.zone = zone
        self.links = {t: system.network.link(self, system.get(t)) for t in targets}

    def handle(self, req: Request, reply: Reply) -> None:
        self.owner.handle_at(self, req, reply)


class ClientSide(Component):
    """A component that stands for code running inside its callers: `route` gives each caller's
    zone its own `LocalProxy` (made when the caller's link is made, before the run)."""

    def route_targets(self) -> list[str]:
        raise NotImplementedError

    def route(self, src: Any) -> LocalProxy:
        proxies = self.__dict__.setdefault("_proxies", {})
        proxy = proxies.get(src.zone)
        if proxy is None:
            proxy = proxies[src.zone] = LocalProxy(self, src.zone, self.route_targets(), self.env.system)
        return proxy

    def handle(self, req: Request, reply: Reply) -> None:
        self.route(self).handle(req, reply)

    def handle_at(self, proxy: LocalProxy, req: Request, reply: Reply) -> None:
        raise NotImplementedError
