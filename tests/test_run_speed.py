"""A run says how much work it was: events processed (deterministic, in the summary), events per
second and, with --profile, events and time by kind (wall clock: on the terminal only)."""
import json

from click.testing import CliRunner

import simulator
from cli import main
from simulator.engine.profile import event_kind
from simulator.engine.env import SimEnv


def test_events_processed_are_in_the_summary_and_the_same_for_the_same_seed():
    sc = simulator.load_scenario("scenarios/three-tier.yaml", duration="40s", overrides=["warmup=0s", "faults=[]"])
    a, b = simulator.run(sc), simulator.run(sc)
    # an arrival, 5 hops with latency (the reply's last hop to the clients takes none) and 2 service
    # completions per request (fewer for those still in flight at the end), and a few other timers
    # (metric samples, timeouts)
    n = a.summary["requests"]["generated"]
    assert 7.95 * n < a.summary["events"] < 8.05 * n
    assert a.to_json() == b.to_json()


def test_profile_counts_every_event_by_kind_and_stays_out_of_the_json():
    r = CliRunner().invoke(main, ["run", "scenarios/three-tier.yaml", "--duration", "30s", "--set", "warmup=5s",
                                  "--format", "json", "--profile"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert "events" in summary and not any("per_s" in k or "wall" in k for k in summary)
    assert "Where the time went" in r.stderr and "hop → load_balancer" in r.stderr and "events/s" in r.stderr
    res = simulator.run(simulator.load_scenario("scenarios/three-tier.yaml", duration="30s",
                                                overrides=["warmup=0s"]), profile=True)
    kinds = {row["kind"]: row["events"] for row in res.profile}
    assert sum(kinds.values()) == res.summary["events"]
    n = res.summary["requests"]["generated"]
    # per request: one arrival, one server and one database service, one hop into each component
    for kind in ("workload", "server", "database", "hop → load_balancer", "hop → server", "reply → load_balancer"):
        assert abs(kinds[kind] - n) < 0.01 * n, (kind, kinds[kind], n)


def test_table_output_ends_with_events_per_second():
    r = CliRunner().invoke(main, ["run", "scenarios/mmc-basic.yaml", "--duration", "100s", "--set", "warmup=10s"])
    assert r.exit_code == 0, r.output
    assert "events/s" in r.output.strip().splitlines()[-1]


def test_simpy_events_are_a_kind_of_their_own():
    env = SimEnv(seed=1)
    assert event_kind(env.timeout(1.0)) == "simpy"
