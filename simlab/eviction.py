"""Eviction experiments, each written once against a redis-py client and run on simlab's Redis
model (``model://``), on a private real ``redis-server``, or both.

Every experiment has two parts: a body that takes a redis-py client and a clock (the wall
clock for a real server, where waiting means sleeping; a virtual clock on ``model://``, where
waiting means ``clock.advance``), and a thin driver, :func:`run_on`, that opens a fresh server
for each source, runs the body, and returns one long table with a ``source`` column
(``"model"``, ``"real"``). So a learner without a ``redis-server`` binary runs the same Redis
commands (CONFIG SET, SET, MGET, INFO, OBJECT FREQ...) against the model.

* :func:`batch_survival`: write batches of keys a second apart (in age: RESTORE ... IDLETIME),
  freeze ``maxmemory`` at the usage, write new keys, and see what share of each batch
  survives. True LRU
  (:func:`true_lru_survival`, a theory line) keeps exactly the newest batches; Redis's sampled
  LRU keeps a blurred version of that.
* :func:`cache_aside`: a cache-aside workload, pipelined batch by batch; hit ratios, keys and
  bytes at the end, request by request.
* :func:`replay`: a workload replayed request for request (each read one Lua step, or plain
  GETs then SETs), as fast as the server answers or paced; :func:`compare_replay` sums it up.
* :func:`fill_until_oom`, :func:`memory_per_key`, :func:`lfu_counter_after`,
  :func:`scan_experiment`.

When both sources run, the real server goes first and the model replays its requests at the
times they were really sent, so both see the same LRU clock.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd

from . import _validate as v
from .redis_cache import REDIS_POLICIES
from .results import key_name as _key_name

SOURCES = ("model", "real", "both")
#: Requests a second at which a run without times or a rate is paced on the virtual clock
#: (about what a private redis-server answers here in pipelined batches of 100).
VIRTUAL_RATE = 20_000.0


def key_name(i: int) -> str:
    """The name under which key id ``i`` is stored in these experiments (12 bytes): the one
    format of :func:`simlab.results.key_name`."""
    return _key_name(i)


# --- the driver: one body, run on the model, a real server, or both ------------------------

def sources(source: str) -> tuple:
    """The sources ``source`` names, in the order they run (``"both"``: real, then model)."""
    v.choice("source", source, SOURCES)
    return ("real", "model") if source == "both" else (source,)


def is_model(r) -> bool:
    """True when ``r`` is a client of a ``model://`` server."""
    from .live.model_server import ModelServer
    return isinstance(r.connection_pool.connection_kwargs.get("server"), ModelServer)


# where a seeded model:// run's virtual clock starts (seconds since the epoch: 2027-01-15)
VIRTUAL_START = 1_800_000_000.0


@contextlib.contextmanager
def open_server(source: str, config: dict | None = None, *, seed: int | None = 0):
    """``(client, clock)`` of a fresh, empty server: ``"model"`` is a ``model://`` server on
    a virtual clock (its draws seeded with ``seed``; seeded, the clock starts at
    :data:`VIRTUAL_START`), ``"real"`` a private ``redis-server`` on the wall clock, stopped
    afterwards. ``config``: settings it starts with (redis.conf names,
    such as ``{"maxmemory-policy": "allkeys-lru"}``; the experiments start their servers with
    their settings rather than CONFIG SET them: measured here, a real server switched to
    volatile-ttl at run time held a few percent more keys than one started with it, and the
    fidelity tolerances were set with started servers). Clients answer bytes."""
    from urllib.parse import urlencode

    v.choice("source", source, SOURCES[:2])
    config = dict(config or {})
    if source == "model":
        import fakeredis

        from .live.model_server import model_client
        options = {**config, "clock": "virtual"}
        if seed is not None:              # a seeded run repeats exactly: its clock too
            options["seed"] = v.nonnegative_int("seed", seed)
            options["start"] = VIRTUAL_START
        r = model_client(f"model://?{urlencode(options)}", fakeredis.FakeRedis,
                         decode_responses=False)
        try:
            yield r, r.clock
        finally:
            r.close()
        return
    from .clock import RealClock
    from .live.server import PrivateRedis
    with PrivateRedis(config) as server:
        r = server.client(decode_responses=False)
        try:
            yield r, RealClock()
        finally:
            r.close()


def run_on(source: str, body, *, config: dict | None = None, seed: int | None = 0,
           **kwargs) -> pd.DataFrame:
    """Run ``body(client, clock, **kwargs)`` on each source of ``source`` (a server started
    with ``config``, see :func:`open_server`) and stack the tables it returns, ``source``
    first. Each run's ``attrs`` go to ``attrs[source]``. The
    body also gets ``previous``: the table of the source that ran before it (the real run's,
    when both run), or None."""
    frames, attrs = [], {}
    for s in sources(source):
        previous = None
        if frames:                        # the run before, with its attrs
            previous = frames[-1].copy(deep=False)
            previous.attrs = dict(attrs[frames[-1]["source"].iat[0]])
        with open_server(s, config, seed=seed) as (r, clock):
            frame = body(r, clock, previous=previous, **kwargs)
        attrs[s] = dict(frame.attrs)
        frame = frame.copy()
        frame.attrs = {}
        frame.insert(0, "source", s)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.attrs = attrs
    return out


def configure(r, **settings) -> None:
    """CONFIG SET each setting (``maxmemory_policy="allkeys-lru"`` sets
    ``maxmemory-policy``)."""
    for name, value in settings.items():
        r.config_set(name.replace("_", "-"), value)


def used_memory(r) -> int:
    """``INFO memory`` ``used_memory``."""
    return int(r.info("memory")["used_memory"])


def _check_experiment(policy, samples):
    v.choice("policy", policy, REDIS_POLICIES)
    return v.samples("samples", samples)


def _start_config(policy, samples=5, lfu_log_factor=10, lfu_decay_time=1) -> dict:
    """The eviction settings a server starts with (redis.conf names)."""
    return {"maxmemory-policy": policy, "maxmemory-samples": samples,
            "lfu-log-factor": v.nonnegative_int("lfu_log_factor", lfu_log_factor),
            "lfu-decay-time": v.nonnegative_int("lfu_decay_time", lfu_decay_time)}


def _present(r, names, chunk: int = 1000) -> np.ndarray:
    """Which of ``names`` exist (MGET in chunks; run with no maxmemory, so looking does not
    evict)."""
    out = []
    for lo in range(0, len(names), chunk):
        out += [value is not None for value in r.mget(names[lo:lo + chunk])]
    return np.array(out, dtype=bool)


def dataset_bytes_of(r, policy: str) -> int:
    """The model's bytes for exactly the keys the server holds now (on a real server: SCAN,
    STRLEN, PTTL and MEMORY STATS; on ``model://``: the model's own count)."""
    from . import redis_memory as mem
    if is_model(r):
        from .live.model_server import server_of
        return int(server_of(r).model.used_memory)
    names = sorted(set(r.scan_iter(count=1000)))   # SCAN may repeat a key
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.strlen(name)
        pipe.pttl(name)
    answers = pipe.execute()
    ttl = np.array(answers[1::2])
    exists = ttl != -2          # a command may have evicted a key since SCAN saw it
    names = [n for n, keep in zip(names, exists) if keep]
    lengths = np.array(answers[0::2], dtype=np.int64)[exists]
    has_ttl = ttl[exists] >= 0
    shared_ok = not (policy.endswith("-lru") or policy.endswith("-lfu"))
    entries = sum(mem.entry_bytes(len(n), int(s), has_ttl=bool(t), shared_integers=shared_ok)
                  for n, s, t in zip(names, lengths, has_ttl))
    # The tables keep the size they grew to (they shrink only under 10% full), so read the
    # real bucket counts: MEMORY STATS reports 24 + 16 bytes per key plus 8 per bucket for the
    # main table, and 24 per key plus 8 per bucket for the expires table.
    stats = r.memory_stats().get("db.0", {})
    n, n_ttl = len(names), int(has_ttl.sum())
    main = stats.get(b"overhead.hashtable.main", stats.get("overhead.hashtable.main"))
    expires = stats.get(b"overhead.hashtable.expires", stats.get("overhead.hashtable.expires"))
    buckets = (mem.table_size(n) + mem.table_size(n_ttl) if main is None
               else (main - 40 * n) // 8 + (expires - 24 * n_ttl) // 8)
    return int(entries + mem.BUCKET * buckets)


def _finish(r, policy: str, base: int, evicted_before: int = 0) -> dict:
    """Keys, bytes and evictions at the end of a run; lifts ``maxmemory`` first (so that
    looking does not evict). ``other_bytes``: what the server holds beyond the model's bytes
    for its keys (a real server's client buffers; 0 on ``model://``)."""
    used = used_memory(r) - base
    r.config_set("maxmemory", 0)
    return {"keys": int(r.dbsize()), "bytes": int(used),
            "evictions": int(r.info("stats")["evicted_keys"]) - evicted_before,
            "other_bytes": int(used - dataset_bytes_of(r, policy))}


def _fill(r, names, value, *, ex=None, chunk: int = 100) -> list:
    """SET each name to ``value`` in pipelines of ``chunk`` (small pipelines: a real server's
    client buffers count against ``maxmemory``); the replies, errors included."""
    out = []
    for lo in range(0, len(names), chunk):
        pipe = r.pipeline(transaction=False)
        for name in names[lo:lo + chunk]:
            pipe.set(name, value, ex=ex)
        out += pipe.execute(raise_on_error=False)
    return out


# --- batch survival ---------------------------------------------------------------------------

def _batch_survival(r, clock, *, policy, samples, batches, batch_size, new_keys, value_size,
                    previous=None):
    value = b"x" * value_size
    base = used_memory(r)
    # Batch b is written as if b seconds after batch 0: every key goes in with RESTORE ...
    # IDLETIME, the age the server's one-second LRU clock would give it had the batches been
    # written a second apart (``objectSetLRUOrLFU``; an LFU policy ignores it and starts the
    # key's counter as SET does). Nobody waits, and a loaded machine cannot blur two batches
    # into one second.
    names = [key_name(i) for i in range(batches * batch_size)]
    r.set(names[0], value)
    payload = r.dump(names[0])
    for b in range(batches):
        _restore(r, names[b * batch_size:(b + 1) * batch_size], payload, idle=batches - b)
    r.config_set("maxmemory", _settled_memory(r, clock))
    _fill(r, [key_name(batches * batch_size + j) for j in range(new_keys)], value)
    end = _finish(r, policy, base)
    share = _present(r, names).reshape(batches, batch_size).mean(axis=1)
    out = pd.DataFrame({"policy": policy, "samples": samples, "batch": np.arange(batches),
                        "share": share})
    out.attrs.update({"kept_keys": end["keys"], "other_bytes": end["other_bytes"]})
    return out


def _settled_memory(r, clock, *, step: float = 0.15, limit: float = 3.0) -> int:
    """``used_memory`` once it holds still for ``step`` seconds (at most ``limit``).

    Keys written a second apart give a real server time to finish growing its hash table:
    the old and the new bucket arrays both count until ``serverCron`` has moved every bucket
    (a millisecond of work ten times a second, besides a step per command). Keys written at
    once leave both arrays in place for a moment (256 kB at 40,000 keys, room for 3,000 keys
    more once freed), so the freeze waits for the server to settle."""
    used, waited = used_memory(r), 0.0
    while waited < limit:
        clock.sleep(step)
        waited += step
        now = used_memory(r)
        if now == used:
            break
        used = now
    return used


def _restore(r, names, payload: bytes, *, idle: int, chunk: int = 100) -> None:
    """RESTORE each name from ``payload`` (a DUMP), ``idle`` seconds old, in pipelines of
    ``chunk`` (small, as :func:`_fill`'s: a real server's client buffers count in
    ``used_memory``)."""
    for lo in range(0, len(names), chunk):
        pipe = r.pipeline(transaction=False)
        for name in names[lo:lo + chunk]:
            pipe.restore(name, 0, payload, replace=True, idletime=idle)
        pipe.execute()


def batch_survival(policy: str = "allkeys-lru", samples: int = 5, *, batches: int = 8,
                   batch_size: int = 5000, new_keys: int = 20_000, value_size: int = 10,
                   source: str = "model", seed: int | None = 0) -> pd.DataFrame:
    """Share of each batch (oldest first) still present after the new keys were written.

    Batch ``b`` goes in as if written ``b`` seconds after batch 0 (RESTORE with IDLETIME
    ``batches - b``: its age on the server's one-second LRU clock, so nothing waits);
    ``maxmemory`` is then frozen at the usage and ``new_keys`` more keys are written (SET).
    ``source``: ``"model"`` (``model://``), ``"real"`` (a private redis-server) or ``"both"``.

    Returns
    -------
    DataFrame
        One row per source and batch: ``source``, ``policy``, ``samples``, ``batch``,
        ``share``. ``attrs[source]`` holds ``kept_keys`` and ``other_bytes`` (memory beyond
        the model's bytes for the keys kept: a real server's client buffers).
    """
    samples = _check_experiment(policy, samples)
    sizes = {name: v.positive_int(name, value) for name, value in (
        ("batches", batches), ("batch_size", batch_size), ("new_keys", new_keys),
        ("value_size", value_size))}
    return run_on(source, _batch_survival, config=_start_config(policy, samples), seed=seed,
                  policy=policy, samples=samples, **sizes)


def true_lru_survival(batches: int = 8, batch_size: int = 5000, new_keys: int = 20_000):
    """What exact LRU keeps: the newest batches, entirely (a theory line, no server)."""
    kept = batches * batch_size - new_keys
    survival = np.clip((np.arange(batches) + 1) * batch_size - (batches * batch_size - kept),
                       0, batch_size) / batch_size
    return pd.Series(survival, index=pd.RangeIndex(batches, name="batch"), name="true LRU")


# --- cache-aside, batch by batch --------------------------------------------------------------

def _schedule(workload, rate, clock_is_virtual, previous):
    """Seconds after the start at which each request goes out: the real run's send times when
    the model follows it, else ``rate``, else the workload's times, else (on the virtual
    clock) :data:`VIRTUAL_RATE`; None: as fast as the server answers."""
    if previous is not None:
        return previous["time"].to_numpy()
    n = len(workload.keys)
    if rate is not None:
        return np.arange(n) / rate
    if workload.times is not None:
        return workload.times - workload.times[0]
    return np.arange(n) / VIRTUAL_RATE if clock_is_virtual else None


def _ttls_ms(workload) -> np.ndarray:
    return np.where(np.isnan(workload.ttls), 0,
                    np.maximum(1, np.round(workload.ttls * 1000))).astype(np.int64)


def _paced_batches(n, batch, schedule, clock, sent):
    """``(lo, hi)`` of each batch of ``n`` requests, each sent no earlier than its time in
    ``schedule`` (None: at once); ``sent`` gets the time each batch went out (s since the
    first)."""
    t0 = clock.now()
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        if schedule is not None:
            wait = schedule[lo] - (clock.now() - t0)
            if wait > 0:
                clock.sleep(wait)
        sent[lo:hi] = clock.now() - t0
        yield lo, hi


def _cache_aside(r, clock, *, workload, policy, maxmemory, batch, rate, names, previous=None):
    # one batch of the run's shape, then an empty server: the connection's buffers reach
    # their working size before the empty usage is measured (they count against maxmemory)
    warm = [f"warm:{i}" for i in range(batch)]
    _fill(r, warm, b"x" * int(np.max(workload.sizes)), chunk=batch)
    r.mget(warm)
    r.flushall()
    base = used_memory(r)
    r.config_set("maxmemory", base + maxmemory)
    keys, sizes, ttls = workload.keys, workload.sizes, _ttls_ms(workload)
    schedule = _schedule(workload, rate, getattr(clock, "controllable", False), previous)
    n = len(keys)
    sent = np.empty(n)
    hits = np.zeros(n, dtype=bool)
    refused = 0
    for lo, hi in _paced_batches(n, batch, schedule, clock, sent):
        # the batch's reads (one MGET looks each key up as a GET does), then a SET for each
        # miss, as concurrent clients would: a key requested twice in one batch misses twice
        hits[lo:hi] = [value is not None for value in r.mget([names[k] for k in keys[lo:hi]])]
        pipe = r.pipeline(transaction=False)
        for i in range(lo, hi):
            if not hits[i]:
                pipe.set(names[keys[i]], b"x" * int(sizes[i]), px=int(ttls[i]) or None)
        refused += sum(isinstance(a, Exception) for a in pipe.execute(raise_on_error=False))
    out = pd.DataFrame({"time": sent, "key": keys, "hit": hits})
    out.attrs.update({"hit_ratio": float(hits.mean()), "oom_errors": int(refused),
                      "duration_s": float(sent[-1] - sent[0]), **_finish(r, policy, base)})
    return out


def cache_aside(workload, policy: str, maxmemory: int, *, samples: int = 5,
                lfu_log_factor: int = 10, lfu_decay_time: int = 1, batch: int = 100,
                rate: float | None = None, source: str = "model",
                seed: int | None = 0) -> pd.DataFrame:
    """A cache-aside workload against the model, a private real server, or both; one table.

    Requests go out in pipelined batches of ``batch``: first the batch's reads, then a SET
    (with the request's value size and TTL) for each miss. They are paced at ``rate``
    requests a second, else at the workload's arrival times; without either, a real server
    gets them as fast as it answers and the model at :data:`VIRTUAL_RATE`. With
    ``source="both"`` the model replays the batches at the times they were really sent.
    ``maxmemory`` is the bytes for the data set: the server's limit is its empty
    ``used_memory`` plus this. Keys are stored as ``key:<id>`` (:func:`key_name`).

    Returns
    -------
    DataFrame
        One row per source and request: ``source``, ``time`` (s since the start), ``key``,
        ``hit``. ``attrs[source]``: ``hit_ratio``, ``keys``, ``bytes``, ``evictions``,
        ``oom_errors`` (fills refused), ``other_bytes``, ``duration_s``.
    """
    samples = _check_experiment(policy, samples)
    maxmemory = v.positive_int("maxmemory", maxmemory)
    batch = v.positive_int("batch", batch)
    if rate is not None:
        rate = v.positive_real("rate", rate)
    names = [key_name(i) for i in range(int(workload.keys.max()) + 1)]
    out = run_on(source, _cache_aside, seed=seed,
                 config=_start_config(policy, samples, lfu_log_factor, lfu_decay_time),
                 workload=workload, policy=policy, maxmemory=maxmemory, batch=batch, rate=rate,
                 names=names)
    out.attrs.update({"policy": policy, "samples": samples, "maxmemory": maxmemory})
    return out


def by_source(table: pd.DataFrame, *names: str) -> pd.DataFrame:
    """The per-source figures of an experiment's ``attrs`` (``hit_ratio``, ``keys``...), one
    row per source."""
    rows = {s: a for s, a in table.attrs.items() if s in ("model", "real")}
    frame = pd.DataFrame(rows).T
    return frame[list(names)] if names else frame


# --- out of memory, bytes per key, the LFU counter, scans ---------------------------------------

def _fill_until_oom(r, clock, *, policy, limit, value_size, previous=None):
    import redis as redis_py

    r.config_set("maxmemory", used_memory(r) + limit)
    value = b"x" * value_size
    cap = 3 * limit // value_size + 1000        # an evicting policy never refuses: stop here
    written, error = 0, None
    while written < cap and error is None:
        replies = _fill(r, [key_name(i) for i in range(written, min(cap, written + 100))],
                        value)
        for reply in replies:
            if isinstance(reply, redis_py.exceptions.OutOfMemoryError):
                error = f"OOM {reply}"     # redis-py moves the "OOM" prefix into the type
                break
            if isinstance(reply, Exception):
                raise reply
            written += 1
    read_after = r.get(key_name(0)) == value
    return pd.DataFrame([{"written": written, "error": error, "read_after": read_after}])


def fill_until_oom(policy: str = "noeviction", limit: int = 200_000, value_size: int = 100,
                   *, source: str = "model") -> pd.DataFrame:
    """Write keys until the server refuses one (or three times ``limit`` in values went in);
    then try a read of the first key.

    ``limit`` is the bytes for the data set. One row per source: ``written`` (keys that went
    in), ``error`` (the refusal's text, None if none) and ``read_after``.
    """
    v.choice("policy", policy, REDIS_POLICIES)
    limit = v.positive_int("limit", limit)
    value_size = v.positive_int("value_size", value_size)
    return run_on(source, _fill_until_oom, config=_start_config(policy), policy=policy,
                  limit=limit, value_size=value_size)


def _memory_per_key(r, clock, *, value_sizes, n_keys, previous=None):
    rows = []
    names = [key_name(i) for i in range(n_keys)]
    for size in value_sizes:
        for ttl in (False, True):
            _fill(r, names[:100], b"x" * size)        # the buffers at their working size
            r.flushall()
            base = used_memory(r)
            _fill(r, names, b"x" * size, ex=3600 if ttl else None)
            grown = used_memory(r) - base
            rows.append({"value_bytes": size, "ttl": ttl,
                         "bytes_per_key": round(grown / n_keys, 1)})
            r.flushall()
    return pd.DataFrame(rows)


def memory_per_key(value_sizes=(10, 100, 1000), *, n_keys: int = 20_000,
                   source: str = "model") -> pd.DataFrame:
    """Bytes per key, with and without a TTL, for each value size: the growth of
    ``used_memory`` when ``n_keys`` keys (12-byte names) are written. One row per source,
    value size and TTL: ``source``, ``value_bytes``, ``ttl``, ``bytes_per_key``."""
    n_keys = v.positive_int("n_keys", n_keys)
    sizes = [v.positive_int("value_sizes[]", size) for size in value_sizes]
    return run_on(source, _memory_per_key, value_sizes=sizes, n_keys=n_keys)


def _lfu_counter(r, clock, *, accesses, runs, previous=None):
    names = [f"hot:{run}" for run in range(runs)]       # one key per run
    for name in names:
        r.set(name, b"x" * 10)
    table = np.empty((runs, len(accesses)))
    done = 0
    for j, target in enumerate(accesses):
        todo = target - done
        pipe = r.pipeline(transaction=False)
        for name in names:
            for lo in range(0, todo, 1000):
                pipe.touch(*[name] * min(1000, todo - lo))   # each key is one lookup
        pipe.execute()
        done = target
        table[:, j] = [r.object("freq", name) for name in names]
    return pd.DataFrame({"accesses": accesses, "median": np.median(table, axis=0),
                         "low": table.min(axis=0), "high": table.max(axis=0)})


def lfu_counter_after(accesses, *, lfu_log_factor: int = 10, runs: int = 10,
                      seed: int | None = 0, source: str = "model") -> pd.DataFrame:
    """The LFU counter (``OBJECT FREQ``) of a key after each number of ``accesses``, median
    and range over ``runs`` keys (the counter grows at random), under
    ``allkeys-lfu`` with ``lfu-decay-time 0``. One row per source and count: ``source``,
    ``accesses``, ``median``, ``low``, ``high``."""
    accesses = sorted(v.nonnegative_int("accesses[]", a) for a in accesses)
    runs = v.positive_int("runs", runs)
    lfu_log_factor = v.nonnegative_int("lfu_log_factor", lfu_log_factor)
    return run_on(source, _lfu_counter, seed=seed,
                  config=_start_config("allkeys-lfu", 5, lfu_log_factor, 0), accesses=accesses,
                  runs=runs)


def scan_experiment(policies=("allkeys-lru", "allkeys-lfu", "allkeys-random"), *,
                    n_keys: int = 10_000, requests: int = 40_000, every: int = 4000,
                    length: int = 3000, maxmemory: int = 300_000, source: str = "model",
                    seed: int = 1) -> pd.DataFrame:
    """Hit ratio of the regular reads (scans left out) under each policy, for a Zipf 0.9
    workload (2,000 requests a second, 100-byte values) interrupted by a scan of ``length``
    one-off keys every ``every`` requests, run as :func:`cache_aside`.

    One row per source and policy: ``source``, ``policy``, ``hit_ratio`` (regular reads).
    """
    from .workloads import with_scans, zipf
    base = zipf(n_keys, 0.9, requests, rate=2000.0, value_size=100, seed=seed)
    w = with_scans(base, every=every, length=length)
    regular = w.keys < n_keys
    rows = []
    for policy in policies:
        table = cache_aside(w, policy, maxmemory, source=source, seed=seed)
        for s, run in table.groupby("source", sort=False):
            rows.append({"source": s, "policy": policy,
                         "hit_ratio": float(run["hit"].to_numpy()[regular].mean())})
    return pd.DataFrame(rows)


# --- request-for-request replays (issue 11) -----------------------------------------------

#: Cache-aside as one step on the server: GET, and on a miss SET a value of ARGV[1] bytes
#: (with a TTL of ARGV[2] ms unless it is 0). Returns 1 for a hit, 0 for a miss.
CACHE_ASIDE_SCRIPT = """
if redis.call('GET', KEYS[1]) then return 1 end
local value = string.rep('x', tonumber(ARGV[1]))
if ARGV[2] == '0' then redis.call('SET', KEYS[1], value)
else redis.call('SET', KEYS[1], value, 'PX', ARGV[2]) end
return 0
"""
REPLAY_MODES = ("script", "plain")


def item_names(workload, prefix: str = "item:") -> list:
    """The name stored for each key id: ``item:<label>`` (a trace's key, or a synthetic id)."""
    return [f"{prefix}{label}" for label in workload.key_names]


def _resp(*parts) -> bytes:
    """One command in Redis's protocol (RESP), ready to send."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        part = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def _read_replies(conn, count):
    """Read ``count`` replies: 1 for a hit, 0 for a miss, None for an OOM refusal."""
    import redis as redis_py

    answers = []
    for _ in range(count):
        try:
            answers.append(conn.read_response())
        except redis_py.exceptions.ResponseError as exc:
            if not (isinstance(exc, redis_py.exceptions.OutOfMemoryError)
                    or "OOM" in str(exc)):
                raise
            answers.append(None)
    return answers


def _warm_connection(r, batch, size):
    """One pipeline of the replay's shape, then an empty server: the connection's buffers
    reach their working size before the empty usage is measured."""
    sha = r.script_load(CACHE_ASIDE_SCRIPT)
    pipe = r.pipeline(transaction=False)
    for i in range(batch):
        pipe.evalsha(sha, 1, f"warm:{i}", size, 0)
        pipe.set(f"warm:{i}", b"x" * size)
    pipe.execute()
    r.flushall()


def lru_tick_phase(r, clock, *, limit: float = 1.5) -> float:
    """Where in each second a real server's LRU clock ticks: seconds after the whole second,
    in [-0.5, 0.5).

    A server stamps keys with a cached clock that ``serverCron`` refreshes ``hz`` times a
    second (10): the whole second turns over on the first cron after it, 0-100 ms late, at a
    phase set when the server started. A run of a third of a second falls on one side of a
    turn or across one depending on that phase, and an LRU server's hit ratio with it (by 1.5
    points and more on the CloudPhysics trace). Found by polling ``INFO server``'s
    ``lru_clock`` until it changes (within ``limit`` seconds; about 0.2 ms precise), so the
    model's clock can turn where the server's does."""
    limit = v.positive_real("limit", limit)

    def lru():
        info = r.info("server")
        if "lru_clock" not in info:
            raise ValueError("lru_tick_phase needs a real redis-server (its INFO server has "
                             "lru_clock); this server's INFO server has none (model:// or "
                             "fakeredis: their LRU clock turns at whole seconds, phase 0)")
        return int(info["lru_clock"])

    now = clock.now()
    clock.sleep(max(0.0, math.floor(now) + 1 - 0.003 - now))   # just before the turn
    last, sent = lru(), clock.now()
    deadline = sent + limit
    while sent < deadline:
        before, sent = sent, clock.now()
        if lru() != last:
            phase = ((before + sent) / 2) % 1.0
            return phase - 1.0 if phase >= 0.5 else phase
    raise RuntimeError(f"the server's LRU clock did not turn in {limit} s (INFO server "
                       f"lru_clock stayed {last}): is its hz setting 0 or the server stopped?")


def _replay(r, clock, *, workload, policy, maxmemory, mode, batch, rate, names, schedule=None,
            previous=None):
    """Send the requests in pipelined batches, commands packed by hand (so the client keeps
    up with a real server)."""
    # on a real server, first the phase of its LRU clock (polled before the empty usage is
    # measured: the polling's buffers are then part of it)
    controllable = getattr(clock, "controllable", False)
    phase = 0.0 if controllable else lru_tick_phase(r, clock)
    _warm_connection(r, batch, int(np.max(workload.sizes)))
    base = used_memory(r)
    evicted_before = int(r.info("stats")["evicted_keys"])
    r.config_set("maxmemory", base + maxmemory)
    keys, sizes, ttls_ms = workload.keys, workload.sizes, _ttls_ms(workload)
    if schedule is None:
        schedule = _schedule(workload, rate, controllable, previous)
    n = len(keys)
    sent = np.empty(n)
    hits = np.zeros(n, dtype=bool)
    oom = 0
    sha = r.script_load(CACHE_ASIDE_SCRIPT)
    sha = sha if isinstance(sha, bytes) else sha.encode()
    encoded = [name.encode() for name in names]
    try:
        conn = r.connection_pool.get_connection()
    except TypeError:                  # redis-py before 5.3 wants a command name
        conn = r.connection_pool.get_connection("EVALSHA")
    if controllable and previous is not None and "start" in previous.attrs:
        # the same phase in the minute as the run before, less the real server's LRU tick
        # phase: the model's LRU clock turns at its whole seconds (its cron at tenths), the
        # server's 0-100 ms after; LFU decay turns at whole minutes
        clock.advance((previous.attrs["start"] - previous.attrs.get("lru_phase", 0.0)
                       - clock.now()) % 60.0)
    t0 = clock.now()
    try:
        for lo, hi in _paced_batches(n, batch, schedule, clock, sent):
            if mode == "script":
                conn.send_packed_command([b"".join(
                    _resp(b"EVALSHA", sha, 1, encoded[keys[i]], int(sizes[i]), int(ttls_ms[i]))
                    for i in range(lo, hi))])
                answers = _read_replies(conn, hi - lo)
                hits[lo:hi] = [a == 1 for a in answers]
                oom += sum(a is None for a in answers)
                continue
            # plain: the batch's GETs, then a plain SET for each miss
            conn.send_packed_command([b"".join(_resp(b"GET", encoded[keys[i]])
                                               for i in range(lo, hi))])
            hits[lo:hi] = [a is not None for a in _read_replies(conn, hi - lo)]
            sets = [_resp(b"SET", encoded[keys[i]], b"x" * int(sizes[i]),
                          *((b"PX", int(ttls_ms[i])) if ttls_ms[i] else ()))
                    for i in range(lo, hi) if not hits[i]]
            if sets:
                conn.send_packed_command([b"".join(sets)])
                oom += sum(a is None for a in _read_replies(conn, len(sets)))
    finally:
        r.connection_pool.release(conn)
    out = pd.DataFrame({"time": sent, "key": keys, "hit": hits})
    out.attrs.update({"hit_ratio": float(hits.mean()), "oom_errors": int(oom),
                      "duration_s": float(sent[-1] - sent[0]), "start": float(t0),
                      "lru_phase": phase,
                      **_finish(r, policy, base, evicted_before)})
    return out


def replay(workload, policy: str, maxmemory: int, *, samples: int = 5, mode: str = "script",
           batch: int = 100, rate: float | None = None, lfu_log_factor: int = 10,
           lfu_decay_time: int = 1, key_prefix: str = "item:", source: str = "model",
           schedule=None, seed: int | None = 0) -> pd.DataFrame:
    """Replay ``workload`` as cache-aside, request for request, on the model, a private
    real server, or both.

    ``mode="script"``: each read is one Lua script (GET, and SET on a miss), the way a server
    does a request atomically; ``"plain"``: each batch's GETs, then a plain SET for each miss.
    Requests go out in pipelined batches of ``batch``, at ``schedule`` (seconds after the
    start of each request) if given, else paced as in :func:`cache_aside`. Keys are stored as
    ``item:<label>`` with the request's value size and TTL. ``maxmemory`` is the bytes for
    the data set: the server's limit is its empty usage (measured after one warm-up batch)
    plus this. On a real server the phase of its LRU clock is measured first
    (:func:`lru_tick_phase`); the model, when it follows a real run, starts that much earlier
    in the second, so both clocks turn between the same requests.

    Returns
    -------
    DataFrame
        One row per source and request: ``source``, ``time`` (s since the start), ``key``,
        ``hit``; ``attrs[source]``: ``hit_ratio``, ``keys``, ``evictions``, ``oom_errors``,
        ``bytes`` (used memory above the empty server at the end), ``other_bytes`` (that less
        the model's bytes for the keys held: buffers), ``duration_s``, ``start`` and
        ``lru_phase`` (0 on the model).
    """
    samples = _check_experiment(policy, samples)
    maxmemory = v.positive_int("maxmemory", maxmemory)
    v.choice("mode", mode, REPLAY_MODES)
    batch = v.positive_int("batch", batch)
    if rate is not None:
        rate = v.positive_real("rate", rate)
    if schedule is not None:
        schedule = np.asarray(schedule, dtype=float)
        if schedule.shape != workload.keys.shape:
            raise ValueError(f"schedule must give one time per request ({len(workload.keys)}),"
                             f" got {schedule.shape[0] if schedule.ndim else 'a scalar'}")
        schedule = schedule - schedule[0]
    out = run_on(source, _replay, seed=seed,
                 config=_start_config(policy, samples, lfu_log_factor, lfu_decay_time),
                 workload=workload, policy=policy, maxmemory=maxmemory, mode=mode, batch=batch,
                 rate=rate, names=item_names(workload, key_prefix), schedule=schedule)
    out.attrs.update({"policy": policy, "samples": samples, "maxmemory": maxmemory,
                      "mode": mode})
    return out


def _one_source(table, source) -> dict:
    run = table[table["source"] == source]
    return {"sent": run["time"].to_numpy(), "hits": run["hit"].to_numpy(),
            **table.attrs[source]}


def replay_real(workload, policy: str, maxmemory: int, **kwargs) -> dict:
    """:func:`replay` on a private real server, as a dict: ``sent`` (s since the start of
    each request's batch), ``hits`` and the figures of ``attrs["real"]``."""
    return _one_source(replay(workload, policy, maxmemory, source="real", **kwargs), "real")


def replay_model(workload, policy: str, maxmemory: int, sent, **kwargs) -> dict:
    """:func:`replay` on ``model://`` with the requests sent at the times ``sent`` (as a
    real replay sent them), as a dict like :func:`replay_real`'s."""
    return _one_source(replay(workload, policy, maxmemory, source="model", schedule=sent,
                              **kwargs), "model")


def compare_replay(workload, policy: str, maxmemory: int, *, samples: int = 5,
                   mode: str = "script", batch: int = 100, rate: float | None = None,
                   seed: int = 0, buffers: bool = False, **kwargs) -> dict:
    """:func:`replay` on both sources, summed up in one row: server beside model
    (``real_*`` and ``model_*``), plus the agreement of the two request by request
    (``same_outcome``).

    ``buffers=True``: the model runs once more with the server's client buffers charged
    (``charged_*``): its budget less ``real_other_bytes``, what the server held beyond the
    model's bytes for the keys it kept. A server's reply buffer grows and shrinks with its
    cron's timing (Redis 7), so at 400 KB the keys a server keeps move by up to 7% between a
    quiet and a busy machine; the model does not model client buffers, and charged with them
    shows whether the rest (what is refused, what hits) follows the server."""
    if not isinstance(buffers, bool):
        raise TypeError(f"buffers must be True (also run the model charged with the server's "
                        f"client buffers) or False, got {buffers!r}")
    table = replay(workload, policy, maxmemory, samples=samples, mode=mode, batch=batch,
                   rate=rate, source="both", seed=seed, **kwargs)
    real, model = table.attrs["real"], table.attrs["model"]
    charged = None
    if buffers:
        previous = table[table["source"] == "real"].drop(columns="source")
        previous.attrs = dict(real)
        budget = maxmemory - max(0, int(real["other_bytes"]))
        if budget <= 0:
            raise ValueError(f"maxmemory must leave room beyond the server's client buffers "
                             f"({real['other_bytes']} bytes) to charge them; got {maxmemory}")
        config = _start_config(policy, samples, kwargs.get("lfu_log_factor", 10),
                               kwargs.get("lfu_decay_time", 1))
        with open_server("model", config, seed=seed) as (r, clock):
            charged = _replay(r, clock, workload=workload, policy=policy, maxmemory=budget,
                              mode=mode, batch=batch, rate=rate, previous=previous,
                              names=item_names(workload, kwargs.get("key_prefix", "item:")))
            charged = charged.attrs
    row = {"policy": policy, "samples": samples, "maxmemory": maxmemory, "mode": mode,
           "rate": rate, "requests": len(workload)}
    for name in ("hit_ratio", "keys", "evictions", "oom_errors"):
        row[f"real_{name}"] = real[name]
        row[f"model_{name}"] = model[name]
        if charged is not None:
            row[f"charged_{name}"] = charged[name]
    hits = {s: run["hit"].to_numpy() for s, run in table.groupby("source")}
    row.update({"same_outcome": float(np.mean(hits["real"] == hits["model"])),
                "real_other_bytes": real["other_bytes"], "model_bytes": model["bytes"],
                "duration_s": real["duration_s"], "lru_phase": real["lru_phase"]})
    return row
