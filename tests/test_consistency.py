"""The consistency checkers on small hand-made histories: one per verdict and per anomaly."""
from __future__ import annotations

import pytest

from simulator.consistency import HistoryError, check, edn, events_of, parse_history, to_edn, to_jsonl
from simulator.consistency.history import Event, pair


def hist(*rows, times: bool = False):
    """Events from (process, type, f, value[, key]) rows; the row number is the index (and the time in
    seconds when `times`)."""
    events = []
    for i, row in enumerate(rows):
        p, t, f, v, *k = row
        events.append(Event(p, t, f, v, k[0] if k else None, float(i) if times else None, i, i + 1))
    return pair(events, "test")


def kinds(report):
    return report.anomalies.counts()


# ---- registers


def test_sequential_reads_and_writes_are_linearizable():
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1))
    r = check(h, "register")
    assert r.valid is True and r.exit_code == 0 and not kinds(r)


def test_a_read_concurrent_with_a_write_may_see_either_value():
    for seen in (None, 1):
        h = hist((0, "invoke", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", seen),
                 (0, "ok", "write", 1))
        assert check(h, "register").valid is True


def test_stale_read_is_not_linearizable_and_reports_its_staleness():
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "write", 2), (0, "ok", "write", 2),
             (2, "invoke", "write", 3), (2, "ok", "write", 3),
             (1, "invoke", "read", None), (1, "ok", "read", 1), times=True)
    r = check(h, "register")
    assert r.valid is False and r.exit_code == 1
    stale = [a for a in r.anomalies.found if a.kind == "stale-read"]
    assert len(stale) == 1
    # 1 was overwritten by write 2, completed at t=3; the read began at t=6: stale by 3 s
    assert stale[0].staleness_s == 3.0 and stale[0].staleness_events == 3
    c = r.linearizability.counterexample
    assert c.blocked.f == "read" and c.blocked.value == 1
    assert c.failing_prefix_end == 7  # the read's completion: the history up to it already fails
    assert c.refused_in == ["3"]
    text = "\n".join(r.lines())
    assert "not linearizable" in text and "process 1: read 1 ok [6-7]" in text


def test_lost_write_a_later_read_sees_the_initial_value():
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", None))
    r = check(h, "register")
    assert r.valid is False
    assert kinds(r) == {"stale-read": 1, "lost-write": 1}
    # read later: not lost, only seen late (the first read was stale)
    seen = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", None),
                (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert kinds(check(seen, "register")) == {"stale-read": 1}


def test_info_write_taking_effect_late_is_linearizable():
    # the write timed out; a later read still saw nil, then one saw 1: it took effect in between
    h = hist((0, "invoke", "write", 1), (0, "info", "write", 1),
             (1, "invoke", "read", None), (1, "ok", "read", None),
             (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert check(h, "register").valid is True


def test_info_write_that_never_took_effect_is_linearizable():
    h = hist((0, "invoke", "write", 1), (0, "info", "write", 1),
             (1, "invoke", "read", None), (1, "ok", "read", None),
             (1, "invoke", "read", None), (1, "ok", "read", None))
    assert check(h, "register").valid is True


def test_info_write_cannot_take_effect_twice():
    h = hist((0, "invoke", "write", 1), (0, "info", "write", 1),
             (2, "invoke", "write", 2), (2, "ok", "write", 2),
             (1, "invoke", "read", None), (1, "ok", "read", 1),
             (1, "invoke", "read", None), (1, "ok", "read", 2))
    # 1 must come after write 2 (read 1 follows write 2's completion), so the last read of 2 is impossible
    assert check(h, "register").valid is False


def test_an_invocation_never_completed_counts_as_info():
    h = hist((0, "invoke", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert h.ops[0].type == "info"
    assert check(h, "register").valid is True


def test_a_failed_write_did_not_take_effect():
    base = [(0, "invoke", "write", 1), (0, "fail", "write", 1), (1, "invoke", "read", None)]
    assert check(hist(*base, (1, "ok", "read", None)), "register").valid is True
    r = check(hist(*base, (1, "ok", "read", 1)), "register")
    assert r.valid is False and kinds(r) == {"garbage-read": 1}


def test_read_your_writes_and_monotonic_reads():
    ryw = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "write", 2), (0, "ok", "write", 2),
               (0, "invoke", "read", None), (0, "ok", "read", 1))
    assert kinds(check(ryw, "register")) == {"stale-read": 1, "read-your-writes": 1, "lost-write": 1}
    mono = hist((1, "invoke", "write", 1), (1, "ok", "write", 1), (1, "invoke", "write", 2), (1, "ok", "write", 2),
                (0, "invoke", "read", None), (0, "ok", "read", 2), (0, "invoke", "read", None), (0, "ok", "read", 1))
    r = check(mono, "register")
    assert r.valid is False and kinds(r) == {"stale-read": 1, "monotonic-reads": 1}


def test_reads_of_a_value_written_twice_are_not_attributed():
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "write", 1), (0, "ok", "write", 1),
             (1, "invoke", "read", None), (1, "ok", "read", 1))
    r = check(h, "register")
    assert r.valid is True and r.anomalies.skipped_reads == 1


def test_cas_register():
    ok = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "cas", [1, 2]), (0, "ok", "cas", [1, 2]),
              (1, "invoke", "cas", [1, 3]), (1, "fail", "cas", [1, 3]), (1, "invoke", "read", None),
              (1, "ok", "read", 2))
    assert check(ok, "cas-register").valid is True
    bad = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "cas", [2, 3]), (0, "ok", "cas", [2, 3]))
    assert check(bad, "cas-register").valid is False
    unknown = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "cas", [1, 3]),
                   (0, "info", "cas", [1, 3]), (1, "invoke", "read", None), (1, "ok", "read", 3))
    assert check(unknown, "cas-register").valid is True


def test_keys_are_checked_independently_and_the_counterexample_names_its_key():
    h = hist((0, "invoke", "write", 1, "x"), (0, "ok", "write", 1, "x"), (1, "invoke", "write", 1, "y"),
             (1, "ok", "write", 1, "y"), (2, "invoke", "read", None, "y"), (2, "ok", "read", 1, "y"),
             (2, "invoke", "read", None, "x"), (2, "ok", "read", None, "x"))
    r = check(h, "register")
    assert r.valid is False and r.linearizability.counterexample.key == "x"
    assert r.linearizability.partitions == 2


def test_anomalies_decide_when_the_search_runs_out_of_time():
    # 16 open writes of distinct values, a read of 15, then a read of a value none wrote; the open
    # writes are all observed by long reads so none can be left out, and 50 ms is far too little
    rows = []
    for p in range(16):
        rows.append((p, "invoke", "write", p))
    rows += [(200 + p, "invoke", "read", None) for p in range(16)] + [(200 + p, "ok", "read", p) for p in range(16)]
    rows += [(99, "invoke", "read", None), (99, "ok", "read", 15)]  # 15 may well have been written
    rows += [(98, "invoke", "read", None), (98, "ok", "read", 1000)]  # but 1000 never was
    r = check(hist(*rows[:-2]), "register", budget_s=0.05)
    assert r.valid is None  # without the garbage read: undecided in 50 ms (linearizable, given time)
    r = check(hist(*rows), "register", budget_s=0.05)
    assert r.linearizability.valid is None  # the search alone could not decide in 50 ms ...
    assert r.valid is False and r.decided_by == "anomalies" and r.exit_code == 1  # ... the garbage read does
    assert "the anomalies below prove" in "\n".join(r.lines())


def hard_history(n: int = 12) -> list:
    """Open writes of 0..n-1 and long reads that observe every value but 3 and 5, while process 99
    reads 3, 5 and 3 again: not linearizable (3 was written once), but every write is open, so no
    anomaly can prove it, and the search must try the ways of ordering the others around process 99's
    reads: about 3 s for n = 10 and over 30 s for n = 12 (measured), so 50 ms never suffices."""
    rows = [(p, "invoke", "write", p) for p in range(n)]
    rows += [(100 + v, "invoke", "read", None) for v in range(n) if v not in (3, 5)]
    for v in (3, 5, 3):
        rows += [(99, "invoke", "read", None), (99, "ok", "read", v)]
    rows += [(100 + v, "ok", "read", v) for v in range(n) if v not in (3, 5)]
    return rows


def test_undecided_within_the_budget_is_unknown_never_a_guess():
    r = check(hist(*hard_history()), "register", budget_s=0.05)
    assert r.valid is None and r.exit_code == 3 and r.verdict == "unknown" and not r.anomalies.found
    assert check(hist(*hard_history(6)), "register").valid is False  # small enough to decide


# ---- kv and list-append


def test_kv_get_put_append_with_missing_keys_reading_empty():
    h = hist((0, "invoke", "get", None, "k"), (0, "ok", "get", "", "k"),
             (0, "invoke", "put", "a", "k"), (0, "ok", "put", "a", "k"),
             (1, "invoke", "append", "b", "k"), (1, "ok", "append", "b", "k"),
             (2, "invoke", "get", None, "k"), (2, "ok", "get", "ab", "k"),
             (2, "invoke", "get", None, "other"), (2, "ok", "get", None, "other"))
    assert check(h, "kv").valid is True
    wrong = hist((0, "invoke", "put", "a", "k"), (0, "ok", "put", "a", "k"), (1, "invoke", "append", "b", "k"),
                 (1, "ok", "append", "b", "k"), (2, "invoke", "get", None, "k"), (2, "ok", "get", "ba", "k"))
    assert check(wrong, "kv").valid is False


def test_list_append_single_operations_lost_write_and_monotonic_reads():
    h = hist((0, "invoke", "append", 1, "k"), (0, "ok", "append", 1, "k"),
             (0, "invoke", "append", 2, "k"), (0, "ok", "append", 2, "k"),
             (1, "invoke", "read", None, "k"), (1, "ok", "read", [1, 2], "k"),
             (1, "invoke", "read", None, "k"), (1, "ok", "read", [1], "k"))
    r = check(h, "list-append")
    assert r.valid is False
    assert kinds(r) == {"stale-read": 1, "monotonic-reads": 1, "lost-write": 1}
    good = hist((0, "invoke", "append", 1, "k"), (1, "invoke", "read", None, "k"), (1, "ok", "read", [], "k"),
                (0, "ok", "append", 1, "k"), (1, "invoke", "read", None, "k"), (1, "ok", "read", [1], "k"))
    assert check(good, "list-append").valid is True and not kinds(check(good, "list-append"))


def _txn(p, t, micro):
    return (p, t, "txn", micro)


def test_list_append_g0_write_cycle():
    # T1 appends x1 y1, T2 appends x2 y2; reads see x = [1 2] but y = [2 1]: T1 -> T2 -> T1 on writes
    h = hist(_txn(0, "invoke", [["append", "x", 1], ["append", "y", 1]]),
             _txn(1, "invoke", [["append", "x", 2], ["append", "y", 2]]),
             _txn(0, "ok", [["append", "x", 1], ["append", "y", 1]]),
             _txn(1, "ok", [["append", "x", 2], ["append", "y", 2]]),
             _txn(2, "invoke", [["r", "x", None], ["r", "y", None]]),
             _txn(2, "ok", [["r", "x", [1, 2]], ["r", "y", [2, 1]]]))
    r = check(h, "list-append")
    assert r.valid is False and "G0" in kinds(r)
    assert r.linearizability.partitions == 1  # the transactions join x and y


def test_list_append_g1c_read_cycle():
    # T1 appends x1 and reads y = [1] (T2's append); T2 appends y1 and reads x = [1] (T1's): each read
    # the other's write, a cycle of wr edges
    h = hist(_txn(0, "invoke", [["append", "x", 1], ["r", "y", None]]),
             _txn(1, "invoke", [["append", "y", 1], ["r", "x", None]]),
             _txn(0, "ok", [["append", "x", 1], ["r", "y", [1]]]),
             _txn(1, "ok", [["append", "y", 1], ["r", "x", [1]]]))
    r = check(h, "list-append")
    assert r.valid is False and kinds(r).get("G1c") == 1 and "G0" not in kinds(r)
    serial = hist(_txn(0, "invoke", [["append", "x", 1], ["r", "y", None]]),
                  _txn(0, "ok", [["append", "x", 1], ["r", "y", []]]),
                  _txn(1, "invoke", [["append", "y", 1], ["r", "x", None]]),
                  _txn(1, "ok", [["append", "y", 1], ["r", "x", [1]]]))
    r = check(serial, "list-append")
    assert r.valid is True and not kinds(r)


# ---- formats


def test_edn_reader():
    text = '; a comment\n{:process 0, :type :invoke, :f :write, :key "x\\"y", :value [1 nil 2.5 true]} #{:a}'
    values = list(edn.loads_all(text))
    m, line = values[0]
    assert line == 2 and m["type"] == "invoke" and isinstance(m["type"], edn.Keyword)
    assert m["key"] == 'x"y' and m["value"] == [1, None, 2.5, True]
    assert values[1][0] == frozenset({"a"})
    assert edn.loads('#jepsen.history.Op{:index 3}') == {"index": 3}
    for bad, where in (('{:a 1', 1), ('[1 2)', 1), ('\n"abc', 2), ('{:a}', 1)):
        with pytest.raises(edn.EdnError) as e:
            edn.loads(bad)
        assert e.value.line == where


def test_edn_and_jsonl_round_trip():
    h = hist((0, "invoke", "write", 1, "x"), (1, "invoke", "read", None, "x"), (0, "ok", "write", 1, "x"),
             (1, "ok", "read", 1, "x"), (2, "invoke", "cas", [1, 2], "x"), (2, "info", "cas", [1, 2], "x"),
             (3, "invoke", "write", 5, "y"), (3, "fail", "write", 5, "y"), times=True)
    for text, fmt in ((to_edn(events_of(h)), "edn"), (to_jsonl(events_of(h)), "jsonl")):
        again = parse_history(text, fmt)
        assert [(o.process, o.f, o.key, o.value, o.type, o.invoke_index, o.complete_index) for o in again.ops] == \
               [(o.process, o.f, o.key, o.value, o.type, o.invoke_index, o.complete_index) for o in h.ops]
        assert [o.invoke_time for o in again.ops] == [o.invoke_time for o in h.ops]
    assert to_edn(events_of(h)).splitlines()[0] == \
        '{:index 0, :process 0, :type :invoke, :f :write, :key "x", :value 1, :time 0}'


def test_jepsen_independent_tuples_and_nemesis():
    text = """{:process 0, :type :invoke, :f :write, :value [:k1 3]}
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 0, :type :ok, :f :write, :value [:k1 3]}
{:process 1, :type :invoke, :f :cas, :value [:k2 [nil 1]]}
{:process 1, :type :fail, :f :cas, :value [:k2 [nil 1]]}
{:process 2, :type :invoke, :f :read, :value [:k1 nil]}
{:process 2, :type :ok, :f :read, :value [:k1 3]}
"""
    h = parse_history(text, "edn")
    assert h.skipped == 1 and [(o.key, o.value) for o in h.ops] == [("k1", 3), ("k2", [None, 1]), ("k1", 3)]
    assert check(h, "cas-register").valid is True


def test_jepsen_log_lines():
    text = ("2024 INFO  jepsen.core - not an event\n"
            "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 0]\n"
            "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
            "INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n")
    h = parse_history(text, "log")
    assert len(h.ops) == 1 and h.ops[0].type == "info" and h.ops[0].value == [1, 0] and h.skipped == 1


@pytest.mark.parametrize("text,fmt,expect", [
    ('{"process": 0, "type": "ok", "f": "read"}\n', "jsonl", "test:1: process 0 completes read (ok) with no operation"),
    ('{"process": 0, "type": "invoke", "f": "read"}\n{"process": 0, "type": "invoke", "f": "read"}\n', "jsonl",
     "test:2: process 0 invokes read while its read invoked on line 1"),
    ('{"process": 0, "type": "begin", "f": "read"}\n', "jsonl", "test:1: type 'begin': expected one of"),
    ('{"process": 0, "type": "invoke"\n', "jsonl", "test:1: not JSON"),
    ('{"process": 0, "f": "read"}\n', "jsonl", "test:1: missing 'type'"),
    ('{"process": 0, "type": "invoke", "f": "read", "when": 1}\n', "jsonl", "test:1: unknown field 'when'"),
    ('{"process": 0, "type": "invoke", "f": "write"}\n{"process": 0, "type": "ok", "f": "read"}\n', "jsonl",
     "test:2: process 0 completes read: expected write, invoked on line 1"),
    ('{:process 0, :type :invoke, :f :read}\n{:process 0 :type', "edn", "test:2: '{' opened on line 2 is never closed"),
    ('[1 2]\n', "edn", "test:1: 1: expected a map"),
    ("INFO  jepsen.util - x\t:invoke\t:read\tnil\n", "log", "test:1: process 'x': expected an integer"),
    ("INFO  jepsen.util - 1\t:invoke\t:read\t[1\n", "log", "test:1: value:"),
])
def test_bad_histories_name_file_line_and_expectation(text, fmt, expect):
    with pytest.raises(HistoryError) as e:
        parse_history(text, fmt, "test")
    assert str(e.value).startswith(expect), str(e.value)


def test_an_operation_the_model_does_not_take_is_bad_input():
    h = parse_history('{"process": 0, "type": "invoke", "f": "cas", "value": [1, 2]}\n', "jsonl", "h.jsonl")
    with pytest.raises(HistoryError, match=r"h.jsonl:1: function 'cas': the register model takes read, write"):
        check(h, "register")


def test_a_write_of_the_initial_value_makes_reads_of_it_unattributable():
    # put "" then a read of "" after a later put: is it the initial value or the put? Not guessed.
    h = hist((0, "invoke", "put", "a", "k"), (0, "ok", "put", "a", "k"), (0, "invoke", "put", "", "k"),
             (0, "ok", "put", "", "k"), (1, "invoke", "get", None, "k"), (1, "ok", "get", "", "k"))
    r = check(h, "kv")
    assert r.valid is True and not r.anomalies.found and r.anomalies.skipped_reads == 1


def test_list_append_g2_write_skew():
    # each transaction reads the other's key empty and appends to its own: serial in neither order
    h = hist(_txn(0, "invoke", [["r", "x", None], ["append", "y", 1]]),
             _txn(1, "invoke", [["r", "y", None], ["append", "x", 1]]),
             _txn(0, "ok", [["r", "x", []], ["append", "y", 1]]),
             _txn(1, "ok", [["r", "y", []], ["append", "x", 1]]),
             _txn(2, "invoke", [["r", "x", None], ["r", "y", None]]),
             _txn(2, "ok", [["r", "x", [1]], ["r", "y", [1]]]))
    r = check(h, "list-append")
    assert r.valid is False and kinds(r) == {"G2": 1}
    assert "missing" in r.anomalies.found[0].text


def test_a_completion_may_leave_the_key_out():
    h = parse_history('{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1}\n'
                      '{"process": 0, "type": "ok", "f": "write"}\n', "jsonl")
    assert h.ops[0].key == "x" and h.ops[0].type == "ok" and h.ops[0].value == 1


def test_docs_describe_every_model_and_anomaly():
    from pathlib import Path

    from simulator.consistency.anomalies import KINDS
    from simulator.consistency.models import MODELS

    text = (Path(__file__).parent.parent / "docs" / "consistency.md").read_text()
    for name in [*MODELS, *KINDS]:
        assert f"`{name}`" in text, name
