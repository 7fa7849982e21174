"""Theory for the whiteboard's hit ratio and staleness, under independent requests.

* :func:`che_hit_ratio`, :func:`fifo_hit_ratio`, :func:`lfu_hit_ratio`, :func:`theory_curve`:
  requests with known popularity (Che's approximation for LRU; the fixed point shared by FIFO
  and Random; perfect LFU keeps the most popular keys).
* :func:`ttl_hit_ratio`: a whiteboard without a size limit whose keys expire (fixed or sliding
  TTL), under Poisson requests.
* :func:`stale_share_fixed_ttl`, :func:`stale_share`, :func:`value_age`: how many hits return
  an outdated value when the filing room changes and nobody deletes the copy.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import _validate as v


def _brentq(*args, **kwargs):
    from scipy.optimize import brentq
    return brentq(*args, **kwargs)


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
