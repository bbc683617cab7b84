"""A CDN: an edge cache per region in front of an origin.

`cdn` in a scenario stands for the whole network of edges; the edges are real components named
`<name>.<region>` (crash one with `target: cdn.eu`). Clients are routed to an edge when their
link is made, as DNS or anycast would: the edge in their own region, or else the nearest by the
configured network latency. Each edge is a read-through cache (concurrent misses share one origin
fetch); object sizes are a property of the key, shared by every edge, so egress bytes add up.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, ValidationError, field_validator, model_validator

from simulator.language import registry
from simulator.sampling.distributions import Sampler, SizeDist, parse_distribution
from simulator.language.units import PositiveDuration

from .base import Component, ComponentConfig
from .cache import Cache, CacheConfig


class CdnConfig(ComponentConfig):
    type: Literal["cdn"] = "cdn"
    origin: str = Field(description="Component that serves misses (the origin).")
    regions: list[str] = Field(min_length=1, description="One edge per region; an edge sits in the zone of that name.")
    routing: Literal["region", "nearest"] = Field(
        "region", description="region: the client's own region's edge, else the nearest; nearest: always by latency."
    )
    capacity: PositiveInt | str = Field(description="Per edge: items (e.g. 100000) or bytes (e.g. 10GB).")
    eviction: registry.name_in(registry.eviction_policies) = Field("lru", description="Eviction policy of each edge.")
    ttl: PositiveDuration | None = Field(None, description="How long an edge keeps an object.")
    object_size: SizeDist = Field(
        default_factory=lambda: parse_distribution("100KB", "size"),
        description="Size of an object (drawn once per key, the same at every edge); for egress bytes.",
    )

    @field_validator("regions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        dup = sorted({r for r in value if value.count(r) > 1})
        if dup:
            raise ValueError(f"region '{dup[0]}' is listed twice")
        return value

    @model_validator(mode="after")
    def _edges_valid(self) -> "CdnConfig":
        try:
            self.edge_config(self.regions[0])
        except ValidationError as exc:
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
        return self

    def refs(self):
        return [(("origin",), self.origin)]

    def edge_config(self, region: str) -> CacheConfig:
        d = self.model_dump(mode="json")  # values with their units, as the edge's config expects them
        return CacheConfig.model_validate({
            "type": "cache", "zone": region, "capacity": d["capacity"], "eviction": d["eviction"],
            "ttl": d["ttl"], "mode": "read_through", "backing": d["origin"], "item_size": d["object_size"],
        })


@registry.components.register("cdn")
class Cdn(Component):
    """CDN: an edge cache per region, clients routed to their region's (or the nearest) edge."""

    Config = CdnConfig

    @classmethod
    def expand(cls, name: str, config: CdnConfig):
        return [(f"{name}.{r}", Cache, config.edge_config(r)) for r in config.regions] + [(name, cls, config)]

    def __init__(self, env: Any, name: str, config: CdnConfig) -> None:
        super().__init__(env, name, config)
        self.edges: list[Cache] = []
        self._draw_size = Sampler(config.object_size, env.streams.get(f"{name}/object_size")).next
        self.sizes: dict = {}

    def connect(self, system: Any) -> None:
        self.edges = [system.components[f"{self.name}.{r}"] for r in self.config.regions]
        for edge in self.edges:  # one size per object, whichever edge draws it first
            edge.sizes, edge._draw_size, edge.track_bytes = self.sizes, self._draw_size, True
        self.network = system.network

    def route(self, src: Any) -> Cache:
        """The edge serving clients at `src` (called once per link, not per request)."""
        if self.config.routing == "region":
            for edge in self.edges:
                if edge.zone == src.zone:
                    return edge
        return min(self.edges, key=lambda e: self.network._latency_dist(src, e).mean)

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        hits = sum(e.hits for e in self.edges)
        misses = sum(e.misses for e in self.edges)
        hit_bytes = sum(e.hit_bytes for e in self.edges)
        miss_bytes = sum(e.miss_bytes for e in self.edges)
        origin_fetches = misses - sum(e.coalesced for e in self.edges)
        origin_bytes = sum(e.fetched_bytes for e in self.edges)
        return {
            "type": self.type_name,
            "hit_ratio": hits / (hits + misses) if hits + misses else None,
            "byte_hit_ratio": hit_bytes / (hit_bytes + miss_bytes) if hit_bytes + miss_bytes else None,
            "edges": {e.name: {"requests": e.hits + e.misses,
                               "hit_ratio": e.hits / (e.hits + e.misses) if e.hits + e.misses else None,
                               "egress_bytes": e.hit_bytes + e.miss_bytes} for e in self.edges},
            "origin_requests": origin_fetches,
            "origin_load_rps": origin_fetches / elapsed_s if elapsed_s else None,
            "egress_bytes": hit_bytes + miss_bytes,
            "origin_egress_bytes": origin_bytes,
        }

    def offered(self, rate_per_s: float, system: Any) -> None:
        pass  # the origin sees only misses, known after the run
