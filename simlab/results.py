"""The per-request table shared by the simulation and the live runs, and its summary.

:func:`simlab.simulate` and :meth:`simlab.CacheAside.run` both build their table here, with
:func:`build_table`: the same columns, dtypes, key names and ``attrs``.

Columns (seconds unless named otherwise):

============================  ==================================================
``time``                      when the request started
``key``                       the key's label in the workload (categorical, one category per
                              key id: ``workload.key_names``)
``op``                        ``get``, ``set`` or ``del``
``outcome``                   ``hit``, ``miss`` or ``write`` (:class:`Outcome`)
``whiteboard_latency``        time spent talking to Redis
``filing_room_latency``       time spent in the database
``latency``                   total time the caller waited
``inflight``                  the miss found the key's fill still running (a live run serves
                              one request at a time: always False there)
``expired``                   the miss found the key's TTL passed (live: by the deadline this
                              client set)
============================  ==================================================

``attrs`` (every table has every key; ``None`` where it does not apply), see :data:`ATTRS`.
In a live run ``time`` and the three latency columns are measured, not drawn: they are the
columns a live run and its simulation are not expected to share.

Warm-up, one meaning everywhere: ``warmup`` is the **number of first requests** left out of
a count (they still fill the whiteboard); ``warmup_share`` is the same cut given as a share
of the requests (:func:`summarize`, :func:`simlab.engine.steady_hit_ratio`).
"""
from __future__ import annotations

import enum
import numbers
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .workloads import OP_NAMES, Workload

if TYPE_CHECKING:     # imported where a table is built: a summary of a Run needs no pandas
    import pandas as pd


class Outcome(enum.IntEnum):
    """What a request did, as stored in the engines' int8 outcome arrays; the table's
    ``outcome`` column is a categorical whose codes are these values."""

    HIT = 0      #: served from the whiteboard
    MISS = 1     #: read from the filing room (and the whiteboard filled)
    WRITE = 2    #: written to the filing room, the whiteboard's copy deleted

    @property
    def label(self) -> str:
        """The category in the table: ``hit``, ``miss`` or ``write``."""
        return self.name.lower()


class Flag(enum.IntFlag):
    """Bits of the engines' int8 flags array (the ``inflight`` and ``expired`` columns)."""

    INFLIGHT = 1
    EXPIRED = 2


OUTCOMES = tuple(o.label for o in Outcome)
COLUMNS = ("time", "key", "op", "outcome", "whiteboard_latency", "filing_room_latency",
           "latency", "inflight", "expired")
TIMING_COLUMNS = ("time", "whiteboard_latency", "filing_room_latency", "latency")
"""Columns a live run measures: equal to its simulation only by chance."""

ATTRS = {
    "source": '"simulation" or "live"',
    "model": 'which whiteboard served the requests: "textbook" (a capacity in keys, '
             ':mod:`simlab.caches`), "redis" (simlab\'s Redis model, maxmemory in bytes) or '
             '"server" (a live run: the server named in whiteboard_backend)',
    "engine": '"fast" (compiled), "reference" (the plain-Python oracle) or "live"',
    "whiteboard_backend": "one line naming what served the whiteboard",
    "filing_room_backend": "one line naming what served the filing room",
    "whiteboard": 'the whiteboard latency model (its repr); "measured" in a live run',
    "filing_room": 'the filing-room latency model (its repr); "measured" in a live run',
    "policy": "the eviction policy (live: the server's maxmemory-policy, None if it does not "
              "say)",
    "cache_size": "capacity in keys (textbook model), else None",
    "maxmemory": "bytes for the data set (Redis model; live: the server's maxmemory, 0 = no "
                 "limit, None if it does not say), else None",
    "samples": "maxmemory-samples (Redis model; live: the server's), else None",
    "lfu_log_factor": "lfu-log-factor (Redis model; live: the server's), else None",
    "lfu_decay_time": "lfu-decay-time in minutes (Redis model; live: the server's), else None",
    "ttl_mode": '"fixed" (a TTL runs from the fill) or "sliding" (every hit restarts it)',
    "atomic": "whether a miss fills the whiteboard at its own start (a live run serves one "
              "request at a time: True)",
    "sequential": "the workload has no arrival times: requests one after another",
    "clock": 'how arrival times were kept: "virtual" (on a virtual clock: the simulation of a '
             'timed workload; a live run on fakeredis or model:// whose clock jumps to each '
             'arrival), "paced" (a live run on a real server, each request sent at its '
             'arrival time), "back-to-back" (each request right after the previous one: a '
             'sequential workload, or a live run with pace=False)',
    "seed": "the seed of the run's own random draws (latencies, eviction, sampling); None in "
            "a live run, which draws none (the workload's seed is in workload)",
    "workload": "the workload's params (how it was made)",
    "evictions": "keys evicted (live: the server's evicted_keys during the run, None if it "
                 "does not say)",
    "expired_removed": "keys a request found expired (and removed)",
    "inflight_misses": "misses that found the key's fill still running",
    "fills": "fills written to the whiteboard (after a miss)",
    "keys_at_end": "keys on the whiteboard at the end, counted as the models' lazy expiry "
                   "does: a key whose TTL passed and that no request touched again still "
                   "counts (a live run adds such keys of its own to what EXISTS finds)",
    "oom_errors": "fills refused because memory was full (noeviction, or a volatile policy "
                  "with nothing to evict)",
    "bytes_at_end": "the Redis model's bytes for the data set at the end, else None",
    "elapsed_s": "seconds the engine (or the live replay) took",
}
"""Every ``attrs`` key of a cache-aside table and its meaning."""


def key_name(key) -> str:
    """The name under which a key is stored on the whiteboard (the Redis model's and the live
    run's names; the live layer puts them under the learner's namespace).

    An integer key id ``i`` (synthetic workloads) is ``key:%08d`` (``key:00000012``, 12 bytes
    below 10**8 ids); a label (traces) is ``key:<label>``.
    """
    if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, bool):
        return f"key:{int(key):08d}"
    return f"key:{key}"


def is_synthetic(workload: Workload) -> bool:
    """Whether the workload's keys are synthetic ids (stored as ``key:%08d``)."""
    return workload.params.get("generator") in ("zipf", "hot_set")


def key_column(workload: Workload, keys=None) -> pd.Categorical:
    """The ``key`` column: each request's label, one category per key id.

    The categories (the workload's ``key_names``, checked unique by pandas: 8 ms for 100,000
    labels) are built once per workload and kept on it, so a slider that reruns the same
    workload pays for them once. A workload's columns are read-only, so they cannot go
    stale; ``dataclasses.replace`` makes a new workload, which builds its own."""
    import pandas as pd

    dtype = workload.__dict__.get("_key_dtype")
    if dtype is None:
        dtype = pd.CategoricalDtype(workload.key_names)
        object.__setattr__(workload, "_key_dtype", dtype)      # a frozen dataclass's cache
    return pd.Categorical.from_codes(workload.keys if keys is None else keys, dtype=dtype,
                                     validate=False)


class Run(NamedTuple):
    """A run as arrays, before its table (``simulate(..., table=False)``): what
    :func:`build_table` turns into the per-request table, and what :func:`summarize` reads as
    it reads a table, without pandas (the ``simlab simulate`` command's path).

    ``outcome`` holds :class:`Outcome` codes and ``flags`` :class:`Flag` bits (int8 arrays);
    ``counters`` is (evictions, expired_removed, inflight_misses, fills, keys_at_end);
    ``params`` gives every other key of :data:`ATTRS` (missing ones are None).
    """

    start: np.ndarray
    outcome: np.ndarray
    whiteboard: np.ndarray
    filing_room: np.ndarray
    latency: np.ndarray
    flags: np.ndarray
    counters: tuple
    params: dict
    elapsed_s: float

    @property
    def attrs(self) -> dict:
        """The table's ``attrs``: every key of :data:`ATTRS`."""
        return run_attrs(self.counters, self.params, self.elapsed_s)


def run_attrs(counters, params, engine_s) -> dict:
    """Every key of :data:`ATTRS`, from a run's counters, params and engine time."""
    counters = [None if c is None else int(c) for c in counters]
    attrs = dict.fromkeys(ATTRS)
    attrs.update(params)
    attrs.update({"evictions": counters[0], "expired_removed": counters[1],
                  "inflight_misses": counters[2], "fills": counters[3],
                  "keys_at_end": counters[4], "elapsed_s": float(engine_s)})
    unknown = set(attrs) - set(ATTRS)
    if unknown:       # a new attr must be documented in ATTRS, for every table at once
        raise KeyError(f"attrs not in results.ATTRS: {sorted(unknown)}")
    return attrs


def build_table(workload: Workload, start, outcome, wb, db, total, flags, counters, params,
                engine_s) -> pd.DataFrame:
    """The per-request table of a run over ``workload`` (simulated or live), from the fields
    of a :class:`Run`."""
    import pandas as pd

    flags = np.asarray(flags, dtype=np.int8)
    df = pd.DataFrame({
        "time": start,
        "key": key_column(workload),
        "op": pd.Categorical.from_codes(workload.ops, categories=OP_NAMES, validate=False),
        "outcome": pd.Categorical.from_codes(outcome, categories=OUTCOMES, validate=False),
        "whiteboard_latency": wb,
        "filing_room_latency": db,
        "latency": total,
        # a bit's own 0/1 byte read as a bool (Flag's two bits are 1 and 2; int8 operands,
        # or NumPy would widen the bytes)
        "inflight": np.bitwise_and(flags, np.int8(Flag.INFLIGHT)).view(bool),
        "expired": np.right_shift(np.bitwise_and(flags, np.int8(Flag.EXPIRED)),
                                  np.int8(1)).view(bool),
    }, copy=False)
    df.attrs.update(run_attrs(counters, params, engine_s))
    return df


def warmup_cut(n: int, warmup, warmup_share, *, default_share: float) -> int:
    """The number of first requests a count leaves out, from ``warmup`` (a number of
    requests) or ``warmup_share`` (a share of the ``n`` requests), at most one of them.

    A ``warmup`` strictly between 0 and 1 (the share it meant in earlier versions) is refused
    with a sentence pointing to ``warmup_share``.
    """
    from . import _validate as v

    if warmup is not None and warmup_share is not None:
        raise ValueError(f"give warmup (a number of requests) or warmup_share (a share of "
                         f"them), not both; got warmup={warmup!r}, warmup_share="
                         f"{warmup_share!r}")
    if isinstance(warmup, (float, np.floating)) and 0 < warmup < 1:
        raise ValueError(f"warmup is a number of requests (an integer >= 0), got {warmup!r}; "
                         f"for a share of them write warmup_share={warmup!r}")
    if warmup is not None:
        warmup = v.nonnegative_int("warmup", warmup)
        if n and warmup >= n:
            raise ValueError(f"warmup must be fewer than the {n:,} requests, got {warmup!r}")
        return warmup
    share = default_share if warmup_share is None else warmup_share
    share = v.fraction("warmup_share", share)
    if share >= 1:
        raise ValueError(f"warmup_share must be a share of the requests in [0, 1), got "
                         f"{warmup_share!r}")
    return int(n * share)


def quantiles(values, qs) -> np.ndarray:
    """``numpy.quantile(values, qs)`` (its default, linear interpolation) of a 1-D float
    array, in a fraction of the time for a million values (NaN among the values: NaN, as
    NumPy says).

    NumPy partitions around several ranks at once with a scalar selection; around one rank
    it uses a vectorised one (x86-simd-sort), about 10x faster here. So each order statistic
    is found with one-rank partitions, the largest first, each on the part below the last:
    ``x[k]`` by the partition, ``x[k+1]`` as the minimum above it. The interpolation is
    NumPy's own formula (``a + (b-a)*t``, or ``b - (b-a)*(1-t)`` from ``t = 0.5``)."""
    x = np.array(values, dtype=np.float64)          # a copy: partitioned in place
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {x.shape}")
    qs = np.asarray(qs, dtype=np.float64)
    if qs.ndim != 1 or np.any((qs < 0) | (qs > 1)) or np.any(np.isnan(qs)):
        raise ValueError(f"qs must be quantiles between 0 and 1, got {qs.tolist()!r}")
    if np.isnan(x).any():                         # NumPy's answer: nan, every quantile
        return np.full(qs.shape, np.nan)
    n = x.size
    h = (n - 1) * qs
    below = np.floor(h).astype(np.int64)
    # distinct ranks, the largest first (a handful: sorted in Python, since np.unique
    # imports numpy.ma on first use, 8 ms of a `simlab simulate` process)
    ranks = np.array(sorted(set(below.tolist()), reverse=True), dtype=np.int64)
    lo, hi = np.empty(len(ranks)), np.empty(len(ranks))
    end = n                                       # x[:end] holds the ranks still to find
    for j, k in enumerate(ranks.tolist()):
        part = x[:end]
        part.partition(k)
        lo[j] = part[k]
        hi[j] = part[k + 1:].min() if k + 1 < end else part[k]   # k = n - 1: t is 0
        end = k + 1
    at = len(ranks) - 1 - np.searchsorted(ranks[::-1], below)
    lo, hi = lo[at], hi[at]
    t = h - below
    diff = hi - lo
    return np.where(t >= 0.5, hi - diff * (1 - t), lo + diff * t)


def summarize(df: pd.DataFrame, *, warmup: int | None = None,
              warmup_share: float | None = None) -> dict:
    """Headline numbers of a run (simulated or live).

    Parameters
    ----------
    df : DataFrame or Run
        A table from :func:`simlab.simulate` or a live run, or a :class:`Run` (the same run
        as arrays).
    warmup : int, optional
        Number of first requests counted as the cold start: ``hit_ratio_after_warmup``
        leaves them out.
    warmup_share : float, optional
        The same cut as a share of the requests, in [0, 1). Default (neither given): 0.1.

    Returns
    -------
    dict
        ``requests``, ``reads``, ``hits``, ``misses``, ``hit_ratio``,
        ``hit_ratio_after_warmup``, ``p50_ms``, ``p95_ms``, ``p99_ms`` (read latency),
        ``db_qps_with_cache`` and ``db_qps_without_cache`` (filing-room queries per second),
        ``duration_s``, ``inflight_misses``, ``seed``.
    """
    if isinstance(df, Run):
        outcome, latency, t = df.outcome, df.latency, df.start
        inflight = int(np.count_nonzero(df.flags & Flag.INFLIGHT))
        seed = df.params.get("seed")
    else:
        import pandas as pd

        outcome = df["outcome"].cat.codes.to_numpy() if hasattr(df["outcome"], "cat") else \
            pd.Categorical(df["outcome"], categories=OUTCOMES).codes
        latency, t = df["latency"].to_numpy(), df["time"].to_numpy()
        inflight = int(df["inflight"].sum()) if "inflight" in df else 0
        seed = df.attrs.get("seed")
    n = len(outcome)
    cut = warmup_cut(n, warmup, warmup_share, default_share=0.1)
    reads = outcome != Outcome.WRITE
    hits = outcome == Outcome.HIT
    n_reads = int(reads.sum())
    n_hits = int(hits.sum())
    after_reads = int(reads[cut:].sum())
    read_latency = latency if n_reads == n else latency[reads]
    p50, p95, p99 = (quantiles(read_latency, (0.5, 0.95, 0.99)) * 1e3 if n_reads
                     else (np.nan,) * 3)
    duration = float((t + latency).max() - t.min()) if n else 0.0
    db_queries = int(n - n_hits)
    per_s = (lambda count: count / duration if duration > 0 else float("nan"))
    return {
        "requests": n,
        "reads": n_reads,
        "hits": n_hits,
        "misses": n_reads - n_hits,
        "hit_ratio": n_hits / n_reads if n_reads else float("nan"),
        "hit_ratio_after_warmup": (int(hits[cut:].sum()) / after_reads if after_reads
                                   else float("nan")),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "db_qps_with_cache": per_s(db_queries),
        "db_qps_without_cache": per_s(n),
        "duration_s": duration,
        "inflight_misses": inflight,
        "seed": seed,
    }


LATENCY_COLUMNS = ("whiteboard_latency", "filing_room_latency", "latency")


def in_ms(df: pd.DataFrame) -> pd.DataFrame:
    """The table as a person reads it: latencies in milliseconds, in columns named ``*_ms``.

    The per-request table keeps seconds (what the engine computes with); this is for showing
    it. Times since the start stay in seconds (``time_s``).
    """
    out = df.copy()
    for name in LATENCY_COLUMNS:
        if name in out:
            out[name] = out[name] * 1e3
    return out.rename(columns={"time": "time_s", **{n: f"{n}_ms" for n in LATENCY_COLUMNS}})


def hit_ratio_over_time(df: pd.DataFrame, *, window: int = 1000) -> pd.DataFrame:
    """Hit ratio of the reads in consecutive windows of ``window`` reads (the warm-up curve)."""
    import pandas as pd

    if not isinstance(window, (int, np.integer)) or window <= 0:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    reads = df[df["outcome"] != Outcome.WRITE.label]
    hit = (reads["outcome"] == Outcome.HIT.label).to_numpy(dtype=float)
    n = len(hit) // window
    if n == 0:
        raise ValueError(f"window ({window}) is longer than the {len(hit)} reads in the table")
    blocks = hit[: n * window].reshape(n, window).mean(axis=1)
    return pd.DataFrame({"request": (np.arange(n) + 1) * window,
                         "time": reads["time"].to_numpy()[window - 1: n * window: window],
                         "hit_ratio": blocks})


def db_load_over_time(df: pd.DataFrame, *, bin_s: float = 1.0) -> pd.DataFrame:
    """Filing-room queries per second in bins of ``bin_s`` seconds: with the whiteboard (the
    run's misses and writes) and without it (every request)."""
    import pandas as pd

    if not bin_s > 0:
        raise ValueError(f"bin_s must be a positive number of seconds, got {bin_s!r}")
    t = df["time"].to_numpy()
    # whole bins only: a last, partly filled bin would look like a drop in load
    n_bins = max(1, int((t.max() - t.min()) // bin_s))
    edges = t.min() + bin_s * np.arange(n_bins + 1)
    to_db = (df["outcome"] != Outcome.HIT.label).to_numpy()
    with_cache, _ = np.histogram(t[to_db], bins=edges)
    without, _ = np.histogram(t, bins=edges)
    return pd.DataFrame({"time": edges[:-1], "with_whiteboard": with_cache / bin_s,
                         "without_whiteboard": without / bin_s})
