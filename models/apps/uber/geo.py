"""The city of the ride-dispatch model and its location index.

`Grid`: a square city of `size_km` on a side cut into square cells of `cell_km` (a geohash of fixed
precision, in effect): cell ids, the cells a search circle touches, Manhattan (street-grid)
distances, the shard that owns a cell under a placement, the region (matching service) of a point.

`GeoShard` (`type: geo_shard`): one shard of the location service's geospatial index, a queueing
station (workers, service times, queue, faults) that holds, for the cells it owns, the last position
each driver reported there (`cell -> driver -> (x, y, t, available)`). A driver's update is applied
when the shard has served it; a `nearby` query returns the entries of the asked cells reported within
`ttl` of now. The index is in memory: a crash loses it (unless `persistent`), and it refills from the
drivers' next updates (every 4 s).
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, PositiveInt

from models.apps.behaviour import distribution
from models.station import Station, StationConfig
from simulator.engine.request import OK, Reply, Request
from simulator.language import registry
from simulator.language.units import PositiveDuration
from simulator.sampling.distributions import DurationDist

_GOLDEN = 2654435761  # Knuth's multiplicative hash: spreads neighbouring cells over the shards


class Grid:
    """A square city cut into square cells; x grows east, y grows north, both in km from the SW corner."""

    __slots__ = ("size", "cell", "n")

    def __init__(self, size_km: float, cell_km: float) -> None:
        self.size = size_km
        self.cell = cell_km
        self.n = max(1, math.ceil(size_km / cell_km - 1e-9))

    @property
    def cells(self) -> int:
        return self.n * self.n

    def cell_of(self, x: float, y: float) -> int:
        n = self.n
        col = min(n - 1, max(0, int(x / self.cell)))
        row = min(n - 1, max(0, int(y / self.cell)))
        return row * n + col

    def cells_within(self, x: float, y: float, r_km: float, inner_km: float = -1.0) -> list[int]:
        """Cells a circle of radius `r_km` around (x, y) touches, less those a circle of `inner_km`
        touches (the ring a search adds when it widens), in id order."""
        c, n = self.cell, self.n
        # One cell more on the low side: a cell whose far edge is exactly r_km away is in the circle.
        lo_c, hi_c = max(0, int((x - r_km) // c) - 1), min(n - 1, int((x + r_km) // c))
        lo_r, hi_r = max(0, int((y - r_km) // c) - 1), min(n - 1, int((y + r_km) // c))
        r2, i2 = r_km * r_km, inner_km * inner_km if inner_km >= 0 else -1.0
        out = []
        for row in range(lo_r, hi_r + 1):
            y0 = row * c
            dy = y0 - y if y < y0 else (y - y0 - c if y > y0 + c else 0.0)
            for col in range(lo_c, hi_c + 1):
                x0 = col * c
                dx = x0 - x if x < x0 else (x - x0 - c if x > x0 + c else 0.0)
                d2 = dx * dx + dy * dy  # from the point to the nearest point of the cell
                if d2 <= r2 and not d2 <= i2:
                    out.append(row * n + col)
        return out

    def shard_of(self, cell: int, shards: int, placement: str) -> int:
        """`hash`: neighbouring cells on different shards (load spread, a lost shard blinds scattered
        cells); `range`: contiguous bands of rows per shard (a search touches few shards, a lost shard
        blinds a whole band of the city and hot spots load one shard)."""
        if placement == "range":
            return cell * shards // self.cells
        return ((cell * _GOLDEN) & 0xFFFFFFFF) * shards >> 32

    def region_of(self, x: float, regions: int) -> int:
        """Regions are vertical bands, west to east."""
        return min(regions - 1, max(0, int(x * regions / self.size)))

    def area_of(self, x: float, y: float, per_side: int) -> int:
        """Surge areas: a `per_side` x `per_side` grid over the city, row-major from the SW corner."""
        col = min(per_side - 1, max(0, int(x * per_side / self.size)))
        row = min(per_side - 1, max(0, int(y * per_side / self.size)))
        return row * per_side + col

    def clip(self, v: float) -> float:
        return min(self.size, max(0.0, v))

    def reflect(self, v: float) -> float:
        """A coordinate folded back into the city at its edges (clipping would pile drivers up on the
        edges and corners; folding keeps a uniform spread uniform)."""
        period = 2.0 * self.size
        v = v % period
        return period - v if v > self.size else v

    def cell_centre(self, cell: int) -> tuple[float, float]:
        return (cell % self.n + 0.5) * self.cell, (cell // self.n + 0.5) * self.cell

    def area_centre(self, area: int, per_side: int) -> tuple[float, float]:
        side = self.size / per_side
        return (area % per_side + 0.5) * side, (area // per_side + 0.5) * side


def manhattan(x0: float, y0: float, x1: float, y1: float) -> float:
    """Distance along a grid of streets (what a car drives)."""
    return abs(x1 - x0) + abs(y1 - y0)


class GeoShardConfig(StationConfig):
    type: Literal["geo_shard"] = "geo_shard"
    workers: PositiveInt = Field(2, le=10_000, description="Requests (updates, queries) served at once.")
    update_time: DurationDist = distribution("exponential(mean=0.5ms)", "Work to apply one driver's location update.")
    query_time: DurationDist = distribution("exponential(mean=2ms)", "Work to answer one nearby query (its cells on this shard).")
    ttl: PositiveDuration = Field(15.0, description="Entries older than this are not returned (a driver who moved to "
                                  "a cell of another shard, or went silent, ages out).")
    persistent: bool = Field(False, description="The index survives a crash (false: in memory, empty after a crash "
                             "until the drivers' next updates).")


@registry.components.register("geo_shard")
class GeoShard(Station):
    """One shard of a geospatial index of drivers (see the module's docstring)."""

    Config = GeoShardConfig
    type_name = "geo_shard"

    def __init__(self, env: Any, name: str, config: GeoShardConfig) -> None:
        self.cells: dict[int, dict[int, tuple[float, float, float, bool]]] = {}
        self.where: dict[int, int] = {}  # driver -> the cell of this shard it was last reported in
        super().__init__(env, name, config)
        self.workers = config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self.ttl = config.ttl
        self._update = self.service_sampler(config.update_time, "update")
        self._query = self.service_sampler(config.query_time, "query")

    def reset_stats(self) -> None:
        super().reset_stats()
        self.writes = 0
        self.queries = 0
        self.wiped = 0

    def service_time(self, req: Request) -> float:
        return self._update() if req.op == "update" else self._query()

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        if req.op == "update":
            driver, cell, x, y, t, available = req.data
            old = self.where.get(driver)
            if old is not None and old != cell:
                self.cells[old].pop(driver, None)
            self.where[driver] = cell
            self.cells.setdefault(cell, {})[driver] = (x, y, t, available)
            self.writes += 1
        else:  # nearby: data = (cells, found): the entries of those cells still fresh go into `found`
            cells, found = req.data
            oldest = self.env._now - self.ttl
            get = self.cells.get
            for cell in cells:
                entries = get(cell)
                if entries:
                    found.extend((d, *e) for d, e in entries.items() if e[2] >= oldest)
            self.queries += 1
        self.release()
        reply(OK)

    def crash(self) -> None:
        super().crash()
        if not self.config.persistent:
            self.wiped += len(self.where)
            self.cells.clear()
            self.where.clear()

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        oldest = self.env._now - self.ttl
        fresh = sum(1 for entries in self.cells.values() for e in entries.values() if e[2] >= oldest)
        return super().stats(elapsed_s) | {"writes": self.writes, "queries": self.queries,
                                           "drivers_indexed": fresh, "entries_lost": self.wiped}
