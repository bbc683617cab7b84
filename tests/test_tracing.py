"""Distributed tracing (docs/tracing.md): spans of sampled requests, their nesting and timing, fault
annotations, sampling, determinism, zero cost when off, and the two file formats read by real readers."""
from __future__ import annotations

import base64
import json
import math
from collections import defaultdict

import pytest
from click.testing import CliRunner

import simulator
from cli import main
from reports.trace_files import EPOCH_UNIX_S, chrome_trace, otlp_trace
from tests.helpers import assert_bad, scenario

EPS = 1e-9

# clients -> lb -> app-1, app-2 (hold their worker while calling db) -> db. Faults on app-2 | db:
# added latency 4-8 s overlapping a partition 5-10 s (its recovery inside the latency fault's window
# is not the case: the latency ends first, inside the partition), and a crash of app-1 12-14 s.
STACK = """
name: traced
seed: {seed}
duration: 20s
network:
  default_latency: 1ms
  timeout: 500ms
components:
  lb: {{type: load_balancer, algorithm: round_robin, backends: [app-1, app-2]}}
  app-1: &app {{type: server, workers: 4, service_time: exponential(mean=10ms), calls: [db]}}
  app-2: *app
  db: {{type: database, connections: 3, read_time: exponential(mean=5ms), write_time: exponential(mean=10ms)}}
workloads:
  web: {{arrivals: poisson(rate=200/s), target: lb, mix: {{read: 0.8, write: 0.2}}, timeout: 2s}}
faults:
  - {{type: latency, groups: [[app-2], [db]], at: 4s, duration: 4s, add: 20ms}}
  - {{type: partition, groups: [[app-2], [db]], at: 5s, duration: 5s}}
  - {{type: crash, target: app-1, at: 12s, duration: 2s}}
{trace}
"""


def _run(sample: str | None = "20%", seed: int = 3, max_requests: int = 100000, **kw) -> simulator.Result:
    trace = "" if sample is None else f"trace: {{sample: {sample}, max_requests: {max_requests}}}"
    return simulator.run(scenario(STACK, seed=seed, trace=trace), **kw)


def _by_trace(spans):
    out = defaultdict(list)
    for s in spans:
        out[s["trace_id"]].append(s)
    return out


@pytest.fixture(scope="module")
def traced():
    return _run()


def test_zero_spans_when_off():
    assert _run(sample=None).traces is None
    assert _run(sample="0%").traces is None


def test_tracing_changes_no_figure(traced):
    # Sampling draws from its own stream and spans are only recorded: the run is the same run.
    plain = _run(sample=None)
    a, b = dict(plain.summary), dict(traced.summary)
    for d in (a, b):
        d.pop("events", None)  # a traced run has the same events; kept out in case of profiling
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def test_same_seed_same_trace(traced):
    again = _run()
    assert again.traces == traced.traces
    other = _run(seed=4)
    assert other.traces != traced.traces


def test_spans_nest_and_times_add_up(traced):
    spans = traced.traces
    by_id = {s["span_id"]: s for s in spans}
    checked = 0
    for trace in _by_trace(spans).values():
        roots = [s for s in trace if s["parent_span_id"] is None]
        assert len(roots) == 1 and roots[0]["kind"] == "client"
        root = roots[0]
        if root["outcome"] != "ok":
            continue
        for s in trace:
            assert s["start_s"] <= s["end_s"]
            if s["parent_span_id"] is not None:
                p = by_id[s["parent_span_id"]]
                assert p["trace_id"] == s["trace_id"]
                assert p["start_s"] - EPS <= s["start_s"] and s["end_s"] <= p["end_s"] + EPS, (s, p)
        names = [s["name"] for s in trace]
        # root, call lb, lb visit, call app, app visit, call db, db visit
        assert len(trace) == 7, names
        app = next(s for s in trace if s["name"].startswith("app-"))
        db_call = next(s for s in trace if s["name"] == "call db")
        db = next(s for s in trace if s["name"].startswith("db "))
        assert db_call["parent_span_id"] == app["span_id"] and db["parent_span_id"] == db_call["span_id"]
        # the app's visit is its queue wait, its service, then the database call
        assert app["queue_wait_s"] >= 0 and app["service_s"] > 0
        assert math.isclose(app["start_s"] + app["queue_wait_s"], app["service_start_s"], abs_tol=EPS)
        assert math.isclose(db_call["start_s"], app["service_end_s"], abs_tol=EPS)
        assert math.isclose(app["queue_wait_s"] + app["service_s"] + (db_call["end_s"] - db_call["start_s"]),
                            app["end_s"] - app["start_s"], abs_tol=EPS)
        # the database call is 1 ms each way around the visit (default latency, no fault then)
        if not db_call["faults"]:
            assert math.isclose(db_call["end_s"] - db_call["start_s"], db["end_s"] - db["start_s"] + 0.002, abs_tol=EPS)
        assert math.isclose(db["queue_wait_s"] + db["service_s"], db["end_s"] - db["start_s"], abs_tol=EPS)
        # the client's view: the root lasts as long as its call to the load balancer
        lb_call = next(s for s in trace if s["name"] == "call lb")
        assert math.isclose(root["end_s"] - root["start_s"], lb_call["end_s"] - lb_call["start_s"], abs_tol=EPS)
        checked += 1
    assert checked > 300


def test_partition_and_overlapping_faults_annotate_spans(traced):
    calls = [s for s in traced.traces if s["name"] == "call db" and s["component"] == "app-2"]
    only_latency = [s for s in calls if 4 < s["start_s"] < 5]
    both = [s for s in calls if 5 < s["start_s"] < 8]
    only_partition = [s for s in calls if 8.01 < s["start_s"] < 10]
    after = [s for s in calls if 10.5 < s["start_s"] < 12]
    assert only_latency and both and only_partition and after
    for s in only_latency:
        assert s["faults"] == ["latency +20ms app-2 | db"] and s["outcome"] == "ok"
        assert s["end_s"] - s["start_s"] > 0.020  # the added 20 ms (on the request)
    for s in both:
        assert sorted(s["faults"]) == ["latency +20ms app-2 | db", "partition app-2 | db"]
    for s in both + only_partition:
        assert s["outcome"] == "timed_out"
        assert math.isclose(s["end_s"] - s["start_s"], 0.5, abs_tol=EPS)  # the network timeout
    for s in only_partition:
        assert s["faults"] == ["partition app-2 | db"]
    for s in after:  # the windows unwound: nothing annotated, calls succeed
        assert s["faults"] == [] and s["outcome"] == "ok"
    # the failed call fails the request: its root span has an error outcome, and so does the OTLP status
    spans = {s["span_id"]: s for s in traced.traces}
    root = spans[(both[0]["span_id"] >> 32 << 32) | 1]
    assert root["outcome"] == "timed_out"  # the failed step fails the request with its outcome
    otlp = {sp["spanId"]: sp for r in otlp_trace(traced.traces)["resourceSpans"]
            for sp in r["scopeSpans"][0]["spans"]}
    assert otlp[f"{root['span_id']:016x}"]["status"]["code"] == 2
    assert otlp[f"{both[0]['span_id']:016x}"]["status"] == {"code": 2, "message": "timed_out"}


def test_crash_annotates_the_call_to_the_crashed_server(traced):
    calls = [s for s in traced.traces if s["name"] == "call app-1" and 12 < s["start_s"] < 14]
    assert calls  # round robin keeps sending to it (no health check)
    for s in calls:
        assert s["faults"] == ["crash app-1"] and s["outcome"] == "error"


def test_sampling_rate():
    # 200/s for 20 s: N ~ 4000 requests, each sampled with p = 0.2, independently: the count is
    # Binomial(N, p), std sqrt(N p (1-p)) ~ 25; 4 std is a tolerance a correct sampler passes with
    # probability > 0.9999 (the seed is fixed, so the test is deterministic anyway).
    r = _run(sample="20%", seed=11)
    n = len(r.requests)
    roots = sum(1 for s in r.traces if s["parent_span_id"] is None)
    sd = math.sqrt(n * 0.2 * 0.8)
    assert abs(roots - 0.2 * n) < 4 * sd, (roots, n)
    capped = _run(sample="100%", max_requests=25)
    assert sum(1 for s in capped.traces if s["parent_span_id"] is None) == 25


def test_otlp_parses_with_the_opentelemetry_proto_reader(traced):
    pb = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    json_format = pytest.importorskip("google.protobuf.json_format")
    spans = traced.traces[:1500]  # whole traces (they are in order), enough of every kind; parsing is slow
    spans = [s for s in spans if s["trace_id"] != spans[-1]["trace_id"]]
    doc = otlp_trace(spans, {"scenario": "traced", "seed": 3})
    for r in doc["resourceSpans"]:
        for sp in r["scopeSpans"][0]["spans"]:
            assert len(sp["traceId"]) == 32 and len(sp["spanId"]) == 16
            int(sp["traceId"], 16), int(sp["spanId"], 16)
            assert int(sp["traceId"], 16) != 0 and int(sp["spanId"], 16) != 0
    # OTLP/JSON writes ids as hex where protobuf's own JSON mapping has base64 (the collector's reader
    # converts them): convert, then parse strictly (an unknown or mistyped field is an error).
    text = json.dumps(doc)
    conv = json.loads(text)
    for r in conv["resourceSpans"]:
        for sp in r["scopeSpans"][0]["spans"]:
            for k in ("traceId", "spanId", "parentSpanId"):
                if k in sp:
                    sp[k] = base64.b64encode(bytes.fromhex(sp[k])).decode()
    msg = json_format.Parse(json.dumps(conv), pb.ExportTraceServiceRequest())
    parsed = [sp for r in msg.resource_spans for ss in r.scope_spans for sp in ss.spans]
    assert len(parsed) == len(spans)
    ids = {sp.span_id for sp in parsed}
    for sp in parsed:
        assert len(sp.trace_id) == 16 and len(sp.span_id) == 8
        assert not sp.parent_span_id or sp.parent_span_id in ids
        assert sp.end_time_unix_nano >= sp.start_time_unix_nano >= EPOCH_UNIX_S * 10**9
        assert sp.kind in (2, 3)  # SPAN_KIND_SERVER, SPAN_KIND_CLIENT
        assert sp.status.code in (1, 2)  # STATUS_CODE_OK, STATUS_CODE_ERROR
    services = {a.value.string_value for r in msg.resource_spans for a in r.resource.attributes
                if a.key == "service.name"}
    assert {"web", "lb", "app-1", "app-2", "db"} <= services


def test_chrome_trace_event_format(traced):
    # The Trace Event Format's documented requirements: an object with `traceEvents`; every event
    # has `ph`, `name`, `pid`, `tid`; complete events (`X`) `ts` and `dur` >= 0 in microseconds;
    # metadata (`M`) events name processes and threads. Slices on one thread must nest (Perfetto
    # and chrome://tracing draw a thread's slices as a stack).
    doc = json.loads(json.dumps(chrome_trace(traced.traces)))
    assert set(doc) >= {"traceEvents", "displayTimeUnit"} and doc["displayTimeUnit"] in ("ms", "ns")
    tracks = defaultdict(list)
    for e in doc["traceEvents"]:
        assert {"ph", "name", "pid", "tid"} <= set(e) and isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert e["ph"] in ("X", "M")
        if e["ph"] == "M":
            assert e["name"] in ("process_name", "thread_name", "process_sort_index", "thread_sort_index")
            assert "args" in e
        else:
            assert isinstance(e["ts"], (int, float)) and e["dur"] >= 0
            tracks[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    n_x = sum(len(v) for v in tracks.values())
    assert n_x >= len(traced.traces)  # one per span, plus queue and service slices
    for slices in tracks.values():
        stack = []
        for start, end in sorted(slices, key=lambda x: (x[0], -x[1])):
            while stack and stack[-1] <= start + 1e-3:
                stack.pop()
            assert not stack or end <= stack[-1] + 1e-3
            stack.append(end)


def test_cli_writes_both_formats(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(STACK.format(seed=1, trace="").replace("{{", "{").replace("}}", "}"))
    runner = CliRunner()
    out = tmp_path / "t.json"
    res = runner.invoke(main, ["run", str(path), "--trace", str(out), "--duration", "3s"])
    assert res.exit_code == 0, res.output
    assert "traced requests" in res.output
    doc = json.loads(out.read_text())
    roots = [e for e in doc["traceEvents"] if e["name"] == "process_name"]
    # default sampling 1% of ~600 requests
    assert 0 < len(roots) < 30
    otlp = tmp_path / "t.otlp.json"
    res = runner.invoke(main, ["run", str(path), "--trace", str(otlp), "--duration", "3s", "-q"])
    assert res.exit_code == 0, res.output
    assert "resourceSpans" in json.loads(otlp.read_text())
    forced = tmp_path / "t.trace"
    res = runner.invoke(main, ["run", str(path), "--trace", str(forced), "--trace-format", "otlp", "--duration", "3s",
                               "--set", "trace.sample=100%", "-q"])
    assert res.exit_code == 0, res.output
    assert "resourceSpans" in json.loads(forced.read_text())


def test_cli_bad_trace_flags(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(STACK.format(seed=1, trace="").replace("{{", "{").replace("}}", "}"))
    runner = CliRunner()
    for args, frag in ((["--trace", str(tmp_path / "missing" / "t.json")], "existing directory"),
                       (["--trace", str(tmp_path)], "expected a file"),
                       (["--trace-format", "otlp"], "needs --trace")):
        res = runner.invoke(main, ["run", str(path), *args])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error: ") and frag in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("setting, frag", [
    ("trace: {sample: 150%}", "trace.sample"),
    ("trace: {sample: 1%, max_requests: 0}", "trace.max_requests"),
    ("trace: {rate: 1%}", "unknown key 'rate'"),
])
def test_bad_trace_section(tmp_path, setting, frag):
    assert_bad(tmp_path, STACK.format(seed=1, trace=setting).replace("{{", "{").replace("}}", "}"), frag)


@pytest.mark.parametrize("name", ["hedging", "retry-storm", "circuit-breaker", "replication", "sharding", "failover",
                                  "async-queue", "rate-limit", "consensus", "eventual", "health-checks", "autoscaling",
                                  "chaos", "split-brain"])
def test_neighbours_traced_runs_are_the_same_runs(name):
    # Tracing beside retries, hedges, breakers, fallbacks, caches, sharded and replicated stores,
    # failover and queues: the figures of the traced run are those of the untraced one (CRN), and
    # every span's parent is a span of the same trace.
    base = simulator.load_scenario(f"scenarios/{name}.yaml")
    short = [f"duration={min(base.duration, 6.0)}s", "warmup=0s"]
    plain = simulator.run(simulator.load_scenario(f"scenarios/{name}.yaml", overrides=short))
    traced = simulator.run(simulator.load_scenario(f"scenarios/{name}.yaml",
                                                   overrides=short + ["trace.sample=50%", "trace.max_requests=300"]))
    a, b = dict(plain.summary), dict(traced.summary)
    for d in (a, b):
        d.pop("config", None)
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    assert traced.traces
    ids = {(s["trace_id"], s["span_id"]) for s in traced.traces}
    for s in traced.traces:
        assert s["parent_span_id"] is None or (s["trace_id"], s["parent_span_id"]) in ids
        assert s["end_s"] >= s["start_s"]
    assert sum(1 for s in traced.traces if s["parent_span_id"] is None) <= 300


def test_out_directory_of_a_traced_run_holds_both_trace_files_and_the_report_links_them(tmp_path):
    """`--out DIR` with `trace:` (or `--trace`): DIR gets trace.json and trace.otlp.json, in the manifest,
    linked from report.html; the same spans as the `--trace` file; an untraced run writes neither."""
    path = tmp_path / "s.yaml"
    path.write_text(STACK.format(seed=1, trace="trace: {sample: 10%}").replace("{{", "{").replace("}}", "}"))
    runner = CliRunner()
    out, single = tmp_path / "out", tmp_path / "t.otlp.json"
    res = runner.invoke(main, ["run", str(path), "--out", str(out), "--no-charts", "--duration", "3s", "-q"])
    assert res.exit_code == 0, res.output
    chrome = json.loads((out / "trace.json").read_text())
    otlp = json.loads((out / "trace.otlp.json").read_text())
    roots = [e for e in chrome["traceEvents"] if e["name"] == "process_name"]
    assert 20 < len(roots) < 120  # 10% of ~600 requests
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"trace.json", "trace.otlp.json"} <= set(json.dumps(manifest).replace('"', " ").split())
    report = (out / "report.html").read_text()
    assert "href='trace.json'" in report and "href='trace.otlp.json'" in report
    # --trace FILE as well: that file is written too, with the same spans as the directory's
    res = runner.invoke(main, ["run", str(path), "--out", str(out), "--no-charts", "--duration", "3s", "-q",
                               "--trace", str(single)])
    assert res.exit_code == 0, res.output
    assert json.loads(single.read_text()) == json.loads((out / "trace.otlp.json").read_text()) == otlp
    # a run without tracing writes no trace file and no Traces section
    path.write_text(STACK.format(seed=1, trace="").replace("{{", "{").replace("}}", "}"))
    res = runner.invoke(main, ["run", str(path), "--out", str(out), "--no-charts", "--duration", "3s", "-q"])
    assert res.exit_code == 0, res.output
    assert not (out / "trace.json").exists() and "Traces" not in (out / "report.html").read_text()
    # --trace without trace: in the scenario turns tracing on: DIR gets the files too
    res = runner.invoke(main, ["run", str(path), "--out", str(out), "--no-charts", "--duration", "3s", "-q",
                               "--trace", str(tmp_path / "t.json")])
    assert res.exit_code == 0, res.output
    assert (out / "trace.json").exists() and (out / "trace.otlp.json").exists()


def _attr(span, key):
    return span.get("attributes", {}).get(key)


@pytest.mark.parametrize("cancel", [True, False])
def test_a_hedged_calls_attempts_are_call_spans_of_their_own_marked_won_lost_or_cancelled(cancel):
    """hedging.yaml (leaf-7[2] 5x slower: hedges are sent): each attempt of a hedged call is its own call
    span under the caller's visit, numbered; once the call is decided exactly one attempt is `won`
    (the one whose answer was ok), the others `cancelled` (answered rejected) with cancel_losers, else
    `lost` (left to run: their visits go on after the call was answered), with a fault beside them."""
    over = ["duration=3s", "trace.sample=100%", "trace.max_requests=100000",
            f"components.root.calls.0.resilience.hedge.cancel_losers={str(cancel).lower()}"]
    r = simulator.run(simulator.load_scenario("scenarios/hedging.yaml", overrides=over))
    plain = simulator.run(simulator.load_scenario("scenarios/hedging.yaml", overrides=over[:1] + over[3:]))
    assert r.summary["requests"] == plain.summary["requests"]  # traced attempts: the same run
    spans = {(s["trace_id"], s["span_id"]): s for s in r.traces}
    calls = defaultdict(list)  # (the caller's visit, the hedged target) -> its attempts' first call spans
    for s in r.traces:
        if _attr(s, "dsim.hedge") is not None and s["component"] == "root":
            calls[(s["trace_id"], s["parent_span_id"], s["attributes"]["peer.service"])].append(s)
    hedged = [atts for atts in calls.values() if len(atts) > 1]
    assert len(hedged) > 100  # ~5% of leaf-7's calls (p95 ~15 ms, its slow replica's share)
    loser = "cancelled" if cancel else "lost"
    for atts in calls.values():
        atts.sort(key=lambda s: s["attributes"]["dsim.hedge.attempt"])
        assert [s["attributes"]["dsim.hedge.attempt"] for s in atts] == list(range(1, len(atts) + 1))
        assert [s["attributes"]["dsim.hedge"] for s in atts] == ["first"] + ["hedge"] * (len(atts) - 1)
        if any(s["outcome"] == "in_flight" for s in atts):
            continue  # the run ended before the call was decided
        parent = spans[(atts[0]["trace_id"], atts[0]["parent_span_id"])]
        assert parent["component"] == "root" and parent["kind"] == "server"
        results = [s["attributes"].get("dsim.hedge.result") for s in atts]
        won = [s for s in atts if s["attributes"].get("dsim.hedge.result") == "won"]
        assert len(won) == 1 and won[0]["outcome"] == "ok", results
        if len(atts) > 1:
            # the extra attempt left 15 ms after the first
            assert math.isclose(atts[1]["start_s"] - atts[0]["start_s"], 0.015, abs_tol=EPS)
            for s in atts:
                if s is not won[0]:
                    assert s["attributes"]["dsim.hedge.result"] == loser
                    if cancel:
                        assert s["outcome"] == "rejected" and s["end_s"] <= won[0]["end_s"] + 0.01
    if not cancel:  # a loser left to run finishes after the winner answered
        late = [s for atts in hedged for s in atts if s["attributes"].get("dsim.hedge.result") == "lost"
                and s["end_s"] > max(t["end_s"] for t in atts if t["attributes"].get("dsim.hedge.result") == "won")]
        assert late
    # the fault (slow leaf-7[2]) is named on the visits of the slow replica, attempts included
    slow = [s for s in r.traces if s["component"] == "leaf-7[2]" and s["kind"] == "server"]
    assert slow and all(s["faults"] == ["slow x5 leaf-7[2]"] for s in slow)


DROP = """
name: drop
seed: 2
duration: 20s
network: {default_latency: 1ms}
components:
  front: {type: server, workers: 10, service_time: 0s, calls: [back]}
  back: {type: server, workers: 1, service_time: 800ms, abandoned_requests: drop}
workloads:
  web: {target: front, arrivals: constant(rate=1/s), timeout: 1s, resilience: {propagate_deadline: true}}
faults:
  - {type: pause, target: back, at: 5.5s, duration: 2s}
trace: {sample: 100%}
"""


def test_a_propagated_deadline_is_on_its_call_spans_and_a_dropped_request_says_why():
    """Requests every 1 s, 800 ms each at back, deadline 1 s: all in time until the pause of back
    (5.5-7.5 s). The request of 5 s is frozen in service past its deadline (6 s); the one of 6 s is held
    at back and handed over at the resume (7.5 s), after its deadline: dropped on arrival. Then each
    request waits behind the late one before it (the one of 5 s finishes its work at 7.8 s, the next at
    8.6 s...), so its deadline passes while back holds it, until the backlog is gone (the request of
    11 s is in time again). Every call span of a request carries its deadline."""
    r = simulator.run(simulator.loads_scenario(DROP))
    held = "deadline passed while held: answered timed_out (skipped if not yet served)"
    notes = {}
    for spans in _by_trace(r.traces).values():
        root = next(s for s in spans if s["parent_span_id"] is None)
        calls = [s for s in spans if s["kind"] == "client" and s["parent_span_id"] is not None]
        assert calls and all(math.isclose(_attr(s, "dsim.deadline_s"), root["start_s"] + 1.0, abs_tol=EPS)
                             for s in calls)  # the deadline travels with the copy, to every hop
        (back,) = [s for s in spans if s["component"] == "back" and s["kind"] == "server"]
        notes[round(root["start_s"])] = (_attr(back, "dsim.deadline"), back, root)
    for t, (note, back, root) in sorted(notes.items()):
        if t == 6:
            assert note == "dropped on arrival: its deadline had passed"
            assert back["start_s"] == back["end_s"] == 7.5 and back["outcome"] == "timed_out"
        elif 5 <= t <= 10:
            assert note == held, t
            assert math.isclose(back["end_s"], t + 1.0, abs_tol=EPS) and back["outcome"] == "timed_out"
        else:
            assert note is None and root["outcome"] == "ok", t
        assert (root["outcome"] == "ok") == (note is None)


def test_hedge_and_deadline_attributes_survive_the_otlp_reader():
    """The new attributes are typed OTLP values a real reader accepts (opentelemetry-proto)."""
    pb = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    json_format = pytest.importorskip("google.protobuf.json_format")
    text = DROP.replace("duration: 20s", "duration: 9s").replace(
        "calls: [back]}", "calls: [{target: back, resilience: {hedge: {after: 300ms}}}]}")
    r = simulator.run(simulator.loads_scenario(text))
    doc = otlp_trace(r.traces, {"scenario": "drop", "seed": 2})
    for res in doc["resourceSpans"]:
        for sp in res["scopeSpans"][0]["spans"]:
            for k in ("traceId", "spanId", "parentSpanId"):
                if k in sp:
                    sp[k] = base64.b64encode(bytes.fromhex(sp[k])).decode()
    msg = json_format.Parse(json.dumps(doc), pb.ExportTraceServiceRequest())
    seen = defaultdict(set)
    for res in msg.resource_spans:
        for sp in res.scope_spans[0].spans:
            for a in sp.attributes:
                if a.key.startswith(("dsim.hedge", "dsim.deadline")):
                    seen[a.key].add(a.value.WhichOneof("value"))
    assert seen == {"dsim.hedge.attempt": {"int_value"}, "dsim.hedge": {"string_value"},
                    "dsim.hedge.result": {"string_value"}, "dsim.deadline_s": {"double_value"},
                    "dsim.deadline": {"string_value"}}
