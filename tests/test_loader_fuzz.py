"""Property-based fuzzing of the scenario loader: any mutation of a valid scenario either loads or
raises a located ScenarioError, never another exception (which would reach the user as a traceback)."""
import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator
from simulator.language.errors import ScenarioError
from simulator.scenario.schema import validate
from simulator.language.yamlio import dump_yaml, load_yaml

# Every ready scenario is a starting point, so each component type's validation gets mutated input.
BASES = [load_yaml(open(f"scenarios/{name}.yaml").read())[0]
         for name in ("three-tier", "cache-hierarchy", "sharding", "replication", "async-queue", "cdn", "lb-compare")]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-1s", "5", "10ms", "40/s", "4KB", "20%", "no", "exponential(mean=1s)",
                     "exponential(mean=", "zipf(n=0)", "poisson(rate=-1/s)", "lognormal(median=1s, p99=1ms)",
                     "app-1", "db", "lb", "[]", "{}", "nonsense"]),
    st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


PATHS = [[p for p in _paths(base) if p] for base in BASES]


@st.composite
def mutated(draw):
    i = draw(st.integers(0, len(BASES) - 1))
    data = copy.deepcopy(BASES[i])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS[i]))
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                node[path[-1]] = draw(values)
            elif action == "delete" and isinstance(node, dict):
                node.pop(path[-1], None)
            elif isinstance(node, dict):
                node[draw(st.text(min_size=1, max_size=8))] = draw(values)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed the place; the data is still a valid test input
    return data


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scenarios_load_or_fail_cleanly(data):
    try:
        sc = validate(data, file="fuzz.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.yaml"), str(exc)
        return
    # what validates must also build (elaborate) without surprises, or fail as cleanly
    try:
        simulator.build(sc)
    except ScenarioError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text):
    try:
        data, lines = load_yaml(text, "t.yaml")
        validate(data, file="t.yaml", lines=lines)
    except ScenarioError:
        pass


def test_dumped_effective_config_reloads():
    sc = simulator.load_scenario("scenarios/three-tier.yaml")
    again, lines = load_yaml(dump_yaml(sc.effective()))
    assert validate(again, lines=lines).effective() == sc.effective()
