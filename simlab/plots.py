"""Plots the notebooks use: every one titled, with units on its axes and a legend.

Each function draws on ``ax`` (or a new figure) and returns the axes, so a notebook can add
to it. Latencies are shown in milliseconds, on log axes where they span orders of magnitude.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _axes(ax, figsize=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=figsize)
    return ax


def latency_cdf(samples: dict, *, ax=None, title="Latency distribution"):
    """Empirical CDFs of latency samples (seconds), one line per entry of ``samples``."""
    ax = _axes(ax)
    for label, values in samples.items():
        x = np.sort(np.asarray(values, dtype=float)) * 1e3
        ax.plot(x, np.arange(1, x.size + 1) / x.size, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("share of requests at or below")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def latency_hist(samples: dict, *, ax=None, bins=60, title="Latency histogram"):
    """Histograms of latency samples (seconds) on a log-spaced millisecond axis."""
    ax = _axes(ax)
    all_ms = np.concatenate([np.asarray(v, dtype=float) for v in samples.values()]) * 1e3
    all_ms = all_ms[all_ms > 0]
    edges = np.logspace(np.log10(all_ms.min()), np.log10(all_ms.max()), bins)
    for label, values in samples.items():
        ax.hist(np.asarray(values) * 1e3, bins=edges, alpha=0.55, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("requests")
    ax.set_title(title)
    ax.legend()
    return ax


def percentile_table(samples: dict) -> pd.DataFrame:
    """p50, p95, p99 and mean of each sample set, in milliseconds."""
    rows = {}
    for label, values in samples.items():
        v = np.asarray(values, dtype=float) * 1e3
        rows[label] = {"p50_ms": np.quantile(v, 0.5), "p95_ms": np.quantile(v, 0.95),
                       "p99_ms": np.quantile(v, 0.99), "mean_ms": v.mean(), "n": v.size}
    return pd.DataFrame(rows).T.round(4)


def hit_ratio_over_time(tables: dict, *, window=200, ax=None,
                        title="Hit ratio over time: the warm-up"):
    """Windowed hit ratio of each run (a table from simulate or a live run)."""
    from .results import hit_ratio_over_time as windows
    ax = _axes(ax)
    for label, df in tables.items():
        w = windows(df, window=window)
        ax.plot(w["request"], w["hit_ratio"], label=label)
    ax.set_xlabel("reads so far")
    ax.set_ylabel(f"hit ratio (per {window} reads)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def hit_ratio_curve(curves: dict, *, ax=None, title="Hit ratio against whiteboard size",
                    bands: dict | None = None):
    """Hit ratio (0-1) against cache size (keys, log scale); ``curves`` maps label to
    (sizes, hit_ratio); ``bands`` maps label to (sizes, low, high) for confidence bands."""
    ax = _axes(ax)
    markers = iter("osD^vx+*")
    for label, (sizes, ratio) in curves.items():
        theory = "theory" in label.lower() or "che" in label.lower()
        # distinct markers, so curves that nearly coincide (FIFO and Random) stay visible
        marker = None if theory else next(markers, ".")
        ax.plot(sizes, ratio, "--" if theory else "-", marker=marker, markersize=4,
                markevery=max(1, len(sizes) // 12), alpha=0.85, label=label)
    for label, (sizes, low, high) in (bands or {}).items():
        ax.fill_between(sizes, low, high, alpha=0.25, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("whiteboard size (keys, log scale)")
    ax.set_ylabel("hit ratio")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def popularity(probabilities: dict, *, ax=None, title="Popularity: share of requests by rank"):
    """Request share of each key by popularity rank, log-log."""
    ax = _axes(ax)
    for label, p in probabilities.items():
        p = np.sort(np.asarray(p))[::-1]
        # a few hundred log-spaced ranks draw the same line as every rank, much faster
        ranks = np.unique(np.geomspace(1, p.size, 400).astype(np.int64))
        ax.loglog(ranks, p[ranks - 1], label=label)
    ax.set_xlabel("key rank (1 = most popular, log scale)")
    ax.set_ylabel("share of requests (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax
