"""The behaviour API: how an application model (a chat service, ride dispatch, a video player) is written.

An `Application` is a registered component type that hosts *actors*: users, drivers, players, written
as plain SimPy generator processes with the domain's state in ordinary Python objects. Actors do
their domain logic in Python and talk to the infrastructure (load balancers, servers, caches, stores,
queues, CDNs: ordinary dsim components declared in the same scenario) only through `Call`s, which
cross the simulated network like every other message, so faults, partitions, resilience policies
and queueing reach them with no special case. The engine learns nothing about the domain.

    class Pinger(Application):
        class Config(AppConfig):
            type: Literal["pinger"] = "pinger"
            users: int = 10
            server: str

        def connect(self, system):
            self.ping = self.caller(system, self.config.server, op="ping")
            self.rtt = self.metrics.observe("rtt_s", "round trip of a ping")

        def start(self):
            for u in range(self.config.users):
                self.spawn(self.user(u))

        def user(self, u):
            think = self.sampler("think", exp_1s)
            while True:
                yield self.sleep(think())
                t0 = self.now
                outcome = yield self.ping(op="ping", key=u)
                if outcome == OK:
                    self.rtt.add(self.now - t0)

What an application gets:
- `start()`: called once at time 0, after the whole system is built (spawn actors there);
- `spawn(generator)`, `sleep(seconds)`, `now`, `stream(name)` and `sampler(name, distribution)`
  (named random streams `<app>/<name>`: common random numbers hold per actor kind);
- `caller(system, target, src=None, op=..., resilience=None)` -> a `Call`: `call(op=, key=, data=,
  record=, timeout=)` returns a SimPy event whose value is the outcome (`OK`, `ERROR`, `TIMED_OUT`...).
  `src` names the component the message leaves from (default: the application itself), so a
  partition between two services cuts exactly the calls between them;
- `begin(op)` / `finish(req, outcome)`: a top-level domain operation recorded as a request row
  (the application's name is its workload), so the standard latency, throughput, error, fault-impact
  and records of the run include the domain's operations;
- inbound calls: a call whose target is the application itself (from a server pushing to a user)
  runs `on_<op>(req)` on arrival (its return value, default `OK`, is the answer);
- `metrics` (`models/apps/metrics.py`): observations, counters, gauges (time series), gauge groups
  (heat maps) and end-of-run values, in the summary under the component with `app: true`;
- `extrapolate()`: lines saying what the full system would need (`scale:` is the simulated slice).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, ClassVar, Generator

from pydantic import Field, field_validator
from simpy.events import Event

from models.apps.metrics import AppMetrics
from models.base import Component, ComponentConfig
from models.endpoint import Endpoint
from simulator.engine.request import OK, TIMED_OUT, Request
from simulator.resilience import ResilienceConfig, guard
from simulator.sampling.distributions import Sampler, parse_distribution



def distribution(default: str, description: str, kind: str = "duration") -> Any:
    """A config field holding a distribution, with a default written as in YAML
    (`think_time: DurationDist = distribution("exponential(mean=10s)", "...")`)."""
    return Field(default_factory=lambda: parse_distribution(default, kind), description=description)


class AppConfig(ComponentConfig):
    """Keys every application accepts."""

    scale: float = Field(1.0, description="The slice of the real user base simulated, as a fraction "
                         "(`1/100000` or `1e-5`): extrapolations to the full system divide by it.")

    @field_validator("scale", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> Any:
        if isinstance(v, str) and "/" in v:
            try:
                v = float(Fraction(v.replace(" ", "")))
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"expected a fraction such as 1/100000, got {v!r}") from None
        return v

    @field_validator("scale")
    @classmethod
    def _in_range(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError(f"scale is the simulated share of the real system, in (0, 1]; got {v:g}")
        return v


class AppRequest(Request):
    """A request made by an application: `data` carries the domain's payload (a message, a location)
    to an `on_<op>` handler; `meta` stays free for the components on the way."""

    __slots__ = ("data",)


class Call:
    """One caller's way to one target: a link (with its resilience policies) from `src` to `target`."""

    __slots__ = ("app", "send", "op", "target")

    def __init__(self, app: "Application", send: Callable[[Request, Callable[[int], None]], None], op: str,
                 target: str) -> None:
        self.app, self.send, self.op, self.target = app, send, op, target

    def __call__(self, op: str | None = None, key: Any = None, data: Any = None, req: Request | None = None,
                 timeout: float | None = None) -> Event:
        """Send one call; the event's value is its outcome. `req`: a recorded request (from `begin`)
        this call is part of (its failure cause and trace follow it); else an unrecorded one."""
        app = self.app
        env = app.env
        if req is None or data is not None or op is not None and op != req.op:
            parent = req
            req = AppRequest(-1 if parent is None else parent.id, env._now, app.wl_index, op or self.op, key)
            req.data = data
            if parent is not None:
                req.user, req.region = parent.user, parent.region
        ev = Event(env)
        if timeout is None:
            self.send(req, lambda outcome: ev.succeed(outcome))
            return ev

        def answer(outcome: int) -> None:
            if not ev.triggered:
                ev.succeed(outcome)

        def expire(_timer: Any) -> None:
            if not ev.triggered:
                ev.succeed(TIMED_OUT)

        env.call_later(timeout, expire)
        self.send(req, answer)
        return ev

    def notify(self, op: str | None = None, key: Any = None, data: Any = None,
               done: Callable[[int], None] | None = None) -> None:
        """A call whose answer nobody waits for (a fire-and-forget message; `done` sees the outcome)."""
        req = AppRequest(-1, self.app.env._now, self.app.wl_index, op or self.op, key)
        req.data = data
        self.send(req, done or _ignore)


def _ignore(_outcome: int) -> None:
    pass


class _From:
    """Sends on behalf of a component: refused while it is down, held while it is paused (the
    component's own `unavailable_call`, as for a call arriving there), sent when it is up."""

    __slots__ = ("source", "handle")

    def __init__(self, source: Any, send: Callable[[Request, Callable[[int], None]], None]) -> None:
        self.source, self.handle = source, send

    def send(self, req: Request, reply: Callable[[int], None]) -> None:
        if self.source.unavailable:
            self.source.unavailable_call(self, req, reply)
        else:
            self.handle(req, reply)


class Application(Component):
    """Base of application models: a component that hosts actors (see the module's docstring)."""

    Config: ClassVar[type[ComponentConfig]] = AppConfig
    type_name: ClassVar[str] = "application"
    # Tells the schema a scenario with this component runs even without `workloads:`.
    drives_itself: ClassVar[bool] = True

    def __init__(self, env: Any, name: str, config: AppConfig) -> None:
        super().__init__(env, name, config)
        self.metrics = AppMetrics()
        rec = env.recorder
        if rec is not None:  # its top-level operations are request rows under the application's name
            if name not in rec.workloads:
                rec.workloads.append(name)
            self.wl_index = rec.workloads.index(name)
        else:
            self.wl_index = -1
        self.rec = rec
        self.events: list[dict[str, Any]] = []  # instant events (a reconnect storm began), for the charts

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Called once at time 0, when the whole system is built: spawn the actors here."""

    def extrapolate(self) -> list[str]:
        """Lines saying what the full system (this slice divided by `scale`) would need."""
        return []

    # --- actors ---------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.env._now

    def spawn(self, actor: Generator) -> Any:
        return self.env.process(actor)

    def sleep(self, seconds: float) -> Event:
        return self.env.timeout(max(0.0, seconds))

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        """Call `fn()` after `seconds` (a timer, lighter than a process for a one-shot action)."""
        self.env.call_later(max(0.0, seconds), lambda _t: fn())

    def stream(self, name: str) -> Any:
        """The numpy generator of the application's named stream `<app>/<name>`."""
        return self.env.streams.get(f"{self.name}/{name}")

    def sampler(self, name: str, dist: Any) -> Callable[[], float]:
        """Fast draws of `dist` from the stream `<app>/<name>`."""
        return Sampler(dist, self.stream(name)).next

    def scaled(self, full: float) -> int:
        """How many of something the simulated slice has when the full system has `full` (at least 1)."""
        return max(1, round(full * self.config.scale))

    def full(self, simulated: float) -> float:
        """The full system's figure for a figure of the simulated slice."""
        return simulated / self.config.scale

    def event(self, kind: str, description: str) -> None:
        """Something that happened at an instant (marked on every time chart)."""
        self.events.append({"at_s": self.env._now, "kind": kind, "description": description})

    # --- calls ----------------------------------------------------------------------------------
    def caller(self, system: Any, target: str | Any, src: str | Any | None = None, op: str = "call",
               resilience: ResilienceConfig | None = None) -> Call:
        """A `Call` from `src` (a component name, a component or link end; default: this application)
        to `target` (a component name, or `self` for calls handled by `on_<op>`)."""
        source = self if src is None else system.get(src) if isinstance(src, str) else src
        dst = system.get(target) if isinstance(target, str) else target
        link = system.network.link(source, dst)
        label = f"{self.name}:{source.name}->{dst.name}"
        send = guard(link, resilience, label, system).send
        if source is not self and isinstance(source, (Component, Endpoint)):
            # a message leaves a down service never, a paused one when it resumes
            send = _From(source, send).send
        return Call(self, send, op, dst.name)

    def handle(self, req: Request, reply: Callable[[int], None]) -> None:
        """A call to the application (a server pushing to a user): `on_<op>(req)` answers it."""
        handler = getattr(self, f"on_{req.op}", None)
        if handler is None:
            raise NotImplementedError(f"{type(self).__name__} has no on_{req.op} for calls to it")
        outcome = handler(req)
        reply(OK if outcome is None else outcome)

    # --- recorded operations --------------------------------------------------------------------
    def begin(self, op: str, key: Any = None, user: int | None = None) -> AppRequest:
        """Start a top-level domain operation: a request row under the application's name."""
        now = self.env._now
        rid = self.rec.issue(now, self.wl_index, op)
        req = AppRequest(rid, now, self.wl_index, op, key, user)
        req.data = None
        return req

    def finish(self, req: Request, outcome: int) -> None:
        """The operation `req` ended with `outcome` (once; later calls are ignored by the caller's logic)."""
        rec = self.rec
        rec.answer(req.id, self.env._now, outcome)
        if outcome:
            rec.failed(req.id)

    # --- metrics --------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        self.metrics.reset()
        self.events = []

    def sample(self) -> dict[str, float]:
        return self.metrics.sample()

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name, "app": True, "scale": self.config.scale,
                               **self.metrics.summary()}
        lines = self.extrapolate()
        if lines:
            out["extrapolation"] = lines
        if self.events:
            out["events"] = self.events
        return out
