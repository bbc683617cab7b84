"""Reading back what `run --out` and `compare --out` wrote, for `dsim report`: each file is checked
against the shape dsim writes, so a damaged or hand-edited file gives one line naming the file
and the place, never a traceback."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from simulator.language.errors import ScenarioError

# A shape: a type (or a tuple of types), a dict of keys ("?key": optional), ["list", item] or
# ["map", value] (string keys). bool is not a number here.
NUM = (int, float)
OPT_NUM = (int, float, type(None))
_LATENCY = {k: OPT_NUM for k in ("mean", "p50", "p90", "p95", "p99", "p999", "max")}
_FAULTS = ["list", {"start_s": NUM, "?end_s": OPT_NUM, "description": str}]
_WARNINGS = ["list", str]

RUN_SHAPE: dict[str, Any] = {
    "scenario": str, "seed": int, "duration_s": NUM, "warmup_s": NUM,
    "requests": {k: int for k in ("generated", "ok", "rejected", "timed_out", "errors", "in_flight")},
    "throughput_rps": NUM, "availability": OPT_NUM, "latency_s": _LATENCY,
    "components": ["map", {"?type": (str, type(None)), "?utilization": OPT_NUM}],
    "?operations": ["map", {"latency_s": _LATENCY}],
    "?faults": _FAULTS, "?warnings": _WARNINGS,
    "?warmup_auto": (dict, type(None)),
}
COMPARISON_SHAPE: dict[str, Any] = {
    "scenario": str, "seed": int, "axes": ["list", {"path": str, "values": list}],
    "variants": ["list", {"variant": str}], "differences": ["list", {"variant": str, "metric": str}],
    "replications": int, "replication_seeds": list, "runs": int, "runs_from_cache": int, "executor": str,
    "baseline": str, "?marks": ["map", dict], "?extra_metrics": ["list", str], "?faults": _FAULTS,
    "?warnings": _WARNINGS, "?warmup_auto": (dict, type(None)),
}
CONFIG_SHAPE: dict[str, Any] = {"?components": ["map", dict], "?workloads": ["map", dict]}


def _kind(shape: Any) -> str:
    if isinstance(shape, dict):
        return "a mapping"
    if isinstance(shape, list):
        return "a list" if shape[0] == "list" else "a mapping"
    types = shape if isinstance(shape, tuple) else (shape,)
    names = {int: "an integer", float: "a number", str: "a string", type(None): "null", dict: "a mapping",
             list: "a list"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types if not (t is int and float in types)))


def mismatch(value: Any, shape: Any, path: tuple = ()) -> tuple[tuple, str] | None:
    """Where `value` departs from `shape` and what was expected there, or None."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return path, f"expected {_kind(shape)}, got {type(value).__name__}"
        for key, sub in shape.items():
            name = key.lstrip("?")
            if name not in value:
                if not key.startswith("?"):
                    return path + (name,), "missing"
                continue
            found = mismatch(value[name], sub, path + (name,))
            if found:
                return found
        return None
    if isinstance(shape, list):
        container = list if shape[0] == "list" else dict
        if not isinstance(value, container):
            return path, f"expected {_kind(shape)}, got {type(value).__name__}"
        items = enumerate(value) if container is list else value.items()
        for k, v in items:
            if container is dict and not isinstance(k, str):
                return path, f"expected names as keys, got {k!r}"
            found = mismatch(v, shape[1], path + (k,))
            if found:
                return found
        return None
    types = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) or not isinstance(value, types):
        if not (isinstance(value, bool) and bool in types):
            return path, f"expected {_kind(shape)}, got {type(value).__name__}"
    return None


def check(value: Any, shape: Any, file: Path) -> None:
    found = mismatch(value, shape)
    if found:
        path, what = found
        raise ScenarioError(f"{what}: not the shape dsim run/compare --out writes", file=str(file), path=path)


def read_json(path: Path, shape: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ScenarioError(f"not readable JSON: {exc}", file=str(path)) from None
    missing = [k for k in shape if not k.startswith("?") and (not isinstance(data, dict) or k not in data)]
    if missing:
        raise ScenarioError(f"not written by dsim run/compare --out (no {', '.join(repr(k) for k in missing[:3])})",
                            file=str(path))
    check(data, shape, path)
    return data


def read_config(path: Path) -> tuple[str, dict[str, Any]]:
    """scenario.yaml as text and as data ("", {} when there is none)."""
    if not path.exists():
        return "", {}
    try:
        text = path.read_text(encoding="utf-8")
        config = yaml.safe_load(text) if text else {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"not readable: {exc}", file=str(path)) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ScenarioError(f"not readable YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                            file=str(path)) from None
    if config is None:
        return text, {}
    check(config, CONFIG_SHAPE, path)
    return text, config


def damaged(file: Path, exc: Exception, path: tuple = ()) -> ScenarioError:
    """A file that passed the checks above but still cannot be shown (a value deeper inside)."""
    return ScenarioError(f"not the shape dsim run/compare --out writes ({type(exc).__name__}: {exc})",
                         file=str(file), path=path)

