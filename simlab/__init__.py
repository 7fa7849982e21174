"""simlab: the simulation lab under "The Whiteboard", a course on Redis as a cache.

The filing room is the database (complete, durable, slow to reach); the whiteboard is Redis
(fast, small, wiped now and then). simlab answers each of the course's questions twice: with a
simulation in virtual time, and with a live run against real or fake Redis, in the same table.
"""
from .caches import (POLICIES, Cache, FIFOCache, LFUCache, LRUCache, PerfectLFUCache, RandomCache,
                     make_cache)
from .engine import hit_counts, simulate, simulate_redis, simulate_reference, steady_hit_ratio
from .latency import (PRESETS, Constant, Distribution, Empirical, Exponential, Gamma, LogNormal,
                      Mixture, preset)
from .results import db_load_over_time, hit_ratio_over_time, summarize
from .analysis import (cheapest_size, che_hit_ratio, cost_table, fanout_latency, fifo_hit_ratio,
                       lfu_hit_ratio,
                       log_sizes, lru_curve, replicate, smallest_size_for, theory_curve,
                       unique_keys_over_time)
from .live import (CacheAside, PrivateRedis, RedisUnavailable, backend_banner, cleanup, connect,
                   filing_room, key)
from .redis_cache import OOM_ERROR, REDIS_POLICIES, OOMError, RedisCache
from .eviction import batch_survival, compare_cache_aside, true_lru_survival
from .workloads import with_scans
from .clock import FakeRedisClock, RealClock, clock_for
from .analysis import stale_share, stale_share_fixed_ttl, ttl_hit_ratio, value_age
from . import checks, expiry, plots, queueing, ratelimit, redis_memory
from .workloads import (TraceError, Workload, from_keys, hot_set, hot_set_probabilities,
                        poisson_arrivals, read_trace, zipf, zipf_probabilities)

__version__ = "0.1.0"

__all__ = [
    # workloads
    "Workload", "zipf", "hot_set", "from_keys", "read_trace", "poisson_arrivals",
    "zipf_probabilities", "hot_set_probabilities", "TraceError",
    # latency models
    "Distribution", "LogNormal", "Gamma", "Exponential", "Constant", "Empirical", "Mixture",
    "preset", "PRESETS",
    # caches and the engine
    "POLICIES", "Cache", "LRUCache", "LFUCache", "FIFOCache", "RandomCache", "PerfectLFUCache",
    "make_cache",
    "simulate", "simulate_reference", "simulate_redis", "hit_counts", "steady_hit_ratio",
    # results and analysis
    "summarize", "hit_ratio_over_time", "db_load_over_time", "lru_curve", "log_sizes", "che_hit_ratio",
    "fifo_hit_ratio", "lfu_hit_ratio", "theory_curve", "replicate", "unique_keys_over_time",
    "cost_table", "cheapest_size", "smallest_size_for", "fanout_latency",
    # the live layer
    "connect", "filing_room", "CacheAside", "PrivateRedis", "RedisUnavailable", "cleanup", "key",
    "backend_banner",
    # Redis-faithful eviction and memory
    "RedisCache", "REDIS_POLICIES", "OOM_ERROR", "OOMError", "redis_memory",
    "batch_survival", "compare_cache_aside", "true_lru_survival", "with_scans",
    # time and expiry
    "clock_for", "FakeRedisClock", "RealClock", "ttl_hit_ratio", "stale_share",
    "stale_share_fixed_ttl", "value_age", "expiry",
    # rate limiting and queues (simulation modules; live ones in simlab.live)
    "ratelimit", "queueing",
    # notebook helpers
    "plots", "checks",
]
