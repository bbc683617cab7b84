"""What every component model has: a name, a zone, a config, and the hooks faults and metrics use."""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from simulator.language.config import StrictModel
from simulator.engine.faultable import Faultable, any_active, product
from simulator.engine.request import CAUSE_DOWN, ERROR, Reply, Request, note_failure


class ComponentConfig(StrictModel):
    """Keys every component accepts."""

    type: str
    zone: str = Field("default", description="Network zone (or region) the component sits in.")


class Component(Faultable):
    """Base class of component models; built from `(env, name, config)`.

    Life cycle: `__init__` (no references to other components yet), `connect(system)` (resolve
    names into components and make network links), then the run. `handle(req, reply)` is the one
    entry point for calls; the component must eventually call `reply(outcome)` exactly once.

    Every hook a component may implement is declared here with its default, so nothing probes a
    component with `hasattr`: faults (`prepare_for_crash`, `crash`, `recover`, `prepare_for_pause`,
    `pause`, `resume`, `refuse`, `unavailable_call`), stale-read
    tracking (`version_source`, `latest_version`, `stale_since`), load estimation (`offered`,
    `capacity_per_s`), routing (`route`), metrics (`reset_stats`, `stats`, `sample`).
    """

    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    type_name: ClassVar[str] = "component"
    # Faults act through counted contributions: down while a crash holds it, paused while a pause
    # does, slowed by the product of the active slowdowns (see simulator.engine.faultable).
    FAULT_KINDS = {"crash": ("down", any_active), "slow": ("slowdown", product), "pause": ("paused", any_active)}
    # What a call that arrives while the component is down gets back.
    refuse_outcome: ClassVar[int] = ERROR

    def __init__(self, env: Any, name: str, config: ComponentConfig) -> None:
        self.env = env
        self.name = name
        self.config = config
        self.zone = config.zone
        self.down = False
        self.paused = False
        self.unavailable = False  # down or paused: what the network checks on every delivery
        self.held: list[tuple[Any, Request, Reply]] = []  # calls that arrived while paused
        self.slowdown = 1.0  # service-time multiplier: the product of the active `slow` faults
        self.may_be_unavailable = False  # set before the run when a fault may crash or pause it
        self.failed = 0  # calls refused while down (components that report it add more causes)
        self._contrib = None
        # Listeners told when it becomes unavailable or available again (load balancers' health checks).
        self.watchers: list[Any] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

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

    def route(self, src: Any) -> Any:
        """Where calls from `src` addressed to this component go (called once per link, at build
        time): the component itself, or a stand-in such as a CDN's nearest edge or a client
        library's `LocalProxy`."""
        return self

    def handle(self, req: Request, reply: Reply) -> None:
        raise NotImplementedError

    # --- faults ---------------------------------------------------------------------------------
    def fault_expect(self, kind: str) -> None:
        super().fault_expect(kind)
        if kind == "crash":
            self.may_be_unavailable = True
            self.prepare_for_crash()
        elif kind == "pause":
            self.may_be_unavailable = True
            self.prepare_for_pause()

    def fault_changed(self, kind: str, before: Any, after: Any) -> None:
        if kind == "crash":
            self.crash() if after else self.recover()
        elif kind == "pause":
            self.pause() if after else self.resume()
        unavailable = self.down or self.paused
        if unavailable != self.unavailable:
            self.unavailable = unavailable
            for watcher in self.watchers:  # what a health check would notice
                watcher.component_changed(self)
        held, self.held = self.held, []
        if self.down:  # calls held by a pause are lost with the node
            for _entry, req, reply in held:
                self.refuse(req, reply)
        elif not self.paused:  # back: the calls that waited are taken in the order they came
            for entry, req, reply in held:
                entry.handle(req, reply)
        else:
            self.held = held

    def unavailable_call(self, entry: Any, req: Request, reply: Reply) -> None:
        """A call reached the component (through `entry`: itself or a client library's proxy) while
        it is down (refused) or paused (held until it resumes): the one place this check lives."""
        if self.down:
            self.refuse(req, reply)
        else:
            self.held.append((entry, req, reply))

    def prepare_for_crash(self) -> None:
        """Called before the run when a fault may crash this component (to track in-flight work)."""

    def crash(self) -> None:
        """The component goes down (the first crash fault holding it began): fail what it holds."""

    def recover(self) -> None:
        """The component is back (the last crash fault holding it ended)."""

    def prepare_for_pause(self) -> None:
        """Called before the run when a fault may pause this component (to track in-service work)."""

    def pause(self) -> None:
        """The component stops making progress (a GC pause, a stopped VM): work in service freezes,
        calls that arrive wait (`unavailable_call`). Nothing is lost."""

    def resume(self) -> None:
        """The last pause ended: frozen work goes on where it stopped."""

    def refuse(self, req: Request, reply: Reply) -> None:
        """Answer a call that reached the component while it is down."""
        self.failed += 1
        note_failure(self.env, req, CAUSE_DOWN, self.name)
        reply(self.refuse_outcome)

    # --- stale reads ----------------------------------------------------------------------------
    def version_source(self, system: Any) -> Any:
        """The component that knows the latest committed version of each key this one serves, or
        None if it serves no versioned data."""
        return None

    def latest_version(self, key: Any) -> int | None:
        """The latest committed version of `key`, or None if this component keeps no versions."""
        return None

    def stale_since(self, key: Any, version: int) -> float | None:
        """When `version` of `key` stopped being the latest (None: it still is, or unknown)."""
        return None

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

    def capacity_per_s(self) -> float:
        """The highest request rate it can sustain (infinite unless it queues for workers)."""
        return float("inf")


class LocalProxy:
    """Where a client-side component (a sharding or replication client library) runs inside one
    caller: calls from there to the stores cross the network from the caller's zone, not from a
    central router, so cross-region latency applies as it would in the real system. Each caller has
    its own, and a fault that names the caller (or its zone) reaches the proxy's links too."""

    __slots__ = ("owner", "caller", "name", "zone", "links")

    def __init__(self, owner: Any, caller: Any, targets: list[str], system: Any) -> None:
        self.owner = owner
        self.caller = caller
        self.name = f"{owner.name}@{caller.zone}"
        self.zone = caller.zone
        self.links = {t: system.network.link(self, system.get(t)) for t in targets}

    def __repr__(self) -> str:
        return f"<LocalProxy {self.name} in {self.caller.name}>"

    # A client library is down or paused exactly when its owner is.
    @property
    def unavailable(self) -> bool:
        return self.owner.unavailable

    @property
    def may_be_unavailable(self) -> bool:
        return self.owner.may_be_unavailable

    def unavailable_call(self, entry: Any, req: Request, reply: Reply) -> None:
        self.owner.unavailable_call(entry, req, reply)

    def handle(self, req: Request, reply: Reply) -> None:
        self.owner.handle_at(self, req, reply)


class ClientSide(Component):
    """A component that stands for code running inside its callers: `route` gives each caller its
    own `LocalProxy` (made when the caller's link is made, before the run)."""

    def route_targets(self) -> list[str]:
        """The components its calls go to (shards, replicas), known from the config alone: a fault
        naming the store reaches the links to them."""
        raise NotImplementedError

    def route(self, src: Any) -> LocalProxy:
        proxies = self.__dict__.setdefault("_proxies", {})
        key = (src.name, src.zone)
        proxy = proxies.get(key)
        if proxy is None:
            proxy = proxies[key] = LocalProxy(self, src, self.route_targets(), self.env.system)
        return proxy

    def handle(self, req: Request, reply: Reply) -> None:
        self.route(self).handle(req, reply)

    def handle_at(self, proxy: LocalProxy, req: Request, reply: Reply) -> None:
        raise NotImplementedError
