"""The fault types load_spike, error, duplicate, latency distributions and the chaos generator, from the
outside (whole runs, fixed seeds), with the faults they overlap; `--fault` on the command line; bad input.

Statistical tolerances are 4 standard deviations of the figure under the stated model (the derivation
is next to each), so a correct implementation fails with probability < 1e-4 per check, and the
seeds are fixed, so the suite is deterministic.
"""
from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator
from cli import main
from simulator.engine.request import ERROR, OK
from simulator.simulation.runner import schedule_faults
from tests.helpers import assert_bad

ONE_SERVER = """
name: one
seed: 3
duration: {duration}
warmup: 0s
components:
  app: {{type: server, workers: 64, service_time: 1ms}}
workloads:
  web: {{arrivals: {arrivals}, target: app}}
faults: [{faults}]
"""


def run(arrivals="poisson(rate=50/s)", faults="", duration="100s", seed=3):
    sc = simulator.loads_scenario(ONE_SERVER.format(arrivals=arrivals, faults=faults, duration=duration))
    return simulator.run(sc, seed=seed)


# --- load_spike -----------------------------------------------------------------------------------
def _time_changed(windows: list[tuple[float, float, float]], rate: float, end: float) -> list[float]:
    """Arrival times of constant arrivals at `rate` whose clock runs f times faster inside each
    window (factors of overlapping windows multiply): the k-th arrival is where the operational time
    integral of the product of the active factors reaches k / rate. Exact, in fractions."""
    edges = sorted({Fraction(0), Fraction(end)} | {Fraction(a) for a, _b, _f in windows}
                   | {Fraction(b) for _a, b, _f in windows})
    out, tau, k = [], Fraction(0), 1
    for lo, hi in zip(edges, edges[1:]):
        f = math.prod(Fraction(fa) for a, b, fa in windows if a <= lo and hi <= b)
        while tau + (hi - lo) * f >= Fraction(k) / Fraction(rate):
            t = lo + (Fraction(k) / Fraction(rate) - tau) / f
            if t >= end:
                return out
            out.append(float(t))
            k += 1
        tau += (hi - lo) * f
    return out


def test_load_spike_of_constant_arrivals_is_exact_and_overlapping_spikes_multiply():
    # x2 from 10.5s to 20.5s, x3 from 15.5s to 30.5s (x6 where they overlap).
    faults = ("{type: load_spike, target: web, factor: 2, at: 10.5s, duration: 10s}, "
              "{type: load_spike, target: web, factor: 3, at: 15.5s, duration: 15s}")
    res = run("constant(rate=1/s)", faults, duration="40s")
    got = np.sort(res.columns["start"])
    want = _time_changed([(10.5, 20.5, 2), (15.5, 30.5, 3)], 1.0, 40.0)
    assert len(got) == len(want) == 10 + 2 * 5 + 6 * 5 + 3 * 10 + 10 - 1
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_load_spike_with_an_error_fault_and_a_crash_inside_its_window():
    # x2 from 10.5s to 20.5s: arrivals every 0.5s (10.75, 11.25, ...); errors 12.5-14.5 fail 4 of
    # them; a crash 16.6-17.6 refuses 2 (16.75, 17.25). Nothing else fails.
    faults = ("{type: load_spike, target: web, factor: 2, at: 10.5s, duration: 10s}, "
              "{type: error, target: app, probability: 100%, at: 12.5s, duration: 2s}, "
              "{type: crash, target: app, at: 16.6s, duration: 1s}")
    res = run("constant(rate=1/s)", faults, duration="30s")
    c = res.columns
    failed = np.sort(c["start"][c["outcome"] == ERROR])
    np.testing.assert_allclose(failed, [12.75, 13.25, 13.75, 14.25, 16.75, 17.25], atol=1e-9)
    assert (c["outcome"] == OK).sum() == len(c["start"]) - 6


def test_load_spike_of_poisson_arrivals_keeps_the_base_draws():
    # x3 from 40s to 60s. Outside the window the spiked run replays the base run's draws: before it
    # the same times; after it, the times of the base run shifted by the 2 x 20s = 40s of extra
    # operational time (gaps are divided by the factor, none is drawn again).
    base = run("poisson(rate=20/s)", "", duration="140s").columns["start"]
    spiked = run("poisson(rate=20/s)", "{type: load_spike, target: web, factor: 3, at: 40s, duration: 20s}",
                 duration="100s").columns["start"]
    np.testing.assert_array_equal(spiked[spiked < 40], base[base < 40])
    np.testing.assert_allclose(spiked[spiked > 60] + 40, base[(base > 100) & (base < 140)], rtol=0, atol=1e-9)
    # Inside: Poisson with mean 3 x 20/s x 20s = 1200, sd sqrt(1200) = 34.6: within 4 sd = 139.
    inside = ((spiked >= 40) & (spiked < 60)).sum()
    assert abs(inside - 1200) < 139


def test_load_spike_of_diurnal_arrivals_multiplies_the_rate_curve():
    # rate(t) = 40 (1 + 0.5 cos(2 pi (t - 50) / 100)); x2.5 from 20s to 70s, x0.5 from 60s to 90s.
    arrivals = "diurnal(rate=40/s, amplitude=0.5, period=100s, peak=50s)"
    faults = ("{type: load_spike, target: web, factor: 2.5, at: 20s, duration: 50s}, "
              "{type: load_spike, target: web, factor: 0.5, at: 60s, duration: 30s}")
    starts = run(arrivals, faults, duration="100s", seed=5).columns["start"]

    def expected(a, b, f):  # f x the integral of the rate from a to b
        w = 2 * math.pi / 100
        return f * 40 * ((b - a) + 0.5 / w * (math.sin(w * (b - 50)) - math.sin(w * (a - 50))))

    for a, b, f in [(0, 20, 1), (20, 60, 2.5), (60, 70, 1.25), (70, 90, 0.5), (90, 100, 1)]:
        n = ((starts >= a) & (starts < b)).sum()
        mean = expected(a, b, f)
        assert abs(n - mean) < 4 * math.sqrt(mean), (a, b, n, mean)  # Poisson counts: sd = sqrt(mean)


# --- error ------------------------------------------------------------------------------------------
def test_overlapping_error_faults_fail_independently():
    # 30% for the whole run, 20% from 50s to 150s: 1 - 0.7 x 0.8 = 44% in between.
    faults = ("{type: error, target: app, probability: 30%, at: 0s}, "
              "{type: error, target: app, probability: 20%, at: 50s, duration: 100s}")
    c = run("poisson(rate=50/s)", faults, duration="200s").columns
    for (a, b), p in [((0, 50), 0.3), ((50, 150), 0.44), ((150, 200), 0.3)]:
        sel = (c["start"] >= a) & (c["start"] < b)
        n = sel.sum()
        share = (c["outcome"][sel] == ERROR).mean()
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n), (a, b, share, p)  # binomial share


def test_error_draws_do_not_disturb_other_streams():
    # The error fault draws from app/error only: the arrivals are the same as without it.
    base = run("poisson(rate=50/s)", "", duration="30s").columns["start"]
    with_errors = run("poisson(rate=50/s)", "{type: error, target: app, probability: 50%, at: 10s}",
                      duration="30s").columns["start"]
    np.testing.assert_array_equal(base, with_errors)


# --- duplicate ----------------------------------------------------------------------------------------
QUEUE = """
name: q
seed: 2
duration: 200s
warmup: 0s
components:
  api: {type: server, workers: 16, service_time: 1ms, calls: [orders]}
  orders:
    type: queue
    partitions: 2
    ack: on_enqueue
    consumer_groups:
      billing: {workers: 2, process_time: 1ms}
workloads:
  shoppers: {arrivals: poisson(rate=50/s), target: api}
faults:
  - {type: duplicate, groups: [[api], [orders]], probability: 20%, at: 0s}
  - {type: duplicate, groups: [[api], [orders]], probability: 25%, at: 100s}
  - {type: crash, target: api, at: 150s, duration: 5s}
"""


def test_duplicates_reach_the_queue_and_the_caller_gets_one_reply():
    res = simulator.run(simulator.loads_scenario(QUEUE))
    c = res.columns
    forwarded = int(((c["outcome"] == OK)).sum())  # every request api served made one call to orders
    assert int((c["outcome"] == ERROR).sum()) > 0  # the crash did reach it
    produced = res.component_stats["orders"]["produced"]
    first = int(((c["start"] < 100) & (c["outcome"] == OK)).sum())
    second = forwarded - first
    # Extra messages: Binomial(first, 0.2) + Binomial(second, 1 - 0.8 x 0.75 = 0.4).
    mean = 0.2 * first + 0.4 * second
    sd = math.sqrt(0.2 * 0.8 * first + 0.4 * 0.6 * second)
    assert abs((produced - forwarded) - mean) < 4 * sd, (produced, forwarded, mean)
    # One reply each: conservation holds.
    r = res.summary["requests"]
    assert r["generated"] == r["ok"] + r["rejected"] + r["timed_out"] + r["errors"] + r["in_flight"]


# --- latency drawn from a distribution ----------------------------------------------------------------
def test_latency_distribution_adds_its_mean_both_ways_and_stacks():
    # exponential(mean=50ms) each way from 0 to 100s, + 20ms constant each way from 50s to 100s.
    faults = ("{type: latency, groups: [[web], [app]], add: exponential(mean=50ms), at: 0s, duration: 100s}, "
              "{type: latency, groups: [[web], [app]], add: 20ms, at: 50s, duration: 50s}")
    c = run("poisson(rate=40/s)", faults, duration="120s").columns
    lat = c["end"] - c["start"]
    for (a, b), want in [((0, 49.5), 0.102), ((50, 99.5), 0.142), ((100, 119), 0.001)]:
        sel = (c["start"] >= a) & (c["start"] < b)
        got = lat[sel].mean()
        # Two exponential draws of sd 50ms: sd of the sum sqrt(2) x 50ms; of the mean of n, / sqrt(n).
        tol = 4 * math.sqrt(2) * 0.05 / math.sqrt(sel.sum()) + 1e-9
        assert abs(got - want) < tol, (a, b, got, want)


# --- chaos ----------------------------------------------------------------------------------------------
CHAOS = """
name: chaos
seed: 4
duration: 20000s
components:
  app: {type: server, workers: 2, service_time: 10ms, replicas: 2}
  db: {type: server, workers: 2, service_time: 10ms}
workloads:
  web: {arrivals: poisson(rate=1/s), target: app}
faults:
  - {type: crash, target: db, at: 100s, duration: 50s}
  - {type: chaos, target: [app], mtbf: exponential(mean=20s), mttr: 2s, at: 1000s}
  - {type: crash, target: app, at: 1200s, duration: 30s}
  - {type: chaos, target: db, fault: {type: slow, factor: 4}, mtbf: 100s, mttr: 10s, duration: 500s}
"""


def _drawn(seed: int) -> list[tuple[str, str, float, float]]:
    env, system = simulator.build(simulator.loads_scenario(CHAOS), seed)
    return [(f.type, ",".join(f.target), f.at, f.duration) for f in system.faults]


def test_chaos_draws_reproducible_faults_per_member():
    drawn = _drawn(4)
    assert drawn == _drawn(4) and drawn != _drawn(5)
    assert drawn[0] == ("crash", "db", 100.0, 50.0)  # the declared fault stays where it was
    # the slow generator: constant 100s up, 10s down, starting at 0 within its 500s: at 100, 210, 320, 430.
    assert [d for d in drawn if d[0] == "slow"] == [("slow", "db", t, 10.0) for t in (100.0, 210.0, 320.0, 430.0)]
    for member in ("app[1]", "app[2]"):
        ups = [d for d in drawn if d[1] == member]
        assert all(d[0] == "crash" and d[3] == 2.0 for d in ups)
        assert ups[0][2] > 1000 and all(b[2] >= a[2] + 2.0 for a, b in zip(ups, ups[1:]))
        # A renewal process of cycles mean 22s, var 400 s^2 over 19000s: count mean 19000/22 = 864,
        # variance 19000 x 400 / 22^3 = 714 (sd 26.7).
        assert abs(len(ups) - 19000 / 22) < 4 * 26.7, len(ups)


def test_chaos_faults_reach_the_run_and_overlap_declared_ones():
    sc = simulator.loads_scenario(CHAOS.replace("20000s", "1500s"))
    env, system = simulator.build(sc, 4)
    windows = schedule_faults(env, system)
    assert len(windows) == len(system.faults)
    app1, db = system.get("app[1]"), system.get("db")
    crashes = [(f.at, f.at + f.duration) for f in system.faults if f.target in (["app[1]"], ["app"])]
    slow = [(f.at, f.at + f.duration) for f in system.faults if f.type == "slow"]
    assert (1200.0, 1230.0) in crashes and slow[0] == (100.0, 110.0)  # drawn inside the declared db crash
    for t in np.arange(0.3, 1500, 0.75):  # never on a whole second (where the constant windows change)
        env.run(until=float(t))
        # app[1]: down while a drawn or the declared crash holds it (they overlap around 1200-1230).
        assert app1.down == any(a < t < b for a, b in crashes), t
        # db: the declared crash (100-150) and the drawn slow windows compose.
        assert db.down == (100 < t < 150) and db.slowdown == (4.0 if any(a < t < b for a, b in slow) else 1.0), t
    res = simulator.run(sc, seed=4)
    assert len(res.fault_windows) == len(system.faults)


# --- the command line -----------------------------------------------------------------------------
def test_fault_on_the_command_line_is_the_same_as_in_yaml(tmp_path):
    text = ONE_SERVER.format(arrivals="poisson(rate=20/s)", faults="", duration="60s")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    runner = CliRunner()
    cli = runner.invoke(main, ["run", str(path), "--format", "json", "-q",
                               "--fault", "crash app at 10s for 5s",
                               "--fault", "load_spike web at 20s for 10s factor=3",
                               "--fault", "latency web|app at 30s for 10s add=exponential(mean=20ms)"])
    assert cli.exit_code == 0, cli.output
    yaml_faults = ("{type: crash, target: app, at: 10s, duration: 5s}, "
                   "{type: load_spike, target: web, factor: 3, at: 20s, duration: 10s}, "
                   "{type: latency, groups: [[web], [app]], add: exponential(mean=20ms), at: 30s, duration: 10s}")
    path.write_text(ONE_SERVER.format(arrivals="poisson(rate=20/s)", faults=yaml_faults, duration="60s"))
    same = runner.invoke(main, ["run", str(path), "--format", "json", "-q"])
    assert same.exit_code == 0, same.output
    assert json.loads(cli.output)["requests"] == json.loads(same.output)["requests"]
    assert [f["description"] for f in json.loads(cli.output)["faults"]] == [
        "crash app", "load spike x3 web", "latency +exponential(mean=20ms) web | app"]


def test_fault_on_compare(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(ONE_SERVER.format(arrivals="poisson(rate=20/s)", faults="", duration="20s"))
    out = CliRunner().invoke(main, ["compare", str(path), "--vary", "components.app.workers=1,2", "-r", "1",
                                    "--workers", "1", "--no-cache", "--format", "json",
                                    "--fault", "error app at 5s for 5s probability=100%"])
    assert out.exit_code == 0, out.output
    assert "error" in out.output


@pytest.mark.parametrize("text, fragments", [
    ("crash", ["expected <type> <targets> at <time>"]),
    ("crsh app at 1s", ["unknown fault type 'crsh'", "did you mean 'crash'"]),
    ("crash app-9 at 1s", ["--fault 'crash app-9 at 1s'", "unknown component 'app-9'"]),
    ("crash app at", ["'at' needs a time"]),
    ("crash app at 1s soon", ["unexpected 'soon'"]),
    ("crash app at tomorrow", ["--fault 'crash app at tomorrow'", "at"]),
    ("error app at 1s probability=150%", ["probability", "between 0 and 1"]),
    ("load_spike app at 1s factor=2", ["unknown workload 'app'"]),
    ("crash app at 1s target=db", ["'target' is given twice"]),
    ('crash "app at 1s', ["No closing quotation"]),
])
def test_bad_fault_strings_are_one_line_and_exit_2(tmp_path, text, fragments):
    path = tmp_path / "s.yaml"
    path.write_text(ONE_SERVER.format(arrivals="poisson(rate=20/s)", faults="", duration="20s"))
    out = CliRunner().invoke(main, ["run", str(path), "--fault", text])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output and out.output.startswith("error: ")
    assert len(out.output.strip().splitlines()) == 1, out.output
    for frag in fragments:
        assert frag in out.output, (frag, out.output)


def test_dsim_list_faults_lists_the_new_types():
    out = CliRunner().invoke(main, ["list", "faults"])
    assert out.exit_code == 0
    for name in ("error", "duplicate", "load_spike", "cache_flush", "clock_skew", "chaos", "partition"):
        assert name in out.output


# --- bad input in YAML ------------------------------------------------------------------------------------
GOOD = """\
name: ok
duration: 100s
components:
  app: {type: server, workers: 2, service_time: 10ms}
  c: {type: cache, capacity: 10, backing: app}
workloads:
  web: {arrivals: poisson(rate=10/s), target: c}
  users: {users: 5, target: app}
faults:
"""


@pytest.mark.parametrize("fault, fragments", [
    ("{type: error, target: app, probability: 150%, at: 1s}", ["faults[0].probability", "between 0 and 1"]),
    ("{type: duplicate, groups: [[web], [c]], probability: 1.5, at: 1s}", ["faults[0].probability"]),
    ("{type: error, target: ap, probability: 10%, at: 1s}", ["unknown component 'ap'", "did you mean 'app'"]),
    ("{type: load_spike, target: users, factor: 2, at: 1s}", ["faults[0].target[0]", "closed loop"]),
    ("{type: load_spike, target: web, factor: 0, at: 1s}", ["faults[0].factor"]),
    ("{type: load_spike, target: wbe, factor: 2, at: 1s}", ["unknown workload 'wbe'"]),
    ("{type: cache_flush, target: c, at: 1s, duration: 5s}", ["at an instant"]),
    ("{type: cache_flush, target: app, at: 1s}", ["faults[0].target[0]", "not a cache"]),
    ("{type: clock_skew, target: c, at: 1s}", ["needs an 'offset' or a 'drift'"]),
    ("{type: clock_skew, target: c, drift: 2, at: 1s}", ["faults[0].drift"]),
    ("{type: partition, groups: [[web], [app]], bridge: [app], at: 1s}", ["faults[0].bridge[0]", "in a group"]),
    ("{type: partition, groups: [[web], [app]], bridge: [cc], at: 1s}", ["unknown component, workload or zone 'cc'"]),
    ("{type: latency, groups: [[web], [app]], add: fast, at: 1s}", ["faults[0].add", "exponential(mean=50ms)"]),
    ("{type: latency, groups: [[web], [app]], add: exponential(mean=-1s), at: 1s}", ["faults[0].add"]),
    ("{type: chaos, target: app, mtbf: 0s, mttr: 1s}", ["'mtbf' must have a positive mean"]),
    ("{type: chaos, target: app, fault: crsh, mtbf: 10s, mttr: 1s}", ["unknown fault type 'crsh'"]),
    ("{type: chaos, target: app, fault: partition, mtbf: 10s, mttr: 1s}", ["must be a node fault"]),
    ("{type: chaos, target: app, fault: load_spike, mtbf: 10s, mttr: 1s}", ["must be a node fault"]),
    ("{type: chaos, target: app, fault: {type: slow}, mtbf: 10s, mttr: 1s}", ["factor"]),
    ("{type: chaos, target: ap, mtbf: 10s, mttr: 1s}", ["unknown component 'ap'"]),
])
def test_bad_faults_are_refused_with_one_located_line(tmp_path, fault, fragments):
    out = assert_bad(tmp_path, GOOD + f"  - {fault}\n", *fragments)
    assert len(out.strip().splitlines()) == 1, out


# --- composition: the new kinds with the old ----------------------------------------------------------------
COMPOSE = """
name: compose
duration: 100s
components:
  app: {{type: server, workers: 2, service_time: 10ms, zone: dc}}
workloads:
  clients: {{arrivals: poisson(rate=5/s), target: app, zone: edge}}
faults: [{faults}]
"""
KINDS = st.sampled_from(["crash", "slow", "error", "clock_skew", "load_spike", "partition", "packet_loss",
                         "duplicate", "latency_dist"])


@st.composite
def fault(draw):
    kind = draw(KINDS)
    at, length = draw(st.integers(0, 80)), draw(st.integers(1, 40))
    head = f"at: {at}s, duration: {length}s"
    value = draw(st.sampled_from([0.25, 0.5, 2.0]))
    text = {
        "crash": f"{{type: crash, target: app, {head}}}",
        "slow": f"{{type: slow, target: app, factor: {value + 1}, {head}}}",
        "error": f"{{type: error, target: app, probability: {value / 2}, {head}}}",
        "clock_skew": f"{{type: clock_skew, target: app, offset: {value}s, drift: {value / 10}, {head}}}",
        "load_spike": f"{{type: load_spike, target: clients, factor: {value}, {head}}}",
        "partition": f"{{type: partition, groups: [[edge], [dc]], {head}}}",
        "packet_loss": f"{{type: packet_loss, groups: [[clients], [app]], probability: {value / 2}, {head}}}",
        "duplicate": f"{{type: duplicate, groups: [[clients], [dc]], probability: {value / 2}, {head}}}",
        "latency_dist": f"{{type: latency, groups: [[edge], [app]], add: exponential(mean={value}s), {head}}}",
    }[kind]
    return kind, value, (at, at + length), text


@settings(max_examples=25, deadline=None)
@given(st.lists(fault(), min_size=1, max_size=6))
def test_state_is_the_combination_of_the_active_faults(faults):
    sc = simulator.loads_scenario(COMPOSE.format(faults=", ".join(f[3] for f in faults)))
    env, system = simulator.build(sc)
    schedule_faults(env, system)
    for wl in system.workloads:
        wl.start()
    app, wl = system.get("app"), system.workloads[0]
    link = wl.link
    for t in [x + 0.5 for x in range(0, 100, 3)]:
        env.run(until=t)
        on = [(k, v, w) for k, v, w, _ in faults if w[0] < t < w[1]]
        assert app.down == any(k == "crash" for k, _v, _w in on)
        assert math.isclose(app.slowdown, math.prod(v + 1 for k, v, _w in on if k == "slow"), rel_tol=1e-12)
        assert math.isclose(app.error_p, 1 - math.prod(1 - v / 2 for k, v, _w in on if k == "error"), abs_tol=1e-12)
        skewed = t + sum(v + v / 10 * (t - w[0]) for k, v, w in on if k == "clock_skew")
        assert math.isclose(app.clock(), skewed, rel_tol=1e-12), (t, app.clock(), skewed)
        assert math.isclose(wl.rate_factor, math.prod(v for k, v, _w in on if k == "load_spike"), rel_tol=1e-12)
        assert link.cut == any(k == "partition" for k, _v, _w in on)
        assert math.isclose(link.loss, 1 - math.prod(1 - v / 2 for k, v, _w in on if k == "packet_loss"), abs_tol=1e-12)
        assert math.isclose(link.dup, 1 - math.prod(1 - v / 2 for k, v, _w in on if k == "duplicate"), abs_tol=1e-12)
        assert len(link.jitter) == len(link.jitter_back) == sum(k == "latency_dist" for k, _v, _w in on)
    if max(f[2][1] for f in faults) < 99:  # after the last window: exactly the identity
        assert (app.down, app.slowdown, app.error_p, app.skew, wl.rate_factor, link.cut, link.loss, link.dup,
                link.jitter) == (False, 1.0, 0.0, None, 1.0, False, 0.0, 0.0, ())
        assert app.clock() == env.now


# --- cache_flush in a whole run --------------------------------------------------------------------------
def test_cache_flush_is_an_instant_event_of_the_run_not_a_window():
    sc = simulator.loads_scenario("""
name: flush
seed: 1
duration: 60s
warmup: 0s
components:
  c: {type: cache, capacity: 1000, backing: db}
  db: {type: server, workers: 4, service_time: 5ms}
workloads:
  web: {arrivals: poisson(rate=100/s), target: c, keys: uniform(n=50)}
faults:
  - {type: cache_flush, target: c, at: 30s}
  - {type: crash, target: db, at: 40s, duration: 5s}
""")
    res = simulator.run(sc)
    assert [w["type"] for w in res.fault_windows] == ["crash"]
    assert res.events == [{"at_s": 30.0, "kind": "cache_flush", "component": "c", "description": "c: cache flush"}]
    assert res.component_stats["c"]["flushed_keys"] == 50  # every key was cached by then
    # Each key misses when cold and once more after the flush (the db crash comes later, when every key
    # is cached again: no misses then); a few more when a second lookup of a key comes within the 5 ms
    # of its fetch (cache_aside does not coalesce).
    misses = res.component_stats["c"]["misses"]
    assert 100 <= misses <= 110, misses


def test_the_pre_run_estimate_counts_load_spikes(tmp_path):
    from simulator.simulation.limits import estimate_run

    # 50/s for 100s, x2 from 10s to 30s, x3 from 20s to the end: 50 x (10 + 10 x 2 + 10 x 6 + 70 x 3).
    faults = ("{type: load_spike, target: web, factor: 2, at: 10s, duration: 20s}, "
              "{type: load_spike, target: web, factor: 3, at: 20s}")
    sc = simulator.loads_scenario(ONE_SERVER.format(arrivals="poisson(rate=50/s)", faults=faults, duration="100s"))
    _env, system = simulator.build(sc)
    assert estimate_run(system).requests == pytest.approx(50 * (10 + 20 + 60 + 210))
    path = tmp_path / "s.yaml"
    path.write_text(ONE_SERVER.format(arrivals="poisson(rate=50/s)", faults="", duration="100s"))
    out = CliRunner().invoke(main, ["run", str(path), "--fault", "load_spike web at 1s factor=1000000"])
    assert out.exit_code == 2 and "requests" in out.output and "--max-requests" in out.output
