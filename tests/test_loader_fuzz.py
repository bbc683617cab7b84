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


# --- numbers at the edges, for every numeric field, generated from the schema ----------------------
# The places are found by walking the validated models (every field of every config class the
# scenarios use, defaults included, and every parameter of every distribution), not listed by hand;
# `every_kind.yaml` holds one of each registered fault, arrival process, key and distribution type
# that the ready scenarios lack, and a test checks that every registered type is reached.
import math  # noqa: E402
import types  # noqa: E402
import typing  # noqa: E402

import pytest  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from simulator.language import registry  # noqa: E402
from simulator.language.units import Quantity  # noqa: E402
from simulator.sampling.distributions import SHAPE_PARAMS, Distribution  # noqa: E402
from simulator.simulation.runner import build, schedule_faults  # noqa: E402

EDGE_BASES = {name: simulator.load_scenario(path) for name, path in
              [(n, f"scenarios/{n}.yaml") for n in ("three-tier", "cache-hierarchy", "sharding", "replication",
                                                     "async-queue", "cdn", "lb-compare", "saga", "cqrs")]
              + [("every-kind", "tests/every_kind.yaml")]}
UNITS = {"duration": "s", "rate": "/s", "size": "B"}


def _quantity_kind(annotation: typing.Any) -> str | None:
    for arg in typing.get_args(annotation):
        if isinstance(arg, Quantity):
            return arg.kind
        found = _quantity_kind(arg)
        if found:
            return found
    return None


def _plain_types(annotation: typing.Any) -> set:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _plain_types(args[0])
    if args and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_plain_types(a) for a in args))
    return {typing.get_origin(annotation) or annotation}


def _numeric_places(value, path, owner, field):
    """(path, kind, key) of every number below `value`; `key` names the schema field it belongs to."""
    if isinstance(value, BaseModel):
        for name, f in type(value).model_fields.items():
            yield from _numeric_places(getattr(value, name), path + (name,), type(value).__name__, (name, f))
        return
    if isinstance(value, Distribution):
        yield path, "dist:" + value.kind, (owner, field[0], "dist")  # a bare quantity in its place
        for param, v in value.spec().items():
            if param in ("dist", "file", "column"):
                continue
            kind = "number" if param in SHAPE_PARAMS or value.kind == "number" else value.kind
            where = path + (param, 0) if param == "values" else path + (param,)
            yield where, kind, (value.name, param)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (BaseModel, Distribution)):
                yield from _numeric_places(v, path + (k,), owner, field)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                yield path + (k,), "number", (owner, field[0], "value")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if isinstance(v, (BaseModel, Distribution)):
                yield from _numeric_places(v, path + (i,), owner, field)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                yield path + (i,), "number", (owner, field[0], "item")
        return
    if field is None:
        return
    name, info = field
    marker = next((m.kind for m in info.metadata if isinstance(m, Quantity)), None)
    kind = marker or _quantity_kind(info.annotation)
    if kind is not None:
        yield path, kind.replace("positive ", "").replace("`auto` or ", ""), (owner, name)
    else:  # a number field, whatever its present value (None, a number, `all`, `10GB`)
        types_ = _plain_types(info.annotation)
        if bool not in types_ and types_ & {int, float}:
            yield path, "int" if int in types_ else "number", (owner, name)


def _edge_values(kind: str) -> list:
    base = kind.split(":")[-1]
    if base in UNITS:
        u = UNITS[base]
        return [0, f"-1{u}", f"1e-300{u}", f"1e300{u}", f"1e400{u}", math.inf, math.nan]
    if base == "probability":
        return [0, -1, 1e300, math.inf, math.nan, "1e400%"]
    if base == "int":
        return [0, -1, 10 ** 12, 10 ** 400, math.inf, math.nan]
    return [0, -1.0, 1e-300, 1e300, math.inf, math.nan]


def _edge_cases():
    """One (base, path, kind) per schema field (the same field in two places is fuzzed once)."""
    seen, cases = set(), []
    for base_name, sc in EDGE_BASES.items():
        for path, kind, key in _numeric_places(sc, (), "Scenario", None):
            numeric = kind.split(":")[-1] in UNITS or kind in ("probability", "int", "number")
            if numeric and key not in seen:
                seen.add(key)
                cases.append((base_name, path, kind))
    return cases


EDGE_CASES = _edge_cases()


def _set(data, path, value):
    node = data
    for part in path[:-1]:
        if isinstance(node, dict):
            if not isinstance(node.get(part), (dict, list)):
                node[part] = {}  # an optional section left unset: make it
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
        node[path[-1]] = value
        return True
    return False


def short_run(sc, events: int = 3000) -> None:
    """Build and step the first events: every time on the clock is a number, none goes backwards."""
    env, system = build(sc)
    schedule_faults(env, system)
    for wl in system.workloads:
        wl.start()
    last = 0.0
    for _ in range(events):
        t = env.peek()
        assert not math.isnan(t), "a NaN time reached the event heap"
        if t > sc.duration:
            break
        env.step()
        assert math.isfinite(env.now) and env.now >= last
        last = env.now
    for comp in system.components.values():
        comp.stats(max(env.now, 1e-9))


def check_edge(data, label) -> None:
    try:
        sc = validate(data, file="fuzz.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.yaml"), (label, str(exc))
        return
    try:
        short_run(sc)
    except ScenarioError:
        pass


def test_every_registered_type_has_edge_cases():
    """New component, fault, arrival, key or distribution types are fuzzed too: each appears in a base."""
    used = {cls.__name__ for _b, sc in EDGE_BASES.items() for cls in _classes(sc)}
    dist_names = {d.name for sc in EDGE_BASES.values() for d in _distributions(sc)}
    missing = []
    for reg in (registry.components, registry.faults, registry.arrivals, registry.key_dists):
        for name, cls in reg:
            target = getattr(cls, "Config", cls)
            if target.__name__ not in used:
                missing.append(f"{reg.kind} {name}")
    missing += [f"distribution {n}" for n, _c in registry.distributions if n not in dist_names]
    assert not missing, f"add these to tests/every_kind.yaml: {missing}"


def _classes(value):
    if isinstance(value, BaseModel):
        yield type(value)
        for name in type(value).model_fields:
            yield from _classes(getattr(value, name))
    elif isinstance(value, dict):
        for v in value.values():
            yield from _classes(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _classes(v)


def _distributions(value):
    if isinstance(value, Distribution):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _distributions(getattr(value, name))
    elif isinstance(value, (dict, list, tuple)):
        for v in (value.values() if isinstance(value, dict) else value):
            yield from _distributions(v)


@pytest.mark.parametrize("base_name, path, kind", EDGE_CASES, ids=lambda x: ".".join(map(str, x))
                         if isinstance(x, tuple) else str(x))
def test_numbers_at_the_edges_load_and_run_or_fail_cleanly(base_name, path, kind):
    dump = EDGE_BASES[base_name].model_dump(mode="json", exclude_none=True)
    for value in _edge_values(kind):
        data = copy.deepcopy(dump)
        if _set(data, path, value):
            check_edge(data, (path, value))


EDGE_PLACES = st.sampled_from(EDGE_CASES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(EDGE_PLACES, st.integers(0, 6)), min_size=2, max_size=4))
def test_several_edge_numbers_at_once(mutations):
    base_name = mutations[0][0][0]
    data = EDGE_BASES[base_name].model_dump(mode="json", exclude_none=True)
    for (b, path, kind), i in mutations:
        if b == base_name:
            values = _edge_values(kind)
            _set(data, path, values[i % len(values)])
    check_edge(data, mutations)


def test_every_numeric_field_of_the_configs_used_is_fuzzed():
    """Every number-typed field of every config class the bases reach has edge cases (the walk of the
    models misses none, whatever the field's present value)."""
    fuzzed = {key[:2] for sc in EDGE_BASES.values() for _p, _k, key in _numeric_places(sc, (), "Scenario", None)}
    missing = []
    for cls in {c for sc in EDGE_BASES.values() for c in _classes(sc)}:
        for name, info in cls.model_fields.items():
            kind = next((m.kind for m in info.metadata if isinstance(m, Quantity)), None) or \
                _quantity_kind(info.annotation)
            types_ = _plain_types(info.annotation)
            numeric = (kind is not None and "values" not in kind) or (bool not in types_ and types_ & {int, float})
            if numeric and (cls.__name__, name) not in fuzzed:
                missing.append(f"{cls.__name__}.{name}")
    assert not missing, missing
