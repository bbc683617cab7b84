"""The data-tier ready scenarios: conservation under their faults, determinism, files and charts."""
import pytest

import simulator
from reports import charts
from reports.files import write_run

# Shortened but still past every scenario's fault, with lower rates to keep the test quick.
CASES = {
    "cache-hierarchy": ["duration=180s", "warmup=20s", "workloads.shoppers.arrivals.rate=200/s"],
    "sharding": ["duration=200s", "warmup=20s", "workloads.app.arrivals.rate=300/s",
                 "components.users.reshard.0.at=100s", "workloads.app.keys.n=20000"],
    "replication": ["duration=240s", "warmup=20s", "workloads.web.arrivals.rate=200/s"],
    "cdn": ["duration=400s", "warmup=20s", "workloads.viewers.arrivals.rate=100/s"],
    "async-queue": ["duration=240s", "warmup=20s", "workloads.shoppers.arrivals.rate=60/s"],
}
CHARTS = {
    "cache-hierarchy": {"cache_hit_ratio.png": ["edge", "app-cache", "db-cache"]},
    "sharding": {"shard_load_users.png": ["db-1", "db-2", "db-3", "db-4", "db-5", "E1 users: reshard, add db-5 (at 100 s)"]},
    "replication": {"replication_lag_users.png": ["lag p50", "lag p99", "lag max", "stale reads"]},
    "cdn": {"cache_hit_ratio.png": ["cdn.eu", "cdn.us", "cdn.ap"]},
    "async-queue": {"queue_backlog_orders.png": [f"partition {p}" for p in range(8)] + ["total"]},
}


def _load(name):
    return simulator.load_scenario(f"scenarios/{name}.yaml", overrides=CASES[name])


@pytest.fixture(scope="module")
def results():
    return {name: simulator.run(_load(name)) for name in CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_conservation_under_the_scenarios_faults(results, name):
    s = results[name].summary
    r = s["requests"]
    assert r["generated"] == r["ok"] + r["rejected"] + r["timed_out"] + r["errors"] + r["in_flight"]
    assert s["faults"] or name == "sharding"
    assert not s["warnings"], s["warnings"]


@pytest.mark.parametrize("name", list(CASES))
def test_same_seed_same_summary(results, name):
    assert simulator.run(_load(name)).to_json() == results[name].to_json()


@pytest.mark.parametrize("name", list(CASES))
def test_charts_are_written_with_their_series(results, name, tmp_path, monkeypatch):
    labels: dict[str, list[str]] = {}
    saved = charts.plt.Figure.savefig

    def savefig(fig, path, *a, **kw):
        labels[getattr(path, "name", "<buffer>")] = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        return saved(fig, path, *a, **kw)

    monkeypatch.setattr(charts.plt.Figure, "savefig", savefig)
    paths = write_run(results[name], tmp_path)
    for file, series in CHARTS[name].items():
        p = tmp_path / file
        assert p in paths and p.stat().st_size > 5000
        for label in series:
            assert label in labels[file], (file, label, labels[file])


TABLES = {
    "cache-hierarchy": ["Caches", "edge", "app-cache", "db-cache"],
    "sharding": ["Shards of users", "skew max/mean", "Resharding of users", "add db-5"],
    "replication": ["Replication", "Replicas", "db-us", "async"],
    "cdn": ["CDN cdn", "cdn.eu", "egress"],
    "async-queue": ["Message queues", "billing x8", "email x2"],
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_terminal_summary_has_a_table_for_each_data_component(results, name):
    from rich.console import Console

    from reports.table import print_summary

    console = Console(record=True, width=200)
    print_summary(results[name].summary, console)
    text = console.export_text()
    for piece in TABLES[name]:
        assert piece in text, piece
