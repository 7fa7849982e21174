"""How big must the whiteboard be: exact LRU curves, theory, replications, cost.

* :func:`lru_curve`: the exact LRU hit-ratio curve for every size in one pass over a trace
  (stack distances, Mattson et al. 1970), in O(n log n) with a Fenwick tree.
* :func:`che_hit_ratio`, :func:`fifo_hit_ratio`, :func:`lfu_hit_ratio`: theory for independent
  requests with known popularity (Che's approximation for LRU; the fixed point shared by FIFO
  and Random; perfect LFU keeps the most popular keys).
* :func:`replicate`: an experiment over several seeds, mean and confidence interval.
* :func:`unique_keys_over_time`, :func:`cheapest_size`: the working set and the cost view.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import _validate as v
from ._kernels import njit
from .workloads import GET, Workload, check_keys


def _brentq(*args, **kwargs):
    from scipy.optimize import brentq
    return brentq(*args, **kwargs)


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


# --- theory ---------------------------------------------------------------------------

def _check_theory(p, cache_size):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError("popularity must be a 1-D array of probabilities summing to 1")
    cache_size = v.positive_int("cache_size", cache_size)
    return p, cache_size


def che_characteristic_time(p, cache_size: int) -> float:
    """Che's characteristic time T: ``sum_i (1 - exp(-p_i T)) = C`` (in requests)."""
    p, c = _check_theory(p, cache_size)
    if c >= np.count_nonzero(p):
        return np.inf
    f = lambda log_t: np.sum(-np.expm1(-p * np.exp(log_t))) - c  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    return float(np.exp(_brentq(f, -50.0, hi, xtol=1e-12)))


def che_hit_ratio(p, cache_size: int) -> float:
    """LRU hit ratio under independent requests (Che et al. 2002)."""
    t = che_characteristic_time(p, cache_size)
    p = np.asarray(p, dtype=np.float64)
    if np.isinf(t):
        return 1.0
    return float(np.sum(p * -np.expm1(-p * t)))


def fifo_hit_ratio(p, cache_size: int) -> float:
    """FIFO and Random hit ratio: fixed point ``sum_i p_i T / (1 + p_i T) = C``."""
    p, c = _check_theory(p, cache_size)
    if c >= np.count_nonzero(p):
        return 1.0
    f = lambda log_t: np.sum(p * np.exp(log_t) / (1 + p * np.exp(log_t))) - c  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    t = np.exp(_brentq(f, -50.0, hi, xtol=1e-12))
    return float(np.sum(p * (p * t) / (1 + p * t)))


def lfu_hit_ratio(p, cache_size: int) -> float:
    """Perfect LFU: the ``cache_size`` most popular keys stay; their share of requests."""
    p, c = _check_theory(p, cache_size)
    return float(np.sort(p)[::-1][:c].sum())


THEORY = {"lru": che_hit_ratio, "fifo": fifo_hit_ratio, "random": fifo_hit_ratio,
          "perfect-lfu": lfu_hit_ratio}


def theory_curve(p, sizes, policy: str = "lru") -> np.ndarray:
    """Theoretical hit ratio of ``policy`` at each size."""
    v.choice("policy", policy, tuple(THEORY))
    return np.array([THEORY[policy](p, int(s)) for s in sizes])


# --- replications, working set, cost --------------------------------------------------

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


def cost_table(curve: pd.DataFrame, *, bytes_per_key: float, dollars_per_gb_month: float,
               request_rate: float, dollars_per_db_qps_month: float) -> pd.DataFrame:
    """Monthly cost of each cache size: whiteboard memory plus the filing room's miss load.

    ``curve`` is a table with ``size`` and ``hit_ratio`` (from :func:`lru_curve`).
    """
    bytes_per_key = v.positive_real("bytes_per_key", bytes_per_key)
    request_rate = v.positive_real("request_rate", request_rate)
    memory = curve["size"] * bytes_per_key / 1e9 * v.nonnegative_real("dollars_per_gb_month",
                                                                       dollars_per_gb_month)
    db_qps = request_rate * (1 - curve["hit_ratio"])
    db = db_qps * v.nonnegative_real("dollars_per_db_qps_month", dollars_per_db_qps_month)
    return pd.DataFrame({"size": curve["size"], "hit_ratio": curve["hit_ratio"],
                         "db_qps": db_qps, "memory_cost": memory, "db_cost": db,
                         "total_cost": memory + db})


def smallest_size_for(curve: pd.DataFrame, target_hit_ratio: float) -> int | None:
    """The smallest size in ``curve`` whose hit ratio reaches the target, or ``None``."""
    target = v.fraction("target_hit_ratio", target_hit_ratio)
    ok = curve[curve["hit_ratio"] >= target]
    return int(ok["size"].min()) if len(ok) else None


def cheapest_size(costs: pd.DataFrame, target_hit_ratio: float | None = None) -> pd.Series:
    """The row of a :func:`cost_table` with the lowest total cost, among the sizes that reach
    ``target_hit_ratio`` when one is given."""
    rows = costs
    if target_hit_ratio is not None:
        target = v.fraction("target_hit_ratio", target_hit_ratio)
        rows = costs[costs["hit_ratio"] >= target]
        if rows.empty:
            raise ValueError(f"no size in the table reaches target_hit_ratio {target!r}; the "
                             f"best is {costs['hit_ratio'].max():.3f}")
    return rows.loc[rows["total_cost"].idxmin()]


def fanout_latency(model, lookups: int, pages: int = 100_000, *, parallel: bool = True,
                   seed: int | None = None) -> np.ndarray:
    """Latency (s) of pages that each need ``lookups`` independent lookups drawn from ``model``.

    In parallel the page waits for the slowest lookup; in sequence it waits for their sum.
    """
    from ._random import resolve_seed
    lookups = v.positive_int("lookups", lookups)
    pages = v.positive_int("pages", pages)
    draws = model.sample(lookups * pages, np.random.default_rng(resolve_seed(seed)))
    draws = draws.reshape(pages, lookups)
    return draws.max(axis=1) if parallel else draws.sum(axis=1)


# --- TTL ------------------------------------------------------------------------------

def ttl_hit_ratio(p, rate: float, ttl: float, mode: str = "fixed") -> float:
    """Hit ratio of a whiteboard without a size limit where keys expire after ``ttl``.

    Requests arrive as a Poisson stream of ``rate`` per second, key ``i`` with probability
    ``p[i]``; a miss fills at once. Per key with request rate ``l``: a fixed TTL (timer set
    on the fill) gives ``l T / (1 + l T)`` (one miss, then on average ``l T`` hits, per
    cycle); a sliding TTL (timer restarted by every hit) gives ``1 - exp(-l T)`` (a request
    hits when the previous one came less than ``T`` before). Summed over the popularity.
    """
    p = np.asarray(p, dtype=np.float64)
    rate = v.positive_real("rate", rate)
    ttl = v.positive_real("ttl", ttl)
    v.choice("mode", mode, ("fixed", "sliding"))
    x = p * rate * ttl
    per_key = x / (1 + x) if mode == "fixed" else -np.expm1(-x)
    return float(np.sum(p * per_key))


def stale_share_fixed_ttl(ttl: float, update_rate: float) -> float:
    """Share of hits that return an outdated value under a fixed TTL, when the filing room
    changes a key as a Poisson stream of ``update_rate`` per second and nobody deletes the
    whiteboard's copy: hits fall uniformly over the TTL, so ``1 - (1 - e^(-mu T)) / (mu T)``."""
    ttl = v.positive_real("ttl", ttl)
    mu = v.positive_real("update_rate", update_rate)
    x = mu * ttl
    return float(1 + np.expm1(-x) / x)


def stale_share(df: pd.DataFrame, update_rate: float) -> float:
    """Expected share of a run's hits that saw an outdated value, if the filing room updates
    each key as a Poisson stream of ``update_rate`` per second without deleting the cached
    copy: each hit of a value filled ``a`` seconds earlier is stale with probability
    ``1 - exp(-update_rate * a)``. Ages come from the table (the fill is taken to complete
    when the miss's filing-room read does)."""
    mu = v.positive_real("update_rate", update_rate)
    age = value_age(df)
    hits = age.dropna()
    if hits.empty:
        raise ValueError("the table has no hits to judge")
    return float(np.mean(-np.expm1(-mu * hits.to_numpy())))


def value_age(df: pd.DataFrame) -> pd.Series:
    """For every hit, seconds since the value it returned was filled (NaN for other rows)."""
    fill = np.where(df["outcome"].to_numpy() == "miss",
                    (df["time"] + df["latency"] - df["whiteboard_latency"] / 2).to_numpy(),
                    np.nan)
    last_fill = pd.Series(fill, index=df.index).groupby(df["key"].to_numpy()).ffill()
    age = df["time"] - last_fill
    return age.where(df["outcome"] == "hit")
