"""Quantities with units: durations, rates, sizes and probabilities.

Numbers in a scenario carry their unit (`250ms`, `40/s`, `4KB`); a bare number is almost always a
mistake, so it is rejected (except 0, which is the same in every unit).
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any, Callable

from pydantic import BeforeValidator, PlainSerializer


class UnitError(ValueError):
    """A value without the expected unit, or outside its allowed range."""


class OutOfRange(UnitError):
    """A well-formed quantity too large (or too small) for the simulation's clock and counters."""


# The limits of every quantity, in base units (documented in docs/scenario-format.md, "Limits").
# Durations: at most about 31.7 years, where a float clock still resolves a microsecond (ulp(1e9) is
# 1.2e-7 s); a positive duration shorter than a nanosecond is below anything dsim models. Rates are
# the inverse. Sizes: at most a petabyte.
MAX_DURATION_S = 1e9
MIN_DURATION_S = 1e-9
MAX_RATE_PER_S = 1e9
MIN_RATE_PER_S = 1e-9
MAX_SIZE_B = 1e15
LIMITS = {"duration": (MIN_DURATION_S, MAX_DURATION_S, "s"), "rate": (MIN_RATE_PER_S, MAX_RATE_PER_S, "/s"),
          "size": (0.0, MAX_SIZE_B, "B")}


def check_range(x: float, kind: str, shown: Any) -> float:
    """`x` (base units) if it is finite and within the limits of `kind`, else `OutOfRange`."""
    low, high, unit = LIMITS[kind]
    if math.isnan(x):
        raise OutOfRange(f"{shown} is not a number")
    if abs(x) > high:
        raise OutOfRange(f"{shown} is too large: at most {fmt_limit(high)}{unit}")
    if x != 0 and abs(x) < low:
        raise OutOfRange(f"{shown} is too small: 0, or at least {fmt_limit(low)}{unit}")
    return x


def fmt_limit(x: float) -> str:
    """1e9 as '1e9' (not '1e+09'), 1000 as '1000'."""
    return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_DURATION = re.compile(rf"^\s*{_NUM}\s*(us|µs|ms|s|sec|m|min|h)\s*$")
_RATE = re.compile(rf"^\s*{_NUM}\s*(?:/|per\s+)\s*(ms|s|sec|m|min|h)\s*$")
_SIZE = re.compile(rf"^\s*{_NUM}\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")
_PERCENT = re.compile(rf"^\s*{_NUM}\s*%\s*$")

DURATION_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
SIZE_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
              "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == 0
    return isinstance(value, str) and value.strip() in ("0", "0.0")


def _parser(pattern: re.Pattern, units: dict[str, float], what: str, example: str, kind: str,
            invert: bool = False) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if _is_zero(value):
            return 0.0
        if isinstance(value, str):
            m = pattern.match(value)
            if m:
                number, unit = float(m.group(1)), units[m.group(2)]
                return check_range(number / unit if invert else number * unit, kind, repr(value.strip()))
        shown = f"'{value}'" if not isinstance(value, str) else repr(value)
        raise UnitError(f"expected {what}, like '{example}'; got {shown}")

    parse.__name__ = f"parse_{what.split()[1]}"
    return parse


parse_duration = _parser(_DURATION, DURATION_UNITS, "a duration with a unit (us, ms, s, m, h)", "250ms", "duration")
parse_rate = _parser(_RATE, DURATION_UNITS, "a rate with a unit (/s, /m, /h)", "40/s", "rate", invert=True)
parse_size = _parser(_SIZE, SIZE_UNITS, "a size with a unit (B, KB, MB, GB)", "4KB", "size")


def parse_fraction(value: Any) -> float:
    """A probability: 0.2 or '20%', within [0, 1]."""
    if isinstance(value, bool):
        raise UnitError(f"expected a probability between 0 and 1 (or a percentage like 20%), got {value!r}")
    if isinstance(value, str):
        m = _PERCENT.match(value)
        if m:
            value = float(m.group(1)) / 100.0
        else:
            try:
                value = float(value)
            except ValueError:
                raise UnitError(f"expected a probability between 0 and 1 (or a percentage like 20%), got {value!r}") from None
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UnitError(f"expected a probability between 0 and 1 (or a percentage like 20%), got {value!r}")
    return float(value)


def fmt_duration(seconds: float) -> str:
    return f"{float(seconds)!r}s"


def fmt_rate(per_s: float) -> str:
    return f"{float(per_s)!r}/s"


def fmt_size(n_bytes: float) -> str:
    return f"{float(n_bytes)!r}B"


def _bounded(parse: Callable[[Any], float], fmt: Callable[[float], str], positive: bool) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        x = parse(value)
        if positive and x <= 0:
            raise UnitError(f"must be greater than 0, got {value}")
        if x < 0:
            raise UnitError(f"must not be negative, got {value}")
        return x

    return check


class Quantity:
    """Marker in a type's metadata naming its kind, for generated documentation."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind


def _quantity(parse, fmt, positive: bool, kind: str) -> Any:
    return Annotated[float, BeforeValidator(_bounded(parse, fmt, positive)),
                     PlainSerializer(fmt, return_type=str), Quantity(("positive " if positive else "") + kind)]


Duration = _quantity(parse_duration, fmt_duration, False, "duration")
PositiveDuration = _quantity(parse_duration, fmt_duration, True, "duration")
Rate = _quantity(parse_rate, fmt_rate, False, "rate")
PositiveRate = _quantity(parse_rate, fmt_rate, True, "rate")
Size = _quantity(parse_size, fmt_size, False, "size")
PositiveSize = _quantity(parse_size, fmt_size, True, "size")
Fraction = Annotated[float, BeforeValidator(parse_fraction), Quantity("probability")]


def _signed_duration(value: Any) -> float:
    """A duration that may be negative ('-2s': a clock behind the true time)."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_duration(value.strip()[1:])
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return -parse_duration(-value)
    return parse_duration(value)


SignedDuration = Annotated[float, BeforeValidator(_signed_duration), PlainSerializer(fmt_duration, return_type=str),
                           Quantity("signed duration")]
