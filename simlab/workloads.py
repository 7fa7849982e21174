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

from typing import TYPE_CHECKING

import numpy as np

from . import _validate as v
from ._random import resolve_seed, stream

if TYPE_CHECKING:     # pandas is imported where it is used: a trace of integers reads without it
    import pandas as pd

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

    Every column is checked when a workload is made (so that no compiled loop ever sees a key
    id out of range): at least one request; integer keys ``0 <= key < n_keys``; op codes 0, 1
    or 2; finite, non-negative, non-decreasing times; whole, non-negative sizes within int64;
    TTLs finite and > 0, or NaN. The first bad entry is named with its request number.

    The columns are read-only (``w.keys[0] = 5`` raises ``ValueError``): an array the caller
    could still change is copied first, so a workload cannot change after it was checked.
    The compiled engines check the key range again (:func:`check_keys`) right before they run.
    """

    keys: np.ndarray
    ops: np.ndarray
    times: np.ndarray | None
    sizes: np.ndarray
    ttls: np.ndarray
    key_names: np.ndarray
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        _check_columns(self)

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
        import pandas as pd

        n = min(n, len(self))
        return pd.DataFrame({
            "time": self.times[:n] if self.times is not None else np.full(n, np.nan),
            "key": self.key_names[self.keys[:n]],
            "op": np.asarray(OP_NAMES)[self.ops[:n]],
            "size": self.sizes[:n],
            "ttl": self.ttls[:n],
        })


def _reachable(arr) -> bool:
    """Whether someone other than a workload could write into ``arr``'s memory: it is
    writeable itself, or is a view of a writeable array."""
    while isinstance(arr, np.ndarray):
        if arr.flags.writeable:
            return True
        arr = arr.base
    return False


def _read_only(value, arr):
    """``arr`` (made from ``value``) as an array nobody can write into: frozen where it
    stands if it was just made here, else a read-only copy unless it already is one."""
    fresh = isinstance(value, (list, tuple, range)) and arr.base is None
    if not fresh and _reachable(arr):
        arr = arr.copy()
    arr.flags.writeable = False
    return arr


def _column(w, name, value, n, kinds, rule):
    """``value`` as a read-only 1-D array of one of the dtype ``kinds``, one entry per
    request (frozen before it is checked, so that what is checked is what is kept)."""
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in kinds or (n is not None and arr.shape[0] != n):
        shape = "" if n is None else f", {n} of them"
        raise TypeError(f"Workload {name} must be a 1-D array of {rule}{shape}; got "
                        f"{arr.dtype} with shape {arr.shape}")
    return _read_only(value, arr)


def _final(arr, dtype):
    """A checked, read-only column in the engine's ``dtype``, contiguous as the compiled
    kernels take it (a converted copy is frozen)."""
    out = np.ascontiguousarray(arr.astype(dtype, copy=False))
    out.flags.writeable = False
    return out


def check_keys(workload) -> None:
    """Refuse a workload whose key ids left ``0 .. n_keys-1`` after it was made, or whose
    columns are no longer the types and lengths the compiled loops read.

    The columns are read-only, but an owner can make an array writeable again or swap it with
    ``object.__setattr__``: the compiled engines, which index arrays by key id without bounds
    checks and read each column as its type without asking, call this (one pass of min and
    max) right before they run.
    """
    keys, n_keys = workload.keys, workload.n_keys
    if not isinstance(keys, np.ndarray) or keys.ndim != 1 or keys.dtype != np.int64:
        raise TypeError(f"Workload keys must be a 1-D int64 array of key ids; got "
                        f"{type(keys).__name__} {getattr(keys, 'dtype', '')}")
    for name, dtype in (("ops", np.int8), ("times", np.float64), ("sizes", np.int64),
                        ("ttls", np.float64)):
        column = getattr(workload, name)
        if name == "times" and column is None:
            continue
        if (not isinstance(column, np.ndarray) or column.dtype != dtype
                or column.shape != keys.shape):
            raise TypeError(f"Workload {name} must be a 1-D {np.dtype(dtype).name} array of "
                            f"{keys.shape[0]} entries, one per request (the workload was "
                            f"changed after it was made); got {type(column).__name__} "
                            f"{getattr(column, 'dtype', '')} of shape "
                            f"{getattr(column, 'shape', '?')}")
    if keys.size and (int(keys.min()) < 0 or int(keys.max()) >= n_keys):
        _first_bad("keys", keys, (keys < 0) | (keys >= n_keys),
                   f"key ids from 0 to n_keys-1 = {n_keys - 1} (the workload was changed "
                   "after it was made)")


def _first_bad(name, arr, mask, rule):
    i = int(np.flatnonzero(mask)[0])
    raise ValueError(f"Workload {name} must hold {rule}; request {i} has {arr[i].item()!r}")


def _check_columns(w):
    """Every column's type, length and range, so that no compiled loop sees a key id out of
    range, a time that is not a number or a size that wraps around."""
    names = np.asarray(w.key_names, dtype=object) if not isinstance(w.key_names, np.ndarray) \
        else _read_only(w.key_names, w.key_names)
    if names.ndim != 1 or names.size == 0:
        raise ValueError(f"Workload key_names must be a 1-D array with at least one label, got "
                         f"shape {names.shape}")
    keys = _column(w, "keys", w.keys, None, "iu", "integer key ids")
    n = keys.shape[0]
    if n == 0:
        raise ValueError("Workload must hold at least one request, got none")
    n_keys = names.shape[0]
    lo, hi = int(keys.min()), int(keys.max())
    if lo < 0 or hi >= n_keys:
        _first_bad("keys", keys, (keys < 0) | (keys >= n_keys),
                   f"key ids from 0 to n_keys-1 = {n_keys - 1} (one per label in key_names)")
    ops = _column(w, "ops", w.ops, n, "iu", "op codes (0 get, 1 set, 2 del)")
    if ops.size and (int(ops.min()) < GET or int(ops.max()) > DEL):
        _first_bad("ops", ops, (ops < GET) | (ops > DEL), "op codes 0 (get), 1 (set), 2 (del)")
    sizes = _column(w, "sizes", w.sizes, n, "iuf", "sizes in bytes")
    bad = ~np.isfinite(sizes) | (sizes < 0) if sizes.dtype.kind == "f" else sizes < 0
    if sizes.dtype.kind == "f":
        bad |= (sizes >= 2.0 ** 63) | (np.nan_to_num(sizes) != np.floor(np.nan_to_num(sizes)))
    elif sizes.dtype.kind == "u":
        bad |= sizes > v.INT64_MAX
    if bad.any():
        _first_bad("sizes", sizes, bad, f"whole numbers of bytes from 0 to {v.INT64_MAX}")
    ttls = _column(w, "ttls", w.ttls, n, "iuf", "TTLs in seconds (nan: none)")
    bad = ~np.isnan(ttls) & ~((ttls > 0) & np.isfinite(ttls)) if ttls.dtype.kind == "f" \
        else ttls <= 0
    if bad.any():
        _first_bad("ttls", ttls, bad, "TTLs in seconds, finite and > 0, or nan for none")
    times = w.times
    if times is not None:
        times = _column(w, "times", times, n, "iuf", "arrival times in seconds")
        bad = ~np.isfinite(times) | (times < 0)
        if bad.any():
            _first_bad("times", times, bad, "finite arrival times in seconds >= 0")
        back = np.r_[False, np.diff(times) < 0]
        if back.any():
            _first_bad("times", times, back, "non-decreasing arrival times")
        times = _final(times, np.float64)
    names.flags.writeable = False
    for name, value in (("key_names", names), ("keys", _final(keys, np.int64)),
                        ("ops", _final(ops, np.int8)), ("sizes", _final(sizes, np.int64)),
                        ("ttls", _final(ttls, np.float64)), ("times", times)):
        object.__setattr__(w, name, value)
    if not isinstance(w.params, dict):
        raise TypeError(f"Workload params must be a dict, got {type(w.params).__name__}")


# --- popularity -------------------------------------------------------------------------

DENSE_KEYS = 10 ** 7
"""Above this many keys, synthetic workloads are sampled without a table of probabilities and
only the keys drawn get ids (see :func:`zipf`)."""
MAX_KEYS = 2 ** 53       # key ranks stay exact in float64
WORKLOAD_BYTES_PER_REQUEST = 48
DENSE_BYTES_PER_KEY = 180
SPARSE_BYTES_PER_REQUEST = 200


def _key_space(n_keys):
    n_keys = v.positive_int("n_keys", n_keys)
    if n_keys > MAX_KEYS:
        raise ValueError(f"n_keys must be at most 2**53 = {MAX_KEYS} (key ranks are exact "
                         f"below it), got {n_keys!r}")
    return n_keys


def check_workload_memory(n_keys: int, n_requests: int, *, names=("n_keys=", "n_requests="),
                          extra_per_request: float = 0.0, purpose: str = "the workload",
                          advice: str = "use fewer requests") -> None:
    """Refuse, before allocating, a synthetic workload this machine cannot hold.

    ``extra_per_request`` adds what the caller will need per request afterwards (the CLI adds
    the simulation's table), so the refusal comes before anything is drawn."""
    per_key = DENSE_BYTES_PER_KEY if n_keys <= DENSE_KEYS else 0
    per_request = WORKLOAD_BYTES_PER_REQUEST + extra_per_request + (
        0 if n_keys <= DENSE_KEYS else SPARSE_BYTES_PER_REQUEST)
    key_bytes, request_bytes = per_key * n_keys, per_request * n_requests
    name, value = (names[0], n_keys) if key_bytes > request_bytes else (names[1], n_requests)
    v.memory(f"{name}{value}", key_bytes + request_bytes, purpose, advice)


def zipf_probabilities(n_keys: int, alpha: float) -> np.ndarray:
    """Bounded Zipf popularity: ``p_i`` proportional to ``(i+1) ** -alpha`` for i < n_keys.

    ``alpha = 0`` is uniform. Any number of keys and any ``alpha >= 0`` (unlike
    ``numpy.random.Generator.zipf``, which needs ``alpha > 1`` and is unbounded).
    """
    n_keys = _key_space(n_keys)
    alpha = v.nonnegative_real("alpha", alpha)
    v.memory(f"n_keys={n_keys}", 24 * n_keys, "the table of probabilities",
             "use fewer keys (zipf samples any number without one)")
    weights = np.arange(1, n_keys + 1, dtype=np.float64) ** -alpha
    return weights / weights.sum()


def _draw(probabilities: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    keys = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(keys, len(probabilities) - 1).astype(np.int64)


# Rejection-inversion (Hörmann and Derflinger 1996, "Rejection-inversion to generate variates
# from monotone discrete distributions"), as in Apache Commons RNG: exact bounded Zipf draws
# in O(1) memory per draw, for any exponent and any number of keys.

def _helper1(x):  # log1p(x) / x, exact near 0
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    return np.where(small, 1 - x / 2 + x * x / 3, np.log1p(safe) / safe)


def _helper2(x):  # expm1(x) / x, exact near 0
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    return np.where(small, 1 + x / 2 + x * x / 6, np.expm1(safe) / safe)


def _h(x, alpha):
    return np.exp(-alpha * np.log(x))


def _h_integral(x, alpha):
    log_x = np.log(x)
    return _helper2((1 - alpha) * log_x) * log_x


def _h_integral_inverse(x, alpha):
    t = np.maximum(x * (1 - alpha), -1.0)
    return np.exp(_helper1(t) * x)


STEEP_ALPHA, STEEP_KEYS = 40.0, 1000


def zipf_rejection_inversion(n_keys: int, alpha: float, n: int,
                             rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of a bounded Zipf law over ``0 .. n_keys-1`` (``P(i)`` proportional to
    ``(i+1) ** -alpha``) without a table: memory grows with ``n``, not with ``n_keys``."""
    if alpha == 0:
        return rng.integers(0, n_keys, n, dtype=np.int64)
    if alpha > STEEP_ALPHA:
        # keys beyond the first STEEP_KEYS hold less than 1e-110 of the probability, far
        # below float64's resolution: the table over those keys is the same law
        return _draw(zipf_probabilities(min(n_keys, STEEP_KEYS), alpha), n, rng)
    h_x1 = float(_h_integral(1.5, alpha)) - 1.0
    h_n = float(_h_integral(n_keys + 0.5, alpha))
    s = 2.0 - float(_h_integral_inverse(_h_integral(2.5, alpha) - _h(2.0, alpha), alpha))
    out = np.empty(n, dtype=np.int64)
    filled = 0
    while filled < n:
        m = n - filled
        u = h_n + rng.random(m + m // 8 + 16) * (h_x1 - h_n)
        x = _h_integral_inverse(u, alpha)
        k = np.clip(np.floor(x + 0.5), 1, n_keys)
        accept = (k - x <= s) | (u >= _h_integral(k + 0.5, alpha) - _h(k, alpha))
        take = k[accept][:m]
        out[filled:filled + take.size] = take.astype(np.int64) - 1
        filled += take.size
    return out


def _hot_set_draw(n_keys, n_hot, hot_share, n, rng):
    """Hot-set draws by inversion without a table (for key spaces above DENSE_KEYS)."""
    u = rng.random(n)
    if n_hot >= n_keys:
        return np.minimum((u * n_keys).astype(np.int64), n_keys - 1)
    hot = u < hot_share
    in_hot = np.floor(u / max(hot_share, 1e-300) * n_hot)
    cold_u = (u - hot_share) / max(1 - hot_share, 1e-300)
    in_cold = n_hot + np.floor(cold_u * (n_keys - n_hot))
    ids = np.where(hot, np.minimum(in_hot, n_hot - 1), np.clip(in_cold, n_hot, n_keys - 1))
    return ids.astype(np.int64)


def _compact(ranks):
    """Dense ids for the keys drawn, in order of popularity rank; their labels are the ranks
    (so the most popular key is still named ``"0"``)."""
    uniques, ids = np.unique(ranks, return_inverse=True)
    return ids.astype(np.int64).reshape(-1), uniques.astype(str).astype(object)


def _dense_names(n_keys):
    return np.arange(n_keys).astype(str).astype(object)


def poisson_arrivals(n_requests: int, rate: float, rng=None) -> np.ndarray:
    """Arrival times (s) of a Poisson stream of ``rate`` requests per second, starting near 0."""
    n_requests = v.positive_int("n_requests", n_requests)
    rate = v.positive_real("rate", rate)
    v.horizon("rate", rate, n_requests, rate)
    v.memory(f"n_requests={n_requests}", 16 * n_requests, "the arrival times",
             "use fewer requests")
    rng = np.random.default_rng(rng)
    return np.cumsum(rng.exponential(1.0 / rate, n_requests))


def _request_options(n_requests: int, *, rate, read_fraction, value_size, ttl,
                     ttl_jitter) -> dict:
    """The options every synthetic workload takes for its requests, checked before anything is
    drawn (a bad ``ttl`` is refused at once, not after drawing 10**8 keys): ``rate`` (None or
    positive, finite, and not so low that the arrivals overrun the virtual clock),
    ``read_fraction`` (0 to 1), ``value_size`` (1 byte to 512 MB, or an object with
    ``sample(n, rng)``), ``ttl`` (None or seconds) and ``ttl_jitter`` (0 to below 1).

    Returns them normalised, as :func:`_assemble` takes them."""
    if rate is not None:
        rate = v.positive_real("rate", rate)
        v.horizon("rate", rate, n_requests, rate)
    read_fraction = v.fraction("read_fraction", read_fraction)
    if hasattr(value_size, "sample"):
        if not callable(value_size.sample):
            raise TypeError(f"value_size must be a number of bytes or a distribution with "
                            f"sample(n, rng), got {value_size!r}")
    else:
        value_size = v.value_bytes("value_size", value_size)
    if ttl is not None:
        ttl = v.seconds("ttl", ttl)
    jitter = v.nonnegative_real("ttl_jitter", ttl_jitter)
    if jitter >= 1:
        raise ValueError(f"ttl_jitter must be below 1 (a TTL stays positive), got "
                         f"{ttl_jitter!r}")
    return {"rate": rate, "read_fraction": read_fraction, "value_size": value_size,
            "ttl": ttl, "ttl_jitter": jitter}


def _sizes(value_size, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sizes of ``n`` requests: ``value_size`` checked by :func:`_request_options`; a
    distribution's draws are checked here, once drawn."""
    if hasattr(value_size, "sample"):
        drawn = np.asarray(value_size.sample(n, rng), dtype=np.float64)
        bad = ~np.isfinite(drawn) | (drawn > v.MAX_VALUE_BYTES)
        if bad.any():
            raise ValueError(f"value_size must draw sizes up to {v.MAX_VALUE_BYTES} bytes "
                             f"(512 MB, the largest string Redis keeps); {value_size!r} drew "
                             f"{drawn[bad][0]!r}")
        return np.maximum(np.rint(drawn).astype(np.int64), 1)
    return np.full(n, value_size, dtype=np.int64)


def _ttls(ttl, n: int, jitter: float = 0.0, rng=None) -> np.ndarray:
    """TTLs of ``n`` requests (``ttl`` and ``jitter`` checked by :func:`_request_options`)."""
    if ttl is None:
        return np.full(n, np.nan)
    if jitter == 0:
        return np.full(n, ttl)
    return ttl * rng.uniform(1 - jitter, 1 + jitter, n)


def _made_here(**columns) -> Workload:
    """A Workload from columns just made in this module, which nobody else holds: frozen where
    they stand, so that :class:`Workload` does not copy them."""
    for value in columns.values():
        if isinstance(value, np.ndarray) and value.base is None:
            value.flags.writeable = False
    return Workload(**columns)


def _assemble(keys, key_names, *, n_requests, seed, params, options, given) -> Workload:
    """The workload of ``keys``: ``options`` as checked by :func:`_request_options`, ``given``
    as the caller wrote them (kept in ``params``)."""
    rate, read_fraction = options["rate"], options["read_fraction"]
    value_size, ttl, ttl_jitter = options["value_size"], options["ttl"], options["ttl_jitter"]
    ops = np.zeros(n_requests, dtype=np.int8)
    if read_fraction < 1:
        ops[stream(seed, "ops").random(n_requests) >= read_fraction] = SET
    times = None if rate is None else poisson_arrivals(n_requests, rate, stream(seed, "arrivals"))
    params = dict(params, n_requests=n_requests, rate=rate, read_fraction=read_fraction,
                  value_size=repr(value_size) if hasattr(value_size, "sample")
                  else given["value_size"],
                  ttl=given["ttl"], ttl_jitter=given["ttl_jitter"], seed=seed)
    return _made_here(keys=keys, ops=ops, times=times,
                    sizes=_sizes(value_size, n_requests, stream(seed, "sizes")),
                    ttls=_ttls(ttl, n_requests, ttl_jitter, stream(seed, "ttl")),
                    key_names=key_names, params=params)


def zipf(n_keys: int, alpha: float, n_requests: int, *, rate: float | None = None,
         read_fraction: float = 1.0, value_size=100, ttl: float | None = None,
         ttl_jitter: float = 0.0, seed: int | None = None) -> Workload:
    """Requests whose popularity follows a bounded Zipf law.

    Parameters
    ----------
    n_keys : int
        Size of the key space (1 to 2**53). Up to 10**7 keys the draws use the table of
        probabilities; above, rejection-inversion (Hörmann and Derflinger), the same law
        without a table, and only the keys drawn get ids (their labels are their ranks,
        ``params["n_keys"]`` keeps the key space).
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
    n_keys = _key_space(n_keys)
    alpha = v.nonnegative_real("alpha", alpha)
    given = {"value_size": value_size, "ttl": ttl, "ttl_jitter": ttl_jitter}
    options = _request_options(n_requests, rate=rate, read_fraction=read_fraction, **given)
    seed = resolve_seed(seed)
    check_workload_memory(n_keys, n_requests)
    if n_keys <= DENSE_KEYS:
        keys = _draw(zipf_probabilities(n_keys, alpha), n_requests, stream(seed, "keys"))
        names = _dense_names(n_keys)
    else:
        keys, names = _compact(zipf_rejection_inversion(n_keys, alpha, n_requests,
                                                        stream(seed, "keys")))
    return _assemble(keys, names, n_requests=n_requests, seed=seed, options=options,
                     given=given,
                     params={"generator": "zipf", "n_keys": int(n_keys), "alpha": float(alpha)})


def hot_set_probabilities(n_keys: int, hot_fraction: float, hot_share: float) -> np.ndarray:
    """Popularity where ``hot_fraction`` of the keys receive ``hot_share`` of the requests."""
    n_keys = _key_space(n_keys)
    hot_fraction = v.fraction("hot_fraction", hot_fraction, open_low=True)
    hot_share = v.fraction("hot_share", hot_share)
    v.memory(f"n_keys={n_keys}", 16 * n_keys, "the table of probabilities",
             "use fewer keys (hot_set samples any number without one)")
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
    n_keys = _key_space(n_keys)
    hot_fraction = v.fraction("hot_fraction", hot_fraction, open_low=True)
    hot_share = v.fraction("hot_share", hot_share)
    given = {"value_size": value_size, "ttl": ttl, "ttl_jitter": ttl_jitter}
    options = _request_options(n_requests, rate=rate, read_fraction=read_fraction, **given)
    seed = resolve_seed(seed)
    check_workload_memory(n_keys, n_requests)
    if n_keys <= DENSE_KEYS:
        keys = _draw(hot_set_probabilities(n_keys, hot_fraction, hot_share), n_requests,
                     stream(seed, "keys"))
        names = _dense_names(n_keys)
    else:
        n_hot = max(1, int(round(n_keys * hot_fraction)))
        keys, names = _compact(_hot_set_draw(n_keys, n_hot, hot_share, n_requests,
                                             stream(seed, "keys")))
    return _assemble(keys, names, n_requests=n_requests, seed=seed, options=options,
                     given=given,
                     params={"generator": "hot_set", "n_keys": int(n_keys),
                             "hot_fraction": float(hot_fraction), "hot_share": float(hot_share)})


def from_keys(keys, *, times=None, name: str = "keys") -> Workload:
    """A read-only workload from a sequence of key labels (and optional arrival times)."""
    if isinstance(keys, (str, bytes)) or np.ndim(keys) != 1:
        raise TypeError(f"keys must be a sequence of key labels, one per request, got "
                        f"{keys!r:.80}")
    import pandas as pd

    labels = pd.Series(np.asarray(keys))
    if labels.empty:
        raise ValueError("keys must hold at least one request, got an empty sequence")
    codes, uniques = pd.factorize(labels, sort=False)
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(f"keys must not hold missing labels (None or NaN); request {i} has "
                         f"{labels.iloc[i]!r}")
    n = len(codes)
    if times is not None:
        try:
            times = np.array(times, dtype=np.float64)     # a copy: the caller keeps theirs
        except (TypeError, ValueError):
            raise TypeError(f"times must be a sequence of numbers (seconds), got "
                            f"{times!r:.80}") from None
        if times.shape != (n,):
            raise ValueError(f"times must have one entry per key ({n}), got shape {times.shape}")
        if np.any(np.diff(times) < 0) or not np.all(np.isfinite(times)):
            raise ValueError("times must be finite and non-decreasing")
    return _made_here(keys=codes.astype(np.int64), ops=np.zeros(n, dtype=np.int8), times=times,
                    sizes=np.ones(n, dtype=np.int64), ttls=np.full(n, np.nan),
                    key_names=np.asarray(uniques, dtype=object),
                    params={"generator": name, "n_requests": n})


# --- traces -----------------------------------------------------------------------------

def _bad(path, column, series, mask, rule):
    row = int(np.flatnonzero(mask)[0])
    raise TraceError(f"{path}: column '{column}' must hold {rule}; "
                     f"row {row + 1} has {series.iloc[row]!r}")


def _numeric(path, frame, column, rule, *, allow_empty=False, minimum=0.0,
             below=np.inf):
    import pandas as pd

    raw = frame[column]
    empty = raw.isna() | (raw.astype(str).str.strip() == "")
    values = pd.to_numeric(raw.where(~empty), errors="coerce").astype(np.float64)
    bad = (values.isna() & ~empty) if allow_empty else values.isna()
    bad |= (values < minimum) | np.isinf(values) | (values >= below)
    if bad.any():
        _bad(path, column, raw, bad.to_numpy(), rule)
    return values.to_numpy(dtype=np.float64)


def _integer_lines(path):
    """The key ids and labels (``codes``, ``labels``) of a one-key-per-line trace whose every
    line is an integer written plainly (digits, an optional minus sign, no leading zero, no
    ``-0``, no blank line, within int64), else ``None``.

    Such a trace (block numbers, object ids) reads as numbers, in one compiled pass and
    without pandas, about 5x faster than as text, with the same key ids and names: a plain
    spelling is the only one whose text is the number's own ``str``."""
    from ._aot import kernels

    codes, labels, plain = kernels().int_line_keys(np.fromfile(path, dtype=np.uint8))
    return (codes, labels) if plain else None


def _integer_trace(path, codes, labels):
    n = len(codes)
    return _made_here(keys=codes, ops=np.zeros(n, dtype=np.int8), times=None,
                    sizes=np.ones(n, dtype=np.int64), ttls=np.full(n, np.nan),
                    key_names=np.fromiter(map(str, labels.tolist()), dtype=object,
                                          count=len(labels)),   # 2x astype(str)
                    params={"generator": "trace", "path": str(path), "n_requests": n,
                            "columns": ["key"]})


TRACE_BYTES_PER_FILE_BYTE = {".csv": 16, "": 8}
"""Memory a trace takes while it is read, per byte of file (measured with ru_maxrss: about 13
for a CSV with every column, 2 for one key per line; rounded up for short keys)."""


def _trace_file(path) -> Path:
    """``path`` if it is a regular file this machine can read into memory, else one line
    saying why not: checked before a byte is read (a 20 GB sparse file, ``/dev/zero``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trace file not found: {path}")
    if path.is_dir():
        raise TraceError(f"{path} is a directory; give a trace file (one key per line, or "
                         "a CSV with a 'key' column)")
    if not path.is_file():
        raise TraceError(f"{path} is not a regular file (a device, pipe or socket); give a "
                         "trace file")
    size = path.stat().st_size
    if size == 0:
        raise TraceError(f"{path}: the trace is empty (the file has no requests)")
    per_byte = TRACE_BYTES_PER_FILE_BYTE.get(path.suffix.lower(), TRACE_BYTES_PER_FILE_BYTE[""])
    v.memory(f"{path} ({v.format_bytes(size)})", per_byte * size, "reading the trace",
             "use a shorter trace (e.g. its first lines: head -n 1000000)")
    _check_text(path)
    return path


def _check_text(path, head: int = 1 << 16) -> None:
    """Refuse a file whose first ``head`` bytes are not text (a NUL byte, or not UTF-8)."""
    import codecs

    with open(path, "rb") as fh:
        data = fh.read(head)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) < head)
        at = data.find(b"\0")
    except UnicodeDecodeError as exc:
        at = exc.start
    if at >= 0:
        raise TraceError(f"{path} is not a text file (byte {at} is not UTF-8 text); a trace "
                         "is text: one key per line, or a CSV with a 'key' column")


def _parse(path, **options) -> pd.DataFrame:
    """``pandas.read_csv`` of a trace, its failures as one :class:`TraceError` line."""
    import pandas as pd

    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise TraceError(f"{path}: the trace holds no requests (only blank lines)") \
            from None
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path} is not a text file (byte {exc.start} is not UTF-8); a "
                         "trace is text: one key per line, or a CSV with a 'key' column") \
            from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise TraceError(f"{path} cannot be read as a trace: {problem}") from None


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
        For a folder, a device or pipe, a file too large for this machine's memory (checked
        from its size before it is read), a file that is empty or not text; else naming the
        column and the first row whose value breaks the rule. Every message starts with the
        path.
    """
    path = _trace_file(path)
    if path.suffix.lower() == ".csv":
        frame = _parse(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        if "key" not in frame.columns:
            raise TraceError(f"{path}: a CSV trace needs a 'key' column; found columns "
                             f"{', '.join(frame.columns) or 'none'}")
        unknown = set(frame.columns) - {"key", "t", "op", "size", "ttl"}
        if unknown:
            raise TraceError(f"{path}: unknown column(s) {', '.join(sorted(unknown))}; "
                             "allowed: key, t, op, size, ttl")
    else:
        keys = _integer_lines(path)
        if keys is not None:
            return _integer_trace(path, *keys)
        frame = _parse(path, header=None, names=["key"], dtype=str, keep_default_na=False,
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
        times = _numeric(path, frame, "t", "a finite time in seconds >= 0", minimum=0.0)
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
        sizes_f = _numeric(path, frame, "size", f"a size in bytes from 0 to {v.INT64_MAX}",
                           minimum=0.0, below=2.0 ** 63)
        if np.any(sizes_f != np.floor(sizes_f)):
            _bad(path, "size", frame["size"], sizes_f != np.floor(sizes_f), "a whole number of bytes")
        sizes = sizes_f.astype(np.int64)
    ttls = np.full(n, np.nan)
    if "ttl" in frame.columns:
        ttls = _numeric(path, frame, "ttl", "a finite TTL in seconds > 0 or nothing",
                        allow_empty=True,
                        minimum=np.nextafter(0, 1))
    return _made_here(keys=workload.keys, ops=ops, times=times, sizes=sizes, ttls=ttls,
                    key_names=workload.key_names,
                    params={"generator": "trace", "path": str(path), "n_requests": n,
                            "columns": list(frame.columns)})


SCAN_BYTES_PER_REQUEST = 192
"""Memory :func:`with_scans` takes per request of its result (measured with ru_maxrss: about
125 B, 150 with arrival times, most of it the label of each scanned key), rounded up."""


def with_scans(workload: Workload, *, every: int, length: int) -> Workload:
    """``workload`` with a scan inserted after every ``every`` requests: ``length`` reads of
    keys never seen before and never read again (a report, a crawler, a batch job).

    Scans pollute recency-based caches: LRU makes room for keys that will not come back.
    """
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a simlab Workload, got {type(workload).__name__}")
    every = v.positive_int("every", every)
    length = v.positive_int("length", length)
    n = len(workload)
    n_scans = n // every
    if n_scans == 0:
        raise ValueError(f"every ({every}) must be at most the number of requests ({n})")
    scanned = n_scans * length
    v.memory(f"every={every}, length={length} ({n_scans:,} scans of {length:,} reads, "
             f"{n + scanned:,} requests)", SCAN_BYTES_PER_REQUEST * (n + scanned),
             "the workload with its scans", "use a larger every or a shorter length")
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
    return _made_here(keys=np.concatenate(pieces_k), ops=np.concatenate(pieces_o),
                    times=np.concatenate(pieces_time) if times is not None else None,
                    sizes=np.concatenate(pieces_s), ttls=np.concatenate(pieces_t),
                    key_names=names,
                    params=dict(workload.params, scans={"every": every, "length": length}))
