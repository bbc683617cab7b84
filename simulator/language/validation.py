"""Turning pydantic's errors into located `ScenarioError`s, and raising errors at a key."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from simulator.language.errors import ScenarioError, ScenarioErrors, did_you_mean


def error_at(loc: Sequence[str | int], message: str, value: Any = None) -> ValidationError:
    """A ValidationError located at `loc` below the value being validated (for nested dispatch)."""
    detail: InitErrorDetails = {
        "type": PydanticCustomError("dsim", "{message}", {"message": message}),
        "loc": tuple(loc),
        "input": value,
    }
    return ValidationError.from_exception_data("scenario", [detail])


_PREFIXES = ("Value error, ", "Assertion failed, ")


def _message(err: dict) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    for prefix in _PREFIXES:
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if kind == "missing":
        return "this key is required but missing"
    if kind in ("dsim", "value_error"):
        return msg
    value = err.get("input")
    if isinstance(value, (str, int, float, bool)) or value is None:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:40] + f"... ({len(repr(value)):,} characters)"
        hint = ""
        if kind == "literal_error" and isinstance(value, str):  # a misspelt choice: name the nearest
            hint = did_you_mean(value, re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", ""))))
        return f"{msg[:1].lower()}{msg[1:]}; got {shown}{hint}"
    return msg[:1].lower() + msg[1:]


def _clean_loc(loc: Sequence[Any]) -> tuple[str | int, ...]:
    # pydantic adds union/function tags such as 'function-before[...]'; they are not keys.
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p and "]" in p and "(" in p)))


# The tags pydantic puts in an error's location for the branch of a union it tried ('str',
# 'constrained-int', 'list[str]'); they are not keys of the scenario.
_BRANCH = re.compile(r"^(?:str|int|float|bool|none|bytes|constrained-[a-z]+|[a-z-]+\[.*\])$")
_PYTHON_TAG = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}


def _one_per_union(errors: list[dict]) -> list[dict]:
    """Of errors that differ only by the union branch at the end of their location, keep the one
    whose branch matches the value's type (else the first): one line for one mistake."""
    groups: dict[tuple, list[dict]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        key = loc[:-1] if loc and isinstance(loc[-1], str) and _BRANCH.match(loc[-1]) else loc
        groups.setdefault(key, []).append(err)
    out = []
    for key, group in groups.items():
        if len(group) == 1 or any(tuple(e["loc"]) == key for e in group):
            out.extend(group)
            continue
        tag = _PYTHON_TAG.get(type(group[0].get("input")), "")
        best = next((e for e in group if tag and tag in str(e["loc"][-1])), group[0])
        out.append({**best, "loc": key})
    return out


def to_scenario_error(exc: ValidationError, file: str | None, line_of: Any = None,
                      prefix: Sequence[str | int] = ()) -> ScenarioError:
    errors = []
    seen = set()
    for err in _one_per_union(exc.errors(include_url=False)):
        loc = tuple(prefix) + _clean_loc(err["loc"])
        msg = _message(err)
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        line = line_of(loc) if line_of is not None else None
        errors.append(ScenarioError(msg, file=file, path=loc, line=line))
    errors.sort(key=lambda e: (e.line or 0))
    return errors[0] if len(errors) == 1 else ScenarioErrors(errors)
