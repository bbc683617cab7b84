"""Sharding strategies: which shard owns a key (placement), and how that changes on resharding.

A strategy is built from the list of shard names and answers `owner(key, req)` with a position in
that list on the hot path, and `owners(keys)` for a whole numpy array of keys when resharding is
analysed (which keys moved). Placement hashes are stable across runs and processes (`mix64`,
`stable_hash`), never Python's salted `hash()`.
"""
from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from simulator.language import registry
from simulator.sampling.rng import mix64, mix64_array, stable_hash


class Strategy:
    """Base: `owner(key, req)` -> index into `shards`; `resized(shards)` -> the strategy after a change."""

    regions: dict[str, str] | None = None  # region -> shard, for strategies that place by region

    def __init__(self, shards: list[str], config: Any, key_space: int) -> None:
        self.shards = list(shards)
        self.config = config
        self.key_space = key_space

    def owner(self, key: int, req: Any) -> int:
        raise NotImplementedError

    def owners(self, keys: np.ndarray) -> np.ndarray:
        return np.array([self.owner(int(k), None) for k in keys], dtype=np.int64)

    def resized(self, shards: list[str], load: dict[str, int]) -> "Strategy":
        return type(self)(shards, self.config, self.key_space)


@registry.sharding_strategies.register("hash")
class HashMod(Strategy):
    """hash(key) mod N: even spread, but changing N moves most keys."""

    def owner(self, key, req):
        return mix64(key) % len(self.shards)

    def owners(self, keys):
        return (mix64_array(keys) % np.uint64(len(self.shards))).astype(np.int64)


@registry.sharding_strategies.register("range")
class Range(Strategy):
    """Contiguous key ranges (boundaries given or an even split); adding a shard splits the busiest range."""

    def __init__(self, shards, config, key_space, boundaries: list[int] | None = None):
        super().__init__(shards, config, key_space)
        if boundaries is None:
            boundaries = list(config.boundaries) if config.boundaries and len(config.boundaries) == len(shards) - 1 \
                else [round(key_space * i / len(shards)) for i in range(1, len(shards))]
        self.boundaries = boundaries  # shard i holds keys in [boundaries[i-1], boundaries[i])

    def owner(self, key, req):
        return bisect.bisect_right(self.boundaries, key)

    def owners(self, keys):
        return np.searchsorted(np.asarray(self.boundaries, dtype=np.int64), keys, side="right")

    def resized(self, shards, load):
        old = self.shards
        lows = [0] + self.boundaries
        highs = self.boundaries + [self.key_space]
        ranges = dict(zip(old, zip(lows, highs)))
        added = [s for s in shards if s not in ranges]
        removed = [s for s in old if s not in shards]
        order = [s for s in old if s in shards]
        for name in removed:  # its range merges into the previous (or next) range
            i = old.index(name)
            lo, hi = ranges.pop(name)
            neighbour = old[i - 1] if i > 0 and old[i - 1] in ranges else next(s for s in old[i + 1:] if s in ranges)
            nlo, nhi = ranges[neighbour]
            ranges[neighbour] = (min(lo, nlo), max(hi, nhi))
        for name in added:  # split the busiest range in two; the new shard takes the upper half
            busiest = max(order, key=lambda s: (load.get(s, 0), ranges[s][1] - ranges[s][0]))
            lo, hi = ranges[busiest]
            mid = (lo + hi) // 2
            ranges[busiest] = (lo, mid)
            ranges[name] = (mid, hi)
            order.insert(order.index(busiest) + 1, name)
        order.sort(key=lambda s: ranges[s][0])
        new = Range(order, self.config, self.key_space, [ranges[s][0] for s in order[1:]])
        return new


@registry.sharding_strategies.register("consistent_hash")
class ConsistentHash(Strategy):
    """A hash ring with `virtual_nodes` points per shard: adding one of N shards moves about 1/N of keys."""

    def __init__(self, shards, config, key_space):
        super().__init__(shards, config, key_space)
        points = sorted(
            (stable_hash(f"{name}#{v}"), i) for i, name in enumerate(shards) for v in range(config.virtual_nodes)
        )
        self.ring = [h for h, _ in points]
        self.ring_owner = [i for _, i in points]
        self._ring = np.asarray(self.ring, dtype=np.uint64)
        self._ring_owner = np.asarray(self.ring_owner, dtype=np.int64)

    def owner(self, key, req):
        i = bisect.bisect_left(self.ring, mix64(key))
        return self.ring_owner[i if i < len(self.ring) else 0]

    def owners(self, keys):
        i = np.searchsorted(self._ring, mix64_array(keys), side="left")
        return self._ring_owner[np.where(i < len(self._ring), i, 0)]


@registry.sharding_strategies.register("geo")
class Geo(Strategy):
    """By a request attribute (the client's region): `regions` maps each to a shard, else `default`."""

    def __init__(self, shards, config, key_space, regions: dict[str, str] | None = None):
        super().__init__(shards, config, key_space)
        self.regions = dict(config.regions if regions is None else regions)
        index = {s: i for i, s in enumerate(shards)}
        self._index = {r: index[s] for r, s in self.regions.items() if s in index}
        self._default = index.get(config.default, 0) if config.default else 0

    def owner(self, key, req):
        region = req.region if req is not None else None
        return self._index.get(region, self._default)

    def owners(self, keys):
        return np.full(len(keys), self._default, dtype=np.int64)

    def resized(self, shards, load, regions: dict[str, str] | None = None):
        mapping = dict(self.regions if regions is None else regions)
        fallback = self.config.default if self.config.default in shards else shards[0]
        mapping = {r: (s if s in shards else fallback) for r, s in mapping.items()}
        return Geo(shards, self.config, self.key_space, mapping)
