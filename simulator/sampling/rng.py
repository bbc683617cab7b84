"""Named random streams derived from one scenario seed.

Each component and purpose draws from its own stream (`"app/service"`, `"web/arrivals"`), keyed by a
stable hash of the name, so adding or changing one component never shifts the numbers another one
draws: common random numbers for fair comparisons between variants.
"""
from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that is the same in every process (unlike the salted `hash()`)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class Streams:
    """Factory of independent numpy generators, one per name, all derived from `seed`."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._made: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        gen = self._made.get(name)
        if gen is None:
            h = stable_hash(name)
            seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(h & 0xFFFFFFFF, h >> 32))
            gen = self._made[name] = np.random.Generator(np.random.PCG64(seq))
        return gen


def derive_seed(base_seed: int, *labels: object) -> int:
    """A replication/variant seed derived from a base seed and labels, stable across runs."""
    return stable_hash(f"{base_seed}/" + "/".join(map(str, labels))) & 0x7FFFFFFF


_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def mix64(x: int) -> int:
    """A stable 64-bit integer mix (splitmix64 finaliser): same placement on every run."""
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix64_array(x: np.ndarray) -> np.ndarray:
    """`mix64` of every element (uint64 arithmetic wraps like the masked Python version)."""
    x = x.astype(np.uint64) + np.uint64(_GOLDEN)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
