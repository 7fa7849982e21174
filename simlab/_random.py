"""Independent random streams, one per component (SPEC 7).

Each component (which keys are requested, when they arrive, how long the whiteboard takes...)
draws from its own stream, derived from the run's seed by a fixed name. Adding a new component
therefore never shifts the numbers an existing one draws.
"""
from __future__ import annotations

import secrets

import numpy as np

from ._validate import nonnegative_int

# Fixed indices: never renumber, only append.
STREAMS = {
    "keys": 0,
    "ops": 1,
    "arrivals": 2,
    "sizes": 3,
    "whiteboard": 4,
    "filing_room": 5,
    "policy": 6,
    "ttl": 7,
    "service": 8,      # a worker's service time (queueing)
    "crashes": 9,      # when a busy worker crashes (queueing)
    "lookups": 10,     # the lookups of a fanned-out page (latency.fanout_latency)
    "expiry": 11,      # the hashes of the expires table (expiry.ActiveExpiry)
}


def resolve_seed(seed) -> int:
    """Return a concrete integer seed; ``None`` draws fresh entropy (stored with results)."""
    if seed is None:
        return secrets.randbits(63)
    return nonnegative_int("seed", seed)


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator for component ``name`` of a run seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[name],)))


def generator(seed, name: str) -> np.random.Generator:
    """The generator component ``name`` draws from, the one way every entry point takes
    its ``seed``/``rng``: a ``numpy.random.Generator`` is used as it is (the caller already
    chose the stream), an int is the run's seed (the component gets its own stream of it,
    see :func:`stream`), ``None`` draws fresh entropy."""
    if isinstance(seed, np.random.Generator):
        return seed
    return stream(resolve_seed(seed), name)
