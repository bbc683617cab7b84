"""Every built-in fault type, and the tagged config a scenario's `faults:` list is validated with."""
from __future__ import annotations

from simulator.faults import link, node  # noqa: F401  (registers the fault types)
from simulator.faults.base import FaultConfig
from simulator.language import registry
from simulator.language.tagged import tagged, tagged_validator

FaultSpec = tagged(FaultConfig, tagged_validator(registry.faults, "type", FaultConfig,
                                                 "a fault like {type: crash, target: app, at: 10s}", compact=False))


_adapter = None


def validate_fault(data: dict) -> FaultConfig:
    """One fault from plain data (as in YAML); a problem is a ValueError of one line."""
    global _adapter
    from pydantic import TypeAdapter, ValidationError

    if _adapter is None:
        _adapter = TypeAdapter(FaultSpec)
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where}: {msg}" if where else msg) from None
