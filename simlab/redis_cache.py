"""The whiteboard as Redis runs it: maxmemory in bytes and the eight eviction policies.

Textbook LRU evicts the least recently used key. Redis does not keep that order (it would cost
memory per key); instead, before every command, while ``used_memory`` is above ``maxmemory``,
it samples ``maxmemory-samples`` keys (default 5), scores them, merges them into a 16-entry
pool kept sorted between evictions, and evicts the best-scoring pool entry that still exists
(``evict.c``). The scores:

* LRU: idle time from a clock with one-second resolution (keys touched in the same second
  look equally old), so the request rate changes the outcome;
* LFU: 255 minus a logarithmic 8-bit counter (new keys start at 5; an access adds one with
  probability ``1 / ((counter - 5) * lfu_log_factor + 1)``; the counter loses one per
  ``lfu_decay_time`` minutes, applied lazily when the key is touched or sampled);
* TTL: sooner expiry first.

``volatile-*`` policies choose only among keys with a TTL and act like ``noeviction`` when
there are none. ``noeviction`` refuses writes with Redis's OOM error while memory is above the
limit; reads and deletes still work. Expiry here is lazy (a key is removed when a command
touches it after its deadline).

Sampling is not uniform, and that matters: Redis takes runs of neighbouring hash-table
entries from a random bucket (``dict.c`` ``dictGetSomeKeys``). Evictions clear old keys out of
the regions they sample, so later samples from nearby buckets find younger keys, and the result
is blurrier than uniform sampling (measured with 5 samples, the newest evicted batch keeps
0.74 of its keys with neighbour sampling, as the real server does, against 0.85 with uniform
sampling). So the model keeps a hash table like Redis's: each key name gets a random hash on
first sight, buckets are a power of two, new entries go to the head of their chain.
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from . import _validate as v
from . import redis_memory as mem
from ._random import generator

REDIS_POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                  "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")
OOM_ERROR = "OOM command not allowed when used memory > 'maxmemory'."
EVPOOL_SIZE = 16
LFU_INIT_VAL = 5
LRU_CLOCK_MAX = (1 << 24) - 1


class OOMError(RuntimeError):
    """A write refused because memory is above maxmemory (Redis's text)."""


def lfu_log_incr(counter: int, lfu_log_factor: float, draw: float) -> int:
    """Redis's ``LFULogIncr``: one more with probability 1 / ((counter - 5) * factor + 1)."""
    if counter >= 255:
        return 255
    base = max(counter - LFU_INIT_VAL, 0)
    return counter + 1 if draw < 1.0 / (base * lfu_log_factor + 1) else counter


def lfu_counter_distribution(accesses: int, lfu_log_factor: float = 10,
                             start: int = LFU_INIT_VAL) -> np.ndarray:
    """The exact distribution of the LFU counter after ``accesses`` lookups of one key that
    starts at ``start`` (a new key: 5) with no decay: probabilities of 0..255.

    Each lookup is one step of :func:`lfu_log_incr`'s Markov chain, so the answer is that
    chain's distribution after ``accesses`` steps (no sampling)."""
    accesses = v.nonnegative_int("accesses", accesses)
    if accesses > 10_000_000:
        raise ValueError(f"accesses must be at most 10,000,000 (the chain is stepped once per "
                         f"lookup), got {accesses:,}")
    lfu_log_factor = v.nonnegative_real("lfu_log_factor", lfu_log_factor)
    start = v.nonnegative_int("start", start)
    if start > 255:
        raise ValueError(f"start must be a counter from 0 to 255, got {start}")
    counters = np.arange(256)
    up = 1.0 / (np.maximum(counters - LFU_INIT_VAL, 0) * lfu_log_factor + 1)
    up[255] = 0.0
    p = np.zeros(256)
    p[start] = 1.0
    for _ in range(accesses):
        moved = p * up
        p = p - moved
        p[1:] += moved[:-1]
    return p


def lfu_counter_range(accesses: int, lfu_log_factor: float = 10, *, miss: float = 1e-7,
                      start: int = LFU_INIT_VAL) -> tuple[int, int]:
    """The narrowest counters ``(low, high)`` that hold the LFU counter after ``accesses``
    lookups but with probability at most ``miss`` (half below, half above): the bounds a test
    of a random counter can use without ever failing by chance."""
    miss = v.fraction("miss", miss, open_low=True)
    p = lfu_counter_distribution(accesses, lfu_log_factor, start)
    below = np.cumsum(p)                   # P(counter <= c)
    low = int(np.searchsorted(below, miss / 2, side="right"))       # P(counter < low) <= miss/2
    above = np.cumsum(p[::-1])[::-1]       # P(counter >= c)
    high = int(np.nonzero(above > miss / 2)[0][-1])                 # P(counter > high) <= miss/2
    return low, high


_MASK64 = (1 << 64) - 1


class SplitMix64:
    """The model's random numbers: splitmix64, a few lines that the compiled model
    (:mod:`simlab._redis_kernels`) repeats exactly, so both draw the same numbers.

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        The 64-bit starting state is one draw of :func:`simlab._random.generator`: an int
        seeds the run's stream ``"policy"`` (one stream per component), a Generator is drawn
        from as it is, None draws fresh entropy.
    """

    def __init__(self, seed=None):
        self.state = int(generator(seed, "policy").integers(0, 1 << 64, dtype=np.uint64))

    def next64(self) -> int:
        """The next 64-bit draw."""
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def getrandbits(self, k: int) -> int:
        """``k`` (at most 64) random bits, like :meth:`random.Random.getrandbits`."""
        return self.next64() >> (64 - k) if k < 64 else self.next64()

    def random(self) -> float:
        """A float in [0, 1) with 53 random bits."""
        return (self.next64() >> 11) * (1.0 / (1 << 53))

    def randrange(self, n: int) -> int:
        """An int in [0, n) (the draw modulo n)."""
        return self.next64() % n


class HashTable:
    """Buckets of one Redis dict, for sampling as ``dictGetSomeKeys`` does."""

    def __init__(self):
        self.size = 0
        self.count = 0
        self.buckets: list = []

    def _resize(self, size):
        old = self.buckets
        self.size = size
        self.buckets = [[] for _ in range(size)]
        mask = size - 1
        for chain in old:
            for key, h in chain:
                self.buckets[h & mask].insert(0, (key, h))

    def add(self, key, h, headroom=None):
        """Add ``key`` (hash ``h``); ``headroom``: bytes left below maxmemory (None: no limit)."""
        if self.count >= self.size and self.may_grow(headroom):   # _dictExpandIfNeeded
            self._resize(mem.table_size(self.count + 1))
        self.buckets[h & (self.size - 1)].insert(0, (key, h))
        self.count += 1

    def may_grow(self, headroom) -> bool:
        """``dictExpandAllowed``: a full table doubles unless the new table would take memory
        above maxmemory while it holds at most 1.618 keys a bucket."""
        if self.size == 0 or headroom is None or self.count / self.size > mem.MAX_LOAD_FACTOR:
            return True
        return mem.BUCKET * mem.table_size(self.count + 1) <= headroom

    def remove(self, key, h):
        self.buckets[h & (self.size - 1)].remove((key, h))
        self.count -= 1

    def shrink_if_sparse(self):
        # serverCron: a table under 10% full shrinks (htNeedsResize, tryResizeHashTables)
        if self.size > mem.MIN_TABLE and self.count * 100 < self.size * 10:
            self._resize(mem.table_size(self.count) if self.count else mem.MIN_TABLE)

    def some_keys(self, count: int, rng) -> list:
        """Up to ``count`` keys from runs of neighbouring buckets (``dictGetSomeKeys``)."""
        count = min(count, self.count)
        out: list = []
        if count == 0:
            return out
        mask = self.size - 1
        i = rng.getrandbits(64) & mask
        empty_run = 0
        for _ in range(count * 10):
            chain = self.buckets[i]
            if not chain:
                empty_run += 1
                if empty_run >= 5 and empty_run > count:   # jump elsewhere
                    i = rng.getrandbits(64) & mask
                    empty_run = 0
            else:
                empty_run = 0
                for key, _ in chain:
                    out.append(key)
                    if len(out) == count:
                        return out
            i = (i + 1) & mask
        return out


class RedisCache:
    """A Redis whiteboard with ``maxmemory`` bytes for its data set.

    Parameters
    ----------
    policy : str
        One of :data:`REDIS_POLICIES`.
    maxmemory : int or None
        Bytes available to the data set (a real server's ``maxmemory`` less an empty server's
        ``used_memory``). ``None``: no limit.
    samples : int
        ``maxmemory-samples`` (1 to 64).
    lfu_log_factor, lfu_decay_time : float
        As in redis.conf (decay time in minutes; 0: no decay).
    rng : int, SplitMix64 or numpy.random.Generator, optional
        Sampling, key hashes and the LFU counter's draws (an int is a run's seed: the draws
        come from its ``"policy"`` stream, see :class:`SplitMix64`).
    """

    def __init__(self, policy: str = "allkeys-lru", maxmemory: int | None = None, *,
                 samples: int = 5, lfu_log_factor: float = 10, lfu_decay_time: float = 1,
                 rng=None):
        self.policy = v.choice("policy", policy, REDIS_POLICIES)
        self.maxmemory = None if maxmemory is None else v.nonnegative_int("maxmemory",
                                                                          maxmemory)
        self.samples = v.samples("samples", samples)
        self.lfu_log_factor = v.nonnegative_real("lfu_log_factor", lfu_log_factor)
        self.lfu_decay_time = v.nonnegative_real("lfu_decay_time", lfu_decay_time)
        self._rng = rng if isinstance(rng, SplitMix64) else SplitMix64(rng)
        self.lfu = policy.endswith("-lfu")
        self.volatile_only = policy.startswith("volatile-")
        # key -> [entry bytes, lru-or-lfu field, expire_at (None: no TTL)]
        self._data: dict = {}
        self._all: list = []          # dense arrays for sampling
        self._all_pos: dict = {}
        self._vol: list = []
        self._vol_pos: dict = {}
        self._pool: list = []         # [(score, key)], ascending, at most 16
        self._entry_bytes = 0
        self._main = HashTable()     # the keyspace
        self._expires = HashTable()  # keys with a TTL
        self._hash: dict = {}         # key -> its hash, stable for the key's name
        self.evictions = 0
        self.expired = 0
        self.oom_errors = 0
        self._pre_command_oom = False  # what the last command's eviction left (server.c)

    # --- memory ---------------------------------------------------------------------

    def _headroom(self):
        """Bytes left below maxmemory (None: no limit), as a dict about to grow sees them."""
        return None if self.maxmemory is None else self.maxmemory - self.used_memory

    @property
    def used_memory(self) -> int:
        """Modelled bytes of the data set (entries plus hash-table buckets)."""
        return self._entry_bytes + mem.BUCKET * (self._main.size + self._expires.size)

    # --- per-key access data ----------------------------------------------------------

    @staticmethod
    def lru_clock(now: float) -> int:
        return int(now) & LRU_CLOCK_MAX

    def _lfu_decayed(self, field, now) -> int:
        minutes, counter = field
        if self.lfu_decay_time > 0:
            elapsed = (int(now / 60) - minutes) & 0xFFFF
            periods = int(elapsed / self.lfu_decay_time)
            counter = max(counter - periods, 0)
        return counter

    def _touch(self, entry, now):
        if self.lfu:
            counter = self._lfu_decayed(entry[1], now)
            entry[1] = (int(now / 60) & 0xFFFF,
                        lfu_log_incr(counter, self.lfu_log_factor, self._rng.random()))
        else:
            entry[1] = self.lru_clock(now)

    def _score(self, key, now) -> float:
        entry = self._data[key]
        if self.policy.endswith("-lru"):
            return ((self.lru_clock(now) - entry[1]) & LRU_CLOCK_MAX) * 1000.0
        if self.lfu:
            return 255 - self._lfu_decayed(entry[1], now)
        return -entry[2]  # volatile-ttl: the sooner it expires, the higher the score

    # --- dense sets for sampling ----------------------------------------------------------

    @staticmethod
    def _add(dense, pos, key):
        pos[key] = len(dense)
        dense.append(key)

    @staticmethod
    def _discard(dense, pos, key):
        i = pos.pop(key, None)
        if i is None:
            return
        last = dense.pop()
        if i < len(dense):
            dense[i] = last
            pos[last] = i

    # --- eviction -----------------------------------------------------------------------

    def _populate(self, table, now):
        pool = self._pool
        for key in table.some_keys(self.samples, self._rng):
            score = self._score(key, now)
            k = bisect.bisect_left([s for s, _ in pool], score)
            if k == 0 and len(pool) >= EVPOOL_SIZE:
                continue  # worse than everything in a full pool
            if len(pool) < EVPOOL_SIZE:
                pool.insert(k, (score, key))
            else:          # full: drop the smallest score, insert just before k
                pool.pop(0)
                pool.insert(k - 1, (score, key))

    def _victim(self, now):
        source = self._vol if self.volatile_only else self._all
        if not source:
            return None
        if self.policy.endswith("-random"):
            return source[self._rng.randrange(len(source))]
        holder = self._vol_pos if self.volatile_only else self._all_pos
        table = self._expires if self.volatile_only else self._main
        while True:
            self._populate(table, now)
            while self._pool:
                _, key = self._pool.pop()       # best score first
                if key in holder:               # ghosts (already gone) are skipped
                    return key

    def make_room(self, now: float) -> bool:
        """What Redis does before every command: evict while memory is above the limit.

        Returns False when memory stays above the limit (noeviction, or a volatile policy with
        no key that has a TTL): the command may then not write.
        """
        self._main.shrink_if_sparse()
        self._expires.shrink_if_sparse()
        self._pre_command_oom = not self._evict_to_limit(now)
        return not self._pre_command_oom

    def _evict_to_limit(self, now) -> bool:
        if self.maxmemory is None:
            return True
        while self.used_memory > self.maxmemory:
            if self.policy == "noeviction":
                return False
            key = self._victim(now)
            if key is None:
                return False
            self._remove(key)
            self.evictions += 1
        return True

    # --- commands ---------------------------------------------------------------------

    def _remove(self, key):
        entry = self._data.pop(key)
        self._entry_bytes -= entry[0]
        h = self._hash[key]
        self._discard(self._all, self._all_pos, key)
        self._main.remove(key, h)
        if entry[2] is not None:
            self._discard(self._vol, self._vol_pos, key)
            self._expires.remove(key, h)

    def _expire_if_needed(self, key, now) -> bool:
        entry = self._data.get(key)
        if entry is not None and entry[2] is not None and now > entry[2]:
            self._remove(key)
            self.expired += 1
            return True
        return False

    def __contains__(self, key):
        return key in self._data

    def __len__(self):
        return len(self._data)

    def touch(self, key, now: float, times: int = 1) -> None:
        """``times`` lookups of a key that is there, inside one command (eviction ran before
        it, as :meth:`make_room`): LRU notes the time, LFU counts each lookup (one draw
        each, as ``times`` calls of :meth:`get` would)."""
        entry = self._data[key]
        for _ in range(times):
            self._touch(entry, now)

    def get(self, key, now: float = 0.0) -> bool:
        """GET: True on a hit. Reads work even when memory is above the limit."""
        self.make_room(now)
        if self._expire_if_needed(key, now) or key not in self._data:
            return False
        self._touch(self._data[key], now)
        return True

    def put(self, key, now: float = 0.0, ttl: float | None = None, size: int = 100,
            *, key_length: int | None = None, in_script: bool = False) -> bool:
        """SET key (``size``-byte value) with an optional TTL. False if refused (OOM).

        A plain SET is a command of its own: eviction runs first, and the SET is refused when
        memory stays above the limit. With ``in_script`` the SET is the first write of a Lua
        script (or of any command that reads and then writes, such as GET-and-SET-on-miss in
        one step): Redis evicted once before the script and checks OOM only against that
        result (``script.c`` ``scriptVerifyOOM``: ``server.pre_command_oom_state``), so the
        write goes through whenever that eviction succeeded, even if memory is above the
        limit again; the next command evicts.
        """
        refused = self._pre_command_oom if in_script else not self.make_room(now)
        if refused:
            self.oom_errors += 1
            return False
        if ttl is not None and isinstance(ttl, float) and math.isnan(ttl):
            ttl = None
        key_length = len(str(key)) if key_length is None else key_length
        shared_ok = not (self.policy.endswith("-lru") or self.lfu)
        value = int(mem.entry_bytes(key_length, size, shared_integers=shared_ok))
        expire_at = None if ttl is None else now + ttl
        old = self._data.get(key)
        field = None
        if old is not None:
            self._expire_if_needed(key, now)
            old = self._data.get(key)
        if old is not None:
            self._touch(old, now)            # SET looks the key up first
            field = old[1] if self.lfu else None
            self._remove(key)
        if field is None:
            field = (int(now / 60) & 0xFFFF, LFU_INIT_VAL) if self.lfu else self.lru_clock(now)
        entry = [value + (mem.DICT_ENTRY if expire_at is not None else 0), field, expire_at]
        self._data[key] = entry
        self._entry_bytes += entry[0]
        h = self._hash.get(key)
        if h is None:
            h = self._hash[key] = self._rng.getrandbits(64)
        self._add(self._all, self._all_pos, key)
        self._main.add(key, h, self._headroom())
        if expire_at is not None:
            self._add(self._vol, self._vol_pos, key)
            self._expires.add(key, h, self._headroom())
        return True

    def delete(self, key, now: float = 0.0) -> bool:
        """DEL: works whatever the memory. True if the key was there."""
        self.make_room(now)
        if key in self._data:
            self._remove(key)
            return True
        return False

    def get_or_fill(self, key, now: float = 0.0, ttl: float | None = None,
                    size: int = 100) -> tuple[bool, bool]:
        """Cache-aside as one step on the server (a Lua script: GET, and SET on a miss).

        Returns ``(hit, stored)``; on a miss ``stored`` is False when the script's SET was
        refused (OOM: eviction before the script could not get below the limit).
        """
        if self.get(key, now):
            return True, False
        return False, self.put(key, now, ttl, size, in_script=True)

    def set_or_raise(self, key, now=0.0, ttl=None, size=100):
        """Like :meth:`put`, but raise :class:`OOMError` with Redis's text when refused."""
        if not self.put(key, now, ttl, size):
            raise OOMError(OOM_ERROR)

    def set_access(self, key, now: float = 0.0, *, idle: int | None = None,
                   freq: int | None = None) -> bool:
        """``RESTORE ... IDLETIME``/``FREQ`` (``objectSetLRUOrLFU``): under an LFU policy the
        counter becomes ``freq``; under any other, the key was last used ``idle`` whole
        seconds ago. The other option is ignored, as Redis ignores it. True if one applied."""
        entry = self._data.get(key)
        if entry is None:
            return False
        if self.lfu:
            if freq is None:
                return False
            entry[1] = (int(now / 60) & 0xFFFF, v.nonnegative_int("freq", freq))
        else:
            if idle is None:
                return False
            entry[1] = (self.lru_clock(now) - v.nonnegative_int("idle", idle)) & LRU_CLOCK_MAX
        return True

    def lfu_counter(self, key, now: float = 0.0) -> int:
        """What ``OBJECT FREQ`` would answer for ``key`` (LFU policies)."""
        if not self.lfu:
            raise ValueError(f"lfu_counter needs an LFU policy, this cache uses {self.policy!r}")
        return self._lfu_decayed(self._data[key][1], now)

    def __repr__(self):
        limit = "no limit" if self.maxmemory is None else f"{self.maxmemory:,} B"
        return (f"<RedisCache {self.policy}, samples={self.samples}, maxmemory {limit}: "
                f"{len(self):,} keys, {self.used_memory:,} B>")
