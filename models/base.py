"""What every component model has: a name, a zone, a config, and the hooks faults and metrics use."""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from simulator.language.config import StrictModel
from simulator.engine.faultable import Faultable, any_active, independent_chance, linear_clock, product
from simulator.engine.request import CAUSE_DOWN, CAUSE_INJECTED_ERROR, ERROR, OK, Reply, Request, note_failure
from simulator.resilience import guard


class ComponentConfig(StrictModel):
    """Keys every component accepts."""

    type: str
    zone: str = Field("default", description="Network zone (or region) the component sits in.")

    def cross_check(self, name: str, sc: Any) -> list[tuple[tuple, str]]:
        """Problems only visible with the whole scenario (`sc`), as (path from the scenario's root,
        message): checked when the scenario loads, after the names are known to exist."""
        return []

    def zones(self) -> list[str]:
        """The network zones it places link ends in (an application's regions of users): names that
        `network.links` and faults may use."""
        return [self.zone]


class Component(Faultable):
    """Base class of component models; built from `(env, name, config)`.

    Life cycle: `__init__` (no references to other components yet), `connect(system)` (resolve
    names into components and make network links), then the run. `handle(req, reply)` is the one
    entry point for calls; the component must eventually call `reply(outcome)` exactly once.

    Every hook a component may implement is declared here with its default, so nothing probes a
    component with `hasattr`: faults (`prepare_for_crash`, `crash`, `recover`, `prepare_for_pause`,
    `pause`, `resume`, `refuse`, `unavailable_call`), stale-read
    tracking (`version_source`, `latest_version`, `stale_since`), load estimation (`offered`,
    `capacity_per_s`), routing (`route`), metrics (`reset_stats`, `stats`, `sample`), health
    probes (`probe`, `dependencies`).
    """

    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    type_name: ClassVar[str] = "component"
    # Faults act through counted contributions: down while a crash holds it, paused while a pause
    # does, slowed by the product of the active slowdowns (see simulator.engine.faultable).
    # An `error` fault fails a share of the calls it handles (independent chances combine); a
    # `clock_skew` makes `clock()` read offset + drift from the true time (their sums).
    FAULT_KINDS = {"crash": ("down", any_active), "slow": ("slowdown", product), "pause": ("paused", any_active),
                   "error": ("error_p", independent_chance), "clock": ("skew", linear_clock)}
    # What a call that arrives while the component is down gets back.
    refuse_outcome: ClassVar[int] = ERROR
    # The state read on every call lives in slots: a component has more attributes than CPython shares
    # a dict layout for (30), so each other attribute read is a dict lookup; a slot is a fixed offset in
    # the object (subclasses add their own per-request state the same way). The rest stays in `__dict__`.
    __slots__ = ("env", "name", "unavailable", "paused", "slowdown", "skew", "__dict__")

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
        self.error_p = 0.0  # share of calls failed on arrival (the `error` faults active)
        self.skew: tuple[float, float] | None = None  # (a, b): clock() = now + a + b * now (clock_skew)
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

    def start(self) -> None:
        """Called once at time 0 when the whole system is built and its faults scheduled (an
        application spawns its actors here). Default: nothing."""

    def route(self, src: Any) -> Any:
        """Where calls from `src` addressed to this component go (called once per link, at build
        time): the component itself, or a stand-in such as a CDN's nearest edge or a client
        library's `LocalProxy`."""
        return self

    def handle(self, req: Request, reply: Reply) -> None:
        raise NotImplementedError

    # --- health checks --------------------------------------------------------------------------
    def probe(self, req: Request, reply: Reply) -> None:
        """A load balancer's health probe reached the component (it is up: the link checked):
        answer `reply(OK)` when the component would serve it. Default: at once."""
        reply(OK)

    def dependencies(self) -> list[str]:
        """The components it calls (what a `deep` health probe also checks). Default: none."""
        return []

    # --- faults ---------------------------------------------------------------------------------
    def clock(self) -> float:
        """The component's own clock: the true time, or the time a `clock_skew` fault makes it read
        (now + offset + drift x (now - start), summed over the active skews). Cache TTLs read it;
        leases and last-writer-wins timestamps are meant to read the same clock."""
        now = self.env._now
        skew = self.skew
        return now if skew is None else now + skew[0] + skew[1] * now

    def fault_expect(self, kind: str) -> None:
        super().fault_expect(kind)
        if kind == "error" and "_error_gate" not in self.__dict__:
            # In front of `handle` (and of a rate limiter already there), before any link is frozen:
            # components no `error` fault names keep their bare `handle`. A client library (sharded or
            # replicated store) is entered through `handle_at` from each caller's proxy.
            entry = "handle_at" if isinstance(self, ClientSide) else "handle"
            self._error_gate = ErrorGate(self, getattr(self, entry))
            setattr(self, entry, self._error_gate)
        elif kind == "crash":
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
        note_failure(self.env, req, CAUSE_DOWN, self.name, self.fault_token("crash"))
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

    def value_at(self, key: Any, version: int) -> Any:
        """In a run that records histories: the value `key` held at `version` (None: the initial
        value), or `models.versions.UNKNOWN`. Asked by a cache answering from an entry."""
        from .versions import UNKNOWN

        return UNKNOWN

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


class ErrorGate:
    """A component's `handle` while an `error` fault may act on it: with the combined probability of
    the active faults (`error_p`), a call fails at once with outcome error instead of being handled.
    Draws come from the component's own stream `<name>/error`, only while some fault is active."""

    __slots__ = ("comp", "inner", "rng")

    def __init__(self, comp: Component, inner: Any) -> None:
        self.comp = comp
        self.inner = inner
        self.rng = comp.env.streams.get(f"{comp.name}/error")

    def __call__(self, *call: Any) -> None:  # (req, reply), or (proxy, req, reply) for `handle_at`
        comp = self.comp
        p = comp.error_p
        if p and self.rng.random() < p:
            comp.failed += 1  # reported with the component's other failures
            note_failure(comp.env, call[-2], CAUSE_INJECTED_ERROR, comp.name, comp.fault_token("error"))
            call[-1](ERROR)
        else:
            self.inner(*call)


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
        policies = getattr(owner.config, "resilience", None)
        if policies is not None and policies.active():  # the client library's calls, with policies
            self.links = {t: guard(link, policies, f"{owner.name}@{caller.name}->{t}", system)
                          for t, link in self.links.items()}

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
