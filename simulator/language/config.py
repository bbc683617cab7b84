"""Base class for every validated, immutable piece of scenario configuration."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from simulator.language.errors import did_you_mean
from simulator.language.validation import error_at


class StrictModel(BaseModel):
    """Unknown keys are errors (with a "did you mean"), and a validated config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        return data

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
