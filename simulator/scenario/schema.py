"""The scenario: the YAML file's schema, and loading it into a validated, immutable config.

Loading goes: text -> plain data with line numbers (yamlio) -> pydantic validation -> cross-checks
that need the whole file (dangling names, duplicates) -> `Scenario`. Every problem becomes one
`ScenarioError` naming the file, the key path and the line.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator, Field, PlainSerializer, PrivateAttr, ValidationError, field_validator, model_validator,
)

from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.scenario.plugins import load_components
from simulator.language.errors import ScenarioError, ScenarioErrors, did_you_mean, format_path
from simulator.faults.catalog import FaultSpec
from simulator.language.tagged import tagged, tagged_validator
from simulator.engine.network import NetworkConfig
from simulator.engine.trace import TraceConfig
from simulator.language.units import PositiveDuration, Quantity, UnitError, fmt_duration, fmt_limit, parse_duration
from simulator.language.validation import error_at, to_scenario_error
from simulator.workload.clients import WorkloadConfig
from simulator.workload.history import model_for
from simulator.results.cost import CostConfig
from simulator.language.yamlio import LineMap, load_yaml, parse_scalar

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")

# Sizes bounded before anything is built (docs/scenario-format.md, "Limits").
MAX_FILE_BYTES = 10_000_000
MAX_COMPONENTS = 50_000  # after expansion: a server with replicas: 3 counts three (10,000 servers fit with their balancers)
MAX_WORKLOADS = 1_000
MAX_FAULTS = 10_000
MAX_LINKS = 10_000
MAX_SEED = 2 ** 64 - 1
# The clock must tell apart times this fraction of the scenario's shortest duration at the end of the run.
CLOCK_RESOLUTION = 1e-3


def _component_type() -> Any:
    from models.base import ComponentConfig

    return tagged(ComponentConfig, tagged_validator(
        registry.components, "type", ComponentConfig, "a component", compact=False,
        config_of=lambda cls: cls.Config, before=load_components))


ComponentSpec = _component_type()


def _warmup(value: Any) -> float | str:
    if isinstance(value, str) and value.strip() == "auto":
        return "auto"
    try:
        x = parse_duration(value)
    except UnitError as exc:
        raise ValueError(f"{exc}, or 'auto' to detect the end of the initial transient") from None
    if x < 0:
        raise ValueError(f"must not be negative, got {value}")
    return x


WarmupSpec = Annotated[float | str, BeforeValidator(_warmup),
                       PlainSerializer(lambda v: v if v == "auto" else fmt_duration(v), return_type=str),
                       Quantity("`auto` or duration")]


def _vary_values(value: Any) -> str | list[Any]:
    """The values of a varied setting: a list, a range written as text, or one plain value."""
    if isinstance(value, (str, list)):
        return value
    if isinstance(value, (int, float, bool)):
        return [value]
    raise ValueError(f"expected a list of values ([a, b, c]) or a range (10/s..100/s:10), got {value!r}")


VaryValues = Annotated[str | list[Any], BeforeValidator(_vary_values), Quantity("list of values, or a range")]


# A study's size is bounded before any seed is derived or any variant built (docs: "Limits").
MAX_REPLICATIONS = 10_000
MAX_RUNS = 100_000


class CompareConfig(StrictModel):
    """A comparison study kept with the scenario: `dsim compare FILE` runs it."""

    vary: dict[str, VaryValues] = Field(
        default_factory=dict, description="Dotted path -> values: a list, or a range such as 10/s..100/s:10."
    )
    replications: int = Field(5, le=MAX_REPLICATIONS, description="Runs per variant (seeds shared by all variants).")
    metrics: list[str] | None = Field(None, description="Columns of the table (default: mean, p50, p99, throughput, availability).")
    baseline: str | None = Field(None, description="Variant the others are compared with (default: the first).")

    @field_validator("replications")
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"replications must be at least 1, got {v}")
        return v

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: list[str] | None) -> list[str] | None:
        from simulator.results.metrics import ALL_NAMES, METRICS, RESILIENCE_METRICS, canonical_metric, metric_hint

        for m in v or []:
            if canonical_metric(m) is None and m not in RESILIENCE_METRICS and "." not in m:  # figures: with the model
                raise ValueError(f"unknown metric '{m}'{metric_hint(m, ALL_NAMES)}; known: {', '.join(METRICS)} "
                                 f"(or p99, mean, throughput, ...), or a component's figure such as app-cache.hit_ratio")
        return v


class MetricsConfig(StrictModel):
    bucket: PositiveDuration | None = Field(
        None, description="Width of a time-series bucket (default: a hundredth of the measured time)."
    )


# `check:` names: `linearizable` (the search) and the anomalies of simulator/consistency/anomalies.py.
CheckName = Literal["linearizable", "stale_reads", "read_your_writes", "monotonic_reads", "lost_writes",
                    "garbage_reads", "G0", "G1a", "G1c", "G2"]


class Scenario(StrictModel):
    """A whole simulated system: components, workloads, network and fault timeline."""

    name: str = Field("scenario", description="Shown in reports.")
    description: str | None = Field(None, description="Free text, shown in reports.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of every random stream of the run.")
    duration: PositiveDuration = Field(description="Simulated time the run lasts.")
    warmup: WarmupSpec = Field(
        0.0, description="Initial time excluded from every figure, or `auto` to detect it (MSER-5)."
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="Latency between places; see below.")
    components: dict[str, ComponentSpec] = Field(min_length=1, description="The system: name -> component (by `type:`).")
    workloads: dict[str, WorkloadConfig] = Field(
        default_factory=dict, description="The clients: name -> workload. Optional when an application component "
        "(models/apps/) drives the system with its own actors.")
    faults: list[FaultSpec] = Field(default_factory=list, description="Timeline of faults and events (by `type:`).")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="How figures are collected.")
    compare: CompareConfig | None = Field(None, description="A committed comparison study (dsim compare); see below.")
    cost: CostConfig | None = Field(None, description="Prices: the summary gains `cost` (docs/resilience.md, Cost).")
    trace: TraceConfig | None = Field(None, description="Distributed tracing of sampled requests: spans per hop "
                                      "(dsim run --trace FILE writes them; docs/tracing.md).")
    history: bool | None = Field(
        None, description="Record every operation of the checkable workloads (history.jsonl and history.edn with "
                          "--out; docs/consistency.md).")
    check: list[CheckName] | None = Field(
        None, description="Checks run on the recorded history after the run (implies `history`); `dsim run` exits 1 "
                          "when one fails: linearizable, stale_reads, read_your_writes, monotonic_reads, lost_writes, "
                          "garbage_reads, G0, G1a, G1c, G2.")
    check_budget: PositiveDuration | None = Field(
        None, description="Wall-clock time the linearizability search may take (default 10s); past it: unknown.")

    @property
    def records_history(self) -> bool:
        """True when the run records the checkable workloads' operations (`history` or `check`)."""
        return bool(self.history) or bool(self.check)

    _source: str | None = PrivateAttr(None)
    _base_dir: Path | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _names_and_warmup(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for section, most in (("components", MAX_COMPONENTS), ("workloads", MAX_WORKLOADS), ("faults", MAX_FAULTS)):
                if isinstance(data.get(section), (dict, list)) and len(data[section]) > most:
                    raise error_at((section,), f"{len(data[section]):,} entries; at most {most:,}")
            links = data.get("network", {}).get("links") if isinstance(data.get("network"), dict) else None
            if isinstance(links, list) and len(links) > MAX_LINKS:
                raise error_at(("network", "links"), f"{len(links):,} entries; at most {MAX_LINKS:,}")
            for section in ("components", "workloads"):
                for name in (data.get(section) or {}) if isinstance(data.get(section), dict) else ():
                    if not isinstance(name, str) or not _NAME.match(name):
                        raise error_at((section, name), f"invalid name {name!r}: use letters, digits, '_' and '-'")
        return data

    @model_validator(mode="after")
    def _warmup_within(self) -> "Scenario":
        if self.warmup != "auto" and self.warmup >= self.duration:
            raise error_at(("warmup",), f"warm-up ({self.warmup:g}s) must be shorter than the duration ({self.duration:g}s)")
        return self

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    def effective(self) -> dict[str, Any]:
        """The configuration actually used, defaults included, as plain data (units as text)."""
        return self.model_dump(mode="json", exclude_none=True)


# --------------------------------------------------------------------------------------------------
def _cycles(sc: Scenario) -> list[tuple[tuple, str]]:
    """A cycle of components that pass every request on (cache -> cache -> ..., a server calling
    its caller): a request sent round it would never come back."""
    owner = {}
    for name, cfg in sc.components.items():
        for member, _c, _cfg in registry.components.get(cfg.type).expand(name, cfg):
            owner[member] = name
    edges = {name: [(rel, owner[t]) for rel, t in cfg.forwards() if t in owner]
             for name, cfg in sc.components.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[tuple[str, tuple]] = []

    def visit(node: str) -> list[tuple[tuple, str]] | None:
        state[node] = 1
        for rel, nxt in edges[node]:
            path.append((node, rel))
            if state.get(nxt) == 1:
                start = next(i for i, (n, _r) in enumerate(path) if n == nxt)
                loop = [n for n, _r in path[start:]] + [nxt]
                first, first_rel = path[start]
                return [(("components", first) + first_rel,
                         f"{' -> '.join(loop)} is a cycle: a request sent round it never comes back (each of "
                         f"these passes every request on); break it, or give a call a probability below 1")]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
            path.pop()
        state[node] = 2
        return None

    for name in sc.components:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


_TIME = re.compile(r"^([0-9.eE+-]+)(s|/s)$")


def _clock_resolution(sc: Scenario) -> list[tuple[tuple, str]]:
    """The simulated clock is a float: near time T it cannot tell apart times closer than ulp(T). A
    run whose end is so far that this blurs the scenario's shortest duration (or interval between
    arrivals) would silently compute something else; refuse it."""
    shortest, where = math.inf, ()

    def visit(node: Any, path: tuple) -> None:
        nonlocal shortest, where
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, path + (i,))
        elif isinstance(node, str):
            m = _TIME.match(node)
            if m:
                try:
                    x = float(m.group(1))
                except ValueError:
                    return
                x = 1.0 / x if m.group(2) == "/s" and x > 0 else x
                if 0 < x < shortest:
                    shortest, where = x, path

    visit(sc.model_dump(mode="json", exclude={"duration", "warmup"}), ())
    step = math.ulp(sc.duration)
    if step > shortest * CLOCK_RESOLUTION:
        return [(("duration",), f"at {fmt_limit(sc.duration)}s the simulated clock only resolves {step:.3g}s, too coarse "
                 f"for the scenario's shortest time ({shortest:.3g}s at {format_path(where)}); shorten the run")]
    return []


def _cross_check(sc: Scenario) -> list[tuple[tuple, str]]:
    """Problems only visible across the whole scenario: (path, message)."""
    problems: list[tuple[tuple, str]] = []
    names: set[str] = set()
    for name, cfg in sc.components.items():
        cls = registry.components.get(cfg.type)
        for member, _c, _cfg in cls.expand(name, cfg):
            names.add(member)
    if len(names) > MAX_COMPONENTS:
        problems.append((("components",), f"{len(names):,} components once replicas are counted; at most "
                         f"{MAX_COMPONENTS:,}"))
        return problems
    if not sc.workloads and not any(getattr(registry.components.get(c.type), "drives_itself", False)
                                    for c in sc.components.values()):
        problems.append((("workloads",), "no workloads: give at least one (or an application component whose "
                         "actors make the calls)"))
    for name in sc.workloads:
        if name in sc.components:
            problems.append((("workloads", name), f"'{name}' is both a component and a workload; names must be unique"))
    zones = {z for c in sc.components.values() for z in c.zones()} | {w.zone for w in sc.workloads.values()}
    for w in sc.workloads.values():
        if w.attributes and w.attributes.region:
            zones |= set(w.attributes.region)

    def check(prefix: tuple, refs: Iterable[tuple[tuple, str]], allowed: set[str], what: str) -> None:
        for rel, ref in refs:
            if ref not in allowed:
                problems.append((prefix + rel, f"unknown {what} '{ref}'{did_you_mean(ref, allowed)}"))

    for name, cfg in sc.components.items():
        check(("components", name), cfg.refs(), names, "component")
        for rel, ref in cfg.refs():
            if ref == name:
                problems.append((("components", name) + rel, f"'{name}' cannot call itself"))
    for name, w in sc.workloads.items():
        check(("workloads", name), w.refs(), names, "component")
    if not problems:
        problems += _cycles(sc)
    if not problems:
        for name, cfg in sc.components.items():
            problems += cfg.cross_check(name, sc)
    endpoints = names | set(sc.workloads) | zones
    for i, link in enumerate(sc.network.links):
        for j, end in enumerate(link.between):
            if end not in endpoints:
                problems.append((("network", "links", i, "between", j), f"unknown component, workload or zone "
                                 f"'{end}'{did_you_mean(end, endpoints)}"))
    for name, w in sc.workloads.items():
        if w.start >= sc.duration:
            problems.append((("workloads", name, "start"), f"starts at {w.start:g}s, not before the end of the run "
                             f"({sc.duration:g}s): it would send nothing"))
    problems += _clock_resolution(sc)
    for i, f in enumerate(sc.faults):
        allowed = names if f.refers_to == "component" else set(sc.workloads) if f.refers_to == "workload" else endpoints
        check(("faults", i), f.refs(), allowed, f.refers_to)
        problems += [(("faults", i) + rel, msg) for rel, msg in f.check(sc)]
    if sc.records_history or sc.check_budget is not None:
        checkable = [w for w in sc.workloads.values() if w.checkable]
        key = "check" if sc.check else "history" if sc.history else "check_budget"
        if not checkable:
            problems.append(((key,), "records the operations of checkable workloads, and there is none: give a "
                             "closed-loop workload `checkable: true`"))
        elif model_for({f for w in checkable for f in w.mix}) is None:
            problems.append(((key,), "the checkable workloads mix read/write/cas with append: one history needs one "
                             "model (a register or lists)"))
    if sc.cost is not None:  # a price names a component (as written in the file) or a component type
        priced = set(sc.components) | set(registry.components.names())
        for key in sc.cost.replica_hour:
            if key not in priced:
                problems.append((("cost", "replica_hour", key), f"unknown component or component type "
                                 f"'{key}'{did_you_mean(key, priced)}"))
    return problems


def validate(data: Any, file: str | None = None, lines: LineMap | None = None,
             base_dir: Path | None = None) -> Scenario:
    """Plain data -> `Scenario`, or a located `ScenarioError`."""
    line_of = lines.line_of if lines is not None else None
    if data is None:
        raise ScenarioError("the file is empty; a scenario needs at least 'duration', 'components' and 'workloads'",
                            file=file)
    if not isinstance(data, dict):
        raise ScenarioError(f"a scenario is a mapping of keys (name, duration, components, ...), not a {type(data).__name__}",
                            file=file, line=1)
    try:
        sc = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise to_scenario_error(exc, file, line_of) from None
    problems = _cross_check(sc)
    if problems:
        errs = [ScenarioError(msg, file=file, path=path, line=line_of(path) if line_of else None)
                for path, msg in problems]
        raise errs[0] if len(errs) == 1 else ScenarioErrors(errs)
    sc._source = file
    sc._base_dir = base_dir
    return sc


def setting_paths(data: Any, prefix: str = "") -> list[str]:
    """Every dotted path of a scenario's settings (`workloads.web.arrivals.rate`, `faults.0.at`)."""
    out: list[str] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        out.append(path)
        out.extend(setting_paths(value, path))
    return out


def suggest_path(data: Any, path: str) -> str:
    """A " (did you mean 'workloads.web.arrivals.rate'?)" suffix for a --set/--vary path the scenario
    does not have: a real path ending in the same key (`workloads.web.rate` -> the arrivals' rate),
    else the closest real path; '' when nothing is close."""
    paths = setting_paths(data)
    if path in paths:
        return ""
    leaf = path.rsplit(".", 1)[-1]
    same_leaf = [p for p in paths if p.rsplit(".", 1)[-1] == leaf]
    match = difflib.get_close_matches(path, same_leaf or paths, n=1, cutoff=0.5 if same_leaf else 0.75)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _set_path(data: Any, path: list[str], value: Any, label: str) -> None:
    node = data
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(path[:depth]) or "the scenario"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"'{part}' is not an index of {where} (0..{len(node) - 1})", file=label)
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            elif part not in node or node[part] is None:
                if part in node:  # an optional section left unset: create it
                    node[part] = {}
                else:
                    hint = did_you_mean(part, node) or suggest_path(data, ".".join(path))
                    raise ScenarioError(f"no '{part}' in {where}{hint}; "
                                        f"it has: {', '.join(map(str, node))}", file=label)
                node = node[part]
            else:
                node = node[part]
        else:
            raise ScenarioError(f"{where} is a single value, it has no '{part}'", file=label)


def parse_overrides(items: Iterable[str | tuple[str, Any]] | Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """`["a.b=1", ...]`, `[("a.b", 1)]` or `{"a.b": 1}` -> [(path, parsed value)]."""
    if not items:
        return []
    if isinstance(items, Mapping):
        return [(k, v) for k, v in items.items()]
    out = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            out.append(item)
            continue
        if "=" not in item:
            raise ScenarioError(f"--set expects path=value, got {item!r}", file="--set")
        path, raw = item.split("=", 1)
        try:
            out.append((path.strip(), parse_scalar(raw)))
        except ScenarioError as exc:
            raise ScenarioError(exc.message, file=f"--set {path.strip()}") from None
    return out


def with_overrides(sc: Scenario, overrides: Iterable[str] | Mapping[str, Any] | None,
                   sources: Mapping[str, str] | None = None) -> Scenario:
    """A new scenario with dotted-path overrides applied (values as in YAML, units included).

    `sources` names the flag that set a path (`{"duration": "--duration"}`; else `--set`): errors
    start with it, then the key path once (`--set: components.app.workers: ...`)."""
    pairs = parse_overrides(overrides)
    if not pairs:
        return sc
    sources = sources or {}
    data = sc.model_dump(mode="json")
    flags: list[str] = []
    hints: dict[tuple[str, ...], str] = {}  # a path the scenario lacks -> the real one it may mean
    for path, value in pairs:
        flag = sources.get(path, "--set")
        if flag not in flags:
            flags.append(flag)
        label = f"--set {path}" if flag == "--set" else flag
        if not path or any(not p for p in path.split(".")):
            raise ScenarioError(f"invalid path {path!r}", file=label)
        hint = suggest_path(data, path)
        if hint:
            hints[tuple(path.split("."))] = hint
        _set_path(data, path.split("."), value, label)
    # The error names the key path itself: the label is only the flag(s), so the path is not said twice.
    try:
        out = validate(data, file=", ".join(flags), base_dir=sc.base_dir)
    except ScenarioError as exc:
        raise (_with_hints(exc, hints) if hints else exc) from None
    out._source = sc.source
    return out


def _with_hints(exc: ScenarioError, hints: dict[tuple[str, ...], str]) -> ScenarioError:
    """The validation error of an override, with a did-you-mean for a key the scenario lacks."""
    errors = list(getattr(exc, "errors", None) or [exc])
    out = []
    for e in errors:
        hint = hints.get(tuple(str(p) for p in e.path), "")
        out.append(ScenarioError(e.message + hint, file=e.file, path=e.path, line=e.line) if hint and
                   "did you mean" not in e.message else e)
    return out[0] if len(out) == 1 else ScenarioErrors(out)


def with_faults(sc: Scenario, texts: Iterable[str]) -> Scenario:
    """A new scenario with faults added, each written as on the command line (`--fault "crash app-1
    at 30s for 10s"`, grammar in simulator/faults/text.py), validated as a `faults:` entry would be;
    a problem is one error naming the string."""
    from simulator.faults.text import FaultTextError, parse_fault_text

    texts = list(texts)
    if not texts:
        return sc
    data = sc.model_dump(mode="json")
    first = len(data["faults"])
    for text in texts:
        label = f"--fault {text!r}"
        try:
            data["faults"].append(parse_fault_text(text))
        except FaultTextError as exc:
            raise ScenarioError(str(exc), file=label) from None
    try:
        out = validate(data, file="--fault", base_dir=sc.base_dir)
    except ScenarioError as exc:
        err = exc.errors[0] if isinstance(exc, ScenarioErrors) else exc
        path = err.path
        if len(path) >= 2 and path[0] == "faults" and isinstance(path[1], int) and path[1] >= first:
            raise ScenarioError(err.message, file=f"--fault {texts[path[1] - first]!r}", path=path[2:]) from None
        raise
    out._source = sc.source
    return out


def load_scenario(path: str | Path, overrides: Iterable[str] | Mapping[str, Any] | None = None,
                  seed: int | None = None, duration: str | float | None = None,
                  warmup: str | float | None = None, faults: Iterable[str] = ()) -> Scenario:
    """Read, validate and apply overrides to a scenario file (`seed`, `duration` and `warmup` as the
    command line's flags give them, applied together with the overrides), then add `faults` written as
    on the command line (see `with_faults`)."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError("no such file", file=str(path))
    if p.is_dir():
        raise ScenarioError("is a directory, not a scenario file", file=str(path))
    try:
        with p.open("rb") as fh:  # read at most the limit (a pipe such as <(...) works; /dev/zero ends)
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError(f"a scenario file is at most {MAX_FILE_BYTES:,} bytes", file=str(path))
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text did
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file: {exc}", file=str(path)) from None
    if not text.strip():
        raise ScenarioError("the file is empty; a scenario needs at least 'duration', 'components' and 'workloads'",
                            file=str(path))
    data, lines = load_yaml(text, str(path))
    sc = validate(data, file=str(path), lines=lines, base_dir=p.resolve().parent)
    pairs = parse_overrides(overrides)
    flags = {}
    if seed is not None:
        pairs.append(("seed", int(seed)))
        flags["seed"] = "--seed"
    for key, value in (("duration", duration), ("warmup", warmup)):
        if value is None:
            continue
        flags[key] = f"--{key}"
        if key == "warmup" and isinstance(value, str) and value.strip() == "auto":
            pairs.append((key, "auto"))
            continue
        try:
            secs = float(value) if isinstance(value, (int, float)) else parse_duration(value)
            pairs.append((key, f"{secs!r}s"))
        except UnitError as exc:
            raise ScenarioError(str(exc) + (" (or 'auto')" if key == "warmup" else ""), file=f"--{key}") from None
    sc = with_overrides(sc, pairs, flags) if pairs else sc
    return with_faults(sc, faults)


def loads_scenario(text: str, name: str = "<string>", overrides: Sequence[str] | None = None) -> Scenario:
    """Validate a scenario given as YAML text (tests, notebooks)."""
    data, lines = load_yaml(text, name)
    sc = validate(data, file=name, lines=lines)
    return with_overrides(sc, overrides) if overrides else sc
