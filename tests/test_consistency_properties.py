"""Property tests: any history of a real (sequential, in-memory) register run by concurrent processes
is linearizable; injecting one stale read makes it not. Plus the CLI's verdicts and exit codes."""
from __future__ import annotations

import json

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from simulator.consistency import check, events_of, to_jsonl
from simulator.consistency.history import Event, pair


@st.composite
def register_runs(draw):
    """Processes run operations on one in-memory register. Each operation takes effect atomically at
    one step between its invocation and its completion (its linearization point), or never for a write
    that ends `fail` or `info` before that step; one that ends `info` after it did take effect. Writes
    use unique values."""
    n_proc = draw(st.integers(1, 4))
    phase = [0] * n_proc  # 0 idle, 1 invoked, 2 took effect
    current: list = [None] * n_proc
    register = None
    next_value = 1
    events: list[Event] = []
    for _ in range(draw(st.integers(0, 60))):
        p = draw(st.integers(0, n_proc - 1))
        if phase[p] == 0:
            if draw(st.booleans()):
                f, v = "write", next_value
                next_value += 1
            else:
                f, v = "read", None
            current[p] = [f, v]
            events.append(Event(p, "invoke", f, v, None, None, len(events)))
            phase[p] = 1
        elif phase[p] == 1:
            f, v = current[p]
            fate = draw(st.integers(0, 9))
            if f == "write" and fate < 2:  # refused (fail) or lost (info) before it could take effect
                events.append(Event(p, "fail" if fate == 0 else "info", f, v, None, None, len(events)))
                phase[p] = 0
                continue
            if f == "write":
                register = v
            else:
                current[p][1] = register
            phase[p] = 2
            if f == "write" and draw(st.integers(0, 5)) == 0:  # times out before hearing back
                events.append(Event(p, "info", f, v, None, None, len(events)))
                phase[p] = 0
        else:
            f, v = current[p]
            outcome = "info" if draw(st.integers(0, 9)) == 0 else "ok"
            events.append(Event(p, outcome, f, v, None, None, len(events)))
            phase[p] = 0
    return pair(events, "generated")


@settings(max_examples=150, deadline=None)
@given(register_runs())
def test_a_real_registers_history_is_linearizable(history):
    report = check(history, "register")
    assert report.valid is True
    assert not report.anomalies.found


@settings(max_examples=150, deadline=None)
@given(register_runs(), st.data())
def test_one_injected_stale_read_is_not_linearizable(history, data):
    # A read by a new process, after everything, of a value that was definitely overwritten: written
    # by W1, which completed before an acknowledged W2 began. Without such a pair, append two writes.
    events = events_of(history)
    acked = [o for o in history.ops if o.f == "write" and o.type == "ok"]
    pairs = [(a, b) for a in acked for b in acked if a.complete_index < b.invoke_index]
    n = len(events)
    if pairs:
        old, _ = data.draw(st.sampled_from(pairs))
        stale = old.value
    else:
        events += [Event(98, "invoke", "write", -1, None, None, n), Event(98, "ok", "write", -1, None, None, n + 1),
                   Event(98, "invoke", "write", -2, None, None, n + 2), Event(98, "ok", "write", -2, None, None, n + 3)]
        stale, n = -1, n + 4
    events += [Event(99, "invoke", "read", None, None, None, n), Event(99, "ok", "read", stale, None, None, n + 1)]
    report = check(pair(events, "injected"), "register")
    assert report.valid is False
    assert report.linearizability.counterexample.blocked.process == 99
    assert "stale-read" in report.anomalies.counts()


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


STALE = [Event(0, "invoke", "write", 1, "x", 0.0, 0), Event(0, "ok", "write", 1, "x", 0.1, 1),
         Event(0, "invoke", "write", 2, "x", 0.2, 2), Event(0, "ok", "write", 2, "x", 0.3, 3),
         Event(1, "invoke", "read", None, "x", 0.5, 4), Event(1, "ok", "read", 1, "x", 0.6, 5)]


def test_cli_json_report(tmp_path):
    path = _write(tmp_path, "history.jsonl", to_jsonl(STALE))
    result = CliRunner().invoke(main, ["check", path, "--model", "register", "--format", "json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.output)
    assert out["verdict"] == "not linearizable" and out["valid"] is False
    assert out["anomalies"] == {"stale-read": 1, "lost-write": 1}  # write 2 acknowledged, never read
    assert out["counterexample"]["blocked"]["value"] == 1 and out["counterexample"]["key"] == "x"
    stale = next(a for a in out["anomaly_list"] if a["kind"] == "stale-read")
    assert abs(stale["staleness_s"] - 0.2) < 1e-9  # write 2 completed at 0.3 s, the read began at 0.5 s


def test_cli_unknown_within_budget_exits_3(tmp_path):
    from tests.test_consistency import hard_history

    events = [Event(p, t, f, v, None, None, i) for i, (p, t, f, v) in enumerate(hard_history())]
    path = _write(tmp_path, "hard.jsonl", to_jsonl(events))
    result = CliRunner().invoke(main, ["check", path, "--model", "register", "--budget", "50ms"])
    assert result.exit_code == 3, result.output
    assert "unknown" in result.output and "raise --budget" in result.output


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    cases = [
        (_write(tmp_path, "a.jsonl", '{"process": 0, "type": "invoke", "f": "read"}\n{"oops"\n'),
         ["--model", "register"], "a.jsonl:2: not JSON"),
        (_write(tmp_path, "b.edn", '{:process 0, :type :invoke, :f :cas, :value [1 2]}\n'),
         ["--model", "register"], "b.edn:1: function 'cas': the register model takes read, write"),
        (str(tmp_path / "missing.jsonl"), ["--model", "register"], "missing.jsonl: no such file"),
        (_write(tmp_path, "c.jsonl", ""), ["--model", "register", "--budget", "soon"], "--budget 'soon'"),
    ]
    for path, args, expect in cases:
        result = CliRunner().invoke(main, ["check", path, *args])
        assert result.exit_code == 2, (expect, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and expect in lines[0] and "Traceback" not in result.output, result.output


@st.composite
def list_append_runs(draw):
    """Processes run transactions of micro-ops (append a unique element, read a list) over 3 keys on a
    real in-memory store; each transaction takes effect atomically at one step inside its interval
    (or, ending `info` early, never)."""
    n_proc = draw(st.integers(1, 4))
    phase = [0] * n_proc
    current: list = [None] * n_proc
    store: dict[str, list[int]] = {}
    element = 0
    events: list[Event] = []
    for _ in range(draw(st.integers(0, 40))):
        p = draw(st.integers(0, n_proc - 1))
        if phase[p] == 0:
            micro = []
            for _ in range(draw(st.integers(1, 3))):
                key = draw(st.sampled_from("xyz"))
                if draw(st.booleans()):
                    element += 1
                    micro.append(["append", key, element])
                else:
                    micro.append(["r", key, None])
            current[p] = micro
            events.append(Event(p, "invoke", "txn", [list(m) for m in micro], None, None, len(events)))
            phase[p] = 1
        elif phase[p] == 1:
            if draw(st.integers(0, 9)) == 0:
                events.append(Event(p, "info", "txn", current[p], None, None, len(events)))
                phase[p] = 0
                continue
            for m in current[p]:
                if m[0] == "append":
                    store.setdefault(m[1], []).append(m[2])
                else:
                    m[2] = list(store.get(m[1], []))
            phase[p] = 2
        else:
            events.append(Event(p, "ok", "txn", current[p], None, None, len(events)))
            phase[p] = 0
    return pair(events, "generated")


@settings(max_examples=100, deadline=None)
@given(list_append_runs())
def test_a_real_list_stores_transactions_are_linearizable_without_anomalies(history):
    report = check(history, "list-append")
    assert report.valid is True
    assert not report.anomalies.found


@st.composite
def random_histories(draw):
    """Any well-formed register/cas history: linearizable or not; over a few values, or (for the
    anomaly checks) with every write a new value."""
    n_proc = draw(st.integers(1, 4))
    unique = draw(st.booleans())  # every write a new value: the anomaly checks can attribute reads
    written = [0]
    inflight: dict[int, tuple[str, object]] = {}
    events: list[Event] = []

    def fresh():
        if not unique:
            return draw(st.integers(0, 3))
        written.append(len(written))
        return written[-1]

    for _ in range(draw(st.integers(0, 24))):
        p = draw(st.integers(0, n_proc - 1))
        if p not in inflight:
            f = draw(st.sampled_from(["read", "write", "cas"]))
            v = None if f == "read" else (fresh() if f == "write"
                                          else [draw(st.sampled_from(written)), fresh()])
            inflight[p] = (f, v)
            events.append(Event(p, "invoke", f, v, None, None, len(events)))
        else:
            f, v = inflight.pop(p)
            outcome = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
            if f == "read" and outcome == "ok":
                v = draw(st.sampled_from([None, 0, 1, 2, 3] if not unique else [None, *written]))
            events.append(Event(p, outcome, f, v, None, None, len(events)))
    return pair(events, "random")


@settings(max_examples=300, deadline=None)
@given(random_histories())
def test_leaving_out_unobserved_open_operations_never_changes_the_verdict(history):
    from simulator.consistency.linearizable import check_partition
    from simulator.consistency.models import CasRegister

    class Unpruned(CasRegister):
        def unobserved(self, ops):
            return set()

    pruned = check_partition(CasRegister(), history.ops).valid
    assert pruned is not None
    assert pruned == check_partition(Unpruned(), history.ops).valid
    # and every anomaly found is a proof: none in a linearizable history
    if pruned:
        assert not check(history, "cas-register").anomalies.found
