"""The fast engine: the cache-aside hot loop and the per-size sweeps, compiled with Numba.

State lives in two arrays, allocated once per run by the kernels' entry points; the helpers
and the loop over the requests allocate nothing and run without reference counting (see
``hot`` below):

* ``st`` (int64): a header (``COUNT``, ``MIN_FREQ``...), then the linked lists' ``prev`` and
  ``next`` links, then per-key ``aux`` (LFU: the key's count; Random: its slot), then the
  Random policy's ``slots``.
* ``expire`` (float64, one per key): ``ABSENT`` when the key is not cached, ``inf`` when it is
  cached without a TTL, else the time at which it expires.

The reference models in :mod:`simlab.caches` and :func:`simlab.engine.simulate_reference` are
what this is tested against, request by request.

Policy codes: 0 LRU, 1 LFU (counts forgotten on eviction), 2 FIFO, 3 Random, 4 perfect LFU
(counts kept for every key ever seen). Outcome codes: 0 hit, 1 miss, 2 write.
Flag bits: 1 the miss found the key's fill still in flight, 2 the miss found the key expired.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from numba import njit

# --- Numba's disk cache, kept honest ----------------------------------------------------
# Numba checks a cached function against its own source file only. The Redis model's loop
# (``_redis_kernels.py``) compiles in this module's helpers (the heap, the linked lists) and
# both compile in ``_codes.py``'s constants, so after an update that changed this file and
# not that one (a ``git pull`` of the course, an edit), Numba would load machine code built
# from the old helpers, silently. So the caches of both modules carry a fingerprint of the
# three files, and a mismatch removes them before anything loads: they compile again, once.
CACHED_MODULES = ("_kernels", "_redis_kernels")
_SOURCES = ("_codes.py", "_kernels.py", "_redis_kernels.py")
STAMP = "simlab-kernels.fingerprint"


def cache_fingerprint(folder=None) -> str:
    """A digest of the sources the cached kernels are compiled from."""
    folder = Path(__file__).resolve().parent if folder is None else Path(folder)
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()


def clear_stale_cache(cache_dir, fingerprint) -> int:
    """Remove the cached kernels of :data:`CACHED_MODULES` in ``cache_dir`` unless its stamp
    holds ``fingerprint``, then write the stamp; return how many files went. Nothing else
    in the folder is touched; a folder that cannot be read or written is left alone (Numba
    then compiles without a cache, as it does there anyway)."""
    cache_dir = Path(cache_dir)
    stamp = cache_dir / STAMP
    try:
        if stamp.read_text() == fingerprint:
            return 0
    except OSError:
        pass
    removed = 0
    try:
        for path in cache_dir.iterdir():
            module, _, rest = path.name.partition(".")
            if module in CACHED_MODULES and rest and path.suffix in (".nbi", ".nbc"):
                path.unlink(missing_ok=True)
                removed += 1
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"{STAMP}.{os.getpid()}"
        tmp.write_text(fingerprint)
        os.replace(tmp, stamp)
    except OSError:
        pass
    return removed


def _numba_cache_dir(py_func):
    """Where Numba caches ``py_func`` (its own choice: ``__pycache__`` beside the source,
    ``NUMBA_CACHE_DIR``, or a user folder when the package's is read-only); None if this
    Numba does not say."""
    try:
        from numba.core.caching import FunctionCache

        return FunctionCache(py_func)._cache_path
    except Exception:                    # a Numba without this (private) layout: no check
        return None


# The helpers and the cache-aside loop are compiled without Numba's reference counting
# (``_nrt=False``, Numba's switch for code that allocates no array): with it, each call
# handing an array to a helper did an atomic increment and decrement of the array's count,
# through a function pointer, about 60% of the cache-aside loop's time (perf; 1M requests:
# 0.136 s with it, 0.051 s without; ``count_hits`` 2.3x faster too). Only the functions that
# allocate (``new_state``, the entry points ``cache_aside`` and ``count_hits``) keep it; a
# ``hot`` function that allocated would fail to compile, not leak. ``_nrt`` is a private
# option of Numba's: a Numba without it refuses it at the first call (KeyError), loudly.
hot = njit(cache=True, _nrt=False)

from ._codes import (ABSENT, CAPACITY, COUNT, EV_FILL, EV_INVALIDATE, EVICTIONS, EXPIRED,  # noqa: F401
                     FIFO, FLAG_EXPIRED, FLAG_INFLIGHT, HEADER, HIT, LFU, LRU, MIN_FREQ, MISS,
                     LRU_COUNT, LRU_EVENTS, LRU_EVICTIONS, LRU_EXPIRED, LRU_FILLS,
                     LRU_INFLIGHT, N_KEYS, N_LINKS, PERFECT_LFU, POLICY, POLICY_CODES,
                     RAND_USED, RANDOM, WRITE)


@njit(cache=True)
def new_state(policy, capacity, n_keys, max_freq):
    """Empty whiteboard state for ``policy``; ``max_freq`` bounds an LFU count."""
    n_links = n_keys + 1
    if policy == LFU or policy == PERFECT_LFU:
        n_links = n_keys + max_freq + 2   # one list head per count
    st = np.zeros(HEADER + 2 * n_links + n_keys + capacity, dtype=np.int64)
    st[MIN_FREQ] = 1
    st[POLICY] = policy
    st[N_KEYS] = n_keys
    st[N_LINKS] = n_links
    st[CAPACITY] = capacity
    nxt = HEADER + n_links
    for s in range(n_keys, n_links):      # list heads point at themselves: empty lists
        st[HEADER + s] = s
        st[nxt + s] = s
    return st, np.full(n_keys, ABSENT)


@hot
def _unlink(st, x):
    nxt = HEADER + st[N_LINKS]
    p = st[HEADER + x]
    q = st[nxt + x]
    st[nxt + p] = q
    st[HEADER + q] = p


@hot
def _push_front(st, head, x):
    nxt = HEADER + st[N_LINKS]
    first = st[nxt + head]
    st[nxt + head] = x
    st[HEADER + x] = head
    st[nxt + x] = first
    st[HEADER + first] = x


@hot
def _touch(st, k):
    """A hit on cached key ``k``: LRU moves it to the front, LFU counts it."""
    policy = st[POLICY]
    if policy == LRU:
        _unlink(st, k)
        _push_front(st, st[N_KEYS], k)
    elif policy == LFU or policy == PERFECT_LFU:
        aux = HEADER + 2 * st[N_LINKS]
        n_keys = st[N_KEYS]
        f = st[aux + k]
        _unlink(st, k)
        if f == st[MIN_FREQ] and st[HEADER + st[N_LINKS] + n_keys + f] == n_keys + f:
            st[MIN_FREQ] = f + 1
        st[aux + k] = f + 1
        _push_front(st, n_keys + f + 1, k)


@hot
def _remove(st, expire, k):
    expire[k] = ABSENT
    st[COUNT] -= 1
    if st[POLICY] == RANDOM:
        aux = HEADER + 2 * st[N_LINKS]
        slots = aux + st[N_KEYS]
        i = st[aux + k]
        last = st[slots + st[COUNT]]
        st[slots + i] = last
        st[aux + last] = i
    else:
        _unlink(st, k)


@hot
def _evict(st, expire, rand):
    policy = st[POLICY]
    n_keys = st[N_KEYS]
    if policy == RANDOM:
        u = rand[st[RAND_USED]]
        st[RAND_USED] += 1
        victim = st[HEADER + 2 * st[N_LINKS] + n_keys + int(u * st[COUNT])]
    elif policy == LFU or policy == PERFECT_LFU:
        nxt = HEADER + st[N_LINKS]
        f = st[MIN_FREQ]
        while st[nxt + n_keys + f] == n_keys + f:
            f += 1
        st[MIN_FREQ] = f
        victim = st[HEADER + n_keys + f]       # the back of the lowest count's list
    else:  # LRU and FIFO evict from the back
        victim = st[HEADER + n_keys]
    _remove(st, expire, victim)
    st[EVICTIONS] += 1
    return victim


@hot
def cache_put(st, expire, rand, k, now, ttl):
    """Write key ``k`` at time ``now`` with ``ttl`` (nan: none), evicting first if full."""
    deadline = now + ttl if ttl == ttl else np.inf
    if expire[k] != ABSENT:
        expire[k] = deadline
        _touch(st, k)
        return
    if st[COUNT] >= st[CAPACITY]:
        _evict(st, expire, rand)
    expire[k] = deadline
    policy = st[POLICY]
    if policy == RANDOM:
        aux = HEADER + 2 * st[N_LINKS]
        st[aux + st[N_KEYS] + st[COUNT]] = k
        st[aux + k] = st[COUNT]
    elif policy == LFU:
        st[HEADER + 2 * st[N_LINKS] + k] = 1
        st[MIN_FREQ] = 1
        _push_front(st, st[N_KEYS] + 1, k)
    elif policy == PERFECT_LFU:  # the count survives eviction: this access adds one
        aux = HEADER + 2 * st[N_LINKS]
        f = st[aux + k] + 1
        st[aux + k] = f
        if f < st[MIN_FREQ]:
            st[MIN_FREQ] = f
        _push_front(st, st[N_KEYS] + f, k)
    else:
        _push_front(st, st[N_KEYS], k)
    st[COUNT] += 1


@hot
def cache_get(st, expire, k, now):
    """Look key ``k`` up at ``now``: 0 hit, 1 absent, 2 expired (and removed)."""
    deadline = expire[k]
    if deadline == ABSENT:
        return 1
    if now > deadline:
        _remove(st, expire, k)
        st[EXPIRED] += 1
        return 2
    _touch(st, k)
    return 0


@hot
def cache_delete(st, expire, k):
    if expire[k] != ABSENT:
        _remove(st, expire, k)


# --- the event heap of pending fills and invalidations ----------------------------------
# Two arrays: ht[j] the time an event is due, hx[j] the request that scheduled it (its key,
# its kind and its TTL are that request's: a read's miss schedules a fill, a write an
# invalidation). One event per request at most, pushed in request order, so the request's
# index also breaks ties: at equal times, first scheduled, first applied. Sifting moves a
# hole, not pairs of entries (a third fewer stores and branches than swapping).

@hot
def _heap_push(ht, hx, size, t, x):
    """Add the event (``t``, request ``x``) to the heap of ``size`` events; return the new
    size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        pt = ht[parent]
        if pt < t or (pt == t and hx[parent] < x):
            break
        ht[i] = pt
        hx[i] = hx[parent]
        i = parent
    ht[i] = t
    hx[i] = x
    return size + 1


@hot
def _heap_pop(ht, hx, size):
    """Move the earliest event to index ``size-1``, restore the heap on the rest; return
    ``size-1``."""
    last = size - 1
    first_t = ht[0]
    first_x = hx[0]
    t = ht[last]
    x = hx[last]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= last:
            break
        ct = ht[child]
        cx = hx[child]
        if child + 1 < last:
            dt = ht[child + 1]
            dx = hx[child + 1]
            if dt < ct or (dt == ct and dx < cx):
                child += 1
                ct = dt
                cx = dx
        if t < ct or (t == ct and x < cx):
            break
        ht[i] = ct
        hx[i] = cx
        i = child
    ht[i] = t
    hx[i] = x
    ht[last] = first_t
    hx[last] = first_x
    return last


@hot
def _apply_due(st, expire, rand, ht, hx, hsize, keys, ops, ttls, pending, until, fills):
    """Apply pending fills/invalidations due at or before ``until``; return (hsize, fills)."""
    one_ttl = ttls.shape[0] == 1
    while hsize > 0 and ht[0] <= until:
        hsize = _heap_pop(ht, hx, hsize)
        j = hx[hsize]
        k = keys[j]
        if ops[j] == 0:
            pending[k] -= 1
            cache_put(st, expire, rand, k, ht[hsize], ttls[0] if one_ttl else ttls[j])
            fills += 1
        else:
            cache_delete(st, expire, k)
    return hsize, fills


@njit(cache=True)
def cache_aside(keys, ops, arrivals, sequential, ttls, wb_get, wb_set, db, rand, policy,
                capacity, n_keys, max_freq, sliding, atomic, out_start, out_outcome, out_wb,
                out_db, out_total, out_flags):
    """Run cache-aside over the requests; fill the ``out_*`` columns; return counters.

    Reads: GET on the whiteboard; on a miss, read the filing room, and the key is filled when
    that read completes (``start + wb_get + db``); the reader also pays the SET round trip.
    Writes (SET/DEL): write the filing room, then DEL the key; the deletion takes effect when
    the filing-room write completes. Sequential mode starts each request when the previous
    one finishes; otherwise requests start at ``arrivals`` and overlap. With ``sliding``, a
    hit restarts the key's TTL (EXPIRE on every access); otherwise the TTL runs from the fill.
    With ``atomic``, a miss fills the key at its own start (GET and SET on a miss in one step,
    as a Lua script does): no later request finds it in flight.
    
    The output columns may be the draws themselves (``out_wb`` over ``wb_get``, ``out_db``
    over ``db``, ``out_total`` over ``wb_set``): request ``i``'s draws are read before its
    outputs are written, and never again (see :meth:`simlab.engine._Inputs.columns`).
    """
    n = keys.shape[0]
    st, expire = new_state(policy, capacity, n_keys, max_freq)
    pending = np.zeros(n_keys, dtype=np.int32)
    ht = np.empty(n, dtype=np.float64)
    hx = np.empty(n, dtype=np.int64)
    counters = np.empty(5, dtype=np.int64)
    _cache_aside_loop(keys, ops, arrivals, sequential, ttls, wb_get, wb_set, db, rand, sliding,
                      atomic, out_start, out_outcome, out_wb, out_db, out_total, out_flags, st,
                      expire, pending, ht, hx, counters)
    return counters


@hot
def _cache_aside_loop(keys, ops, arrivals, sequential, ttls, wb_get, wb_set, db, rand, sliding,
                      atomic, out_start, out_outcome, out_wb, out_db, out_total, out_flags, st,
                      expire, pending, ht, hx, counters):
    """:func:`cache_aside`'s loop over the requests, on state allocated by its caller;
    fills ``counters``."""
    n = keys.shape[0]
    hsize = 0
    clock = 0.0
    inflight = 0
    fills = 0
    one_ttl = ttls.shape[0] == 1
    for i in range(n):
        t = clock if sequential else arrivals[i]
        if hsize > 0 and ht[0] <= t:
            hsize, fills = _apply_due(st, expire, rand, ht, hx, hsize, keys, ops, ttls, pending,
                                      t, fills)
        k = keys[i]
        flags = 0
        if ops[i] == 0:
            w = wb_get[i]
            status = cache_get(st, expire, k, t)
            if status == 0:
                if sliding:
                    ttl = ttls[0] if one_ttl else ttls[i]
                    if ttl == ttl:
                        expire[k] = t + ttl
                out_outcome[i] = HIT
                out_wb[i] = w
                out_db[i] = 0.0
                total = w
            else:
                if status == 2:
                    flags |= FLAG_EXPIRED
                if pending[k] > 0:
                    flags |= FLAG_INFLIGHT
                    inflight += 1
                d = db[i]
                hsize = _heap_push(ht, hx, hsize, t if atomic else t + w + d, i)
                pending[k] += 1
                out_outcome[i] = MISS
                out_wb[i] = w + wb_set[i]
                out_db[i] = d
                total = w + d + wb_set[i]
        else:
            d = db[i]
            hsize = _heap_push(ht, hx, hsize, t + d, i)
            out_outcome[i] = WRITE
            out_wb[i] = wb_set[i]
            out_db[i] = d
            total = d + wb_set[i]
        out_start[i] = t
        out_total[i] = total
        out_flags[i] = flags
        if sequential:
            clock = t + total
    # Apply what is still in flight so the final state is complete.
    hsize, fills = _apply_due(st, expire, rand, ht, hx, hsize, keys, ops, ttls, pending, np.inf,
                              fills)
    counters[0] = st[EVICTIONS]
    counters[1] = st[EXPIRED]   # expired keys found (and removed) by reads
    counters[2] = inflight      # misses whose key was already being filled
    counters[3] = fills
    counters[4] = st[COUNT]     # keys on the whiteboard at the end


@njit(cache=True)
def count_hits(keys, policy, capacity, n_keys, rand, warmup=0):
    """Hits of a read-only trace, requests one after another, a miss filling at once; the
    first ``warmup`` requests warm the whiteboard but are not counted.

    The textbook model (and what libCacheSim computes), without latencies or a table: the
    engine behind per-size sweeps.
    """
    n = keys.shape[0]
    st, expire = new_state(policy, capacity, n_keys, n + 1)
    hits = 0
    for i in range(n):
        k = keys[i]
        if expire[k] != ABSENT:
            _touch(st, k)
            if i >= warmup:
                hits += 1
        else:
            cache_put(st, expire, rand, k, 0.0, np.nan)
    return hits


@njit(cache=True)
def int_line_keys(data):
    """The key ids of a text (``data``: its bytes) whose every line is an integer written
    plainly: an optional minus sign, then digits, no leading zero, no ``-0``, no blank line,
    within int64; a last newline is optional.

    Returns ``(codes, labels, True)``: one dense id per line, in order of first appearance
    (as ``pandas.factorize(..., sort=False)`` numbers them), and the integer of each id; or
    ``(empty, empty, False)`` at the first line that is not plain (the caller then reads the
    text as text). One pass, no sort: the ids come from an open-addressing hash table
    (Fibonacci hashing, linear probing) kept at most half full and doubled as new labels
    come, so its memory follows the number of distinct labels, not of lines.
    """
    n = data.shape[0]
    count = 0
    for i in range(n):
        if data[i] == 10:
            count += 1
    if n > 0 and data[n - 1] != 10:
        count += 1
    codes = np.empty(count, dtype=np.int64)
    labels = np.empty(count, dtype=np.int64)
    none = np.empty(0, dtype=np.int64)
    if n == 0:
        return none, none, False
    bits = 10
    table = np.full(1 << bits, -1, dtype=np.int64)
    m = 0
    i = 0
    j = 0
    while i < n:
        negative = data[i] == 45             # '-'
        if negative:
            i += 1
        start = i
        value = 0                             # kept negative: int64's minimum fits
        while i < n and data[i] != 10:
            d = np.int64(data[i]) - 48
            if d < 0 or d > 9:
                return none, none, False
            if value < -922337203685477580 or (value == -922337203685477580 and d > 8):
                return none, none, False      # beyond int64
            value = value * 10 - d
            i += 1
        digits = i - start
        if digits == 0 or (digits > 1 and data[start] == 48):
            return none, none, False          # a blank line, a lone '-', a leading zero
        if negative:
            if value == 0:
                return none, none, False      # '-0'
        elif value == INT64_MIN:
            return none, none, False          # 9223372036854775808
        else:
            value = -value
        i += 1                                # the newline
        if 2 * (m + 1) > table.shape[0]:      # keep the table at most half full
            bits += 1
            table = np.full(1 << bits, -1, dtype=np.int64)
            for c in range(m):
                slot = _fibonacci(labels[c], bits)
                while table[slot] >= 0:
                    slot = (slot + 1) & ((1 << bits) - 1)
                table[slot] = c
        slot = _fibonacci(value, bits)
        while True:
            c = table[slot]
            if c < 0:
                table[slot] = m
                labels[m] = value
                codes[j] = m
                m += 1
                break
            if labels[c] == value:
                codes[j] = c
                break
            slot = (slot + 1) & ((1 << bits) - 1)
        j += 1
    return codes, labels[:m].copy(), True


@njit(cache=True)
def _fibonacci(x, bits):
    return np.int64((np.uint64(x) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))


INT64_MIN = -9223372036854775808



# --- the LRU whiteboard's own loop ----------------------------------------------------------
# LRU is the course's default policy and the one every lesson's slider runs, so it has a loop
# of its own, equal to ``cache_aside``'s request by request (tests hold them together) and
# about twice as fast, for these reasons:
#
# * One 16-byte record per key, ``lru[4k:4k+4]`` (int32): ``prev``, ``next``, the number of
#   the key's fills in flight, and a spare; ``prev < 0`` means "not cached". A hit reads one
#   cache line for its key where ``st``/``expire``/``pending`` spread it over four, and the
#   records of the cached keys fit in the core's L2 cache. ``expire`` is read only when the
#   workload has TTLs.
# * The loop can stop and go on (``at``, ``state``), so the engine runs it chunk by
#   chunk while other threads still draw the latencies of the next requests, and it leaves
#   the whiteboard's SET round trip out: :func:`lru_latencies` adds it afterwards, from
#   draws that another thread makes meanwhile (the sums are the same, term by term).
# * Its state stays in registers during a call, and its helpers, the event heap's too, are
#   inlined by Numba (below).
#
# ``state`` (int64, :mod:`simlab._codes`): events in flight, misses whose key was in flight,
# fills, keys cached, evictions, expired keys found by reads.


# Numba compiles each helper as a function of its own, and LLVM left the larger ones (and
# their returned tuples) as calls: inlined into the loop by Numba itself, the loop takes a
# quarter less time.
inline = njit(cache=True, _nrt=False, inline="always")


@inline
def _lru_unlink(lru, x):
    p = lru[4 * x]
    q = lru[4 * x + 1]
    lru[4 * p + 1] = q
    lru[4 * q] = p


@inline
def _lru_front(lru, head, x):
    first = lru[4 * head + 1]
    lru[4 * head + 1] = x
    lru[4 * x] = head
    lru[4 * x + 1] = first
    lru[4 * first] = x


@inline
def _lru_put(lru, expire, k, deadline, count, evictions, capacity, head):
    """Fill key ``k``; return the keys cached and the evictions so far."""
    if lru[4 * k] >= 0:                    # filled again while cached: a touch
        expire[k] = deadline
        _lru_unlink(lru, k)
        _lru_front(lru, head, k)
        return count, evictions
    if count >= capacity:
        victim = lru[4 * head]             # the back of the list
        _lru_unlink(lru, victim)
        lru[4 * victim] = -1
        count -= 1
        evictions += 1
    expire[k] = deadline
    _lru_front(lru, head, k)
    return count + 1, evictions


# the generic loop's event heap, inlined into the LRU loop: ordered by time, then request
# (pushed in request order, so first pushed, first applied at equal times), O(log n) however
# many fills are in flight (a sorted ring, no faster, became quadratic with long latencies:
# a minute for a million requests with 100 s queries)
_push = inline(_heap_push.py_func)
_pop = inline(_heap_pop.py_func)


@inline
def _lru_due(keys, ops, ttls, lru, expire, heap_t, heap_x, size, count, evictions, fills,
             capacity, head, until):
    """Apply the events in flight due at or before ``until``; return how many are left in
    flight, the keys cached, evictions and fills."""
    one_ttl = ttls.shape[0] == 1
    while size > 0 and heap_t[0] <= until:
        size = _pop(heap_t, heap_x, size)
        j = heap_x[size]
        when = heap_t[size]
        k = keys[j]
        if ops[j] == 0:
            lru[4 * k + 2] -= 1
            ttl = ttls[0] if one_ttl else ttls[j]
            count, evictions = _lru_put(lru, expire, k, when + ttl if ttl == ttl else np.inf,
                                        count, evictions, capacity, head)
            fills += 1
        elif lru[4 * k] >= 0:
            _lru_unlink(lru, k)
            lru[4 * k] = -1
            count -= 1
    return size, count, evictions, fills


@njit(cache=True, nogil=True, _nrt=False)
def lru_apply(keys, ops, ttls, lru, expire, heap_t, heap_x, state, capacity, n_keys, until):
    """Apply the fills and invalidations in flight due at or before ``until`` (``inf``: all
    of them, at the end of a run)."""
    (state[LRU_EVENTS], state[LRU_COUNT], state[LRU_EVICTIONS],
     state[LRU_FILLS]) = _lru_due(keys, ops, ttls, lru, expire, heap_t, heap_x,
                                  state[LRU_EVENTS], state[LRU_COUNT], state[LRU_EVICTIONS],
                                  state[LRU_FILLS], capacity, n_keys, until)


@njit(cache=True, nogil=True, _nrt=False)
def lru_cache_aside(at, end, keys, ops, arrivals, ttls, wb_get, db, sliding, atomic,
                    out_outcome, out_flags, lru, expire, heap_t, heap_x, state, capacity,
                    n_keys):
    """``cache_aside`` for the LRU policy and requests at their arrival times, requests
    ``at`` to ``end``; return where it stopped: ``end``, or earlier when the heap of events
    in flight is full (the caller gives a larger one and calls again from there).

    Writes the outcome and flags of each request, and the filing-room latency over ``db``
    (0 for a hit). A request starts at its arrival (the start column is a copy of
    ``arrivals``, which the caller makes), and the whiteboard and total latencies are
    :func:`lru_latencies`'.
    The loop keeps ``state`` in locals (registers) and stores it back when it stops."""
    head = n_keys
    one_ttl = ttls.shape[0] == 1
    any_ttl = not (one_ttl and ttls[0] != ttls[0])
    room = heap_t.shape[0]
    size = state[LRU_EVENTS]
    inflight = state[LRU_INFLIGHT]
    fills = state[LRU_FILLS]
    count = state[LRU_COUNT]
    evictions = state[LRU_EVICTIONS]
    expired = state[LRU_EXPIRED]
    i = at
    while i < end:
        if size == room:
            break
        t = arrivals[i]
        if size > 0 and heap_t[0] <= t:
            size, count, evictions, fills = _lru_due(
                keys, ops, ttls, lru, expire, heap_t, heap_x, size, count, evictions, fills,
                capacity, head, t)
        k = keys[i]
        flags = 0
        if ops[i] == 0:
            cached = lru[4 * k] >= 0
            if cached and any_ttl and t > expire[k]:
                _lru_unlink(lru, k)
                lru[4 * k] = -1
                count -= 1
                expired += 1
                cached = False
                flags |= FLAG_EXPIRED
            if cached:
                _lru_unlink(lru, k)
                _lru_front(lru, head, k)
                if sliding:
                    ttl = ttls[0] if one_ttl else ttls[i]
                    if ttl == ttl:
                        expire[k] = t + ttl
                out_outcome[i] = HIT
                db[i] = 0.0
            else:
                if lru[4 * k + 2] > 0:
                    flags |= FLAG_INFLIGHT
                    inflight += 1
                size = _push(heap_t, heap_x, size, t if atomic else t + wb_get[i] + db[i], i)
                lru[4 * k + 2] += 1
                out_outcome[i] = MISS
        else:
            size = _push(heap_t, heap_x, size, t + db[i], i)
            out_outcome[i] = WRITE
        out_flags[i] = flags
        i += 1
    state[LRU_EVENTS] = size
    state[LRU_INFLIGHT] = inflight
    state[LRU_FILLS] = fills
    state[LRU_COUNT] = count
    state[LRU_EVICTIONS] = evictions
    state[LRU_EXPIRED] = expired
    return i


@njit(cache=True, nogil=True, _nrt=False)
def lru_latencies(at, end, outcome, wb, db, wb_set):
    """The whiteboard and total latencies of requests ``at`` to ``end`` of a run of
    :func:`lru_cache_aside`, in place: ``wb`` holds the GET draws, ``wb_set`` the SET draws,
    and become the whiteboard latency and the total (``cache_aside``'s sums, in its order)."""
    for i in range(at, end):
        o = outcome[i]
        w = wb[i]
        s = wb_set[i]
        if o == HIT:
            wb_set[i] = w
        elif o == MISS:
            wb[i] = w + s
            wb_set[i] = w + db[i] + s
        else:
            wb[i] = s
            wb_set[i] = db[i] + s


# --- standard normal draws, NumPy's own --------------------------------------------------
# ``Generator.standard_normal`` turns each 64-bit output of the bit generator into a normal
# by NumPy's ziggurat (``random_standard_normal`` in numpy/random/src/distributions); its
# sign is a branch taken half the time at random, and the mispredictions are half its cost
# (9.4 ns a draw here, against 4.0 for ``standard_exponential``, the same ziggurat without
# a sign). This is the same algorithm on the same 64-bit outputs (``random_raw``), with the
# same tables and the same arithmetic, so it gives the same numbers, bit for bit (tests
# hold it against NumPy's; :mod:`simlab._normal` checks it once per process and uses
# NumPy's own if they ever differ), with a sign that the compiler makes branch-free.
NEXT_DOUBLE = 1.0 / 9007199254740992.0


@njit(cache=True, nogil=True, _nrt=False)
def normals(raw, out, progress, ki, wi, fi, r, inv_r, scaled, scale, shift):
    """Fill ``out[progress[1]:]`` with standard normals from the 64-bit outputs
    ``raw[progress[0]:]``; update ``progress``; return whether ``out`` is full (False: the
    outputs ran out, and the caller hands more). With ``scaled``, each is then multiplied by
    ``scale`` and ``shift`` added, as ``out *= scale; out += shift`` does (two roundings)."""
    m = raw.shape[0]
    n = out.shape[0]
    pos = progress[0]
    i = progress[1]
    first = i
    full = True
    while i < n:
        if pos >= m:
            full = False
            break
        u = raw[pos]
        idx = u & np.uint64(0xFF)
        u >>= np.uint64(8)
        rabs = (u >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        # the sign by a product with +1.0 or -1.0 (exact, and free of a branch on any x86-64:
        # ``if sign: x = -x`` stays a branch there unless the compiler may use AVX-512)
        x = (np.float64(np.int64(rabs)) * wi[idx]
             * (1.0 - 2.0 * np.float64(np.int64(u & np.uint64(1)))))
        if rabs < ki[idx]:
            out[i] = x
            i += 1
            pos += 1
            continue
        # the rare way (under 1%): more outputs, taken only if they are all there
        used = 1
        done = False
        if idx == 0:
            while True:
                if pos + used + 2 > m:
                    break
                u1 = np.float64(np.int64(raw[pos + used] >> np.uint64(11))) * NEXT_DOUBLE
                u2 = np.float64(np.int64(raw[pos + used + 1] >> np.uint64(11))) * NEXT_DOUBLE
                used += 2
                xx = -inv_r * np.log1p(-u1)
                yy = -np.log1p(-u2)
                if yy + yy > xx * xx:
                    if (rabs >> np.uint64(8)) & np.uint64(1):
                        out[i] = -(r + xx)
                    else:
                        out[i] = r + xx
                    done = True
                    break
            if not done:
                full = False
                break
            i += 1
        else:
            if pos + 2 > m:
                full = False
                break
            used = 2
            v = np.float64(np.int64(raw[pos + 1] >> np.uint64(11))) * NEXT_DOUBLE
            if (fi[idx - 1] - fi[idx]) * v + fi[idx] < np.exp(-0.5 * x * x):
                out[i] = x
                i += 1
        pos += used
    if scaled:
        for j in range(first, i):
            out[j] = out[j] * scale + shift
    progress[0] = pos
    progress[1] = i
    return full


_cache_dir = _numba_cache_dir(cache_get.py_func)
if _cache_dir is not None:
    clear_stale_cache(_cache_dir, cache_fingerprint())
