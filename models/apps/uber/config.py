"""The YAML keys of the ride-dispatch application (`type: ride_dispatch`) and the surge formula."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from models.apps.behaviour import AppConfig, distribution
from simulator.language.config import StrictModel
from simulator.language.units import Duration, PositiveDuration, PositiveRate, Rate
from simulator.sampling.distributions import DurationDist, NumberDist


class HotspotConfig(StrictModel):
    """A source of ride requests around a point, active in a window of time."""

    name: str = Field(min_length=1, max_length=40, description="Name (of its random stream and in the docs).")
    x_km: NonNegativeFloat = Field(description="Centre, km east of the city's SW corner.")
    y_km: NonNegativeFloat = Field(description="Centre, km north of the city's SW corner.")
    radius_km: PositiveFloat = Field(0.5, ge=0.001, le=1000, description="Spread: requests fall at a normal distance with "
                                     "this standard deviation per axis (clipped to the city).")
    rate: PositiveRate = Field(description="Ride requests per second from this spot while it is active.")
    start: Duration = Field(0.0, description="When it becomes active.")
    end: Duration | None = Field(None, description="When it stops (unset: never).")

    @model_validator(mode="after")
    def _window(self) -> "HotspotConfig":
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"hot spot {self.name!r}: end ({self.end:g}s) must be after start ({self.start:g}s)")
        return self


class ScriptedRideConfig(StrictModel):
    """One ride request at a set time and place."""

    at: Duration = Field(description="When the rider asks.")
    x_km: NonNegativeFloat = Field(description="Where: km east of the city's SW corner.")
    y_km: NonNegativeFloat = Field(description="Where: km north of the city's SW corner.")


class SearchConfig(StrictModel):
    """The widening search around the rider."""

    start_km: PositiveFloat = Field(1.0, ge=0.01, le=1000, description="First search radius.")
    step_km: PositiveFloat = Field(1.0, ge=0.01, le=1000, description="How much the radius grows each time too few are found.")
    max_km: PositiveFloat = Field(5.0, ge=0.01, le=1000, description="Largest radius: a rider with no driver within it is not matched.")

    @model_validator(mode="after")
    def _order(self) -> "SearchConfig":
        if self.start_km > self.max_km:
            raise ValueError(f"start_km ({self.start_km:g}) must not exceed max_km ({self.max_km:g})")
        return self


class ScoringConfig(StrictModel):
    """score = distance x (1 - d / max_km) + eta x (1 - ETA / ETA(max_km)) + rating x rating / 5."""

    distance: NonNegativeFloat = Field(0.4, le=1000, description="Weight of closeness (straight line, reported position).")
    eta: NonNegativeFloat = Field(0.4, le=1000, description="Weight of a short ETA (street-grid distance / speed).")
    rating: NonNegativeFloat = Field(0.2, le=1000, description="Weight of the driver's rating (out of 5).")


class SurgeConfig(StrictModel):
    """Surge pricing per area from demand / supply."""

    areas: PositiveInt = Field(4, le=32, description="Areas per side: the city is cut into areas x areas surge areas.")
    interval: PositiveDuration = Field(60.0, ge=1.0, description="How often multipliers are recomputed (and the demand window).")
    threshold: NonNegativeFloat = Field(1.0, le=1e6, description="Demand / supply ratio above which the price surges.")
    sensitivity: NonNegativeFloat = Field(0.5, le=1e6, description="Multiplier added per unit of ratio above the threshold.")
    max: float = Field(3.0, ge=1.0, le=100.0, description="Largest multiplier.")
    price_sensitivity: float = Field(0.2, ge=0.0, le=1.0, description="Share of riders who do not request, per unit of "
                                     "multiplier above 1 (0.2: a 2.0x surge turns away 20%).")
    driver_response: float = Field(0.5, ge=0.0, le=1.0, description="Share of idle drivers' cruises that head for the "
                                   "highest surge area within chase_km instead of a random point.")
    chase_km: NonNegativeFloat = Field(3.0, le=1000, description="How far (street grid) idle drivers go for a surge.")


def surge_multiplier(demand: int, supply: int, s: SurgeConfig) -> float:
    """1 at or below the threshold; above it 1 + sensitivity x (ratio - threshold), capped at `max`,
    rounded to 0.1 (ratio = demand / supply, supply at least 1)."""
    ratio = demand / max(1, supply)
    if ratio <= s.threshold:
        return 1.0
    return round(min(s.max, 1.0 + s.sensitivity * (ratio - s.threshold)), 1)


class DispatchConfig(AppConfig):
    """The keys of `type: ride_dispatch` (docs/apps/uber.md)."""

    type: Literal["ride_dispatch"] = "ride_dispatch"
    city_km: PositiveFloat = Field(8.0, ge=0.01, le=1000, description="Side of the square city.")
    cell_km: PositiveFloat = Field(0.5, ge=0.001, le=1000, description="Side of an index cell (the geohash precision).")
    drivers: PositiveInt = Field(300, le=1_000_000, description="Drivers simulated (all online for the whole run).")
    speed_kmh: PositiveFloat = Field(30.0, ge=0.1, le=1000, description="Driving speed on the street grid.")
    cruise_km: NonNegativeFloat = Field(1.0, le=1000, description="Idle drivers drive to random points at most this far "
                                        "(per axis) between parking spells.")
    demand_seeking: float = Field(0.3, ge=0.0, le=1.0, description="Share of idle drivers' cruises that head for "
                                  "where riders are (a point drawn from the demand active now) instead.")
    park_time: DurationDist = distribution("exponential(mean=60s)", "How long an idle driver stays parked between cruises.")
    location_interval: PositiveDuration = Field(4.0, ge=0.1, description="Each driver's phone sends its position this often.")
    index: list[str] = Field(min_length=1, max_length=1000, description="The location index shards (`geo_shard` components).")
    placement: Literal["hash", "range"] = Field("hash", description="Cell -> shard: hash (neighbours spread) or range "
                                                "(contiguous bands of rows).")
    index_timeout: PositiveDuration = Field(0.5, description="Matching waits this long for a shard's answer.")
    stale_fallback: bool = Field(True, description="When a shard does not answer, match on the last answer "
                                 "matching kept for those cells (stale positions) rather than seeing no driver there.")
    matching: list[str] = Field(min_length=1, max_length=100, description="Matching service per region (`server` "
                                "components), regions being vertical bands from west to east.")
    matching_failover: bool = Field(False, description="When a region's matching service does not answer, send the "
                                    "request to the next region's (east, wrapping round) instead of failing it.")
    background_rate: Rate = Field(0.0, description="Ride requests per second spread uniformly over the city.")
    hotspots: list[HotspotConfig] = Field(default_factory=list, max_length=1000, description="Demand hot spots.")
    requests: list[ScriptedRideConfig] = Field(default_factory=list, max_length=100_000, description="Ride "
                                               "requests at set times and places, besides the random demand.")
    start_positions: list[tuple[NonNegativeFloat, NonNegativeFloat]] | None = Field(
        None, max_length=1_000_000, description="Drivers' starting points [x_km, y_km], one per driver (unset: "
        "uniform over the city).")
    trip_km: NumberDist = distribution("lognormal(median=4, p99=15)", "Trip length (street-grid km; the destination "
                                       "is clipped to the city).", "number")
    search: SearchConfig = Field(default_factory=SearchConfig, description="The widening search.")
    offers: PositiveInt = Field(3, le=100, description="Best candidates offered the ride at once (first to accept wins).")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Weights of the candidates' score.")
    rating: NumberDist = distribution("uniform(min=4.2, max=5)", "Drivers' ratings (drawn once per driver, 1-5).", "number")
    accept_probability: NumberDist = distribution("uniform(min=0.5, max=0.95)", "Each driver's probability of accepting "
                                                  "an offer (drawn once per driver, clipped to 0-1).", "number")
    response_time: DurationDist = distribution("lognormal(median=6s, p99=25s)", "How long a driver takes to answer an offer.")
    offer_timeout: PositiveDuration = Field(30.0, description="An offer round with no acceptance ends after this.")
    attempts: PositiveInt = Field(3, le=100, description="Offer rounds (searches) before the rider is given up on.")
    retry_after: Duration = Field(10.0, description="Wait before searching again when nothing was found.")
    surge: SurgeConfig = Field(default_factory=SurgeConfig, description="Surge pricing.")

    def refs(self):
        return [(("index", i), s) for i, s in enumerate(self.index)] + \
               [(("matching", i), m) for i, m in enumerate(self.matching)]

    def forwards(self):
        return []  # drivers and riders are the sources: nothing is passed on to them as a request

    @model_validator(mode="after")
    def _inside(self) -> "DispatchConfig":
        if self.cell_km > self.city_km:
            raise ValueError(f"cell_km ({self.cell_km:g}) must not exceed city_km ({self.city_km:g})")
        if self.city_km / self.cell_km > 1000:
            raise ValueError(f"city_km / cell_km gives over 1,000,000 cells: use larger cells")
        for h in self.hotspots:
            if h.x_km > self.city_km or h.y_km > self.city_km:
                raise ValueError(f"hot spot {h.name!r} at ({h.x_km:g}, {h.y_km:g}) km is outside the "
                                 f"{self.city_km:g} km city")
        for i, r in enumerate(self.requests):
            if r.x_km > self.city_km or r.y_km > self.city_km:
                raise ValueError(f"requests[{i}] at ({r.x_km:g}, {r.y_km:g}) km is outside the {self.city_km:g} km city")
        if self.start_positions is not None:
            if len(self.start_positions) != self.drivers:
                raise ValueError(f"start_positions has {len(self.start_positions)} points for {self.drivers} drivers")
            for i, (x, y) in enumerate(self.start_positions):
                if x > self.city_km or y > self.city_km:
                    raise ValueError(f"start_positions[{i}] ({x:g}, {y:g}) km is outside the {self.city_km:g} km city")
        if len({h.name for h in self.hotspots}) != len(self.hotspots):
            raise ValueError("hot spot names must be distinct")
        return self
