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

import time

import numpy as np
import pandas as pd

from . import _validate as v
from .redis_cache import REDIS_POLICIES, RedisCache

# cache-aside in one round trip: GET, and on a miss SET with the given size and TTL
_CACHE_ASIDE_LUA = """
local value = redis.call('GET', KEYS[1])
if value then return 1 end
if tonumber(ARGV[2]) > 0 then
    redis.call('SET', KEYS[1], string.rep('x', tonumber(ARGV[1])), 'PX', ARGV[2])
else
    redis.call('SET', KEYS[1], string.rep('x', tonumber(ARGV[1])))
end
return 0
"""


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
                   real: bool = False, kept_keys: int | None = None,
                   seed: int | None = 0) -> pd.Series:
    """Share of each batch (oldest first) still present after the new keys were written.

    With ``real=True`` the experiment runs on a private redis-server, in real time (one
    second between batches, so about ``batches`` seconds); otherwise on the model, in
    virtual time with the same timing.

    A real server keeps somewhat fewer keys than "maxmemory at the usage" suggests: while
    commands flow, its client buffers and bookkeeping hold tens of kilobytes more than when
    it was idle (measured here: about 600 keys of 80 bytes). The real run reports how many
    keys it kept (``attrs["kept_keys"]``); pass that as ``kept_keys`` to give the model the
    same capacity, so that the comparison is about *which* keys go, not how many.
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
            for b in range(batches):
                start = time.time()
                pipe = r.pipeline(transaction=False)
                for j in range(batch_size):
                    pipe.set(key_name(b * batch_size + j), value)
                pipe.execute()
                # the next batch in the next second of the server's LRU clock
                time.sleep(max(0.0, 1.0 - (time.time() - start)))
            r.config_set("maxmemory", r.info("memory")["used_memory"])
            pipe = r.pipeline(transaction=False)
            for j in range(new_keys):
                pipe.set(key_name(batches * batch_size + j), value)
                if j % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            pipe = r.pipeline(transaction=False)
            for i in range(batches * batch_size):
                pipe.exists(key_name(i))
            present = np.array(pipe.execute(), dtype=bool)
            kept = r.dbsize()
    else:
        cache = RedisCache(policy, None, samples=samples, rng=seed)
        for b in range(batches):
            for j in range(batch_size):
                cache.put(key_name(b * batch_size + j), b + 0.25 + j * 1e-6, None, value_size)
        cache.maxmemory = cache.used_memory
        if kept_keys is not None:
            missing = batches * batch_size - v.positive_int("kept_keys", kept_keys)
            cache.maxmemory -= missing * cache.used_memory_of(key_name(0), value_size)
        for j in range(new_keys):
            cache.put(key_name(batches * batch_size + j), batches + 0.25 + j * 1e-6, None,
                      value_size)
        present = np.array([key_name(i) in cache for i in range(batches * batch_size)])
        kept = len(cache)
    survival = present.reshape(batches, batch_size).mean(axis=1)
    out = pd.Series(survival, index=pd.RangeIndex(batches, name="batch"),
                    name=f"{'real' if real else 'model'} {policy}, samples {samples}")
    out.attrs.update({"kept_keys": int(kept), "policy": policy, "samples": samples,
                      "real": real})
    return out


def true_lru_survival(batches: int = 8, batch_size: int = 5000, new_keys: int = 20_000):
    """What exact LRU keeps: the newest batches, entirely."""
    kept = batches * batch_size - new_keys
    survival = np.clip((np.arange(batches) + 1) * batch_size - (batches * batch_size - kept),
                       0, batch_size) / batch_size
    return pd.Series(survival, index=pd.RangeIndex(batches, name="batch"), name="true LRU")


def _replay_model(cache, keys, sizes, ttls, times):
    hits = np.zeros(len(keys), dtype=bool)
    for i in range(len(keys)):
        name = key_name(int(keys[i]))
        if cache.get(name, times[i]):
            hits[i] = True
        else:
            ttl = ttls[i]
            cache.put(name, times[i], None if np.isnan(ttl) else float(ttl), int(sizes[i]))
    return hits


def compare_cache_aside(workload, policy: str, maxmemory: int, *, samples: int = 5,
                        lfu_log_factor: float = 10, lfu_decay_time: float = 1,
                        batch: int = 500, seed: int | None = 0) -> pd.DataFrame:
    """Run a cache-aside workload on the model and on a private real server; one table.

    Each read is a GET; a miss SETs the key with the request's value size and TTL (in one
    round trip, a Lua script, so that the real run is quick). ``maxmemory`` is the bytes for
    the data set: the real server's limit is its empty ``used_memory`` plus this. Requests
    go out in pipelined batches at the workload's arrival times (as fast as possible when it
    has none); the model replays the same requests at the times they were really sent, so
    both see the same LRU clock.

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
    keys, sizes = workload.keys, workload.sizes
    ttls_ms = np.where(np.isnan(workload.ttls), 0, np.round(workload.ttls * 1000)).astype(int)
    n = len(keys)
    sent = np.empty(n)
    real_hits = np.empty(n, dtype=bool)
    config = _server_config(policy, samples, lfu_log_factor, lfu_decay_time)
    with PrivateRedis(config) as server:
        r = server.client(decode_responses=False)
        base = r.info("memory")["used_memory"]
        r.config_set("maxmemory", base + maxmemory)
        script = r.register_script(_CACHE_ASIDE_LUA)
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
                script(keys=[key_name(int(keys[i]))], args=[int(sizes[i]), int(ttls_ms[i])],
                       client=pipe)
            real_hits[lo:hi] = np.array(pipe.execute(), dtype=bool)
        real_keys = r.dbsize()
        real_bytes = r.info("memory")["used_memory"] - base
        real_evictions = r.info("stats")["evicted_keys"]
    cache = RedisCache(policy, maxmemory, samples=samples, lfu_log_factor=lfu_log_factor,
                       lfu_decay_time=lfu_decay_time, rng=seed)
    model_hits = _replay_model(cache, keys, sizes, workload.ttls, sent)
    df = pd.DataFrame({"time": sent - sent[0], "key": keys, "real": real_hits,
                       "model": model_hits})
    df.attrs.update({
        "policy": policy, "samples": samples, "maxmemory": maxmemory,
        "real_hit_ratio": float(real_hits.mean()), "model_hit_ratio": float(model_hits.mean()),
        "real_keys": int(real_keys), "model_keys": len(cache),
        "real_bytes": int(real_bytes), "model_bytes": cache.used_memory,
        "real_evictions": int(real_evictions), "model_evictions": cache.evictions,
        "duration_s": float(sent[-1] - sent[0]), "seed": seed,
    })
    return df
