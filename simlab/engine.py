"""The virtual-time engine: cache-aside over a workload, recorded request by request.

:func:`simulate` is the one entry point. The policy decides which model runs:

* a textbook policy (``lru``, ``lfu``, ``fifo``, ``random``, ``perfect-lfu``): a whiteboard of
  ``cache_size`` keys, the compiled hot loop of :mod:`simlab._kernels`;
* a Redis policy (``noeviction``, ``allkeys-lru``, ... ``volatile-ttl``): ``maxmemory`` bytes,
  sampling and the LFU counter as Redis runs them, the compiled model of
  :mod:`simlab._redis_kernels`.

``engine="reference"`` runs the same model in plain Python (:mod:`simlab.caches` and
:mod:`heapq`, or :class:`simlab.redis_cache.RedisCache`): the oracle the compiled engines are
tested against, request by request. Every run returns the table of :mod:`simlab.results`,
the same one a live run (:meth:`simlab.CacheAside.run`) returns.
"""
from __future__ import annotations

import heapq
import math
import numbers
import os
import sys
import threading
import time

import numpy as np

from . import _codes as C
from . import _validate as v
from ._aot import kernels
from ._draws import chunked, fillers
from ._random import resolve_seed, stream
from .caches import POLICIES, make_cache
from .latency import Constant, Distribution, Preset, preset
from .results import Flag, Outcome, Run, build_table, is_synthetic, key_name, warmup_cut
from .workloads import GET, Workload, check_keys


PARALLEL_DRAWS = 100_000
"""From this many requests on, a run's latency draws use two threads (see :class:`_Inputs`)."""


class _Worker(threading.Thread):
    """``fn(*args)`` in a thread started at once; :meth:`result` joins it and raises what it
    raised (one ``concurrent.futures`` future, without importing that package: 6 ms)."""

    def __init__(self, fn, *args):
        super().__init__(name="simlab-draws", daemon=True)
        self._call, self._error = (fn, args), None
        self.start()

    def run(self):
        fn, args = self._call
        try:
            fn(*args)
        except BaseException as exc:       # handed to the caller by result()
            self._error = exc

    def result(self):
        self.join()
        if self._error is not None:
            raise self._error


class _Inputs:
    """Everything drawn at random for one run, drawn once so both engines see the same; the
    uniforms of random eviction only for a policy that evicts at random (``uniforms``)."""

    def __init__(self, workload, whiteboard, filing_room, seed, uniforms=False):
        n = len(workload)

        def filing_room_draws(out):
            out.extend(_drawn(filing_room, stream(seed, "filing_room"), n, 1, "filing_room"))

        # The two streams are independent: with a second core, the filing room's draws run
        # beside the whiteboard's (NumPy fills arrays without the GIL), the same numbers a
        # third sooner. Small runs are not worth a thread, and a learner's own model is
        # always asked in this thread, whiteboard first (see simlab._draws.chunked).
        db, worker = [], None
        if (n >= PARALLEL_DRAWS and (os.cpu_count() or 1) > 1 and chunked(whiteboard)
                and chunked(filing_room)):
            worker = _Worker(filing_room_draws, db)
        wb_rng = stream(seed, "whiteboard")
        try:
            self.wb_get, self.wb_set = _drawn(whiteboard, wb_rng, n, 2, "whiteboard")
        finally:
            if worker is not None:
                worker.result()                  # joined even if the whiteboard's failed
        if worker is None:
            filing_room_draws(db)
        self.db = db[0]
        self.rand = stream(seed, "policy").random(n) if uniforms else np.empty(0)

    def columns(self, n):
        """The compiled engines' output columns (:func:`_columns`), the whiteboard, filing
        room and total columns written over this run's draws where it can: ``wb_get``,
        ``db`` and ``wb_set`` (request ``i``'s entry is written after its draws are read).

        Fresh memory costs a page fault per 4 KB on first write: 12-15 ms of a
        million-request run's kernel here (a quarter of its time); the draws' pages are
        already there. Only arrays this run made and nobody else holds are written over
        (the draws are in arrays of the run's own: :func:`_drawn` copies what a learner's
        model returned, which it may keep), distinct, float64, contiguous and writeable;
        anything else gets a fresh column. After that the draws are spent: the engine no
        longer reads them.

        "Nobody else holds" is checked, not assumed: the array owns its memory (no ``base``)
        and its only reference is this object's attribute (``sys.getrefcount``: the
        attribute and the call's own argument), as NumPy proves a temporary its own."""
        start, outcome, wb, db, total, flags = _columns(n, latencies=False)
        seen = set()

        def reuse(arr):
            if (isinstance(arr, np.ndarray) and arr.base is None
                    and sys.getrefcount(arr) <= 3       # the attribute, arr, the argument
                    and arr.dtype == np.float64 and arr.shape == (n,)
                    and arr.flags.c_contiguous and arr.flags.writeable
                    and id(arr) not in seen):
                seen.add(id(arr))
                return arr
            return np.empty(n)

        wb = reuse(self.wb_get)
        db = reuse(self.db)
        total = reuse(self.wb_set)
        return start, outcome, wb, db, total, flags


def _drawn(model, rng, n, count, what):
    """``count`` arrays of ``n`` draws of ``model`` from ``rng``, one after another (the
    numbers ``model.sample(n, rng)`` returns each time), in arrays of this run's own: a
    model's own array (a learner's model may keep what it returned) is copied, never
    written over."""
    arrays = []
    for fill in fillers(model, rng, n, count, what):
        arrays.append(np.empty(n))
        fill(arrays[-1])
    return arrays


def _latency_model(name, value):
    if isinstance(value, str):
        return preset(value, what=name)
    if isinstance(value, (Distribution, Preset)):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return Constant(v.seconds(name, float(value), allow_zero=True))    # NumPy's too
    raise TypeError(f"{name} must be a latency model, a preset name or a number of seconds, "
                    f"got {value!r}")


def _check_workload(workload):
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
    check_keys(workload)     # the compiled loops index by key id without bounds checks


def _columns(n, latencies=True):
    """The engine's output columns, preallocated: start, outcome, whiteboard, filing room,
    total latency, flags (the three latency columns None without ``latencies``: see
    :meth:`_Inputs.columns`)."""
    latency = (lambda: np.empty(n)) if latencies else (lambda: None)
    return (np.empty(n), np.empty(n, dtype=np.int8), latency(), latency(), latency(),
            np.zeros(n, dtype=np.int8))


def _latency_repr(model):
    return repr(model.model if isinstance(model, Preset) else model)


def _params(workload, *, model, engine, policy, whiteboard, filing_room, seed, atomic,
            ttl_mode="fixed", **settings):
    """The ``attrs`` of a simulated table (see :data:`simlab.results.ATTRS`)."""
    return {"source": "simulation", "model": model, "engine": engine,
            "whiteboard_backend": ("simlab's Redis model" if model == "redis" else
                                   "simlab's textbook model") + " (virtual time)",
            "filing_room_backend": "simulated (latency model)",
            "whiteboard": _latency_repr(whiteboard), "filing_room": _latency_repr(filing_room),
            "policy": policy, "ttl_mode": ttl_mode, "atomic": atomic,
            "sequential": workload.times is None,
            "clock": "back-to-back" if workload.times is None else "virtual", "seed": seed,
            "workload": dict(workload.params), **settings}


def _atomic(atomic, filing_room) -> bool:
    """Whether a miss fills at its own start. Default: only with a constant filing room of 0
    (the documented rule "0: a miss fills at once", whatever the whiteboard's latency)."""
    if atomic is None:
        return isinstance(filing_room, Constant) and filing_room.value == 0
    if not isinstance(atomic, bool):
        raise TypeError(f"atomic must be True, False or None, got {atomic!r}")
    return atomic


TTL_MODES = ("fixed", "sliding")
ENGINES = ("fast", "reference")
REDIS_DEFAULTS = {"samples": 5, "lfu_log_factor": 10, "lfu_decay_time": 1}


def _redis_policies():
    from .redis_cache import REDIS_POLICIES   # imported on first use (CLI start-up)
    return REDIS_POLICIES


def model_of(policy) -> str:
    """``"textbook"`` or ``"redis"``: which model :func:`simulate` runs for ``policy``."""
    redis = _redis_policies()
    if policy in POLICIES:
        return "textbook"
    if policy in redis:
        return "redis"
    raise ValueError(f"policy must be one of {', '.join(POLICIES)} (the textbook model, "
                     f"cache_size in keys) or {', '.join(redis)} (the Redis model, maxmemory "
                     f"in bytes); got {policy!r}")


def _not_for(name, value, policy, model):
    """Refuse a parameter that the model of ``policy`` does not take."""
    if model == "textbook":
        rule = {"maxmemory": "(a limit in bytes) applies to the Redis policies ({redis}); the "
                             "policy {policy} takes cache_size, in keys",
                "key_names": "(what a key's name costs in bytes) applies to the Redis "
                             "policies ({redis}), not to {policy}"}.get(
            name, "applies to the Redis policies ({redis}), not to {policy}")
    else:
        rule = {"cache_size": "is a capacity in keys for the textbook policies ({textbook}); "
                              "the Redis policy {policy} takes maxmemory, in bytes",
                "ttl_mode": "must be 'fixed' for the Redis policies (the Redis model keeps a "
                            "key's TTL from its SET; sliding TTLs are simulated for "
                            "{textbook})"}[name]
    rule = rule.format(redis=", ".join(_redis_policies()), textbook=", ".join(POLICIES),
                       policy=policy)
    raise ValueError(f"{name} {rule}; got {name}={value!r}")


def simulate(workload: Workload, *, policy: str = "lru", cache_size: int | None = None,
             maxmemory: int | None = None, samples: int | None = None,
             lfu_log_factor: float | None = None, lfu_decay_time: float | None = None,
             whiteboard="redis-loopback", filing_room="postgres-indexed",
             ttl_mode: str = "fixed", atomic: bool | None = None, key_names=None,
             seed: int | None = None, engine: str = "fast", table: bool = True):
    """Simulate cache-aside over ``workload`` in virtual time.

    Parameters
    ----------
    workload : Workload
        From :func:`simlab.zipf`, :func:`simlab.hot_set` or :func:`simlab.read_trace`.
    policy : str
        Which key leaves when the whiteboard is full, and so which model runs. A textbook
        policy, ``lru``, ``lfu``, ``fifo``, ``random`` or ``perfect-lfu``: a whiteboard of
        ``cache_size`` keys. A Redis policy, ``noeviction``, ``allkeys-lru``, ``allkeys-lfu``,
        ``allkeys-random``, ``volatile-lru``, ``volatile-lfu``, ``volatile-random`` or
        ``volatile-ttl``: ``maxmemory`` bytes, as Redis runs it (sampling, the eviction pool,
        the LFU counter, the per-key memory model).
    cache_size : int
        Textbook policies only (required): capacity in keys (> 0).
    maxmemory : int
        Redis policies only (required): bytes for the data set (a real server's setting less
        an empty server's usage); 0 means no limit, as ``maxmemory 0`` does in redis.conf.
    samples, lfu_log_factor, lfu_decay_time
        Redis policies only: as in redis.conf (``maxmemory-samples``, 1 to 64, default 5;
        ``lfu-log-factor``, default 10; ``lfu-decay-time`` in minutes, default 1).
    whiteboard, filing_room : latency model, preset name or seconds
        Latency of one whiteboard round trip and of one filing-room query. A number means a
        constant (a filing room of 0: a miss fills the whiteboard at once, see ``atomic``).
    ttl_mode : {"fixed", "sliding"}
        ``fixed``: a key's TTL runs from its fill; ``sliding`` (textbook policies): every hit
        restarts it.
    atomic : bool, optional
        True: the server does each request in one step (GET, and SET on a miss, as a Lua
        script or a single command does): a miss fills the key at the request's own start, so
        no request ever finds a fill in flight; latencies are still drawn and reported.
        False: the fill lands when the filing room answered (``start + whiteboard + filing
        room``), and requests that overlap it miss too. Default (None): True exactly when
        ``filing_room`` is the constant 0. Under a Redis policy, an atomic fill is the SET of
        a script: eviction runs once before it, and it is refused only if that eviction could
        not get below the limit (a plain SET is refused whenever memory stays above it).
    key_names : sequence of str, optional
        Redis policies only: the name stored for each key id (its length is what the key
        costs in bytes). Default: :func:`simlab.results.key_name` of each key
        (``key:%08d`` for synthetic workloads, ``key:<label>`` for traces).
    seed : int, optional
        Seed for latencies, random eviction and sampling; stored in ``df.attrs``.
    engine : {"fast", "reference"}
        ``fast``: compiled; ``reference``: the same model in plain Python, step by step (slow;
        the oracle of the tests). Both give the same table request by request.
    table : bool
        False: return the run as arrays (a :class:`simlab.results.Run`, which
        :func:`simlab.summarize` reads too) instead of the table, without building it or
        importing pandas (what the ``simlab simulate`` command does).

    Returns
    -------
    pandas.DataFrame
        One row per request: ``time``, ``key``, ``op``, ``outcome``, ``whiteboard_latency``,
        ``filing_room_latency``, ``latency`` (seconds), ``inflight``, ``expired``; the
        parameters, seed and counters in ``df.attrs`` (every key of
        :data:`simlab.results.ATTRS`). See :func:`simlab.summarize`.
    """
    if not isinstance(table, bool):
        raise TypeError(f"table must be True (the per-request table) or False (the run as "
                        f"arrays), got {table!r}")
    run = _run(workload, policy=policy, cache_size=cache_size, maxmemory=maxmemory,
               samples=samples, lfu_log_factor=lfu_log_factor, lfu_decay_time=lfu_decay_time,
               whiteboard=whiteboard, filing_room=filing_room, ttl_mode=ttl_mode,
               atomic=atomic, key_names=key_names, seed=seed, engine=engine)
    return build_table(workload, *run) if table else run


def _run(workload, *, policy, cache_size, maxmemory, samples, lfu_log_factor, lfu_decay_time,
         whiteboard, filing_room, ttl_mode, atomic, key_names, seed, engine) -> Run:
    """:func:`simulate`'s run, as arrays."""
    _check_workload(workload)
    model = model_of(policy)
    v.choice("engine", engine, ENGINES)
    if model == "textbook":
        for name, value in (("maxmemory", maxmemory), ("samples", samples),
                            ("lfu_log_factor", lfu_log_factor),
                            ("lfu_decay_time", lfu_decay_time), ("key_names", key_names)):
            if value is not None:
                _not_for(name, value, policy, model)
        if cache_size is None:
            raise TypeError(f"cache_size must be a positive integer (the whiteboard's "
                            f"capacity in keys) for the policy {policy}, got None")
        return _simulate_textbook(workload, policy, cache_size, whiteboard, filing_room,
                                  ttl_mode, atomic, seed, engine)
    if cache_size is not None:
        _not_for("cache_size", cache_size, policy, model)
    if ttl_mode != "fixed":
        _not_for("ttl_mode", ttl_mode, policy, model)
    if maxmemory is None:
        raise TypeError(f"maxmemory must be a non-negative integer of bytes for the Redis "
                        f"policy {policy}, got None")
    given = {"samples": samples, "lfu_log_factor": lfu_log_factor,
             "lfu_decay_time": lfu_decay_time}
    settings = {k: REDIS_DEFAULTS[k] if val is None else val for k, val in given.items()}
    maxmemory = v.nonnegative_int("maxmemory", maxmemory) or None     # 0: no limit
    return _simulate_redis(workload, policy, maxmemory, whiteboard=whiteboard,
                           filing_room=filing_room, atomic=atomic, key_names=key_names,
                           seed=seed, engine=engine, **settings)


def _simulate_textbook(workload, policy, cache_size, whiteboard, filing_room, ttl_mode,
                       atomic, seed, engine):
    cache_size = v.capacity("cache_size", cache_size, workload.n_keys)
    v.run_memory(workload, v.TABLE_BYTES_PER_REQUEST, v.ENGINE_BYTES_PER_KEY,
                 "the per-request table", "use hit_counts (no table) or fewer requests")
    v.choice("ttl_mode", ttl_mode, TTL_MODES)
    whiteboard = _latency_model("whiteboard", whiteboard)
    filing_room = _latency_model("filing_room", filing_room)
    seed = resolve_seed(seed)
    atomic = _atomic(atomic, filing_room)
    n = len(workload)
    sliding = ttl_mode == "sliding"
    params = dict(model="textbook", engine=engine, policy=policy, whiteboard=whiteboard,
                  filing_room=filing_room, seed=seed, atomic=atomic, ttl_mode=ttl_mode,
                  cache_size=cache_size, oom_errors=0)
    if engine == "fast" and policy == "lru" and workload.times is not None:
        tic = time.perf_counter()
        columns = _lru_run(workload, whiteboard, filing_room, seed, cache_size, sliding,
                           atomic)
        return Run(*columns, _params(workload, **params), time.perf_counter() - tic)
    inputs = _Inputs(workload, whiteboard, filing_room, seed, uniforms=policy == "random")
    tic = time.perf_counter()
    if engine == "fast":
        start, outcome, wb, db, total, flags = columns = inputs.columns(n)
        sequential = workload.times is None
        arrivals = np.zeros(1) if sequential else workload.times
        ttls = workload.ttls
        if np.all(np.isnan(ttls)):
            ttls = np.full(1, np.nan)
        keys, ops, arrivals, ttls = (np.ascontiguousarray(a) for a in (
            workload.keys, workload.ops, arrivals, ttls))      # as the kernels take them
        counters = kernels().cache_aside(
            keys, ops, arrivals, sequential, ttls, inputs.wb_get,
            inputs.wb_set, inputs.db, inputs.rand, C.POLICY_CODES[policy], cache_size,
            workload.n_keys, n + 1, sliding, atomic, start, outcome, wb, db, total, flags)
        columns = (*columns, counters)
    else:
        uniforms = iter(inputs.rand.tolist())

        class _Draws:
            def random(self):
                return next(uniforms)

        cache = make_cache(policy, cache_size, rng=_Draws())
        columns = _event_loop(workload, cache, inputs, sliding=sliding, atomic=atomic)
    engine_s = time.perf_counter() - tic
    return Run(*columns, _params(workload, **params), engine_s)


LRU_CHUNK = 1 << 16
"""Requests per chunk of :func:`_lru_run`'s pipeline."""
LRU_FIRST_CHUNK = 1 << 13
"""Requests in the pipeline's first chunk (the loop waits for it)."""
LRU_EVENTS = 1024
"""The first room for events in flight in :func:`_lru_run` (doubled whenever full)."""


class _Columns:
    """Memory for the LRU pipeline's six columns, kept for the next run once nothing holds
    it any more.

    A million requests' columns are 34 MB, and fresh memory costs a page fault per 4 KB (0.5
    ms a megabyte on a virtual machine, ~17 ms of CPU a run, a third of the run's work) each
    time the allocator hands out pages it took back from the process meanwhile, which other
    work between two runs (a plot, another model) makes likely. So one block holds a run's
    columns, as views, and this keeps the last few blocks (at most :data:`KEEP_BYTES`): a
    block whose views are all gone (``sys.getrefcount``: only the list, the loop and the
    call hold it) is handed to the next run of the same size, its pages already there."""

    KEEP_BYTES = 64 * 2 ** 20

    def __init__(self):
        self.lock = threading.Lock()
        self.kept: list = []

    def take(self, n):
        """start, outcome, wb, db, total, flags for ``n`` requests: views of one block, whose
        contents are left as they are (the pipeline writes every entry)."""
        nbytes = 34 * n
        with self.lock:
            block = None
            for held in self.kept:
                if held.nbytes == nbytes and sys.getrefcount(held) <= 3:
                    block = held
                    break
            if block is None:
                block = np.empty(nbytes, dtype=np.uint8)
                if nbytes <= self.KEEP_BYTES:
                    self.kept.append(block)
                    while sum(b.nbytes for b in self.kept) > self.KEEP_BYTES:
                        self.kept.pop(0)
            floats = block[:32 * n].view(np.float64)
            columns = (floats[:n], block[32 * n:33 * n].view(np.int8), floats[n:2 * n],
                       floats[2 * n:3 * n], floats[3 * n:], block[33 * n:].view(np.int8))
        return columns


_columns_kept = _Columns()


class _Progress:
    """How many chunks each stage of :func:`_lru_run` has done, and the first error any
    stage raised (every stage waiting on another then raises it, so none waits forever)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.done = {"draws": 0, "loop": 0, "ended": 0}
        self.error = None

    def advance(self, stage):
        with self.cond:
            self.done[stage] += 1
            self.cond.notify_all()

    def wait(self, stage, chunks, errors=True):
        """Until ``stage`` has done ``chunks``; with ``errors``, raise the first error of any
        stage as soon as there is one."""
        with self.cond:
            while self.done[stage] < chunks and (self.error is None or not errors):
                self.cond.wait()
            if errors and self.error is not None:
                raise self.error

    def fail(self, error):
        with self.cond:
            if self.error is None:
                self.error = error
            self.cond.notify_all()


def _join(worker, progress):
    """Wait for ``worker`` to end. A Ctrl-C (or any error) while waiting stops it at its next
    step, and is raised once it has ended: no thread outlives the call, writing columns.

    Waited for through ``progress``, not ``Thread.join``: a join interrupted by Ctrl-C may
    leave the thread marked as stopped while it runs (Python 3.11), and a second join then
    returns at once."""
    interrupted = None
    while True:
        try:
            progress.wait("ended", 1, errors=False)
            break
        except BaseException as exc:         # noqa: PERF203 (a Ctrl-C while waiting)
            progress.fail(exc)
            interrupted = interrupted or exc
    worker.join()
    if interrupted is not None:
        raise interrupted


def _lru_run(workload, whiteboard, filing_room, seed, capacity, sliding, atomic):
    """The fast engine's run for the LRU policy and requests at their arrival times: the
    same columns and counters as ``cache_aside`` with the draws of :class:`_Inputs`, from
    :func:`simlab._kernels.lru_cache_aside`.

    From :data:`PARALLEL_DRAWS` requests on, with a second core, it is a pipeline over
    chunks of :data:`LRU_CHUNK` requests. A second thread draws each chunk's latencies, the
    whiteboard's GET and the filing room's, then the whiteboard's SET latencies chunk by
    chunk, adding up each chunk's whiteboard and total latencies once the loop is past it;
    this thread runs the loop on each chunk as soon as its draws are there. Two threads, one
    per core: with a third (one per stream), the loop, the longest of the three, lost its
    core to the draws. Each stream gives the numbers it gives unchunked, so the table is the
    same either way."""
    n = len(workload)
    k = kernels()
    start, outcome, wb, db, total, flags = _columns_kept.take(n)
    fill_get, fill_set = fillers(whiteboard, stream(seed, "whiteboard"), n, 2, "whiteboard")
    (fill_db,) = fillers(filing_room, stream(seed, "filing_room"), n, 1, "filing_room")
    # a small first chunk: the loop starts sooner
    bounds = [0] + list(range(min(LRU_FIRST_CHUNK, LRU_CHUNK, n), n, LRU_CHUNK)) + [n]
    chunks = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    threaded = (n >= PARALLEL_DRAWS and (os.cpu_count() or 1) > 1 and chunked(whiteboard)
                and chunked(filing_room))        # a learner's model: asked in this thread
    progress = _Progress()

    def draws():
        try:
            for lo, hi in chunks:
                if progress.error is not None:          # the loop stopped: so do the draws
                    return
                fill_get(wb[lo:hi])
                fill_db(db[lo:hi])
                progress.advance("draws")
            for c, (lo, hi) in enumerate(chunks):
                fill_set(total[lo:hi])
                progress.wait("loop", c + 1)
                k.lru_latencies(lo, hi, outcome, wb, db, total)
        except BaseException as exc:        # the loop stops too, and the caller gets it
            progress.fail(exc)
            raise
        finally:
            progress.advance("ended")

    worker = _Worker(draws) if threaded else None
    try:
        # the loop's state, made while the first chunk is drawn
        n_keys = workload.n_keys
        lru = np.full(4 * (n_keys + 1), -1, dtype=np.int32)
        lru[2::4] = 0                                   # no fill in flight
        lru[4 * n_keys:4 * n_keys + 2] = n_keys         # the list's head: an empty list
        expire = np.empty(n_keys)
        heap = [np.empty(LRU_EVENTS), np.empty(LRU_EVENTS, dtype=np.int64)]
        state = np.zeros(C.LRU_STATE, dtype=np.int64)
        ttls = workload.ttls
        if np.all(np.isnan(ttls)):
            ttls = np.full(1, np.nan)
        keys, ops, arrivals, ttls = (np.ascontiguousarray(a) for a in (
            workload.keys, workload.ops, workload.times, ttls))

        def loop(lo, hi):
            at = lo
            while True:
                at = k.lru_cache_aside(at, hi, keys, ops, arrivals, ttls, wb, db, sliding,
                                       atomic, outcome, flags, lru, expire, heap[0], heap[1],
                                       state, capacity, n_keys)
                if at == hi:
                    return
                for j, dtype in enumerate((np.float64, np.int64)):   # full: twice the room
                    grown = np.empty(2 * heap[j].shape[0], dtype=dtype)
                    grown[:heap[j].shape[0]] = heap[j]
                    heap[j] = grown

        if worker is None:
            fill_get(wb)
            fill_set(total)
            fill_db(db)
            start[:] = arrivals
            loop(0, n)
        else:
            for c, (lo, hi) in enumerate(chunks):
                progress.wait("draws", c + 1)
                loop(lo, hi)
                progress.advance("loop")
                start[lo:hi] = arrivals[lo:hi]      # each request starts on arrival
        k.lru_apply(keys, ops, ttls, lru, expire, heap[0], heap[1], state, capacity, n_keys,
                    np.inf)
        if worker is None:
            k.lru_latencies(0, n, outcome, wb, db, total)
    except BaseException as exc:
        progress.fail(exc)
        raise
    finally:
        if worker is not None:
            _join(worker, progress)
    if worker is not None:
        worker.result()                     # its error, if it raised one
    counters = np.array([state[C.LRU_EVICTIONS], state[C.LRU_EXPIRED], state[C.LRU_INFLIGHT],
                         state[C.LRU_FILLS], state[C.LRU_COUNT]], dtype=np.int64)
    return start, outcome, wb, db, total, flags, counters


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
        if kind == C.EV_FILL:
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
                outcome[i], wb[i], db[i], total[i] = Outcome.HIT, w, 0.0, w
                if sliding and not math.isnan(workload.ttls[i]):
                    cache.expire_at[name_of(key)] = t + float(workload.ttls[i])
            else:
                if cache.expired > expired_before:
                    flags[i] |= Flag.EXPIRED
                if pending.get(key, 0) > 0:
                    flags[i] |= Flag.INFLIGHT
                    inflight += 1
                d = inputs.db[i]
                ttl = float(workload.ttls[i])
                if atomic:   # the same order as a fill event at t: before any later event
                    cache.put(name_of(key), t, None if math.isnan(ttl) else ttl,
                              int(workload.sizes[i]), **(fill_kwargs or {}))
                    fills += 1
                else:
                    heapq.heappush(events, (t + w + d, seq, C.EV_FILL, key, ttl,
                                            int(workload.sizes[i])))
                    seq += 1
                    pending[key] = pending.get(key, 0) + 1
                outcome[i], wb[i], db[i] = Outcome.MISS, w + inputs.wb_set[i], d
                total[i] = w + d + inputs.wb_set[i]
        else:
            d = inputs.db[i]
            heapq.heappush(events, (t + d, seq, C.EV_INVALIDATE, key, math.nan, 0))
            seq += 1
            outcome[i], wb[i], db[i] = Outcome.WRITE, inputs.wb_set[i], d
            total[i] = d + inputs.wb_set[i]
        start[i] = t
        if workload.times is None:
            clock = t + total[i]
    while events:
        apply(heapq.heappop(events))
    counters = np.array([cache.evictions, cache.expired, inflight, fills, len(cache)])
    return start, outcome, wb, db, total, flags, counters


def simulate_reference(workload: Workload, *, policy: str = "lru", cache_size=None,
                       **kwargs):
    """:func:`simulate` with ``engine="reference"``: the same model in plain Python (slow;
    the oracle of the tests, not part of the top-level API)."""
    return simulate(workload, policy=policy, cache_size=cache_size, engine="reference",
                    **kwargs)


def _simulate_redis(workload, policy, maxmemory, *, samples, lfu_log_factor, lfu_decay_time,
                    whiteboard, filing_room, atomic, key_names, seed, engine):
    """The Redis model over a checked workload (``maxmemory`` None: no limit)."""
    from .redis_cache import RedisCache

    v.redis_value_sizes(workload)
    if maxmemory is not None:
        maxmemory = v.nonnegative_int("maxmemory", maxmemory)
    samples = v.samples("samples", samples)
    lfu_log_factor = v.nonnegative_real("lfu_log_factor", lfu_log_factor)
    lfu_decay_time = v.nonnegative_real("lfu_decay_time", lfu_decay_time)
    v.run_memory(workload, v.REDIS_MODEL_BYTES_PER_REQUEST, v.REDIS_MODEL_BYTES_PER_KEY,
                 "the Redis model's table and keys", "use fewer requests or keys")
    whiteboard = _latency_model("whiteboard", whiteboard)
    filing_room = _latency_model("filing_room", filing_room)
    seed = resolve_seed(seed)
    cache = RedisCache(policy, maxmemory, samples=samples, lfu_log_factor=lfu_log_factor,
                       lfu_decay_time=lfu_decay_time, rng=seed)
    atomic = _atomic(atomic, filing_room)
    inputs = _Inputs(workload, whiteboard, filing_room, seed)
    if key_names is not None:
        if isinstance(key_names, str):
            raise TypeError(f"key_names must be a sequence of names, one per key id, got "
                            f"{key_names!r}")
        names = [str(name) for name in key_names]
        if len(names) != workload.n_keys:
            raise ValueError(f"key_names must give one name per key id ({workload.n_keys}), "
                             f"got {len(names)}")
    elif is_synthetic(workload):
        names = None      # key:%08d, built only where the reference needs them
    else:
        names = [key_name(str(label)) for label in workload.key_names]
    if engine == "fast" and (names is None or len(set(names)) == len(names)):
        columns, counters = _redis_fast(workload, cache, inputs, names, atomic)
        engine_s = columns.pop()
        oom_errors, bytes_at_end = int(counters[5]), int(counters[6])
        columns = (*columns, counters[:5])
    else:
        engine = "reference"
        if names is None:
            names = [key_name(k) for k in range(workload.n_keys)]
        tic = time.perf_counter()
        columns = _event_loop(workload, cache, inputs, names, atomic=atomic,
                              fill_kwargs={"in_script": True})
        engine_s = time.perf_counter() - tic
        oom_errors, bytes_at_end = cache.oom_errors, cache.used_memory
    params = _params(workload, model="redis", engine=engine, policy=policy,
                     whiteboard=whiteboard, filing_room=filing_room, seed=seed, atomic=atomic,
                     maxmemory=maxmemory, samples=samples, lfu_log_factor=lfu_log_factor,
                     lfu_decay_time=lfu_decay_time, oom_errors=oom_errors,
                     bytes_at_end=bytes_at_end)
    return Run(*columns, params, engine_s)


def _redis_fast(workload, cache, inputs, names, atomic):
    """The Redis model's loop, compiled: the columns (engine seconds last) and the
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
    # A limit past 2**63 - 1 bytes (Redis takes up to 2**64 - 1) is never reached: the
    # compiled model's int64 holds it as its largest value, with the same evictions (none).
    st, fa = RK.new_state(REDIS_POLICIES.index(cache.policy),
                          RK.NO_LIMIT if cache.maxmemory is None else
                          min(cache.maxmemory, np.iinfo(np.int64).max),
                          cache.samples, float(cache.lfu_log_factor),
                          float(cache.lfu_decay_time), workload.n_keys,
                          state - (1 << 64) if state >= 1 << 63 else state)
    start, outcome, wb, db, total, flags = inputs.columns(n)
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
    libCacheSim computes. Writes are left out. The first ``warmup`` requests (a number of
    requests, as everywhere in simlab) fill the whiteboard but their hits are not counted
    (for steady-state figures). Returns an int64 array, one per size.
    """
    _check_workload(workload)
    v.choice("policy", policy, POLICIES)
    sizes = [v.capacity("sizes[]", int(s) if isinstance(s, np.integer) else s, workload.n_keys)
             for s in np.atleast_1d(sizes).tolist()]
    v.run_memory(workload, v.HIT_COUNTS_BYTES_PER_READ, v.ENGINE_BYTES_PER_KEY,
                 "the hit counts", "use fewer requests")
    warmup = v.nonnegative_int("warmup", warmup)
    if warmup >= len(workload):
        raise ValueError(f"warmup must be fewer than the {len(workload):,} requests, got "
                         f"{warmup}")
    reads = workload.ops == GET
    keys = workload.keys if np.all(reads) else workload.keys[reads]
    skip = int(np.count_nonzero(reads[:warmup]))     # the reads among the first requests
    seed = resolve_seed(seed)
    rand = stream(seed, "policy").random(len(keys))
    from . import _kernels as K

    return np.array([K.count_hits(keys, C.POLICY_CODES[policy], s, workload.n_keys, rand,
                                  skip) for s in sizes], dtype=np.int64)


def steady_hit_ratio(workload: Workload, size: int, *, policy: str = "lru",
                     warmup: int | None = None, warmup_share: float | None = None,
                     seed: int | None = None) -> float:
    """Hit ratio of the reads after the first ``warmup`` requests (the steady state), or
    after the first ``warmup_share`` of them (default: half)."""
    _check_workload(workload)
    cut = warmup_cut(len(workload), warmup, warmup_share, default_share=0.5)
    n_reads = int(np.count_nonzero(workload.ops[cut:] == GET))
    if n_reads == 0:
        raise ValueError(f"the workload has no read after the first {cut:,} requests "
                         "(warmup): nothing to measure")
    hits = hit_counts(workload, [size], policy=policy, warmup=cut, seed=seed)[0]
    return float(hits / n_reads)
