"""Concurrency-dependent service time (`concurrency_slowdown:` of a server, database or cache).

A request's service time is multiplied by a factor f(N) of the concurrency N when its service
starts: the number of busy workers, itself included (with `hold_worker`, workers waiting on
downstream calls count: they are threads holding locks and memory too). Each law is a small
validated config whose `factor(n)` is f:

- `usl: {sigma, kappa}`: the Universal Scalability Law (Gunther). Relative capacity
  C(N) = N / (1 + sigma (N - 1) + kappa N (N - 1)); the service time at concurrency N is the
  service time alone times N / C(N) = 1 + sigma (N - 1) + kappa N (N - 1), so N workers kept busy
  complete C(N) / S requests per second (S: the mean service time alone).
- `linear: a`: f(N) = 1 + a (N - 1).
- `exponential: g`: f(N) = (1 + g)^(N - 1) (each extra concurrent request costs g more: a GC
  death spiral).

f(1) = 1 for every law: a request served alone takes its usual time.
"""
from __future__ import annotations

from typing import Any, Callable

from pydantic import Field, NonNegativeFloat, model_validator

from simulator.language.config import StrictModel


class USLConfig(StrictModel):
    """Universal Scalability Law: contention `sigma`, coherency `kappa`."""

    sigma: NonNegativeFloat = Field(0.0, le=1e6, description="Contention (serialised share of the work), 0 to 1 typically.")
    kappa: NonNegativeFloat = Field(0.0, le=1e6, description="Coherency (cost of keeping N workers in step: crosstalk).")


class ConcurrencySlowdownConfig(StrictModel):
    """Service time multiplied by f(N) at concurrency N: exactly one of `usl`, `linear`, `exponential`."""

    usl: USLConfig | None = Field(
        None, description="f(N) = 1 + sigma (N-1) + kappa N (N-1) = N / C(N) (Universal Scalability Law).")
    linear: NonNegativeFloat | None = Field(None, le=1e6, description="f(N) = 1 + a (N-1).")
    exponential: NonNegativeFloat | None = Field(None, le=100, description="f(N) = (1 + g)^(N-1).")

    @model_validator(mode="after")
    def _one(self) -> "ConcurrencySlowdownConfig":
        given = [k for k in ("usl", "linear", "exponential") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'usl: {sigma, kappa}', 'linear: a' or 'exponential: g'"
                             + (f" (got {' and '.join(given)})" if given else ""))
        return self

    def factor(self, n: int) -> float:
        """f(n): the service time multiplier at concurrency n (n >= 1)."""
        if self.usl is not None:
            return 1.0 + self.usl.sigma * (n - 1) + self.usl.kappa * n * (n - 1)
        if self.linear is not None:
            return 1.0 + self.linear * (n - 1)
        return (1.0 + self.exponential) ** (n - 1)

    def peak(self, workers: int, mean_s: float) -> float:
        """The most requests per second `workers` can complete: max over n <= workers of n / (S f(n))."""
        best, n = 0.0, 1
        while n <= workers:
            x = n / (mean_s * self.factor(n))
            if x < best:  # n / f(n) rises to one peak then falls for these laws
                break
            best, n = x, n + 1
        return best


def install(station: Any, cfg: ConcurrencySlowdownConfig) -> None:
    """Multiply the station's service draws by f(busy workers), chosen once at build time.
    Factors are precomputed for up to `workers` (the station never has more busy)."""
    workers = station.workers
    if workers <= 100_000:
        table: Any = [1.0] + [cfg.factor(n) for n in range(1, workers + 1)]
    else:  # too many to tabulate: compute each factor (a dict-like lookup by call)
        table = _Computed(cfg)
    draw = station.draw_service
    if draw is not None:
        station.draw_service = _scaled_draw(station, draw, table)
    service_time = station.service_time
    station.service_time = lambda req: service_time(req) * table[station.busy]


def _scaled_draw(station: Any, draw: Callable[[], float], table: list[float]) -> Callable[[], float]:
    return lambda: draw() * table[station.busy]


class _Computed:
    """f(n) on demand, indexed like the precomputed table."""

    __slots__ = ("factor",)

    def __init__(self, cfg: ConcurrencySlowdownConfig) -> None:
        self.factor = cfg.factor

    def __getitem__(self, n: int) -> float:
        return self.factor(n)
