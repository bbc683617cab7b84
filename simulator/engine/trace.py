"""Distributed tracing: what a sampled request leaves behind, one span per hop or visit.

Only requests sampled at their start carry a `Trace` (`TracedRequest.trace`); every other request
is a plain `Request` whose `trace` is the class attribute `None`, so an untraced request runs the
same code as in a run without tracing. The wrappers that open and close spans are installed by
`simulator/simulation/tracing.py`, and only in runs with tracing on: a run without it pays nothing.

Times are simulated seconds; the file writers (`reports/trace_files.py`) turn them into the
formats' units. Span ids are derived from the request id and a counter, so the same seed gives the
same trace, byte for byte.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from simulator.engine.request import OUTCOME_NAMES, Request
from simulator.language.config import StrictModel
from simulator.language.units import Fraction

# Span kinds, as OpenTelemetry names them: the caller's side of a call, the callee's side of it.
CLIENT = "client"
SERVER = "server"
INTERNAL = "internal"


class TraceConfig(StrictModel):
    """Which requests are traced: `dsim run --trace FILE` writes them (docs/tracing.md)."""

    sample: Fraction = Field(0.01, description="Share of requests traced, decided at each request's start "
                             "from its own random stream (`trace/<workload>`): e.g. 1% or 0.01.")
    max_requests: PositiveInt = Field(1000, le=1_000_000, description="At most this many requests are "
                                      "traced in a run (the first sampled ones); later ones are not.")


class Span:
    """One hop or visit of a traced request: [start_s, end_s] in simulated seconds.

    `service` is `(start_s, end_s)` of a queueing component's own work (the wait in its queue is
    `service[0] - start_s`); `faults` the descriptions of the faults active on the component or
    link when the span started (and any that started while it was open, see `note_faults`)."""

    __slots__ = ("trace", "span_id", "parent", "name", "kind", "component", "operation", "start_s", "end_s",
                 "outcome", "service", "faults", "attributes")

    def __init__(self, trace: "Trace", parent: "Span | None", name: str, kind: str, component: str,
                 operation: str, start_s: float, faults: tuple[str, ...] = ()) -> None:
        self.trace = trace
        trace.count += 1
        self.span_id = (trace.request_id & 0xFFFFFFFF) << 32 | trace.count  # never 0: the count starts at 1
        self.parent = parent
        self.name = name
        self.kind = kind
        self.component = component
        self.operation = operation
        self.start_s = start_s
        self.end_s: float | None = None
        self.outcome: int | None = None
        self.service: tuple[float, float] | None = None
        self.faults = faults
        self.attributes: dict[str, Any] = {}
        trace.spans.append(self)

    def close(self, outcome: int, end_s: float) -> None:
        """The first outcome closes the span (a reply delivered twice keeps the first)."""
        if self.end_s is None:
            self.end_s = end_s
            self.outcome = outcome

    def note_faults(self, faults: tuple[str, ...]) -> None:
        """Add faults seen later in the span (active when it ended, not when it began)."""
        for f in faults:
            if f not in self.faults:
                self.faults = self.faults + (f,)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (what `Result.traces` holds): ids as integers, times in simulated seconds, the
        outcome by name (`ok`, `timed_out`, ...; `in_flight` if it had not ended)."""
        out = {
            "trace_id": self.trace.trace_id, "span_id": self.span_id,
            "parent_span_id": self.parent.span_id if self.parent is not None else None,
            "request_id": self.trace.request_id, "name": self.name, "kind": self.kind,
            "component": self.component, "operation": self.operation, "start_s": self.start_s,
            "end_s": self.end_s, "outcome": OUTCOME_NAMES[self.outcome] if self.outcome is not None else "in_flight",
            "faults": list(self.faults),
        }
        if self.service is not None:
            out["queue_wait_s"] = self.service[0] - self.start_s
            out["service_s"] = self.service[1] - self.service[0]
            out["service_start_s"], out["service_end_s"] = self.service
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out


class Trace:
    """The spans of one sampled request, and the visits still open (the parents of its next calls)."""

    __slots__ = ("request_id", "trace_id", "workload", "spans", "root", "count", "open")

    def __init__(self, seed: int, request_id: int, workload: str) -> None:
        self.request_id = request_id
        # 128 bits, never 0: the run's seed (high half) and the request's id (low half)
        self.trace_id = ((seed & 0xFFFFFFFFFFFFFFFF) << 64) | (request_id + 1)
        self.workload = workload
        self.spans: list[Span] = []
        self.root: Span | None = None
        self.count = 0
        # id(endpoint) -> its visits of this request not yet answered (innermost last)
        self.open: dict[int, list[Span]] = {}

    def parent_at(self, endpoint: Any) -> Span | None:
        """The span a call sent from `endpoint` belongs to: its latest open visit, else the root."""
        visits = self.open.get(id(endpoint))
        return visits[-1] if visits else self.root


class TracedRequest(Request):
    """A sampled request: a `Request` that carries its `Trace` down the call tree."""

    __slots__ = ("trace",)


def traced_copy(req: Request, trace: Trace, cls: type = TracedRequest) -> Request:
    """A traced copy of `req` (same id, operation, key, attributes and meta)."""
    sub = object.__new__(cls)
    sub.id, sub.t0, sub.wl, sub.op, sub.key = req.id, req.t0, req.wl, req.op, req.key
    sub.user, sub.region, sub.meta = req.user, req.region, req.meta
    sub.trace = trace
    return sub
