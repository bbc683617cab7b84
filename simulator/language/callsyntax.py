"""The compact `name(key=value, ...)` form used for distributions, arrivals and key choices.

`exponential(mean=1s)` is shorthand for the mapping `{<kind_key>: exponential, mean: 1s}`; values
are read as YAML flow scalars, so lists work: `empirical(values=[1ms, 2ms])`.
"""
from __future__ import annotations

import re
from typing import Any


_CALL = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*\((.*)\)\s*$", re.S)
_KEY = re.compile(r"(^|,)\s*([A-Za-z_]\w*)\s*=")


class CallSyntaxError(ValueError):
    pass


def is_call(text: Any) -> bool:
    return isinstance(text, str) and _CALL.match(text) is not None


def parse_call(text: str, kind_key: str) -> dict[str, Any]:
    """`'poisson(rate=5/s)'` -> `{kind_key: 'poisson', 'rate': '5/s'}`."""
    m = _CALL.match(text)
    if not m:
        raise CallSyntaxError(f"expected the form name(key=value, ...), got {text!r}")
    name, args = m.group(1), m.group(2).strip()
    out: dict[str, Any] = {kind_key: name}
    if not args:
        return out
    flow = "{" + _KEY.sub(lambda k: f"{k.group(1)} {k.group(2)}: ", args) + "}"
    try:
        from simulator.language.yamlio import parse_scalar

        parsed = parse_scalar(flow)
    except Exception as exc:  # any YAML problem is the same mistake to the user
        raise CallSyntaxError(f"cannot read the arguments of {text!r}: write them as key=value, ...") from exc
    if not isinstance(parsed, dict) or any(v is None for v in parsed.values()):
        raise CallSyntaxError(f"cannot read the arguments of {text!r}: write them as key=value, ...")
    if kind_key in parsed:
        raise CallSyntaxError(f"{text!r}: '{kind_key}' is given by the name before the parenthesis")
    out.update(parsed)
    return out


