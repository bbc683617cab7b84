"""Trace files: the spans of a traced run (`Result.traces`) in formats people already open.

- **Chrome / Perfetto trace-event JSON** (`chrome`): one process per traced request, one thread
  (track) per component it visited, a complete event (`"ph": "X"`) per span, and, inside a visit
  to a queueing component, its `queue` and `service` slices. Timestamps in microseconds of
  simulated time. Opens in https://ui.perfetto.dev and chrome://tracing.
- **OpenTelemetry OTLP/JSON** (`otlp`): an `ExportTraceServiceRequest` as JSON: one `resourceSpans`
  per component (`service.name` = the component), its spans with hex `traceId` / `spanId`,
  `parentSpanId`, `kind`, times in Unix nanoseconds, `attributes`, `events` and `status`. Loads in
  Jaeger (its OTLP JSON upload) and any OTLP/JSON reader.

Simulated time 0 is `EPOCH_UNIX_S` (2000-01-01T00:00:00Z) in OTLP's absolute times.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

EPOCH_UNIX_S = 946_684_800  # 2000-01-01T00:00:00Z: simulated time 0 in OTLP files
FORMATS = ("chrome", "otlp")
# A traced run's spans in an output directory (`dsim run --out`): one file per format, linked from report.html.
TRACE_FILES = ("trace.json", "trace.otlp.json")

_OK_OUTCOMES = ("ok", "degraded")  # degraded: answered by a fallback, not an error
_KIND = {"internal": 1, "server": 2, "client": 3}  # OTLP's SpanKind numbers


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The format to write: `fmt` if given, else `otlp` for a name ending in `.otlp.json`, else `chrome`."""
    if fmt is not None:
        return fmt
    return "otlp" if str(path).lower().endswith(".otlp.json") else "chrome"


def write_trace(spans: list[dict[str, Any]], path: str | Path, fmt: str, meta: dict[str, Any] | None = None) -> int:
    """Write `spans` to `path` in `fmt` (`chrome` or `otlp`); returns how many spans were written."""
    doc = chrome_trace(spans, meta) if fmt == "chrome" else otlp_trace(spans, meta)
    Path(path).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    return len(spans)


def _traces(spans: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for s in spans:
        out.setdefault(s["trace_id"], []).append(s)
    return out


# --- Chrome / Perfetto ------------------------------------------------------------------------------
def _us(t: float) -> float:
    return round(t * 1e6, 3)


def chrome_trace(spans: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Trace Event Format's JSON object form: `traceEvents`, `displayTimeUnit`, `otherData`."""
    events: list[dict[str, Any]] = []
    for pid, (_trace_id, trace) in enumerate(_traces(spans).items(), start=1):
        root = next((s for s in trace if s["parent_span_id"] is None), trace[0])
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                       "args": {"name": f"request {root['request_id']}: {root['name']} ({root['outcome']})"}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
        slices = []
        for s in trace:
            args = {"outcome": s["outcome"], "kind": s["kind"], "operation": s["operation"],
                    "span_id": f"{s['span_id']:016x}", "trace_id": f"{s['trace_id']:032x}"}
            if s["faults"]:
                args["faults"] = s["faults"]
            if "queue_wait_s" in s:
                args["queue_wait_ms"] = s["queue_wait_s"] * 1e3
                args["service_ms"] = s["service_s"] * 1e3
            args.update(s.get("attributes", {}))
            slices.append((s["start_s"], s["end_s"], s["component"], s["name"], s["kind"], args))
            if "service_start_s" in s:
                slices.append((s["start_s"], s["service_start_s"], s["component"], "queue", "queue", {}))
                slices.append((s["service_start_s"], s["service_end_s"], s["component"], "service", "service", {}))
        tracks: dict[str, list[list[float]]] = {}  # component -> its lanes, each a stack of open ends
        names: list[tuple[int, str]] = []
        # Parents before children: earlier start first, then the longer one.
        for start, end, comp, name, cat, args in sorted(slices, key=lambda x: (x[0], -x[1])):
            lanes = tracks.setdefault(comp, [])
            for lane_i, stack in enumerate(lanes):
                while stack and stack[-1] <= start:
                    stack.pop()
                if not stack or end <= stack[-1]:  # nests in what is open on this lane
                    break
            else:
                lanes.append([])
                lane_i = len(lanes) - 1
                names.append((lane_i, comp))
            lanes[lane_i].append(end)
            tid = _tid(list(tracks), comp, lane_i)
            events.append({"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid, "ts": _us(start),
                           # from the rounded ends, so a child never ends after its rounded parent
                           "dur": round(_us(end) - _us(start), 3), "args": args})
        for lane_i, comp in names:
            tid = _tid(list(tracks), comp, lane_i)
            label = comp if lane_i == 0 else f"{comp} ({lane_i + 1})"
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": label}})
            events.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": tid}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"generator": "dsim", "time": "simulated, microseconds from the run's start",
                          **(meta or {})}}


def _tid(components: list[str], comp: str, lane: int) -> int:
    """A track id: the component's place in first-seen order, lanes of one component side by side."""
    return (components.index(comp) + 1) * 100 + lane


# --- OpenTelemetry OTLP/JSON ------------------------------------------------------------------------
def _ns(t: float) -> str:
    # uint64 as a decimal string (protobuf's JSON mapping); integer nanoseconds from the epoch
    return str(EPOCH_UNIX_S * 1_000_000_000 + int(round(t * 1e9)))


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": str(v)}


def _attrs(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in d.items()]


def otlp_span(s: dict[str, Any]) -> dict[str, Any]:
    """One span in OTLP/JSON (ids as lowercase hex, as the OTLP/JSON encoding asks)."""
    attrs = {"dsim.component": s["component"], "dsim.operation": s["operation"],
             "dsim.outcome": s["outcome"], "dsim.request.id": s["request_id"]}
    if "queue_wait_s" in s:
        attrs["dsim.queue_wait_s"] = float(s["queue_wait_s"])
        attrs["dsim.service_s"] = float(s["service_s"])
    if s["faults"]:
        attrs["dsim.faults"] = list(s["faults"])
    attrs.update(s.get("attributes", {}))
    out: dict[str, Any] = {
        "traceId": f"{s['trace_id']:032x}", "spanId": f"{s['span_id']:016x}", "name": s["name"],
        "kind": _KIND[s["kind"]], "startTimeUnixNano": _ns(s["start_s"]), "endTimeUnixNano": _ns(s["end_s"]),
        "attributes": _attrs(attrs),
    }
    if s["parent_span_id"] is not None:
        out["parentSpanId"] = f"{s['parent_span_id']:016x}"
    events = []
    if "service_start_s" in s:
        events.append({"timeUnixNano": _ns(s["service_start_s"]), "name": "service start"})
        events.append({"timeUnixNano": _ns(s["service_end_s"]), "name": "service end"})
    for f in s["faults"]:
        events.append({"timeUnixNano": _ns(s["start_s"]), "name": "fault active",
                       "attributes": _attrs({"dsim.fault": f})})
    if events:
        out["events"] = events
    if s["outcome"] in _OK_OUTCOMES:
        out["status"] = {"code": 1}  # STATUS_CODE_OK
    else:
        out["status"] = {"code": 2, "message": s["outcome"]}  # STATUS_CODE_ERROR
    return out


def otlp_trace(spans: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """An `ExportTraceServiceRequest` in OTLP/JSON: one resource (service) per component."""
    by_component: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_component.setdefault(s["component"], []).append(otlp_span(s))
    resource_extra = {f"dsim.{k}": v for k, v in (meta or {}).items()}
    return {"resourceSpans": [
        {"resource": {"attributes": _attrs({"service.name": comp, **resource_extra})},
         "scopeSpans": [{"scope": {"name": "dsim"}, "spans": rows}]}
        for comp, rows in by_component.items()
    ]}
