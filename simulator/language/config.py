"""Base class for every validated, immutable piece of scenario configuration."""
from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable
from typing import Any

import annotated_types
from pydantic import BaseModel, ConfigDict, model_validator

from simulator.language.errors import did_you_mean
from simulator.language.units import fmt_limit
from simulator.language.validation import error_at


# Every number a scenario gives reaches the engine finite and bounded, checked here once for every
# config rather than field by field (documented in docs/scenario-format.md, "Limits"). A whole number
# (a count: workers, replicas, partitions, keys...) is at most MAX_COUNT unless its field sets a
# tighter `le`; any other number at most MAX_NUMBER in magnitude (a petabyte, in bytes).
MAX_COUNT = 1_000_000_000
MAX_NUMBER = 1e15


def _types_in(annotation: Any) -> set[Any]:
    """The plain types an annotation accepts (through Optional, unions and Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _types_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_types_in(a) for a in typing.get_args(annotation)))
    return {origin or annotation}


def _own_upper_bound(field: Any) -> bool:
    return any(isinstance(m, (annotated_types.Le, annotated_types.Lt)) for m in field.metadata)


def _out_of_range(value: Any, count_bound: bool) -> str | None:
    """Why a number (or a number inside a list or mapping) is unusable, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if count_bound and abs(value) > MAX_COUNT:
            shown = str(value) if abs(value) < 10 ** 20 else f"a {len(str(abs(value)))}-digit number"
            return f"{shown} is too large: at most {MAX_COUNT:,}"
    elif isinstance(value, float):
        if not math.isfinite(value):
            return f"expected a finite number, got {value}"
        if abs(value) > MAX_NUMBER:
            return f"{fmt_limit(value)} is too large: at most {fmt_limit(MAX_NUMBER)}"
    elif isinstance(value, (list, tuple)):
        return next((r for r in (_out_of_range(v, count_bound) for v in value) if r), None)
    elif isinstance(value, dict):
        return next((r for r in (_out_of_range(v, count_bound) for v in value.values()) if r), None)
    return None


class StrictModel(BaseModel):
    """Unknown keys are errors (with a "did you mean"), and a validated config never changes.
    Numbers are finite and bounded, and `true` is not a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(cls.model_fields)
            for key in data:
                if key not in allowed:
                    if isinstance(key, str) and ("=" in key or ")" in key):
                        raise error_at((key,), "inside a {...} flow mapping, a compact form with commas such as "
                                       "'lognormal(median=20ms, p99=80ms)' must be quoted", key)
                    hint = did_you_mean(key, allowed)
                    listing = ", ".join(sorted(allowed))
                    raise error_at((key,), f"unknown key '{key}'{hint}; expected one of: {listing}", key)
                value = data[key]
                if isinstance(value, bool):
                    accepted = _types_in(cls.model_fields[key].annotation)
                    if bool not in accepted and accepted & {int, float}:
                        raise error_at((key,), f"expected a number, got {str(value).lower()}", value)
        return data

    @model_validator(mode="after")
    def _numbers_in_range(self) -> "StrictModel":
        for name, field in type(self).model_fields.items():
            problem = _out_of_range(getattr(self, name), not _own_upper_bound(field))
            if problem:
                raise error_at((name,), problem)
        return self

    def refs(self) -> Iterable[tuple[tuple[str | int, ...], str]]:
        """(relative key path, component name) for every component this config refers to.

        The scenario loader checks each against the declared components before a model is built,
        so a dangling name is reported with its place in the file.
        """
        return ()

    def forwards(self) -> Iterable[tuple[tuple[str | int, ...], str]]:
        """The refs every request handled here is passed on to, there and then (not a queue's
        asynchronous deliveries, not a call made only with some probability). A cycle of these
        would send a request round forever; the loader refuses it."""
        return self.refs()
