"""Eviction experiments, run on the Redis model and on a private real server, side by side.

* :func:`batch_survival`: write batches of keys a second apart, freeze ``maxmemory`` at the
  usage, write new keys, and see what share of each batch survives. True LRU keeps exactly
  the newest batches; Redis's sampled LRU keeps a blurred version of that.
* :func:`compare_cache_aside`: the same cache-aside workload through the model and through a
  real ``redis-server`` with the same ``maxmemory``, policy and samples; hit ratios, keys and
  bytes at the end, request by request.

The real runs need a ``redis-server`` binary; they start their own private server (they
reconfigure it and fill it until it evicts) and stop it afterwards.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from . import _validate as v
from .redis_cache import REDIS_POLICIES, RedisCache

def key_name(i: int) -> str:
    """The name under which key id ``i`` is stored in these experiments (12 bytes)."""
    return f"key:{i:08d}"


def _server_config(policy, samples, lfu_log_factor=10, lfu_decay_time=1):
    return {"maxmemory-policy": policy, "maxmemory-samples": samples,
            "lfu-log-factor": lfu_log_factor, "lfu-decay-time": lfu_decay_time}


def _check_experiment(policy, samples):
    v.choice("policy", policy, REDIS_POLICIES)
    samples = v.positive_int("samples", samples)
    if samples > 64:
        raise ValueError(f"samples must be between 1 and 64, got {samples}")
    return samples


def batch_survival(policy: str = "allkeys-lru", samples: int = 5, *, batches: int = 8,
                   batch_size: int = 5000, new_keys: int = 20_000, value_size: int = 10,
                   real: bool = False, seed: int | None = 0) -> pd.Series:
    """Share of each batch (oldest first) still present after the new keys were written.

    With ``real=True`` the experiment runs on a private redis-server, in real time (batch
    ``b`` written a quarter second into the ``b``-th second of the server's LRU clock, so
    about ``batches`` seconds); otherwise on the model, in virtual time with the same timing.
    ``attrs["straddled_batches"]`` counts real batches that did not finish inside their
    own second (a machine too loaded to keep the timing; the comparison then blurs).

    The real run lifts ``maxmemory`` before it checks which keys are left (or the checks
    would evict keys themselves) and reports in ``attrs`` how many keys it kept and its
    memory beyond the model's bytes for those keys (``other_bytes``: client buffers).
    """
    samples = _check_experiment(policy, samples)
    for name, value in (("batches", batches), ("batch_size", batch_size),
                        ("new_keys", new_keys), ("value_size", value_size)):
        v.positive_int(name, value)
    value = "x" * value_size
    if real:
        from .live.server import PrivateRedis
        with PrivateRedis(_server_config(policy, samples)) as server:
            r = server.client(decode_responses=False)
            base = r.info("memory")["used_memory"]
            # Batch b goes in whole within second b of the server's LRU clock (one-second
            # resolution, refreshed by serverCron every 100 ms at hz 10): each batch starts at
            # an absolute deadline a quarter second into its own wall-clock second, so a slow
            # batch cannot push the next one into the same second (relative sleeps drift
            # under load, and two batches sharing a second blur into one).
            first = math.floor(time.time()) + 1.0
            straddled = 0
            for b in range(batches):
                time.sleep(max(0.0, first + b + 0.25 - time.time()))
                pipe = r.pipeline(transaction=False)
                for j in range(batch_size):
                    pipe.set(key_name(b * batch_size + j), value)
                pipe.execute()
                straddled += time.time() >= first + b + 0.95
            r.config_set("maxmemory", r.info("memory")["used_memory"])
            pipe = r.pipeline(transaction=False)
            for j in range(new_keys):
                pipe.set(key_name(batches * batch_size + j), value)
                if j % 100 == 99:  # small pipelines: client buffers count against maxmemory
                    pipe.execute()
            pipe.execute()
            used = r.info("memory")["used_memory"]
            # Lift the limit before looking, or the checks themselves would evict keys.
            r.config_set("maxmemory", 0)
            pipe = r.pipeline(transaction=False)
            for i in range(batches * batch_size):
                pipe.exists(key_name(i))
            present = np.array(pipe.execute(), dtype=bool)
            kept = r.dbsize()
            other = used - base - dataset_bytes_of(r, policy)
    else:
        cache = RedisCache(policy, None, samples=samples, rng=seed)
        for b in range(batches):
            for j in range(batch_size):
                cache.put(key_name(b * batch_size + j), b + 0.25 + j * 1e-6, None, value_size)
        cache.maxmemory = cache.used_memory
        for j in range(new_keys):
            cache.put(key_name(batches * batch_size + j), batches + 0.25 + j * 1e-6, None,
                      value_size)
        present = np.array([key_name(i) in cache for i in range(batches * batch_size)])
        kept = len(cache)
        other = 0
        straddled = 0
    survival = present.reshape(batches, batch_size).mean(axis=1)
    out = pd.Series(survival, index=pd.RangeIndex(batches, name="batch"),
                    name=f"{'real' if real else 'model'} {policy}, samples {samples}")
    out.attrs.update({"kept_keys": int(kept), "other_bytes": int(other),
                      "policy": policy, "samples": samples, "real": real,
                      "straddled_batches": int(straddled)})
    return out


def dataset_bytes_of(r, policy: str) -> int:
    """The model's bytes for exactly the keys a real server holds now (SCAN, STRLEN, PTTL)."""
    from . import redis_memory as mem
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


def true_lru_survival(batches: int = 8, batch_size: int = 5000, new_keys: int = 20_000):
    """What exact LRU keeps: the newest batches, entirely."""
    kept = batches * batch_size - new_keys
    survival = np.clip((np.arange(batches) + 1) * batch_size - (batches * batch_size - kept),
                       0, batch_size) / batch_size
    return pd.Series(survival, index=pd.RangeIndex(batches, name="batch"), name="true LRU")


def _replay_model(cache, keys, sizes, ttls, times, batch, named=False):
    """The model's side of :func:`compare_cache_aside`, batch by batch as the real run
    (``named``: ``keys`` are already the stored names)."""
    hits = np.zeros(len(keys), dtype=bool)
    names = list(keys) if named else [key_name(int(k)) for k in keys]
    for lo in range(0, len(keys), batch):
        hi = min(len(keys), lo + batch)
        now = times[lo]
        for i in range(lo, hi):
            hits[i] = cache.get(names[i], now)
        for i in range(lo, hi):
            if not hits[i]:
                ttl = ttls[i]
                cache.put(names[i], now, None if np.isnan(ttl) else float(ttl), int(sizes[i]))
    return hits


def compare_cache_aside(workload, policy: str, maxmemory: int, *, samples: int = 5,
                        lfu_log_factor: float = 10, lfu_decay_time: float = 1,
                        batch: int = 100, seed: int | None = 0) -> pd.DataFrame:
    """Run a cache-aside workload on the model and on a private real server; one table.

    Requests go out in pipelined batches of ``batch``, at the workload's arrival times (as
    fast as possible when it has none): first the batch's GETs, then a SET (with the
    request's value size and TTL) for each miss, as concurrent clients would, so a key
    requested twice in one batch misses twice. ``maxmemory`` is the bytes for the data set:
    the real server's limit is its empty ``used_memory`` plus this. The model replays the
    same batches at the times they were really sent, so both see the same LRU clock.

    ``attrs["other_bytes"]`` is what the real server holds beyond the model's bytes for the
    keys it has at the end (the connection's buffers, tens of kilobytes); the model is not
    adjusted for it.

    Returns
    -------
    DataFrame
        One row per request: ``time`` (s since the start), ``key``, ``real`` and ``model``
        (True for a hit). ``attrs`` holds both sides' hit ratios, keys and bytes at the end,
        and evictions.
    """
    from .live.server import PrivateRedis

    samples = _check_experiment(policy, samples)
    maxmemory = v.positive_int("maxmemory", maxmemory)
    batch = v.positive_int("batch", batch)
    keys, sizes = workload.keys, workload.sizes
    ttls_ms = np.where(np.isnan(workload.ttls), 0, np.round(workload.ttls * 1000)).astype(int)
    names = [key_name(int(k)) for k in keys]
    n = len(keys)
    sent = np.empty(n)
    real_hits = np.empty(n, dtype=bool)
    config = _server_config(policy, samples, lfu_log_factor, lfu_decay_time)
    with PrivateRedis(config) as server:
        r = server.client(decode_responses=False)
        base = r.info("memory")["used_memory"]
        r.config_set("maxmemory", base + maxmemory)
        t0 = time.time()
        for lo in range(0, n, batch):
            hi = min(n, lo + batch)
            if workload.times is not None:
                wait = workload.times[lo] - (time.time() - t0)
                if wait > 0:
                    time.sleep(wait)
            sent[lo:hi] = time.time()
            pipe = r.pipeline(transaction=False)
            for i in range(lo, hi):
                pipe.get(names[i])
            real_hits[lo:hi] = [value is not None for value in pipe.execute()]
            pipe = r.pipeline(transaction=False)
            for i in range(lo, hi):
                if not real_hits[i]:
                    pipe.set(names[i], b"x" * int(sizes[i]), px=int(ttls_ms[i]) or None)
            pipe.execute(raise_on_error=False)   # noeviction refuses fills: that is data
        real_bytes = r.info("memory")["used_memory"] - base
        r.config_set("maxmemory", 0)   # so that looking does not evict
        real_keys = r.dbsize()
        real_evictions = r.info("stats")["evicted_keys"]
        other = real_bytes - dataset_bytes_of(r, policy)
    cache = RedisCache(policy, maxmemory, samples=samples,
                       lfu_log_factor=lfu_log_factor, lfu_decay_time=lfu_decay_time, rng=seed)
    model_hits = _replay_model(cache, keys, sizes, workload.ttls, sent, batch)
    df = pd.DataFrame({"time": sent - sent[0], "key": keys, "real": real_hits,
                       "model": model_hits})
    df.attrs.update({
        "policy": policy, "samples": samples, "maxmemory": maxmemory,
        "real_hit_ratio": float(real_hits.mean()), "model_hit_ratio": float(model_hits.mean()),
        "real_keys": int(real_keys), "model_keys": len(cache),
        "real_bytes": int(real_bytes), "model_bytes": cache.used_memory,
        "real_evictions": int(real_evictions), "model_evictions": cache.evictions,
        "other_bytes": int(other),
        "duration_s": float(sent[-1] - sent[0]), "seed": seed,
    })
    return df


def fill_until_oom(policy: str = "noeviction", limit: int = 200_000, value_size: int = 100,
                   *, real: bool = False) -> dict:
    """Write keys until the whiteboard refuses one; then try a read.

    Returns how many keys went in, the error text of the refused write, and whether a read
    of the first key still worked. ``limit`` is the bytes for the data set.
    """
    v.choice("policy", policy, REDIS_POLICIES)
    limit = v.positive_int("limit", limit)
    value = "x" * v.positive_int("value_size", value_size)
    if real:
        import redis as redis_py

        from .live.server import PrivateRedis
        with PrivateRedis({"maxmemory-policy": policy}) as server:
            r = server.client()
            r.config_set("maxmemory", r.info("memory")["used_memory"] + limit)
            written, error = 0, None
            while written < 10 * limit:
                try:
                    r.set(key_name(written), value)
                except redis_py.exceptions.OutOfMemoryError as exc:
                    error = f"OOM {exc}"   # redis-py moves the "OOM" prefix into the type
                    break
                written += 1
            return {"written": written, "error": error,
                    "read_after": r.get(key_name(0)) == value, "source": "real server"}
    cache = RedisCache(policy, limit)
    written = 0
    while cache.put(key_name(written), 0.0, None, len(value)):
        written += 1
        if written >= 10 * limit:
            break
    from .redis_cache import OOM_ERROR
    return {"written": written, "error": OOM_ERROR if cache.oom_errors else None,
            "read_after": cache.get(key_name(0), 0.0), "source": "model"}


def memory_per_key(value_sizes=(10, 100, 1000), *, n_keys: int = 20_000,
                   real: bool = False) -> pd.DataFrame:
    """Bytes per key, with and without a TTL, for each value size: the model, and (``real``)
    measured on a private server as the growth of ``used_memory``."""
    from . import redis_memory as mem
    n_keys = v.positive_int("n_keys", n_keys)
    rows = []
    for size in value_sizes:
        size = v.positive_int("value_sizes[]", size)
        for ttl in (False, True):
            model = mem.dataset_bytes(np.full(n_keys, 12), np.full(n_keys, size),
                                      np.full(n_keys, ttl)) / n_keys
            row = {"value_bytes": size, "ttl": ttl, "model_bytes_per_key": round(model, 1)}
            if real:
                from .live.server import PrivateRedis
                with PrivateRedis() as server:
                    r = server.client(decode_responses=False)
                    base = r.info("memory")["used_memory"]
                    pipe = r.pipeline(transaction=False)
                    for i in range(n_keys):
                        pipe.set(key_name(i), b"x" * size, ex=3600 if ttl else None)
                        if i % 1000 == 999:
                            pipe.execute()
                    pipe.execute()
                    used = r.info("memory")["used_memory"] - base
                row["real_bytes_per_key"] = round(used / n_keys, 1)
            rows.append(row)
    return pd.DataFrame(rows)


def lfu_counter_after(accesses, *, lfu_log_factor: float = 10, runs: int = 10,
                      seed: int = 0) -> pd.DataFrame:
    """The LFU counter (what ``OBJECT FREQ`` shows) after each number of ``accesses`` of one
    key, median and range over ``runs`` (the counter grows at random)."""
    accesses = sorted(int(a) for a in accesses)
    runs = v.positive_int("runs", runs)
    table = np.empty((runs, len(accesses)))
    for run in range(runs):
        cache = RedisCache("allkeys-lfu", None, lfu_log_factor=lfu_log_factor,
                           lfu_decay_time=0, rng=seed + run)
        cache.put("hot", 0.0, None, 10)
        done = 0
        for j, target in enumerate(accesses):
            for _ in range(target - done):
                cache.get("hot", 0.0)
            done = target
            table[run, j] = cache.lfu_counter("hot")
    return pd.DataFrame({"accesses": accesses, "median": np.median(table, axis=0),
                         "low": table.min(axis=0), "high": table.max(axis=0)})


def scan_experiment(policies=("allkeys-lru", "allkeys-lfu", "allkeys-random"), *,
                    n_keys: int = 10_000, requests: int = 40_000, every: int = 4000,
                    length: int = 3000, maxmemory: int = 300_000, seed: int = 1) -> dict:
    """Hit ratio of the regular reads (scans left out) under each policy, for a Zipf 0.9
    workload interrupted by a scan of ``length`` one-off keys every ``every`` requests."""
    from .engine import simulate_redis
    from .workloads import with_scans, zipf
    base = zipf(n_keys, 0.9, requests, rate=2000.0, value_size=100, seed=seed)
    w = with_scans(base, every=every, length=length)
    regular = w.keys < n_keys
    out = {}
    for policy in policies:
        df = simulate_redis(w, policy=policy, maxmemory=maxmemory, filing_room=0.0,
                            whiteboard=0.0, seed=seed)
        out[policy] = float((df["outcome"].to_numpy()[regular] == "hit").mean())
    return out


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


def _replay_server(r, names, keys, sizes, ttls_ms, mode, batch, rate, times):
    """Send the requests to a real server in pipelined batches (commands packed by hand, so
    the client keeps up with the server); return send times, hits and the number of fills
    refused with an OOM error."""
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
    try:
        t0 = time.time()
        for lo in range(0, n, batch):
            hi = min(n, lo + batch)
            due = lo / rate if rate else (times[lo] if times is not None else 0.0)
            wait = due - (time.time() - t0)
            if wait > 0:
                time.sleep(wait)
            sent[lo:hi] = time.time()
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
    return sent, hits, oom


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


def replay_real(workload, policy: str, maxmemory: int, *, samples: int = 5,
                mode: str = "script", batch: int = 100, rate: float | None = None,
                lfu_log_factor: float = 10, lfu_decay_time: float = 1,
                key_prefix: str = "item:") -> dict:
    """Replay ``workload`` as cache-aside against a private redis-server.

    ``mode="script"``: each read is one Lua script (GET, and SET on a miss), the way a
    server does a request atomically; ``"plain"``: each batch's GETs, then a plain SET for
    each miss. Requests go out in pipelined batches of ``batch``, paced at ``rate`` requests
    a second (None: at the workload's times if it has them, else as fast as possible). Keys
    are stored as ``item:<label>`` with the request's value size and TTL. ``maxmemory`` is
    the bytes for the data set: the server's limit is its empty usage (measured after one
    warm-up batch) plus this.

    Returns a dict: ``sent`` (epoch seconds of each request's batch), ``hits`` (bool array),
    ``hit_ratio``, ``keys``, ``evictions``, ``oom_errors``, ``bytes`` (used memory above the
    empty server at the end) and ``other_bytes`` (that less the model's bytes for the keys
    the server holds: buffers).
    """
    from .live.server import PrivateRedis

    samples = _check_experiment(policy, samples)
    maxmemory = v.positive_int("maxmemory", maxmemory)
    v.choice("mode", mode, REPLAY_MODES)
    batch = v.positive_int("batch", batch)
    if rate is not None:
        rate = v.positive_real("rate", rate)
    names = item_names(workload, key_prefix)
    ttls_ms = np.where(np.isnan(workload.ttls), 0,
                       np.maximum(1, np.round(workload.ttls * 1000))).astype(np.int64)
    config = _server_config(policy, samples, lfu_log_factor, lfu_decay_time)
    with PrivateRedis(config) as server:
        r = server.client(decode_responses=False)
        _warm_connection(r, batch, int(np.max(workload.sizes)))
        base = r.info("memory")["used_memory"]
        evicted_before = r.info("stats")["evicted_keys"]
        r.config_set("maxmemory", base + maxmemory)
        times = None if workload.times is None else workload.times - workload.times[0]
        sent, hits, oom = _replay_server(r, names, workload.keys, workload.sizes, ttls_ms,
                                         mode, batch, rate, times)
        used = r.info("memory")["used_memory"] - base
        r.config_set("maxmemory", 0)   # so that looking does not evict
        keys = r.dbsize()
        evictions = r.info("stats")["evicted_keys"] - evicted_before
        other = used - dataset_bytes_of(r, policy)
    return {"sent": sent, "hits": hits, "hit_ratio": float(hits.mean()), "keys": int(keys),
            "evictions": int(evictions), "oom_errors": int(oom), "bytes": int(used),
            "other_bytes": int(other), "duration_s": float(sent[-1] - sent[0])}


def replay_model(workload, policy: str, maxmemory: int, sent, *, samples: int = 5,
                 mode: str = "script", batch: int = 100, lfu_log_factor: float = 10,
                 lfu_decay_time: float = 1, key_prefix: str = "item:", seed: int = 0) -> dict:
    """The model's side of :func:`replay_real`: the same requests at the times they were
    sent. ``script``: :func:`simlab.simulate_redis` with ``atomic=True`` (each read one step);
    ``plain``: batch by batch, the GETs and then the SETs, as the real replay sends them."""
    import dataclasses

    from .engine import simulate_redis

    v.choice("mode", mode, REPLAY_MODES)
    names = item_names(workload, key_prefix)
    if mode == "script":
        timed = dataclasses.replace(workload, times=np.asarray(sent, dtype=float))
        df = simulate_redis(timed, policy=policy, maxmemory=maxmemory, samples=samples,
                            lfu_log_factor=lfu_log_factor, lfu_decay_time=lfu_decay_time,
                            whiteboard=0.0, filing_room=0.0, atomic=True, key_names=names,
                            seed=seed)
        hits = (df["outcome"] == "hit").to_numpy()
        a = df.attrs
        return {"hits": hits, "hit_ratio": float(hits.mean()), "keys": a["keys_at_end"],
                "evictions": a["evictions"], "oom_errors": a["oom_errors"],
                "bytes": a["bytes_at_end"]}
    cache = RedisCache(policy, maxmemory, samples=samples, lfu_log_factor=lfu_log_factor,
                       lfu_decay_time=lfu_decay_time, rng=seed)
    labels = np.asarray(names, dtype=object)[workload.keys]
    hits = _replay_model(cache, labels, workload.sizes, workload.ttls, np.asarray(sent), batch,
                         named=True)
    return {"hits": hits, "hit_ratio": float(hits.mean()), "keys": len(cache),
            "evictions": cache.evictions, "oom_errors": cache.oom_errors,
            "bytes": cache.used_memory}


def compare_replay(workload, policy: str, maxmemory: int, *, samples: int = 5,
                   mode: str = "script", batch: int = 100, rate: float | None = None,
                   seed: int = 0, **kwargs) -> dict:
    """:func:`replay_real` and :func:`replay_model` of the same requests; one row of
    figures, server beside model (``real_*`` and ``model_*``), plus the agreement of the
    two request by request (``same_outcome``)."""
    real = replay_real(workload, policy, maxmemory, samples=samples, mode=mode, batch=batch,
                       rate=rate, **kwargs)
    model = replay_model(workload, policy, maxmemory, real["sent"], samples=samples,
                         mode=mode, batch=batch, seed=seed, **kwargs)
    row = {"policy": policy, "samples": samples, "maxmemory": maxmemory, "mode": mode,
           "rate": rate, "requests": len(workload)}
    for name in ("hit_ratio", "keys", "evictions", "oom_errors"):
        row[f"real_{name}"] = real[name]
        row[f"model_{name}"] = model[name]
    row.update({"same_outcome": float(np.mean(real["hits"] == model["hits"])),
                "real_other_bytes": real["other_bytes"], "model_bytes": model["bytes"],
                "duration_s": real["duration_s"]})
    return row
