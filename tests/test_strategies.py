"""Per-request policies are registered strategy objects, chosen once at build time.

Replication modes, read_from policies, cache access modes, queue ack modes, distributions, and the
report tables and charts each live in a `Registry`; `dsim list` and the reference read them, and
the YAML names and validation messages are those of the config fields.
"""
import typing

import pytest
from click.testing import CliRunner

import simulator
from cli import main
from models.cache import MODES, CacheConfig
from models.message_queue import QueueConfig
from models.replicated import ReplicatedConfig
from simulator.language import registry
from simulator.sampling.distributions import DistributionError, parse_distribution
from tests.test_data_tier_bad_input import front_scenario
from tests.helpers import run_validate

NAMES = {
    "replication_modes": ["async", "consensus", "eventual", "multi_leader", "quorum", "semi_sync", "sync"],
    "read_from_policies": ["any", "leader", "nearest"],
    "cache_modes": ["cache_aside", "read_through", "refresh_ahead", "write_behind", "write_through"],
    "queue_ack_modes": ["on_complete", "on_enqueue"],
    "distributions": ["constant", "empirical", "erlang", "exponential", "gamma", "lognormal", "normal",
                      "pareto", "uniform", "weibull"],
}


@pytest.mark.parametrize("namespace", list(NAMES))
def test_each_new_registry_lists_its_names(namespace):
    reg = getattr(registry, namespace)
    assert reg.names() == NAMES[namespace]
    for name, cls in reg:
        assert cls.type_name == name
        assert registry.summary_line(cls) or getattr(cls, "doc", ""), name  # `dsim list` has a line for it


def test_report_registries_list_their_names_in_registration_order():
    import reports.charts as charts
    from reports import data_tables  # noqa: F401  (registers the tables)
    from reports.registries import chart_makers, type_tables

    for mod in charts._CHART_MODULES:
        __import__(mod)
    assert [n for n, _ in type_tables.in_registration_order()] == ["cache", "sharded", "replicated", "cdn", "queue"]
    assert type_tables.names() == sorted(["cache", "sharded", "replicated", "cdn", "queue"])
    # Chart makers register when their module is first imported: another test may have imported one
    # before `_CHART_MODULES` runs, so their order is the import order; each is listed once.
    order = [n for n, _ in chart_makers.in_registration_order()]
    assert sorted(order) == sorted(["cache_hit_ratio", "shard_load", "replication_lag", "divergence",
                                    "queue_backlog", "replicas", "linearizability_violation", "app_gauges",
                                    "app_heatmaps", "consistency_timeline"])


def _literal(model, field):
    return list(typing.get_args(model.model_fields[field].annotation))


@pytest.mark.parametrize("model,field,namespace", [
    (ReplicatedConfig, "mode", "replication_modes"),
    (ReplicatedConfig, "read_from", "read_from_policies"),
    (CacheConfig, "mode", "cache_modes"),
    (QueueConfig, "ack", "queue_ack_modes"),
])
def test_config_choices_are_the_registered_names(model, field, namespace):
    # The field keeps its Literal (its order is the validation message's); it must name exactly the registry.
    assert sorted(_literal(model, field)) == getattr(registry, namespace).names()
    if model is CacheConfig:
        assert list(MODES) == _literal(model, field)


def test_unknown_replication_mode_gives_the_same_located_error(tmp_path):
    result, _ = run_validate(tmp_path, front_scenario("{type: replicated, replicas: [db-1, db-2], mode: syncc}"))
    assert result.exit_code == 2, result.output
    assert ("components.front.mode: input should be 'sync', 'semi_sync', 'async', 'multi_leader', "
            "'quorum', 'eventual' or 'consensus'; got 'syncc'") in result.output
    assert "Traceback" not in result.output


def test_unknown_read_from_gives_the_same_located_error(tmp_path):
    result, _ = run_validate(tmp_path, front_scenario("{type: replicated, replicas: [db-1, db-2], read_from: near}"))
    assert result.exit_code == 2, result.output
    assert "components.front.read_from: input should be 'leader', 'any' or 'nearest'; got 'near'" in result.output


def test_unknown_distribution_keeps_its_message_and_type():
    with pytest.raises(DistributionError) as exc:
        parse_distribution("exponental(mean=1ms)")
    assert str(exc.value) == ("unknown distribution 'exponental' (did you mean 'exponential'?); known: "
                              + ", ".join(NAMES["distributions"]))
    with pytest.raises(DistributionError, match=r"^missing 'dist'; one of: constant, empirical, "):
        parse_distribution({"mean": "1ms"})


def test_distribution_name_is_its_registered_name():
    d = parse_distribution("erlang(k=2, mean=10ms)")
    assert d.name == "erlang" and d.spec()["dist"] == "erlang" and repr(d).startswith("erlang(")
    assert d.scaled(2.0).name == "erlang"


def test_list_shows_the_new_namespaces():
    r = CliRunner().invoke(main, ["list"])
    assert r.exit_code == 0
    for title in ("replication modes:", "read_from policies:", "cache modes:", "queue ack modes:", "distributions:"):
        assert f"\n{title}\n" in r.output
    for name in ("multi_leader", "semi_sync", "nearest", "write_behind", "on_complete"):
        assert f"  {name} " in r.output


SCENARIO = """\
name: strategies
duration: 1s
components:
  store: {{type: replicated, replicas: [db-1, db-2, db-3], mode: {mode}, read_from: {read_from}}}
  db-1: {{type: database, read_time: 1ms, write_time: 2ms}}
  db-2: {{type: database, read_time: 1ms, write_time: 2ms}}
  db-3: {{type: database, read_time: 1ms, write_time: 2ms}}
workloads:
  web: {{arrivals: poisson(rate=10/s), target: store, keys: uniform(n=10)}}
"""


@pytest.mark.parametrize("mode,acks,leaders", [
    ("async", 0, [0]), ("sync", 2, [0]), ("semi_sync", 1, [0]), ("multi_leader", 0, [0, 1, 2]), ("quorum", 0, []),
])
@pytest.mark.parametrize("read_from", NAMES["read_from_policies"])
def test_replicated_store_builds_its_strategies_once(tmp_path, mode, acks, leaders, read_from):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(mode=mode, read_from=read_from))
    _env, system = simulator.build(simulator.load_scenario(path))  # built and connected, not run
    store = system.get("store")
    assert type(store.replication) is registry.replication_modes.get(mode)
    assert type(store.read_policy) is registry.read_from_policies.get(read_from)
    assert store.need_acks == acks
    assert store.leader_set == leaders
