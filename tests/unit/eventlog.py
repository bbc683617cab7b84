"""Exact event logs for unit tests, in the manner of SimPy's own tests.

A test builds a tiny system from YAML, sends requests at chosen times, and compares the log of
`(time, what happened)` pairs with a list written out by hand:

    p = Probe('''
        name: t
        duration: 100s
        components:
          app: {type: server, workers: 1, service_time: 1s}
        workloads:
          clients: {arrivals: constant(rate=1/s), target: app}   # declared, never started
    ''')
    p.send(0.0, "r1")
    p.send(0.5, "r2")
    assert p.run() == [(1.0, "r1 ok"), (2.0, "r2 ok")]

How requests get in. The scenario declares one workload (or several), but `Probe` never starts
it, so it generates no traffic of its own. It is there to give the probe a place in the network:
a name and a zone that latency rules and `partition`/`latency`/`packet_loss` faults can refer to,
and a link to its target that `System` makes and finalizes exactly as for real traffic. `send`
puts a hand-made `Request` on that link (`Workload.link`) with a reply callback that logs the
outcome. So no hook in the simulator is needed, and no link is made after `Network.finalize()`.

What is logged (times are `env.now` rounded to 9 decimals, so that 0.01 + 1.0 + 0.01 compares
equal to 1.02):
- `"<label> <outcome>"` when a reply reaches the client (outcome: ok, rejected, timed_out, error);
- `"<component> served <label>"` when a watched station finishes a request's service
  (`watch_service`: wraps the instance's `after_service` hook, called once per completed service;
  work lost to a crash never gets there);
- `"<cache> hit|miss <label>"` when a watched cache looks a key up (`watch_cache`).
Sub-requests share their root's id, so downstream events carry the root's label.

Faults in the scenario's `faults:` list are scheduled (as `simulator.run` does) before any
request, so a fault and a request at the same instant happen in that order; the tests avoid ties.
"""
from __future__ import annotations

import textwrap
from typing import Any

import simulator
from simulator.engine.request import OUTCOME_NAMES, Request
from simulator.simulation.runner import schedule_faults

Log = list[tuple[float, str]]


class Probe:
    """A tiny system built from YAML, driven by hand, with an exact log of what happened."""

    def __init__(self, yaml_text: str, *, seed: int | None = None) -> None:
        self.scenario = simulator.loads_scenario(textwrap.dedent(yaml_text))
        self.env, self.system = simulator.build(self.scenario, seed)
        schedule_faults(self.env, self.system)
        self.log: Log = []
        self._labels: dict[int, str] = {}

    # --- driving ------------------------------------------------------------------------------
    def workload(self, name: str | None = None) -> Any:
        wls = self.system.workloads
        if name is None:
            return wls[0]
        return next(w for w in wls if w.name == name)

    def send(self, t: float, label: str, *, key: Any = None, op: str = "request", via: str | None = None) -> None:
        """At time `t`, send one request (operation `op`, key `key`) from workload `via` (default:
        the first) to that workload's target; its reply is logged as `"<label> <outcome>"`."""
        wl = self.workload(via)
        rid = len(self._labels) + 1
        self._labels[rid] = label

        def fire(_timer: Any) -> None:
            req = Request(rid, self.env.now, wl.index, op, key=key)
            wl.link.send(req, lambda outcome: self.record(f"{label} {OUTCOME_NAMES[outcome]}"))

        self.env.call_later(t - self.env.now, fire)

    def run(self, until: float | None = None) -> Log:
        """Run to `until` (default: the scenario's duration) and return the log."""
        self.env.run(until=self.scenario.duration if until is None else until)
        return self.log

    # --- observing ----------------------------------------------------------------------------
    def record(self, what: str) -> None:
        self.log.append((round(self.env.now, 9), what))

    def label(self, req: Request) -> str:
        return self._labels.get(req.id, f"#{req.id}")

    def watch_service(self, *names: str) -> None:
        """Log `"<name> served <label>"` each time one of these stations completes a service."""
        for name in names:
            comp = self.system.get(name)
            original = comp.after_service

            def after_service(req, reply, t_start, comp=comp, original=original):
                self.record(f"{comp.name} served {self.label(req)}")
                original(req, reply, t_start)

            comp.after_service = after_service

    def watch_cache(self, name: str) -> None:
        """Log `"<name> hit|miss <label>"` when the cache looks a key up (read by its counters)."""
        cache = self.system.get(name)
        original = cache.process

        def process(req, reply):
            hits, misses, at = cache.hits, cache.misses, len(self.log)
            original(req, reply)  # may reply at once (a hit over a zero-latency link)
            what = "hit" if cache.hits > hits else "miss" if cache.misses > misses else None
            if what is not None:  # logged before anything the lookup itself caused
                self.log.insert(at, (round(self.env.now, 9), f"{name} {what} {self.label(req)}"))

        cache.process = process
        if cache.__dict__.get("handle") == original:  # a cache with no queue is entered at `process`,
            cache.handle = process  # directly by a link with no latency (frozen to it when built)
            callers = [*self.system.network.links, *(wl.link for wl in self.system.workloads)]  # (or their guards)
            for link in callers:
                if link.send == original:
                    link.send = process
