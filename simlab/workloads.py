"""Workloads: which keys are asked for, when, and whether to read or write them.

A :class:`Workload` is a set of columnar arrays, one entry per request. Synthetic workloads
(:func:`zipf`, :func:`hot_set`) and recorded traces (:func:`read_trace`) give the same object,
so every experiment accepts either.

Keys are dense integers ``0 .. n_keys-1``; ``key_names`` maps them back to labels (for
synthetic workloads key 0 is the most popular, named ``"0"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import _validate as v
from ._random import resolve_seed, stream

GET, SET, DEL = 0, 1, 2
OP_NAMES = ("get", "set", "del")


class TraceError(ValueError):
    """A trace file that cannot be read; the message names the file, the column and the row."""


@dataclass(frozen=True, eq=False)
class Workload:
    """Requests as columns.

    Attributes
    ----------
    keys : int64 array
        Dense key ids, ``0 .. n_keys-1``.
    ops : int8 array
        ``GET`` (0), ``SET`` (1) or ``DEL`` (2).
    times : float64 array or None
        Arrival times in seconds. ``None`` means requests are served one after another and
        never overlap (the textbook model).
    sizes : int64 array
        Value size in bytes of each request.
    ttls : float64 array
        TTL in seconds to set when the key is (re)filled; ``nan`` for none.
    key_names : array
        Label of each key id.
    params : dict
        How the workload was made (generator, parameters, seed); copied into results.
    """

    keys: np.ndarray
    ops: np.ndarray
    times: np.ndarray | None
    sizes: np.ndarray
    ttls: np.ndarray
    key_names: np.ndarray
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def n_keys(self) -> int:
        """Number of distinct key ids (the size of the key space)."""
        return len(self.key_names)

    @property
    def unique_keys(self) -> int:
        """Number of distinct keys actually requested."""
        return int(np.unique(self.keys).size)

    @property
    def read_fraction(self) -> float:
        return float(np.mean(self.ops == GET)) if len(self) else 1.0

    def __repr__(self) -> str:
        gen = self.params.get("generator", "workload")
        timing = "sequential" if self.times is None else f"timed over {self.times[-1]:.3g} s"
        return (f"<Workload {gen}: {len(self):,} requests, {self.n_keys:,} keys, "
                f"{self.read_fraction:.0%} reads, {timing}>")

    def head(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` requests as a table, for a look."""
        n = min(n, len(self))
        return pd.DataFrame({
            "time": self.times[:n] if self.times is not None else np.full(n, np.nan),
            "key": self.key_names[self.keys[:n]],
            "op": np.asarray(OP_NAMES)[self.ops[:n]],
            "size": self.sizes[:n],
            "ttl": self.ttls[:n],
        })


# --- popularity -------------------------------------------------------------------------

def zipf_probabilities(n_keys: int, alpha: float) -> np.ndarray:
    """Bounded Zipf popularity: ``p_i`` proportional to ``(i+1) ** -alpha`` for i < n_keys.

    ``alpha = 0`` is uniform. Any number of keys and any ``alpha >= 0`` (unlike
    ``numpy.random.Generator.zipf``, which needs ``alpha > 1`` and is unbounded).
    """
    n_keys = v.positive_int("n_keys", n_keys)
    alpha = v.nonnegative_real("alpha", alpha)
    weights = np.arange(1, n_keys + 1, dtype=np.float64) ** -alpha
    return weights / weights.sum()


def _draw(probabilities: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    keys = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(keys, len(probabilities) - 1).astype(np.int64)


def poisson_arrivals(n_requests: int, rate: float, rng=None) -> np.ndarray:
    """Arrival times (s) of a Poisson stream of ``rate`` requests per second, starting near 0."""
    n_requests = v.positive_int("n_requests", n_requests)
    rate = v.positive_real("rate", rate)
    rng = np.random.default_rng(rng)
    return np.cumsum(rng.exponential(1.0 / rate, n_requests))


def _sizes(value_size, n: int, rng: np.random.Generator) -> np.ndarray:
    if hasattr(value_size, "sample"):
        sizes = np.rint(value_size.sample(n, rng)).astype(np.int64)
        return np.maximum(sizes, 1)
    value_size = v.positive_int("value_size", value_size)
    return np.full(n, value_size, dtype=np.int64)


def _ttls(ttl, n: int, jitter: float = 0.0, rng=None) -> np.ndarray:
    if ttl is None:
        return np.full(n, np.nan)
    ttl = v.positive_real("ttl", ttl)
    jitter = v.fraction("ttl_jitter", jitter)
    if jitter == 0:
        return np.full(n, ttl)
    if jitter >= 1:
        raise ValueError(f"ttl_jitter must be below 1 (a TTL stays positive), got {jitter!r}")
    return ttl * rng.uniform(1 - jitter, 1 + jitter, n)


def _assemble(keys, n_keys, *, n_requests, rate, read_fraction, value_size, ttl, seed,
              params, ttl_jitter=0.0) -> Workload:
    read_fraction = v.fraction("read_fraction", read_fraction)
    if rate is not None:
        rate = v.positive_real("rate", rate)
    ops = np.zeros(n_requests, dtype=np.int8)
    if read_fraction < 1:
        ops[stream(seed, "ops").random(n_requests) >= read_fraction] = SET
    times = None if rate is None else poisson_arrivals(n_requests, rate, stream(seed, "arrivals"))
    params = dict(params, n_requests=n_requests, rate=rate, read_fraction=read_fraction,
                  value_size=repr(value_size) if hasattr(value_size, "sample") else value_size,
                  ttl=ttl, ttl_jitter=ttl_jitter, seed=seed)
    return Workload(keys=keys, ops=ops, times=times,
                    sizes=_sizes(value_size, n_requests, stream(seed, "sizes")),
                    ttls=_ttls(ttl, n_requests, ttl_jitter, stream(seed, "ttl")),
                    key_names=np.arange(n_keys).astype(str).astype(object), params=params)


def zipf(n_keys: int, alpha: float, n_requests: int, *, rate: float | None = None,
         read_fraction: float = 1.0, value_size=100, ttl: float | None = None,
         ttl_jitter: float = 0.0, seed: int | None = None) -> Workload:
    """Requests whose popularity follows a bounded Zipf law.

    Parameters
    ----------
    n_keys : int
        Size of the key space (> 0).
    alpha : float
        Skew (>= 0); 0 is uniform, about 1 is typical of web caches.
    n_requests : int
        Number of requests (> 0).
    rate : float, optional
        Poisson arrivals at this many requests per second. ``None``: requests are served one
        after another (the textbook model).
    read_fraction : float
        Share of requests that are reads (GET); the rest are writes (SET) of the same keys.
    value_size : int or distribution
        Bytes per value: a constant, or any object with ``sample(n, rng)``.
    ttl : float, optional
        Seconds a key stays on the whiteboard after it is filled.
    ttl_jitter : float
        Spread each TTL uniformly over ``ttl * (1 ± ttl_jitter)`` (0 to below 1), so keys
        filled together do not all expire together.
    seed : int, optional
        Seed for every random draw; the same seed gives the same workload, bit for bit.

    Raises
    ------
    TypeError, ValueError
        For a parameter of the wrong type or out of range.
    """
    n_requests = v.positive_int("n_requests", n_requests)
    probabilities = zipf_probabilities(n_keys, alpha)
    seed = resolve_seed(seed)
    keys = _draw(probabilities, n_requests, stream(seed, "keys"))
    return _assemble(keys, len(probabilities), n_requests=n_requests, rate=rate,
                     read_fraction=read_fraction, value_size=value_size, ttl=ttl, seed=seed,
                     ttl_jitter=ttl_jitter,
                     params={"generator": "zipf", "n_keys": int(n_keys), "alpha": float(alpha)})


def hot_set_probabilities(n_keys: int, hot_fraction: float, hot_share: float) -> np.ndarray:
    """Popularity where ``hot_fraction`` of the keys receive ``hot_share`` of the requests."""
    n_keys = v.positive_int("n_keys", n_keys)
    hot_fraction = v.fraction("hot_fraction", hot_fraction, open_low=True)
    hot_share = v.fraction("hot_share", hot_share)
    n_hot = max(1, int(round(n_keys * hot_fraction)))
    p = np.empty(n_keys)
    p[:n_hot] = hot_share / n_hot
    if n_hot < n_keys:
        p[n_hot:] = (1 - hot_share) / (n_keys - n_hot)
    else:
        p[:] = 1.0 / n_keys
    return p / p.sum()


def hot_set(n_keys: int, n_requests: int, *, hot_fraction: float = 0.2, hot_share: float = 0.8,
            rate: float | None = None, read_fraction: float = 1.0, value_size=100,
            ttl: float | None = None, ttl_jitter: float = 0.0,
            seed: int | None = None) -> Workload:
    """Requests where a hot set of keys (``hot_fraction`` of them) gets ``hot_share`` of traffic.

    The default is the 80/20 rule. Other parameters as in :func:`zipf`.
    """
    n_requests = v.positive_int("n_requests", n_requests)
    probabilities = hot_set_probabilities(n_keys, hot_fraction, hot_share)
    seed = resolve_seed(seed)
    keys = _draw(probabilities, n_requests, stream(seed, "keys"))
    return _assemble(keys, n_keys, n_requests=n_requests, rate=rate, read_fraction=read_fraction,
                     value_size=value_size, ttl=ttl, seed=seed, ttl_jitter=ttl_jitter,
                     params={"generator": "hot_set", "n_keys": int(n_keys),
                             "hot_fraction": float(hot_fraction), "hot_share": float(hot_share)})


def from_keys(keys, *, times=None, name: str = "keys") -> Workload:
    """A read-only workload from a sequence of key labels (and optional arrival times)."""
    labels = pd.Series(np.asarray(keys))
    if labels.empty:
        raise ValueError("keys must hold at least one request, got an empty sequence")
    codes, uniques = pd.factorize(labels, sort=False)
    n = len(codes)
    if times is not None:
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (n,):
            raise ValueError(f"times must have one entry per key ({n}), got shape {times.shape}")
        if np.any(np.diff(times) < 0) or not np.all(np.isfinite(times)):
            raise ValueError("times must be finite and non-decreasing")
    return Workload(keys=codes.astype(np.int64), ops=np.zeros(n, dtype=np.int8), times=times,
                    sizes=np.ones(n, dtype=np.int64), ttls=np.full(n, np.nan),
                    key_names=np.asarray(uniques, dtype=object),
                    params={"generator": name, "n_requests": n})


# --- traces -----------------------------------------------------------------------------

def _bad(path, column, series, mask, rule):
    row = int(np.flatnonzero(mask)[0])
    raise TraceError(f"{path}: column '{column}' must hold {rule}; "
                     f"row {row + 1} has {series.iloc[row]!r}")


def _numeric(path, frame, column, rule, *, allow_empty=False, minimum=0.0):
    raw = frame[column]
    empty = raw.isna() | (raw.astype(str).str.strip() == "")
    values = pd.to_numeric(raw.where(~empty), errors="coerce")
    bad = (values.isna() & ~empty) if allow_empty else values.isna()
    bad |= values < minimum
    if bad.any():
        _bad(path, column, raw, bad.to_numpy(), rule)
    return values.to_numpy(dtype=np.float64)


def read_trace(path) -> Workload:
    """Read a recorded trace.

    Two formats:

    * a text file with one key per line (every request a read, served one after another);
    * a CSV file (``.csv``) with a ``key`` column and optional ``t`` (arrival time, seconds,
      non-decreasing), ``op`` (get/set/del), ``size`` (bytes) and ``ttl`` (seconds; empty for
      none).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    TraceError
        Naming the column and the first row whose value breaks the rule.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trace file not found: {path}")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        if "key" not in frame.columns:
            raise TraceError(f"{path}: a CSV trace needs a 'key' column; found columns "
                             f"{', '.join(frame.columns) or 'none'}")
        unknown = set(frame.columns) - {"key", "t", "op", "size", "ttl"}
        if unknown:
            raise TraceError(f"{path}: unknown column(s) {', '.join(sorted(unknown))}; "
                             "allowed: key, t, op, size, ttl")
    else:
        frame = pd.read_csv(path, header=None, names=["key"], dtype=str, keep_default_na=False,
                            skip_blank_lines=True)
    if frame.empty:
        raise TraceError(f"{path}: the trace holds no requests")
    keys = frame["key"].str.strip()
    if (keys == "").any():
        _bad(path, "key", frame["key"], (keys == "").to_numpy(), "a non-empty key")
    workload = from_keys(keys.to_numpy(), name="trace")
    n = len(workload)
    times = None
    if "t" in frame.columns:
        times = _numeric(path, frame, "t", "a time in seconds >= 0", minimum=0.0)
        decreasing = np.r_[False, np.diff(times) < 0]
        if decreasing.any():
            _bad(path, "t", frame["t"], decreasing, "non-decreasing times")
    ops = np.zeros(n, dtype=np.int8)
    if "op" in frame.columns:
        op_text = frame["op"].str.strip().str.lower()
        mapping = {name: i for i, name in enumerate(OP_NAMES)}
        codes = op_text.map(mapping)
        if codes.isna().any():
            _bad(path, "op", frame["op"], codes.isna().to_numpy(), "one of get, set, del")
        ops = codes.to_numpy(dtype=np.int8)
    sizes = np.ones(n, dtype=np.int64)
    if "size" in frame.columns:
        sizes_f = _numeric(path, frame, "size", "a size in bytes >= 0", minimum=0.0)
        if np.any(sizes_f != np.floor(sizes_f)):
            _bad(path, "size", frame["size"], sizes_f != np.floor(sizes_f), "a whole number of bytes")
        sizes = sizes_f.astype(np.int64)
    ttls = np.full(n, np.nan)
    if "ttl" in frame.columns:
        ttls = _numeric(path, frame, "ttl", "a TTL in seconds > 0 or nothing", allow_empty=True,
                        minimum=np.nextafter(0, 1))
    return Workload(keys=workload.keys, ops=ops, times=times, sizes=sizes, ttls=ttls,
                    key_names=workload.key_names,
                    params={"generator": "trace", "path": str(path), "n_requests": n,
                            "columns": list(frame.columns)})


def with_scans(workload: Workload, *, every: int, length: int) -> Workload:
    """``workload`` with a scan inserted after every ``every`` requests: ``length`` reads of
    keys never seen before and never read again (a report, a crawler, a batch job).

    Scans pollute recency-based caches: LRU makes room for keys that will not come back.
    """
    every = v.positive_int("every", every)
    length = v.positive_int("length", length)
    n = len(workload)
    n_scans = n // every
    if n_scans == 0:
        raise ValueError(f"every ({every}) must be at most the number of requests ({n})")
    scan_ids = workload.n_keys + np.arange(n_scans * length, dtype=np.int64)
    pieces_k, pieces_o, pieces_s, pieces_t, pieces_time = [], [], [], [], []
    times = workload.times
    for s in range(n_scans + 1):
        lo, hi = s * every, min(n, (s + 1) * every)
        pieces_k.append(workload.keys[lo:hi])
        pieces_o.append(workload.ops[lo:hi])
        pieces_s.append(workload.sizes[lo:hi])
        pieces_t.append(workload.ttls[lo:hi])
        if times is not None:
            pieces_time.append(times[lo:hi])
        if s < n_scans:
            pieces_k.append(scan_ids[s * length:(s + 1) * length])
            pieces_o.append(np.zeros(length, dtype=np.int8))
            pieces_s.append(np.full(length, int(np.median(workload.sizes)), dtype=np.int64))
            pieces_t.append(np.full(length, np.nan) if np.all(np.isnan(workload.ttls))
                            else np.full(length, np.nanmedian(workload.ttls)))
            if times is not None:  # the scan runs at the moment it interrupts
                pieces_time.append(np.full(length, times[hi - 1]))
    names = np.concatenate([workload.key_names,
                            np.array([f"scan:{i}" for i in range(len(scan_ids))], dtype=object)])
    return Workload(keys=np.concatenate(pieces_k), ops=np.concatenate(pieces_o),
                    times=np.concatenate(pieces_time) if times is not None else None,
                    sizes=np.concatenate(pieces_s), ttls=np.concatenate(pieces_t),
                    key_names=names,
                    params=dict(workload.params, scans={"every": every, "length": length}))
