"""dsim explore: random fault timelines, the property, ddmin and bisection shrinking, found files.

The scenario with a known weakness (WEAK): clients -> lb -> two app servers (health-checked every
second) -> one database. A crash of the database fails every request while it lasts; a crash of one
app server costs at most half the traffic for the one second the health check takes. So
`availability>95%` over the 20 s run fails iff the database is down for more than about 5% of the
run, 1 s (the lb is a single point too, so the explore tests name the targets without it). The
threshold is not exact: the requests in a 1 s window are Poisson with mean 100 (sd 10, so 10%), and
a crash also fails the requests in service; hence the tolerance 0.7 s .. 1.3 s (3 sd). Runs are
short (2,000 requests), so each test takes a few seconds.
"""
from __future__ import annotations

import copy
import itertools
import textwrap

import pytest
from click.testing import CliRunner

import simulator
from cli import main
from simulator.language.errors import DsimError, ScenarioError
from simulator.scenario.schema import validate
from simulator.study.explore import Runner, explore, found_scenario, violations
from simulator.study.explore_draw import (DRAWERS, Budget, as_entries, describe, draw_timeline, places_of,
                                          timeline_rng)
from simulator.study.shrink import bisect_down, ddmin
from simulator.study.slo import parse_slo

WEAK = """\
name: weak
seed: 3
duration: 20s
network:
  default_latency: 0.5ms
  timeout: 200ms
components:
  lb:
    type: load_balancer
    algorithm: round_robin
    backends: [app-1, app-2]
    health_check: 1s
  app-1: &app
    type: server
    workers: 4
    service_time: exponential(mean=5ms)
    calls: [db]
  app-2: *app
  db:
    type: database
    connections: 8
    read_time: exponential(mean=2ms)
    write_time: exponential(mean=4ms)
workloads:
  web:
    arrivals: poisson(rate=100/s)
    target: lb
    timeout: 1s
faults:
  - {type: crash, target: app-1, at: 5s, duration: 1s}
"""
SLO = [parse_slo("availability>95%")]
NO_LB = ("app-1", "app-2", "db")


@pytest.fixture
def weak(tmp_path):
    path = tmp_path / "weak.yaml"
    path.write_text(WEAK)
    return simulator.load_scenario(path)


# --- ddmin and bisection on synthetic predicates ---------------------------------------------------
def _counting(pred):
    calls = []

    def batch(cands):
        calls.extend(cands)
        return [pred(set(c)) for c in cands]
    return batch, calls


@pytest.mark.parametrize("needed", [{3}, {3, 11}, {0, 7, 15}, {5, 6}])
def test_ddmin_finds_the_minimal_subset(needed):
    batch, calls = _counting(lambda s: needed <= s)
    assert set(ddmin(list(range(16)), batch)) == needed
    # ddmin's bound: O(k log n) tests for k needed of n, here far below trying all 2^16 subsets;
    # each round tries at most 2n candidates, with at most ~k*log2(n) rounds.
    assert len(calls) <= 2 * 16 * (len(needed) * 4 + 2)


def test_ddmin_is_one_minimal_for_an_or_predicate():
    # fails when {2, 9} or {4} are in: the answer is a set none of whose elements can go
    batch, _calls = _counting(lambda s: {2, 9} <= s or 4 in s)
    out = set(ddmin(list(range(12)), batch))
    assert out in ({4}, {2, 9})
    for x in out:
        assert not ({2, 9} <= out - {x} or 4 in out - {x})


def test_ddmin_stops_when_the_predicate_stops_answering():
    seen = []

    def batch(cands):  # answers 3 candidates in all, then nothing more (a spent budget)
        room = max(0, 3 - len(seen))
        seen.extend(cands[:room])
        return [{1, 2} <= set(c) for c in cands[:room]]
    out = ddmin(list(range(8)), batch)
    assert {1, 2} <= set(out) and len(seen) == 3


def test_bisect_down_brackets_the_threshold():
    tried = []

    def fails(x):
        tried.append(x)
        return x >= 2.37
    found = bisect_down(10.0, fails, resolution=lambda hi: 0.01)
    assert 2.37 <= found <= 2.38
    assert len(tried) <= 10  # log2(10 / 0.01) ~ 10
    assert bisect_down(10.0, lambda x: None) == 10.0  # no answer: what is known


# --- drawing timelines -------------------------------------------------------------------------------
def test_same_explore_seed_same_timeline_and_another_seed_another(weak):
    places = places_of(weak, Budget())
    a = [draw_timeline(places, Budget(), timeline_rng(1, i)) for i in range(20)]
    b = [draw_timeline(places, Budget(), timeline_rng(1, i)) for i in range(20)]
    c = [draw_timeline(places, Budget(), timeline_rng(2, i)) for i in range(20)]
    assert a == b and a != c


def test_drawn_timelines_respect_the_budget_and_validate():
    sc = simulator.load_scenario("tests/every_kind.yaml")
    budget = Budget(kinds=tuple(DRAWERS), max_faults=4, max_down_s=3.0, max_duration_s=5.0)
    places = places_of(sc, budget)
    base = sc.model_dump(mode="json", exclude={"compare"})
    shapes = set()
    for i in range(150):
        tl = draw_timeline(places, budget, timeline_rng(7, i))
        assert 0 <= len(tl) <= 4
        assert sum(f["duration"] for f in tl if f["type"] in ("crash", "pause")) <= 3.0 + 1e-9
        for f in tl:
            assert places.start_s <= f["at"] < places.end_s and 0 < f["duration"] <= 5.0
            if "groups" in f:
                shapes.add("bridge" if f.get("bridge") else "isolate" if min(map(len, f["groups"])) == 1 else "split")
        data = copy.deepcopy(base)
        data["faults"] = as_entries(tl)
        validate(data, file="drawn")  # every drawn fault is a valid `faults:` entry
    assert shapes == {"bridge", "isolate", "split"}


def test_partitions_by_zone_when_there_are_zones():
    sc = simulator.load_scenario("scenarios/split-brain.yaml")
    budget = Budget(kinds=("partition",), max_faults=1)
    places = places_of(sc, budget)
    groups = [draw_timeline(places, budget, timeline_rng(1, i))[0]["groups"] for i in range(60)]
    assert any(set(itertools.chain(*g)) <= set(places.zones) for g in groups)


def test_targets_restrict_what_faults_name(weak):
    budget = Budget(kinds=("crash", "partition"), targets=("db", "app-1"))
    places = places_of(weak, budget)
    assert set(places.components) == {"db", "app-1"}
    for i in range(30):
        for f in draw_timeline(places, budget, timeline_rng(3, i)):
            named = set(itertools.chain(*f["groups"])) if "groups" in f else {f["target"]}
            assert named <= {"db", "app-1"}
    with pytest.raises(ScenarioError, match="--targets.*unknown component or zone 'dbb'.*did you mean 'db'"):
        places_of(weak, Budget(targets=("dbb",)))


# --- the property ------------------------------------------------------------------------------------
def test_violations_reads_slos_and_consistency_checks():
    rec = {"metrics": {"latency_p99_s": 0.8, "availability": 0.999}}
    assert violations(rec, [parse_slo("p99<500ms"), parse_slo("availability>99%")]) == ["latency_p99_s<500ms: 800ms"]
    rec["consistency"] = {"checks": {"linearizable": {"ok": False, "first_violation": "read 3 after write 4"},
                                     "monotonic_reads": {"ok": True}}}
    assert violations(rec, []) == ["check linearizable: read 3 after write 4"]
    # the summary's own form: a verdict per check; "unknown" (the search ran out of time) is no failure
    rec["consistency"] = {"checks": {"linearizable": {"verdict": "unknown", "first_violation": None},
                                     "stale_reads": {"verdict": "fail", "violations": 2,
                                                     "first_violation": "read of x 40ms stale"},
                                     "monotonic_reads": {"verdict": "pass", "violations": 0}}}
    assert violations(rec, []) == ["check stale_reads: read of x 40ms stale"]
    assert violations({"metrics": {"latency_p99_s": None}}, [parse_slo("p99<500ms")]) == ["latency_p99_s<500ms: no value"]


# --- exploring and shrinking the weak scenario -------------------------------------------------------
def test_explore_finds_and_shrinks_to_the_one_crash_of_the_database(weak):
    steps = []
    found = explore(weak, runs=20, slos=SLO, budget=Budget(kinds=("crash",), targets=NO_LB),
                    explore_seed=1, step=steps.append)
    assert found.found and len(found.original) >= 1
    assert len(found.shrunk) == 1, found.shrunk
    (fault,) = found.shrunk
    assert fault["type"] in ("crash", "pause") and fault["target"] == "db"
    assert 0.7 <= fault["duration"] <= 1.3  # the 1 s threshold (module docstring)
    assert found.violations and found.violations[0].startswith("availability>95%")
    assert found.shrink_runs <= 200 and steps and steps[0].startswith("timeline")
    # the shrunk timeline fails and the same fault 10% shorter passes: it is near the threshold
    runner = Runner(weak, SLO, None, None)
    shorter = [{**fault, "duration": round(fault["duration"] * 0.9, 3)}]
    assert runner.fails([found.shrunk, shorter]) == [True, False]


def test_faults_that_only_fail_together_are_both_kept(weak):
    # Only the app servers: one down costs ~1 s of half the traffic (never 5%); both down together
    # fail everything. The health check learns of a recovery 1 s late too, so "together" includes a
    # crash of one that starts less than 1 s after the other recovered (the lb still thinks it is
    # down): the shrunk timeline keeps both crashes, overlapping or within that 1 s, and each alone passes.
    found = explore(weak, runs=200, slos=SLO, budget=Budget(kinds=("crash",), targets=("app-1", "app-2"),
                                                              max_faults=3), explore_seed=4)
    assert found.found and len(found.original) == 3
    assert sorted(f["target"] for f in found.shrunk) == ["app-1", "app-2"]
    a, b = sorted(found.shrunk, key=lambda f: f["at"])
    assert b["at"] - (a["at"] + a["duration"]) < 1.0  # overlapping, or within the health check's delay
    runner = Runner(weak, SLO, None, None)
    assert runner.fails([[a], [b]]) == [False, False]  # 1-minimal


def test_same_seeds_same_result_and_the_pool_agrees(weak):
    from simulator.study.executors import LocalPool

    budget = Budget(kinds=("crash", "partition", "latency"), targets=NO_LB)
    one = explore(weak, runs=10, slos=SLO, budget=budget, explore_seed=5, shrink_runs=12)
    with LocalPool(2) as pool:
        three = explore(weak, runs=10, slos=SLO, budget=budget, explore_seed=5, executor=pool, batch=2,
                        shrink_runs=12)
    # runs go in batches of 2 on the pool, one by one here: the same timeline fails first, the same
    # candidates are tried in the same order, so the same shrunk timeline and steps come out
    assert one.found and one.shrunk == three.shrunk and one.failing[0] == three.failing[0]
    assert one.steps == three.steps and one.violations == three.violations


def test_keep_going_counts_every_failing_timeline_and_none_found(weak):
    budget = Budget(kinds=("crash",), targets=NO_LB, max_faults=1)
    found = explore(weak, runs=12, slos=SLO, budget=budget, explore_seed=2, keep_going=True, shrink_runs=0)
    assert found.runs == 12 and len(found.failing) >= 2
    assert found.shrunk == found.original  # no shrink runs allowed: the first failing one as found
    # a clock skew does nothing to servers and databases: nothing fails
    none = explore(weak, runs=5, slos=SLO, budget=Budget(kinds=("clock_skew",)), explore_seed=2)
    assert not none.found and none.runs == 5 and none.failing == []


def test_a_scenario_failing_without_faults_is_refused(weak):
    with pytest.raises(DsimError, match="fails without any fault"):
        explore(weak, runs=3, slos=[parse_slo("p99<1ms")])


def test_found_file_is_a_ready_scenario_that_fails_again(tmp_path, weak):
    src = tmp_path / "weak.yaml"
    src.write_text(WEAK)
    out = tmp_path / "found.yaml"
    result = CliRunner().invoke(main, ["explore", str(src), "--runs", "20", "--slo", "availability>95%",
                                       "--kinds", "crash", "--targets", "app-1,app-2,db", "--workers", "1",
                                       "--no-cache", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "crash db at" in result.output and "fails: availability>95%" in result.output
    text = out.read_text()
    assert text.startswith("# weak: a fault timeline that breaks it")
    assert "availability>95%" in text and f"dsim run {out}" in text and "explore seed 1" in text
    again = simulator.run(simulator.load_scenario(out))
    assert again.summary["availability"] < 0.95
    sc = simulator.load_scenario(out)
    assert len(sc.faults) == 1 and sc.faults[0].target == ["db"]  # the scenario's own crash was replaced


def test_describe_is_the_command_line_grammar():
    f = {"type": "partition", "groups": [["a"], ["b", "c"]], "bridge": ["d"], "at": 3.0, "duration": 2.5}
    assert describe(f) == "partition a|b,c at 3s for 2.5s bridge=[d]"
    from simulator.faults.text import parse_fault_text
    assert parse_fault_text(describe(f)) == {"type": "partition", "groups": [["a"], ["b", "c"]], "bridge": ["d"],
                                             "at": "3s", "duration": "2.5s"}


# --- bad input: one line, exit 2 ---------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--runs", "0"], "--runs: must be between 1"),
    (["--kinds", "crash,melt"], "--kinds: unknown fault kind 'melt'"),
    (["--targets", "dbb"], "--targets: unknown component or zone 'dbb'"),
    (["--max-down", "soon"], "--max-down"),
    (["--max-down", "0s"], "--max-down: must be greater than 0"),
    (["--max-faults", "0"], "--max-faults: must be at least 1"),
    (["--shrink-runs", "-1"], "--shrink-runs: must be between 0"),
    (["--slo", "p99<<1ms"], "--slo"),
    (["--out", "/no/such/dir/found.yaml"], "--out: expected a file in an existing directory"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    src = tmp_path / "weak.yaml"
    src.write_text(WEAK)
    slo = [] if "--slo" in args else ["--slo", "availability>95%"]
    result = CliRunner().invoke(main, ["explore", str(src), "--workers", "1", "--no-cache", *slo, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_no_slo_and_no_check_exits_2(tmp_path):
    src = tmp_path / "weak.yaml"
    src.write_text(textwrap.dedent(WEAK))
    result = CliRunner().invoke(main, ["explore", str(src), "--workers", "1"])
    assert result.exit_code == 2 and "nothing to break" in result.output


def test_a_failed_consistency_check_is_the_property_too(monkeypatch, weak):
    # The summary's `consistency` section (scenarios that declare `check:`) plugs into the same
    # predicate: a stand-in run that reports a failed linearizability check whenever the timeline
    # holds a partition isolating db; explore finds it with no SLO and shrinks to that partition.
    import simulator.study.explore as ex

    def fake_run(payload):
        faults = payload["scenario"]["faults"]
        cut = any(f["type"] == "partition" and ["db"] in f["groups"] for f in faults)
        return {"seed": payload["seed"], "metrics": {"availability": 1.0}, "requests": {},
                "consistency": {"checks": {"linearizable": {"verdict": "fail" if cut else "pass",
                                                            "first_violation": "stale read of x"}}}}
    monkeypatch.setattr(ex, "run_record", fake_run)
    monkeypatch.setattr(ex, "declares_checks", lambda sc: True)
    found = explore(weak, runs=50, slos=[], budget=Budget(kinds=("partition", "crash", "latency"), targets=NO_LB),
                    explore_seed=3)
    assert found.found and found.violations == ["check linearizable: stale read of x"]
    (fault,) = found.shrunk
    assert fault["type"] == "partition" and ["db"] in fault["groups"] and not fault.get("bridge")
    assert fault["duration"] <= 0.002  # the stand-in fails whatever the window: shrunk to ~nothing


def test_json_summary(tmp_path):
    import json

    src = tmp_path / "weak.yaml"
    src.write_text(WEAK)
    result = CliRunner().invoke(main, ["explore", str(src), "--runs", "3", "--slo", "availability>95%",
                                       "--kinds", "clock_skew", "--workers", "1", "--no-cache", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["found"] is False and out["timelines_tried"] == 3 and out["explore_seed"] == 1
    assert out["slos"] == ["availability>95%"] and out["shrunk"] is None


def test_the_run_cache_makes_a_second_exploration_free(tmp_path, weak):
    from simulator.study.run_cache import ResultCache

    cache = ResultCache(tmp_path / "cache")
    budget = Budget(kinds=("crash",), targets=NO_LB, max_faults=2)
    first = explore(weak, runs=10, slos=SLO, budget=budget, explore_seed=6, cache=cache, shrink_runs=10)
    again = explore(weak, runs=10, slos=SLO, budget=budget, explore_seed=6, cache=cache, shrink_runs=10)
    assert first.runs_made > 0 and again.runs_made == 0
    assert again.shrunk == first.shrunk and again.steps == first.steps


def test_magnitudes_shrink_to_the_threshold(monkeypatch, weak):
    # A stand-in run failing iff some latency fault adds >= 120 ms or some loss is >= 7%: bisection
    # brings the drawn magnitude down to the threshold (within its 2% resolution).
    import simulator.study.explore as ex

    def fake_run(payload):
        faults = payload["scenario"]["faults"]
        bad = any((f["type"] == "latency" and float(f["add"].rstrip("s")) >= 0.12)
                  or (f["type"] == "packet_loss" and f["probability"] >= 0.07) for f in faults)
        return {"seed": payload["seed"], "metrics": {"availability": 0.5 if bad else 1.0}, "requests": {}}
    monkeypatch.setattr(ex, "run_record", fake_run)
    for kind, key, threshold in (("latency", "add", 0.12), ("packet_loss", "probability", 0.07)):
        found = explore(weak, runs=50, slos=SLO, budget=Budget(kinds=(kind,), max_faults=2), explore_seed=1)
        (fault,) = found.shrunk
        value = float(str(fault[key]).rstrip("s"))
        assert threshold <= value <= threshold * 1.03, fault
        # the shape is as small as it gets: one place on each side, no bridge
        assert [len(g) for g in fault["groups"]] == [1, 1]
