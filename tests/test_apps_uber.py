"""Ride dispatch (models/apps/uber, scenarios/uber.yaml): the city grid, the search radius, offers,
timeouts, surge, the location index and its faults, with exact expected values; the scenario end
to end; determinism; bad input."""
from __future__ import annotations

import textwrap

import pytest

import simulator
from models.apps.uber.config import SurgeConfig, surge_multiplier
from models.apps.uber.geo import Grid
from tests.helpers import assert_bad

# A small city where everything is deterministic: no network latency, constant service times, drivers
# who never move unless matched (cruise_km 0, no surge chasing), constant answers.
CITY = """
name: uber-test
seed: 3
duration: {duration}
network: {{default_latency: 0ms}}
components:
  city:
    type: ride_dispatch
    city_km: 8
    cell_km: 0.5
    drivers: {drivers}
    start_positions: {positions}
    cruise_km: 0
    demand_seeking: 0
    park_time: 1000s
    speed_kmh: 30
    index: [geo-1, geo-2]
    placement: range
    matching: [matching]
    requests: {requests}
    trip_km: 2
    offers: {offers}
    attempts: {attempts}
    rating: 5
    accept_probability: {accept}
    response_time: {response}
    offer_timeout: 30s
    retry_after: 10s
    stale_fallback: {stale}
    surge: {{driver_response: 0, price_sensitivity: 0}}
  matching: {{type: server, workers: 4, service_time: 10ms}}
  geo-1: &shard {{type: geo_shard, workers: 2, update_time: 0.5ms, query_time: 1ms}}
  geo-2: *shard
faults: {faults}
"""


def city(**kw) -> simulator.Result:
    fmt = dict(duration="200s", drivers=1, positions="[[1.0, 0.5]]", requests="[{at: 10s, x_km: 5.5, y_km: 0.5}]",
               offers=3, attempts=1, accept=1, response="5s", stale="true", faults="[]")
    fmt.update(kw)
    return simulator.run(simulator.loads_scenario(textwrap.dedent(CITY).format(**fmt)))


def figures(result: simulator.Result) -> dict:
    return result.summary["components"]["city"]["metrics"]


# --- the grid -----------------------------------------------------------------------------------
def test_grid_cells_and_search_circles():
    g = Grid(8.0, 0.5)
    assert g.n == 16 and g.cells == 256
    assert g.cell_of(0.0, 0.0) == 0 and g.cell_of(7.99, 0.1) == 15 and g.cell_of(0.1, 0.6) == 16
    assert g.cell_of(8.0, 8.0) == 255  # the far edge belongs to the last cell
    # A 0.2 km circle at a cell's centre touches that cell only; at a corner, the four around it.
    assert g.cells_within(0.25, 0.25, 0.2) == [0]
    assert g.cells_within(1.0, 1.0, 0.2) == [17, 18, 33, 34]
    # A circle of 0.5 km centred in cell (2, 2) reaches its 8 neighbours (the nearest points of the
    # diagonal ones are 0.35 km away): 9 cells. One of 0.8 km also reaches the cells two steps away on
    # each axis (0.75 km) and those two steps away on one axis and one on the other (0.79 km), but not
    # the diagonal ones two steps away (1.06 km): 9 + 4 + 8 = 21.
    inner = g.cells_within(1.25, 1.25, 0.5)
    assert len(inner) == 9
    assert len(g.cells_within(1.25, 1.25, 0.8)) == 21
    ring = g.cells_within(1.25, 1.25, 1.0, 0.5)
    assert not set(ring) & set(inner) and len(set(ring) | set(inner)) == len(g.cells_within(1.25, 1.25, 1.0))


def test_placement_range_is_bands_and_hash_spreads():
    g = Grid(8.0, 0.5)
    assert [g.shard_of(c, 4, "range") for c in (0, 63, 64, 255)] == [0, 0, 1, 3]  # 4 rows of cells per shard
    counts = [0] * 4
    for c in range(g.cells):
        counts[g.shard_of(c, 4, "hash")] += 1
    assert min(counts) >= 56  # an even spread is 64 each
    assert len({g.shard_of(c, 4, "hash") for c in (0, 1, 2, 3)}) > 1  # neighbours on different shards
    assert [g.region_of(x, 2) for x in (0.0, 3.99, 4.0, 8.0)] == [0, 0, 1, 1]


def test_surge_formula():
    s = SurgeConfig(threshold=1.0, sensitivity=0.5, max=3.0)
    assert surge_multiplier(2, 4, s) == 1.0  # ratio 0.5, below the threshold
    assert surge_multiplier(4, 4, s) == 1.0  # at the threshold: no surge
    assert surge_multiplier(9, 3, s) == 2.0  # ratio 3: 1 + 0.5 x (3 - 1)
    assert surge_multiplier(7, 4, s) == 1.4  # ratio 1.75: 1.375, to 0.1
    assert surge_multiplier(100, 1, s) == 3.0  # capped at max
    assert surge_multiplier(3, 0, s) == 2.0  # no supply counts as one driver


# --- matching -----------------------------------------------------------------------------------
def test_no_driver_within_5km_is_not_matched():
    f = figures(city(positions="[[0.4, 0.5]]", requests="[{at: 10s, x_km: 5.5, y_km: 0.5}]"))  # 5.1 km away
    assert f["ride_requests"] == 1 and f["matched"] == 0 and f["unmatched_no_driver"] == 1
    assert f["match_rate"] == 0.0 and f["offers"] == 0
    assert f["search_radius_km"]["max"] == 5.0  # it searched all the way out


def test_driver_at_4_5km_is_matched_with_exact_times():
    """The search widens 1, 2, 3, 4, 5 km (five query rounds of 1 ms: the driver is 4.5 km away, in the
    5 km circle only); then the offer, 5 s to answer, and the answer served by matching (10 ms):
    time to match = 10 ms (matching) + 5 x 1 ms + 5 s + 10 ms = 5.025 s. The driver is parked, so the
    pickup takes exactly 4.5 km / 30 km/h = 540 s and the ETA matching estimated is exact."""
    f = figures(city())
    assert f["matched"] == 1 and f["match_rate"] == 1.0 and f["offers"] == 1
    assert f["time_to_match_s"]["max"] == pytest.approx(5.025, abs=1e-9)
    assert f["pickup_eta_s"]["max"] == pytest.approx(540.0, abs=1e-9)
    assert f["eta_error_s"]["max"] == 0.0
    assert f["search_radius_km"]["max"] == 5.0


def test_top_three_are_offered_then_the_rest_after_declines():
    """Four drivers 0.2, 0.4, 0.6 and 0.8 km away who all decline: round 1 offers the three best,
    round 2 the fourth; the rider is given up on after two rounds."""
    pos = "[[1.2, 0.25], [1.4, 0.25], [1.6, 0.25], [1.8, 0.25]]"
    f = figures(city(drivers=4, positions=pos, requests="[{at: 10s, x_km: 1.0, y_km: 0.25}]", accept=0, attempts=2))
    assert f["offers"] == 4 and f["offers_declined"] == 4 and f["matched"] == 0
    assert f["unmatched_declined"] == 1 and f["unmatched_no_driver"] == 0


def test_the_best_scored_driver_wins_one_offer_at_a_time():
    pos = "[[1.8, 0.25], [1.2, 0.25], [1.6, 0.25]]"  # the nearest (0.2 km) is driver 1
    f = figures(city(drivers=3, positions=pos, requests="[{at: 10s, x_km: 1.0, y_km: 0.25}]", offers=1))
    assert f["offers"] == 1 and f["matched"] == 1
    assert f["pickup_eta_s"]["max"] == pytest.approx(0.2 / 30 * 3600)  # 24 s: the nearest drove to the rider


def test_offer_timeout_then_give_up():
    """Drivers slower to answer than the 30 s timeout, one offer a round: round 1 offers the better one
    and times out, round 2 the other (the first is left out), then the rider is given up on; the
    late acceptances (at 40 s) find the rounds closed."""
    f = figures(city(drivers=2, positions="[[1.0, 0.5], [1.5, 0.5]]", response="40s", attempts=3, offers=1))
    assert f["offers"] == 2 and f["offers_timed_out"] == 2 and f["matched"] == 0 and f["unmatched_declined"] == 1


def test_trip_then_available_again():
    """Matched at 10 s + 5.025 s, 540 s to the pickup, a 2 km trip (240 s, done at 795 s): the driver
    is free again and takes a second rider who asks at 900 s."""
    f = figures(city(duration="1500s", requests="[{at: 10s, x_km: 5.5, y_km: 0.5}, {at: 900s, x_km: 5.5, y_km: 0.5}]"))
    assert f["matched"] == 2 and f["trips_completed"] == 2  # the 2nd: <= 2 km to the pickup, 2 km trip: by 1385 s
    assert f["trips_per_driver_hour"] == pytest.approx(2 / (1500 / 3600))


# --- the location index and its faults ------------------------------------------------------------
def test_location_writes_per_shard():
    """One parked driver in row 0 (range placement: shard geo-1) reports every 4 s from a phase in
    (0, 4) s: 25 writes in 100 s, all on geo-1."""
    r = city(duration="100s", requests="[]", positions="[[1.0, 0.1]]")
    comps = r.summary["components"]
    assert comps["geo-1"]["writes"] == 25 and comps["geo-2"]["writes"] == 0
    assert figures(r)["shard_write_skew"] == 2.0  # all of it on one of two shards


def test_lost_shard_blinds_its_cells_until_the_phones_refill_it():
    """geo-1 (rows 0-7) is down from 5 s to 25 s: a rider at 10 s sees no driver; one at 30 s is
    matched, the index having been refilled by the driver's next update (every 4 s)."""
    f = figures(city(stale="false", requests="[{at: 10s, x_km: 1.5, y_km: 0.5}, {at: 30s, x_km: 1.5, y_km: 0.5}]",
                     faults="[{type: crash, target: geo-1, at: 5s, duration: 20s}]"))
    assert f["matched"] == 1 and f["unmatched_no_driver"] == 1
    assert f["blind_cells"] > 0 and f["location_writes_failed"] == 5  # updates at p+4k within 20 s: 5


def test_partition_matches_on_stale_positions():
    """Rider 1 (10 s) takes driver A. During a matching | index partition (20-80 s), rider 2 (40 s) is
    matched from matching's copy of the cells made at 10 s: it shows A still available, so A is
    offered first and declines at once (busy); round 2 offers B. Without the partition, A's updates
    say it is busy and B is offered directly."""
    pos = "[[1.2, 0.25], [1.5, 0.25]]"
    req = "[{at: 10s, x_km: 1.0, y_km: 0.25}, {at: 40s, x_km: 1.0, y_km: 0.25}]"
    cut = "[{type: partition, groups: [[matching], [geo-1, geo-2]], at: 20s, duration: 60s}]"
    stale = figures(city(drivers=2, positions=pos, requests=req, offers=1, attempts=2, faults=cut))
    fresh = figures(city(drivers=2, positions=pos, requests=req, offers=1, attempts=2))
    assert stale["matched"] == 2 and stale["offers_declined"] == 1 and stale["stale_cells_used"] > 0
    assert stale["position_age_s"]["max"] > 29.0  # positions from before 11 s used at 40 s and later
    assert fresh["matched"] == 2 and fresh["offers_declined"] == 0 and fresh["stale_cells_used"] == 0
    assert fresh["position_age_s"]["max"] <= 4.0 + 1e-9  # at most one reporting interval old


def test_matching_down_fails_the_ride():
    f = figures(city(faults="[{type: crash, target: matching, at: 5s, duration: 10s}]"))
    assert f["unmatched_matching_down"] == 1 and f["matched"] == 0


# --- the scenario ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def uber() -> simulator.Result:
    return simulator.run(simulator.load_scenario("scenarios/uber.yaml"))


def test_scenario_runs_with_its_faults(uber):
    c = uber.summary["components"]["city"]
    f = c["metrics"]
    assert f["match_rate"] > 0.9 and f["trips_completed"] > 100
    assert f["unmatched_matching_down"] > 0  # F2: the east's matching service is down for 60 s
    # F1: geo-2's share of the writes for 120 s fail (~18.75/s: 300 drivers / 4 s / 4 shards)
    assert 0.8 * 120 * 18.75 < f["location_writes_failed"] < 1.2 * 120 * 18.75
    assert f["stale_cells_used"] > 0  # F1 and F3: matching used its copies
    assert len(f["surge"]["labels"]) == 16 and max(f["surge"]["max"]) > 1.0  # a hot spot surged somewhere
    assert f["index_writes_per_s"]["labels"] == ["geo-1", "geo-2", "geo-3", "geo-4"]
    assert any("location writes/s" in line for line in c["extrapolation"])
    assert "city.surge.x0y0" in uber.timeseries.columns


def test_scenario_is_deterministic(uber):
    again = simulator.run(simulator.load_scenario("scenarios/uber.yaml", overrides=["duration=1800s"]))
    assert again.summary["components"]["city"] == uber.summary["components"]["city"]


# --- bad input ------------------------------------------------------------------------------------
GOOD = """\
name: b
duration: 10s
components:
  city:
    type: ride_dispatch
    index: [geo-1]
    matching: [m]
    background_rate: 1/s
    hotspots:
      - {name: a, x_km: 1, y_km: 1, rate: 1/s}
    search: {start_km: 1, max_km: 5}
  m: {type: server, service_time: 10ms}
  geo-1: {type: geo_shard}
"""


@pytest.mark.parametrize("old,new,frag", [
    ("x_km: 1,", "x_km: 9,", "outside the 8 km city"),
    ("start_km: 1,", "start_km: 6,", "must not exceed max_km"),
    ("matching: [m]", "matching: [mm]", "mm"),
    ("index: [geo-1]", "index: [geo-1]\n    placement: geohash", "placement"),
    ("rate: 1/s}", "rate: 1/s, start: 5s, end: 2s}", "end (2s) must be after start"),
    ("index: [geo-1]", "index: [geo-1]\n    drivers: 2\n    start_positions: [[1, 1]]", "1 points for 2 drivers"),
])
def test_bad_input_is_one_located_line(tmp_path, old, new, frag):
    assert_bad(tmp_path, GOOD.replace(old, new), frag, "components.city")


# --- faults together: overlapping windows, recoveries inside windows --------------------------------
def test_overlapping_shard_crashes_blind_until_the_last_ends():
    """Two crashes of geo-1 overlap (5-25 s and 15-35 s): down from 5 s to 35 s, wiped once. A rider
    at 30 s (inside the second window, after the first ended) sees nothing; one at 40 s is matched
    from the refilled index. The driver's updates every 4 s inside the 30 s outage fail: 7 or 8 of
    them, by its phase."""
    crashes = ("[{type: crash, target: geo-1, at: 5s, duration: 20s},"
               " {type: crash, target: geo-1, at: 15s, duration: 20s}]")
    r = city(stale="false", requests="[{at: 30s, x_km: 1.5, y_km: 0.5}, {at: 40s, x_km: 1.5, y_km: 0.5}]",
             faults=crashes)
    f = figures(r)
    assert f["unmatched_no_driver"] == 1 and f["matched"] == 1
    assert f["location_writes_failed"] in (7, 8)
    assert r.summary["components"]["geo-1"]["entries_lost"] == 1  # one driver's entry, wiped once


def test_shard_crash_inside_a_partition_then_both_recover():
    """A matching | index partition (10-50 s) with a crash of geo-1 inside it (20-30 s). Rider 1 (5 s)
    takes driver A and leaves matching a copy of the cells; rider 2 (25 s) is matched from that copy:
    A, shown available, is offered first and declines (busy), then B; rider 3 (60 s), after both
    faults, is matched on fresh positions (at most one 4 s interval old): C, offered directly."""
    pos = "[[1.2, 0.25], [1.4, 0.25], [1.6, 0.25]]"
    req = "[{at: 5s, x_km: 1.0, y_km: 0.25}, {at: 25s, x_km: 1.0, y_km: 0.25}, {at: 60s, x_km: 1.0, y_km: 0.25}]"
    faults = ("[{type: partition, groups: [[matching], [geo-1, geo-2]], at: 10s, duration: 40s},"
              " {type: crash, target: geo-1, at: 20s, duration: 10s}]")
    f = figures(city(drivers=3, positions=pos, requests=req, offers=1, attempts=2, faults=faults))
    assert f["matched"] == 3 and f["offers"] == 4 and f["offers_declined"] == 1
    assert f["stale_cells_used"] > 0 and f["blind_cells"] == 0
    ages = sorted(f["position_age_s"][k] for k in ("p50", "max"))
    assert ages[-1] > 19.0  # rider 2: positions reported before 6 s, used after 25 s


def test_persistent_index_survives_a_short_crash():
    """geo-1 down 5-12 s; a rider at 12.001 s. In memory, the index is empty until the driver's next
    update: not matched. Persistent, its entry (reported before 5 s, younger than the 15 s ttl) is
    there: matched."""
    crash = "[{type: crash, target: geo-1, at: 5s, duration: 7s}]"
    req = "[{at: 12.001s, x_km: 1.5, y_km: 0.5}]"
    lost = figures(city(stale="false", requests=req, faults=crash))
    assert lost["matched"] == 0 and lost["unmatched_no_driver"] == 1
    text = textwrap.dedent(CITY).replace("query_time: 1ms}", "query_time: 1ms, persistent: true}")
    fmt = dict(duration="200s", drivers=1, positions="[[1.0, 0.5]]", requests=req, offers=3, attempts=1, accept=1,
               response="5s", stale="false", faults=crash)
    kept = figures(simulator.run(simulator.loads_scenario(text.format(**fmt))))
    assert kept["matched"] == 1


def test_matching_failover_to_the_next_region():
    """The west's matching service is down; a western rider fails, unless matching_failover sends the
    request on to the east's service, which then runs the whole ride (one more matching hop: 10 ms)."""
    base = CITY.replace("matching: [matching]", "matching: [matching, matching-east]{failover}").replace(
        "  geo-1: &shard", "  matching-east: {{type: server, workers: 4, service_time: 10ms}}\n  geo-1: &shard")
    fmt = dict(duration="200s", drivers=1, positions="[[1.0, 0.5]]", requests="[{at: 10s, x_km: 3.5, y_km: 0.5}]",
               offers=3, attempts=1, accept=1, response="5s", stale="true",
               faults="[{type: crash, target: matching, at: 5s, duration: 20s}]")
    down = figures(simulator.run(simulator.loads_scenario(textwrap.dedent(base).format(failover="", **fmt))))
    assert down["unmatched_matching_down"] == 1 and down["matched"] == 0
    over = figures(simulator.run(simulator.loads_scenario(
        textwrap.dedent(base).format(failover="\n    matching_failover: true", **fmt))))
    assert over["matching_failovers"] == 1 and over["matched"] == 1
    # The west refuses at once (0 s), 10 ms at the east's, the search widens to 5 km looking for 3
    # candidates (5 x 1 ms), 5 s to answer, 10 ms for the answer.
    assert over["time_to_match_s"]["max"] == pytest.approx(5.025, abs=1e-9)


def test_surge_prices_out_riders_where_demand_exceeds_supply():
    """Four riders in area x0y0 (SW) in the first minute, no driver there (supply counts as 1): at 60 s
    its multiplier becomes 1 + 0.5 x (4 - 1) = 2.5, so with price_sensitivity 1 a rider there at 70 s
    (drop chance 1 x 1.5, above 1) does not ask. The next minute has one request (that rider), one
    supply at most: back to 1."""
    text = textwrap.dedent(CITY).replace("price_sensitivity: 0}", "price_sensitivity: 1}")
    req = ("[{at: 10s, x_km: 0.5, y_km: 0.5}, {at: 11s, x_km: 0.6, y_km: 0.5}, {at: 12s, x_km: 0.7, y_km: 0.5},"
           " {at: 13s, x_km: 0.8, y_km: 0.5}, {at: 70s, x_km: 0.5, y_km: 0.6}]")
    fmt = dict(duration="200s", drivers=1, positions="[[7.5, 7.5]]", requests=req, offers=3, attempts=1, accept=1,
               response="5s", stale="true", faults="[]")
    f = figures(simulator.run(simulator.loads_scenario(text.format(**fmt))))
    assert f["priced_out"] == 1 and f["ride_requests"] == 4 and f["unmatched_no_driver"] == 4
    surge = dict(zip(f["surge"]["labels"], f["surge"]["max"]))
    assert surge["x0y0"] == 2.5 and max(v for k, v in surge.items() if k != "x0y0") == 1.0


def test_matching_crash_during_an_offer_round_loses_the_ride():
    """Matching takes the request at 10 s and crashes at 12 s, during the offer round: the driver's
    answer (at ~15 s) is refused, the round times out at ~40 s, and the service, still down, has lost
    the ride: unmatched_matching_down, not a decline."""
    f = figures(city(attempts=2, faults="[{type: crash, target: matching, at: 12s, duration: 60s}]"))
    assert f["matched"] == 0 and f["unmatched_matching_down"] == 1 and f["unmatched_declined"] == 0
    assert f["offers"] == 1 and f["offers_timed_out"] == 1


def test_cli_runs_a_small_city_with_overrides():
    """`dsim run` at a smaller scale (fewer drivers, shorter): the city's figures in the JSON summary."""
    import json

    from click.testing import CliRunner

    from cli import main

    r = CliRunner().invoke(main, ["run", "scenarios/uber.yaml", "--duration", "600s", "--format", "json",
                                  "--set", "components.city.drivers=80", "--set", "components.city.placement=range"])
    assert r.exit_code == 0, r.output
    city = json.loads(r.output[r.output.index("{"):])["components"]["city"]
    assert city["app"] is True and city["metrics"]["ride_requests"] > 0
    assert city["metrics"]["location_writes_failed"] > 0  # F1 (400-520 s) is inside the 600 s


def test_the_committed_study_runs(tmp_path):
    """The scenario's `compare:` section (offers 1 vs 3) names figures that exist: a short version of
    it runs (1 replication, 400 s) and reports each of its metrics for both variants."""
    import json

    from click.testing import CliRunner

    from cli import main

    r = CliRunner().invoke(main, ["compare", "scenarios/uber.yaml", "--replications", "1", "--duration", "400s",
                                  "--warmup", "100s", "--workers", "1", "--no-cache", "--format", "json"])
    assert r.exit_code == 0, r.output
    text = r.output[r.output.index("{"):]
    assert "match_rate" in text and "offers_per_match" in text
    json.loads(text)
