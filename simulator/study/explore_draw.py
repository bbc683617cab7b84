"""Random fault timelines for `dsim explore`: what may be drawn (the budget) and the drawing.

A drawn fault is a plain `faults:` entry (the mapping a scenario's YAML holds), so a timeline that
breaks a system is a normal scenario. Each fault kind has one small drawer (`DRAWERS`), chosen by
name; every draw comes from the timeline's own generator, made from the explore seed and the
timeline's number (`timeline_rng`), so timeline i is the same whatever the batch size or the
number of runs, and the scenario's own seed (its streams) is not touched.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.language import registry
from simulator.language.errors import ScenarioError, did_you_mean
from simulator.sampling.rng import Streams
from simulator.scenario.schema import Scenario

# Kinds whose time counts as down time against the budget's `max_down_s` (the node does no work).
DOWN_KINDS = ("crash", "pause")


@dataclass(frozen=True)
class Budget:
    """What a drawn timeline may contain."""

    kinds: tuple[str, ...] = ("crash", "partition", "pause", "clock_skew", "latency", "packet_loss")
    max_faults: int = 3
    max_down_s: float | None = None  # total crash + pause time of one timeline (None: no limit)
    max_duration_s: float | None = None  # one fault's longest window (default: half the window)
    targets: tuple[str, ...] = ()  # components (or zones for partitions) faults may name; () = all


@dataclass(frozen=True)
class Places:
    """What a timeline can act on: concrete components (replicas expanded) and zones."""

    components: tuple[str, ...]
    zones: tuple[str, ...]
    start_s: float  # faults start inside [start_s, end_s): after the warm-up, before the end
    end_s: float
    zone_of: dict[str, str] = field(default_factory=dict)


def places_of(scenario: Scenario, budget: Budget) -> Places:
    """The components and zones of `scenario` that `budget` lets faults name (checked: a name the
    scenario lacks is a ScenarioError naming `--targets`)."""
    members: list[str] = []
    zone_of: dict[str, str] = {}
    yaml_names: dict[str, list[str]] = {}
    for name, cfg in scenario.components.items():
        cls = registry.components.get(cfg.type)
        own = [m for m, _c, _cfg in cls.expand(name, cfg)]
        yaml_names[name] = cls.fault_members(name, own)
        for m in yaml_names[name]:
            if m not in zone_of:
                members.append(m)
                zone_of[m] = cfg.zone
    zones = sorted({zone_of[m] for m in members})
    if budget.targets:
        known = set(members) | set(yaml_names) | set(zones)
        chosen: list[str] = []
        for t in budget.targets:
            if t not in known:
                raise ScenarioError(f"unknown component or zone '{t}'{did_you_mean(t, known)}", file="--targets")
            for m in yaml_names.get(t, [m for m in members if zone_of[m] == t] if t in zones else [t]):
                if m not in chosen:
                    chosen.append(m)
        members = chosen
        zones = sorted({zone_of[m] for m in members})
    warmup = scenario.warmup if isinstance(scenario.warmup, (int, float)) else 0.0
    return Places(tuple(members), tuple(zones), float(warmup), float(scenario.duration),
                  {m: zone_of[m] for m in members})


def timeline_rng(explore_seed: int, index: int) -> np.random.Generator:
    """The generator of timeline `index`: a named stream of the explore seed (never the scenario's)."""
    return Streams(explore_seed).get(f"explore/timeline/{index}")


def seconds(x: float) -> str:
    """A time as YAML text, to the millisecond: 12.5 -> '12.5s'."""
    text = f"{round(float(x), 3):.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _ms(x: float) -> float:
    return round(float(x), 3)


# --- one drawer per fault kind: (rng, places) -> the fault's own settings (no at / duration) ---------
Drawer = Callable[[np.random.Generator, Places], dict[str, Any] | None]


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _node(kind: str) -> Drawer:
    def draw(rng: np.random.Generator, places: Places) -> dict[str, Any] | None:
        if not places.components:
            return None
        return {"type": kind, "target": _pick(rng, places.components)}
    return draw


def _clock_skew(rng: np.random.Generator, places: Places) -> dict[str, Any] | None:
    if not places.components:
        return None
    offset = _ms(rng.uniform(0.5, 30.0)) * (1 if rng.random() < 0.5 else -1)
    return {"type": "clock_skew", "target": _pick(rng, places.components), "offset": seconds(offset)}


def _slow(rng: np.random.Generator, places: Places) -> dict[str, Any] | None:
    if not places.components:
        return None
    return {"type": "slow", "target": _pick(rng, places.components), "factor": float(rng.choice([2, 4, 10]))}


def _isolate(rng: np.random.Generator, places: Places) -> dict[str, Any]:
    order = _shuffled(rng, places.components)
    return {"groups": [[order[0]], sorted(order[1:])]}


def _halves(rng: np.random.Generator, places: Places) -> dict[str, Any]:
    order = _shuffled(rng, places.components)
    k = int(rng.integers(1, len(order) // 2 + 1))  # a minority (or an even split) against the rest
    return {"groups": [sorted(order[:k]), sorted(order[k:])]}


def _bridge(rng: np.random.Generator, places: Places) -> dict[str, Any]:
    order = _shuffled(rng, places.components)
    rest = order[1:]
    k = max(1, len(rest) // 2)
    return {"groups": [sorted(rest[:k]), sorted(rest[k:])], "bridge": [order[0]]}


def _zones(rng: np.random.Generator, places: Places) -> dict[str, Any]:
    k = int(rng.integers(1, len(places.zones)))
    order = _shuffled(rng, places.zones)
    return {"groups": [sorted(order[:k]), sorted(order[k:])]}


def _shuffled(rng: np.random.Generator, items: tuple[str, ...]) -> list[str]:
    return [items[i] for i in rng.permutation(len(items))]


# Partition shapes (Jepsen's nemesis): one node isolated, a random minority against the majority,
# a bridge (one node sees both halves), zones apart. Each: (usable?, draw).
SHAPES: dict[str, tuple[Callable[[Places], bool], Callable[[np.random.Generator, Places], dict[str, Any]]]] = {
    "isolate": (lambda p: len(p.components) >= 2, _isolate),
    "halves": (lambda p: len(p.components) >= 2, _halves),
    "bridge": (lambda p: len(p.components) >= 3, _bridge),
    "zones": (lambda p: len(p.zones) >= 2, _zones),
}


def _shape(rng: np.random.Generator, places: Places) -> dict[str, Any] | None:
    """Two groups of places in one of the `SHAPES` this scenario allows (None: fewer than two places)."""
    usable = [name for name, (ok, _draw) in SHAPES.items() if ok(places)]
    if len(places.components) < 2 or not usable:
        return None
    return SHAPES[_pick(rng, usable)][1](rng, places)


def _link(kind: str, setting: Callable[[np.random.Generator], dict[str, Any]]) -> Drawer:
    def draw(rng: np.random.Generator, places: Places) -> dict[str, Any] | None:
        shape = _shape(rng, places)
        if shape is None:
            return None
        if kind != "partition":
            shape.pop("bridge", None)  # a bridge is a partition's setting only
        out = {"type": kind, **shape, **setting(rng)}
        if rng.random() < 0.25:
            out["one_way"] = True
        return out
    return draw


DRAWERS: dict[str, Drawer] = {
    "crash": _node("crash"),
    "pause": _node("pause"),
    "slow": _slow,
    "clock_skew": _clock_skew,
    "partition": _link("partition", lambda rng: {}),
    "latency": _link("latency", lambda rng: {"add": seconds(_ms(rng.uniform(0.01, 0.5)))}),
    "packet_loss": _link("packet_loss", lambda rng: {"probability": float(round(rng.uniform(0.01, 0.5), 3))}),
}


def check_kinds(kinds: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    for k in kinds:
        if k not in DRAWERS:
            raise ScenarioError(f"unknown fault kind '{k}'{did_you_mean(k, DRAWERS)}; one of: {', '.join(DRAWERS)}",
                                file="--kinds")
    if not kinds:
        raise ScenarioError(f"give at least one fault kind: {', '.join(DRAWERS)}", file="--kinds")
    return tuple(dict.fromkeys(kinds))


def draw_timeline(places: Places, budget: Budget, rng: np.random.Generator) -> list[dict[str, Any]]:
    """A random timeline within the budget: 1..max_faults faults, each a `faults:` entry with `at`
    and `duration` in seconds (numbers: `as_entries` writes them as YAML text), sorted by start."""
    window = places.end_s - places.start_s
    longest = budget.max_duration_s if budget.max_duration_s is not None else window / 2
    down_left = budget.max_down_s if budget.max_down_s is not None else float("inf")
    n = int(rng.integers(1, budget.max_faults + 1))
    out: list[dict[str, Any]] = []
    for _ in range(n):
        kind = _pick(rng, budget.kinds)
        at = _ms(rng.uniform(places.start_s, places.end_s))
        duration = _ms(rng.uniform(0.001, max(0.001, min(longest, places.end_s - at))))
        settings = DRAWERS[kind](rng, places)
        if settings is None:
            continue  # nothing this kind can act on (a partition needs two places)
        if kind in DOWN_KINDS:
            duration = _ms(min(duration, down_left))
            if duration < 0.001:
                continue
            down_left -= duration
        out.append({**settings, "at": at, "duration": duration})
    out.sort(key=lambda f: (f["at"], f["type"]))
    return out


def as_entries(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline as YAML `faults:` entries (times as text: '12.5s')."""
    return [{**f, "at": seconds(f["at"]), **({"duration": seconds(f["duration"])} if f.get("duration") else {})}
            for f in timeline]


def describe(fault: dict[str, Any]) -> str:
    """One fault in the command-line grammar (`crash app-1 at 3s for 2.5s`): short and re-usable."""
    if "groups" in fault:
        where = "|".join(",".join(g) for g in fault["groups"])
    else:
        where = fault["target"] if isinstance(fault["target"], str) else ",".join(fault["target"])
    extra = [f"{k}={'[' + ','.join(v) + ']' if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else v}"
             for k, v in fault.items() if k not in ("type", "target", "groups", "at", "duration")]
    dur = f" for {seconds(fault['duration'])}" if fault.get("duration") else ""
    return " ".join([fault["type"], where, "at", seconds(fault["at"]) + dur, *extra])
