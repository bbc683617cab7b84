"""Validators for tagged configs: a mapping whose tag key (`type:`, `dist:`, `process:`) picks the
registered class that validates the rest, optionally written compactly as `name(key=value, ...)`."""
from __future__ import annotations

from typing import Annotated, Any, Callable

from pydantic import BeforeValidator, SerializeAsAny, ValidationInfo

from simulator.language.callsyntax import CallSyntaxError, is_call, parse_call
from simulator.language.registry import Registry
from simulator.language.validation import error_at


def tagged_validator(reg: Registry, tag: str, base: type, example: str, compact: bool = True,
                     config_of: Callable[[type], type] = lambda cls: cls,
                     before: Callable[[], None] = lambda: None) -> Callable[[Any], Any]:
    """A pydantic before-validator turning raw data into the config object of the tagged class."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        before()
        if isinstance(value, base):
            return value
        if compact and is_call(value):
            try:
                value = parse_call(value, tag)
            except CallSyntaxError as exc:
                raise ValueError(str(exc)) from None
        if not isinstance(value, dict):
            raise ValueError(f"expected {example} or a mapping with '{tag}:', got {value!r}")
        name = value.get(tag)
        if name is None:
            raise error_at((tag,), f"missing '{tag}'; one of: {', '.join(reg.names())}")
        try:
            cls = reg.get(name)
        except KeyError as exc:
            raise error_at((tag,), str(exc), name) from None
        # The context carries the scenario's directory, against which files named inside (an
        # empirical distribution's CSV) are found.
        return config_of(cls).model_validate(value, context=info.context)

    return validate


def tagged(base: type, validator: Callable[[Any], Any]) -> Any:
    """The annotated field type: validated by `validator`, dumped with the subclass's own fields."""
    return Annotated[SerializeAsAny[base], BeforeValidator(validator)]
