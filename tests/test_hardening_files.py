"""Issue 9, "hostile files and flags": alias bombs, deep nesting, odd keys, sizes that would allocate
without end, files that are not files. Each is refused with one located line before anything big is
built (a test that hung or ran out of memory before the fix is kept small by the fix itself)."""
import os
import textwrap

import pytest
from click.testing import CliRunner

import simulator
from cli import main
from simulator.language.errors import ScenarioError
from simulator.language.yamlio import MAX_DEPTH, load_yaml, parse_scalar

BASE = """
name: t
seed: 1
duration: 2s
components:
  app: {type: server, workers: 2, service_time: exponential(mean=10ms)}
workloads:
  web: {arrivals: poisson(rate=10/s), target: app}
"""


def loads(overrides=(), text=BASE):
    return simulator.loads_scenario(textwrap.dedent(text), "t.yaml", list(overrides))


def bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --- B11: alias bombs -------------------------------------------------------------------------------
def test_alias_bomb_in_a_file_is_refused_at_once():
    with pytest.raises(ScenarioError, match="expands to more than") as info:
        load_yaml(bomb(), "b.yaml")
    assert info.value.file == "b.yaml" and info.value.line is not None


def test_alias_bomb_through_set_is_refused():
    flow = "{" + ", ".join(line.replace(": ", ": ", 1) for line in bomb(8).splitlines()) + "}"
    with pytest.raises(ScenarioError, match="expands to more than") as info:
        loads([f"description={flow}"])
    assert info.value.file == "--set description"


def test_a_few_aliases_still_work():
    data, _lines = load_yaml("a: &x [1, 2]\nb: *x\nc: *x\n")
    assert data == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


# --- B12, B13: nesting and keys ---------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "x: " + "[" * 5000 + "]" * 5000 + "\n",  # 100,000 fail the same way (the recursion limit), slower
    "".join("  " * i + f"k{i}:\n" for i in range(3000)) + "  " * 3000 + "v: 1\n",
    "x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",
])
def test_deep_nesting_is_refused(text):
    with pytest.raises(ScenarioError, match="nested too deeply"):
        load_yaml(text, "d.yaml")


def test_deep_nesting_through_set_is_refused():
    with pytest.raises(ScenarioError, match="nested too deeply"):
        parse_scalar("[" * 3000 + "]" * 3000)


def test_non_scalar_key_is_refused():
    with pytest.raises(ScenarioError, match="a key must be a plain name") as info:
        load_yaml("? [a, b]\n: 1\n", "k.yaml")
    assert info.value.line == 1


def test_control_character_is_one_line_with_its_line_number(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"name: t\ndescription: a\x01b\n")
    r = CliRunner().invoke(main, ["validate", str(path)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and f"{path}:2:" in r.output and "#x0001" in r.output


# --- B15: ranges and replications -------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["workloads.web.arrivals.rate=10/s..100/s:+1e-9/s",
                                  "workloads.web.arrivals.rate=10/s..1e9/s:+1/s",
                                  "workloads.web.arrivals.rate=10/s..100/s:99999999999999999999"])
def test_a_range_is_counted_before_it_is_built(spec):
    from simulator.study.sweep import MAX_POINTS, parse_axis

    with pytest.raises(ScenarioError, match=f"between 1 and {MAX_POINTS} points"):
        parse_axis(spec)


def test_replications_are_bounded_before_seeds_are_derived(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(BASE))
    r = CliRunner().invoke(main, ["compare", str(path), "--vary", "components.app.workers=1,2", "-r", "100000000"])
    assert r.exit_code == 2 and "--replications" in r.output and "at most" in r.output


def test_the_whole_study_is_bounded():
    from simulator.study.plan import plan

    sc = loads()
    with pytest.raises(ScenarioError, match="runs; a study makes at most"):
        plan(sc, ["components.app.workers=1..1000:1000", "workloads.web.arrivals.rate=1/s..10/s:200"], 10)


def test_replications_in_the_file_are_bounded():
    with pytest.raises(ScenarioError, match="replications"):
        loads(["compare={vary: {components.app.workers: [1, 2]}, replications: 100000000}"])


# --- B22: sizes bounded before allocation -----------------------------------------------------------
@pytest.mark.parametrize("setting", [
    "components.app.replicas=1000000",
    "components.app.workers=10000000000",
    "workloads.web.keys=uniform(n=1000000000)",
    "workloads.web.keys=zipf(n=20000000)",
    "workloads.web={users: 1000000, target: app}",
])
def test_sizes_are_bounded(setting):
    with pytest.raises(ScenarioError, match="less than or equal|too large"):
        loads([setting])


SHARDED = """
name: s
duration: 2s
components:
  s1: {type: database}
  s2: {type: database}
  store: {type: sharded, shards: [s1, s2], strategy: consistent_hash, virtual_nodes: VNODES}
  app: {type: server, service_time: 1ms, calls: [store]}
workloads:
  web: {arrivals: poisson(rate=10/s), target: app, keys: uniform(n=100)}
"""

QUEUE = """
name: q
duration: 2s
components:
  worker: {type: server, service_time: 1ms}
  topic: {type: queue, partitions: PARTS, consumer_groups: {g: {target: worker, workers: 2}}}
workloads:
  web: {arrivals: poisson(rate=10/s), target: topic}
"""


def test_virtual_nodes_are_bounded():
    with pytest.raises(ScenarioError, match="virtual_nodes"):
        loads(text=SHARDED.replace("VNODES", "1000000000"))
    shards = [f"s{i}" for i in range(1, 150)]
    text = (SHARDED.replace("VNODES", "10000")
            .replace("  s2: {type: database}\n", "".join(f"  {s}: {{type: database}}\n" for s in shards[1:]))
            .replace("shards: [s1, s2]", f"shards: [{', '.join(shards)}]"))
    with pytest.raises(ScenarioError, match="ring of 1,490,000 points"):
        loads(text=text)


def test_replicated_stores_are_bounded():  # every replica streams to every other: n^2 links
    names = [f"r{i}" for i in range(101)]
    text = BASE.replace("components:\n", "components:\n" + "".join(f"  {n}: {{type: database}}\n" for n in names)
                        + f"  store: {{type: replicated, replicas: [{', '.join(names)}]}}\n")
    with pytest.raises(ScenarioError, match="replicas"):
        loads(text=text)


def test_partitions_are_bounded():
    with pytest.raises(ScenarioError, match="partitions"):
        loads(text=QUEUE.replace("PARTS", "100000000"))


def test_components_are_counted_before_they_are_built():
    from simulator.scenario.schema import validate

    data = {"duration": "1s", "workloads": {"web": {"arrivals": "poisson(rate=1/s)", "target": "c0"}},
            "components": {f"c{i}": {"type": "server", "service_time": "1ms"} for i in range(50_001)}}
    with pytest.raises(ScenarioError, match="at most 50,000"):
        validate(data, file="many.yaml")


def test_replicas_are_counted_with_the_components():
    text = BASE.replace("components:\n", "components:\n" + "".join(
        f"  c{i}: {{type: server, service_time: 1ms, replicas: 1000}}\n" for i in range(51)))
    with pytest.raises(ScenarioError, match="once replicas are counted"):
        loads(text=text)


def test_a_huge_scenario_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "w") as fh:
        fh.write(textwrap.dedent(BASE))
        fh.write("#" * 11_000_000 + "\n")
    with pytest.raises(ScenarioError, match="at most"):
        simulator.load_scenario(path)


# --- B23, B6: empirical files -----------------------------------------------------------------------
def _empirical(tmp_path, file):
    return simulator.loads_scenario(textwrap.dedent(BASE), "t.yaml",
                                    [f"components.app.service_time={{dist: empirical, file: '{file}', column: x}}"])


def test_empirical_from_a_device_is_refused():
    with pytest.raises(ScenarioError, match="not a regular file"):
        _empirical(None, "/dev/zero")


def test_empirical_from_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="not a regular file"):
        _empirical(tmp_path, fifo)


def test_empirical_from_a_directory_is_one_line(tmp_path):
    with pytest.raises(ScenarioError, match="is a directory") as info:
        _empirical(tmp_path, tmp_path)
    assert "\n" not in str(info.value) and "service_time" in str(info.value)


def test_empirical_file_size_is_bounded(tmp_path, monkeypatch):
    import simulator.sampling.distributions as d

    monkeypatch.setattr(d, "MAX_CSV_BYTES", 100)
    path = tmp_path / "big.csv"
    path.write_text("x\n" + "1ms\n" * 100)
    with pytest.raises(ScenarioError, match="bytes"):
        _empirical(tmp_path, path)


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "1e400"])
def test_empirical_non_finite_values_are_refused(tmp_path, cell):  # B6: nan broke the clock
    path = tmp_path / "v.csv"
    path.write_text(f"x\n0.01\n{cell}\n0.02\n")
    with pytest.raises(ScenarioError, match="finite"):
        _empirical(tmp_path, path)


def test_empirical_inline_nan_is_refused():
    with pytest.raises(ScenarioError, match="empirical"):
        loads(["components.app.service_time={dist: empirical, values: [1ms, .nan]}"])
