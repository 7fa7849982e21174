"""simlab: the simulation lab under "The Whiteboard", a course on Redis as a cache.

The filing room is the database (complete, durable, slow to reach); the whiteboard is Redis
(fast, small, wiped now and then). simlab answers each of the course's questions twice: with a
simulation in virtual time, and with a live run against real or fake Redis, in the same table.

The package imports lazily (PEP 562): ``import simlab`` loads no NumPy, pandas, Numba or
redis-py; ``simlab.simulate`` (or any name below, or any submodule such as ``simlab.engine``)
imports its module on first use. So a command or a script pays only for what it uses.
"""
from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"

# public name -> the module (relative to simlab) that defines it
_NAMES = {
    # workloads
    "Workload": "workloads", "zipf": "workloads", "hot_set": "workloads",
    "from_keys": "workloads", "read_trace": "workloads", "poisson_arrivals": "workloads",
    "zipf_probabilities": "workloads", "hot_set_probabilities": "workloads",
    "TraceError": "workloads", "with_scans": "workloads",
    # latency models
    "Distribution": "latency", "LogNormal": "latency", "Gamma": "latency",
    "Exponential": "latency", "Constant": "latency", "Empirical": "latency",
    "Mixture": "latency", "preset": "latency", "PRESETS": "latency",
    # caches and the engine
    "POLICIES": "caches", "Cache": "caches", "LRUCache": "caches", "LFUCache": "caches",
    "FIFOCache": "caches", "RandomCache": "caches", "PerfectLFUCache": "caches",
    "make_cache": "caches",
    "simulate": "engine", "simulate_reference": "engine", "simulate_redis": "engine",
    "hit_counts": "engine", "steady_hit_ratio": "engine",
    # results and analysis
    "summarize": "results", "hit_ratio_over_time": "results", "db_load_over_time": "results",
    "lru_curve": "analysis", "log_sizes": "analysis", "che_hit_ratio": "analysis",
    "fifo_hit_ratio": "analysis", "lfu_hit_ratio": "analysis", "theory_curve": "analysis",
    "replicate": "analysis", "unique_keys_over_time": "analysis", "cost_table": "analysis",
    "cheapest_size": "analysis", "smallest_size_for": "analysis",
    "fanout_latency": "analysis", "ttl_hit_ratio": "analysis", "stale_share": "analysis",
    "stale_share_fixed_ttl": "analysis", "value_age": "analysis",
    # the live layer
    "connect": "live", "filing_room": "live", "CacheAside": "live", "PrivateRedis": "live",
    "RedisUnavailable": "live", "cleanup": "live", "key": "live", "backend_banner": "live",
    "namespace": "live", "cleanup_course": "live",
    "PrivateCluster": "live.cluster", "NearCache": "live.near_cache", "key_slot": "sharding",
    # Redis-faithful eviction and memory
    "RedisCache": "redis_cache", "REDIS_POLICIES": "redis_cache", "OOM_ERROR": "redis_cache",
    "OOMError": "redis_cache",
    "batch_survival": "eviction", "compare_cache_aside": "eviction",
    "true_lru_survival": "eviction",
    # time
    "clock_for": "clock", "FakeRedisClock": "clock", "RealClock": "clock",
}

# submodules that are part of the public API (``simlab.expiry.simulate_expiry`` ...)
_MODULES = ("checks", "expiry", "plots", "queueing", "ratelimit", "redis_memory")

__all__ = [*_NAMES, *_MODULES]


def __getattr__(name):
    """Import the module behind ``simlab.<name>`` on first use (PEP 562)."""
    module = _NAMES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f".{name}", __name__)   # any submodule
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
