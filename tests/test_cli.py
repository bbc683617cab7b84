"""The command line, through click's runner: run, validate, list, output files."""
import json

import pandas as pd
from click.testing import CliRunner

from cli import main


def test_run_prints_table():
    r = CliRunner().invoke(main, ["run", "scenarios/mmc-basic.yaml", "--duration", "600s", "--set", "warmup=60s"])
    assert r.exit_code == 0, r.output
    for word in ("generated", "availability", "p99", "utilisation", "app"):
        assert word in r.output


def test_run_json_is_the_summary():
    r = CliRunner().invoke(main, ["run", "scenarios/lb-basic.yaml", "--format", "json", "--seed", "11",
                                  "--duration", "120s"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["seed"] == 11 and s["duration_s"] == 120.0
    for key in ("generated", "ok", "rejected", "timed_out", "errors", "in_flight"):
        assert key in s["requests"]
    for key in ("mean", "p50", "p90", "p95", "p99", "p999", "max"):
        assert s["latency_s"][key] > 0
    for name in ("lb", "app-1", "app-2", "app-3"):
        assert name in s["components"]
    for key in ("type", "utilization", "queue_length_mean", "queue_length_max", "wait_s_mean", "served", "rejected"):
        assert key in s["components"]["app-1"]
    assert s["throughput_rps"] > 0 and 0 < s["availability"] <= 1


def test_run_out_writes_files(tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["run", "scenarios/three-tier.yaml", "--duration", "150s", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for name in ("summary.json", "requests.parquet", "timeseries.csv", "components.csv", "scenario.yaml",
                 "latency_cdf.png", "throughput_p99.png", "utilization.png"):
        assert (out / name).stat().st_size > 0, name
    req = pd.read_parquet(out / "requests.parquet")
    # The seven base columns, then three-tier's keys and every failure's cause (docs/outputs.md).
    assert list(req.columns) == ["id", "workload", "operation", "start_s", "end_s", "latency_s", "outcome",
                                 "key", "cause", "component", "fault", "fault_description"]
    s = json.loads((out / "summary.json").read_text())
    assert len(req) == s["requests"]["generated"]
    ts = pd.read_csv(out / "timeseries.csv")
    assert {"throughput_rps", "latency_p99_s", "db.utilization", "app-1.queue_length"} <= set(ts.columns)


def test_effective_config_round_trips(tmp_path):
    import simulator

    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["run", "scenarios/three-tier.yaml", "--duration", "60s", "--out", str(out),
                                  "--no-charts", "--set", "components.db.connections=9"])
    assert r.exit_code == 0, r.output
    again = simulator.load_scenario(out / "scenario.yaml")
    assert again.components["db"].connections == 9
    assert again.effective() == simulator.load_scenario(
        "scenarios/three-tier.yaml", overrides=["components.db.connections=9"], duration="60s").effective()


def test_list_names_everything():
    r = CliRunner().invoke(main, ["list"])
    assert r.exit_code == 0
    for word in ("server", "load_balancer", "database", "round_robin", "power_of_two_choices", "ip_hash",
                 "exponential", "lognormal", "pareto", "empirical", "poisson", "diurnal", "zipf", "crash",
                 "partition", "cache", "sharded", "replicated", "queue", "cdn", "lfu", "consistent_hash"):
        assert word in r.output


def test_every_ready_scenario_validates():
    from pathlib import Path

    for path in sorted(Path("scenarios").glob("*.yaml")):
        r = CliRunner().invoke(main, ["validate", str(path)])
        assert r.exit_code == 0, (path, r.output)
        assert path.read_text().lstrip().startswith("#"), f"{path} needs a comment block explaining it"
