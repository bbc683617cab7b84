"""Cache eviction policies: which key leaves when a full cache must admit a new one.

Every operation is O(1) (LFU's `victim` is O(1) amortised): a hit or an eviction never scans the
cache. A policy only orders keys; the cache keeps the entries themselves.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable

from simulator.language import registry
from simulator.sampling.blocks import BlockStream


class EvictionPolicy:
    """Base: `insert` a new key, `touch` it on a hit, `remove` it, and pick a `victim` to evict.

    A policy whose order is an `OrderedDict` of the keys, oldest first (`order`), may offer it to the
    cache as the cache's own mapping of entries (`holds_entries`): the cache then admits, removes
    and evicts in that one mapping (the oldest entry is the victim) and calls only `touch`, so a
    lookup, a fill and an eviction each touch one hash table instead of two."""

    holds_entries = False

    def __init__(self, rng: Any) -> None:
        self.rng = rng

    def insert(self, key: Hashable) -> None:
        raise NotImplementedError

    def touch(self, key: Hashable) -> None:
        pass

    def remove(self, key: Hashable) -> None:
        raise NotImplementedError

    def victim(self) -> Hashable:
        """Choose a key to evict and forget it."""
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


@registry.eviction_policies.register("lru")
class LRU(EvictionPolicy):
    """Least recently used: evicts the key whose last access is oldest."""

    holds_entries = True

    def __init__(self, rng: Any) -> None:
        super().__init__(rng)
        self.order: OrderedDict = OrderedDict()
        # The per-request operations are the OrderedDict's own methods where they can be (no Python
        # frame of ours per hit, fill or invalidation), unless a subclass redefines them.
        order = self.order
        if type(self).touch is LRU.touch:
            self.touch = order.move_to_end
        elif type(self).touch is FIFO.touch:  # a hit changes nothing: `get` is a no-op in C
            self.touch = order.get
        if type(self).insert is LRU.insert:  # a key inserted is never held already: `setdefault` adds it
            self.insert = order.setdefault
        if type(self).remove is LRU.remove:
            self.remove = order.__delitem__
        cls = type(self)
        if not (cls.insert is LRU.insert and cls.remove is LRU.remove and cls.victim is LRU.victim):
            self.holds_entries = False  # a subclass's own bookkeeping must see every operation

    def insert(self, key):
        self.order[key] = None

    def touch(self, key):
        self.order.move_to_end(key)

    def remove(self, key):
        del self.order[key]

    def victim(self):
        return self.order.popitem(last=False)[0]

    def clear(self):
        self.order.clear()

    def __len__(self):
        return len(self.order)


@registry.eviction_policies.register("fifo")
class FIFO(LRU):
    """First in, first out: evicts the key admitted longest ago, whatever its use since."""

    def touch(self, key):
        pass


@registry.eviction_policies.register("lfu")
class LFU(EvictionPolicy):
    """Least frequently used (counts since admission); ties broken by least recent use."""

    def __init__(self, rng: Any) -> None:
        super().__init__(rng)
        self.freq: dict = {}
        self.buckets: dict[int, OrderedDict] = {}
        self.min_freq = 0

    def _add(self, key, f: int) -> None:
        bucket = self.buckets.get(f)
        if bucket is None:
            bucket = self.buckets[f] = OrderedDict()
        bucket[key] = None
        self.freq[key] = f

    def _drop(self, key) -> int:
        f = self.freq.pop(key)
        bucket = self.buckets[f]
        del bucket[key]
        if not bucket:
            del self.buckets[f]
        return f

    def insert(self, key):
        self._add(key, 1)
        self.min_freq = 1

    def touch(self, key):
        f = self._drop(key)
        if f == self.min_freq and f not in self.buckets:
            self.min_freq = f + 1
        self._add(key, f + 1)

    def remove(self, key):
        self._drop(key)

    def victim(self):
        if self.min_freq not in self.buckets:
            # Only after an explicit removal emptied the lowest bucket: one pass over the counts.
            self.min_freq = min(self.buckets)
        bucket = self.buckets[self.min_freq]
        key = bucket.popitem(last=False)[0]
        del self.freq[key]
        if not bucket:
            del self.buckets[self.min_freq]
        return key

    def clear(self):
        self.freq.clear()
        self.buckets.clear()
        self.min_freq = 0

    def __len__(self):
        return len(self.freq)


@registry.eviction_policies.register("random")
class Random(EvictionPolicy):
    """A key chosen uniformly at random (from the cache's own random stream)."""

    def __init__(self, rng: Any) -> None:
        super().__init__(rng)
        self.keys: list = []
        self.index: dict = {}
        self._u = BlockStream(lambda n: rng.random(n))

    def insert(self, key):
        self.index[key] = len(self.keys)
        self.keys.append(key)

    def remove(self, key):
        i = self.index.pop(key)
        last = self.keys.pop()
        if i < len(self.keys):  # move the last key into the hole
            self.keys[i] = last
            self.index[last] = i

    def victim(self):
        key = self.keys[int(self._u.next() * len(self.keys))]
        self.remove(key)
        return key

    def clear(self):
        self.keys.clear()
        self.index.clear()

    def __len__(self):
        return len(self.keys)
