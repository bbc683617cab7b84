"""Random variates for service times, latencies, sizes: parsing, moments and fast sampling.

A distribution is an immutable object with `sample_block(rng, n)` (vectorised numpy), `mean`,
`variance` and `spec()` (a mapping `parse_distribution` reads back). On the hot path a `Sampler`
hands out Python floats from pre-drawn numpy blocks: one numpy call per 4096 values.
"""
from __future__ import annotations

import csv
import io
import math
import os
import stat
from itertools import repeat
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar

import numpy as np
from pydantic import BeforeValidator, PlainSerializer, ValidationInfo

from simulator.sampling.blocks import BLOCK, PIECE, BlockStream
from simulator.language.callsyntax import CallSyntaxError, is_call, parse_call
from simulator.language import registry
from simulator.language.errors import did_you_mean
from simulator.language.registry import UnknownName
from simulator.language.units import (
    MAX_DURATION_S, MAX_SIZE_B, OutOfRange, UnitError, fmt_duration, fmt_limit, fmt_size, parse_duration,
    parse_rate, parse_size,
)

# A plain-number parameter (a shape, or a value of a `number` distribution) is at most this in magnitude.
MAX_PLAIN = 1e9
# An empirical CSV file is read only if it is a regular file of at most this many bytes.
MAX_CSV_BYTES = 50_000_000


class DistributionError(ValueError):
    """A distribution that cannot be built as written."""


# --- quantity kinds: how parameter values are read and written ------------------------------------
def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"expected a number, got {value!r}")
    try:
        x = float(value)
    except ValueError:
        raise UnitError(f"expected a number, got {value!r}") from None
    if not math.isfinite(x) or abs(x) > MAX_PLAIN:
        raise OutOfRange(f"expected a finite number of at most {fmt_limit(MAX_PLAIN)} in magnitude, got {value!r}")
    return x


KINDS: dict[str, tuple[Callable[[Any], float], Callable[[float], Any]]] = {
    "duration": (parse_duration, fmt_duration),
    "size": (parse_size, fmt_size),
    "number": (_number, lambda x: float(x)),
}
SHAPE_PARAMS = {"alpha", "k", "shape"}  # plain numbers whatever the kind


class Distribution:
    """Base class; subclasses set `doc`, `params` (accepted parameter sets) and are registered in
    `registry.distributions` under their name (`@registry.distributions.register("exponential")`)."""

    type_name: ClassVar[str] = ""  # set by the registry
    doc: ClassVar[str] = ""
    params: ClassVar[tuple[tuple[str, ...], ...]] = ()
    # Whether `sample_block` gives the same sequence whatever the sizes of the blocks it is asked for
    # (each value is drawn from the generator on its own, in order; `tests/test_distributions.py`
    # checks): a `Sampler` of such a distribution on a stream of its own may start with a small block
    # (see `Sampler`). A truncated normal's redraws, for one, come after its block.
    block_free: ClassVar[bool] = False

    def __init__(self, kind: str = "duration", **values: float) -> None:
        self.kind = kind
        self.values = values

    @property
    def name(self) -> str:
        """The name it is registered and written under ('exponential')."""
        return self.type_name

    # moments
    mean: float = math.nan
    variance: float = math.nan

    def sample_block(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        fmt = KINDS[self.kind][1]
        out: dict[str, Any] = {"dist": self.name}
        for k, v in self.values.items():
            out[k] = v if (k in SHAPE_PARAMS or isinstance(v, (list, str))) else fmt(v)
        return out

    def scaled(self, factor: float) -> "Distribution":
        return Scaled(self, factor)

    def __repr__(self) -> str:
        spec = self.spec()
        args = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "dist")
        return f"{self.name}({args})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "string"}, {"type": "object"}],
                "description": "A distribution: 'exponential(mean=10ms)', {dist: ..., ...} or a quantity."}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Distribution) and self.spec() == other.spec() and self.kind == other.kind

    def __hash__(self) -> int:
        return hash(repr(self))


def _positive(name: str, value: float, dist: str) -> float:
    if not value > 0:
        raise DistributionError(f"{dist}: '{name}' must be greater than 0, got {value:g}")
    return value


@registry.distributions.register("constant")
class Constant(Distribution):
    block_free = True
    doc, params = "Always the same value (a bare quantity like '5ms' means this).", (("value",),)

    def __init__(self, kind="duration", value=0.0):
        super().__init__(kind, value=value)
        if value < 0:
            raise DistributionError(f"constant: value must not be negative, got {value:g}")
        self.mean, self.variance = value, 0.0

    def sample_block(self, rng, n):
        return np.full(n, self.values["value"])

    def scaled(self, factor):
        return Constant(self.kind, value=self.values["value"] * factor)


@registry.distributions.register("exponential")
class Exponential(Distribution):
    block_free = True
    doc, params = "Memoryless; by mean (or rate).", (("mean",), ("rate",))

    def __init__(self, kind="duration", mean=None, rate=None):
        if mean is None:
            mean = 1.0 / _positive("rate", rate, "exponential")
        super().__init__(kind, mean=_positive("mean", mean, "exponential"))
        self.mean, self.variance = mean, mean * mean

    def sample_block(self, rng, n):
        return rng.exponential(self.mean, n)

    def scaled(self, factor):
        return Exponential(self.kind, mean=self.mean * factor)


@registry.distributions.register("uniform")
class Uniform(Distribution):
    block_free = True
    doc, params = "Uniform between min and max.", (("min", "max"),)

    def __init__(self, kind="duration", min=0.0, max=0.0):
        if min < 0 or max < min:
            raise DistributionError(f"uniform: needs 0 <= min <= max, got min={min:g}, max={max:g}")
        super().__init__(kind, min=min, max=max)
        self.mean, self.variance = (min + max) / 2, (max - min) ** 2 / 12

    def sample_block(self, rng, n):
        return rng.uniform(self.values["min"], self.values["max"], n)

    def scaled(self, factor):
        return Uniform(self.kind, min=self.values["min"] * factor, max=self.values["max"] * factor)


def _phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@registry.distributions.register("normal")
class Normal(Distribution):
    doc, params = "Normal by mean and std, truncated at 0 (negative draws are redrawn).", (("mean", "std"),)

    def __init__(self, kind="duration", mean=0.0, std=0.0):
        _positive("std", std, "normal")
        if mean < 0:
            raise DistributionError(f"normal: mean must not be negative, got {mean:g}")
        super().__init__(kind, mean=mean, std=std)
        alpha = -mean / std
        z = 1 - _cdf(alpha)
        lam = _phi(alpha) / z
        self.mean = mean + std * lam
        self.variance = std * std * (1 + alpha * lam - lam * lam)

    def sample_block(self, rng, n):
        mu, sd = self.values["mean"], self.values["std"]
        out = rng.normal(mu, sd, n)
        bad = out < 0
        while bad.any():
            out[bad] = rng.normal(mu, sd, int(bad.sum()))
            bad = out < 0
        return out

    def scaled(self, factor):
        return Normal(self.kind, mean=self.values["mean"] * factor, std=self.values["std"] * factor)


Z99 = 2.3263478740408408  # standard normal quantile of 0.99


@registry.distributions.register("lognormal")
class LogNormal(Distribution):
    block_free = True
    doc = "Heavy-ish right tail; by (mean, std) or by (median, p99)."
    params = (("mean", "std"), ("median", "p99"))

    def __init__(self, kind="duration", mean=None, std=None, median=None, p99=None):
        if median is not None:
            _positive("median", median, "lognormal")
            if not p99 > median:
                raise DistributionError(f"lognormal: p99 must be greater than the median, got median={median:g}, p99={p99:g}")
            mu, sigma = math.log(median), math.log(p99 / median) / Z99
            super().__init__(kind, median=median, p99=p99)
        else:
            _positive("mean", mean, "lognormal")
            _positive("std", std, "lognormal")
            sigma = math.sqrt(math.log(1 + (std / mean) ** 2))
            mu = math.log(mean) - sigma * sigma / 2
            super().__init__(kind, mean=mean, std=std)
        self.mu, self.sigma = mu, sigma
        self.mean = math.exp(mu + sigma * sigma / 2)
        self.variance = (math.exp(sigma * sigma) - 1) * math.exp(2 * mu + sigma * sigma)

    def sample_block(self, rng, n):
        return rng.lognormal(self.mu, self.sigma, n)

    def scaled(self, factor):
        v = self.values
        if "median" in v:
            return LogNormal(self.kind, median=v["median"] * factor, p99=v["p99"] * factor)
        return LogNormal(self.kind, mean=v["mean"] * factor, std=v["std"] * factor)


@registry.distributions.register("pareto")
class Pareto(Distribution):
    block_free = True
    doc = "Power-law tail: P(X > x) = (scale/x)^alpha for x >= scale; by (alpha, scale) or (alpha, mean)."
    params = (("alpha", "scale"), ("alpha", "mean"))

    def __init__(self, kind="duration", alpha=None, scale=None, mean=None):
        _positive("alpha", alpha, "pareto")
        if scale is None:
            _positive("mean", mean, "pareto")
            if alpha <= 1:
                raise DistributionError("pareto: a finite mean needs alpha > 1")
            scale = mean * (alpha - 1) / alpha
            super().__init__(kind, alpha=alpha, mean=mean)
        else:
            super().__init__(kind, alpha=alpha, scale=_positive("scale", scale, "pareto"))
        self.alpha, self.scale = alpha, scale
        self.mean = alpha * scale / (alpha - 1) if alpha > 1 else math.inf
        self.variance = scale * scale * alpha / ((alpha - 1) ** 2 * (alpha - 2)) if alpha > 2 else math.inf

    def sample_block(self, rng, n):
        return self.scale * (1.0 + rng.pareto(self.alpha, n))

    def scaled(self, factor):
        return Pareto(self.kind, alpha=self.alpha, scale=self.scale * factor)


@registry.distributions.register("gamma")
class Gamma(Distribution):
    block_free = True
    doc = "Gamma by (shape, mean) or (shape, scale)."
    params = (("shape", "mean"), ("shape", "scale"))

    def __init__(self, kind="duration", shape=None, mean=None, scale=None):
        _positive("shape", shape, self.name)
        if scale is None:
            scale = _positive("mean", mean, self.name) / shape
            super().__init__(kind, shape=shape, mean=mean)
        else:
            super().__init__(kind, shape=shape, scale=_positive("scale", scale, self.name))
        self.shape, self.scale = shape, scale
        self.mean, self.variance = shape * scale, shape * scale * scale

    def sample_block(self, rng, n):
        return rng.gamma(self.shape, self.scale, n)

    def scaled(self, factor):
        return Gamma(self.kind, shape=self.shape, scale=self.scale * factor)


@registry.distributions.register("erlang")
class Erlang(Gamma):
    doc, params = "Sum of k exponential phases; by (k, mean).", (("k", "mean"),)

    def __init__(self, kind="duration", k=None, mean=None, scale=None):
        if k is None or k != int(k) or k < 1:
            raise DistributionError(f"erlang: 'k' must be a whole number >= 1, got {k}")
        super().__init__(kind, shape=float(k), mean=mean, scale=scale)
        self.values = {"k": int(k), "mean": self.mean}

    def scaled(self, factor):
        return Erlang(self.kind, k=self.values["k"], mean=self.mean * factor)


@registry.distributions.register("weibull")
class Weibull(Distribution):
    block_free = True
    doc, params = "Weibull by (shape, scale).", (("shape", "scale"),)

    def __init__(self, kind="duration", shape=None, scale=None):
        _positive("shape", shape, "weibull")
        super().__init__(kind, shape=shape, scale=_positive("scale", scale, "weibull"))
        g1, g2 = math.gamma(1 + 1 / shape), math.gamma(1 + 2 / shape)
        self.mean, self.variance = scale * g1, scale * scale * (g2 - g1 * g1)

    def sample_block(self, rng, n):
        return self.values["scale"] * rng.weibull(self.values["shape"], n)

    def scaled(self, factor):
        return Weibull(self.kind, shape=self.values["shape"], scale=self.values["scale"] * factor)


@registry.distributions.register("empirical")
class Empirical(Distribution):
    doc = "Resample measured values: values=[...] or file=data.csv, column=name."
    params = (("values",), ("file", "column"))

    def __init__(self, kind="duration", values=None, file=None, column=None, data=None):
        super().__init__(kind)
        self.data = np.asarray(data, dtype=float)
        if self.data.size == 0:
            raise DistributionError("empirical: needs at least one value")
        if not np.isfinite(self.data).all():
            raise DistributionError("empirical: every value must be a finite number (found nan or inf)")
        if (self.data < 0).any():
            raise DistributionError("empirical: values must not be negative")
        limit = {"duration": MAX_DURATION_S, "size": MAX_SIZE_B}.get(kind, MAX_PLAIN)
        if (self.data > limit).any():
            raise DistributionError(f"empirical: a value is too large (at most {fmt_limit(limit)} in base units, "
                                    f"{'s' if kind == 'duration' else 'B' if kind == 'size' else 'plain'})")
        self.values = {"values": [KINDS[kind][1](v) for v in self.data.tolist()]} if file is None else \
            {"file": str(file), "column": column}
        self.mean, self.variance = float(self.data.mean()), float(self.data.var())

    def sample_block(self, rng, n):
        return self.data[rng.integers(0, self.data.size, n)]

    def scaled(self, factor):
        out = Empirical(self.kind, data=self.data * factor)
        return out


class Scaled(Distribution):
    """Any distribution times a constant factor."""

    def __init__(self, base: Distribution, factor: float) -> None:
        super().__init__(base.kind)
        self.base, self.factor = base, factor
        self.type_name = base.type_name
        self.mean, self.variance = base.mean * factor, base.variance * factor * factor

    @property
    def block_free(self) -> bool:  # type: ignore[override]
        return self.base.block_free

    def sample_block(self, rng, n):
        return self.base.sample_block(rng, n) * self.factor

    def spec(self):
        raise NotImplementedError("a scaled distribution is internal and has no YAML form")


# --- parsing --------------------------------------------------------------------------------------
def _read_csv(base_dir: Path | None, file: str, column: str, parse: Callable[[Any], float]) -> list[float]:
    path = Path(file)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    # Only a regular file of bounded size: /dev/zero would be read until memory runs out, a FIFO
    # would block for ever, a directory cannot be read at all.
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DistributionError(f"empirical: file not found: {path}") from None
    except OSError as exc:
        raise DistributionError(f"empirical: cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DistributionError(f"empirical: {path} is a directory, not a CSV file")
    if not stat.S_ISREG(info.st_mode):
        raise DistributionError(f"empirical: {path} is not a regular file (a device, FIFO or socket); give a CSV file")
    if info.st_size > MAX_CSV_BYTES:
        raise DistributionError(f"empirical: {path} is {info.st_size:,} bytes; at most {MAX_CSV_BYTES:,} are read")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CSV_BYTES + 1)  # the file may have grown since stat
        if len(raw) > MAX_CSV_BYTES:
            raise DistributionError(f"empirical: {path} is larger than {MAX_CSV_BYTES:,} bytes")
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise DistributionError(f"empirical: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DistributionError(f"empirical: {path} is not UTF-8 text") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames is None or column not in reader.fieldnames:
            cols = ", ".join(reader.fieldnames or [])
            raise DistributionError(f"empirical: no column '{column}' in {path}{did_you_mean(column, reader.fieldnames or [])}; columns: {cols}")
        out = []
        for row in reader:
            cell = (row[column] or "").strip()
            if cell:
                try:
                    out.append(float(cell))
                except ValueError:
                    try:
                        out.append(parse(cell))
                    except UnitError as exc:
                        raise DistributionError(f"empirical: {path} line {reader.line_num}: {exc}") from None
        return out
    except csv.Error as exc:
        raise DistributionError(f"empirical: {path} is not a readable CSV file: {exc}") from None


def parse_distribution(value: Any, kind: str = "duration", base_dir: Path | None = None) -> Distribution:
    """Compact string, mapping with `dist:`, or a bare quantity (constant) -> a Distribution."""
    if isinstance(value, Distribution):
        return value
    parse = KINDS[kind][0]
    if is_call(value):
        try:
            value = parse_call(value, "dist")
        except CallSyntaxError as exc:
            raise DistributionError(str(exc)) from None
    if not isinstance(value, dict):
        if kind == "number" or isinstance(value, str) or value == 0:
            try:
                return Constant(kind, value=parse(value))
            except OutOfRange as exc:
                raise DistributionError(str(exc)) from None
            except UnitError as exc:
                raise DistributionError(f"{exc} (or a distribution like 'exponential(mean=10ms)')") from None
        raise DistributionError(f"expected a distribution like 'exponential(mean=10ms)' or a quantity, got {value!r}")
    spec = dict(value)
    name = spec.pop("dist", None)
    if name is None:
        raise DistributionError(f"missing 'dist'; one of: {', '.join(registry.distributions.names())}")
    try:
        cls = registry.distributions.get(name)
    except UnknownName as exc:  # "unknown distribution 'x'; did you mean ...; known: ..."
        raise DistributionError(str(exc)) from None
    keys = set(spec)
    if not any(keys == set(p) for p in cls.params):
        forms = " or ".join("(" + ", ".join(p) + ")" for p in cls.params)
        raise DistributionError(f"{name} takes {forms}; got ({', '.join(spec)})")
    args: dict[str, Any] = {}
    try:
        for k, v in spec.items():
            if k in SHAPE_PARAMS:
                args[k] = _number(v)
            elif k == "rate":
                args[k] = parse_rate(v) if kind == "duration" else _number(v)
            elif k in ("values",):
                if not isinstance(v, list) or not v:
                    raise DistributionError("empirical: 'values' must be a non-empty list")
                args["data"] = [parse(x) for x in v]
            elif k in ("file", "column"):
                args[k] = str(v)
            else:
                args[k] = parse(v)
    except UnitError as exc:
        raise DistributionError(f"{name}: '{k}': {exc}") from None
    if "file" in args:
        args["data"] = _read_csv(base_dir, args["file"], args["column"], parse)
    try:
        dist = cls(kind, **args)
    except (OverflowError, ZeroDivisionError, ValueError) as exc:
        if isinstance(exc, DistributionError):
            raise
        raise DistributionError(f"{name}: these parameters are too extreme to compute with ({exc})") from None
    if math.isnan(dist.mean) or dist.mean < 0:
        raise DistributionError(f"{name}: these parameters give no usable mean")
    return dist


def _validator(kind: str):
    def validate(value: Any, info: ValidationInfo) -> Distribution:
        base = (info.context or {}).get("base_dir") if info is not None else None
        return parse_distribution(value, kind, base)

    return validate


def _serialize(d: Distribution) -> dict[str, Any]:
    return d.spec()


DurationDist = Annotated[Distribution, BeforeValidator(_validator("duration")), PlainSerializer(_serialize)]
SizeDist = Annotated[Distribution, BeforeValidator(_validator("size")), PlainSerializer(_serialize)]
NumberDist = Annotated[Distribution, BeforeValidator(_validator("number")), PlainSerializer(_serialize)]


class Sampler:
    """Fast draws from a distribution: `next()` returns a float (see simulator.sampling.blocks).

    `own_stream`: the caller promises that nothing else draws from `rng` (a component's service
    times, a link's latencies). Then a distribution whose draws do not depend on block sizes starts
    with a block of `PIECE` values, doubling up to `block`: the same numbers, but a component that
    draws a few values holds a few (10,000 servers held 32 KB each). A stream shared by two samplers
    keeps whole blocks: how their draws interleave depends on the block sizes."""

    __slots__ = ("dist", "next")

    def __init__(self, dist: Distribution, rng: np.random.Generator, block: int = BLOCK,
                 own_stream: bool = False) -> None:
        self.dist = dist
        if isinstance(dist, Constant):  # the same value every time, handed out in C (no Python frame)
            self.next = repeat(dist.values["value"]).__next__
        else:
            first = PIECE if own_stream and dist.block_free else None
            self.next = BlockStream(lambda n: dist.sample_block(rng, n), block, first).next
