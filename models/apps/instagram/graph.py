"""The follower graph: who follows whom, with a power-law number of followers per account.

Each user follows `k` accounts (k drawn from the `following` distribution), chosen without
replacement with probability proportional to the account's popularity `(rank)^-exponent` (account 0
is the most popular). Preferential choice by a Zipf weight gives the heavy-tailed follower counts of
real social graphs: a few celebrities followed by a large share of the users, most accounts by few.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


class FollowerGraph:
    """Followees and followers of each user, as sorted lists of user ids."""

    __slots__ = ("users", "followees", "followers")

    def __init__(self, users: int, followees: Sequence[Sequence[int]]) -> None:
        self.users = users
        self.followees = [sorted(set(int(a) for a in f)) for f in followees]
        followers: list[list[int]] = [[] for _ in range(users)]
        for u, fs in enumerate(self.followees):
            for a in fs:
                followers[a].append(u)
        self.followers = followers

    @classmethod
    def explicit(cls, users: int, follows: Mapping[int, Sequence[int]]) -> "FollowerGraph":
        """A graph written out: user -> the accounts it follows."""
        return cls(users, [follows.get(u, ()) for u in range(users)])

    @classmethod
    def power_law(cls, users: int, following: np.ndarray, exponent: float, rng: np.random.Generator) -> "FollowerGraph":
        """`following[u]` accounts for each user u, by Zipf popularity (see the module docstring)."""
        weight = np.arange(1, users + 1, dtype=float) ** -exponent
        followees = []
        for u in range(users):
            k = int(min(max(following[u], 0), users - 1))
            if k == 0:
                followees.append(())
                continue
            # Efraimidis-Spirakis weighted sampling without replacement: the k largest u^(1/w).
            keys = np.log(rng.random(users)) / weight
            keys[u] = -np.inf  # nobody follows themselves
            followees.append(np.argpartition(keys, users - k)[users - k:].tolist())
        return cls(users, followees)

    def follower_count(self, account: int) -> int:
        return len(self.followers[account])
