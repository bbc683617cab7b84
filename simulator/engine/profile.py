"""`dsim run --profile`: where a run's time goes, by kind of event.

The run loop takes each event off the heap and hands it to its owner; with a `Profile` on the
environment it also counts the events of each kind and the wall-clock time spent handling them
(the handler and every call it makes at once: a load balancer's forwarding is part of the hop that
brought it the request). A kind is the component type that handles the event: `hop → server` is a
message arriving at a server over a link with latency, `reply → load_balancer` a reply arriving
back at one (`reply → workload`: at the clients), `server` a server's own timer (a service
completion), `workload` an arrival, `timeouts` a deadline queue's timer, `faults` a fault's start
or end, `simpy` SimPy's own events; links that a fault can reach say so. The loop with a profile is slower
(two clock reads per event), so its figures are relative: shares, not speed.
"""
from __future__ import annotations

from time import perf_counter
from typing import Any


_NAMES = {"_Source": "workload", "_Sampler": "metrics sampling", "Deadlines": "timeouts"}


def _type_name(obj: Any) -> str:
    name = type(obj).__name__
    return getattr(obj, "type_name", None) or _NAMES.get(name) or name.lower()


def event_kind(event: Any) -> str:
    """A short name for what handles `event` (see the module docstring)."""
    fn = getattr(event, "fn", None)
    if fn is None:
        return "simpy"
    link = getattr(event, "link", None)
    if link is not None:  # a network hop: going to its destination, or a reply coming back
        if fn.__name__ == "_hop_arrive":
            return f"hop → {_type_name(link.dst)}"
        return f"reply → {_type_name(link.src)}"
    owner = getattr(fn, "__self__", None)
    if owner is None:
        module = fn.__module__.rsplit(".", 1)[-1]
        return {"network": "reply (link with faults)", "runner": "faults"}.get(module, module)
    if type(owner).__name__ == "Link":
        return f"hop → {_type_name(owner.dst)} (link with faults)"
    return _type_name(owner)


class Profile:
    """Counts and times the events of a run by kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._kinds: dict[Any, str] = {}

    def _kind(self, event: Any) -> str:
        # cached per handler function and link: the kind of an event depends on nothing else
        fn = getattr(event, "fn", None)
        key = (getattr(fn, "__func__", fn), getattr(fn, "__self__", None), getattr(event, "link", None))
        kind = self._kinds.get(key)
        if kind is None:
            kind = self._kinds[key] = event_kind(event)
        return kind

    def loop(self, env: Any) -> None:
        """`SimEnv._loop`, timing each event."""
        queue, lane = env._queue, env._lane
        counts, seconds = self.counts, self.seconds
        while queue or lane:
            entry = env._pop()
            env.events += 1
            kind = self._kind(env.event_of(entry))
            t = perf_counter()
            try:
                env.dispatch(entry)
            finally:
                seconds[kind] = seconds.get(kind, 0.0) + perf_counter() - t
                counts[kind] = counts.get(kind, 0) + 1

    def rows(self) -> list[dict[str, Any]]:
        """One row per kind, the most time first: events, seconds, share of the time, µs per event."""
        total = sum(self.seconds.values()) or 1.0
        return [{"kind": k, "events": self.counts[k], "seconds": s, "share": s / total,
                 "us_per_event": 1e6 * s / self.counts[k]}
                for k, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])]
