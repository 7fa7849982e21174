"""The virtual-time engine: cache-aside over a workload, recorded request by request.

:func:`simulate` runs the compiled hot loop (:mod:`simlab._kernels`);
:func:`simulate_reference` runs the same model in plain Python with the reference caches of
:mod:`simlab.caches` and :mod:`heapq`, and is what the fast engine is tested against.
Both return the same table (see :mod:`simlab.results`). :func:`simulate_redis` runs the
compiled Redis model (:mod:`simlab._redis_kernels`) and, with ``engine="reference"``, the
plain-Python :class:`simlab.redis_cache.RedisCache` it is tested against.
"""
from __future__ import annotations

import heapq
import math
import time

import numpy as np

from . import _kernels as K
from . import _validate as v
from ._random import resolve_seed, stream
from .caches import POLICIES, make_cache
from .latency import Constant, Distribution, Preset, preset
from .results import build_table
from .workloads import GET, Workload, check_keys


class _Inputs:
    """Everything drawn at random for one run, drawn once so both engines see the same."""

    def __init__(self, workload, whiteboard, filing_room, seed):
        n = len(workload)
        wb_rng = stream(seed, "whiteboard")
        self.wb_get = whiteboard.sample(n, wb_rng)
        self.wb_set = whiteboard.sample(n, wb_rng)
        self.db = filing_room.sample(n, stream(seed, "filing_room"))
        self.rand = stream(seed, "policy").random(n)


def _latency_model(name, value):
    if isinstance(value, str):
        return preset(value)
    if isinstance(value, (Distribution, Preset)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Constant(v.seconds(name, value, allow_zero=True))
    raise TypeError(f"{name} must be a latency model, a preset name or a number of seconds, "
                    f"got {value!r}")


def _check(workload, policy, cache_size):
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
    check_keys(workload)     # the compiled loop indexes by key id without bounds checks
    v.choice("policy", policy, POLICIES)
    return v.capacity("cache_size", cache_size, workload.n_keys)


def _prepare(workload, policy, cache_size, ttl_mode, whiteboard, filing_room, seed):
    """Validate a run's parameters and draw its random inputs (shared by both engines)."""
    cache_size = _check(workload, policy, cache_size)
    v.run_memory(workload, v.TABLE_BYTES_PER_REQUEST, v.ENGINE_BYTES_PER_KEY,
                 "the per-request table", "use hit_counts (no table) or fewer requests")
    v.choice("ttl_mode", ttl_mode, TTL_MODES)
    whiteboard = _latency_model("whiteboard", whiteboard)
    filing_room = _latency_model("filing_room", filing_room)
    seed = resolve_seed(seed)
    return cache_size, whiteboard, filing_room, seed, _Inputs(workload, whiteboard,
                                                              filing_room, seed)


def _columns(n):
    """The engine's output columns, preallocated: start, outcome, whiteboard, filing room,
    total latency, flags."""
    return (np.empty(n), np.empty(n, dtype=np.int8), np.empty(n), np.empty(n), np.empty(n),
            np.zeros(n, dtype=np.int8))


def _params(workload, policy, cache_size, whiteboard, filing_room, seed, engine, atomic):
    return {"policy": policy, "cache_size": cache_size, "whiteboard": repr(whiteboard.model
            if isinstance(whiteboard, Preset) else whiteboard),
            "filing_room": repr(filing_room.model if isinstance(filing_room, Preset)
                                else filing_room),
            "seed": seed, "engine": engine, "sequential": workload.times is None,
            "atomic": atomic, "workload": dict(workload.params)}


def _atomic(atomic, filing_room) -> bool:
    """Whether a miss fills at its own start. Default: only with a constant filing room of 0
    (the documented rule "0: a miss fills at once", whatever the whiteboard's latency)."""
    if atomic is None:
        return isinstance(filing_room, Constant) and filing_room.value == 0
    if not isinstance(atomic, bool):
        raise TypeError(f"atomic must be True, False or None, got {atomic!r}")
    return atomic


TTL_MODES = ("fixed", "sliding")


def simulate(workload: Workload, *, policy: str = "lru", cache_size: int,
             whiteboard="redis-loopback", filing_room="postgres-indexed",
             ttl_mode: str = "fixed", atomic: bool | None = None, seed: int | None = None):
    """Simulate cache-aside over ``workload`` in virtual time.

    Parameters
    ----------
    workload : Workload
        From :func:`simlab.zipf`, :func:`simlab.hot_set` or :func:`simlab.read_trace`.
    policy : {"lru", "lfu", "fifo", "random"}
        Which key leaves when the whiteboard is full.
    cache_size : int
        Capacity of the whiteboard in keys (> 0).
    whiteboard, filing_room : latency model, preset name or seconds
        Latency of one whiteboard round trip and of one filing-room query. A number means a
        constant (a filing room of 0: a miss fills the whiteboard at once, see ``atomic``).
    ttl_mode : {"fixed", "sliding"}
        ``fixed``: a key's TTL runs from its fill; ``sliding``: every hit restarts it.
    atomic : bool, optional
        True: the server does each request in one step (GET, and SET on a miss, as a Lua
        script or a single command does): a miss fills the key at the request's own start, so
        no request ever finds a fill in flight; latencies are still drawn and reported.
        False: the fill lands when the filing room answered (``start + whiteboard + filing
        room``), and requests that overlap it miss too. Default (None): True exactly when
        ``filing_room`` is the constant 0.
    seed : int, optional
        Seed for latencies and random eviction; stored in ``df.attrs``.

    Returns
    -------
    pandas.DataFrame
        One row per request: ``time``, ``key``, ``op``, ``outcome``, ``whiteboard_latency``,
        ``filing_room_latency``, ``latency`` (seconds), ``inflight``, ``expired``; the
        parameters, seed and counters in ``df.attrs``. See :func:`simlab.summarize`.
    """
    cache_size, whiteboard, filing_room, seed, inputs = _prepare(
        workload, policy, cache_size, ttl_mode, whiteboard, filing_room, seed)
    atomic = _atomic(atomic, filing_room)
    n = len(workload)
    start, outcome, wb, db, total, flags = _columns(n)
    sequential = workload.times is None
    arrivals = np.zeros(1) if sequential else workload.times
    ttls = workload.ttls
    if np.all(np.isnan(ttls)):
        ttls = np.full(1, np.nan)
    tic = time.perf_counter()
    counters = K.cache_aside(workload.keys, workload.ops, arrivals, sequential, ttls,
                             inputs.wb_get, inputs.wb_set, inputs.db, inputs.rand,
                             K.POLICY_CODES[policy], cache_size, workload.n_keys, n + 1,
                             ttl_mode == "sliding", atomic, start, outcome, wb, db, total,
                             flags)
    engine_s = time.perf_counter() - tic
    params = _params(workload, policy, cache_size, whiteboard, filing_room, seed, "fast",
                     atomic)
    params["ttl_mode"] = ttl_mode
    return build_table(workload, start, outcome, wb, db, total, flags, counters, params,
                       engine_s)


def _event_loop(workload: Workload, cache, inputs, names=None, sliding=False, atomic=False,
                fill_kwargs=None):
    """Cache-aside over ``workload`` with any cache offering ``get(key, now) -> hit``,
    ``put(key, now, ttl, size)`` and ``delete(key, now)``, in plain Python.

    The model is the one :func:`simulate` compiles; ``names`` maps key ids to the names the
    cache sees (default: the ids). With ``atomic`` a miss fills at once, in the same step as
    its GET (``put`` gets ``fill_kwargs`` then). Returns the output columns and counters.
    """
    n = len(workload)
    start, outcome, wb, db, total, flags = _columns(n)
    events: list = []  # (time, seq, kind, key id, ttl, size)
    pending: dict = {}
    clock, seq, inflight, fills = 0.0, 0, 0, 0
    name_of = (lambda k: k) if names is None else names.__getitem__

    def apply(event):
        nonlocal fills
        when, _, kind, key, ttl, size = event
        if kind == K.EV_FILL:
            pending[key] -= 1
            cache.put(name_of(key), when, None if math.isnan(ttl) else ttl, size)
            fills += 1
        else:
            cache.delete(name_of(key), when)

    for i in range(n):
        t = clock if workload.times is None else float(workload.times[i])
        while events and events[0][0] <= t:
            apply(heapq.heappop(events))
        key = int(workload.keys[i])
        if workload.ops[i] == GET:
            w = inputs.wb_get[i]
            expired_before = cache.expired
            if cache.get(name_of(key), t):
                outcome[i], wb[i], db[i], total[i] = K.HIT, w, 0.0, w
                if sliding and not math.isnan(workload.ttls[i]):
                    cache.expire_at[name_of(key)] = t + float(workload.ttls[i])
            else:
                if cache.expired > expired_before:
                    flags[i] |= K.FLAG_EXPIRED
                if pending.get(key, 0) > 0:
                    flags[i] |= K.FLAG_INFLIGHT
                    inflight += 1
                d = inputs.db[i]
                ttl = float(workload.ttls[i])
                if atomic:   # the same order as a fill event at t: before any later event
                    cache.put(name_of(key), t, None if math.isnan(ttl) else ttl,
                              int(workload.sizes[i]), **(fill_kwargs or {}))
                    fills += 1
                else:
                    heapq.heappush(events, (t + w + d, seq, K.EV_FILL, key, ttl,
                                            int(workload.sizes[i])))
                    seq += 1
                    pending[key] = pending.get(key, 0) + 1
                outcome[i], wb[i], db[i] = K.MISS, w + inputs.wb_set[i], d
                total[i] = w + d + inputs.wb_set[i]
        else:
            d = inputs.db[i]
            heapq.heappush(events, (t + d, seq, K.EV_INVALIDATE, key, math.nan, 0))
            seq += 1
            outcome[i], wb[i], db[i] = K.WRITE, inputs.wb_set[i], d
            total[i] = d + inputs.wb_set[i]
        start[i] = t
        if workload.times is None:
            clock = t + total[i]
    while events:
        apply(heapq.heappop(events))
    counters = np.array([cache.evictions, cache.expired, inflight, fills, len(cache)])
    return start, outcome, wb, db, total, flags, counters


def simulate_reference(workload: Workload, *, policy: str = "lru", cache_size: int,
                       whiteboard="redis-loopback", filing_room="postgres-indexed",
                       ttl_mode: str = "fixed", atomic: bool | None = None,
                       seed: int | None = None):
    """The same model as :func:`simulate`, written plainly in Python (slow; for checking)."""
    cache_size, whiteboard, filing_room, seed, inputs = _prepare(
        workload, policy, cache_size, ttl_mode, whiteboard, filing_room, seed)
    atomic = _atomic(atomic, filing_room)
    uniforms = iter(inputs.rand.tolist())

    class _Draws:
        def random(self):
            return next(uniforms)

    cache = make_cache(policy, cache_size, rng=_Draws())
    tic = time.perf_counter()
    columns = _event_loop(workload, cache, inputs, sliding=ttl_mode == "sliding",
                          atomic=atomic)
    engine_s = time.perf_counter() - tic
    params = _params(workload, policy, cache_size, whiteboard, filing_room, seed, "reference",
                     atomic)
    params["ttl_mode"] = ttl_mode
    return build_table(workload, *columns, params, engine_s)


def simulate_redis(workload: Workload, *, policy: str = "allkeys-lru", maxmemory: int,
                   samples: int = 5, lfu_log_factor: float = 10, lfu_decay_time: float = 1,
                   whiteboard="redis-loopback", filing_room="postgres-indexed",
                   atomic: bool | None = None, key_names=None, seed: int | None = None,
                   engine: str = "fast"):
    """Cache-aside with the whiteboard as Redis runs it: ``maxmemory`` bytes, a Redis policy.

    Parameters
    ----------
    policy : str
        A Redis policy name: ``noeviction``, ``allkeys-lru``, ``allkeys-lfu``,
        ``allkeys-random``, ``volatile-lru``, ``volatile-lfu``, ``volatile-random``,
        ``volatile-ttl``.
    maxmemory : int
        Bytes for the data set (a real server's setting less an empty server's usage).
    samples, lfu_log_factor, lfu_decay_time
        As in redis.conf (``maxmemory-samples``, ``lfu-log-factor``, ``lfu-decay-time``).
    atomic : bool, optional
        True: each read is one step on the server, GET and SET on a miss in one Lua script:
        eviction runs once before it, and the script's SET is refused only if that eviction
        could not get below the limit (a plain SET, the default when False, is a command of
        its own and is refused whenever memory stays above the limit). Default: True exactly
        when ``filing_room`` is the constant 0, as in :func:`simulate`.
    key_names : sequence of str, optional
        The name stored for each key id (its length is what the key costs in bytes).
    engine : {"fast", "reference"}
        ``fast``: the compiled model (:mod:`simlab._redis_kernels`); ``reference``: the
        plain-Python :class:`simlab.redis_cache.RedisCache`, step by step. Both give the same
        table request by request (the fast one falls back to the reference when two key ids
        share a name).

    Other parameters and the table as in :func:`simulate`; keys are stored under names
    ``key:%08d`` (synthetic workloads) or ``key:<label>`` (traces) unless ``key_names`` is
    given, with the request's value size and TTL. ``attrs`` adds ``oom_errors`` (fills refused under ``noeviction`` or a
    volatile policy with nothing to evict) and ``bytes_at_end``.
    """
    from .redis_cache import RedisCache

    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
    check_keys(workload)
    v.redis_value_sizes(workload)
    v.run_memory(workload, v.REDIS_MODEL_BYTES_PER_REQUEST, v.REDIS_MODEL_BYTES_PER_KEY,
                 "the Redis model's table and keys", "use fewer requests or keys")
    whiteboard = _latency_model("whiteboard", whiteboard)
    filing_room = _latency_model("filing_room", filing_room)
    seed = resolve_seed(seed)
    cache = RedisCache(policy, maxmemory, samples=samples, lfu_log_factor=lfu_log_factor,
                       lfu_decay_time=lfu_decay_time, rng=seed)
    atomic = _atomic(atomic, filing_room)
    v.choice("engine", engine, ("fast", "reference"))
    inputs = _Inputs(workload, whiteboard, filing_room, seed)
    synthetic = workload.params.get("generator") in ("zipf", "hot_set")
    if key_names is not None:
        names = [str(name) for name in key_names]
        if len(names) != workload.n_keys:
            raise ValueError(f"key_names must give one name per key id ({workload.n_keys}), "
                             f"got {len(names)}")
    elif synthetic:
        names = None      # key:%08d, built only where the reference needs them
    else:
        names = [f"key:{label}" for label in workload.key_names]
    if engine == "fast" and (names is None or len(set(names)) == len(names)):
        columns, counters = _redis_fast(workload, cache, inputs, names, atomic)
        engine_s = columns.pop()
        oom_errors, bytes_at_end = int(counters[5]), int(counters[6])
        columns = (*columns, counters[:5])
    else:
        engine = "reference"
        if names is None:
            names = [f"key:{k:08d}" for k in range(workload.n_keys)]
        tic = time.perf_counter()
        columns = _event_loop(workload, cache, inputs, names, atomic=atomic,
                              fill_kwargs={"in_script": True})
        engine_s = time.perf_counter() - tic
        oom_errors, bytes_at_end = cache.oom_errors, cache.used_memory
    params = _params(workload, policy, None, whiteboard, filing_room, seed, "redis-model",
                     atomic)
    params.update({"maxmemory": maxmemory, "samples": samples,
                   "lfu_log_factor": lfu_log_factor, "lfu_decay_time": lfu_decay_time,
                   "redis_engine": engine})
    df = build_table(workload, *columns, params, engine_s)
    df.attrs.update({"oom_errors": oom_errors, "bytes_at_end": bytes_at_end})
    return df


def _redis_fast(workload, cache, inputs, names, atomic):
    """:func:`simulate_redis`'s loop, compiled: the columns (engine seconds last) and the
    counters of :func:`simlab._redis_kernels.redis_cache_aside`."""
    from . import _redis_kernels as RK
    from .redis_cache import REDIS_POLICIES

    n = len(workload)
    if names is None:
        lengths = RK.key_lengths_synthetic(workload.n_keys)
    else:
        lengths = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
    sizes = workload.sizes
    if sizes.shape[0] > 1 and np.all(sizes == sizes[0]):
        sizes = sizes[:1]
    state = cache._rng.state
    st, fa = RK.new_state(REDIS_POLICIES.index(cache.policy),
                          RK.NO_LIMIT if cache.maxmemory is None else cache.maxmemory,
                          cache.samples, float(cache.lfu_log_factor),
                          float(cache.lfu_decay_time), workload.n_keys,
                          state - (1 << 64) if state >= 1 << 63 else state)
    start, outcome, wb, db, total, flags = _columns(n)
    sequential = workload.times is None
    ttls = workload.ttls
    if np.all(np.isnan(ttls)):
        ttls = np.full(1, np.nan)
    tic = time.perf_counter()
    vbytes = RK.request_bytes(workload.keys, lengths, np.ascontiguousarray(sizes, np.int64))
    counters = RK.redis_cache_aside(workload.keys, workload.ops,
                                    np.zeros(1) if sequential else workload.times, sequential,
                                    ttls, vbytes, inputs.wb_get, inputs.wb_set, inputs.db, st,
                                    fa, atomic, start, outcome, wb, db, total, flags)
    engine_s = time.perf_counter() - tic
    return [start, outcome, wb, db, total, flags, engine_s], counters


def hit_counts(workload: Workload, sizes, *, policy: str = "lru", warmup: int = 0,
               seed: int | None = None):
    """Hits of the read requests at each cache size, in the textbook model (no latencies).

    Requests are served one after another and a miss fills the whiteboard at once: what
    libCacheSim computes. Writes are left out. The first ``warmup`` reads fill the whiteboard
    but are not counted (for steady-state figures). Returns an int64 array, one per size.
    """
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
    check_keys(workload)
    v.choice("policy", policy, POLICIES)
    sizes = [v.capacity("sizes[]", int(s) if isinstance(s, np.integer) else s, workload.n_keys)
             for s in np.atleast_1d(sizes).tolist()]
    v.run_memory(workload, v.HIT_COUNTS_BYTES_PER_READ, v.ENGINE_BYTES_PER_KEY,
                 "the hit counts", "use fewer requests")
    keys = workload.keys if np.all(workload.ops == GET) else workload.keys[workload.ops == GET]
    warmup = v.nonnegative_int("warmup", warmup)
    if warmup >= len(keys):
        raise ValueError(f"warmup must be fewer than the {len(keys)} reads, got {warmup}")
    seed = resolve_seed(seed)
    rand = stream(seed, "policy").random(len(keys))
    return np.array([K.count_hits(keys, K.POLICY_CODES[policy], s, workload.n_keys, rand,
                                  warmup) for s in sizes], dtype=np.int64)


def steady_hit_ratio(workload: Workload, size: int, *, policy: str = "lru",
                     warmup: float = 0.5, seed: int | None = None) -> float:
    """Hit ratio of the reads after the first ``warmup`` share of them (the steady state)."""
    warmup = v.fraction("warmup", warmup)
    n_reads = int(np.sum(workload.ops == GET))
    skip = int(n_reads * warmup)
    hits = hit_counts(workload, [size], policy=policy, warmup=skip, seed=seed)[0]
    return float(hits / (n_reads - skip))
