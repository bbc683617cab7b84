"""CQRS (models/apps/cqrs.py, scenarios/cqrs.yaml): the read model's lag from its parts, a read right
after a write misses it exactly when the lag exceeds the gap, read-your-writes by routing, the
projector's outage, determinism, bad input."""
from __future__ import annotations

import pytest

import simulator
from tests.helpers import assert_bad, assert_conserved, scenario

# One client, no network latency, constant times: a command every cycle, acknowledged when the
# write store has written it (5 ms); the change is stored on the bus 2 ms later, the projector works
# {c} on it and the read store writes it in 3 ms. So the read model's lag is 2 ms + c + 3 ms, and the
# refresh read, {g} after the acknowledgement, is served at once (reads take no time here).
EXACT = """
name: cqrs-exact
seed: 1
duration: {duration}
warmup: 0s
network: {{default_latency: 0ms}}
components:
  app:
    type: cqrs
    clients: 1
    think_time: 1s
    command_share: 1
    refresh_after: {g}
    write_store: w
    read_store: r
    bus: bus
    own_reads_from_write_store: {window}
  w: {{type: database, read_time: 0s, write_time: 5ms}}
  r: {{type: database, read_time: 0s, write_time: 3ms}}
  bus:
    type: queue
    publish_time: 2ms
    consumer_groups: {{projector: {{target: app, operation: project, process_time: {c}, retry_delay: 500ms}}}}
faults: {faults}
"""


def run_exact(c="50ms", g="40ms", window="0s", duration="30s", faults="[]"):
    res = simulator.run(scenario(EXACT, c=c, g=g, window=window, duration=duration, faults=faults))
    return res, res.summary["components"]["app"]["metrics"]


@pytest.mark.parametrize("c, g, lag, missed", [
    ("50ms", "40ms", 0.055, True),
    ("50ms", "70ms", 0.055, False),
    ("10ms", "14ms", 0.015, True),
    ("10ms", "16ms", 0.015, False),
    ("100ms", "104ms", 0.105, True),
    ("100ms", "106ms", 0.105, False),
])
def test_a_read_right_after_a_write_misses_it_exactly_when_the_lag_exceeds_the_gap(c, g, lag, missed):
    res, m = run_exact(c=c, g=g)
    assert m["read_model_lag_s"]["count"] == m["commands"] > 20
    assert m["read_model_lag_s"]["max"] == pytest.approx(lag, abs=1e-9)
    assert m["read_model_lag_s"]["p50"] == pytest.approx(lag, abs=1e-9)
    assert m["refresh_reads"] == m["reads_after_own_write"] == m["commands"]
    assert m["refresh_missed"] == (m["refresh_reads"] if missed else 0)
    assert m["refresh_miss_ratio"] == (1.0 if missed else 0.0)
    assert m["duplicate_events"] == 0


def test_reading_the_write_store_for_a_while_after_a_command_never_misses():
    res, m = run_exact(c="100ms", g="40ms", window="500ms")
    assert m["refresh_missed"] == 0 and m["refresh_reads"] > 20
    assert m["reads_from_write_store"] == m["refresh_reads"]
    comps = res.summary["components"]
    assert comps["w"]["reads"] == m["refresh_reads"] and comps["r"]["reads"] == 0
    # a window shorter than the gap routes nothing
    _res, m = run_exact(c="100ms", g="40ms", window="30ms")
    assert m["reads_from_write_store"] == 0 and m["refresh_missed"] == m["refresh_reads"]


def test_the_projector_down_every_write_in_the_window_is_missed_then_it_catches_up():
    """A cycle is 1 s of thinking, the command (5 ms) and the refresh 100 ms later: command n is
    acknowledged at 1.005 + 1.105 (n - 1) s. The projector is down from 3.5 s to 8.5 s: the changes of
    commands 4..7 (acknowledged 4.32 .. 7.635 s) are refused and offered again every 500 ms from
    4.322 s, so the first delivery after the recovery is at 8.822 s; then the backlog drains one
    change per 53 ms (50 + 3): command 4 at 8.875 s ... command 8 (acknowledged 8.74 s) at 9.087 s. So
    exactly the refreshes of commands 4..8 miss (8's is at 8.84 s), and the longest lag is command 4's."""
    faults = "[{type: crash, target: bus.projector, at: 3.5s, duration: 5s}]"
    res, m = run_exact(c="50ms", g="100ms", duration="20s", faults=faults)
    ack4 = 1.005 + 3 * 1.105
    assert m["refresh_missed"] == 5
    assert m["read_model_lag_s"]["max"] == pytest.approx(8.822 + 0.053 - ack4, abs=1e-9)
    assert m["read_model_behind_s"]["max"] > 4.0  # sampled at the buckets inside the outage
    assert m["unapplied_changes"]["max"] >= 4
    assert res.timeseries["app.unapplied_changes"].iloc[-1] == 0  # caught up
    assert_conserved(res)


def test_scenario_runs_its_fault_and_is_deterministic():
    sc = simulator.load_scenario("scenarios/cqrs.yaml", overrides=["duration=150s", "warmup=10s"])
    a = simulator.run(sc, seed=4).summary
    assert a == simulator.run(sc, seed=4).summary
    m = a["components"]["cqrs"]["metrics"]
    assert m["read_model_behind_s"]["max"] > 15  # the projector is down 20 s from 100 s
    assert m["refresh_miss_ratio"] > m["own_write_miss_ratio"] > 0
    routed = simulator.run(simulator.with_overrides(sc, {"components.cqrs.own_reads_from_write_store": "30s"}),
                           seed=4).summary["components"]["cqrs"]["metrics"]
    # reads within 30 s of the client's last command go to the write store: only the later ones can miss
    assert routed["refresh_missed"] == 0
    assert routed["own_write_miss_ratio"] < m["own_write_miss_ratio"]
    assert a["components"]["cqrs"]["extrapolation"][0].startswith("5,000,000 clients")


@pytest.mark.parametrize("change, fragments", [
    (("    bus: events\n", "    bus: write-db\n"), ["cqrs.bus", "expected a queue"]),
    (("    read_store: read-db\n", "    read_store: events\n"), ["cqrs.read_store", "expected a database"]),
    (("    read_store: read-db\n", "    read_store: write-db\n"), ["cqrs.read_store", "another database"]),
    (("operation: project,", "operation: projet,"), ["consumer_groups.projector.operation", "got 'projet'"]),
    (("target: cqrs, operation", "target: read-db, operation"), ["cqrs.bus", "no consumer group delivers project"]),
    (("command_share: 20%", "command_share: 2"), ["command_share"]),
    (("    clients: 500\n", "    clients: 0\n"), ["clients"]),
    (("  read-db:\n    type: database\n", "  read-db:\n    type: database\n    write_operations: [put]\n"),
     ["read-db.write_operations", "keep 'write'"]),
])
def test_bad_cqrs_input_is_one_located_line(tmp_path, change, fragments):
    text = open("scenarios/cqrs.yaml").read()
    assert change[0] in text
    out = assert_bad(tmp_path, text.replace(change[0], change[1]), *fragments)
    assert len(out.strip().splitlines()) == 1
