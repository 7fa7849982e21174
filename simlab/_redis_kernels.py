"""The Redis model (:class:`simlab.redis_cache.RedisCache` driven by
:func:`simlab.simulate` with a Redis policy), compiled with Numba.

The same model step by step: the two hash tables (the keyspace and the expires table) with
their buckets, chains, growth and shrinking, ``dictGetSomeKeys``-like sampling, the 16-entry
pool, the one-second LRU clock, the LFU counter with its decay, the per-key memory model, lazy
expiry, OOM refusals (the in-script rule included) and the splitmix64 draws of
:class:`simlab.redis_cache.SplitMix64`, in the same order, so that both give the same result
request by request (``tests/test_redis_kernels.py``).

State lives in two flat arrays, as in :mod:`simlab._kernels`, allocated by ``new_state``; the
helpers and the loop allocate nothing and are compiled without reference counting
(``_nrt=False``, as :data:`simlab._kernels.hot`):

* ``st`` (int64): a header (below), then per key a word and two records (chain links, the
  LRU clock or LFU minutes and counter, the hash, the entry's bytes), the tables' bucket
  heads, the dense sets that random eviction draws from, the pool's keys, scratch.
* ``fa`` (float64): per key its expiry time (NaN: no TTL), then the pool's scores and the LFU
  parameters.

Keys are the workload's dense ids; the plain model sees their names. A name's length is what
the key costs; the names must be distinct (the engine checks).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import _kernels as K
from . import redis_memory as mem

NOEVICTION, ALLKEYS_LRU, ALLKEYS_LFU, ALLKEYS_RANDOM = 0, 1, 2, 3
VOLATILE_LRU, VOLATILE_LFU, VOLATILE_RANDOM, VOLATILE_TTL = 4, 5, 6, 7
EVPOOL_SIZE = 16
LFU_INIT_VAL = 5
LRU_CLOCK_MAX = (1 << 24) - 1
NO_LIMIT = -1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

# header of ``st``
(RNG, COUNT, EVICTIONS, EXPIRED, OOM, PRE_OOM, ENTRY_BYTES, POLICY, SAMPLES, N_KEYS, MAXMEM,
 POOL_LEN, ALL_LEN, VOL_LEN, ALL, VOL, POOL_KEY, TMP, VREC, REC) = range(20)
TABLES = 20            # per table: size, count, head offset
T_SIZE, T_COUNT, T_HEAD = range(3)
MAIN, EXPIRES = TABLES, TABLES + 3
HEADER = 32
# Per key, first one word at ``HEADER + key``, all that sampling reads (so that the words of
# 100,000 keys fit in a core's L2 cache): the keyspace chain's next (+1) in the high 32 bits,
# the access field in the low 32 (the LRU clock; LFU: minutes << 8 | counter). Then a
# record of 4 at ``st[REC] + 4 * key``: entry bytes (0: not stored), hash (-1: none drawn
# yet; only its low 62 bits, all a bucket mask uses), the keyspace chain's prev, the position
# in the dense set of all keys; and one at ``st[VREC] + 4 * key`` for the expires table: next,
# prev, the position in the dense set of keys with a TTL.
R_EBYTES, R_HASH, R_MPREV, R_ALLPOS = range(4)
RECORD = 4
V_ENEXT, V_EPREV, V_VOLPOS = range(3)
VRECORD = 4
LOW32 = (1 << 32) - 1
HASH_BITS = (1 << 62) - 1
# ``fa``: expire_at[n_keys], the pool's scores[16], then lfu_log_factor and lfu_decay_time
F_LOG_FACTOR, F_DECAY = 0, 1   # offsets after the pool's scores


# --- splitmix64 -------------------------------------------------------------------------------

@njit(cache=True, _nrt=False, inline="always")
def _next64(st):
    z = np.uint64(st[RNG]) + _GOLDEN
    st[RNG] = np.int64(z)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, _nrt=False, inline="always")
def _random(st):
    return np.float64(_next64(st) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, _nrt=False, inline="always")
def _bits(st):
    return np.int64(_next64(st))


@njit(cache=True, _nrt=False, inline="always")
def _below(st, n):
    return np.int64(_next64(st) % np.uint64(n))


@njit(cache=True, _nrt=False)
def draw64(st):
    """One splitmix64 draw from the state in ``st[RNG]`` (what the model draws with)."""
    return _next64(st)


# --- the per-key memory model (redis_memory.entry_bytes, integers aside) ----------------------

@njit(cache=True, _nrt=False)
def _size_class(n):
    if n <= 8:
        return 8
    if n <= 128:
        return ((n + 15) // 16) * 16
    x = max(n - 1, 1)
    group = 1
    while group * 2 <= x:
        group *= 2
    spacing = max(group // 4, 16)
    return ((n + spacing - 1) // spacing) * spacing


@njit(cache=True, _nrt=False)
def _sds(length):
    header = 1 if length < 32 else (3 if length < 256 else (5 if length < 65_536 else 9))
    return _size_class(header + length + 1)


@njit(cache=True, _nrt=False)
def entry_bytes(key_length, value_length):
    """Bytes one key adds (no TTL, buckets aside): :func:`simlab.redis_memory.entry_bytes`."""
    if value_length <= mem.EMBSTR_LIMIT:
        value = _size_class(mem.OBJECT_HEADER + 3 + value_length + 1)
    else:
        value = mem.OBJECT_HEADER + _sds(value_length)
    return mem.DICT_ENTRY + _sds(key_length) + value


# --- the hash tables ----------------------------------------------------------------------
# Chains are doubly linked (-1: none): the keyspace's next in the key's word, every other
# link in its records (see the layout above).

@njit(cache=True, _nrt=False)
def _table_size(n):
    if n <= 0:
        return 0
    size = mem.MIN_TABLE
    while size < n:
        size *= 2
    return size


@njit(cache=True, _nrt=False, inline="always")
def _rec(st, x):
    return st[REC] + RECORD * x


@njit(cache=True, _nrt=False, inline="always")
def _next(st, t, x):
    if t == MAIN:
        return (st[HEADER + x] >> 32) - 1
    return st[st[VREC] + VRECORD * x + V_ENEXT]


@njit(cache=True, _nrt=False, inline="always")
def _set_next(st, t, x, y):
    if t == MAIN:
        st[HEADER + x] = ((y + 1) << 32) | (st[HEADER + x] & LOW32)
    else:
        st[st[VREC] + VRECORD * x + V_ENEXT] = y


@njit(cache=True, _nrt=False, inline="always")
def _set_prev(st, t, x, y):
    if t == MAIN:
        st[st[REC] + RECORD * x + R_MPREV] = y
    else:
        st[st[VREC] + VRECORD * x + V_EPREV] = y


@njit(cache=True, _nrt=False, inline="always")
def _prev(st, t, x):
    if t == MAIN:
        return st[st[REC] + RECORD * x + R_MPREV]
    return st[st[VREC] + VRECORD * x + V_EPREV]


@njit(cache=True, _nrt=False, inline="always")
def _field(st, x):
    return st[HEADER + x] & LOW32


@njit(cache=True, _nrt=False, inline="always")
def _set_field(st, x, f):
    st[HEADER + x] = (st[HEADER + x] & ~LOW32) | f


@njit(cache=True, _nrt=False, inline="always")
def _push_head(st, t, x, b):
    head = st[t + T_HEAD]
    first = st[head + b]
    _set_next(st, t, x, first)
    _set_prev(st, t, x, -1)
    if first >= 0:
        _set_prev(st, t, first, x)
    st[head + b] = x


@njit(cache=True, _nrt=False)
def _resize(st, t, size):
    """Rehash table ``t`` into ``size`` buckets in the plain model's order."""
    head = st[t + T_HEAD]
    tmp = st[TMP]
    n = 0
    for b in range(st[t + T_SIZE]):
        x = st[head + b]
        while x >= 0:
            st[tmp + n] = x
            n += 1
            x = _next(st, t, x)
    for b in range(size):
        st[head + b] = -1
    mask = size - 1
    for j in range(n):
        x = st[tmp + j]
        _push_head(st, t, x, st[_rec(st, x) + R_HASH] & mask)
    st[t + T_SIZE] = size


@njit(cache=True, _nrt=False)
def _table_add(st, t, x):
    count, size = st[t + T_COUNT], st[t + T_SIZE]
    if count >= size and (size == 0 or st[MAXMEM] == NO_LIMIT
                          or count / size > mem.MAX_LOAD_FACTOR
                          or mem.BUCKET * _table_size(count + 1) <= st[MAXMEM] - _used(st)):
        _resize(st, t, _table_size(count + 1))   # grow, as dictExpandAllowed lets it
    _push_head(st, t, x, st[_rec(st, x) + R_HASH] & (st[t + T_SIZE] - 1))
    st[t + T_COUNT] += 1


@njit(cache=True, _nrt=False, inline="always")
def _table_remove(st, t, x):
    q = _next(st, t, x)
    p = _prev(st, t, x)
    if p >= 0:
        _set_next(st, t, p, q)
    else:
        st[st[t + T_HEAD] + (st[_rec(st, x) + R_HASH] & (st[t + T_SIZE] - 1))] = q
    if q >= 0:
        _set_prev(st, t, q, p)
    st[t + T_COUNT] -= 1


@njit(cache=True, _nrt=False, inline="always")
def _shrink_if_sparse(st, t):
    size, count = st[t + T_SIZE], st[t + T_COUNT]
    if size > mem.MIN_TABLE and count * 100 < size * 10:
        _resize(st, t, _table_size(count) if count > 0 else mem.MIN_TABLE)


# --- dense sets (random eviction draws from them; kept for the random policies only) --------

@njit(cache=True, _nrt=False)
def _dense_add(st, which, x):
    if which == ALL:
        length, pos = ALL_LEN, _rec(st, x) + R_ALLPOS
    else:
        length, pos = VOL_LEN, st[VREC] + VRECORD * x + V_VOLPOS
    st[pos] = st[length]
    st[st[which] + st[length]] = x
    st[length] += 1


@njit(cache=True, _nrt=False)
def _dense_discard(st, which, x):
    if which == ALL:
        length, pos = ALL_LEN, _rec(st, x) + R_ALLPOS
    else:
        length, pos = VOL_LEN, st[VREC] + VRECORD * x + V_VOLPOS
    dense = st[which]
    i = st[pos]
    st[length] -= 1
    last = st[dense + st[length]]
    if i < st[length]:
        st[dense + i] = last
        if which == ALL:
            st[_rec(st, last) + R_ALLPOS] = i
        else:
            st[st[VREC] + VRECORD * last + V_VOLPOS] = i


# --- per-key access data -----------------------------------------------------------------------

@njit(cache=True, _nrt=False, inline="always")
def _is_lfu(st):
    return st[POLICY] == ALLKEYS_LFU or st[POLICY] == VOLATILE_LFU


@njit(cache=True, _nrt=False, inline="always")
def _is_random(st):
    return st[POLICY] == ALLKEYS_RANDOM or st[POLICY] == VOLATILE_RANDOM


@njit(cache=True, _nrt=False, inline="always")
def _lfu_decayed(st, fa, x, now):
    field = _field(st, x)
    counter = field & 255
    decay = fa[st[N_KEYS] + EVPOOL_SIZE + F_DECAY]
    if decay > 0:
        elapsed = (int(now / 60) - (field >> 8)) & 0xFFFF
        periods = int(elapsed / decay)
        counter = max(counter - periods, 0)
    return counter


@njit(cache=True, _nrt=False, inline="always")
def _touch(st, fa, x, now):
    if _is_lfu(st):
        counter = _lfu_decayed(st, fa, x, now)
        draw = _random(st)
        if counter < 255:
            factor = fa[st[N_KEYS] + EVPOOL_SIZE + F_LOG_FACTOR]
            base = max(counter - LFU_INIT_VAL, 0)
            if draw < 1.0 / (base * factor + 1):
                counter += 1
        _set_field(st, x, ((int(now / 60) & 0xFFFF) << 8) | counter)
    else:
        _set_field(st, x, int(now) & LRU_CLOCK_MAX)


@njit(cache=True, _nrt=False, inline="always")
def _score(st, fa, x, now):
    policy = st[POLICY]
    if policy == ALLKEYS_LRU or policy == VOLATILE_LRU:
        return float(((int(now) & LRU_CLOCK_MAX) - _field(st, x)) & LRU_CLOCK_MAX) * 1000.0
    if policy == ALLKEYS_LFU or policy == VOLATILE_LFU:
        return float(255 - _lfu_decayed(st, fa, x, now))
    return -fa[x]


# --- eviction ------------------------------------------------------------------------------

@njit(cache=True, _nrt=False, inline="always")
def _pool_insert(st, fa, x, score):
    scores = st[N_KEYS]
    keys = st[POOL_KEY]
    n = st[POOL_LEN]
    k = 0
    while k < n and fa[scores + k] < score:   # bisect_left
        k += 1
    if k == 0 and n >= EVPOOL_SIZE:
        return
    if n < EVPOOL_SIZE:
        for j in range(n, k, -1):
            fa[scores + j] = fa[scores + j - 1]
            st[keys + j] = st[keys + j - 1]
        fa[scores + k] = score
        st[keys + k] = x
        st[POOL_LEN] = n + 1
    else:   # full: drop the smallest score, insert just before k
        for j in range(0, k - 1):
            fa[scores + j] = fa[scores + j + 1]
            st[keys + j] = st[keys + j + 1]
        fa[scores + k - 1] = score
        st[keys + k - 1] = x


@njit(cache=True, _nrt=False)
def _populate(st, fa, t, now):
    """Sample keys from table ``t`` as ``dictGetSomeKeys`` does; merge them into the pool."""
    count = min(st[SAMPLES], st[t + T_COUNT])
    if count == 0:
        return
    head = st[t + T_HEAD]
    mask = st[t + T_SIZE] - 1
    i = _bits(st) & mask
    empty_run = 0
    found = 0
    for _ in range(count * 10):
        x = st[head + i]
        if x < 0:
            empty_run += 1
            if empty_run >= 5 and empty_run > count:
                i = _bits(st) & mask
                empty_run = 0
        else:
            empty_run = 0
            while x >= 0:
                _pool_insert(st, fa, x, _score(st, fa, x, now))
                found += 1
                if found == count:
                    return
                x = _next(st, t, x)
        i = (i + 1) & mask


@njit(cache=True, _nrt=False)
def _victim(st, fa, now):
    policy = st[POLICY]
    volatile = policy >= VOLATILE_LRU
    t = EXPIRES if volatile else MAIN
    n = st[t + T_COUNT]
    if n == 0:
        return -1
    if policy == ALLKEYS_RANDOM or policy == VOLATILE_RANDOM:
        return st[st[VOL if volatile else ALL] + _below(st, n)]
    while True:
        _populate(st, fa, t, now)
        while st[POOL_LEN] > 0:
            st[POOL_LEN] -= 1
            x = st[st[POOL_KEY] + st[POOL_LEN]]
            if st[_rec(st, x) + R_EBYTES] > 0 and (not volatile or fa[x] == fa[x]):
                return x


@njit(cache=True, _nrt=False, inline="always")
def _used(st):
    return st[ENTRY_BYTES] + mem.BUCKET * (st[MAIN + T_SIZE] + st[EXPIRES + T_SIZE])


@njit(cache=True, _nrt=False)
def _remove(st, fa, x):
    st[ENTRY_BYTES] -= st[_rec(st, x) + R_EBYTES]
    st[_rec(st, x) + R_EBYTES] = 0
    st[COUNT] -= 1
    dense = _is_random(st)
    if dense:
        _dense_discard(st, ALL, x)
    _table_remove(st, MAIN, x)
    if fa[x] == fa[x]:
        if dense:
            _dense_discard(st, VOL, x)
        _table_remove(st, EXPIRES, x)
        fa[x] = np.nan


@njit(cache=True, _nrt=False)
def make_room(st, fa, now):
    """Before every command: shrink sparse tables, evict while above the limit."""
    _shrink_if_sparse(st, MAIN)
    _shrink_if_sparse(st, EXPIRES)
    ok = True
    if st[MAXMEM] != NO_LIMIT:
        while _used(st) > st[MAXMEM]:
            if st[POLICY] == NOEVICTION:
                ok = False
                break
            x = _victim(st, fa, now)
            if x < 0:
                ok = False
                break
            _remove(st, fa, x)
            st[EVICTIONS] += 1
    st[PRE_OOM] = 0 if ok else 1
    return ok


@njit(cache=True, _nrt=False, inline="always")
def _expire_if_needed(st, fa, x, now):
    if st[_rec(st, x) + R_EBYTES] > 0 and fa[x] == fa[x] and now > fa[x]:
        _remove(st, fa, x)
        st[EXPIRED] += 1
        return True
    return False


# --- commands ------------------------------------------------------------------------------

@njit(cache=True, _nrt=False)
def redis_get(st, fa, x, now):
    """GET key ``x``: 0 hit, 1 absent, 2 expired (and removed)."""
    make_room(st, fa, now)
    if _expire_if_needed(st, fa, x, now):
        return 2
    if st[_rec(st, x) + R_EBYTES] == 0:
        return 1
    _touch(st, fa, x, now)
    return 0


@njit(cache=True, _nrt=False)
def redis_put(st, fa, x, now, ttl, value_bytes, in_script):
    """SET key ``x`` (``value_bytes``: its entry without TTL) with ``ttl`` (NaN: none)."""
    refused = st[PRE_OOM] == 1 if in_script else not make_room(st, fa, now)
    if refused:
        st[OOM] += 1
        return False
    rec = _rec(st, x)
    lfu = _is_lfu(st)
    keep = False
    if st[rec + R_EBYTES] > 0:
        _expire_if_needed(st, fa, x, now)
    if st[rec + R_EBYTES] > 0:
        _touch(st, fa, x, now)            # SET looks the key up first
        keep = lfu
        _remove(st, fa, x)
    if not keep:
        if lfu:
            _set_field(st, x, ((int(now / 60) & 0xFFFF) << 8) | LFU_INIT_VAL)
        else:
            _set_field(st, x, int(now) & LRU_CLOCK_MAX)
    has_ttl = ttl == ttl
    entry = value_bytes + (mem.DICT_ENTRY if has_ttl else 0)
    st[rec + R_EBYTES] = entry
    st[ENTRY_BYTES] += entry
    st[COUNT] += 1
    if st[rec + R_HASH] < 0:
        st[rec + R_HASH] = _bits(st) & HASH_BITS
    dense = _is_random(st)
    if dense:
        _dense_add(st, ALL, x)
    _table_add(st, MAIN, x)
    if has_ttl:
        fa[x] = now + ttl
        if dense:
            _dense_add(st, VOL, x)
        _table_add(st, EXPIRES, x)
    return True


@njit(cache=True, _nrt=False)
def redis_delete(st, fa, x, now):
    make_room(st, fa, now)
    if st[_rec(st, x) + R_EBYTES] > 0:
        _remove(st, fa, x)


@njit(cache=True)
def new_state(policy, maxmemory, samples, lfu_log_factor, lfu_decay_time, n_keys, rng_state):
    """An empty Redis model for keys ``0 .. n_keys-1``; ``rng_state`` as an int64."""
    hmax = max(_table_size(n_keys), mem.MIN_TABLE)
    regions = np.array([RECORD * n_keys, VRECORD * n_keys, hmax, hmax, n_keys, n_keys,
                        EVPOOL_SIZE, n_keys])
    st = np.zeros(HEADER + n_keys + regions.sum(), dtype=np.int64)
    slots = [REC, VREC, MAIN + T_HEAD, EXPIRES + T_HEAD, ALL, VOL, POOL_KEY, TMP]
    off = HEADER + n_keys
    for j in range(len(slots)):
        st[slots[j]] = off
        off += regions[j]
    for x in range(n_keys):
        st[st[REC] + RECORD * x + R_HASH] = -1
    st[RNG] = rng_state
    st[POLICY] = policy
    st[SAMPLES] = samples
    st[N_KEYS] = n_keys
    st[MAXMEM] = maxmemory
    fa = np.full(n_keys + EVPOOL_SIZE + 2, np.nan)
    fa[n_keys + EVPOOL_SIZE + F_LOG_FACTOR] = lfu_log_factor
    fa[n_keys + EVPOOL_SIZE + F_DECAY] = lfu_decay_time
    return st, fa


@njit(cache=True, _nrt=False)
def _apply_due(st, fa, ht, hx, hsize, keys, ops, ttls, vbytes, pending, until, fills):
    """Apply pending fills (plain SETs) and invalidations (DELs) due at or before ``until``
    (the heap of :mod:`simlab._kernels`: each event is the request that scheduled it)."""
    one_ttl = ttls.shape[0] == 1
    while hsize > 0 and ht[0] <= until:
        hsize = K._heap_pop(ht, hx, hsize)
        i = hx[hsize]
        when = ht[hsize]
        x = keys[i]
        if ops[i] == 0:
            pending[x] -= 1
            redis_put(st, fa, x, when, ttls[0] if one_ttl else ttls[i], vbytes[i], False)
            fills += 1
        else:
            redis_delete(st, fa, x, when)
    return hsize, fills


@njit(cache=True)
def redis_cache_aside(keys, ops, arrivals, sequential, ttls, vbytes, wb_get, wb_set, db, st,
                      fa, atomic, out_start, out_outcome, out_wb, out_db, out_total,
                      out_flags):
    """Cache-aside over the requests against the Redis model in ``st``/``fa``: the loop of
    :func:`simlab.engine._event_loop` (fills land when the filing room answered, or at once
    as a script's SET with ``atomic``); ``vbytes[i]`` is what request ``i``'s key and value
    cost. Returns evictions, expired, in-flight misses, fills, keys at end, OOM refusals and
    bytes at end. The output columns may be the draws themselves, as in
    :func:`simlab._kernels.cache_aside`."""
    n = keys.shape[0]
    pending = np.zeros(st[N_KEYS], dtype=np.int32)
    ht = np.empty(n, dtype=np.float64)
    hx = np.empty(n, dtype=np.int64)
    counters = np.empty(7, dtype=np.int64)
    _redis_loop(keys, ops, arrivals, sequential, ttls, vbytes, wb_get, wb_set, db, st, fa,
                atomic, out_start, out_outcome, out_wb, out_db, out_total, out_flags, pending,
                ht, hx, counters)
    return counters


@njit(cache=True, _nrt=False)
def _redis_loop(keys, ops, arrivals, sequential, ttls, vbytes, wb_get, wb_set, db, st, fa,
                atomic, out_start, out_outcome, out_wb, out_db, out_total, out_flags, pending,
                ht, hx, counters):
    """:func:`redis_cache_aside`'s loop, on the arrays its caller allocated; fills
    ``counters``."""
    n = keys.shape[0]
    hsize = 0
    clock = 0.0
    inflight = 0
    fills = 0
    one_ttl = ttls.shape[0] == 1
    for i in range(n):
        t = clock if sequential else arrivals[i]
        if hsize > 0 and ht[0] <= t:
            hsize, fills = _apply_due(st, fa, ht, hx, hsize, keys, ops, ttls, vbytes, pending,
                                      t, fills)
        x = keys[i]
        flags = 0
        if ops[i] == 0:
            w = wb_get[i]
            status = redis_get(st, fa, x, t)
            if status == 0:
                out_outcome[i] = K.HIT
                out_wb[i] = w
                out_db[i] = 0.0
                total = w
            else:
                if status == 2:
                    flags |= K.FLAG_EXPIRED
                if pending[x] > 0:
                    flags |= K.FLAG_INFLIGHT
                    inflight += 1
                d = db[i]
                ttl = ttls[0] if one_ttl else ttls[i]
                if atomic:
                    redis_put(st, fa, x, t, ttl, vbytes[i], True)
                    fills += 1
                else:
                    hsize = K._heap_push(ht, hx, hsize, t + w + d, i)
                    pending[x] += 1
                out_outcome[i] = K.MISS
                out_wb[i] = w + wb_set[i]
                out_db[i] = d
                total = w + d + wb_set[i]
        else:
            d = db[i]
            hsize = K._heap_push(ht, hx, hsize, t + d, i)
            out_outcome[i] = K.WRITE
            out_wb[i] = wb_set[i]
            out_db[i] = d
            total = d + wb_set[i]
        out_start[i] = t
        out_total[i] = total
        out_flags[i] = flags
        if sequential:
            clock = t + total
    hsize, fills = _apply_due(st, fa, ht, hx, hsize, keys, ops, ttls, vbytes, pending, np.inf,
                              fills)
    counters[0] = st[EVICTIONS]
    counters[1] = st[EXPIRED]
    counters[2] = inflight
    counters[3] = fills
    counters[4] = st[COUNT]
    counters[5] = st[OOM]
    counters[6] = _used(st)


@njit(cache=True)
def request_bytes(keys, key_lengths, sizes):
    """What each request's key and value cost (no TTL): ``entry_bytes`` per request."""
    n = keys.shape[0]
    out = np.empty(n, dtype=np.int64)
    one = sizes.shape[0] == 1
    for i in range(n):
        out[i] = entry_bytes(key_lengths[keys[i]], sizes[0] if one else sizes[i])
    return out


def key_lengths_synthetic(n_keys: int) -> np.ndarray:
    """Lengths of the names ``key:%08d`` for ids ``0 .. n_keys-1``."""
    ids = np.arange(n_keys, dtype=np.int64)
    digits = np.ones(n_keys, dtype=np.int64)
    bound = 10
    while bound <= max(n_keys - 1, 0):
        digits += ids >= bound
        bound *= 10
    return 4 + np.maximum(digits, 8)
