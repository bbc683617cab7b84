"""Open-loop arrival processes: when the next request of a workload arrives.

Each process is a config class (validated from YAML, compact form `poisson(rate=40/s)`) whose
`make(rng)` returns an object with `gap(now) -> seconds until the next arrival` (inf: no more).
Time-varying rates are exact non-homogeneous Poisson processes (piecewise-constant integration,
or thinning for the smooth diurnal curve).
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from simulator.language import registry
from simulator.sampling.blocks import BlockStream
from simulator.language.config import StrictModel
from simulator.sampling.distributions import DurationDist, Exponential, Sampler
from simulator.language.units import Duration, Fraction, PositiveDuration, PositiveRate, Rate
from simulator.language.tagged import tagged_validator



class ArrivalConfig(StrictModel):
    process: str

    def mean_rate(self) -> float:
        raise NotImplementedError

    def make(self, rng: Any) -> Any:
        raise NotImplementedError


def _unit_exponentials(rng: Any) -> BlockStream:
    return BlockStream(rng.standard_exponential)


class _Renewal:
    __slots__ = ("next_gap",)
    # A rate multiplied by f (a load_spike) is the same process with time sped up f times: the same
    # draws, every gap divided by f; an arrival already drawn keeps its share of the gap left.
    time_change = True

    def __init__(self, next_gap) -> None:
        self.next_gap = next_gap

    def gap(self, now: float) -> float:
        return self.next_gap()

    def scaled_gap(self, now: float, factor: float) -> float:
        return self.next_gap() / factor


@registry.arrivals.register("poisson")
class PoissonArrivals(ArrivalConfig):
    """Poisson process: independent arrivals at a constant mean rate."""

    process: Literal["poisson"] = "poisson"
    rate: PositiveRate = Field(description="Mean arrivals per second.")

    def mean_rate(self) -> float:
        return self.rate

    def make(self, rng):
        return _Renewal(Sampler(Exponential(mean=1.0 / self.rate), rng).next)


@registry.arrivals.register("constant")
class ConstantArrivals(ArrivalConfig):
    """Evenly spaced arrivals at exactly `rate` per second."""

    process: Literal["constant"] = "constant"
    rate: PositiveRate = Field(description="Arrivals per second.")

    def mean_rate(self) -> float:
        return self.rate

    def make(self, rng):
        gap = 1.0 / self.rate
        return _Renewal(lambda: gap)


@registry.arrivals.register("renewal")
class RenewalArrivals(ArrivalConfig):
    """Independent inter-arrival times from any distribution (for G/G/c models)."""

    process: Literal["renewal"] = "renewal"
    interarrival: DurationDist

    def mean_rate(self) -> float:
        return 1.0 / self.interarrival.mean if self.interarrival.mean > 0 else math.inf

    def make(self, rng):
        return _Renewal(Sampler(self.interarrival, rng).next)


class _Piecewise:
    """Exact non-homogeneous Poisson process for a piecewise-constant rate."""

    # A rate multiplied by f (a load_spike) multiplies the curve; when f changes, the next arrival is
    # drawn again from that instant (exact: the process is memoryless).
    time_change = False

    def __init__(self, rate_at, next_change, rng) -> None:
        self.rate_at, self.next_change, self.exp = rate_at, next_change, _unit_exponentials(rng)

    def scaled_gap(self, now: float, factor: float = 1.0) -> float:
        work = self.exp.next()
        t = now
        while True:
            r = self.rate_at(t) * factor
            tc = self.next_change(t)
            if r > 0 and t + work / r <= tc:
                return t + work / r - now
            if math.isinf(tc):
                return math.inf
            work -= r * (tc - t)
            t = tc

    gap = scaled_gap


@registry.arrivals.register("onoff")
class OnOffArrivals(ArrivalConfig):
    """Bursts: Poisson at `rate` for `on`, then at `off_rate` (default 0) for `off`, repeating."""

    process: Literal["onoff"] = "onoff"
    rate: PositiveRate = Field(description="Arrivals per second.")
    on: PositiveDuration
    off: PositiveDuration
    off_rate: Rate = 0.0

    def mean_rate(self) -> float:
        return (self.rate * self.on + self.off_rate * self.off) / (self.on + self.off)

    def make(self, rng):
        period = self.on + self.off

        def rate_at(t):
            return self.rate if (t % period) < self.on else self.off_rate

        def next_change(t):
            base = t - (t % period)
            edge = base + self.on if (t % period) < self.on else base + period
            return edge if edge > t else edge + period

        return _Piecewise(rate_at, next_change, rng)


class RateStep(StrictModel):
    at: Duration = 0.0
    rate: Rate


@registry.arrivals.register("schedule")
class ScheduledArrivals(ArrivalConfig):
    """Poisson with a rate that changes at given times: steps: [{at: 0s, rate: 10/s}, {at: 60s, rate: 50/s}]."""

    process: Literal["schedule"] = "schedule"
    steps: list[RateStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self):
        times = [s.at for s in self.steps]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("schedule steps must be in increasing order of 'at'")
        return self

    def mean_rate(self) -> float:
        return max(s.rate for s in self.steps)

    def make(self, rng):
        times = [float(s.at) for s in self.steps]
        rates = [s.rate for s in self.steps]

        def index(t):
            i = -1
            for j, at in enumerate(times):
                if at <= t:
                    i = j
            return i

        def rate_at(t):
            i = index(t)
            return rates[i] if i >= 0 else 0.0

        def next_change(t):
            for at in times:
                if at > t:
                    return at
            return math.inf

        return _Piecewise(rate_at, next_change, rng)


class _Thinning:
    time_change = False  # as `_Piecewise`

    def __init__(self, rate_fn, peak: float, rng) -> None:
        self.rate_fn, self.peak = rate_fn, peak
        self.exp, self.uniform = _unit_exponentials(rng), BlockStream(rng.random)

    def scaled_gap(self, now: float, factor: float = 1.0) -> float:
        # factor x rate(t) thinned from factor x peak: the acceptance test is unchanged.
        t = now
        peak = self.peak * factor
        while True:
            t += self.exp.next() / peak
            if self.uniform.next() * self.peak <= self.rate_fn(t):
                return t - now

    gap = scaled_gap


@registry.arrivals.register("diurnal")
class DiurnalArrivals(ArrivalConfig):
    """Poisson with a daily cycle: rate·(1 + amplitude·cos(2π(t − peak)/period))."""

    process: Literal["diurnal"] = "diurnal"
    rate: PositiveRate = Field(description="Mean rate over a period.")
    amplitude: Fraction = Field(0.5, description="Relative swing around the mean (0..1).")
    period: PositiveDuration = 86400.0
    peak: Duration = Field(50400.0, description="Time of the daily peak.")

    def mean_rate(self) -> float:
        return self.rate

    def make(self, rng):
        w = 2 * math.pi / self.period

        def rate_fn(t):
            return self.rate * (1.0 + self.amplitude * math.cos(w * (t - self.peak)))

        return _Thinning(rate_fn, self.rate * (1.0 + self.amplitude), rng)


parse_arrivals = tagged_validator(registry.arrivals, "process", ArrivalConfig, "an arrival process like 'poisson(rate=10/s)'")
