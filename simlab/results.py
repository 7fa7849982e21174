"""The per-request table shared by the simulation and the live runs, and its summary.

Columns (seconds unless named otherwise):

============================  ==================================================
``time``                      when the request started
``key``                       the key (categorical)
``op``                        ``get``, ``set`` or ``del``
``outcome``                   ``hit``, ``miss`` or ``write``
``whiteboard_latency``        time spent talking to Redis
``filing_room_latency``       time spent in the database
``latency``                   total time the caller waited
``inflight``                  (simulation) the miss found the key's fill still running
``expired``                   (simulation) the miss found the key expired
============================  ==================================================
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .workloads import OP_NAMES, Workload

OUTCOMES = ("hit", "miss", "write")
COLUMNS = ("time", "key", "op", "outcome", "whiteboard_latency", "filing_room_latency",
           "latency")


def build_table(workload: Workload, start, outcome, wb, db, total, flags, counters, params,
                engine_s) -> pd.DataFrame:
    df = pd.DataFrame({
        "time": start,
        "key": pd.Categorical.from_codes(workload.keys, categories=workload.key_names,
                                         validate=False),
        "op": pd.Categorical.from_codes(workload.ops, categories=OP_NAMES, validate=False),
        "outcome": pd.Categorical.from_codes(outcome, categories=OUTCOMES, validate=False),
        "whiteboard_latency": wb,
        "filing_room_latency": db,
        "latency": total,
        "inflight": (flags & 1).astype(bool),
        "expired": (flags & 2).astype(bool),
    }, copy=False)
    counters = [int(c) for c in counters]
    df.attrs.update(params)
    df.attrs.update({"source": "simulation", "evictions": counters[0],
                     "expired_removed": counters[1], "inflight_misses": counters[2],
                     "fills": counters[3], "keys_at_end": counters[4],
                     "elapsed_s": float(engine_s)})
    return df


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


def summarize(df: pd.DataFrame, *, warmup: float = 0.1) -> dict:
    """Headline numbers of a run (simulated or live).

    Parameters
    ----------
    df : DataFrame
        A table from :func:`simlab.simulate` or a live run.
    warmup : float
        Share of the requests (0 to 1, default 0.1) counted as the cold start; the
        ``hit_ratio_after_warmup`` leaves them out.

    Returns
    -------
    dict
        ``requests``, ``reads``, ``hits``, ``misses``, ``hit_ratio``,
        ``hit_ratio_after_warmup``, ``p50_ms``, ``p95_ms``, ``p99_ms`` (read latency),
        ``db_qps_with_cache`` and ``db_qps_without_cache`` (filing-room queries per second),
        ``duration_s``, ``inflight_misses``, ``seed``.
    """
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be a share of the requests in [0, 1), got {warmup!r}")
    outcome = df["outcome"].cat.codes.to_numpy() if hasattr(df["outcome"], "cat") else \
        pd.Categorical(df["outcome"], categories=OUTCOMES).codes
    reads = outcome != 2
    hits = outcome == 0
    n = len(df)
    n_reads = int(reads.sum())
    n_hits = int(hits.sum())
    cut = int(n * warmup)
    after_reads = int(reads[cut:].sum())
    latency = df["latency"].to_numpy()[reads]
    p50, p95, p99 = (np.quantile(latency, [0.5, 0.95, 0.99]) * 1e3 if n_reads
                     else (np.nan,) * 3)
    t = df["time"].to_numpy()
    duration = float((t + df["latency"].to_numpy()).max() - t.min()) if n else 0.0
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
        "inflight_misses": int(df["inflight"].sum()) if "inflight" in df else 0,
        "seed": df.attrs.get("seed"),
    }


def hit_ratio_over_time(df: pd.DataFrame, *, window: int = 1000) -> pd.DataFrame:
    """Hit ratio of the reads in consecutive windows of ``window`` reads (the warm-up curve)."""
    if not isinstance(window, (int, np.integer)) or window <= 0:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    reads = df[df["outcome"] != "write"]
    hit = (reads["outcome"] == "hit").to_numpy(dtype=float)
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
    if not bin_s > 0:
        raise ValueError(f"bin_s must be a positive number of seconds, got {bin_s!r}")
    t = df["time"].to_numpy()
    # whole bins only: a last, partly filled bin would look like a drop in load
    n_bins = max(1, int((t.max() - t.min()) // bin_s))
    edges = t.min() + bin_s * np.arange(n_bins + 1)
    to_db = (df["outcome"] != "hit").to_numpy()
    with_cache, _ = np.histogram(t[to_db], bins=edges)
    without, _ = np.histogram(t, bins=edges)
    return pd.DataFrame({"time": edges[:-1], "with_whiteboard": with_cache / bin_s,
                         "without_whiteboard": without / bin_s})
