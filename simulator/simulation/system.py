"""Elaboration: from a validated `Scenario` to a wired system of live components, before time starts.

Build every component (expanding `replicas`), then let each resolve its references and make its
network links, then let faults mark what they may touch, then freeze the links. Anything that
cannot be resolved fails here with its dotted name, not halfway through a run.
"""
from __future__ import annotations

import math
from typing import Any

from models.base import ClientSide, Component, LocalProxy
from simulator.language import registry
from simulator.resilience import connect_all, deadline, finalize_all, hedge, ratelimit
from simulator.language.errors import ScenarioError, did_you_mean
from simulator.engine.network import Network
from simulator.scenario.plugins import load_components
from simulator.scenario.schema import Scenario
from simulator.simulation import tracing
from simulator.simulation.traffic import Traffic
from simulator.workload.clients import Workload


class System:
    """The elaborated system: live components, workloads, the network and the faults of one run."""

    def __init__(self, env: Any, scenario: Scenario) -> None:
        load_components()
        self.env = env
        self.scenario = scenario
        env.system = self
        self.network = env.network = Network(env, scenario.network)
        self.components: dict[str, Any] = {}
        self.groups: dict[str, list[str]] = {}  # YAML name -> concrete member names
        for name, cfg in scenario.components.items():
            cls = registry.components.get(cfg.type)
            members = cls.expand(name, cfg)
            for member_name, member_cls, member_cfg in members:
                self.components[member_name] = member_cls(env, member_name, member_cfg)
            self.groups[name] = cls.fault_members(name, [m for m, _c, _cfg in members])
        self._member_of: dict[str, list[str]] = {}
        for name, members in self.groups.items():
            for m in members:
                if m != name:
                    self._member_of.setdefault(m, []).append(name)
        for name, comp in self.components.items():
            if isinstance(comp, ClientSide):  # a store's shards or replicas answer to the store's name
                for m in comp.route_targets():
                    self._member_of.setdefault(m, []).append(name)
        self.workloads = [Workload(env, name, i, cfg) for i, (name, cfg) in enumerate(scenario.workloads.items())]
        self.guarded: list[Any] = []  # calls with resilience policies (simulator.resilience.guard)
        self.limited: dict[str, Any] = {}  # components behind a rate limiter
        for comp in self.components.values():
            prepare = getattr(comp, "prepare_admission", None)  # a station's shedding and slowdown
            if prepare is not None:
                prepare()
            ratelimit.install(comp, self)  # before any link is made or frozen
        for comp in list(self.components.values()):
            comp.connect(self)
        # components with something to start at time 0 (applications' actors), in declaration order
        self.starters = [c for c in self.components.values() if type(c).start is not Component.start]
        for wl in self.workloads:
            wl.connect(self)
        # A generator (chaos) stands for the faults it draws; each fault's token is its place in this list.
        drawn = [(g, f) for i, f in enumerate(scenario.faults) for g in f.expand(self, i)]
        self.faults = [g for g, _f in drawn]
        # the generator (`chaos`) of each fault one drew, by token: reports say where a fault came from
        self.drawn_by = {t: f.type for t, (g, f) in enumerate(drawn) if g is not f}
        self._fault_names: dict[int, frozenset[str]] = {}
        self.fault_state: dict[int, Any] = {}  # per fault, what it makes once per run (a latency sampler)
        for token, fault in enumerate(self.faults):  # a fault's token is its place in the list
            fault.prepare(self, token)
        connect_all(self)  # the fallbacks' links: after the faults, before the links are frozen
        deadline.install(self)  # wasted work and dropping, where some call propagates its deadline
        hedge.install(self)  # losers' wasted work and cancellation, where some call hedges
        self.tracer = tracing.install(self)  # only with `trace:`: spans of sampled requests
        self.network.finalize()
        if self.tracer is not None:
            self.tracer.install_calls()  # on each link's chosen send, before the policies read it
        finalize_all(self)
        self.load_estimate: dict[str, float] = {}
        self.offer_mix: dict[str, float] | None = None  # operation shares of the load being offered
        self.traffic = Traffic(self)

    def get(self, name: str) -> Any:
        """The component that receives calls addressed to `name`."""
        try:
            return self.components[name]
        except KeyError:
            raise ScenarioError(f"unknown component '{name}'{did_you_mean(name, self.components)}") from None

    def expand(self, name: str) -> list[Any]:
        """Concrete components a name stands for (every replica of a replicated server)."""
        return [self.components[m] for m in self.groups.get(name, [name])]

    def fault_names(self, endpoint: Any) -> frozenset[str]:
        """The names by which a fault reaches one end of a link: its own name, the YAML names it is a
        member of (a replica of a server, a CDN edge, a shard or replica of a store), its zone; a
        client library running inside a caller is reached by its caller's names."""
        key = id(endpoint)
        names = self._fault_names.get(key)
        if names is None:
            if isinstance(endpoint, LocalProxy):
                names = self.fault_names(endpoint.caller)
            else:
                names = frozenset([endpoint.name, endpoint.zone, *self._member_of.get(endpoint.name, ())])
            self._fault_names[key] = names
        return names

    def warnings(self) -> list[str]:
        """Things that are legal but probably not meant: overload, faults after the end."""
        out = self.capacity_warnings() + self.loop_warnings() + self.history_warnings()
        for i, f in enumerate(self.scenario.faults):  # as declared (a chaos generator once)
            if f.at >= self.scenario.duration:
                out.append(f"faults[{i}] ({f.describe()}) starts at {f.at:g}s, after the run ends "
                           f"({self.scenario.duration:g}s): it never happens")
        return out

    def history_warnings(self) -> list[str]:
        """Checkable workloads whose requests can reach no component in common (two independent stores)
        are recorded in one history, where their keys are the same registers: key 0 of one store and
        key 0 of the other look like one register, so the checkers report violations that are not
        there (docs/consistency.md, "Checkable workloads")."""
        sc = self.scenario
        if not sc.records_history:
            return []
        comps = sc.components
        edges = {n: {t.split("[")[0] for _rel, t in c.refs()} for n, c in comps.items()}

        def reach(name: str) -> set[str]:
            seen, todo = set(), [name]
            while todo:
                n = todo.pop()
                if n not in seen:
                    seen.add(n)
                    todo.extend(edges.get(n, ()))
            return seen

        checkable = [(n, reach(w.target.split("[")[0])) for n, w in sc.workloads.items() if w.checkable and w.target]
        out = []
        for i, (a, ra) in enumerate(checkable):
            for b, rb in checkable[i + 1:]:
                if not ra & rb:
                    out.append(f"checkable workloads '{a}' and '{b}' reach no component in common, but one history "
                               "records both: their keys are checked as the same registers, so the checkers report "
                               "violations that are not there (give them one store, or check them in separate runs)")
        return out

    def loop_warnings(self) -> list[str]:
        """A call path that can come back to a server holding its worker: when every worker waits on
        a call that queues behind them, nothing moves (a thread-pool deadlock)."""
        comps = self.scenario.components
        edges = {n: {t.split("[")[0] for _rel, t in (c.refs() if c.type == "server" else c.forwards())}
                 for n, c in comps.items()}
        out = []
        for name, cfg in comps.items():
            if cfg.type != "server" or not getattr(cfg, "hold_worker", False):
                continue
            seen, todo = set(), list(edges[name])
            while todo:
                n = todo.pop()
                if n == name:
                    out.append(f"a call path from '{name}' can come back to it while it holds a worker: if all "
                               f"{cfg.workers} workers wait on such calls, they deadlock (hold_worker: false avoids it)")
                    break
                if n in edges and n not in seen:
                    seen.add(n)
                    todo.extend(edges[n])
        return out

    def offer(self, name: str, rate_per_s: float, mix: dict[str, float] | None = None) -> None:
        """Account `rate_per_s` of load at `name` and what it passes on (see simulator/simulation/traffic.py:
        a walk of the call trees, or the traffic equations when a loop makes the walk too long).

        `mix` is the share of each operation in that load; left out, it is the mix of the load
        being passed on (a component that does not change operations need not know it). While
        `name` accounts the load, the mix is in `offer_mix`."""
        self.traffic.offer(name, rate_per_s, mix)

    def estimate_load(self) -> dict[str, float]:
        """Offered load per component (req/s, a mean-rate estimate; infinite behind an unbounded loop)."""
        self.traffic = Traffic(self)
        return self.traffic.estimate([(wl.config.target, wl.offered_rate(), dict(wl.config.mix))
                                      for wl in self.workloads])

    def capacity_warnings(self) -> list[str]:
        """Components whose offered load (a mean-rate estimate) reaches their capacity; loops whose
        expected visits per request are unbounded."""
        self.estimate_load()
        out = []
        if self.traffic.unbounded:
            names = ", ".join(f"'{n}'" for n in self.traffic.unbounded)
            out.append(f"the call loop through {names} has unbounded expected visits per request (on average "
                       f"each pass calls around the loop again at least once): requests would never be answered")
        for name, rate in self.load_estimate.items():
            comp = self.components[name]
            cap = comp.capacity_per_s()
            if cap <= 0:
                out.append(f"the mean service time at '{name}' is infinite (a heavy-tailed distribution, e.g. "
                           f"pareto with alpha <= 1): its queue will grow for the whole run")
            elif math.isinf(rate):
                out.append(f"offered load at '{name}' is unbounded: its queue will grow for the whole run")
            elif rate >= cap:
                out.append(
                    f"offered load at '{name}' (~{rate:.4g} req/s) is {rate / cap:.2f}x its capacity "
                    f"(~{cap:.4g} req/s): its queue will grow for the whole run"
                )
        return out
