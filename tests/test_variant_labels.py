"""A variant is labelled with its value as the user wrote it in YAML, not as Python prints it."""
from simulator.study.sweep import Axis, grid


def test_none_booleans_and_mappings_read_as_yaml():
    axis = Axis("workloads.web.resilience.retry.budget", [None, {"ratio": "10%", "window": "10s"}])
    assert [v.label for v in grid([axis])] == ["none", "{ratio: 10%, window: 10s}"]
    flags = Axis("components.app.hold_worker", [True, False])
    assert [v.label for v in grid([flags])] == ["true", "false"]


def test_several_axes_name_each_key_once():
    a = Axis("components.lb.algorithm", ["round_robin"])
    b = Axis("components.app.targets", [["db-1", "db-2"]])
    assert grid([a, b])[0].label == "algorithm=round_robin, targets=[db-1, db-2]"
