"""The fault impact table (simulator/results/impact.py, reports/impact_table.py): exact figures on
hand-made records, then what real scenarios show (a metastable failure and its cure)."""
import io

import numpy as np
import pytest
from rich.console import Console

import simulator
from reports.impact_table import impact_tables
from reports.layout import print_fitted
from simulator.engine.request import ERROR, OK, TIMED_OUT
from simulator.results.impact import fault_impact


def _records(until=100.0, step=0.01, latency=lambda t: 0.1, outcome=lambda t: OK):
    """One request finishing every `step` seconds, at x.005 (never on a bucket edge), with the given
    latency and outcome as functions of its finish time."""
    end = np.arange(step / 2, until, step)
    lat = np.array([latency(t) for t in end])
    out = np.array([outcome(t) for t in end], dtype=np.int8)
    return {"start": end - lat, "end": end, "outcome": out}


def _fault(start, end, description="crash x"):
    return {"type": "crash", "start_s": start, "end_s": end, "description": description}


def _impact(records, faults, warmup=0.0, duration=100.0, bucket=1.0, exact=True):
    return fault_impact([records], faults, warmup, duration, bucket, exact=exact)


def test_a_step_in_errors_gives_exact_figures_and_recovery_time():
    # Fault 40-50 s; every request finishing in 40-55 s fails after 1 s; the rest succeed in 100 ms.
    rec = _records(latency=lambda t: 1.0 if 40 <= t < 55 else 0.1,
                   outcome=lambda t: ERROR if 40 <= t < 55 else OK)
    (f,) = _impact(rec, [_fault(40.0, 50.0)])
    # L = max(10 s of fault, 10 buckets of 1 s) = 10 s: before [30, 40), after [50, 60).
    assert (f["before"]["from_s"], f["before"]["to_s"]) == (30.0, 40.0)
    assert f["before"]["requests"] == 1000 and f["before"]["error_rate"] == 0.0
    assert f["before"]["p99_s"] == pytest.approx(0.1) and f["before"]["goodput_rps"] == pytest.approx(100.0)
    assert f["during"]["requests"] == 1000 and f["during"]["error_rate"] == 1.0
    assert f["during"]["p99_s"] == pytest.approx(1.0) and f["during"]["goodput_rps"] == 0.0
    assert (f["after"]["from_s"], f["after"]["to_s"]) == (50.0, 60.0)
    assert f["after"]["error_rate"] == pytest.approx(0.5)  # 50-55 s failing, 55-60 s ok
    assert f["after"]["goodput_rps"] == pytest.approx(50.0)
    # Buckets [50,51) … [54,55) fail; from 55 s every bucket is healthy: recovered 5 s after the end.
    assert f["recovery"] == {"status": "recovered", "recovery_s": 5.0}
    assert f["fault"] == "F1" and f["description"] == "crash x"


def test_latency_alone_delays_recovery_until_p99_is_within_one_and_a_half_times_the_baseline():
    # No error at all; after the fault p99 decays: 300 ms until 53 s, 140 ms (< 1.5 x 100 ms) after.
    rec = _records(latency=lambda t: 0.3 if 40 <= t < 53 else 0.14 if 53 <= t < 70 else 0.1)
    (f,) = _impact(rec, [_fault(40.0, 50.0)])
    assert f["during"]["error_rate"] == 0.0 and f["during"]["p99_s"] == pytest.approx(0.3)
    assert f["recovery"] == {"status": "recovered", "recovery_s": 3.0}
    # 160 ms is above 1.5 x 100 ms: not recovered until the latency falls back at 70 s.
    rec = _records(latency=lambda t: 0.3 if 40 <= t < 53 else 0.16 if 53 <= t < 70 else 0.1)
    (f,) = _impact(rec, [_fault(40.0, 50.0)])
    assert f["recovery"] == {"status": "recovered", "recovery_s": 20.0}


def test_error_tolerance_is_one_point_or_double_the_baseline():
    # Baseline: every 100th request fails (1%); after the fault 1.9% fail: within 1% + max(1%, 1%).
    base = lambda t: ERROR if round(t * 100 - 0.5) % 100 == 0 else OK
    after = lambda t: ERROR if round(t * 100 - 0.5) % 100 in (0, 50) else OK  # 2% : exactly at the limit
    rec = _records(outcome=lambda t: ERROR if 40 <= t < 50 else after(t) if t >= 50 else base(t))
    (f,) = _impact(rec, [_fault(40.0, 50.0)])
    assert f["before"]["error_rate"] == pytest.approx(0.01)
    assert f["recovery"] == {"status": "recovered", "recovery_s": 0.0}
    worse = lambda t: ERROR if round(t * 100 - 0.5) % 100 in (0, 25, 50) else OK  # 3%: above 2%
    rec = _records(outcome=lambda t: ERROR if 40 <= t < 50 else worse(t) if t >= 50 else base(t))
    (f,) = _impact(rec, [_fault(40.0, 50.0)])
    assert f["recovery"]["status"] == "did_not_recover"


def test_a_metastable_failure_does_not_recover_and_one_healthy_blip_is_not_recovery():
    # Errors never stop after the fault, except two isolated healthy seconds (fewer than 3 in a row).
    rec = _records(outcome=lambda t: OK if t < 40 or 60 <= t < 62 or 70 <= t < 71 else TIMED_OUT)
    (f,) = _impact(rec, [_fault(40.0, 42.0)])
    assert f["recovery"] == {"status": "did_not_recover", "recovery_s": None}
    # Three healthy seconds in a row are enough: 60-63 s.
    rec = _records(outcome=lambda t: OK if t < 40 or 60 <= t < 63 else TIMED_OUT)
    (f,) = _impact(rec, [_fault(40.0, 42.0)])
    assert f["recovery"] == {"status": "recovered", "recovery_s": 18.0}


def test_overlapping_faults_share_the_baseline_before_both_and_the_first_is_interrupted():
    rec = _records(outcome=lambda t: ERROR if 40 <= t < 60 else OK)
    f1, f2 = _impact(rec, [_fault(40.0, 50.0), _fault(45.0, 60.0, "partition")])
    # F2 starts while F1 holds: its baseline is the quiet time before F1, 15 s long (its duration).
    assert (f2["before"]["from_s"], f2["before"]["to_s"]) == (25.0, 40.0)
    assert f2["before"]["error_rate"] == 0.0
    assert f1["recovery"] == {"status": "interrupted", "recovery_s": None, "by": "F2"}
    assert f2["recovery"] == {"status": "recovered", "recovery_s": 0.0}
    # A later fault that starts before recovery is confirmed also interrupts; its baseline stops at
    # the end of the earlier fault (it never reaches back into it).
    rec = _records(outcome=lambda t: ERROR if 40 <= t < 52 or 60 <= t < 65 else OK)
    f1, f2 = _impact(rec, [_fault(40.0, 50.0), _fault(56.0, 60.0)])
    # Healthy from 52 s, confirmed by 52-55 s, before F2 starts at 56 s.
    assert f1["recovery"] == {"status": "recovered", "recovery_s": 2.0}
    assert (f2["before"]["from_s"], f2["before"]["to_s"]) == (50.0, 56.0)
    # F2 at 54 s: the three healthy buckets 52-55 s reach into it, so F1's recovery is not confirmed.
    f1, f2 = _impact(rec, [_fault(40.0, 50.0), _fault(54.0, 60.0)])
    assert f1["recovery"] == {"status": "interrupted", "recovery_s": None, "by": "F2"}


def test_edge_cases_no_baseline_lasts_to_end_and_sketch_agrees():
    rec = _records(outcome=lambda t: ERROR if t >= 40 else OK)
    (f,) = _impact(rec, [_fault(40.0, 100.0)])
    assert f["after"] is None and f["recovery"]["status"] == "lasts_to_end"
    (f,) = _impact(rec, [_fault(40.0, 50.0)], warmup=39.5)  # half a bucket of baseline
    assert f["before"] is None and f["recovery"]["status"] == "no_baseline"
    # The sketch (runs too long for memory) reads p99 within its 0.5% relative error.
    rec = _records(latency=lambda t: 0.05 + (t % 1) / 10, outcome=lambda t: ERROR if 40 <= t < 50 else OK)
    exact, = _impact(rec, [_fault(40.0, 50.0)])
    approx, = _impact(rec, [_fault(40.0, 50.0)], exact=False)
    for phase in ("before", "during", "after"):
        assert approx[phase]["p99_s"] == pytest.approx(exact[phase]["p99_s"], rel=0.005)
        assert approx[phase]["error_rate"] == exact[phase]["error_rate"]
    assert approx["recovery"] == exact["recovery"]


def _console(width=80):
    return Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)


@pytest.fixture(scope="module")
def storm():
    scenario = simulator.load_scenario("scenarios/retry-storm.yaml", overrides=["duration=60s"])
    budget = simulator.load_scenario("scenarios/retry-storm.yaml", overrides=[
        "duration=60s", "workloads.web.resilience.retry.budget={ratio: 10%, min_per_s: 10/s, window: 10s}"])
    return simulator.run(scenario).summary, simulator.run(budget).summary


def test_retry_storm_does_not_recover_and_a_retry_budget_does(storm):
    naive, budget = storm
    (f,) = naive["fault_impact"]["faults"]
    assert f["fault"] == "F1" and f["before"]["error_rate"] == 0.0
    assert f["after"]["error_rate"] > 0.9  # stuck: nearly every request fails long after the pause
    # Amplification: one attempt per request before; every request that finished in the pause used
    # all 4 attempts (it timed out 4 x 200 ms); after it many are rejected at once (not retried).
    assert f["before"]["attempts_per_request"] == 1.0 and f["during"]["attempts_per_request"] == 4.0
    assert f["after"]["attempts_per_request"] > 1.5
    assert f["recovery"]["status"] == "did_not_recover"
    (g,) = budget["fault_impact"]["faults"]
    assert g["recovery"]["status"] == "recovered"
    assert 0 < g["recovery"]["recovery_s"] < 20
    assert naive["fault_impact"]["method"]["recovered_after"].startswith("3 healthy buckets")


def test_the_terminal_table_fits_80_columns_and_shows_every_figure(storm):
    naive, _ = storm
    console = _console(80)
    print_fitted(impact_tables(naive), console)
    text = console.file.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "did not recover" in text and "F1 pause app" in text and "100.00%" in text
    assert "attempts/req" in text  # retries: amplification per window
    assert impact_tables({"faults": []}) == []  # no fault: no table


def test_runs_without_faults_have_no_section():
    s = simulator.run(simulator.load_scenario("scenarios/mmc-basic.yaml", overrides=["duration=50s", "warmup=5s"])).summary
    assert "fault_impact" not in s


def test_report_html_has_the_impact_table(tmp_path):
    from click.testing import CliRunner

    from cli import main

    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", "scenarios/retry-storm.yaml", "--duration", "45s", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["report", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "Fault impact" in html and "did not recover" in html and "attempts/req" in html
