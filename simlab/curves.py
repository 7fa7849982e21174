"""How big must the whiteboard be: exact LRU curves, replications, the working set.

* :func:`lru_curve`: the exact LRU hit-ratio curve for every size in one pass over a trace
  (stack distances, Mattson et al. 1970), in O(n log n) with a Fenwick tree.
* :func:`log_sizes`: cache sizes spaced evenly on a log scale.
* :func:`replicate`: an experiment over several seeds, mean and confidence interval.
* :func:`unique_keys_over_time`: the working set as requests accumulate.

The theory beside these curves is in :mod:`simlab.theory`, their price in :mod:`simlab.cost`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import _validate as v
from ._kernels import njit
from .workloads import GET, Workload, check_keys


def _t_ppf(q, df):
    from scipy.stats import t
    return t.ppf(q, df)


@njit(cache=True)
def stack_distances(keys, n_keys):
    """LRU stack distance of every request: how many distinct other keys were requested since
    this key's previous request (-1 for a first request). A cache of C keys hits exactly the
    requests whose distance is below C."""
    n = keys.shape[0]
    tree = np.zeros(n + 1, dtype=np.int32)   # Fenwick tree over request positions
    last = np.full(n_keys, -1, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    live = 0                                  # markers in the tree: one per distinct key seen
    for i in range(n):
        k = keys[i]
        p = last[k]
        if p < 0:
            out[i] = -1
            live += 1
        else:
            # markers at positions <= p
            s = 0
            j = p + 1
            while j > 0:
                s += tree[j]
                j -= j & (-j)
            out[i] = live - s                 # markers after p: distinct keys since then
            j = p + 1
            while j <= n:
                tree[j] -= 1
                j += j & (-j)
        j = i + 1
        while j <= n:
            tree[j] += 1
            j += j & (-j)
        last[k] = i
    return out


@njit(cache=True)
def _distance_counts(keys, n_keys):
    """How many requests have each LRU stack distance (``counts[d]``), and how many distinct
    keys were requested, in one pass: :func:`stack_distances` without the per-request array,
    the filtering and the sort that counting distinct keys would take."""
    n = keys.shape[0]
    tree = np.zeros(n + 1, dtype=np.int32)   # Fenwick tree over request positions
    last = np.full(n_keys, -1, dtype=np.int32)   # positions: fewer than 2**31 reads
    counts = np.zeros(n_keys + 1, dtype=np.int64)
    live = 0                                  # markers in the tree: one per distinct key seen
    for i in range(n):
        k = keys[i]
        p = last[k]
        last[k] = i
        if p < 0:
            live += 1
            j = i + 1
            while j <= n:
                tree[j] += 1
                j += j & (-j)
            continue
        # Markers at positions p+1 .. i-1 (distinct keys since p): prefix(i) - prefix(p+1),
        # walking down from both ends only until the two paths meet. A key asked for again
        # soon (the common case) meets after a step or two instead of log2(n).
        s = 0
        a = i
        b = p + 1
        while a != b:
            if a > b:
                s += tree[a]
                a -= a & (-a)
            else:
                s -= tree[b]
                b -= b & (-b)
        counts[s] += 1
        # Move the key's marker from p to i: -1 up from p+1, +1 up from i+1; above the
        # node where the two paths meet the changes cancel, so stop there.
        a = p + 1
        b = i + 1
        while a != b and (a <= n or b <= n):
            if a < b:
                tree[a] -= 1
                a += a & (-a)
            else:
                tree[b] += 1
                b += b & (-b)
    return counts, live


def _read_keys(workload):
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
    check_keys(workload)     # stack_distances indexes by key id without bounds checks
    if np.all(workload.ops == GET):
        return workload.keys
    return workload.keys[workload.ops == GET]


def log_sizes(max_size: int, points: int = 40) -> list[int]:
    """Cache sizes spaced evenly on a log scale from 1 to ``max_size`` (distinct, sorted)."""
    max_size = v.positive_int("max_size", max_size)
    points = v.positive_int("points", points)
    sizes = np.unique(np.round(np.logspace(0, np.log10(max_size), points)).astype(np.int64))
    return [int(s) for s in sizes]


def lru_curve(workload: Workload, sizes=None) -> pd.DataFrame:
    """The exact LRU hit-ratio curve of ``workload``'s reads, every size from one pass.

    Parameters
    ----------
    workload : Workload
        Requests served one after another (the textbook model); writes are left out.
    sizes : sequence of int, optional
        Cache sizes in keys. Default: log-spaced up to the number of unique keys.

    Returns
    -------
    DataFrame
        ``size``, ``hits``, ``hit_ratio``; ``attrs`` holds ``reads`` and ``unique_keys``.
    """
    keys = _read_keys(workload)
    if keys.size == 0:
        raise ValueError("workload must contain at least one read (GET) request")
    if sizes is not None:
        sizes = v.cache_sizes("sizes", sizes)
    v.run_memory(workload, v.CURVE_BYTES_PER_READ, 8, "the stack distances", "use fewer requests")
    if keys.size >= 2 ** 31:
        raise ValueError(f"workload must hold fewer than 2**31 reads for lru_curve, got "
                         f"{keys.size}")
    counts, unique = _distance_counts(keys, workload.n_keys)
    if sizes is None:
        sizes = log_sizes(unique)
    sizes = np.asarray(sizes, dtype=np.int64)
    # hits(C) = number of distances < C
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    hits = cumulative[np.minimum(sizes, len(cumulative) - 1)]
    out = pd.DataFrame({"size": sizes, "hits": hits.astype(np.int64),
                        "hit_ratio": hits / keys.size})
    out.attrs.update({"reads": int(keys.size), "unique_keys": unique,
                      "workload": dict(workload.params)})
    return out


def replicate(experiment, seeds, *, confidence: float = 0.95) -> pd.DataFrame:
    """Run ``experiment(seed) -> dict of numbers`` for each seed; mean and CI per number.

    Returns a table with one row per measured quantity: ``mean``, ``low``, ``high``
    (Student's t interval at ``confidence``), ``std``, ``runs``; ``attrs["runs"]`` maps
    each quantity to its value in every run, in the order of ``seeds``.
    """
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"seeds must hold at least two seeds for an interval, got {seeds!r}")
    confidence = v.fraction("confidence", confidence, open_low=True)
    runs = pd.DataFrame([experiment(s) for s in seeds])
    mean = runs.mean()
    sem = runs.std(ddof=1) / np.sqrt(len(runs))
    half = sem * _t_ppf(0.5 + confidence / 2, len(runs) - 1)
    out = pd.DataFrame({"mean": mean, "low": mean - half, "high": mean + half,
                        "std": runs.std(ddof=1), "runs": len(runs)})
    out.attrs["seeds"] = seeds
    out.attrs["runs"] = runs.to_dict(orient="list")   # quantity -> one value per seed
    return out


def unique_keys_over_time(workload: Workload, points: int = 200) -> pd.DataFrame:
    """How many distinct keys have been requested after each of ``points`` checkpoints."""
    keys = workload.keys
    first = np.zeros(len(keys), dtype=bool)
    _, idx = np.unique(keys, return_index=True)
    first[idx] = True
    cumulative = np.cumsum(first)
    at = np.unique(np.linspace(1, len(keys), points).astype(np.int64))
    return pd.DataFrame({"requests": at, "unique_keys": cumulative[at - 1]})
