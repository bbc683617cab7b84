"""Generate docs/reference.md from the scenario schema and the registries.

    python -m simulator.scenario.reference > docs/reference.md

A test checks the committed file is up to date, so the reference never drifts from the code.
"""
from __future__ import annotations

import inspect
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from simulator.language import registry
from simulator.workload.arrivals import ArrivalConfig
from simulator.sampling.distributions import Distribution
from simulator.faults.base import FaultConfig
from simulator.workload.keys import KeyConfig
from simulator.language.units import Quantity
from simulator.engine.network import LinkLatencyConfig, NetworkConfig
from simulator.engine.trace import TraceConfig
from simulator.scenario.plugins import load_components
from simulator.scenario.schema import CompareConfig, MetricsConfig, Scenario
from simulator.workload.clients import AttributesConfig, WorkloadConfig


def _type_name(ann: Any, metadata: list | None = None) -> str:
    """A reader's name for a field's type: 'positive duration', 'list of component names', ..."""
    for meta in metadata or []:
        if isinstance(meta, Quantity):
            return meta.kind
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        return _type_name(args[0], list(args[1:]))
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        text = " or ".join(_type_name(a) for a in inner)
        return f"{text} (optional)" if len(inner) < len(args) else text
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of name to {_type_name(args[1])}"
    if isinstance(ann, type):
        if issubclass(ann, Distribution):
            return "distribution"
        for base, nice in ((ArrivalConfig, "arrival process"), (KeyConfig, "key distribution"),
                           (FaultConfig, "fault"), (BaseModel, "mapping")):
            if issubclass(ann, base):
                return nice if base is not BaseModel or ann.__name__.endswith("ComponentConfig") is False else nice
        return {"int": "integer", "float": "number", "str": "text", "bool": "true/false"}.get(ann.__name__, ann.__name__)
    return str(ann).replace("typing.", "")


def _field_type(field: FieldInfo) -> str:
    name = _type_name(field.annotation, list(field.metadata))
    for meta in field.metadata:  # constraints pydantic moved off the type
        for attr, sym in (("gt", ">"), ("ge", ">="), ("le", "<="), ("min_length", "at least")):
            value = getattr(meta, attr, None)
            if value is not None:
                name += f" ({sym} {value})" if attr != "min_length" else f" (at least {value})"
    return name


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "(computed)"
    else:
        value = field.default
    if value is PydanticUndefined:
        return "**required**"
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "(defaults)"
    kinds = [m.kind for m in field.metadata if isinstance(m, Quantity)]
    if kinds and isinstance(value, (int, float)):
        unit = {"duration": "s", "rate": "/s", "size": "B"}.get(kinds[0].split()[-1], "")  # "or count of calls": none
        return f"`{value:g}{unit}`"
    return f"`{value!r}`" if not hasattr(value, "spec") else f"`{value!r}`"


def model_table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> str:
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        desc = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_field_type(field)} | {_default(field)} | {desc} |")
    return "\n".join(rows)


def _nested(model: type[BaseModel], prefix: str) -> list[tuple[str, type[BaseModel]]]:
    """Sub-models a model's fields hold (one, a list of, or a mapping of): (dotted title, model)."""
    from typing import get_args, get_origin

    out = []
    for name, field in model.model_fields.items():
        ann, suffix = field.annotation, ""
        for _ in range(3):  # unwrap Optional / list / dict
            origin, args = get_origin(ann), get_args(ann)
            if origin in (list, tuple) and args:
                ann, suffix = args[0], suffix + "[]"
            elif origin is dict and len(args) == 2:
                ann, suffix = args[1], suffix + ".NAME"
            elif args and type(None) in args:
                ann = next(a for a in args if a is not type(None))
            else:
                break
        if isinstance(ann, type) and issubclass(ann, BaseModel) and ann.model_fields:
            title = f"{prefix}.{name}{suffix}"
            out.append((title, ann))
            out += _nested(ann, title)
    return out


def _doc(cls: Any) -> str:
    return inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")


def _limits() -> list[str]:
    """The bounds every number and size is checked against before anything is built."""
    from simulator.language import units, yamlio
    from simulator.language.config import MAX_COUNT, MAX_NUMBER
    from simulator.sampling import distributions as dists
    from simulator.scenario import schema

    f = units.fmt_limit
    rows = [
        ("duration", f"0, or {f(units.MIN_DURATION_S)}s to {f(units.MAX_DURATION_S)}s (about 31 years)"),
        ("rate", f"0, or {f(units.MIN_RATE_PER_S)}/s to {f(units.MAX_RATE_PER_S)}/s"),
        ("size", f"at most {f(units.MAX_SIZE_B)}B (a petabyte)"),
        ("any other number", f"finite (no `.inf`, `.nan`), at most {f(MAX_NUMBER)} in magnitude; "
                             f"`true`/`false` are not numbers"),
        ("a whole number (a count)", f"at most {MAX_COUNT:,} unless its field says less (below)"),
        ("a distribution's plain parameter (alpha, shape, k)", f"finite, at most {f(dists.MAX_PLAIN)}"),
        ("`seed`", f"0 to 2^64 − 1"),
        ("the clock", f"at the end of the run, the float clock must resolve {f(schema.CLOCK_RESOLUTION)} of the "
                      f"scenario's shortest duration (or interval between arrivals)"),
        ("components", f"at most {schema.MAX_COMPONENTS:,}, replicas counted"),
        ("workloads, faults, network.links", f"at most {schema.MAX_WORKLOADS:,}, {schema.MAX_FAULTS:,}, "
                                             f"{schema.MAX_LINKS:,}"),
        ("a scenario file", f"at most {schema.MAX_FILE_BYTES:,} bytes, nested at most {yamlio.MAX_DEPTH} levels, "
                            f"at most {yamlio.MAX_VALUES:,} values once YAML aliases are expanded"),
        ("an `empirical` file", f"a regular file of at most {dists.MAX_CSV_BYTES:,} bytes; finite values"),
        ("`compare`", f"at most {schema.MAX_REPLICATIONS:,} replications, {schema.MAX_RUNS:,} runs in all; "
                      f"a `--vary` range at most 1000 points"),
    ]
    return ["## Limits", "",
            "Checked when the scenario is loaded, before anything is built: a value beyond one is one error line.", "",
            "| what | limit |", "| --- | --- |", *[f"| {a} | {b} |" for a, b in rows], ""]


def generate() -> str:
    from simulator.resilience import ResilienceConfig
    from simulator.resilience.chain import ORDER

    load_components()

    from simulator.results.cost import CostConfig

    out = ["# Scenario reference", "",
           "Generated from the schema by `python -m simulator.scenario.reference`; do not edit by hand.",
           "Units: durations `us ms s m h`, rates `/s /m /h`, sizes `B KB MB GB` (and `KiB MiB GiB`),",
           "probabilities `0.2` or `20%`. A bare number where a unit is expected is an error (except 0).", "",
           *_limits(),
           "## Top level", "", model_table(Scenario), "",
           "## network", "", model_table(NetworkConfig), "", "### network.links[]", "", model_table(LinkLatencyConfig), "",
           "## metrics", "", model_table(MetricsConfig), "",
           "## compare", "", model_table(CompareConfig), "",
           "## cost", "", "Prices of a run; the summary gains `cost` (formulas in resilience.md, \"cost\").", "",
           model_table(CostConfig), "",
           "## trace", "", "Which requests are traced; `dsim run --trace FILE` writes their spans (docs/tracing.md).", "",
           model_table(TraceConfig), "",
           "## workloads.NAME", "", model_table(WorkloadConfig), "",
           "### workloads.NAME.attributes", "", model_table(AttributesConfig), ""]
    out += ["## Resilience policies (`resilience:`)", "",
            "On a workload, a server's call step (`calls[]`), a load balancer (per backend; retry and hedge around "
            "its choice of backend), a cache (its calls to its store) or a sharded or replicated store (its client "
            "library's calls to each store). Composed in one "
            "order whatever the order of the keys: the caller's own `timeout` (deadline), then "
            + ", ".join(f"`{k}`" for k in ORDER if k in registry.call_policies)
            + ", then the send. See [resilience.md](resilience.md).", "",
            "| policy | behaviour |", "| --- | --- |",
            *[f"| `{k}` | {_doc(registry.call_policies.get(k))} |" for k in ORDER if k in registry.call_policies], "",
            model_table(ResilienceConfig), ""]
    for title, sub in _nested(ResilienceConfig, "resilience"):
        out += [f"### `{title}`", "", model_table(sub), ""]
    out += ["## Arrival processes (`arrivals:`)", "",
            "Written compactly (`poisson(rate=40/s)`) or as a mapping with `process:`.", ""]
    for name, cls in registry.arrivals:
        out += [f"### `{name}`", "", _doc(cls), "", model_table(cls, skip=("process",)), ""]
    out += ["## Key distributions (`keys:`)", "", "Written compactly (`zipf(n=10000, s=1.1)`) or with `dist:`.", ""]
    for name, cls in registry.key_dists:
        out += [f"### `{name}`", "", _doc(cls), "", model_table(cls, skip=("dist",)), ""]
    out += ["## Components (`components.NAME`, chosen by `type:`)", ""]
    for name, cls in registry.components:
        out += [f"### `{name}`", "", _doc(cls), "", model_table(cls.Config, skip=("type",)), ""]
        for title, sub in _nested(cls.Config, name):
            out += [f"#### `{title}`", "", model_table(sub), ""]
    policy_sections = [(title, reg) for title, reg in (
        ("Load-balancing algorithms (`algorithm:`)", registry.lb_algorithms),
        ("Eviction policies (`eviction:`)", getattr(registry, "eviction_policies", None)),
        ("Sharding strategies (`strategy:`)", getattr(registry, "sharding_strategies", None)),
        ("Replication modes (`mode:` of `replicated`)", registry.replication_modes),
        ("Read policies (`read_from:` of `replicated`)", registry.read_from_policies),
        ("Cache modes (`mode:` of `cache`)", registry.cache_modes),
        ("Queue ack modes (`ack:` of `queue`)", registry.queue_ack_modes),
        ("Rate limiters (`algorithm:` of `rate_limit`)", registry.rate_limiters),
        ("Scaling rules (`rule:` of a server's `autoscale`)", registry.scaling_rules),
    ) if reg is not None]
    for title, reg in policy_sections:
        out += [f"## {title}", "", "| name | behaviour |", "| --- | --- |"]
        out += [f"| `{name}` | {_doc(cls)} |" for name, cls in reg]
        out += [""]
    out += ["## Distributions", "",
            "Written `name(key=value, ...)`, as a mapping `{dist: name, ...}`, or as a bare quantity (constant).", "",
            "| name | parameters | behaviour |", "| --- | --- | --- |"]
    for name, cls in registry.distributions:
        forms = " or ".join("(" + ", ".join(p) + ")" for p in cls.params)
        out.append(f"| `{name}` | {forms} | {cls.doc} |")
    out += ["", "## Faults and timeline events (`faults:`)", ""]
    for name, cls in registry.faults:
        out += [f"### `{name}`", "", _doc(cls), "", model_table(cls, skip=("type",)), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())
