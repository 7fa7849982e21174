"""The fast engine: the cache-aside hot loop, compiled with Numba.

Everything here works on dense integer keys and preallocated NumPy arrays, so that Numba can
compile it. Without Numba the same functions run as plain Python (slowly); the reference
models in :mod:`simlab.caches` and :func:`simlab.engine.simulate_reference` are what this is
tested against, request by request.

Policy codes: 0 LRU, 1 LFU, 2 FIFO, 3 Random. Outcome codes: 0 hit, 1 miss, 2 write.
Flag bits: 1 the miss found the key's fill still in flight, 2 the miss found the key expired.
"""
from __future__ import annotations

import numpy as np

try:  # Numba is a runtime dependency; the fallback keeps simlab importable without it.
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

LRU, LFU, FIFO, RANDOM = 0, 1, 2, 3
POLICY_CODES = {"lru": LRU, "lfu": LFU, "fifo": FIFO, "random": RANDOM}
HIT, MISS, WRITE = 0, 1, 2
FLAG_INFLIGHT, FLAG_EXPIRED = 1, 2
EV_FILL, EV_INVALIDATE = 0, 1


@njit(cache=True, inline="always")
def _unlink(prev, nxt, x):
    p = prev[x]
    q = nxt[x]
    nxt[p] = q
    prev[q] = p


@njit(cache=True, inline="always")
def _push_front(prev, nxt, head, x):
    first = nxt[head]
    nxt[head] = x
    prev[x] = head
    nxt[x] = first
    prev[first] = x


@njit(cache=True)
def cache_state(policy, capacity, n_keys, max_freq):
    """Fresh policy state: presence, expiry, links, frequencies, random slots."""
    present = np.zeros(n_keys, dtype=np.bool_)
    expire = np.full(n_keys, np.inf)
    n_links = n_keys + 1
    if policy == LFU:
        n_links = n_keys + max_freq + 2
    prev = np.empty(n_links, dtype=np.int64)
    nxt = np.empty(n_links, dtype=np.int64)
    for s in range(n_keys, n_links):  # sentinels point at themselves: empty lists
        prev[s] = s
        nxt[s] = s
    freq = np.zeros(n_keys if policy == LFU else 1, dtype=np.int64)
    slots = np.empty(capacity if policy == RANDOM else 1, dtype=np.int64)
    pos = np.empty(n_keys if policy == RANDOM else 1, dtype=np.int64)
    # meta: [count, min_freq, rand_index, evictions, expired]
    meta = np.zeros(5, dtype=np.int64)
    meta[1] = 1
    return present, expire, prev, nxt, freq, slots, pos, meta


@njit(cache=True, inline="always")
def _touch(policy, k, n_keys, prev, nxt, freq, meta):
    if policy == LRU:
        _unlink(prev, nxt, k)
        _push_front(prev, nxt, n_keys, k)
    elif policy == LFU:
        f = freq[k]
        _unlink(prev, nxt, k)
        if f == meta[1] and nxt[n_keys + f] == n_keys + f:
            meta[1] = f + 1
        freq[k] = f + 1
        _push_front(prev, nxt, n_keys + f + 1, k)


@njit(cache=True, inline="always")
def _remove(policy, k, n_keys, present, prev, nxt, freq, slots, pos, meta):
    present[k] = False
    meta[0] -= 1
    if policy == RANDOM:
        i = pos[k]
        last = slots[meta[0]]
        slots[i] = last
        pos[last] = i
    else:
        _unlink(prev, nxt, k)


@njit(cache=True, inline="always")
def _evict(policy, n_keys, present, prev, nxt, freq, slots, pos, meta, rand):
    if policy == RANDOM:
        u = rand[meta[2]]
        meta[2] += 1
        victim = slots[int(u * meta[0])]
    elif policy == LFU:
        f = meta[1]
        while nxt[n_keys + f] == n_keys + f:
            f += 1
        meta[1] = f
        victim = prev[n_keys + f]
    else:  # LRU and FIFO evict from the back
        victim = prev[n_keys]
    _remove(policy, victim, n_keys, present, prev, nxt, freq, slots, pos, meta)
    meta[3] += 1
    return victim


@njit(cache=True, inline="always")
def cache_put(policy, capacity, k, now, ttl, n_keys, present, expire, prev, nxt, freq, slots,
              pos, meta, rand):
    """Write key ``k`` at time ``now`` with ``ttl`` (nan: none), evicting if full."""
    if ttl == ttl:
        expire[k] = now + ttl
    else:
        expire[k] = np.inf
    if present[k]:
        _touch(policy, k, n_keys, prev, nxt, freq, meta)
        return
    if meta[0] >= capacity:
        victim = _evict(policy, n_keys, present, prev, nxt, freq, slots, pos, meta, rand)
        expire[victim] = np.inf
    present[k] = True
    if policy == RANDOM:
        slots[meta[0]] = k
        pos[k] = meta[0]
    elif policy == LFU:
        freq[k] = 1
        meta[1] = 1
        _push_front(prev, nxt, n_keys + 1, k)
    else:
        _push_front(prev, nxt, n_keys, k)
    meta[0] += 1


@njit(cache=True, inline="always")
def cache_get(policy, k, now, n_keys, present, expire, prev, nxt, freq, slots, pos, meta):
    """Look key ``k`` up at ``now``: 0 hit, 1 absent, 2 expired (and removed)."""
    if not present[k]:
        return 1
    if now > expire[k]:
        _remove(policy, k, n_keys, present, prev, nxt, freq, slots, pos, meta)
        expire[k] = np.inf
        meta[4] += 1
        return 2
    _touch(policy, k, n_keys, prev, nxt, freq, meta)
    return 0


@njit(cache=True, inline="always")
def cache_delete(policy, k, n_keys, present, expire, prev, nxt, freq, slots, pos, meta):
    if present[k]:
        _remove(policy, k, n_keys, present, prev, nxt, freq, slots, pos, meta)
    expire[k] = np.inf


# --- the event heap of pending fills and invalidations ----------------------------------

@njit(cache=True, inline="always")
def _less(ht, hs, a, b):
    return ht[a] < ht[b] or (ht[a] == ht[b] and hs[a] < hs[b])


@njit(cache=True, inline="always")
def _swap(ht, hs, hk, hkind, httl, a, b):
    ht[a], ht[b] = ht[b], ht[a]
    hs[a], hs[b] = hs[b], hs[a]
    hk[a], hk[b] = hk[b], hk[a]
    hkind[a], hkind[b] = hkind[b], hkind[a]
    httl[a], httl[b] = httl[b], httl[a]


@njit(cache=True, inline="always")
def _heap_push(ht, hs, hk, hkind, httl, size, t, seq, k, kind, ttl):
    i = size
    ht[i] = t
    hs[i] = seq
    hk[i] = k
    hkind[i] = kind
    httl[i] = ttl
    while i > 0:
        parent = (i - 1) >> 1
        if _less(ht, hs, i, parent):
            _swap(ht, hs, hk, hkind, httl, i, parent)
            i = parent
        else:
            break
    return size + 1


@njit(cache=True, inline="always")
def _heap_pop(ht, hs, hk, hkind, httl, size):
    """Move the earliest event to index ``size-1`` and restore the heap on the rest."""
    last = size - 1
    _swap(ht, hs, hk, hkind, httl, 0, last)
    i = 0
    while True:
        left = 2 * i + 1
        if left >= last:
            break
        child = left
        if left + 1 < last and _less(ht, hs, left + 1, left):
            child = left + 1
        if _less(ht, hs, child, i):
            _swap(ht, hs, hk, hkind, httl, i, child)
            i = child
        else:
            break
    return last


@njit(cache=True)
def cache_aside(keys, ops, arrivals, sequential, ttls, wb_get, wb_set, db, rand, policy,
                capacity, n_keys, max_freq, out_start, out_outcome, out_wb, out_db, out_total,
                out_flags):
    """Run cache-aside over the requests; fill the ``out_*`` columns; return counters.

    Reads: GET on the whiteboard; on a miss, read the filing room, and the key is filled when
    that read completes (``start + wb_get + db``); the reader also pays the SET round trip.
    Writes (SET/DEL): write the filing room, then DEL the key; the deletion takes effect when
    the filing-room write completes. Sequential mode starts each request when the previous
    one finishes; otherwise requests start at ``arrivals`` and overlap.
    """
    n = keys.shape[0]
    present, expire, prev, nxt, freq, slots, pos, meta = cache_state(policy, capacity, n_keys,
                                                                      max_freq)
    pending = np.zeros(n_keys, dtype=np.int32)
    ht = np.empty(n, dtype=np.float64)
    hs = np.empty(n, dtype=np.int64)
    hk = np.empty(n, dtype=np.int64)
    hkind = np.empty(n, dtype=np.int8)
    httl = np.empty(n, dtype=np.float64)
    hsize = 0
    seq = 0
    clock = 0.0
    inflight = 0
    fills = 0
    one_ttl = ttls.shape[0] == 1
    for i in range(n):
        t = clock if sequential else arrivals[i]
        while hsize > 0 and ht[0] <= t:
            hsize = _heap_pop(ht, hs, hk, hkind, httl, hsize)
            k = hk[hsize]
            if hkind[hsize] == EV_FILL:
                pending[k] -= 1
                cache_put(policy, capacity, k, ht[hsize], httl[hsize], n_keys, present, expire,
                          prev, nxt, freq, slots, pos, meta, rand)
                fills += 1
            else:
                cache_delete(policy, k, n_keys, present, expire, prev, nxt, freq, slots, pos,
                             meta)
        k = keys[i]
        flags = 0
        if ops[i] == 0:
            w = wb_get[i]
            status = cache_get(policy, k, t, n_keys, present, expire, prev, nxt, freq, slots,
                               pos, meta)
            if status == 0:
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
                ttl = ttls[0] if one_ttl else ttls[i]
                hsize = _heap_push(ht, hs, hk, hkind, httl, hsize, t + w + d, seq, k, EV_FILL,
                                   ttl)
                seq += 1
                pending[k] += 1
                out_outcome[i] = MISS
                out_wb[i] = w + wb_set[i]
                out_db[i] = d
                total = w + d + wb_set[i]
        else:
            d = db[i]
            hsize = _heap_push(ht, hs, hk, hkind, httl, hsize, t + d, seq, k, EV_INVALIDATE,
                               np.nan)
            seq += 1
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
    while hsize > 0:
        hsize = _heap_pop(ht, hs, hk, hkind, httl, hsize)
        k = hk[hsize]
        if hkind[hsize] == EV_FILL:
            pending[k] -= 1
            cache_put(policy, capacity, k, ht[hsize], httl[hsize], n_keys, present, expire,
                      prev, nxt, freq, slots, pos, meta, rand)
            fills += 1
        else:
            cache_delete(policy, k, n_keys, present, expire, prev, nxt, freq, slots, pos, meta)
    counters = np.empty(5, dtype=np.int64)
    counters[0] = meta[3]   # evictions
    counters[1] = meta[4]   # expired keys found by reads
    counters[2] = inflight  # misses whose key was already being filled
    counters[3] = fills
    counters[4] = meta[0]   # keys on the whiteboard at the end
    return counters


@njit(cache=True)
def count_hits(keys, policy, capacity, n_keys, rand):
    """Hits of a read-only trace, requests one after another, a miss filling at once.

    The textbook model (and what libCacheSim computes), without latencies or a table: the
    engine behind per-size sweeps.
    """
    n = keys.shape[0]
    present, expire, prev, nxt, freq, slots, pos, meta = cache_state(policy, capacity, n_keys,
                                                                      n + 1)
    hits = 0
    for i in range(n):
        k = keys[i]
        if present[k]:
            _touch(policy, k, n_keys, prev, nxt, freq, meta)
            hits += 1
        else:
            cache_put(policy, capacity, k, 0.0, np.nan, n_keys, present, expire, prev, nxt,
                      freq, slots, pos, meta, rand)
    return hits
