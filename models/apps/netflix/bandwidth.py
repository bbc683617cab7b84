"""Players' last-mile bandwidth: a process per player, and the fault that collapses it in a region.

A bandwidth model is a registered config (`bandwidth: {type: markov, ...}`) whose `factory(rng)`
gives a function `new(now)` making one player's process: `rate(t)` (bits per second, piecewise constant) and `next_change(t)`
(when the rate may change next; inf if never). Draws come from the application's streams, so a
new model perturbs no other component.

`bandwidth_drop` is a fault on a streaming application: while it lasts, every player of `region`
(or of every region) gets `factor` x its bandwidth. Overlapping drops multiply; each lasts exactly
its window (counted contributions, like every fault).
"""
from __future__ import annotations

import csv
import io
import math
import os
import stat
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from pydantic import Field, PositiveFloat, ValidationInfo, field_validator, model_validator

from simulator.faults.base import Targets
from simulator.faults.node import NodeFault
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.registry import Registry
from simulator.language.tagged import tagged, tagged_validator
from simulator.sampling.distributions import DurationDist, NumberDist, Sampler, parse_distribution

MAX_TRACE_BYTES = 50_000_000

bandwidth_models: Registry[type] = Registry("bandwidth model")


class BandwidthConfig(StrictModel):
    type: str

    def factory(self, rng: Any) -> Callable[[float], Any]:
        """`new(now)`: a new player's bandwidth process, starting at `now` (draws from `rng`)."""
        raise NotImplementedError

    def mean_mbps(self) -> float:
        """The long-run mean bandwidth of a player (for the docs' and extrapolation's rough figures)."""
        raise NotImplementedError


@bandwidth_models.register("constant")
class ConstantBandwidth(BandwidthConfig):
    """Each player's bandwidth is constant, drawn once per player from `mbps` (a number or a distribution)."""

    type: Literal["constant"] = "constant"
    mbps: NumberDist = Field(default_factory=lambda: parse_distribution("lognormal(median=12, p99=80)", "number"),
                             description="A player's bandwidth (Mbps), drawn once per player.")

    @field_validator("mbps")
    @classmethod
    def _positive(cls, v):
        if v.mean <= 0:
            raise ValueError("bandwidth must be above 0 Mbps")
        return v

    def factory(self, rng):
        draw = Sampler(self.mbps, rng).next
        return lambda now: _Constant(max(0.01, draw()) * 1e6)  # a draw of 0 would never end a chunk: 10 kbps floor

    def mean_mbps(self) -> float:
        return self.mbps.mean


class _Constant:
    __slots__ = ("bps",)

    def __init__(self, bps: float) -> None:
        self.bps = bps

    def rate(self, t: float) -> float:
        return self.bps

    def next_change(self, t: float) -> float:
        return math.inf


@bandwidth_models.register("markov")
class MarkovBandwidth(BandwidthConfig):
    """A Markov chain over bandwidth levels (a mobile or Wi-Fi link): each level holds for a time drawn
    from `hold`, then the chain moves by `transitions` (default: to a neighbouring level, up or down
    with equal chance). A player starts in a level drawn uniformly."""

    type: Literal["markov"] = "markov"
    states_mbps: list[PositiveFloat] = Field(min_length=1, max_length=100, description="The levels (Mbps).")
    hold: DurationDist = Field(default_factory=lambda: parse_distribution("exponential(mean=30s)"),
                               description="How long a level holds before the chain moves.")
    transitions: list[list[float]] | None = Field(
        None, description="Row i: the chances of moving from level i to each level (rows sum to 1). "
        "Default: to a neighbouring level, each with equal chance.")

    @model_validator(mode="after")
    def _matrix(self):
        n = len(self.states_mbps)
        if self.transitions is not None:
            if len(self.transitions) != n or any(len(row) != n for row in self.transitions):
                raise ValueError(f"transitions must be a {n} x {n} matrix (one row and column per level)")
            for i, row in enumerate(self.transitions):
                if any(p < 0 for p in row) or abs(sum(row) - 1.0) > 1e-6:
                    raise ValueError(f"transitions row {i}: chances must be >= 0 and sum to 1 (they sum to {sum(row):g})")
        if self.hold.mean <= 0:
            raise ValueError("hold must have a mean above 0s")
        return self

    def matrix(self) -> np.ndarray:
        n = len(self.states_mbps)
        if self.transitions is not None:
            return np.asarray(self.transitions, dtype=float)
        m = np.zeros((n, n))
        for i in range(n):
            near = [j for j in (i - 1, i + 1) if 0 <= j < n] or [i]
            for j in near:
                m[i, j] = 1.0 / len(near)
        return m

    def factory(self, rng):
        cum, hold = np.cumsum(self.matrix(), axis=1), Sampler(self.hold, rng).next
        levels = [x * 1e6 for x in self.states_mbps]
        return lambda now: _Markov(levels, cum, hold, rng, int(rng.integers(len(levels))), now)

    def mean_mbps(self) -> float:
        m = self.matrix()  # stationary distribution of the jump chain, weighted by equal mean holds
        vals, vecs = np.linalg.eig(m.T)
        pi = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
        pi = pi / pi.sum()
        return float(np.dot(pi, self.states_mbps))


class _Markov:
    __slots__ = ("levels", "cum", "hold", "rng", "state", "until")

    def __init__(self, levels: list[float], cum: np.ndarray, hold: Any, rng: Any, state: int, now: float) -> None:
        self.levels, self.cum, self.hold, self.rng, self.state = levels, cum, hold, rng, state
        self.until = now + hold()

    def _catch_up(self, t: float) -> None:
        while t >= self.until:
            row = self.cum[self.state]
            self.state = min(int(np.searchsorted(row, self.rng.random(), side="right")), len(row) - 1)
            self.until += max(self.hold(), 1e-3)

    def rate(self, t: float) -> float:
        self._catch_up(t)
        return self.levels[self.state]

    def next_change(self, t: float) -> float:
        self._catch_up(t)
        return self.until


@bandwidth_models.register("trace")
class TraceBandwidth(BandwidthConfig):
    """A measured trace (CSV with a time column in seconds and a bandwidth column in Mbps): each row's
    bandwidth holds until the next row's time; the trace repeats (the last row holding as long as the
    row before it). Each player starts at its own random point of the trace."""

    type: Literal["trace"] = "trace"
    file: str | None = Field(None, description="CSV file (relative to the scenario's directory); or give `times` and `mbps`.")
    time_column: str = Field("time_s", description="Column of the times (seconds from the trace's start).")
    mbps_column: str = Field("mbps", description="Column of the bandwidths (Mbps).")
    times: list[float] = Field(default_factory=list, max_length=1_000_000,
                               description="The rows' times (s), instead of a file (read from `file` if given).")
    mbps: list[float] = Field(default_factory=list, max_length=1_000_000,
                              description="The rows' bandwidths (Mbps), instead of a file.")

    @model_validator(mode="after")
    def _read(self, info: ValidationInfo):
        if self.file is None and not self.times:
            raise ValueError("a trace needs a `file` (CSV), or `times` and `mbps`")
        if self.file is not None and not self.times:  # (a config dumped and validated again has its rows)
            base = (info.context or {}).get("base_dir") if info is not None else None
            times, mbps = read_trace(base, self.file, self.time_column, self.mbps_column)
            object.__setattr__(self, "times", times)
            object.__setattr__(self, "mbps", mbps)
        if len(self.times) < 2 or len(self.times) != len(self.mbps):
            raise ValueError(f"trace {self.file or ''}: needs at least two rows with both a time and a bandwidth")
        if any(b <= a for a, b in zip(self.times, self.times[1:])) or self.times[0] < 0:
            raise ValueError(f"trace {self.file or ''}: times must start at 0 or later and increase")
        if any(not (0 < x < 1e6) for x in self.mbps):
            raise ValueError(f"trace {self.file or ''}: bandwidths must be above 0 Mbps")
        return self

    def factory(self, rng):
        t = self.times
        period = t[-1] + (t[-1] - t[-2]) - t[0]
        times, bps = [x - t[0] for x in t], [x * 1e6 for x in self.mbps]
        return lambda now: _Trace(times, bps, period, now - rng.random() * period)

    def mean_mbps(self) -> float:
        t = self.times + [self.times[-1] + self.times[-1] - self.times[-2]]
        return sum(m * (b - a) for m, a, b in zip(self.mbps, t, t[1:])) / (t[-1] - t[0])


def read_trace(base_dir: Path | None, file: str, time_column: str, mbps_column: str) -> tuple[list[float], list[float]]:
    """The (time, Mbps) rows of a trace CSV; a problem is one ValueError naming the file (and line)."""
    path = Path(file)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:  # only a regular file of bounded size (not /dev/zero, a FIFO or a directory)
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"trace {path} is not a regular file")
        if info.st_size > MAX_TRACE_BYTES:
            raise ValueError(f"trace {path} is {info.st_size:,} bytes; at most {MAX_TRACE_BYTES:,} are read")
        text = path.read_bytes()[:MAX_TRACE_BYTES].decode("utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"trace file not found: {path}") from None
    except OSError as exc:
        raise ValueError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"trace {path} is not UTF-8 text") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = reader.fieldnames or []
        for col in (time_column, mbps_column):
            if col not in columns:
                raise ValueError(f"trace {path} has no column '{col}' (columns: {', '.join(columns)})")
        times, mbps = [], []
        for row in reader:
            try:
                times.append(float(row[time_column]))
                mbps.append(float(row[mbps_column]))
            except (TypeError, ValueError):
                raise ValueError(f"trace {path} line {reader.line_num}: expected numbers in '{time_column}' "
                                 f"and '{mbps_column}'") from None
    except csv.Error as exc:
        raise ValueError(f"trace {path} is not a readable CSV file: {exc}") from None
    if not all(math.isfinite(x) for x in times + mbps):
        raise ValueError(f"trace {path}: every value must be a finite number")
    return times, mbps


class _Trace:
    __slots__ = ("times", "bps", "period", "origin")

    def __init__(self, times: list[float], bps: list[float], period: float, origin: float) -> None:
        self.times, self.bps, self.period, self.origin = times, bps, period, origin

    def _where(self, t: float) -> tuple[int, float]:
        x = (t - self.origin) % self.period
        i = int(np.searchsorted(self.times, x, side="right")) - 1
        return max(i, 0), x

    def rate(self, t: float) -> float:
        return self.bps[self._where(t)[0]]

    def next_change(self, t: float) -> float:
        i, x = self._where(t)
        end = self.times[i + 1] if i + 1 < len(self.times) else self.period
        return t + max(end - x, 1e-9)


BandwidthSpec = tagged(BandwidthConfig, tagged_validator(bandwidth_models, "type", BandwidthConfig,
                                                         "a bandwidth model like 'constant(mbps=20)'"))


def region_factors(values: list[tuple[str | None, float]], regions: list[str]) -> dict[str, float]:
    """The bandwidth multiplier of each region under the active drops (their product; 1 with none)."""
    return {r: math.prod(f for reg, f in values if reg is None or reg == r) for r in regions}


@registry.faults.register("bandwidth_drop")
class BandwidthDropFault(NodeFault):
    """Players of a streaming application lose bandwidth in a region (a congested ISP, a cut cable):
    each player's bandwidth is multiplied by `factor` while it lasts; overlapping drops multiply."""

    type: Literal["bandwidth_drop"] = "bandwidth_drop"
    target: Targets = Field(min_length=1, description="Streaming application(s) (type netflix).")
    region: str | None = Field(None, description="The players' region it hits (default: every region).")
    factor: float = Field(gt=0.0, lt=1.0, description="Share of their bandwidth players keep (0.2: a fifth).")

    def check(self, scenario: Any) -> list[tuple[tuple, str]]:
        out = []
        for i, t in enumerate(self.target):
            cfg = scenario.components.get(t)
            if cfg is None:
                continue
            if cfg.type != "netflix":
                out.append((("target", i), f"'{t}' is a {cfg.type}, not a streaming application (type netflix)"))
            elif self.region is not None and self.region not in cfg.regions:
                out.append((("region",), f"'{self.region}' is not one of {t}'s regions ({', '.join(cfg.regions)})"))
        return out

    def node_effects(self, system):
        return [(c, "bandwidth", (self.region, self.factor)) for c in self.components(system)]

    def describe(self) -> str:
        return f"bandwidth x{self.factor:g} {self.region or 'every region'} ({', '.join(self.target)})"
