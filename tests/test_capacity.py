"""dsim capacity: SLO parsing and the search for the highest load meeting every SLO."""
import json

import pytest
from click.testing import CliRunner

from cli import main
from simulator.language.errors import ScenarioError
from simulator.study.slo import find_capacity, parse_slo
from tests.helpers import scenario

MM1 = """
name: mm1
seed: 3
duration: 800s
warmup: 50s
components:
  app: {type: server, workers: 1, service_time: exponential(mean=10ms)}
workloads:
  web: {arrivals: poisson(rate=20/s), target: app}
"""


def test_slo_forms():
    assert parse_slo("p99<200ms").metric == "latency_p99_s" and parse_slo("p99<200ms").threshold == 0.2
    s = parse_slo("availability>=99.9%")
    assert (s.metric, s.op, s.threshold) == ("availability", ">=", pytest.approx(0.999))
    assert parse_slo("throughput>400/s").threshold == 400.0
    assert parse_slo("error_rate<1%").met(0.005) and not parse_slo("error_rate<1%").met(0.02)


@pytest.mark.parametrize("text,fragment", [
    ("p99 < soon", "expected a duration"),
    ("p98<200ms", "unknown metric 'p98'"),
    ("p99=200ms", "METRIC OP VALUE"),
    ("availability>1.5", "between 0 and 1"),
])
def test_bad_slos(text, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        parse_slo(text)


def test_capacity_of_an_mm1_queue_matches_theory():
    # mean time in M/M/1 is 1/(mu - lambda): under 50 ms means lambda < 100 - 20 = 80/s.
    result = find_capacity(scenario(MM1), "workloads.web.arrivals.rate", [parse_slo("mean<50ms")],
                           replications=3, tolerance=0.02)
    s = result.summary()
    assert s["capacity_value"] < s["first_failing_value"] <= s["capacity_value"] * 1.02 + 1e-9
    # Over seeds 1-6 these settings give answers with a standard deviation of 0.65/s: allow three of
    # them plus the 2% width of the final bracket.
    assert s["capacity_value"] == pytest.approx(80.0, abs=3 * 0.65 + 0.02 * 80)
    assert all(p["passed"] == (p["figures"]["latency_mean_s"]["mean"] < 0.05) for p in s["evaluated"])


def test_capacity_command(tmp_path):
    path = tmp_path / "mm1.yaml"
    path.write_text(MM1)
    r = CliRunner().invoke(main, ["capacity", str(path), "--slo", "mean<50ms", "--slo", "availability>99%",
                                  "--vary", "workloads.web.arrivals.rate", "-r", "2", "--duration", "400s",
                                  "--workers", "1", "--cache-dir", str(tmp_path / "c"), "--format", "json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output[r.output.index("{"):])
    assert s["capacity"].endswith("/s") and 60 < s["capacity_value"] < 100
    assert set(s["at_capacity"]) == {"latency_mean_s<50ms", "availability>99%"}


@pytest.mark.parametrize("args,fragment", [
    (["--slo", "p99<<2"], "expected a duration"),
    (["--slo", "p99"], "METRIC OP VALUE"),
    (["--slo", "p99<1s", "--vary", "components.app.workerz"], "did you mean 'workers'"),
    (["--slo", "p99<1s", "--vary", "components.app.type"], "not a number"),
    (["--vary", "workloads.web.arrivals.rate"], "at least one --slo"),
    (["--slo", "p99<1s", "--vary", "workloads.web.arrivals.rate", "--low", "5ms"], "unit of"),
])
def test_bad_capacity_input(tmp_path, args, fragment):
    path = tmp_path / "mm1.yaml"
    path.write_text(MM1)
    if "--vary" not in args:
        args = args + ["--vary", "workloads.web.arrivals.rate"]
    r = CliRunner().invoke(main, ["capacity", str(path), *args, "--no-cache"])
    assert r.exit_code == 2, r.output
    assert fragment in r.output and "Traceback" not in r.output


CLOSED = """
name: closed
seed: 4
duration: 300s
warmup: 20s
components:
  app: {type: server, workers: 1, service_time: exponential(mean=10ms)}
workloads:
  web: {users: 4, think_time: exponential(mean=90ms), target: app}
"""


def test_a_whole_number_setting_is_searched_over_whole_numbers():
    # Users of a closed loop (M/M/1 with think time): exact mean-value analysis gives a mean
    # response time of 90.5 ms at 18 users, 100.3 ms at 19 and 110.1 ms at 20; "mean < 100 ms" breaks
    # at 19, within the noise of 2 replications of 280 s (about 1 ms here) of either neighbour.
    result = find_capacity(scenario(CLOSED), "workloads.web.users", [parse_slo("mean<100ms")], replications=2)
    s = result.summary()
    assert all(float(p["value"]).is_integer() for p in s["evaluated"])
    assert s["first_failing_value"] - s["capacity_value"] == 1
    assert 17 <= s["capacity_value"] <= 19
    assert s["capacity"] == str(int(s["capacity_value"]))


def test_a_setting_that_only_helps_has_no_capacity():
    with pytest.raises(ScenarioError, match="does not make them harder to meet"):
        find_capacity(scenario(MM1.replace("800s", "30s").replace("50s", "5s")), "components.app.workers",
                      [parse_slo("mean<1s")], replications=1)


@pytest.mark.parametrize("text,fragment", [
    ("p99<-1s", "cannot be negative"),
    ("p99<0s", "can never hold"),
    ("availability>100%", "can never hold"),
    ("availability>=0%", "always holds"),
    ("throughput>=0/s", "always holds"),
])
def test_slos_that_cannot_decide_anything_are_refused(text, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        parse_slo(text)


def test_high_below_low_is_refused_before_any_run(tmp_path, monkeypatch):
    import simulator.simulation.runner

    monkeypatch.setattr(simulator.simulation.runner, "_run", lambda *a, **k: pytest.fail("a simulation started"))
    path = tmp_path / "mm1.yaml"
    path.write_text(MM1)
    r = CliRunner().invoke(main, ["capacity", str(path), "--slo", "p99<1s", "--vary", "workloads.web.arrivals.rate",
                                  "--low", "50/s", "--high", "30/s", "--no-cache"])
    assert r.exit_code == 2 and r.output.startswith("error: --high: must be above --low (50/s), got 30/s"), r.output
    r = CliRunner().invoke(main, ["capacity", str(path), "--slo", "p99<1s", "--vary", "workloads.web.arrivals.rate",
                                  "--high", "10/s", "--no-cache"])  # the search starts from the file's 20/s
    assert r.exit_code == 2 and "error: --high: must be above the scenario's value of workloads.web.arrivals.rate " \
                                "(20/s), got 10/s" in r.output, r.output


def test_ctrl_c_during_a_capacity_search_exits_130_with_one_line(tmp_path, monkeypatch):
    import simulator.study.executors
    from simulator.study.executors import InProcess

    class StopsAfterOne(InProcess):
        def run(self, fn, payloads):
            for i, result in super().run(fn, payloads):
                if i == 1:
                    raise KeyboardInterrupt
                yield i, result

    monkeypatch.setattr(simulator.study.executors, "InProcess", StopsAfterOne)  # what --workers 1 makes
    path = tmp_path / "mm1.yaml"
    path.write_text(MM1)
    r = CliRunner().invoke(main, ["capacity", str(path), "--slo", "mean<50ms", "--vary", "workloads.web.arrivals.rate",
                                  "-r", "3", "--workers", "1", "--duration", "100s", "--no-cache"])
    assert r.exit_code == 130 and r.output.startswith("error: interrupted: 1 of 3 runs finished"), r.output


def test_when_every_load_up_to_high_passes_the_limit_is_said_to_be_beyond(tmp_path):
    path = tmp_path / "mm1.yaml"
    path.write_text(MM1)
    r = CliRunner().invoke(main, ["capacity", str(path), "--slo", "mean<1s", "--vary", "workloads.web.arrivals.rate",
                                  "--high", "40/s", "-r", "2", "--duration", "200s", "--workers", "1", "--no-cache"])
    assert r.exit_code == 0, r.output
    assert "capacity: workloads.web.arrivals.rate = 40/s meets every SLO (latency_mean_s<1s); so does every value up to " \
           "--high: the limit is beyond it" in r.output


PER_OP_CALL = """
name: per-op
seed: 1
duration: 20s
components:
  app: {type: server, workers: 50, service_time: 1ms, operations: {write: {calls: [db]}}}
  db: {type: database, connections: 1, read_time: 10ms, write_time: 10ms}
workloads:
  web: {arrivals: poisson(rate=300/s), target: app, mix: {read: MIX_READ, write: MIX_WRITE}}
"""


def test_a_per_operation_call_counts_in_the_load_estimate():
    import simulator

    # only writes call the database: 50% of 300/s = 150/s against a capacity of 100/s
    over = simulator.run(scenario(PER_OP_CALL.replace("MIX_READ", "0.5").replace("MIX_WRITE", "0.5")))
    assert any("offered load at 'db' (~150 req/s) is 1.50x its capacity" in w for w in over.warnings), over.warnings
    # 20% of 300/s = 60/s: within capacity, although every request taking the calls would not be
    under = simulator.run(scenario(PER_OP_CALL.replace("MIX_READ", "0.8").replace("MIX_WRITE", "0.2")))
    assert not any("'db'" in w for w in under.warnings), under.warnings


def test_a_call_with_its_own_operation_takes_that_operations_calls_downstream():
    import simulator

    text = """
    name: per-op
    seed: 1
    duration: 5s
    components:
      front: {type: server, workers: 50, service_time: 1ms, calls: [{target: app, operation: write}]}
      app: {type: server, workers: 50, service_time: 1ms, operations: {write: {calls: [db]}}}
      db: {type: database, connections: 1, read_time: 10ms, write_time: 10ms}
    workloads:
      web: {arrivals: poisson(rate=150/s), target: front, mix: {read: 1.0}}
    """
    assert any("offered load at 'db' (~150 req/s)" in w for w in simulator.run(scenario(text)).warnings)
