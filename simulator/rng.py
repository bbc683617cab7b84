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
