"""Cache models with a capacity in keys: LRU, LFU, FIFO, Random, perfect LFU; per-key TTL.

These are the plain-Python reference models, one class per policy behind one small interface
(``get(key, now) -> hit``, ``put(key, now, ttl)``, ``delete(key)``). They are written to be
read; the fast engine (:mod:`simlab._kernels`) implements the same policies and is tested
against these, request by request.

Expiry is lazy, as in Redis: an expired key is removed when a request touches it, and a key
counts as expired when ``now > expire_at`` (strictly).
"""
from __future__ import annotations

import math
from collections import OrderedDict

from . import _validate as v
from ._random import generator

POLICIES = ("lru", "lfu", "fifo", "random", "perfect-lfu")


class Cache:
    """Base interface. ``capacity`` is the number of keys the whiteboard holds."""

    name = "base"

    def __init__(self, capacity: int, *, rng=None):
        self.capacity = v.positive_int("capacity", capacity)
        self.expire_at: dict = {}
        self.evictions = 0
        self.expired = 0

    def __len__(self):
        return len(self._store())

    def __contains__(self, key):
        return key in self._store()

    def _store(self):
        raise NotImplementedError

    def _is_expired(self, key, now: float) -> bool:
        exp = self.expire_at.get(key)
        return exp is not None and now > exp

    def get(self, key, now: float = 0.0) -> bool:
        """Look ``key`` up at time ``now``; True on a hit. An expired key is removed (a miss)."""
        if key not in self._store():
            return False
        if self._is_expired(key, now):
            self.delete(key)
            self.expired += 1
            return False
        self._touch(key)
        return True

    def put(self, key, now: float = 0.0, ttl: float | None = None, size: int = 1) -> bool:
        """Write ``key`` (a fill after a miss); evict first if the whiteboard is full.
        ``size`` is ignored: capacity here is in keys. Always True (the write is accepted)."""
        if ttl is None or (isinstance(ttl, float) and math.isnan(ttl)):
            self.expire_at.pop(key, None)
        else:
            self.expire_at[key] = now + ttl
        if key in self._store():
            self._touch(key)
            return True
        if len(self._store()) >= self.capacity:
            victim = self._evict()
            self.expire_at.pop(victim, None)
            self.evictions += 1
        self._insert(key)
        return True

    def delete(self, key, now: float = 0.0) -> bool:
        """Remove ``key`` if present (an invalidation); True if it was there."""
        self.expire_at.pop(key, None)
        if key in self._store():
            self._remove(key)
            return True
        return False

    def __repr__(self):
        return f"{type(self).__name__}(capacity={self.capacity}) holding {len(self)} keys"


class LRUCache(Cache):
    """Least recently used: a hit moves the key to the front; the back is evicted."""

    name = "lru"

    def __init__(self, capacity, *, rng=None):
        super().__init__(capacity)
        self._od: OrderedDict = OrderedDict()

    def _store(self):
        return self._od

    def _touch(self, key):
        self._od.move_to_end(key)

    def _insert(self, key):
        self._od[key] = None

    def _remove(self, key):
        del self._od[key]

    def _evict(self):
        return self._od.popitem(last=False)[0]


class FIFOCache(LRUCache):
    """First in, first out: hits change nothing; the oldest insertion is evicted."""

    name = "fifo"

    def _touch(self, key):
        pass


class LFUCache(Cache):
    """Least frequently used (in-cache frequency); ties go to the least recently used.

    A key's count starts at 1 when it is inserted and is forgotten when it leaves.
    """

    name = "lfu"

    def __init__(self, capacity, *, rng=None):
        super().__init__(capacity)
        self._freq: dict = {}
        self._buckets: dict[int, OrderedDict] = {}

    def _store(self):
        return self._freq

    def _touch(self, key):
        f = self._freq[key]
        del self._buckets[f][key]
        if not self._buckets[f]:
            del self._buckets[f]
        self._freq[key] = f + 1
        self._buckets.setdefault(f + 1, OrderedDict())[key] = None

    def _insert(self, key):
        self._freq[key] = 1
        self._buckets.setdefault(1, OrderedDict())[key] = None

    def _remove(self, key):
        f = self._freq.pop(key)
        del self._buckets[f][key]
        if not self._buckets[f]:
            del self._buckets[f]

    def _evict(self):
        f = min(self._buckets)
        key, _ = self._buckets[f].popitem(last=False)
        if not self._buckets[f]:
            del self._buckets[f]
        del self._freq[key]
        return key


class PerfectLFUCache(LFUCache):
    """LFU that remembers every key's count, even after eviction (the model behind the
    "perfect LFU" theory: in the long run it holds the most popular keys)."""

    name = "perfect-lfu"

    def __init__(self, capacity, *, rng=None):
        super().__init__(capacity)
        self._seen: dict = {}

    def _touch(self, key):
        super()._touch(key)
        self._seen[key] = self._freq[key]

    def _insert(self, key):
        f = self._seen.get(key, 0) + 1
        self._seen[key] = f
        self._freq[key] = f
        self._buckets.setdefault(f, OrderedDict())[key] = None


class RandomCache(Cache):
    """Evicts a key chosen uniformly at random."""

    name = "random"

    def __init__(self, capacity, *, rng=None):
        super().__init__(capacity)
        # Anything with ``random() -> float in [0, 1)`` will do (a numpy Generator too); an
        # int is a run's seed (its ``"policy"`` stream), None fresh entropy.
        self._rng = rng if hasattr(rng, "random") else generator(rng, "policy")
        self._slots: list = []
        self._pos: dict = {}

    def _store(self):
        return self._pos

    def _touch(self, key):
        pass

    def _insert(self, key):
        self._pos[key] = len(self._slots)
        self._slots.append(key)

    def _remove(self, key):
        i = self._pos.pop(key)
        last = self._slots.pop()
        if i < len(self._slots):
            self._slots[i] = last
            self._pos[last] = i

    def _evict(self):
        key = self._slots[int(self._rng.random() * len(self._slots))]
        self._remove(key)
        return key


_CLASSES = {"lru": LRUCache, "lfu": LFUCache, "fifo": FIFOCache, "random": RandomCache,
            "perfect-lfu": PerfectLFUCache}


def make_cache(policy: str, capacity: int, *, rng=None) -> Cache:
    """A reference cache by policy name: ``lru``, ``lfu``, ``fifo``, ``random`` or
    ``perfect-lfu``."""
    v.choice("policy", policy, POLICIES)
    return _CLASSES[policy](capacity, rng=rng)
