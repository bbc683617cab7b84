"""The streaming application (models/apps/netflix): players' buffer and stalls to the exact second,
the ABR algorithms' choices, edge failover, the regional bandwidth drop (overlapping and unwinding),
the scenario end to end, determinism and bad input."""
from __future__ import annotations

import pytest

from tests.helpers import assert_bad, run  # (imports simulator first: models are loaded through it)
from models.apps.netflix.abr import BbaConfig, BolaConfig, FixedConfig, ThroughputConfig  # noqa: E402

# One viewer, one region, every latency constant: a chunk request is player -> edge (5 ms), edge ->
# origin (5 ms, a miss: every chunk is new), 10 ms at the origin, and back (10 ms): 30 ms exactly.
# The viewer starts at 0 (absence 1 ms makes it "watching" at the start) and watches 60 s: 6 chunks.
ONE = """
name: one
seed: 3
duration: {duration}
warmup: 0s
network: {{default_latency: 5ms}}
components:
  players:
    type: netflix
    viewers: 1
    ramp_up: 0s
    absence: 1ms
    watch_time: 60s
    titles: 1
    title_length: 10min
    trending: 1
    abr: {abr}
    bandwidth: {{type: constant, mbps: {mbps}}}
    cdn: cdn
    origin: origin
  cdn: {{type: cdn, origin: origin, regions: [default], capacity: 10GB}}
  origin: {{type: server, workers: 4, service_time: 10ms}}
faults: {faults}
"""
RTT = 0.030


def metrics(result, app="players"):
    return result.summary["components"][app]["metrics"]


def one(abr="{type: fixed, bitrate_mbps: 1}", mbps=0.5, duration="135s", faults="[]"):
    return metrics(run(ONE, abr=abr, mbps=mbps, duration=duration, faults=faults))


def test_below_the_lowest_bitrate_stalls_by_a_computable_amount():
    # 0.5 Mbps for 1 Mbps chunks: a chunk takes d = RTT + 10 Mb / 0.5 Mbps = 20.03 s. Startup waits for
    # the first (d); then each of the 5 others arrives d after the one before while 10 s played: a
    # stall of d - 10 s each, resumed by the chunk (resume_buffer 10 s).
    m = one()
    d = RTT + 20.0
    assert m["startup_s"]["count"] == 1
    assert m["startup_s"]["mean"] == pytest.approx(d, abs=1e-9)
    assert m["rebuffers"] == 5
    stall = 5 * (d - 10.0)
    assert m["rebuffer_ratio"] == pytest.approx(stall / (stall + 60.0), abs=1e-9)
    assert m["mean_bitrate_mbps"] == pytest.approx(1.0)
    assert m["bitrate_switches"] == 0
    # QoE per chunk: (6 x 1 Mbps - 4.3 x stall - 4.3 x startup) / 6 chunks
    assert m["qoe"]["mean"] == pytest.approx((6.0 - 4.3 * stall - 4.3 * d) / 6, abs=1e-9)
    assert m["sessions"] == 1 and m["abandoned"] == 0


@pytest.mark.parametrize("abr", ["{type: throughput}", "{type: bba}", "{type: bola}", "{type: fixed, bitrate_mbps: 25}"])
def test_above_the_top_bitrate_never_rebuffers_after_startup(abr):
    # 30 Mbps > 25 Mbps: even a top-rate chunk (250 Mb) arrives in 8.37 s < 10 s of play.
    m = one(abr=abr, mbps=30, duration="300s")
    assert m["rebuffers"] == 0
    assert m["rebuffer_ratio"] == 0.0
    assert m["sessions"] >= 2


def test_a_fixed_top_bitrate_on_30mbps_starts_after_one_chunk_exactly():
    m = one(abr="{type: fixed, bitrate_mbps: 25}", mbps=30, duration="60s")
    assert m["startup_s"]["mean"] == pytest.approx(RTT + 250 / 30, abs=1e-9)
    assert m["mean_bitrate_mbps"] == pytest.approx(25.0)


def test_bandwidth_drop_window_slows_the_chunk_in_flight_exactly():
    # 2 Mbps, 1 Mbps chunks; x0.1 from 1 s to 11 s. First chunk: bytes from 0.03 s; 0.97 s at 2 Mbps
    # (1.94 Mb), 10 s at 0.2 Mbps (2 Mb), the remaining 6.06 Mb at 2 Mbps (3.03 s): startup 14.03 s.
    faults = "[{type: bandwidth_drop, target: players, factor: 0.1, at: 1s, duration: 10s}]"
    m = one(mbps=2, duration="20s", faults=faults)
    assert m["startup_s"]["mean"] == pytest.approx(14.03, abs=1e-9)


def test_overlapping_bandwidth_drops_multiply_and_unwind():
    # x0.5 over [0, 20 s) and x0.5 over [0, 40 s): 0.5 Mbps (a quarter of 2) until 20 s, 1 Mbps until 40 s.
    # First chunk (10 Mb) from 0.03 s at 0.5 Mbps: done at 20.03 s... except the first drop ends at
    # 20 s: 19.97 s x 0.5 = 9.985 Mb, the last 0.015 Mb at 1 Mbps: 0.015 s -> 20.015 s.
    faults = ("[{type: bandwidth_drop, target: players, factor: 0.5, at: 0s, duration: 20s},"
              " {type: bandwidth_drop, target: players, region: default, factor: 0.5, at: 0s, duration: 40s}]")
    m = one(mbps=2, duration="25s", faults=faults)
    assert m["startup_s"]["mean"] == pytest.approx(20.015, abs=1e-9)


TWO_EDGES = """
name: two
seed: 5
duration: 200s
warmup: 0s
network:
  default_latency: 5ms
  links: [{{between: [eu, us], latency: 40ms}}]
components:
  players:
    type: netflix
    viewers: 20
    regions: {{eu: 1}}
    ramp_up: 10s
    absence: 1ms
    watch_time: 60s
    titles: 5
    title_length: 10min
    trending: 5
    abr: {{type: throughput}}
    bandwidth: {{type: constant, mbps: 20}}
    cdn: cdn
    origin: origin
  cdn: {{type: cdn, origin: origin, regions: [eu, us], capacity: 10GB}}
  origin: {{type: server, zone: us, workers: 16, service_time: 10ms}}
faults: {faults}
"""


def test_edge_outage_fails_over_and_no_session_is_lost():
    quiet = metrics(run(TWO_EDGES, faults="[]"))
    assert quiet["failovers"] == 0 and quiet["chunk_failures"] == 0
    r = run(TWO_EDGES, faults="[{type: crash, target: cdn.eu, at: 50s, duration: 60s}]")
    m = metrics(r)
    assert m["failovers"] > 0  # to the us edge
    assert m["abandoned"] == 0
    assert m["origin_chunks"] == 0
    edges = r.summary["components"]["cdn"]["edges"]
    assert edges["cdn.us"]["requests"] > 0  # eu players were served by us while eu was down


def test_every_edge_down_goes_to_the_origin():
    r = run(TWO_EDGES, faults="[{type: crash, target: cdn, at: 50s, duration: 60s}]")
    m = metrics(r)
    assert m["origin_chunks"] > 0 and m["abandoned"] == 0


def test_abr_choices_exact():
    ladder = [1e6, 2.5e6, 5e6, 8e6, 25e6]
    tp = ThroughputConfig(safety=0.9, window=3).make(ladder, 10.0, 60.0)
    assert tp.choose(0.0, -1, []) == 0
    # harmonic mean of 6, 12, 12 Mbps = 9 Mbps; x0.9 = 8.1 Mbps -> 8 Mbps (rung 3)
    assert tp.choose(0.0, 0, [1e9, 6e6, 12e6, 12e6]) == 3
    bba = BbaConfig(reservoir="10s", cushion="30s").make(ladder, 10.0, 60.0)
    assert bba.choose(5.0, 4, []) == 0  # in the reservoir
    assert bba.choose(45.0, 0, []) == 4  # above reservoir + cushion
    # B = 25 s: f = 1 + 15/30 x 24 = 13 Mbps. From 5 Mbps: above the next rung up (8) -> max R < 13 = 8.
    assert bba.choose(25.0, 2, []) == 3
    # From 25 Mbps: f = 13 is not <= 8 (next down): stay.
    assert bba.choose(25.0, 4, []) == 4
    # B = 12 s: f = 2.6 Mbps; from 8 Mbps, f <= 5 (next down) -> min R > 2.6 = 5 Mbps.
    assert bba.choose(12.0, 3, []) == 2
    bola = BolaConfig(gamma_p=5).make(ladder, 10.0, 60.0)
    assert bola.choose(0.0, -1, []) == 0
    assert bola.choose(60.0, 0, []) == 4
    assert FixedConfig(bitrate_mbps=5).make(ladder, 10.0, 60.0).choose(0.0, -1, []) == 2


def test_the_scenario_runs_small_with_its_domain_metrics_and_is_deterministic():
    import simulator

    sc = simulator.load_scenario("scenarios/netflix.yaml")
    small = simulator.with_overrides(sc, {"components.players.viewers": 200, "duration": "300s", "warmup": "60s"})
    a = simulator.run(small)
    b = simulator.run(small)
    ma, mb = a.summary["components"]["players"]["metrics"], b.summary["components"]["players"]["metrics"]
    assert ma == mb
    assert ma["startup_s"]["count"] > 0 and ma["qoe"]["count"] >= 0
    assert ma["failovers"] > 0  # the eu edge outage at 240 s
    assert 0 < ma["edge_hit_ratio"] < 1
    assert ma["mean_bitrate_mbps"] > 1.0
    assert a.summary["components"]["players"]["extrapolation"]
    # the origin's egress over time is measured from the warm-up's end on (its counters restart there)
    assert (a.timeseries["players.origin_egress_mbps"] > 0).all()
    assert conserved(a)


def conserved(result) -> bool:
    from tests.helpers import assert_conserved

    assert_conserved(result)  # every chunk, play and recommend row ends exactly once (or is in flight)
    return True


BAD_BASE = ONE.format(duration="10s", abr="{type: bba}", mbps=10, faults="[]")


@pytest.mark.parametrize("change, fragments", [
    (("abr: {type: bba}", "abr: {type: bbb}"), ["components.players.abr.type", "did you mean 'bba'"]),
    (("abr: {type: bba}", "abr: {type: bba, reservoir: 200s, cushion: 100s}"), ["must fit in the buffer cap"]),
    (("abr: {type: bba}", "abr: {type: fixed, bitrate_mbps: 3}"), ["not on the ladder"]),
    (("titles: 1\n", "titles: 1\n    ladder_mbps: [5, 5]\n"), ["a bitrate is listed twice"]),
    (("bandwidth: {type: constant, mbps: 10}", "bandwidth: {type: markov, states_mbps: [1, 2], transitions: [[1]]}"),
     ["2 x 2 matrix"]),
    (("bandwidth: {type: constant, mbps: 10}", "bandwidth: {type: trace, file: nope.csv}"), ["not found"]),
    (("faults: []", "faults: [{type: bandwidth_drop, target: players, region: mars, factor: 0.5, at: 1s}]"),
     ["faults[0].region", "'mars' is not one of players's regions"]),
    (("faults: []", "faults: [{type: bandwidth_drop, target: origin, factor: 0.5, at: 1s}]"),
     ["not a streaming application"]),
    (("faults: []", "faults: [{type: bandwidth_drop, target: players, factor: 1.5, at: 1s}]"), ["factor"]),
])
def test_bad_input_is_one_located_line(tmp_path, change, fragments):
    old, new = change
    assert old in BAD_BASE
    assert_bad(tmp_path, BAD_BASE.replace(old, new), *fragments)


def test_trace_and_markov_processes_exact():
    import numpy as np

    from models.apps.netflix.bandwidth import MarkovBandwidth, TraceBandwidth

    class StartOfTrace:  # a stream whose draw puts the player at the trace's very start
        def random(self):
            return 0.0

    # 0.5 Mbps for 5 s, 2 Mbps for 5 s (the last row holds as long as the one before), repeated
    tr = TraceBandwidth(times=[0, 5], mbps=[0.5, 2]).factory(StartOfTrace())(0.0)
    assert (tr.rate(0.0), tr.next_change(0.0)) == (0.5e6, 5.0)
    assert (tr.rate(7.0), tr.next_change(7.0)) == (2e6, 10.0)
    assert tr.rate(12.0) == 0.5e6  # the trace repeats
    assert TraceBandwidth(times=[0, 5], mbps=[0.5, 2]).mean_mbps() == pytest.approx(1.25)
    # Neighbour moves over 3 levels: the jump chain's stationary law is (1/4, 1/2, 1/4).
    mk = MarkovBandwidth(states_mbps=[1, 2, 3], hold="10s")
    assert mk.mean_mbps() == pytest.approx(2.0)
    proc = mk.factory(np.random.default_rng(1))(0.0)
    assert proc.next_change(0.0) == 10.0 and proc.rate(10.0) in (1e6, 2e6, 3e6)


@pytest.mark.parametrize("bandwidth", ["{type: markov, states_mbps: [0.5], hold: 7s}",
                                       "{type: trace, times: [0, 3, 1000], mbps: [0.5, 0.5, 0.5]}"])
def test_a_steady_markov_or_trace_line_stalls_like_the_constant_one(bandwidth):
    # Rates that never change, cut into steps at every level change: the same stalls to the nanosecond.
    text = ONE.replace("bandwidth: {{type: constant, mbps: {mbps}}}", f"bandwidth: {{{bandwidth}}}")
    m = metrics(run(text, abr="{type: fixed, bitrate_mbps: 1}", duration="135s", faults="[]"))
    d = RTT + 20.0
    assert m["startup_s"]["mean"] == pytest.approx(d, abs=1e-6)
    assert m["rebuffers"] == 5
    stall = 5 * (d - 10.0)
    assert m["rebuffer_ratio"] == pytest.approx(stall / (stall + 60.0), abs=1e-9)


SERVICES = ONE.replace("    origin: origin\n  cdn:", "    origin: origin\n    recommendations: recs\n"
                       "    positions: positions\n  cdn:").replace(
    "faults: {faults}", "  recs: {{type: server, workers: 4, service_time: 10ms}}\n"
    "  positions: {{type: database, connections: 1, read_time: 1ms, write_time: 1ms}}\nfaults: {faults}")


def test_recommendation_and_position_outages_do_not_stop_playback():
    quiet = metrics(run(SERVICES, abr="{type: fixed, bitrate_mbps: 1}", mbps=2, duration="300s", faults="[]"))
    assert quiet["recommendation_failures"] == 0 and quiet["position_writes_failed"] == 0
    assert quiet["recommendation_s"]["count"] >= 1
    r = run(SERVICES, abr="{type: fixed, bitrate_mbps: 1}", mbps=2, duration="300s",
            faults="[{type: crash, target: [recs, positions], at: 0s}]")
    m = metrics(r)
    # every session fell back to the trending row, and every position write failed; playback went on
    assert m["recommendation_failures"] >= 1 and m["recommendation_s"]["count"] == 0
    assert m["position_writes_failed"] > 0
    assert m["sessions"] == quiet["sessions"] and m["rebuffers"] == quiet["rebuffers"] == 0


def test_a_partition_from_the_own_edge_times_out_then_fails_over():
    faults = "[{type: partition, groups: [[players], [cdn.eu]], at: 30s, duration: 60s}]"
    r = run(TWO_EDGES, faults=faults)
    m = metrics(r)
    assert m["chunk_failures"] > 0 and m["failovers"] == m["chunk_failures"]
    assert m["abandoned"] == 0
    # a timed-out request waited chunk_timeout (2 s) before the us edge answered
    assert r.summary["components"]["cdn"]["edges"]["cdn.us"]["requests"] > 0


def test_a_cdn_that_is_not_a_cdn_is_one_line_and_exit_2(tmp_path):
    from click.testing import CliRunner

    from cli import main

    path = tmp_path / "bad.yaml"
    path.write_text("name: b\nduration: 10s\ncomponents:\n"
                    "  players: {type: netflix, viewers: 1, cdn: origin, origin: origin}\n"
                    "  origin: {type: server, workers: 4, service_time: 10ms}\n")
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "components.players.cdn: 'origin' is a server, not a cdn" in result.output


def test_a_trace_file_is_found_beside_the_scenario():
    import simulator

    sc = simulator.load_scenario("scenarios/netflix.yaml", overrides=[
        "components.players.bandwidth={type: trace, file: traces/mobile-synthetic.csv}",
        "components.players.viewers=30", "duration=60s", "warmup=0s"])
    bw = sc.components["players"].bandwidth
    assert len(bw.times) == 300 and bw.times[1] == 2.0 and bw.mbps[0] == 6.06
    m = simulator.run(sc).summary["components"]["players"]["metrics"]
    assert m["startup_s"]["count"] > 0


def test_the_warm_up_cuts_played_and_stalled_time_at_its_end():
    # The 0.5 Mbps player of the first test: chunks land at k x 20.03 s; stalls from 10 s after each
    # (from 30.03 s) until the next. With a 60 s warm-up the window sees the end of the stall that began
    # at 50.06 s (0.09 s), three whole stalls (10.03 s each, beginning 70.09, 90.12, 110.15 s) and
    # four 10 s plays (the last one the play-out after the sixth chunk).
    text = ONE.replace("warmup: 0s", "warmup: 60s")
    m = metrics(run(text, abr="{type: fixed, bitrate_mbps: 1}", mbps=0.5, duration="135s", faults="[]"))
    d = RTT + 20.0
    stalled = (3 * d - 60.0) + 3 * (d - 10.0)
    assert m["rebuffers"] == 3
    assert m["rebuffer_ratio"] == pytest.approx(stalled / (stalled + 40.0), abs=1e-9)
    assert m["startup_s"]["count"] == 0  # it started before the window


def test_failover_from_a_down_edge_costs_exactly_one_refusal():
    # One eu viewer, its edge down from the start: the refusal comes back in 2 x 5 ms, then the us edge
    # (40 ms away) misses to the origin beside it (2 x 5 ms + 10 ms): 100 ms; then 10 Mb at 20 Mbps.
    text = TWO_EDGES.replace("viewers: 20", "viewers: 1").replace("ramp_up: 10s", "ramp_up: 0s").replace(
        "abr: {{type: throughput}}", "abr: {{type: fixed, bitrate_mbps: 1}}").replace("duration: 200s", "duration: 5s")
    m = metrics(run(text, faults="[{type: crash, target: cdn.eu, at: 0s}]"))
    assert m["startup_s"]["mean"] == pytest.approx(0.010 + 0.100 + 0.5, abs=1e-9)
    assert m["failovers"] == 1 and m["chunk_failures"] == 1
