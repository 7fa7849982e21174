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

# The names a learner types, and the module (relative to simlab) that defines each. Everything
# else is reached through its module: ``simlab.theory.che_hit_ratio``,
# ``simlab.workloads.zipf_probabilities``, ``simlab.engine.hit_counts``...
_NAMES = {
    # what is requested, and how long each trip takes
    "Workload": "workloads", "zipf": "workloads", "hot_set": "workloads",
    "read_trace": "workloads",
    "preset": "latency", "LogNormal": "latency",
    # the simulation and its table
    "POLICIES": "caches", "REDIS_POLICIES": "redis_cache",
    "simulate": "engine",
    "summarize": "results", "hit_ratio_over_time": "results",
    "lru_curve": "curves",
    # the live layer
    "connect": "live", "filing_room": "live", "CacheAside": "live", "PrivateRedis": "live",
    "cleanup": "live", "key": "live", "backend_banner": "live",
    "clock_for": "clock",
}

# submodules that are part of the public API (``simlab.theory.che_hit_ratio`` ...); any other
# submodule is reached by attribute too
_MODULES = ("caches", "checks", "clock", "cost", "curves", "engine", "eviction", "expiry",
            "latency", "live", "plots", "queueing", "ratelimit", "redis_cache", "redis_memory",
            "results", "sharding", "theory", "workloads")

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
