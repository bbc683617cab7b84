"""An application server: workers, a FIFO queue, service time per operation, downstream calls."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.sampling.distributions import DurationDist
from simulator.engine.request import Reply, Request

from .autoscale import AutoscaleConfig
from .calls import CallPath, CallStep, bind_steps, step_refs
from .station import Station, StationConfig

_new = object.__new__


class OperationConfig(StrictModel):
    """How the server handles one operation, where it differs from the defaults."""

    service_time: DurationDist | None = None
    calls: list[CallStep] | None = None


class ServerConfig(StationConfig):
    type: Literal["server"] = "server"
    workers: PositiveInt = Field(1, description="Requests served at once (threads, processes).")
    service_time: DurationDist = Field(description="The server's own work per request, at speed 1.")
    calls: list[CallStep] = Field(default_factory=list, description="Downstream calls after the work.")
    operations: dict[str, OperationConfig] = Field(
        default_factory=dict, description="Per-operation service time and calls."
    )
    hold_worker: bool = Field(
        True, description="Keep the worker busy while waiting for downstream calls (thread per request)."
    )
    replicas: PositiveInt = Field(1, le=1000, description="Horizontal scaling: N identical servers behind this name.")
    balancer: registry.name_in(registry.lb_algorithms) = Field("round_robin", description="Load-balancing algorithm across replicas.")
    autoscale: AutoscaleConfig | None = Field(
        None, description="Scale the replicas on a metric (then leave `replicas` out); see docs/resilience.md, "
        "Autoscaling.")

    @model_validator(mode="after")
    def _one_count(self) -> "ServerConfig":
        if self.autoscale is not None and self.replicas != 1:
            raise ValueError(f"an autoscaled server starts with autoscale.initial_replicas (default min_replicas), "
                             f"not replicas ({self.replicas}): leave replicas out")
        return self

    def refs(self):
        out = step_refs(self.calls, ("calls",))
        for op, oc in self.operations.items():
            out += step_refs(oc.calls or [], ("operations", op, "calls"))
        return out

    def forwards(self):
        out = step_refs([s for s in self.calls if s.probability >= 1.0], ("calls",))
        for op, oc in self.operations.items():
            out += step_refs([s for s in oc.calls or [] if s.probability >= 1.0], ("operations", op, "calls"))
        return out


class _Held:
    """A request holding a worker while its downstream calls run: called with their outcome, it
    frees the worker and answers (the object is the reply itself: no bound method per request)."""

    __slots__ = ("server", "reply", "epoch")

    def __init__(self, server: "Server", reply: Reply) -> None:
        self.server = server
        self.reply = reply
        self.epoch = server.epoch

    def __call__(self, outcome: int) -> None:
        server = self.server
        if server.epoch != self.epoch:
            return  # the server crashed meanwhile; the caller was already told
        if server._active is not None:
            server._active.pop(self, None)
        server.release()
        reply = self.reply  # (see simulator/engine/network.py `_hop_back`)
        reply(outcome)


@registry.components.register("server")
class Server(Station):
    """Application server: workers, FIFO queue, per-operation service time and downstream calls."""

    Config = ServerConfig
    __slots__ = ("hold_worker", "_service", "_service_default", "_steps", "_steps_default")

    def __init__(self, env: Any, name: str, config: ServerConfig) -> None:
        super().__init__(env, name, config)
        self.workers = config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self.hold_worker = config.hold_worker
        self._service_default = self.service_sampler(config.service_time, "service")
        self._service = {
            op: self.service_sampler(oc.service_time, f"service/{op}")
            for op, oc in config.operations.items() if oc.service_time is not None
        }
        if not self._service:
            self.draw_service = self._service_default
        self._steps_default: list = []
        self._steps: dict[str, list] = {}

    @classmethod
    def expand(cls, name: str, config: ServerConfig):
        if config.autoscale is not None:
            return cls._expand_autoscaled(name, config)
        if config.replicas == 1:
            return [(name, cls, config)]
        from .load_balancer import LoadBalancer, LoadBalancerConfig

        members = [f"{name}[{i}]" for i in range(1, config.replicas + 1)]
        member_cfg = config.model_copy(update={"replicas": 1})
        front = LoadBalancerConfig(type="load_balancer", algorithm=config.balancer, backends=members,
                                   zone=config.zone)
        return [(m, cls, member_cfg) for m in members] + [(name, LoadBalancer, front)]

    @classmethod
    def _expand_autoscaled(cls, name: str, config: ServerConfig):
        """A pool of `max_replicas` slots behind a balancer that scales (models/autoscale.py)."""
        from .autoscale import AutoscaledBalancer, AutoscaledBalancerConfig

        a = config.autoscale
        members = [f"{name}[{i}]" for i in range(1, a.max_replicas + 1)]
        member_cfg = config.model_copy(update={"replicas": 1, "autoscale": None})
        initial = a.initial_replicas if a.initial_replicas is not None else a.min_replicas
        front = AutoscaledBalancerConfig(type="load_balancer", algorithm=config.balancer, backends=members,
                                         zone=config.zone, autoscale=a, initial=initial)
        return [(m, cls, member_cfg) for m in members] + [(name, AutoscaledBalancer, front)]

    def connect(self, system: Any) -> None:
        cfg = self.config
        self._steps_default = bind_steps(self, system, cfg.calls, "calls")
        self._steps = {
            op: bind_steps(self, system, oc.calls, f"operations/{op}/calls")
            for op, oc in cfg.operations.items() if oc.calls is not None
        }

    def dependencies(self) -> list[str]:
        """Every component its call steps name (default and per operation), once each, in order."""
        names = [t for step in self.config.calls for t in step.targets()]
        for oc in self.config.operations.values():
            names += [t for step in oc.calls or [] for t in step.targets()]
        return list(dict.fromkeys(names))

    def service_time(self, req: Request) -> float:
        fn = self._service.get(req.op) if self._service else None
        return (fn or self._service_default)()

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        steps = self._steps.get(req.op, self._steps_default) if self._steps else self._steps_default
        if not steps:
            self.release()
            reply(0)
            return
        if self.hold_worker:
            finish = _new(_Held)  # _Held(self, reply), without an __init__ frame: once per request
            finish.server = self
            finish.reply = reply
            finish.epoch = self.epoch
            if self._active is not None:
                self._active[finish] = (req, reply)
        else:
            self.release()
            finish = reply
        if len(steps) == 1 and steps[0].plain:  # one sure call: the call path would only pass its reply on
            # a `_Held` as its bound `__call__`: a cheaper call (see simulator/engine/network.py `_hop_arrive`)
            steps[0].links[0].send(req, finish if finish is reply else finish.__call__)
        else:
            CallPath(self.env, steps, req, finish).next()

    def version_source(self, system: Any) -> Any:
        """A server whose only downstream call is one store answers with that store's data."""
        targets = [t for step in self.config.calls for t in step.targets()]
        if len(targets) != 1 or self.config.operations:
            return None
        return system.get(targets[0]).version_source(system)

    def offered(self, rate_per_s: float, system: Any) -> None:
        """The load, and what each operation's calls pass on (the operation of a call is the
        step's `operation`, else the request's)."""
        system.load_estimate[self.name] = system.load_estimate.get(self.name, 0.0) + rate_per_s
        cfg = self.config
        per_op = {op: oc.calls for op, oc in cfg.operations.items() if oc.calls is not None}
        mix = system.offer_mix
        if mix is None:  # operations unknown: every request takes the default calls
            for step in cfg.calls:
                for t in step.targets():
                    system.offer(t, rate_per_s * step.probability)
            return
        for op, share in mix.items():
            for step in per_op.get(op, cfg.calls):
                sub = {step.operation or op: 1.0}
                for t in step.targets():
                    system.offer(t, rate_per_s * share * step.probability, sub)

    def capacity_per_s(self) -> float:
        mean = self.config.service_time.mean / self.config.speed
        slowdown = self.config.concurrency_slowdown
        if slowdown is not None and mean > 0:  # the peak of the law's curve, at <= workers busy
            return slowdown.peak(self.workers, mean)
        return self.workers / mean if mean > 0 else float("inf")
