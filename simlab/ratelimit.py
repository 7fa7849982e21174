"""Counting requests per user per window: four algorithms, simulated on a request stream.

* fixed window: a counter per window of ``window`` seconds; cheap, but lets through up to
  twice the limit around a window's edge (the end of one window and the start of the next);
* sliding log: the time of every allowed request (a sorted set); exact, never more than the
  limit in any window, but memory grows with the limit;
* sliding counter: the current and previous windows' counts, the previous one weighted by how
  much of it still overlaps; two counters, approximately exact;
* token bucket: ``limit`` tokens refilled at ``limit / window`` per second; allows bursts up to
  the bucket and a steady rate after.

:func:`simulate_ratelimit` runs one of them over a request stream and reports allowed and
denied requests and the most requests allowed in any window-length interval. The live versions,
atomic on Redis, are in :mod:`simlab.live.ratelimit`, and use the same decisions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import _validate as v
from ._random import resolve_seed, stream

ALGORITHMS = ("fixed-window", "sliding-log", "sliding-counter", "token-bucket")
PATTERNS = ("poisson", "edge-burst")
# Redis memory per user, from the memory model (12-byte keys; see simlab.redis_memory):
# a counter key ~ 90 B; a sorted-set entry ~ 70 B once the set is a skiplist.
BYTES_PER_COUNTER = 90
BYTES_PER_LOG_ENTRY = 70


class Limiter:
    """The decision logic, without Redis: ``allow(now) -> bool``."""

    def __init__(self, algorithm: str, limit: int, window: float):
        self.algorithm = v.choice("algorithm", algorithm, ALGORITHMS)
        self.limit = v.positive_int("limit", limit)
        self.window = v.seconds("window", window)
        self._count = 0
        self._window_index = None
        self._prev = 0
        self._log: list = []
        self._log_start = 0
        self._tokens = float(limit)
        self._last = None
        self.peak_log = 0

    def allow(self, now: float) -> bool:
        a, limit, window = self.algorithm, self.limit, self.window
        if a == "fixed-window":
            index = int(now // window)
            if index != self._window_index:
                self._window_index, self._count = index, 0
            if self._count < limit:
                self._count += 1
                return True
            return False
        if a == "sliding-log":
            log = self._log
            while self._log_start < len(log) and log[self._log_start] <= now - window:
                self._log_start += 1
            if len(log) - self._log_start < limit:
                log.append(now)
                self.peak_log = max(self.peak_log, len(log) - self._log_start)
                return True
            return False
        if a == "sliding-counter":
            index = int(now // window)
            if self._window_index is None or index != self._window_index:
                self._prev = self._count if self._window_index == index - 1 else 0
                self._window_index, self._count = index, 0
            elapsed = now / window - index
            estimate = self._prev * (1 - elapsed) + self._count
            if estimate < limit:
                self._count += 1
                return True
            return False
        # token bucket
        rate = limit / window
        if self._last is not None:
            self._tokens = min(float(limit), self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def memory_bytes(self) -> int:
        """Redis memory this user's state takes at its largest."""
        if self.algorithm == "sliding-log":
            return BYTES_PER_COUNTER + BYTES_PER_LOG_ENTRY * self.peak_log
        if self.algorithm == "sliding-counter":
            return 2 * BYTES_PER_COUNTER
        if self.algorithm == "token-bucket":
            return BYTES_PER_COUNTER + 40   # a small hash: tokens and time
        return BYTES_PER_COUNTER


def request_times(rate: float, duration: float, *, pattern: str = "poisson", limit: int = 10,
                  window: float = 1.0, seed: int | None = None) -> np.ndarray:
    """Request times (s) of one user: Poisson at ``rate`` per second, or ``edge-burst``: a
    steady trickle plus, around every window edge, a burst of ``limit`` requests just before
    it and ``limit`` just after (the pattern that breaks a fixed window)."""
    rate = v.positive_real("rate", rate)
    duration = v.seconds("duration", duration)
    v.choice("pattern", pattern, PATTERNS)
    limit = v.positive_int("limit", limit)
    window = v.seconds("window", window)
    check_budget(rate, duration, pattern, limit, window)
    rng = stream(resolve_seed(seed), "arrivals")
    n = rng.poisson(rate * duration)
    times = np.sort(rng.uniform(0, duration, n))
    if pattern == "edge-burst":
        edges = np.arange(window, duration, window)
        eps = min(0.05 * window, 0.5 * window / (2 * limit + 1))
        burst = np.concatenate([np.concatenate([e - eps * np.arange(limit, 0, -1) / limit,
                                                e + eps * np.arange(limit) / limit])
                                for e in edges]) if len(edges) else np.empty(0)
        times = np.sort(np.concatenate([times, burst]))
    return times


BYTES_PER_REQUEST = 96      # times, sorted copies, decisions; measured rounded up


def expected_requests(rate: float, duration: float, pattern: str, limit: int,
                      window: float) -> float:
    """Requests :func:`request_times` makes on average: Poisson ``rate x duration``, plus
    ``2 x limit`` around every window edge for ``edge-burst``."""
    n = rate * duration
    if pattern == "edge-burst":
        n += 2.0 * limit * (duration // window)
    return n


def check_budget(rate, duration, pattern="poisson", limit=10, window=1.0) -> None:
    """Refuse, before drawing anything, a stream too long to decide request by request."""
    n = expected_requests(rate, duration, pattern, limit, window)
    what = f"rate={rate!r} over duration={duration!r}"
    edges = duration // window
    if pattern == "edge-burst" and 2.0 * limit * edges > rate * duration:
        what = (f"limit={limit!r} with pattern='edge-burst' ({2 * limit} requests at each of "
                f"about {edges:.3g} window edges)")
    v.events(what, n, "one decision per request", "use a lower rate, a shorter duration or "
             "a smaller limit")
    v.memory(what, BYTES_PER_REQUEST * n, "the request times and decisions",
             "use a lower rate or a shorter duration")


def max_in_any_window(times: np.ndarray, window: float) -> int:
    """The most of ``times`` inside any interval of length ``window`` (closed at the start,
    open at the end), by two pointers."""
    times = np.sort(np.asarray(times, dtype=float))
    if times.size == 0:
        return 0
    ends = np.searchsorted(times, times + window, side="left")
    return int(np.max(ends - np.arange(times.size)))


def simulate_ratelimit(algorithm: str, *, limit: int, window: float, rate: float,
                       duration: float, pattern: str = "poisson",
                       seed: int | None = None) -> dict:
    """Run one limiter over one user's requests. Returns ``allowed``, ``denied``,
    ``max_in_any_window`` (of the allowed requests), ``memory_bytes`` and the times."""
    seed = resolve_seed(seed)
    limiter = Limiter(algorithm, limit, window)
    times = request_times(rate, duration, pattern=pattern, limit=limit, window=window,
                          seed=seed)
    decisions = np.array([limiter.allow(float(t)) for t in times], dtype=bool)
    allowed = times[decisions]
    return {"algorithm": algorithm, "limit": limit, "window": window, "rate": rate,
            "duration": duration, "pattern": pattern, "requests": int(times.size),
            "allowed": int(decisions.sum()), "denied": int((~decisions).sum()),
            "max_in_any_window": max_in_any_window(allowed, window),
            "memory_bytes": limiter.memory_bytes(), "seed": seed,
            "times": times, "decisions": decisions}


def compare_algorithms(*, limit: int = 10, window: float = 1.0, rate: float = 15.0,
                       duration: float = 60.0, pattern: str = "edge-burst",
                       seed: int = 0) -> pd.DataFrame:
    """The four algorithms on the same requests, one row each."""
    rows = []
    for algorithm in ALGORITHMS:
        out = simulate_ratelimit(algorithm, limit=limit, window=window, rate=rate,
                                 duration=duration, pattern=pattern, seed=seed)
        rows.append({k: out[k] for k in ("algorithm", "requests", "allowed", "denied",
                                         "max_in_any_window", "memory_bytes")})
    return pd.DataFrame(rows).set_index("algorithm")
