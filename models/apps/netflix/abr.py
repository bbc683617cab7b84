"""Adaptive-bitrate (ABR) algorithms: which rung of the bitrate ladder a player asks for next.

Each algorithm is a registered config (`abr: {type: bba, reservoir: 10s, cushion: 30s}`, or compactly
`abr: bba(reservoir=10s, cushion=30s)`) whose `make(ladder_bps, chunk_s, buffer_cap_s)` returns a
chooser: `choose(buffer_s, last, samples_bps) -> rung` (an index into the ladder, lowest bitrate
first), called once per chunk with the buffer level at the moment of the request, the rung of the
chunk before (-1 for the first) and the throughputs the player measured on its recent chunks.
"""
from __future__ import annotations

import math
from typing import Any, Literal, Sequence

from pydantic import Field, PositiveFloat, PositiveInt

from simulator.language.config import StrictModel
from simulator.language.registry import Registry
from simulator.language.tagged import tagged, tagged_validator
from simulator.language.units import Fraction, PositiveDuration

abr_algorithms: Registry[type] = Registry("ABR algorithm")


class AbrConfig(StrictModel):
    type: str

    def make(self, ladder_bps: Sequence[float], chunk_s: float, buffer_cap_s: float) -> Any:
        raise NotImplementedError

    def check(self, ladder_mbps: Sequence[float], buffer_cap_s: float) -> str | None:
        """A problem only visible with the player's other settings (the ladder, the buffer cap)."""
        return None


@abr_algorithms.register("fixed")
class FixedConfig(AbrConfig):
    """Always the same bitrate (no adaptation: the baseline every ABR is measured against)."""

    type: Literal["fixed"] = "fixed"
    bitrate_mbps: PositiveFloat = Field(5.0, description="The bitrate asked for (Mbps): one of the ladder's.")

    def check(self, ladder_mbps, buffer_cap_s):
        if self.bitrate_mbps not in ladder_mbps:
            return (f"abr.bitrate_mbps: {self.bitrate_mbps:g} is not on the ladder "
                    f"({', '.join(f'{x:g}' for x in sorted(ladder_mbps))})")
        return None

    def make(self, ladder_bps, chunk_s, buffer_cap_s):
        return _Fixed(list(ladder_bps).index(self.bitrate_mbps * 1e6))


class _Fixed:
    __slots__ = ("rung",)

    def __init__(self, rung: int) -> None:
        self.rung = rung

    def choose(self, buffer_s: float, last: int, samples_bps: Sequence[float]) -> int:
        return self.rung


@abr_algorithms.register("throughput")
class ThroughputConfig(AbrConfig):
    """Rate-based: the highest bitrate below `safety` x the harmonic mean of the last `window` chunks'
    measured throughput (size / time from request to last byte); the lowest rung before any sample."""

    type: Literal["throughput"] = "throughput"
    safety: Fraction = Field(0.9, gt=0, description="Share of the estimated throughput the bitrate may use (0..1].")
    window: PositiveInt = Field(3, le=100, description="Chunks whose throughput the estimate averages (harmonic mean).")

    def make(self, ladder_bps, chunk_s, buffer_cap_s):
        return _Throughput(list(ladder_bps), self.safety, self.window)


class _Throughput:
    __slots__ = ("ladder", "safety", "window")

    def __init__(self, ladder: list[float], safety: float, window: int) -> None:
        self.ladder, self.safety, self.window = ladder, safety, window

    def choose(self, buffer_s: float, last: int, samples_bps: Sequence[float]) -> int:
        if not samples_bps:
            return 0
        recent = samples_bps[-self.window:]
        estimate = self.safety * len(recent) / sum(1.0 / x for x in recent)  # harmonic mean: robust to spikes
        rung = 0
        for i, rate in enumerate(self.ladder):
            if rate <= estimate:
                rung = i
        return rung


@abr_algorithms.register("bba")
class BbaConfig(AbrConfig):
    """Buffer-based (BBA-0, Huang et al., SIGCOMM 2014): the lowest bitrate while the buffer is below
    the `reservoir`, the highest above reservoir + `cushion`, and in between a rate map rising linearly
    from lowest to highest; the bitrate changes only when the map crosses the next rung up or down."""

    type: Literal["bba"] = "bba"
    reservoir: PositiveDuration = Field(30.0, description="Buffer level below which the lowest bitrate is asked for.")
    cushion: PositiveDuration = Field(120.0, description="Buffer span over which the rate map climbs to the highest bitrate.")

    def check(self, ladder_mbps, buffer_cap_s):
        if self.reservoir + self.cushion > buffer_cap_s:
            return (f"abr: reservoir + cushion ({self.reservoir + self.cushion:g}s) must fit in the buffer cap "
                    f"({buffer_cap_s:g}s), or the top bitrate is never reached")
        return None

    def make(self, ladder_bps, chunk_s, buffer_cap_s):
        return _Bba(list(ladder_bps), self.reservoir, self.cushion)


class _Bba:
    __slots__ = ("ladder", "reservoir", "cushion")

    def __init__(self, ladder: list[float], reservoir: float, cushion: float) -> None:
        self.ladder, self.reservoir, self.cushion = ladder, reservoir, cushion

    def choose(self, buffer_s: float, last: int, samples_bps: Sequence[float]) -> int:
        ladder = self.ladder
        top = len(ladder) - 1
        if buffer_s <= self.reservoir:
            return 0
        if buffer_s >= self.reservoir + self.cushion:
            return top
        f = ladder[0] + (buffer_s - self.reservoir) / self.cushion * (ladder[top] - ladder[0])
        prev = max(last, 0)
        up, down = min(prev + 1, top), max(prev - 1, 0)
        if up != prev and f >= ladder[up]:
            return max(i for i, r in enumerate(ladder) if r < f)
        if down != prev and f <= ladder[down]:
            return min(i for i, r in enumerate(ladder) if r > f)
        return prev


@abr_algorithms.register("bola")
class BolaConfig(AbrConfig):
    """BOLA-BASIC (Spiteri et al., INFOCOM 2016): Lyapunov optimisation of utility ln(S_m / S_1) against
    the buffer: the rung maximising (V (v_m + gamma_p) - Q) / S_m, Q the buffer in chunks,
    V = (Q_max - 1) / (v_max + gamma_p) with Q_max the buffer cap in chunks."""

    type: Literal["bola"] = "bola"
    gamma_p: PositiveFloat = Field(5.0, le=1000, description="Weight of smoothness against utility (BOLA's gamma x p).")

    def check(self, ladder_mbps, buffer_cap_s):
        return None

    def make(self, ladder_bps, chunk_s, buffer_cap_s):
        return _Bola(list(ladder_bps), chunk_s, buffer_cap_s, self.gamma_p)


class _Bola:
    __slots__ = ("sizes", "utility", "v", "gp", "chunk_s")

    def __init__(self, ladder: list[float], chunk_s: float, buffer_cap_s: float, gamma_p: float) -> None:
        self.sizes = [r * chunk_s for r in ladder]
        self.utility = [math.log(s / self.sizes[0]) for s in self.sizes]
        q_max = buffer_cap_s / chunk_s
        self.v = (q_max - 1.0) / (self.utility[-1] + gamma_p)
        self.gp, self.chunk_s = gamma_p, chunk_s

    def choose(self, buffer_s: float, last: int, samples_bps: Sequence[float]) -> int:
        q = buffer_s / self.chunk_s
        v, gp = self.v, self.gp
        scores = [(v * (u + gp) - q) / s for u, s in zip(self.utility, self.sizes)]
        return max(range(len(scores)), key=scores.__getitem__)


AbrSpec = tagged(AbrConfig, tagged_validator(abr_algorithms, "type", AbrConfig,
                                             "an ABR algorithm like 'bba(reservoir=10s, cushion=30s)'"))
