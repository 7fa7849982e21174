"""A synthetic trace family with what real cache traces have and Zipf lacks.

Real traces (CloudPhysics block I/O, Twitter's cache clusters) differ from independent Zipf
draws in four ways that matter to a cache, and :func:`real_like` has each, seeded:

* **immediate re-references**: a key asked for again a few requests later (a read retried,
  a page and its parts);
* **sequential scans**: runs of consecutive keys read once (a backup, a report);
* **one-hit wonders**: keys seen exactly once;
* **a working set that shifts**: the popular keys change over time.

It makes 100,000 requests in well under a second, so notebooks and tests can use it where
the CloudPhysics trace is not on the machine.
"""
from __future__ import annotations

import numpy as np

from . import _validate as v
from .workloads import Workload, from_keys, zipf_rejection_inversion


def real_like(n_requests: int = 100_000, *, working_set: int = 8000, alpha: float = 0.9,
              rereference: float = 0.2, one_hit: float = 0.15, scan_every: int = 10_000,
              scan_length: int = 1500, shift_every: int = 20_000, shift: float = 0.3,
              value_size: int = 64, ttl_share: float = 0.6, ttl: float = 3600.0,
              seed: int = 0) -> Workload:
    """A seeded real-like trace (see the module's notes).

    Parameters
    ----------
    n_requests : int
        Requests, all reads.
    working_set, alpha : int, float
        The popular keys at any time and their Zipf skew.
    rereference : float
        Share of requests that repeat one of the last 8 requests' keys.
    one_hit : float
        Share of requests for a key never seen before or after.
    scan_every, scan_length : int
        A scan of ``scan_length`` consecutive new keys every ``scan_every`` requests.
    shift_every, shift : int, float
        Every ``shift_every`` requests a share ``shift`` of the working set is replaced by
        new keys (the coldest ranks first come back as new, popular keys are kept).
    value_size : int
        Bytes of each value.
    ttl_share, ttl : float
        Share of the keys that carry a TTL (chosen by key, seeded) and its length in seconds
        (spread over ``ttl`` .. ``2 * ttl``, so that volatile-ttl has something to order).
    seed : int

    Returns
    -------
    Workload
        Keys labelled with their integer ids (store them as ``item:<id>``); no times.
    """
    n = v.positive_int("n_requests", n_requests)
    working_set = v.positive_int("working_set", working_set)
    for name, value in (("rereference", rereference), ("one_hit", one_hit),
                        ("shift", shift), ("ttl_share", ttl_share)):
        v.fraction(name, value)
    if rereference + one_hit >= 1:
        raise ValueError(f"rereference + one_hit must be below 1, got {rereference + one_hit}")
    scan_every, scan_length = v.positive_int("scan_every", scan_every), v.nonnegative_int(
        "scan_length", scan_length)
    shift_every = v.positive_int("shift_every", shift_every)
    value_size = v.positive_int("value_size", value_size)
    ttl = v.positive_real("ttl", ttl)
    rng, ttl_rng, len_rng = (np.random.default_rng(child) for child in
                             np.random.SeedSequence(v.nonnegative_int("seed", seed)).spawn(3))
    ranks = zipf_rejection_inversion(working_set, alpha, n, rng)
    kind = rng.random(n)
    back = rng.integers(1, 9, n)
    members = rng.permutation(working_set).astype(np.int64) + 1_000_000  # rank -> key id
    next_new = 1_000_000 + working_set
    keys = np.empty(n, dtype=np.int64)
    i = 0
    while i < n:
        if i and i % shift_every == 0:           # replace the coldest share of the set
            k = int(working_set * shift)
            cold = np.arange(working_set - k, working_set)
            members[cold] = np.arange(next_new, next_new + k)
            next_new += k
            members = np.roll(members, k)        # new keys enter among the popular ranks
        if i and i % scan_every == 0 and scan_length:
            m = min(scan_length, n - i)
            keys[i:i + m] = np.arange(next_new, next_new + m)
            next_new += m
            i += m
            continue
        if kind[i] < rereference and i >= 8:
            keys[i] = keys[i - back[i]]
        elif kind[i] < rereference + one_hit:
            keys[i] = next_new
            next_new += 1
        else:
            keys[i] = members[ranks[i]]
        i += 1
    w = from_keys(keys.astype(str), name="real_like")
    key_ids = w.key_names.astype(np.int64)
    has_ttl = ttl_rng.random(len(key_ids)) < ttl_share
    spread = ttl * (1 + len_rng.random(len(key_ids)))
    ttls = np.where(has_ttl, spread, np.nan)[w.keys]
    params = {"generator": "real_like", "n_requests": n, "working_set": working_set,
              "alpha": alpha, "rereference": rereference, "one_hit": one_hit,
              "scan_every": scan_every, "scan_length": scan_length,
              "shift_every": shift_every, "shift": shift, "value_size": value_size,
              "ttl_share": ttl_share, "ttl": ttl, "seed": seed}
    return Workload(keys=w.keys, ops=w.ops, times=None,
                    sizes=np.full(n, value_size, dtype=np.int64), ttls=ttls,
                    key_names=w.key_names, params=params)


def with_values(workload: Workload, *, value_size: int = 64, ttl_share: float = 0.6,
                ttl: float = 3600.0, seed: int = 0) -> Workload:
    """``workload`` with ``value_size``-byte values and a TTL (``ttl`` .. ``2 * ttl`` s) on a
    seeded share ``ttl_share`` of its keys: what the fidelity replays store for a recorded
    trace such as CloudPhysics, which has keys only."""
    import dataclasses

    value_size = v.positive_int("value_size", value_size)
    v.fraction("ttl_share", ttl_share)
    ttl = v.positive_real("ttl", ttl)
    ttl_rng, len_rng = (np.random.default_rng(child) for child in
                        np.random.SeedSequence(v.nonnegative_int("seed", seed)).spawn(2))
    has_ttl = ttl_rng.random(workload.n_keys) < ttl_share
    spread = ttl * (1 + len_rng.random(workload.n_keys))
    return dataclasses.replace(
        workload, sizes=np.full(len(workload), value_size, dtype=np.int64),
        ttls=np.where(has_ttl, spread, np.nan)[workload.keys])


def first(workload: Workload, n: int) -> Workload:
    """The first ``n`` requests of ``workload`` (its key ids and names unchanged)."""
    import dataclasses

    n = min(v.positive_int("n", n), len(workload))
    return dataclasses.replace(
        workload, keys=workload.keys[:n], ops=workload.ops[:n], sizes=workload.sizes[:n],
        ttls=workload.ttls[:n], times=None if workload.times is None else workload.times[:n])
